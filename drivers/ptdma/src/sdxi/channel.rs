//! One SDXI client context as a [`DmaChannel`] (`sdxi-facts.md` §6.3–§6.5): a batch is its
//! copies (one DSC_DMAB_COPY per `max_desc_len` piece, no CST_BLK) plus a trailing fenced
//! DSC_DMAB_NOP carrying the batch's CST_BLK, published with one Write_Index store and ONE
//! doorbell. Completion: the CST_BLK signal reaches 0 (cleared or decremented from 1: both
//! readings of the UNSURE point give 0). Ring space is counted from completed batches, never
//! from CXT_STS.read_index, so it is right whether the function advances that index at fetch
//! or at completion (UNSURE, facts §6.4); the index is only checked for corruption.
//!
//! Errors: a CST_BLK with er = 1, or CXT_STS leaving RUN, or (every `check_interval` polls)
//! STS0 not ACTIVE. The error log is read for an entry naming this context. Recovery: the
//! context is stopped (DSC_CXT_STOP + DSC_SYNC), its ring reset and restarted
//! (DSC_CXT_START); every op of every unfinished batch is reported not done (copies without
//! a fence may finish out of order, so nothing in a failed batch is certain), for the caller
//! to copy with the CPU. A function that left ACTIVE is reset and re-activated first (its
//! other channels restart their contexts when they next poll or submit). If the stop or
//! restart fails, the channel is retired.

use super::context::{ContextMem, CSB_SLOTS, RING_ENTRIES};
use super::desc::{ContextState, Descriptor};
use super::error::{BringUpError, SdxiError};
use super::function::SdxiFunction;
use super::regs::{self, FunctionState};
use crate::channel::DmaChannel;
use crate::error::Progress;
use crate::queue::{spin_budget, wait_loop, Completed, Poll, Ticket};
use crate::regs::{CountingRegs, MmioCounters};
use crate::{CopyOp, DmaMemory, PtdmaError, RegisterAccess};
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;

/// Channel options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelConfig {
    /// Ops longer than this are cut into several copy descriptors (≤ 4 GiB). Default 2 MiB.
    pub max_desc_len: u64,
    /// Read STS0 (one MMIO read) every this many pending polls to notice a function error.
    pub check_interval: u32,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self {
            max_desc_len: 2 << 20,
            check_interval: 1 << 16,
        }
    }
}

/// A function shared by its channels.
pub type SharedFunction<R, M> = Arc<Mutex<SdxiFunction<R, M>>>;

#[derive(Debug)]
struct Batch {
    ticket: u64,
    end: u64,
    ops: usize,
    csb: usize,
}

/// One client context of an SDXI function.
#[derive(Debug)]
pub struct SdxiChannel<R: RegisterAccess, M: DmaMemory> {
    function: SharedFunction<R, M>,
    id: u16,
    regs: CountingRegs<R>,
    db: CountingRegs<R>,
    db_off: usize,
    cxt: ContextMem<M>,
    config: ChannelConfig,
    submitted: u64,
    /// Descriptors written to the device's rings so far (for the driver/model cross-check).
    descriptors: u64,
    completed: u64,
    descriptors_done: u64,
    batches: VecDeque<Batch>,
    next_ticket: u64,
    last_done: Option<Ticket>,
    polls: u32,
    retired: Option<PtdmaError>,
    recoveries: u64,
    generation: Arc<AtomicU64>,
    started_in: u64,
}

