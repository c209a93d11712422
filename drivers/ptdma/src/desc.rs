//! The 32-byte PTDMA/CCP-v5 descriptor (facts §3) and ring index arithmetic (facts §3 "Ring
//! facts", §4.3). Pure code: no register access.
//!
//! Ring rules: N = 2^order entries of 32 B, the ring aligned to its own size, inside one 4 GiB
//! window and below 2^48; head == tail means empty, so one slot always stays free.

use crate::error::{PtdmaError, RingPlacement};
use crate::{DmaAddr, DmaMemory};

/// DW0 bit 0, `DWORD0_SOC` (Linux) / HOC (FreeBSD): halt the queue after this descriptor.
pub const DW0_SOC: u32 = 1 << 0;
/// DW0 bit 1, `DWORD0_IOC`: latch COMPLETION (and interrupt if enabled) when done.
pub const DW0_IOC: u32 = 1 << 1;
/// DW0 bit 3, INIT / SOM.
pub const DW0_INIT: u32 = 1 << 3;
/// DW0 bit 4, EOM (Linux PTDMA sets it on every pass-through descriptor).
pub const DW0_EOM: u32 = 1 << 4;
/// DW0 FUNCTION field shift (bits 19:5).
pub const DW0_FUNCTION_SHIFT: u32 = 5;
/// DW0 ENGINE field shift (bits 23:20).
pub const DW0_ENGINE_SHIFT: u32 = 20;
/// ENGINE value of the pass-through (copy) engine, `PT_ENGINE_PASSTHRU`.
pub const ENGINE_PASSTHRU: u32 = 5;
/// Size of one descriptor in bytes.
pub const DESC_SIZE: usize = 32;

/// One PTDMA descriptor, 8 little-endian dwords (Linux `struct ptdma_desc`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Descriptor {
    /// DW0: SOC 0, IOC 1, INIT 3, EOM 4, FUNCTION 19:5, ENGINE 23:20, PROT 24.
    pub dw0: u32,
    /// DW1: length in bytes.
    pub length: u32,
    /// DW2: source address 31:0.
    pub src_lo: u32,
    /// DW3: source address 47:32 (15:0), SRC_MEM 17:16, LSB ctx 25:18, FIXED 31.
    pub src_hi: u32,
    /// DW4: destination address 31:0.
    pub dst_lo: u32,
    /// DW5: destination address 47:32 (15:0), DST_MEM 17:16, FIXED 31.
    pub dst_hi: u32,
    /// DW6: key pointer low (reserved for PTDMA, 0).
    pub dw6: u32,
    /// DW7: key pointer high (reserved for PTDMA, 0).
    pub dw7: u32,
}

const _: () = assert!(core::mem::size_of::<Descriptor>() == DESC_SIZE);

/// Fields of a descriptor, as [`Descriptor::decode`] returns them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodedDesc {
    /// ENGINE (5 = pass-through).
    pub engine: u32,
    /// FUNCTION field.
    pub function: u32,
    /// SOC/HOC bit.
    pub soc: bool,
    /// IOC bit.
    pub ioc: bool,
    /// EOM bit.
    pub eom: bool,
    /// Length in bytes.
    pub len: u32,
    /// 48-bit source.
    pub src: DmaAddr,
    /// 48-bit destination.
    pub dst: DmaAddr,
    /// SRC_MEM (0 = system memory).
    pub src_mem: u32,
    /// DST_MEM (0 = system memory).
    pub dst_mem: u32,
}

impl Descriptor {
    /// A pass-through copy: DW0 = ENGINE 5 | EOM (0x0050_0010), plus IOC (0x0050_0012) when `ioc`;
    /// memory types 0 (system memory). Address bits above 47 are dropped: the queue rejects such
    /// addresses before building descriptors.
    pub fn memcpy(src: DmaAddr, dst: DmaAddr, len: u32, ioc: bool) -> Self {
        let mut dw0 = (ENGINE_PASSTHRU << DW0_ENGINE_SHIFT) | DW0_EOM;
        if ioc {
            dw0 |= DW0_IOC;
        }
        Self {
            dw0,
            length: len,
            src_lo: src.lo(),
            src_hi: src.hi() & 0xFFFF,
            dst_lo: dst.lo(),
            dst_hi: dst.hi() & 0xFFFF,
            dw6: 0,
            dw7: 0,
        }
    }

    /// Splits the descriptor back into fields.
    pub fn decode(&self) -> DecodedDesc {
        let addr = |lo: u32, hi: u32| DmaAddr::new(u64::from(lo) | (u64::from(hi & 0xFFFF) << 32));
        DecodedDesc {
            engine: (self.dw0 >> DW0_ENGINE_SHIFT) & 0xF,
            function: (self.dw0 >> DW0_FUNCTION_SHIFT) & 0x7FFF,
            soc: self.dw0 & DW0_SOC != 0,
            ioc: self.dw0 & DW0_IOC != 0,
            eom: self.dw0 & DW0_EOM != 0,
            len: self.length,
            src: addr(self.src_lo, self.src_hi),
            dst: addr(self.dst_lo, self.dst_hi),
            src_mem: (self.src_hi >> 16) & 0x3,
            dst_mem: (self.dst_hi >> 16) & 0x3,
        }
    }

