//! AE4DMA (1022:149b): up to 16 hardware queues in BAR 0, each a ring of 32-byte descriptors
//! driven by slot indices instead of addresses (facts §5).
//!
//! Init follows facts §5.3 (common config ← 16, read back the granted count; per queue max_idx,
//! ring base, enable). Submit writes many descriptors then the new write_idx once (the doorbell).
//! Completion: hardware advances read_idx (treated as truth, like DPDK); the status/error bytes of
//! the consumed descriptors are then checked in RAM (status 4 or a non-zero error byte = failure;
//! status 0/3 = success; 1/2 tolerated as a benign race). The engine keeps going past a failed
//! descriptor, so an `Ae4Descriptor` error concerns only its own batch; it is reported once the
//! whole batch has been consumed, so no DMA is still writing when the caller falls back to the CPU.
//! Decisions on UNSURE points: the interrupt-status register is not written (Linux does not at
//! init; SPDK/DPDK disagree with Linux on its meaning); control ← 1 is written last, after the
//! ring base; on timeout the queue is disabled and write_idx is rewound to read_idx.

use crate::error::{ae4_error_name, Progress, PtdmaError, RingPlacement};
use crate::queue::{spin_budget, wait_loop, Completed, IocPolicy, Poll, Ticket};
use crate::regs::ae4::{Ae4QueueReg, COMMON_CONFIG, MAX_QUEUES};
use crate::regs::{CountingRegs, MmioCounters};
use crate::{CopyOp, DmaAddr, DmaMemory, RegisterAccess};
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::sync::atomic::{fence, Ordering};

/// DW0 bit 1: interrupt on completion (Linux `CMD_AE4_DESC_DW0_VAL` = 2).
pub const AE4_DW0_IOC: u32 = 1 << 1;
/// Descriptor status: completed (`AE4_DESC_COMPLETED`).
pub const AE4_STATUS_COMPLETED: u8 = 3;
/// Descriptor status: error.
pub const AE4_STATUS_ERROR: u8 = 4;
/// Ring depth Linux and SPDK use.
pub const AE4_DEFAULT_ENTRIES: usize = 32;

/// One AE4DMA descriptor (facts §5.2).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ae4Descriptor {
    /// DW0: byte 0 control bits (IOC = bit 1; memory types 0 = DRAM), 31:16 timestamp.
    pub dw0: u32,
    /// DW1: status 7:0 (written back by hardware), error code 15:8, descriptor id 31:16.
    pub dw1: u32,
    /// DW2: length in bytes (multiple of 4).
    pub length: u32,
    /// DW3: reserved.
    pub reserved: u32,
    /// DW4: source address 31:0.
    pub src_lo: u32,
    /// DW5: source address 63:32.
    pub src_hi: u32,
    /// DW6: destination address 31:0.
    pub dst_lo: u32,
    /// DW7: destination address 63:32.
    pub dst_hi: u32,
}

const _: () = assert!(core::mem::size_of::<Ae4Descriptor>() == 32);

impl Ae4Descriptor {
    /// A DRAM → DRAM copy with status 0 ("submitted").
    pub fn memcpy(src: DmaAddr, dst: DmaAddr, len: u32, ioc: bool) -> Self {
        Self {
            dw0: if ioc { AE4_DW0_IOC } else { 0 },
            dw1: 0,
            length: len,
            reserved: 0,
            src_lo: src.lo(),
            src_hi: src.hi(),
            dst_lo: dst.lo(),
            dst_hi: dst.hi(),
        }
    }
    /// Status byte.
    pub fn status(&self) -> u8 {
        self.dw1 as u8
    }
    /// Error byte.
    pub fn error(&self) -> u8 {
        (self.dw1 >> 8) as u8
    }
    /// The eight dwords in memory order.
    pub fn to_words(&self) -> [u32; 8] {
        let s = self;
        [
            s.dw0, s.dw1, s.length, s.reserved, s.src_lo, s.src_hi, s.dst_lo, s.dst_hi,
        ]
    }
    /// Builds a descriptor from eight dwords in memory order.
    pub fn from_words(w: [u32; 8]) -> Self {
        let [dw0, dw1, length, reserved, src_lo, src_hi, dst_lo, dst_hi] = w;
        Self {
            dw0,
            dw1,
            length,
            reserved,
            src_lo,
            src_hi,
            dst_lo,
            dst_hi,
        }
    }
}

