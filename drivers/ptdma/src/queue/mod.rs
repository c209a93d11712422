//! One PTDMA hardware queue: init, batched submit, polled completion, error and timeout
//! recovery (facts §4.1–§4.4, §8). Linux counterpart: `ptdma-dev.c`.
//!
//! Bookkeeping uses descriptor sequence numbers: `submitted` counts descriptors ever written,
//! `completed` those known done; slot = seq mod N (HEAD = TAIL = slot 0 at init, and every
//! recovery sets HEAD = TAIL, so the mapping never drifts). Completion is read from HEAD_LO
//! ("first incomplete descriptor", FreeBSD semantics). Whether HEAD_LO advances only once the
//! data writes are visible is UNSURE (facts §4.3); the optional completion marker (a last 8-byte
//! copy of a per-batch token into RAM) makes completion a memory poll ordered after the data.

use crate::desc::{Descriptor, Ring, DESC_SIZE};
use crate::error::{PtdmaError, RingPlacement};
use crate::regs::{self, CountingRegs, GlobalReg, IntStatus, MmioCounters, QueueControl, QueueReg};
use crate::{CopyOp, DmaAddr, DmaMemory, RegisterAccess};
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::sync::atomic::{fence, Ordering};

mod completion;

/// Identifies a submitted batch; tickets increase by one per `submit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticket(pub u64);

/// Which descriptors get IOC (DW0 bit 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IocPolicy {
    /// Only the last descriptor of each batch (one COMPLETION per batch).
    LastOfBatch,
    /// Every descriptor (what Linux does).
    Every,
    /// None (pure HEAD_LO polling, like DPDK-pt).
    Never,
}

/// Queue options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// Ops longer than this are split into several descriptors. Default 2 MiB (the largest size
    /// exercised in practice; a hardware cap below 4 GiB is UNSURE, facts §3).
    pub max_desc_len: u32,
    /// IOC placement.
    pub ioc: IocPolicy,
    /// Append a completion-marker descriptor to every batch (needs marker memory at init).
    pub completion_marker: bool,
    /// In marker mode, do a full register check every this many polls (to notice errors).
    pub marker_check_interval: u32,
    /// Written to INT_ENABLE after start; empty = polling only (the proxy has no MSI).
    pub interrupts: IntStatus,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            max_desc_len: 2 << 20,
            ioc: IocPolicy::LastOfBatch,
            completion_marker: false,
            marker_check_interval: 64,
            interrupts: IntStatus::empty(),
        }
    }
}

/// The wait shared by both queue kinds: poll until idle or complete; when `expired()`
/// says so while work is pending, `abort` the queue and return its error.
///
/// # Errors
/// The first error of `poll` (e.g. [`PtdmaError::DeviceGone`] or an engine error), or,
/// when `expired()` is true while work is pending, the error `abort` returns after
/// stopping the queue (the callers' abort gives [`PtdmaError::Timeout`]).
pub(crate) fn wait_loop<Q>(
    q: &mut Q,
    mut expired: impl FnMut() -> bool,
    poll: fn(&mut Q) -> Result<Poll, PtdmaError>,
    abort: fn(&mut Q) -> PtdmaError,
    done: fn(&Q) -> Completed,
) -> Result<Completed, PtdmaError> {
    loop {
        match poll(q)? {
            Poll::Idle | Poll::Complete { .. } => return Ok(done(q)),
            Poll::Pending if expired() => return Err(abort(q)),
            Poll::Pending => core::hint::spin_loop(),
        }
    }
}

/// An `expired` condition for [`wait_loop`]: true after `limit` pending polls.
pub(crate) fn spin_budget(limit: u64) -> impl FnMut() -> bool {
    let mut spins = 0u64;
    move || {
        spins += 1;
        spins > limit
    }
}

/// Result of one [`PtdmaQueue::poll`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Poll {
    /// Nothing in flight.
    Idle,
    /// Some descriptors still outstanding.
    Pending,
    /// Everything submitted so far has completed; `last` is the newest ticket.
    Complete {
        /// Newest completed batch.
        last: Ticket,
    },
}

/// Result of a successful wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completed {
    /// Newest completed batch (`None` if nothing was ever submitted).
    pub last: Option<Ticket>,
    /// Descriptors completed since init.
    pub descriptors: u64,
}

#[derive(Debug)]
struct Batch {
    ticket: u64,
    /// Sequence number after the batch's last descriptor (marker included).
    end: u64,
    /// Sequence number after each op's last descriptor.
    op_ends: Vec<u64>,
    /// Marker token, if the batch has a marker descriptor.
    token: Option<u64>,
}

const MARKER_TAG: u64 = 0xF0_11_00_00_00_00_00_00;

