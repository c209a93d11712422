//! Register models for host tests: [`FakePhys`] (bus memory, bus address = byte offset),
//! [`FakePtdma`] (one PTDMA queue, facts §2–§4) and [`FakeAe4`] (AE4DMA queues, facts §5).
//!
//! Both fakes log every register access in order and execute descriptors against `FakePhys`:
//! PTDMA processes HEAD..TAIL when TAIL_LO is written with RUN set (or lazily, k descriptors per
//! HEAD_LO read), AE4DMA processes read_idx..write_idx on the write_idx doorbell. Faults: an
//! error code on the n-th descriptor processed, a stuck engine, a vanished device (all-ones).

use crate::regs::ae4::{Ae4QueueReg, COMMON_CONFIG, MAX_QUEUES, QUEUE_STRIDE};
use crate::regs::{IntStatus, QueueControl, QueueReg};
use crate::{DmaAddr, RegisterAccess, SliceMemory};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::sync::atomic::{AtomicU32, Ordering};

/// Simulated bus memory: `bytes` bytes at bus address 0.
#[derive(Debug)]
pub struct FakePhys {
    words: Vec<AtomicU32>,
}

impl FakePhys {
    /// Zeroed memory of `bytes` bytes (rounded up to a multiple of 4).
    pub fn new(bytes: usize) -> Self {
        Self {
            words: (0..bytes.div_ceil(4)).map(|_| AtomicU32::new(0)).collect(),
        }
    }
    /// Size in bytes.
    pub fn len_bytes(&self) -> u64 {
        self.words.len() as u64 * 4
    }
    /// Reads the little-endian qword at `addr` (multiple of 4).
    pub fn read64(&self, addr: u64) -> u64 {
        u64::from(self.read32(addr)) | (u64::from(self.read32(addr + 4)) << 32)
    }
    /// Writes the little-endian qword at `addr` (multiple of 4).
    pub fn write64(&self, addr: u64, v: u64) {
        self.write32(addr, v as u32);
        self.write32(addr + 4, (v >> 32) as u32);
    }
    /// A [`SliceMemory`] view of `[bus, bus + len)`.
    pub fn region(&self, bus: u64, len: usize) -> SliceMemory<'_> {
        let w = bus as usize / 4;
        SliceMemory::new(&self.words[w..w + len / 4], DmaAddr::new(bus))
    }
    /// Reads the dword at `addr`.
    pub fn read32(&self, addr: u64) -> u32 {
        self.words[addr as usize / 4].load(Ordering::Relaxed)
    }
    /// Writes the dword at `addr`.
    pub fn write32(&self, addr: u64, v: u32) {
        self.words[addr as usize / 4].store(v, Ordering::Relaxed)
    }
    /// Reads one byte.
    pub fn read8(&self, addr: u64) -> u8 {
        (self.read32(addr & !3) >> ((addr & 3) * 8)) as u8
    }
    /// Writes one byte.
    pub fn write8(&self, addr: u64, v: u8) {
        let shift = (addr & 3) * 8;
        let w = self.read32(addr & !3) & !(0xFF << shift);
        self.write32(addr & !3, w | (u32::from(v) << shift));
    }
    /// Fills `[addr, addr + len)` with a pattern derived from `seed`.
    pub fn fill(&self, addr: u64, len: u64, seed: u8) {
        for i in 0..len {
            self.write8(addr + i, seed.wrapping_add((i % 251) as u8));
        }
    }
    /// Byte-wise equality of two ranges.
    pub fn equal(&self, a: u64, b: u64, len: u64) -> bool {
        (0..len).all(|i| self.read8(a + i) == self.read8(b + i))
    }
    /// Byte copy (what the engines do).
    pub fn copy(&self, src: u64, dst: u64, len: u64) {
        for i in 0..len {
            self.write8(dst + i, self.read8(src + i));
        }
    }
}

/// One logged register access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read of `offset` that returned `value`.
    Read(usize, u32),
    /// Write of `value` to `offset`.
    Write(usize, u32),
}

/// Injected faults, shared by both fakes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// Fail the n-th descriptor processed since creation (0-based) with this code.
    pub error_at: Option<(u64, u8)>,
    /// Never process anything.
    pub stuck: bool,
    /// Every read returns all-ones.
    pub gone: bool,
}

/// Register model of one PTDMA function (queue 0).
#[derive(Debug)]
pub struct FakePtdma<'m> {
    mem: &'m FakePhys,
    regs: RefCell<BTreeMap<usize, u32>>,
    log: RefCell<Vec<Access>>,
    /// Injected faults.
    pub faults: Cell<Faults>,
    /// `Some(k)`: the doorbell does nothing; each HEAD_LO read processes up to k descriptors.
    pub lazy: Cell<Option<usize>>,
    processed: Cell<u64>,
}