impl<R: RegisterAccess, M: DmaMemory> SdxiChannel<R, M> {
    /// Opens client context `id` of `function` over `mem` (≥ `CONTEXT_BYTES`, 4 KiB
    /// aligned): builds its structures, publishes them and starts the context through the
    /// admin ring. `regs` and `db` are this channel's own views of BAR 0 and BAR 2.
    ///
    /// # Errors
    /// [`PtdmaError::Sdxi`] with [`SdxiError::BringUp`]: `Memory`, `NoSuchContext`, or
    /// the admin start's failure; [`PtdmaError::LengthTooLarge`] for a `max_desc_len` of 0
    /// or above 4 GiB.
    pub fn open(
        function: SharedFunction<R, M>,
        id: u16,
        regs: R,
        db: R,
        mem: M,
        config: ChannelConfig,
    ) -> Result<Self, PtdmaError> {
        if !(1..=1 << 32).contains(&config.max_desc_len) {
            return Err(PtdmaError::LengthTooLarge {
                len: config.max_desc_len,
                max: 1 << 32,
            });
        }
        let bring = |e| PtdmaError::Sdxi {
            error: e,
            progress: None,
        };
        let cxt = ContextMem::new(mem).ok_or(bring(SdxiError::BringUp(BringUpError::Memory)))?;
        let (db_off, generation) = {
            let mut f = function.lock();
            f.start_context(id, &cxt).map_err(bring)?;
            (f.doorbell_offset(id), f.generation())
        };
        let started_in = generation.load(Ordering::Acquire);
        Ok(Self {
            function,
            id,
            regs: CountingRegs::new(regs),
            db: CountingRegs::new(db),
            db_off,
            cxt,
            config,
            submitted: 0,
            descriptors: 0,
            completed: 0,
            descriptors_done: 0,
            batches: VecDeque::new(),
            next_ticket: 0,
            last_done: None,
            polls: 0,
            retired: None,
            recoveries: 0,
            generation,
            started_in,
        })
    }

    /// The context id.
    pub fn context_id(&self) -> u16 {
        self.id
    }

    /// The options.
    pub fn config(&self) -> &ChannelConfig {
        &self.config
    }

    /// Times the context was stopped and restarted after an error or timeout.
    pub fn recoveries(&self) -> u64 {
        self.recoveries
    }

    /// Why the channel was retired, if it was.
    pub fn retired(&self) -> Option<PtdmaError> {
        self.retired
    }

    /// The context's memory (tests inspect the ring).
    pub fn context(&self) -> &ContextMem<M> {
        &self.cxt
    }

    /// Copy descriptors `op` needs (0 for an empty op).
    pub fn descriptors_for(&self, op: &CopyOp) -> usize {
        op.len.div_ceil(self.config.max_desc_len) as usize
    }

    /// Ring slots free for copies (one slot of every batch is its trailing NOP).
    pub fn free_slots(&self) -> usize {
        let used = (self.submitted - self.completed) as usize;
        (RING_ENTRIES as usize - used).saturating_sub(1)
    }

    /// Writes the copies of `ops` and the fenced NOP with a fresh CST_BLK, stores the new
    /// Write_Index, and rings the doorbell once with it.
    ///
    /// # Errors
    /// Nothing is written on error: a retired channel's error; [`PtdmaError::Sdxi`] with
    /// [`SdxiError::Overlap`] when an op's source and destination overlap;
    /// [`PtdmaError::AddressTooHigh`] when a range wraps past 2^64;
    /// [`PtdmaError::QueueFull`] when the copies and the NOP do not fit the free slots or
    /// [`CSB_SLOTS`] batches are already outstanding.
    pub fn submit(&mut self, ops: &[CopyOp]) -> Result<Ticket, PtdmaError> {
        if let Some(e) = self.retired {
            return Err(e);
        }
        // An idle context the function stopped (a function reset by another channel's
        // recovery, a stop) is restarted before it is given work.
        if self.batches.is_empty()
            && (self.cxt.state() != ContextState::Run || self.stale_generation())
        {
            self.recover();
            if let Some(e) = self.retired {
                return Err(e);
            }
        }
        for (i, op) in ops.iter().enumerate() {
            let (s, d) = (op.src.as_u64(), op.dst.as_u64());
            for a in [op.src, op.dst] {
                if a.as_u64().checked_add(op.len).is_none() {
                    return Err(PtdmaError::AddressTooHigh(a));
                }
            }
            if op.len > 0 && s < d + op.len && d < s + op.len {
                return Err(PtdmaError::Sdxi {
                    error: SdxiError::Overlap { op: i },
                    progress: None,
                });
            }
        }
        let copies: usize = ops.iter().map(|op| self.descriptors_for(op)).sum();
        let ticket = self.next_ticket;
        if copies == 0 {
            self.next_ticket += 1;
            if self.batches.is_empty() {
                self.last_done = Some(Ticket(ticket));
            }
            return Ok(Ticket(ticket));
        }
        let free = self.free_slots();
        if copies > free || self.batches.len() >= CSB_SLOTS {
            return Err(PtdmaError::QueueFull {
                needed: copies + 1,
                free: if self.batches.len() >= CSB_SLOTS {
                    0
                } else {
                    free + 1
                },
            });
        }
        self.next_ticket += 1;
        let csb = (ticket % CSB_SLOTS as u64) as usize;
        self.cxt.arm_csb(csb);
        let mut seq = self.submitted;
        for op in ops {
            let mut off = 0;
            while off < op.len {
                let n = (op.len - off).min(self.config.max_desc_len);
                let d = Descriptor::copy(op.src.as_u64() + off, op.dst.as_u64() + off, n, None);
                self.cxt.write_desc(seq, &d);
                seq += 1;
                off += n;
            }
        }
        self.cxt
            .write_desc(seq, &Descriptor::nop(true, Some(self.cxt.csb_bus(csb))));
        seq += 1;
        self.descriptors += seq - self.submitted;
        self.submitted = seq;
        self.cxt.set_write_index(seq);
        self.db.doorbell64(self.db_off, seq);
        self.batches.push_back(Batch {
            ticket,
            end: seq,
            ops: ops.len(),
            csb,
        });
        Ok(Ticket(ticket))
    }