/// A PTDMA queue (queue 0 of one PTDMA function) over registers `R` and ring memory `M`.
#[derive(Debug)]
pub struct PtdmaQueue<R: RegisterAccess, M: DmaMemory> {
    regs: CountingRegs<R>,
    ring_mem: M,
    marker: Option<M>,
    ring: Ring,
    config: QueueConfig,
    control: u32,
    running: bool,
    tail: usize,
    submitted: u64,
    /// Descriptors written to the device's rings so far (for the driver/model cross-check).
    descriptors: u64,
    completed: u64,
    batches: VecDeque<Batch>,
    next_ticket: u64,
    last_done: Option<Ticket>,
    version: u32,
    polls_since_check: u32,
    safety_checks: u64,
}

fn gone(v: u32) -> Result<u32, PtdmaError> {
    if v == u32::MAX {
        Err(PtdmaError::DeviceGone)
    } else {
        Ok(v)
    }
}

impl<R: RegisterAccess, M: DmaMemory> PtdmaQueue<R, M> {
    /// Initializes the engine and its queue 0 (facts §4.1 and §8 step 4) and starts it.
    ///
    /// `ring_mem` holds N × 32 B (N a power of two); `marker` (required when
    /// `config.completion_marker`) holds 8 × (N + 1) bytes, 8-byte aligned: the completion word
    /// at offset 0 and one token source word per ring slot after it.
    ///
    /// # Errors
    /// Nothing is written to the device on the placement errors: the ring's
    /// [`PtdmaError::RingPlacement`] from [`Ring::new`] (entries from `ring_mem`'s length / 32),
    /// or `NotPowerOfTwo` when that length is not a multiple of 32 bytes;
    /// [`PtdmaError::LengthTooLarge`] (`len` and `max` 0) for a `max_desc_len` of 0; with
    /// `completion_marker`, [`RingPlacement::TooSmall`] when `marker` is missing or shorter than
    /// 8 × (N + 1) bytes and [`RingPlacement::Misaligned`] when it is not 8-byte aligned or
    /// ends above 2^48. Then [`PtdmaError::DeviceGone`] when the VERSION register reads
    /// all-ones.
    pub fn init(
        regs: R,
        ring_mem: M,
        marker: Option<M>,
        config: QueueConfig,
    ) -> Result<Self, PtdmaError> {
        let ring = Ring::new(ring_mem.bus_addr(), ring_mem.len_bytes() / DESC_SIZE)?;
        if ring_mem.len_bytes() & (DESC_SIZE - 1) != 0 {
            return Err(PtdmaError::RingPlacement(RingPlacement::NotPowerOfTwo));
        }
        if config.max_desc_len == 0 {
            return Err(PtdmaError::LengthTooLarge { len: 0, max: 0 });
        }
        let marker = if config.completion_marker {
            marker
        } else {
            None
        };
        if config.completion_marker {
            let m = marker
                .as_ref()
                .ok_or(PtdmaError::RingPlacement(RingPlacement::TooSmall))?;
            if m.len_bytes() < 8 * (ring.entries() + 1) {
                return Err(PtdmaError::RingPlacement(RingPlacement::TooSmall));
            }
            let end = m.bus_addr().as_u64() + m.len_bytes() as u64;
            if m.bus_addr().as_u64() & 7 != 0 || end > DmaAddr::LIMIT {
                return Err(PtdmaError::RingPlacement(RingPlacement::Misaligned));
            }
            m.write32(0, 0);
            m.write32(4, 0);
        }
        let regs = CountingRegs::new(regs);
        let version = gone(regs.read(GlobalReg::Version.offset()))?;
        // Global setup, in Linux's order (pt_core_init).
        regs.write(GlobalReg::Config.offset(), regs::CONFIG_VALUE);
        regs.write(GlobalReg::QueuePrio.offset(), regs::QUEUE_PRIO_VALUE);
        regs.write(GlobalReg::Timeout.offset(), 0);
        regs.write(GlobalReg::ClkGateCtl.offset(), regs::CLK_GATE_VALUE);
        regs.write(GlobalReg::ReqIdConfig.offset(), 0);
        // Queue 0: quiesce, clear latched status, point HEAD = TAIL at slot 0, start.
        regs.write(QueueReg::IntEnable.offset(0), 0);
        regs.write(QueueReg::Control.offset(0), 0);
        regs.read(QueueReg::IntStatusRaw.offset(0));
        regs.read(QueueReg::Status.offset(0));
        regs.write(QueueReg::InterruptStatus.offset(0), IntStatus::all().bits());
        regs.write(QueueReg::TailLo.offset(0), ring.addr_lo(0));
        regs.write(QueueReg::HeadLo.offset(0), ring.addr_lo(0));
        let control = regs::control_value(ring.order(), ring.base());
        regs.write(
            QueueReg::Control.offset(0),
            control | QueueControl::RUN.bits(),
        );
        if !config.interrupts.is_empty() {
            regs.write(QueueReg::IntEnable.offset(0), config.interrupts.bits());
        }
        Ok(Self {
            regs,
            ring_mem,
            marker,
            ring,
            config,
            control,
            running: true,
            tail: 0,
            submitted: 0,
            descriptors: 0,
            completed: 0,
            batches: VecDeque::new(),
            next_ticket: 1,
            last_done: None,
            version,
            polls_since_check: 0,
            safety_checks: 0,
        })
    }

