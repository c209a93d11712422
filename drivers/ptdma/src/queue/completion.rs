//! Completion side of [`PtdmaQueue`]: HEAD_LO / marker polling, error recovery like Linux
//! `pt_do_cmd_complete` (facts §4.3, §4.4), timeout abort, bounded waits.

use super::{gone, spin_budget, wait_loop, Completed, Poll, PtdmaQueue, Ticket};
use crate::error::{error_name, Progress, PtdmaError};
use crate::regs::{self, IntStatus, QueueControl, QueueReg};
use crate::{DmaMemory, RegisterAccess};

impl<R: RegisterAccess, M: DmaMemory> PtdmaQueue<R, M> {
    /// Marks everything up to sequence `done` complete and retires finished batches.
    fn retire(&mut self, done: u64) {
        self.completed = self.completed.max(done);
        while let Some(b) = self.batches.front() {
            if b.end > self.completed {
                break;
            }
            self.last_done = Some(Ticket(b.ticket));
            self.batches.pop_front();
        }
    }

    /// Reads HEAD_LO and retires what it shows complete; returns the head slot.
    fn read_head(&mut self) -> Result<usize, PtdmaError> {
        let head_lo = gone(self.regs.read(QueueReg::HeadLo.offset(0)))?;
        let head = self.ring.index_of(head_lo).ok_or(PtdmaError::DeviceGone)?;
        let used = self.ring.used(head, self.tail) as u64;
        self.retire(self.submitted - used);
        Ok(head)
    }

    /// Checks for progress without blocking. Errors leave the queue recovered and empty.
    ///
    /// # Errors
    /// [`PtdmaError::DeviceGone`] when HEAD_LO, the interrupt status or STATUS reads
    /// all-ones, or HEAD_LO points outside the ring; [`PtdmaError::Hardware`] with STATUS's
    /// error code (5:0) and source (11:10), the head slot and the oldest batch's progress when
    /// the interrupt status has ERROR set (facts §4.3, §4.4): the queue is then recovered as
    /// Linux does, with everything queued dropped and the queue running again.
    pub fn poll(&mut self) -> Result<Poll, PtdmaError> {
        let Some(newest) = self.batches.back().map(|b| b.ticket) else {
            return Ok(Poll::Idle);
        };
        if let Some(m) = &self.marker {
            if self.polls_since_check < self.config.marker_check_interval {
                self.polls_since_check += 1;
                let word = u64::from(m.read32(0)) | (u64::from(m.read32(4)) << 32);
                let Some(b) = self.batches.iter().find(|b| b.token == Some(word)) else {
                    return Ok(Poll::Pending);
                };
                if b.ticket != newest {
                    self.retire(b.end);
                    return Ok(Poll::Pending);
                }
                // Newest marker landed: confirm with one HEAD_LO read.
                if self.read_head()? == self.tail {
                    return Ok(Poll::Complete {
                        last: Ticket(newest),
                    });
                }
            }
            self.polls_since_check = 0;
            self.safety_checks += 1;
        }
        let head = self.read_head()?;
        if self.batches.is_empty() {
            return Ok(Poll::Complete {
                last: Ticket(newest),
            });
        }
        let ist = gone(self.regs.read(QueueReg::InterruptStatus.offset(0)))?;
        if IntStatus::from_bits_truncate(ist).contains(IntStatus::ERROR) {
            return Err(self.recover_error(head, ist));
        }
        Ok(Poll::Pending)
    }

    fn progress(&self) -> Progress {
        match self.batches.front() {
            Some(b) => Progress {
                ticket: b.ticket,
                ops_completed: b.op_ends.iter().filter(|&&e| e <= self.completed).count(),
                ops_total: b.op_ends.len(),
            },
            None => Progress {
                ticket: self.next_ticket,
                ops_completed: 0,
                ops_total: 0,
            },
        }
    }

    /// Drops everything queued: HEAD_LO ← TAIL, bookkeeping emptied.
    fn drop_pending(&mut self) {
        self.regs
            .write(QueueReg::HeadLo.offset(0), self.ring.addr_lo(self.tail));
        self.completed = self.submitted;
        self.batches.clear();
    }

    /// Linux-style recovery (`pt_do_cmd_complete`): read STATUS, skip everything queued
    /// (HEAD_LO ← TAIL), clear the latched status (W1C), rewrite CONTROL | RUN. The order
    /// matters on the silicon's terms (as Linux 6.12's driver relies on them): STATUS holds the
    /// code only until ERROR is acknowledged, and a RUN written before the acknowledgement
    /// does not stick, so the queue would stay stopped.
    fn recover_error(&mut self, head: usize, ist: u32) -> PtdmaError {
        let status = match gone(self.regs.read(QueueReg::Status.offset(0))) {
            Ok(s) => regs::QueueStatus(s),
            Err(e) => return e,
        };
        let progress = self.progress();
        self.drop_pending();
        self.regs.write(QueueReg::InterruptStatus.offset(0), ist);
        self.regs.write(
            QueueReg::Control.offset(0),
            self.control | QueueControl::RUN.bits(),
        );
        self.running = true;
        let code = status.error_code();
        PtdmaError::Hardware {
            code,
            name: error_name(code),
            source: status.error_source(),
            desc_index: head,
            progress,
        }
    }

    /// Gives up on what is in flight: stop (clear RUN), note progress, HEAD_LO ← TAIL, clear
    /// status. The next submit restarts the queue.
    fn abort(&mut self) -> PtdmaError {
        self.regs.write(QueueReg::Control.offset(0), self.control);
        self.running = false;
        let head = match self.read_head() {
            Ok(h) => h,
            Err(e) => return e,
        };
        let progress = self.progress();
        self.drop_pending();
        self.regs
            .write(QueueReg::InterruptStatus.offset(0), IntStatus::all().bits());
        PtdmaError::Timeout {
            desc_index: head,
            progress,
        }
    }

    /// Polls until everything submitted completed, or `expired()` returns true (then the queue
    /// is stopped and emptied and `Timeout` returned). `expired` is called once per pending poll.
    ///
    /// # Errors
    /// The errors of [`poll`](Self::poll); [`PtdmaError::Timeout`] with the head slot and
    /// the oldest batch's progress when `expired()` is true while work is pending (the queue is
    /// stopped and emptied; the next submit restarts it), or [`PtdmaError::DeviceGone`] when
    /// HEAD_LO reads all-ones during that abort.
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

    /// Teardown (Linux `pt_core_destroy`): interrupts off, RUN cleared, status cleared.
    pub fn shutdown(&mut self) {
        self.regs.write(QueueReg::IntEnable.offset(0), 0);
        self.regs.write(QueueReg::Control.offset(0), self.control);
        self.running = false;
        self.regs
            .write(QueueReg::InterruptStatus.offset(0), IntStatus::all().bits());
        self.regs.read(QueueReg::IntStatusRaw.offset(0));
        self.regs.read(QueueReg::Status.offset(0));
    }
}