    /// The eight dwords in memory order.
    pub fn to_words(&self) -> [u32; 8] {
        [
            self.dw0,
            self.length,
            self.src_lo,
            self.src_hi,
            self.dst_lo,
            self.dst_hi,
            self.dw6,
            self.dw7,
        ]
    }

    /// Builds a descriptor from eight dwords in memory order.
    pub fn from_words(w: [u32; 8]) -> Self {
        Self {
            dw0: w[0],
            length: w[1],
            src_lo: w[2],
            src_hi: w[3],
            dst_lo: w[4],
            dst_hi: w[5],
            dw6: w[6],
            dw7: w[7],
        }
    }

    /// Stores the descriptor in slot `index` of a ring held in `mem`.
    pub fn store(&self, mem: &impl DmaMemory, index: usize) {
        for (i, w) in self.to_words().into_iter().enumerate() {
            mem.write32(index * DESC_SIZE + 4 * i, w);
        }
    }

    /// Loads the descriptor in slot `index` of a ring held in `mem`.
    pub fn load(mem: &impl DmaMemory, index: usize) -> Self {
        Self::from_words(core::array::from_fn(|i| {
            mem.read32(index * DESC_SIZE + 4 * i)
        }))
    }
}

/// Smallest ring order accepted (2 entries).
pub const MIN_RING_ORDER: u32 = 1;
/// Largest ring order accepted (65 536 entries, FreeBSD's limit; the hardware limit is UNSURE).
pub const MAX_RING_ORDER: u32 = 16;

/// Geometry of a PTDMA descriptor ring: where it is and how big. Indices are slot numbers 0..N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ring {
    base: DmaAddr,
    order: u32,
}

impl Ring {
    /// Validates placement (facts §2.3, §3): `entries` a power of two in 2..=65536, `base`
    /// aligned to the ring size, the ring inside one 4 GiB window and below 2^48.
    ///
    /// # Errors
    /// [`PtdmaError::RingPlacement`] with [`RingPlacement::NotPowerOfTwo`] when `entries` is not
    /// a power of two, [`RingPlacement::BadSize`] outside 2..=65536 entries,
    /// [`RingPlacement::Misaligned`] when `base` is not a multiple of the ring's size
    /// (`entries` × 32 bytes), [`RingPlacement::Above48Bits`] when the ring's last byte is at or
    /// above 2^48, [`RingPlacement::Crosses4GiB`] when it spans a 4 GiB boundary (the queue's
    /// head and tail registers hold only the low 32 bits).
    pub fn new(base: DmaAddr, entries: usize) -> Result<Self, PtdmaError> {
        if !entries.is_power_of_two() {
            return Err(PtdmaError::RingPlacement(RingPlacement::NotPowerOfTwo));
        }
        let order = entries.trailing_zeros();
        if !(MIN_RING_ORDER..=MAX_RING_ORDER).contains(&order) {
            return Err(PtdmaError::RingPlacement(RingPlacement::BadSize));
        }
        let size = (entries * DESC_SIZE) as u64;
        let b = base.as_u64();
        if b & (size - 1) != 0 {
            return Err(PtdmaError::RingPlacement(RingPlacement::Misaligned));
        }
        let last = b + size - 1;
        if last >= DmaAddr::LIMIT {
            return Err(PtdmaError::RingPlacement(RingPlacement::Above48Bits));
        }
        if last >> 32 != b >> 32 {
            return Err(PtdmaError::RingPlacement(RingPlacement::Crosses4GiB));
        }
        Ok(Self { base, order })
    }

    /// Bus address of slot 0.
    pub fn base(&self) -> DmaAddr {
        self.base
    }
    /// log2(entries).
    pub fn order(&self) -> u32 {
        self.order
    }
    /// Number of slots N.
    pub fn entries(&self) -> usize {
        1 << self.order
    }
    /// Most descriptors that can be outstanding at once (N − 1: one slot stays empty).
    pub fn capacity(&self) -> usize {
        self.entries() - 1
    }
    /// `(index + n) mod N`.
    pub fn advance(&self, index: usize, n: usize) -> usize {
        (index + n) & (self.entries() - 1)
    }
    /// Descriptors between `head` (first incomplete) and `tail` (next to fill).
    pub fn used(&self, head: usize, tail: usize) -> usize {
        tail.wrapping_sub(head) & (self.entries() - 1)
    }
    /// Free slots, keeping one slot empty (Linux `ccp5_get_free_slots`).
    pub fn free(&self, head: usize, tail: usize) -> usize {
        self.capacity() - self.used(head, tail)
    }
    /// Low 32 bits of the bus address of slot `index` (the TAIL_LO/HEAD_LO encoding).
    pub fn addr_lo(&self, index: usize) -> u32 {
        self.base.lo().wrapping_add((index * DESC_SIZE) as u32)
    }
    /// Slot index of a HEAD_LO/TAIL_LO value; `None` if outside the ring or not slot aligned.
    pub fn index_of(&self, addr_lo: u32) -> Option<usize> {
        let off = addr_lo.wrapping_sub(self.base.lo()) as usize;
        (off & (DESC_SIZE - 1) == 0 && off / DESC_SIZE < self.entries()).then_some(off / DESC_SIZE)
    }
}