    /// Descriptors `op` needs (0 for an empty op).
    pub fn descriptors_for(&self, op: &CopyOp) -> usize {
        op.len.div_ceil(u64::from(self.config.max_desc_len)) as usize
    }

    /// Descriptors a batch of `ops` needs, marker included.
    pub fn descriptors_for_batch(&self, ops: &[CopyOp]) -> usize {
        ops.iter().map(|op| self.descriptors_for(op)).sum::<usize>()
            + usize::from(self.marker.is_some())
    }

    /// Slots free now (as of the last poll).
    pub fn free_slots(&self) -> usize {
        self.ring.capacity() - (self.submitted - self.completed) as usize
    }

    /// Writes the descriptors of `batch`, then rings the doorbell once (one TAIL_LO write).
    ///
    /// # Errors
    /// Nothing is written on error: [`PtdmaError::AddressTooHigh`] when an op's source or
    /// destination range ends above 2^48; [`PtdmaError::QueueFull`] with the slots needed
    /// (descriptors of every op split at `max_desc_len`, plus the marker) and the slots free as
    /// of the last poll.
    pub fn submit(&mut self, batch: &[CopyOp]) -> Result<Ticket, PtdmaError> {
        for op in batch {
            for a in [op.src, op.dst] {
                if a.as_u64()
                    .checked_add(op.len)
                    .is_none_or(|end| end > DmaAddr::LIMIT)
                {
                    return Err(PtdmaError::AddressTooHigh(a));
                }
            }
        }
        let needed = self.descriptors_for_batch(batch);
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        if needed == 0 {
            self.last_done = Some(Ticket(ticket));
            return Ok(Ticket(ticket));
        }
        let free = self.free_slots();
        if needed > free {
            self.next_ticket -= 1;
            return Err(PtdmaError::QueueFull { needed, free });
        }
        let max = u64::from(self.config.max_desc_len);
        let mut written = 0;
        let mut op_ends = Vec::with_capacity(batch.len());
        for op in batch {
            let mut off = 0;
            while off < op.len {
                let len = (op.len - off).min(max);
                written += 1;
                let ioc = self.ioc_for(written == needed);
                let desc = Descriptor::memcpy(op.src.add(off), op.dst.add(off), len as u32, ioc);
                self.push(&desc);
                off += len;
            }
            op_ends.push(self.submitted);
        }
        let token = self.marker.as_ref().map(|m| {
            let token = MARKER_TAG | ticket;
            let src_off = 8 + 8 * self.tail;
            m.write32(src_off, token as u32);
            m.write32(src_off + 4, (token >> 32) as u32);
            let src = m.bus_addr().add(src_off as u64);
            (
                token,
                Descriptor::memcpy(src, m.bus_addr(), 8, self.config.ioc != IocPolicy::Never),
            )
        });
        let token = token.map(|(token, desc)| {
            self.push(&desc);
            token
        });
        // Descriptors must be globally visible before the doorbell (Linux wmb()).
        fence(Ordering::SeqCst);
        if !self.running {
            self.regs.write(
                QueueReg::Control.offset(0),
                self.control | QueueControl::RUN.bits(),
            );
            self.running = true;
        }
        self.descriptors += needed as u64;
        self.regs
            .doorbell(QueueReg::TailLo.offset(0), self.ring.addr_lo(self.tail));
        self.batches.push_back(Batch {
            ticket,
            end: self.submitted,
            op_ends,
            token,
        });
        Ok(Ticket(ticket))
    }

    fn ioc_for(&self, last: bool) -> bool {
        match self.config.ioc {
            IocPolicy::Every => true,
            IocPolicy::Never => false,
            IocPolicy::LastOfBatch => last && self.marker.is_none(),
        }
    }

    fn push(&mut self, desc: &Descriptor) {
        desc.store(&self.ring_mem, self.tail);
        self.tail = self.ring.advance(self.tail, 1);
        self.submitted += 1;
    }

    /// Register checks made while polling the completion marker (every
    /// `marker_check_interval` polls, to notice an error that stops the marker): each
    /// costs MMIO reads beyond the one per batch.
    pub fn safety_checks(&self) -> u64 {
        self.safety_checks
    }

    /// MMIO counts since init.
    pub fn counters(&self) -> MmioCounters {
        MmioCounters {
            descriptors: self.descriptors,
            ..self.regs.counters()
        }
    }
    /// Ring geometry.
    pub fn ring(&self) -> Ring {
        self.ring
    }
    /// VERSION register read at init (bits 5:0 version, 18:15 virtual queues).
    pub fn version(&self) -> u32 {
        self.version
    }
    /// Batches in flight.
    pub fn in_flight(&self) -> usize {
        self.batches.len()
    }
    /// The register access (e.g. the test fake).
    pub fn regs(&self) -> &R {
        self.regs.inner()
    }
    /// The configuration.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }
}