/// Writes the common config (number of queues wanted, normally 16) and returns the granted count.
///
/// # Errors
/// [`PtdmaError::DeviceGone`] when the common config register reads back all-ones.
pub fn init_common(regs: &impl RegisterAccess, wanted: u32) -> Result<u32, PtdmaError> {
    regs.write32(COMMON_CONFIG, wanted);
    let granted = regs.read32(COMMON_CONFIG);
    if granted == u32::MAX {
        return Err(PtdmaError::DeviceGone);
    }
    // A review iteration of SPDK's header puts `num_queues` in bits 4:0.
    Ok((granted & 0x1F).min(MAX_QUEUES as u32))
}

/// AE4DMA queue options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ae4Config {
    /// Ops longer than this are split (rounded down to a multiple of 4). Default 2 MiB.
    pub max_desc_len: u32,
    /// IOC placement.
    pub ioc: IocPolicy,
}

impl Default for Ae4Config {
    fn default() -> Self {
        Self {
            max_desc_len: 2 << 20,
            ioc: IocPolicy::LastOfBatch,
        }
    }
}

#[derive(Debug)]
struct Batch {
    ticket: u64,
    end: u64,
    op_ends: Vec<u64>,
    /// First failed descriptor: (sequence number, slot, status, error code).
    failure: Option<(u64, usize, u8, u8)>,
}

/// One AE4DMA hardware queue.
#[derive(Debug)]
pub struct Ae4Queue<R: RegisterAccess, M: DmaMemory> {
    regs: CountingRegs<R>,
    qid: usize,
    ring_mem: M,
    entries: usize,
    config: Ae4Config,
    tail: usize,
    submitted: u64,
    /// Descriptors written to the device's rings so far (for the driver/model cross-check).
    descriptors: u64,
    completed: u64,
    batches: VecDeque<Batch>,
    next_ticket: u64,
    last_done: Option<Ticket>,
}

impl<R: RegisterAccess, M: DmaMemory> Ae4Queue<R, M> {
    /// Sets up queue `qid` (< `granted` from [`init_common`]) with the ring in `ring_mem`
    /// (N × 32 B, 2 ≤ N ≤ 65536, 32-byte aligned).
    ///
    /// # Errors
    /// Nothing is written to the device on the first four: [`PtdmaError::NoSuchQueue`] when
    /// `qid` is not below both `granted` and 16; [`PtdmaError::RingPlacement`] with `BadSize`
    /// when `ring_mem` holds fewer than 2 or more than 65536 descriptors of 32 bytes, or
    /// `Misaligned` when its bus address is not 32-byte aligned;
    /// [`PtdmaError::LengthTooLarge`] (`len` and `max` 0) for a `max_desc_len` below 4 bytes.
    /// Then [`PtdmaError::DeviceGone`] when write_idx or read_idx reads all-ones after the ring
    /// registers were written (the queue is not enabled).
    pub fn init(
        regs: R,
        qid: usize,
        granted: u32,
        ring_mem: M,
        config: Ae4Config,
    ) -> Result<Self, PtdmaError> {
        if qid >= MAX_QUEUES || qid >= granted as usize {
            return Err(PtdmaError::NoSuchQueue(qid));
        }
        let entries = ring_mem.len_bytes() / 32;
        if !(2..=65536).contains(&entries) {
            return Err(PtdmaError::RingPlacement(RingPlacement::BadSize));
        }
        let base = ring_mem.bus_addr();
        if base.as_u64() & 31 != 0 {
            return Err(PtdmaError::RingPlacement(RingPlacement::Misaligned));
        }
        if config.max_desc_len < 4 {
            return Err(PtdmaError::LengthTooLarge { len: 0, max: 0 });
        }
        let regs = CountingRegs::new(regs);
        regs.write(Ae4QueueReg::MaxIdx.offset(qid), entries as u32);
        regs.write(Ae4QueueReg::BaseLo.offset(qid), base.lo());
        regs.write(Ae4QueueReg::BaseHi.offset(qid), base.hi());
        let write_idx = regs.read(Ae4QueueReg::WriteIdx.offset(qid));
        let read_idx = regs.read(Ae4QueueReg::ReadIdx.offset(qid));
        if write_idx == u32::MAX || read_idx == u32::MAX {
            return Err(PtdmaError::DeviceGone);
        }
        regs.write(Ae4QueueReg::Control.offset(qid), 1);
        let config = Ae4Config {
            max_desc_len: config.max_desc_len & !3,
            ..config
        };
        Ok(Self {
            regs,
            qid,
            ring_mem,
            entries,
            config,
            tail: write_idx as usize % entries,
            submitted: 0,
            descriptors: 0,
            completed: 0,
            batches: VecDeque::new(),
            next_ticket: 1,
            last_done: None,
        })
    }

