//! PTDMA and AE4DMA register layout (facts §2 and §5.1), plus the MMIO-counting wrapper.
//!
//! Names follow Linux `ptdma.h` / `ae4dma.h`; each item's doc line gives the Linux mnemonic.
//! Offsets are bytes from the register BAR (BAR 2 for PTDMA, BAR 0 for AE4DMA).

use crate::{DmaAddr, RegisterAccess};
use bitflags::bitflags;
use core::cell::Cell;

/// PTDMA global registers (facts §2.1).
#[repr(usize)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GlobalReg {
    /// `CMD_QUEUE_PRIO_OFFSET` (0x00): Linux writes [`QUEUE_PRIO_VALUE`].
    QueuePrio = 0x0000,
    /// `CMD_REQID_CONFIG_OFFSET` (0x04): Linux writes 0.
    ReqIdConfig = 0x0004,
    /// `CMD_TIMEOUT_OFFSET` (0x08): 0 = timeout disabled.
    Timeout = 0x0008,
    /// `CMD_PT_VERSION` (0x10, RO): bits 5:0 version, 18:15 number of virtual queues.
    Version = 0x0010,
    /// `CMD_CONFIG_OFFSET` (0x1120): bit 0 "VHB_EN" (meaning UNSURE; Linux writes 1).
    Config = 0x1120,
    /// `CMD_CLK_GATE_CTL_OFFSET` (0x6004): Linux writes [`CLK_GATE_VALUE`].
    ClkGateCtl = 0x6004,
}

impl GlobalReg {
    /// Byte offset from the BAR.
    pub const fn offset(self) -> usize {
        self as usize
    }
}

/// `CMD_QUEUE_PRIO` value Linux writes (`GENMASK(2, 1)`).
pub const QUEUE_PRIO_VALUE: u32 = 0x6;
/// `CMD_CLK_GATE_CTL` value Linux writes (gating enable + on/off delay).
pub const CLK_GATE_VALUE: u32 = 0x1001;
/// `CMD_CONFIG` value Linux writes (`CMD_CONFIG_VHB_EN`).
pub const CONFIG_VALUE: u32 = 0x1;

/// PTDMA per-queue registers, relative to the queue block (facts §2.2).
#[repr(usize)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueReg {
    /// `CMD_Q_CONTROL_BASE` (0x000): [`QueueControl`] bits, ring size, ring address 47:32.
    Control = 0x000,
    /// `CMD_Q_TAIL_LO_BASE` (0x004): producer pointer (bus address low 32); writing it is the doorbell.
    TailLo = 0x004,
    /// `CMD_Q_HEAD_LO_BASE` (0x008): consumer pointer: first incomplete descriptor.
    HeadLo = 0x008,
    /// `CMD_Q_INT_ENABLE_BASE` (0x00C): [`IntStatus`] bits to raise interrupts for.
    IntEnable = 0x00C,
    /// `CMD_Q_INTERRUPT_STATUS_BASE` (0x010): latched [`IntStatus`] bits, write-1-to-clear.
    InterruptStatus = 0x010,
    /// `CMD_Q_STATUS_BASE` (0x100): error code 5:0, job status 9:7, error source 11:10.
    Status = 0x100,
    /// `CMD_Q_INT_STATUS_BASE` (0x104): read and discarded at init/teardown (meaning UNSURE).
    IntStatusRaw = 0x104,
    /// `CMD_Q_DMA_STATUS_BASE` (0x108): never read by Linux (layout UNSURE).
    DmaStatus = 0x108,
    /// `CMD_Q_DMA_READ_STATUS_BASE` (0x10C).
    DmaReadStatus = 0x10C,
    /// `CMD_Q_DMA_WRITE_STATUS_BASE` (0x110).
    DmaWriteStatus = 0x110,
}

/// Stride of PTDMA queue register blocks (`CMD_Q_STATUS_INCR`); queue q is at `0x1000 * (q + 1)`.
pub const QUEUE_STRIDE: usize = 0x1000;