const Q: usize = 0;

impl<'m> FakePtdma<'m> {
    /// A fresh function whose VERSION reads 0x0000_8001 (1 virtual queue, version 1).
    pub fn new(mem: &'m FakePhys) -> Self {
        let regs = BTreeMap::from([(crate::regs::GlobalReg::Version.offset(), 0x8001)]);
        Self {
            mem,
            regs: RefCell::new(regs),
            log: RefCell::new(Vec::new()),
            faults: Cell::new(Faults::default()),
            lazy: Cell::new(None),
            processed: Cell::new(0),
        }
    }
    /// The access log so far.
    pub fn log(&self) -> Vec<Access> {
        self.log.borrow().clone()
    }
    /// Clears the access log.
    pub fn clear_log(&self) {
        self.log.borrow_mut().clear()
    }
    /// Current register value (no logging).
    pub fn peek(&self, offset: usize) -> u32 {
        self.regs.borrow().get(&offset).copied().unwrap_or(0)
    }
    fn set(&self, offset: usize, v: u32) {
        self.regs.borrow_mut().insert(offset, v);
    }
    /// Descriptors processed (successfully or not) so far.
    pub fn processed(&self) -> u64 {
        self.processed.get()
    }

    /// Runs up to `limit` descriptors from HEAD towards TAIL.
    fn run(&self, limit: usize) {
        let faults = self.faults.get();
        let control = self.peek(QueueReg::Control.offset(Q));
        if faults.stuck || control & QueueControl::RUN.bits() == 0 {
            return;
        }
        let size = 32u32 << (((control >> 3) & 0x1F) + 1);
        let hi = u64::from(control >> 16) << 32;
        for _ in 0..limit {
            let (head, tail) = (
                self.peek(QueueReg::HeadLo.offset(Q)),
                self.peek(QueueReg::TailLo.offset(Q)),
            );
            if head == tail {
                let ist = self.peek(QueueReg::InterruptStatus.offset(Q));
                self.set(
                    QueueReg::InterruptStatus.offset(Q),
                    ist | IntStatus::QUEUE_EMPTY.bits(),
                );
                return;
            }
            let at = hi | u64::from(head);
            let d = crate::Descriptor::from_words(core::array::from_fn(|i| {
                self.mem.read32(at + 4 * i as u64)
            }));
            let f = d.decode();
            let n = self.processed.get();
            self.processed.set(n + 1);
            let ist = self.peek(QueueReg::InterruptStatus.offset(Q));
            if let Some((bad, code)) = faults.error_at.filter(|&(bad, _)| bad == n) {
                let _ = bad;
                // Source 1 = command descriptor; the engine stops with HEAD at the bad descriptor.
                self.set(QueueReg::Status.offset(Q), u32::from(code) | (1 << 10));
                self.set(
                    QueueReg::InterruptStatus.offset(Q),
                    ist | IntStatus::ERROR.bits(),
                );
                self.set(
                    QueueReg::Control.offset(Q),
                    control & !QueueControl::RUN.bits() | QueueControl::HALTED.bits(),
                );
                return;
            }
            self.mem
                .copy(f.src.as_u64(), f.dst.as_u64(), u64::from(f.len));
            if f.ioc {
                self.set(
                    QueueReg::InterruptStatus.offset(Q),
                    ist | IntStatus::COMPLETION.bits(),
                );
            }
            let base = head & !(size - 1);
            self.set(
                QueueReg::HeadLo.offset(Q),
                base | (head.wrapping_sub(base) + 32) & (size - 1),
            );
        }
    }
}