    /// Non-blocking completion check (memory reads; STS0 every `check_interval` polls).
    ///
    /// # Errors
    /// A retired channel's error; [`PtdmaError::DeviceGone`]; [`PtdmaError::Sdxi`] with the
    /// decoded error and the progress, after recovery.
    pub fn poll(&mut self) -> Result<Poll, PtdmaError> {
        if let Some(e) = self.retired {
            return Err(e);
        }
        while let Some(b) = self.batches.front() {
            match self.cxt.csb_done(b.csb) {
                Some(false) => {
                    self.descriptors_done += b.end - self.completed;
                    self.completed = b.end;
                    self.last_done = Some(Ticket(b.ticket));
                    self.batches.pop_front();
                }
                Some(true) => return Err(self.fail(SdxiError::CompletionError)),
                None => break,
            }
        }
        if self.batches.is_empty() {
            return Ok(match self.last_done {
                Some(last) if self.submitted > 0 || self.next_ticket > 0 => Poll::Complete { last },
                _ => Poll::Idle,
            });
        }
        if self.stale_generation() {
            return Err(self.fail(SdxiError::FunctionReset));
        }
        let state = self.cxt.state();
        if state != ContextState::Run {
            return Err(self.fail(SdxiError::ContextStopped(state)));
        }
        let (read, write) = (self.cxt.read_index(), self.submitted);
        if read > write {
            return Err(self.fail(SdxiError::RingCorrupt { read, write }));
        }
        self.polls += 1;
        if self.polls >= self.config.check_interval {
            self.polls = 0;
            let sts0 = self.regs.read64(regs::STS0);
            if sts0 == u64::MAX {
                self.retired = Some(PtdmaError::DeviceGone);
                return Err(PtdmaError::DeviceGone);
            }
            let s = FunctionState::from_sts0(sts0);
            if s != FunctionState::Active {
                return Err(self.fail(SdxiError::Function(s)));
            }
        }
        Ok(Poll::Pending)
    }

    /// True when the function was re-activated after this context was started.
    fn stale_generation(&self) -> bool {
        self.generation.load(Ordering::Acquire) != self.started_in
    }

    fn progress(&self) -> Progress {
        let b = self.batches.front();
        Progress {
            ticket: b.map_or(self.next_ticket, |b| b.ticket),
            ops_completed: 0,
            ops_total: b.map_or(0, |b| b.ops),
        }
    }