impl QueueReg {
    /// Byte offset from the BAR of this register of queue `queue` (PTDMA has only queue 0).
    pub const fn offset(self, queue: usize) -> usize {
        QUEUE_STRIDE * (queue + 1) + self as usize
    }
}

bitflags! {
    /// `CMD_Q_CONTROL` bits (facts §2.3); bits 7:3 and 31:16 are fields, see [`control_value`].
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct QueueControl: u32 {
        /// `CMD_Q_RUN`: process descriptors between HEAD_LO and TAIL_LO.
        const RUN = 1 << 0;
        /// `CMD_Q_HALT`: status, set by the engine while the queue is halted/idle.
        const HALTED = 1 << 1;
        /// `CMD_Q_MEM_LOCATION`: 0 = ring in system memory (always 0 here; meaning UNSURE).
        const MEM_LOCATION = 1 << 2;
        /// Bits 7:3 (`CMD_Q_SIZE`) and 31:16 (ring address 47:32) are fields.
        const _ = !0;
    }
}

/// Shift of the QUEUE_SIZE field (log2(entries) − 1) in CONTROL.
pub const CONTROL_SIZE_SHIFT: u32 = 3;
/// Mask of the QUEUE_SIZE field (after shifting).
pub const CONTROL_SIZE_MASK: u32 = 0x1F;
/// Shift of ring address bits 47:32 in CONTROL (`CMD_Q_PTR_HI_SHIFT`).
pub const CONTROL_PTR_HI_SHIFT: u32 = 16;

/// CONTROL value for a ring of `2^order` entries at `ring` (without RUN): `(order − 1) << 3 |
/// ring[47:32] << 16`. Linux: `QUEUE_SIZE_VAL` and `upper_32_bits(ring) << 16` (facts §2.3).
///
/// # Panics
/// If `order` is 0 or above 32 (the geometry is validated earlier by [`crate::desc::Ring::new`]).
pub fn control_value(order: u32, ring: DmaAddr) -> u32 {
    assert!((1..=32).contains(&order), "ring order {order} out of range");
    (((order - 1) & CONTROL_SIZE_MASK) << CONTROL_SIZE_SHIFT)
        | ((ring.hi() & 0xFFFF) << CONTROL_PTR_HI_SHIFT)
}

bitflags! {
    /// `CMD_Q_INT_ENABLE` / `CMD_Q_INTERRUPT_STATUS` bits (facts §2.4).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct IntStatus: u32 {
        /// `INT_COMPLETION`: a descriptor with IOC finished.
        const COMPLETION = 1 << 0;
        /// `INT_ERROR`: a descriptor failed; STATUS holds the code.
        const ERROR = 1 << 1;
        /// `INT_QUEUE_STOPPED`.
        const QUEUE_STOPPED = 1 << 2;
        /// `INT_EMPTY_QUEUE`.
        const QUEUE_EMPTY = 1 << 3;
    }
}

/// Decoded `CMD_Q_STATUS` (facts §2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueStatus(pub u32);

impl QueueStatus {
    /// Error code, bits 5:0 (`CMD_Q_ERROR`); table in [`crate::error::error_name`].
    pub const fn error_code(self) -> u8 {
        (self.0 & 0x3F) as u8
    }
    /// Job status, bits 9:7 (0 idle, 1 active-waiting, 2 active, 3 wait-abort, 4 dyn-error, 5 prepare-halt).
    pub const fn job_status(self) -> u8 {
        ((self.0 >> 7) & 0x7) as u8
    }
    /// Error source, bits 11:10 (0 input memory, 1 command descriptor, 2 input data, 3 key data).
    pub const fn error_source(self) -> u8 {
        ((self.0 >> 10) & 0x3) as u8
    }
}

/// AE4DMA register layout (facts §5.1).
pub mod ae4 {
    /// `AE4_COMMON_CONFIG` (0x00): number of hardware queues to enable; read back = granted.
    pub const COMMON_CONFIG: usize = 0x00;
    /// Stride and size of a queue block (`AE4_Q_SZ`); queue q is at `0x20 * (q + 1)`.
    pub const QUEUE_STRIDE: usize = 0x20;
    /// Maximum number of hardware queues (`MAX_AE4_HW_QUEUES`).
    pub const MAX_QUEUES: usize = 16;