impl RegisterAccess for FakePtdma<'_> {
    fn read32(&self, offset: usize) -> u32 {
        if self.faults.get().gone {
            self.log.borrow_mut().push(Access::Read(offset, u32::MAX));
            return u32::MAX;
        }
        if offset == QueueReg::HeadLo.offset(Q) {
            if let Some(k) = self.lazy.get() {
                self.run(k);
            }
        }
        let v = self.peek(offset);
        self.log.borrow_mut().push(Access::Read(offset, v));
        v
    }

    fn write32(&self, offset: usize, value: u32) {
        self.log.borrow_mut().push(Access::Write(offset, value));
        if offset == QueueReg::InterruptStatus.offset(Q) {
            let old = self.peek(offset);
            self.set(offset, old & !value);
            if old & value & IntStatus::ERROR.bits() != 0 {
                // Acknowledging the error clears the code in STATUS (tools/ptdma-model README).
                self.set(QueueReg::Status.offset(Q), 0);
            }
            return;
        }
        let ist = self.peek(QueueReg::InterruptStatus.offset(Q));
        if offset == QueueReg::Control.offset(Q) && ist & IntStatus::ERROR.bits() != 0 {
            // While an error is unacknowledged RUN does not stick: the failed descriptor is
            // not re-run and STATUS keeps its code.
            self.set(
                offset,
                value & !QueueControl::RUN.bits() | QueueControl::HALTED.bits(),
            );
            return;
        }
        self.set(offset, value);
        let kick = offset == QueueReg::TailLo.offset(Q) || offset == QueueReg::Control.offset(Q);
        if kick && self.lazy.get().is_none() {
            self.run(usize::MAX);
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Ae4Q {
    regs: [u32; 8],
}

/// Register model of an AE4DMA function.
#[derive(Debug)]
pub struct FakeAe4<'m> {
    mem: &'m FakePhys,
    common: Cell<u32>,
    queues: RefCell<[Ae4Q; MAX_QUEUES]>,
    log: RefCell<Vec<Access>>,
    /// How many queues the device grants at most.
    pub max_granted: u32,
    /// Injected faults (error codes go to the descriptor's error byte, status 4).
    pub faults: Cell<Faults>,
    processed: Cell<u64>,
}

impl<'m> FakeAe4<'m> {
    /// A device granting up to `max_granted` queues.
    pub fn new(mem: &'m FakePhys, max_granted: u32) -> Self {
        Self {
            mem,
            common: Cell::new(0),
            queues: RefCell::new([Ae4Q::default(); MAX_QUEUES]),
            log: RefCell::new(Vec::new()),
            max_granted,
            faults: Cell::new(Faults::default()),
            processed: Cell::new(0),
        }
    }
    /// The access log so far.
    pub fn log(&self) -> Vec<Access> {
        self.log.borrow().clone()
    }
    /// A queue register value (no logging).
    pub fn peek(&self, q: usize, reg: Ae4QueueReg) -> u32 {
        self.queues.borrow()[q].regs[reg as usize / 4]
    }

    fn run(&self, q: usize) {
        let faults = self.faults.get();
        let mut qs = self.queues.borrow_mut();
        let r = &mut qs[q].regs;
        let idx = |reg: Ae4QueueReg| reg as usize / 4;
        if faults.stuck || r[idx(Ae4QueueReg::Control)] & 1 == 0 {
            return;
        }
        let max = r[idx(Ae4QueueReg::MaxIdx)].max(1);
        let base =
            u64::from(r[idx(Ae4QueueReg::BaseLo)]) | (u64::from(r[idx(Ae4QueueReg::BaseHi)]) << 32);
        while r[idx(Ae4QueueReg::ReadIdx)] != r[idx(Ae4QueueReg::WriteIdx)] {
            let at = base + 32 * u64::from(r[idx(Ae4QueueReg::ReadIdx)]);
            let w: [u32; 8] = core::array::from_fn(|i| self.mem.read32(at + 4 * i as u64));
            let d = crate::ae4dma::Ae4Descriptor::from_words(w);
            let n = self.processed.get();
            self.processed.set(n + 1);
            let status = match faults.error_at.filter(|&(bad, _)| bad == n) {
                Some((_, code)) => 4 | (u32::from(code) << 8),
                None => {
                    let src = u64::from(d.src_lo) | (u64::from(d.src_hi) << 32);
                    let dst = u64::from(d.dst_lo) | (u64::from(d.dst_hi) << 32);
                    self.mem.copy(src, dst, u64::from(d.length));
                    3
                }
            };
            self.mem.write32(at + 4, (d.dw1 & !0xFFFF) | status);
            r[idx(Ae4QueueReg::ReadIdx)] = (r[idx(Ae4QueueReg::ReadIdx)] + 1) % max;
        }
    }
}

impl RegisterAccess for FakeAe4<'_> {
    fn read32(&self, offset: usize) -> u32 {
        let v = if self.faults.get().gone {
            u32::MAX
        } else if offset == COMMON_CONFIG {
            self.common.get()
        } else {
            let (q, reg) = (offset / QUEUE_STRIDE - 1, offset % QUEUE_STRIDE);
            self.queues.borrow()[q].regs[reg / 4]
        };
        self.log.borrow_mut().push(Access::Read(offset, v));
        v
    }

    fn write32(&self, offset: usize, value: u32) {
        self.log.borrow_mut().push(Access::Write(offset, value));
        if offset == COMMON_CONFIG {
            self.common.set(value.min(self.max_granted));
            return;
        }
        let (q, reg) = (offset / QUEUE_STRIDE - 1, offset % QUEUE_STRIDE);
        self.queues.borrow_mut()[q].regs[reg / 4] = value;
        if reg == Ae4QueueReg::WriteIdx as usize || reg == Ae4QueueReg::Control as usize {
            self.run(q);
        }
    }
}