    /// Descriptors `op` needs.
    pub fn descriptors_for(&self, op: &CopyOp) -> usize {
        op.len.div_ceil(u64::from(self.config.max_desc_len)) as usize
    }

    /// The configuration the queue was started with.
    pub fn config(&self) -> &Ae4Config {
        &self.config
    }

    /// Most descriptors outstanding at once (N − 1).
    pub fn capacity(&self) -> usize {
        self.entries - 1
    }

    /// Slots free as of the last poll.
    pub fn free_slots(&self) -> usize {
        self.capacity() - (self.submitted - self.completed) as usize
    }

    fn slot_of(&self, seq: u64) -> usize {
        let back = (self.submitted - seq) as usize;
        (self.tail + self.entries - back) % self.entries
    }

    /// Writes the batch's descriptors, then write_idx once.
    ///
    /// # Errors
    /// Nothing is written on error: [`PtdmaError::Misaligned`] with the first source,
    /// destination or length that is not a multiple of 4 bytes (AE4DMA error codes 3/4/5 would
    /// fail it on the engine); [`PtdmaError::QueueFull`] with the descriptors needed (each op
    /// split at `max_desc_len`) and the slots free as of the last poll.
    pub fn submit(&mut self, batch: &[CopyOp]) -> Result<Ticket, PtdmaError> {
        for op in batch {
            for a in [op.src, op.dst, DmaAddr::new(op.len)] {
                if a.as_u64() & 3 != 0 {
                    return Err(PtdmaError::Misaligned(a));
                }
            }
        }
        let needed: usize = batch.iter().map(|op| self.descriptors_for(op)).sum();
        let free = self.free_slots();
        if needed > free {
            return Err(PtdmaError::QueueFull { needed, free });
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        if needed == 0 {
            self.last_done = Some(Ticket(ticket));
            return Ok(Ticket(ticket));
        }
        let max = u64::from(self.config.max_desc_len);
        let (mut written, mut op_ends) = (0, Vec::with_capacity(batch.len()));
        for op in batch {
            let mut off = 0;
            while off < op.len {
                let len = (op.len - off).min(max);
                written += 1;
                let ioc = match self.config.ioc {
                    IocPolicy::Every => true,
                    IocPolicy::Never => false,
                    IocPolicy::LastOfBatch => written == needed,
                };
                let d = Ae4Descriptor::memcpy(op.src.add(off), op.dst.add(off), len as u32, ioc);
                for (i, w) in d.to_words().into_iter().enumerate() {
                    self.ring_mem.write32(self.tail * 32 + 4 * i, w);
                }
                self.tail = (self.tail + 1) % self.entries;
                self.submitted += 1;
                off += len;
            }
            op_ends.push(self.submitted);
        }
        fence(Ordering::SeqCst);
        self.descriptors += needed as u64;
        self.regs
            .doorbell(Ae4QueueReg::WriteIdx.offset(self.qid), self.tail as u32);
        self.batches.push_back(Batch {
            ticket,
            end: self.submitted,
            op_ends,
            failure: None,
        });
        Ok(Ticket(ticket))
    }

    /// Reads read_idx, checks the newly consumed descriptors, retires finished batches.
    fn advance(&mut self) -> Result<usize, PtdmaError> {
        let read_idx = self.regs.read(Ae4QueueReg::ReadIdx.offset(self.qid));
        if read_idx == u32::MAX || read_idx as usize >= self.entries {
            return Err(PtdmaError::DeviceGone);
        }
        let used = (self.tail + self.entries - read_idx as usize) % self.entries;
        let done = self.submitted - used as u64;
        for seq in self.completed..done {
            let slot = self.slot_of(seq);
            let dw1 = self.ring_mem.read32(slot * 32 + 4);
            let (status, code) = (dw1 as u8, (dw1 >> 8) as u8);
            if status == AE4_STATUS_ERROR || code != 0 {
                if let Some(b) = self.batches.iter_mut().find(|b| seq < b.end) {
                    b.failure.get_or_insert((seq, slot, status, code));
                }
            }
        }
        self.completed = self.completed.max(done);
        Ok(read_idx as usize)
    }

    fn progress(b: &Batch, done: u64) -> Progress {
        let limit = b.failure.map_or(done, |(seq, ..)| seq.min(done));
        Progress {
            ticket: b.ticket,
            ops_completed: b.op_ends.iter().filter(|&&e| e <= limit).count(),
            ops_total: b.op_ends.len(),
        }
    }

    /// Checks for progress (one MMIO read). A batch with a failed descriptor is reported when
    /// it has been fully consumed.
    ///
    /// # Errors
    /// [`PtdmaError::DeviceGone`] when read_idx reads all-ones or beyond the ring;
    /// [`PtdmaError::Ae4Descriptor`] with the status and error bytes of DW1, the slot and the
    /// batch's progress once a batch in which a descriptor came back with status 4 (error) or a
    /// non-zero error byte has been fully consumed (the batch is retired; later ones stay).
    pub fn poll(&mut self) -> Result<Poll, PtdmaError> {
        let Some(newest) = self.batches.back().map(|b| b.ticket) else {
            return Ok(Poll::Idle);
        };
        self.advance()?;
        while let Some(b) = self.batches.front() {
            if b.end > self.completed {
                return Ok(Poll::Pending);
            }
            let b = self.batches.pop_front().expect("front exists");
            self.last_done = Some(Ticket(b.ticket));
            if let Some((_, slot, status, code)) = b.failure {
                let progress = Self::progress(&b, self.completed);
                let name = ae4_error_name(code);
                return Err(PtdmaError::Ae4Descriptor {
                    status,
                    code,
                    name,
                    desc_index: slot,
                    progress,
                });
            }
        }
        Ok(Poll::Complete {
            last: Ticket(newest),
        })
    }

    /// Disables the queue, records progress, rewinds write_idx to read_idx (dropping what is
    /// queued; UNSURE on hardware), re-enables.
    fn abort(&mut self) -> PtdmaError {
        self.regs.write(Ae4QueueReg::Control.offset(self.qid), 0);
        let read_idx = match self.advance() {
            Ok(r) => r,
            Err(e) => return e,
        };
        let desc_index = read_idx;
        let progress = match self
            .batches
            .iter()
            .find(|b| b.end > self.completed || b.failure.is_some())
        {
            Some(b) => Self::progress(b, self.completed),
            None => Progress {
                ticket: self.next_ticket,
                ops_completed: 0,
                ops_total: 0,
            },
        };
        self.regs
            .write(Ae4QueueReg::WriteIdx.offset(self.qid), read_idx as u32);
        self.tail = read_idx;
        self.completed = self.submitted;
        self.batches.clear();
        self.regs.write(Ae4QueueReg::Control.offset(self.qid), 1);
        PtdmaError::Timeout {
            desc_index,
            progress,
        }
    }

    /// Polls until everything completed, or `expired()` says stop (then [`PtdmaError::Timeout`]).
    ///
    /// # Errors
    /// The errors of [`poll`](Self::poll); [`PtdmaError::Timeout`] with read_idx and the
    /// unfinished batch's progress when `expired()` is true while work is pending (write_idx is
    /// rewound to read_idx, dropping what is queued, and the queue re-enabled), or
    /// [`PtdmaError::DeviceGone`] when read_idx reads all-ones during that abort.
    pub fn wait_until(&mut self, expired: impl FnMut() -> bool) -> Result<Completed, PtdmaError> {
        wait_loop(self, expired, Self::poll, Self::abort, |q| Completed {
            last: q.last_done,
            descriptors: q.completed,
        })
    }

    /// [`wait_until`](Self::wait_until) with a budget of `spin_limit` pending polls.
    ///
    /// # Errors
    /// As [`wait_until`](Self::wait_until); [`PtdmaError::Timeout`] after `spin_limit`
    /// pending polls.
    pub fn wait(&mut self, spin_limit: u64) -> Result<Completed, PtdmaError> {
        self.wait_until(spin_budget(spin_limit))
    }

    /// MMIO counts since init.
    pub fn counters(&self) -> MmioCounters {
        MmioCounters {
            descriptors: self.descriptors,
            ..self.regs.counters()
        }
    }
    /// Queue number.
    pub fn qid(&self) -> usize {
        self.qid
    }
    /// Current producer index (next slot to fill).
    pub fn write_index(&self) -> usize {
        self.tail
    }
    /// The register access.
    pub fn regs(&self) -> &R {
        self.regs.inner()
    }
}