    /// Stops the context, resets its ring and restarts it; forgets the outstanding batches.
    /// A function that left ACTIVE is reset and re-activated first (by whichever of its
    /// channels notices). On failure the channel is retired with that error.
    fn recover(&mut self) {
        self.recoveries += 1;
        let mut f = self.function.lock();
        // After a function reset the context is stopped already and its L1 entry is gone:
        // no DSC_CXT_STOP then, only the restart.
        let mut stopped = self.stale_generation();
        let r = match f.state() {
            Ok(FunctionState::Active) => Ok(()),
            Ok(_) => {
                stopped = true;
                f.reactivate()
            }
            Err(e) => Err(e),
        }
        .inspect(|()| self.started_in = self.generation.load(Ordering::Acquire))
        .and_then(|()| {
            let stop = if stopped {
                Ok(())
            } else {
                f.stop_context(self.id)
            };
            stop.map(|()| self.cxt.reset_ring())
                .and_then(|()| f.start_context(self.id, &self.cxt))
                .map_err(|error| PtdmaError::Sdxi {
                    error,
                    progress: None,
                })
        });
        drop(f);
        self.batches.clear();
        self.submitted = 0;
        self.completed = 0;
        if let Err(e) = r {
            self.retired = Some(e);
        }
    }

    /// The error path: names the error from the log when it has an entry for this
    /// context, recovers (unless the function itself failed: then the channel retires).
    fn fail(&mut self, seen: SdxiError) -> PtdmaError {
        let progress = self.progress();
        let error = {
            let mut f = self.function.lock();
            match f.drain_log() {
                Err(lost) => f.take_log(self.id).map_or(lost, SdxiError::Logged),
                Ok(()) => f.take_log(self.id).map_or(seen, SdxiError::Logged),
            }
        };
        self.recover();
        PtdmaError::Sdxi {
            error,
            progress: Some(progress),
        }
    }

    /// Called when a wait ran out of time: stops and restarts the context.
    fn abort(&mut self) -> PtdmaError {
        let progress = self.progress();
        let desc_index = (self.cxt.read_index() % RING_ENTRIES) as usize;
        self.recover();
        PtdmaError::Timeout {
            desc_index,
            progress,
        }
    }

    fn done(&self) -> Completed {
        Completed {
            last: self.last_done,
            descriptors: self.descriptors_done,
        }
    }

    /// Polls until everything submitted completed or `expired()`; then the context is
    /// stopped and restarted and [`PtdmaError::Timeout`] says what did not finish.
    ///
    /// # Errors
    /// As [`Self::poll`], and [`PtdmaError::Timeout`].
    pub fn wait_until(&mut self, expired: impl FnMut() -> bool) -> Result<Completed, PtdmaError> {
        wait_loop(self, expired, Self::poll, Self::abort, Self::done)
    }

    /// [`Self::wait_until`] with a budget of `spin_limit` pending polls.
    ///
    /// # Errors
    /// As [`Self::wait_until`].
    pub fn wait(&mut self, spin_limit: u64) -> Result<Completed, PtdmaError> {
        self.wait_until(spin_budget(spin_limit))
    }

    /// The register traffic of this channel's function itself (activation, admin
    /// doorbells, error-log reads), shared by every channel of the function.
    pub fn function_counters(&self) -> MmioCounters {
        self.function.lock().counters()
    }

    /// This channel's register traffic (its doorbells and STS0 checks).
    pub fn counters(&self) -> MmioCounters {
        let (a, b) = (self.regs.counters(), self.db.counters());
        MmioCounters {
            reads: a.reads + b.reads,
            writes: a.writes + b.writes,
            doorbells: a.doorbells + b.doorbells,
            descriptors: self.descriptors,
        }
    }
}

impl<R: RegisterAccess, M: DmaMemory> DmaChannel for SdxiChannel<R, M> {
    fn submit(&mut self, ops: &[CopyOp]) -> Result<Ticket, PtdmaError> {
        SdxiChannel::submit(self, ops)
    }
    fn poll(&mut self) -> Result<Poll, PtdmaError> {
        SdxiChannel::poll(self)
    }
    fn wait_until(&mut self, expired: &mut dyn FnMut() -> bool) -> Result<Completed, PtdmaError> {
        SdxiChannel::wait_until(self, expired)
    }
    fn descriptors_for(&self, op: &CopyOp) -> usize {
        SdxiChannel::descriptors_for(self, op)
    }
    fn free_slots(&self) -> usize {
        SdxiChannel::free_slots(self)
    }
    fn counters(&self) -> MmioCounters {
        SdxiChannel::counters(self)
    }
}
