//! Admin-context operations (sdxi-facts §5.4, §6.2): DSC_CXT_START "NM", DSC_CXT_STOP and
//! DSC_SYNC over an inclusive range of client contexts. A malformed range fails the admin
//! descriptor (the admin context stops, §9.2 step 7). A target whose tables fail the walk gets
//! its own error-log entry (re = context stopped, cxt_num = target) and the admin descriptor
//! completes with CST_BLK er = 1; the admin context goes on.
//!
//! Model choices (UNSURE in the facts, §9.3 item 4): starting a context in ERR_FN or STOP_*
//! restarts it at its current read_index; dv = 1 delivers db_value as a doorbell hint;
//! a hard stop (hs = 1) behaves like a soft one (the model finishes the descriptor in flight);
//! DSC_SYNC waits until every context in its range has finished its descriptor in flight.

use std::time::{Duration, Instant};

use super::core::Core;
use super::desc::{sync_flt, CxtRange};
use super::errlog::Check;
use super::layout::cxt_sts;
use super::walk::walk;

/// Longest wait for a target context to finish the descriptor it is executing.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

impl Core {
    /// Client context ids of `range` (1..=CTL2.max_cxt), or the failed check.
    fn targets(&self, range: CxtRange) -> Result<std::ops::RangeInclusive<u16>, (Check, u16)> {
        if range.end < range.start || range.start == 0 {
            return Err((Check::AdminRange, 0));
        }
        if range.end > self.regs().ctl2().max_cxt || usize::from(range.end) >= self.cxts.len() {
            return Err((Check::CxtIdRange, 0));
        }
        Ok(range.start..=range.end)
    }

    /// Waits (bounded) until context `id` is not executing a descriptor.
    fn drain(&self, id: u16) {
        let t0 = Instant::now();
        while self.cxt(id).busy && t0.elapsed() < DRAIN_LIMIT {
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// DSC_CXT_START: walk each target, set CXT_STS.state = RUN, wake it. Ok(er).
    pub(super) fn admin_start(
        &self,
        range: CxtRange,
        db_value: Option<u64>,
    ) -> Result<bool, (Check, u16)> {
        let mut er = false;
        for id in self.targets(range)? {
            let env = walk(&*self.shared.mem, &self.regs(), id);
            let env = match env {
                Ok(e) => e,
                Err(check) => {
                    self.fail_context(id, check, None, 0);
                    er = true;
                    continue;
                }
            };
            if self.shared.mem.write(env.sts(), &[cxt_sts::RUN]).is_err() {
                self.fail_context(id, Check::CxtStsOutsideRam, None, 0);
                er = true;
                continue;
            }
            let mut g = self.cxt(id);
            g.running = true;
            g.stuck = false;
            g.sts = Some(env.sts());
            g.kicks += 1;
            if let Some(v) = db_value {
                g.last_doorbell = v;
            }
            drop(g);
            self.cxts[usize::from(id)].kick();
            tracing::debug!("SDXI context {id} started");
        }
        Ok(er)
    }

    /// DSC_CXT_STOP: stop each target after its descriptor in flight; CXT_STS.state = STOP_SW.
    /// A wedged (stuck-fault) context is abandoned. Ok(er).
    pub(super) fn admin_stop(&self, range: CxtRange) -> Result<bool, (Check, u16)> {
        let mut er = false;
        for id in self.targets(range)? {
            {
                let mut g = self.cxt(id);
                g.running = false;
                g.stuck = false;
                g.waiting = false;
            }
            self.drain(id);
            match walk(&*self.shared.mem, &self.regs(), id) {
                Ok(env) => {
                    let _ = self.shared.mem.write(env.sts(), &[cxt_sts::STOP_SW]);
                    self.cxt(id).sts = Some(env.sts());
                }
                Err(check) => {
                    self.fail_context(id, check, None, 0);
                    er = true;
                }
            }
        }
        Ok(er)
    }

    /// DSC_SYNC: a barrier. Filters CXT and STOP name a context range; the others (AKEY, RKEY,
    /// FN) have nothing cached to flush in this model.
    pub(super) fn admin_sync(&self, flt: u8, range: CxtRange) -> Result<(), (Check, u16)> {
        if flt == sync_flt::CXT || flt == sync_flt::STOP {
            // Context 0 may be named here: the admin context is the one executing the sync.
            let ids = if range.end == 0 {
                None
            } else {
                Some(self.targets(CxtRange {
                    start: range.start.max(1),
                    end: range.end,
                })?)
            };
            for id in ids.into_iter().flatten() {
                self.drain(id);
            }
        }
        Ok(())
    }
}