    /// Per-queue registers, relative to the queue block.
    #[repr(usize)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Ae4QueueReg {
        /// `control` (0x00): bit 0 queue enable.
        Control = 0x00,
        /// `status` (0x04): queue state (layout UNSURE).
        Status = 0x04,
        /// `AE4_MAX_IDX_OFF` (0x08): ring depth in descriptors.
        MaxIdx = 0x08,
        /// `AE4_RD_IDX_OFF` (0x0C): hardware consumer index (slot number).
        ReadIdx = 0x0C,
        /// `AE4_WR_IDX_OFF` (0x10): software producer index; writing it is the doorbell.
        WriteIdx = 0x10,
        /// `AE4_INTR_STS_OFF` (0x14): bit 0 interrupt pending (write semantics UNSURE).
        IntrStatus = 0x14,
        /// `AE4_Q_BASE_L_OFF` (0x18): ring base bits 31:0.
        BaseLo = 0x18,
        /// `AE4_Q_BASE_H_OFF` (0x1C): ring base bits 63:32.
        BaseHi = 0x1C,
    }

    impl Ae4QueueReg {
        /// Byte offset from BAR 0 of this register of queue `queue` (0..16).
        pub const fn offset(self, queue: usize) -> usize {
            QUEUE_STRIDE * (queue + 1) + self as usize
        }
    }
}

/// MMIO access counts (reported per queue in `RESULT` lines as `mmio {reads, writes, doorbells}`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmioCounters {
    /// Register reads.
    pub reads: u64,
    /// Register writes, doorbells included.
    pub writes: u64,
    /// Doorbell writes (PTDMA TAIL_LO, AE4DMA write_idx).
    pub doorbells: u64,
    /// Descriptors written to the device's rings (counted by the driver, not a register
    /// access; 0 from a bare register wrapper).
    pub descriptors: u64,
}

/// A [`RegisterAccess`] wrapper that counts accesses and detects a vanished device.
#[derive(Debug)]
pub struct CountingRegs<R> {
    inner: R,
    counters: Cell<MmioCounters>,
}

impl<R: RegisterAccess> CountingRegs<R> {
    /// Wraps `inner` with zeroed counters.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            counters: Cell::new(MmioCounters::default()),
        }
    }
    /// Counted read.
    pub fn read(&self, offset: usize) -> u32 {
        let mut c = self.counters.get();
        c.reads += 1;
        self.counters.set(c);
        self.inner.read32(offset)
    }
    /// Counted write.
    pub fn write(&self, offset: usize, value: u32) {
        let mut c = self.counters.get();
        c.writes += 1;
        self.counters.set(c);
        self.inner.write32(offset, value)
    }
    /// Counted doorbell write (also counted as a write).
    pub fn doorbell(&self, offset: usize, value: u32) {
        let mut c = self.counters.get();
        c.doorbells += 1;
        self.counters.set(c);
        self.write(offset, value)
    }
    /// Counted 64-bit read (one access).
    pub fn read64(&self, offset: usize) -> u64 {
        let mut c = self.counters.get();
        c.reads += 1;
        self.counters.set(c);
        self.inner.read64(offset)
    }
    /// Counted 64-bit write (one access).
    pub fn write64(&self, offset: usize, value: u64) {
        let mut c = self.counters.get();
        c.writes += 1;
        self.counters.set(c);
        self.inner.write64(offset, value)
    }
    /// Counted 64-bit doorbell write (SDXI: one 8-byte store of the new write index).
    pub fn doorbell64(&self, offset: usize, value: u64) {
        let mut c = self.counters.get();
        c.doorbells += 1;
        self.counters.set(c);
        self.write64(offset, value)
    }
    /// Counts so far.
    pub fn counters(&self) -> MmioCounters {
        self.counters.get()
    }
    /// The wrapped register access.
    pub fn inner(&self) -> &R {
        &self.inner
    }
}
