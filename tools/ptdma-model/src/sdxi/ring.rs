//! Descriptor-ring processing of one context (sdxi-facts §6.3, §9.2 steps 2–8): re-read
//! Write_Index from memory (the doorbell value is only a hint), consume [read_index,
//! Write_Index) in order, stall without error on a slot whose vl is still 0, validate, execute,
//! complete, advance CXT_STS.read_index. The function never writes Write_Index and never
//! clears a descriptor's vl bit.

use std::sync::atomic::{fence, Ordering};
use std::time::Instant;

use super::core::Core;
use super::desc::{self, Op};
use super::errlog::Check;
use super::layout::{cst_blk, cxt_sts};
use super::options::{ClientStart, ReadIndexMode, SignalMode};
use super::walk::{walk, Env};
use crate::engine::{after, pay_doorbell, wait_until};
use crate::faults::Hits;
use crate::guestmem::GuestMemory;

/// Why a pass over a context's ring ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// read_index caught up with Write_Index.
    Idle,
    /// The slot at read_index is below Write_Index but its vl is 0: wait, no error.
    Wait,
    /// The context or function is not running (or stopped meanwhile).
    Stopped,
    /// A check failed: the context (or the function) went to its error state.
    Error,
    /// The stuck fault wedged the context.
    Stuck,
}

/// A descriptor that could not be executed: which check, and the ERRLOG err_class.
type Fail = (Check, u16);

fn read_u64(mem: &dyn GuestMemory, gpa: u64) -> Option<u64> {
    let mut b = [0u8; 8];
    mem.read(gpa, &mut b).ok().map(|_| u64::from_le_bytes(b))
}

fn overlaps(a: u64, alen: u64, b: u64, blen: u64) -> bool {
    a < b.saturating_add(blen) && b < a.saturating_add(alen)
}

/// Marks a context busy for one descriptor; clears the mark when dropped.
struct Busy<'a> {
    core: &'a Core,
    id: u16,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.core.cxt(self.id).busy = false;
    }
}

impl Core {
    /// Marks context `id` busy if it is still running in the same epoch with the function
    /// ACTIVE; None when it must stop.
    fn claim(&self, id: u16, epoch: u64) -> Option<Busy<'_>> {
        let mut g = self.cxt(id);
        if self.epoch() != epoch || !self.active() || !g.running {
            return None;
        }
        g.busy = true;
        Some(Busy { core: self, id })
    }

    /// Runs context `id` until its ring is empty, it must wait, or it stops. `doorbell` = this
    /// pass follows a doorbell (the timing profile's doorbell latency applies once).
    pub fn service(&self, id: u16, doorbell: bool) -> Outcome {
        let epoch = self.epoch();
        if !self.active() || !self.shared.dma_allowed() || self.cxt(id).stuck {
            return Outcome::Stopped;
        }
        let env = walk(&*self.shared.mem, &self.regs(), id);
        if !self.cxt(id).running && !self.software_start(id, &env) {
            return Outcome::Stopped;
        }
        let env = match env {
            Ok(e) => e,
            Err(check) => {
                self.fail_context(id, check, None, 0);
                return Outcome::Error;
            }
        };
        self.cxt(id).sts = Some(env.sts());
        let mem = &*self.shared.mem;
        let mut first = doorbell;
        loop {
            // Claimed under the context lock together with the running check, so a context
            // stop (admin or function) either sees this pass busy and waits for it, or this
            // pass sees the stop: never a descriptor executed after the stop completed.
            let Some(_busy) = self.claim(id, epoch) else {
                return Outcome::Stopped;
            };
            let Some(write) = read_u64(mem, env.write_index_ptr()) else {
                self.fail_context(id, Check::WriteIndexOutsideRam, None, 0);
                return Outcome::Error;
            };
            let Some(read) = read_u64(mem, env.read_index_ptr()) else {
                self.fail_context(id, Check::CxtStsOutsideRam, None, 0);
                return Outcome::Error;
            };
            if read > write || write - read > env.entries {
                self.fail_context(id, Check::IndexCorrupt, Some(read), 0);
                return Outcome::Error;
            }
            if read == write {
                return Outcome::Idle;
            }
            let mut raw = [0u8; 64];
            if mem.read(env.slot(read), &mut raw[..8]).is_err() {
                self.fail_context(id, Check::DescFetch, Some(read), 0);
                return Outcome::Error;
            }
            if raw[0] & 1 == 0 {
                return Outcome::Wait;
            }
            fence(Ordering::Acquire);
            if mem.read(env.slot(read), &mut raw).is_err() {
                self.fail_context(id, Check::DescFetch, Some(read), 0);
                return Outcome::Error;
            }
            // The doorbell latency applies to client contexts; fault numbers count
            // DSC_DMAB_COPY descriptors only (the data movers, as every PTDMA/AE4DMA
            // descriptor is), so a fault never lands on a no-op or an admin descriptor.
            if id != 0 {
                pay_doorbell(&self.shared, std::mem::take(&mut first));
            }
            let start = Instant::now();
            let hits = if desc::is_copy(&raw) {
                self.shared.faults.next_descriptor()
            } else {
                Hits::default()
            };
            if hits.halt {
                tracing::warn!("fault: function error at descriptor #{}", hits.number);
                self.fail_function(id, Check::InjectedFunctionError, Some(read));
                return Outcome::Error;
            }
            if hits.stuck {
                tracing::warn!("fault: context {id} stuck at descriptor #{}", hits.number);
                self.cxt(id).stuck = true;
                return Outcome::Stuck;
            }
            let advance = |mode| {
                if self.opts.read_index == mode {
                    let _ = mem.write(env.read_index_ptr(), &(read + 1).to_le_bytes());
                }
            };
            advance(ReadIndexMode::Fetch);
            let result = self.execute(&env, &raw, &hits, start);
            if self.epoch() != epoch {
                return Outcome::Stopped; // hard stop or reset: no completion
            }
            let csb = desc::decode(&raw, id == 0).ok().and_then(|d| d.csb);
            match result {
                Ok((bytes, er)) => {
                    if let Some(a) = csb {
                        self.complete(a, er);
                    }
                    advance(ReadIndexMode::Completion);
                    self.shared.counters.queue(usize::from(id), |c| {
                        c.descriptors += 1;
                        c.bytes += bytes;
                    });
                }
                Err((check, class)) => {
                    if let Some(a) = csb.filter(|&a| mem.contains(a, cst_blk::BYTES)) {
                        self.complete(a, true);
                    }
                    self.fail_context(id, check, Some(read), class);
                    return Outcome::Error;
                }
            }
            if hits.vanish {
                tracing::warn!("fault: device vanishes after descriptor #{}", hits.number);
                self.shared.vanished.store(true, Ordering::SeqCst);
                self.shared.counters.with(|c| c.vanished = true);
                return Outcome::Stopped;
            }
        }
    }

    /// A stopped context whose CXT_STS.state software set to RUN: the admin context always
    /// obeys it, a client context only with `ClientStart::Software`.
    fn software_start(&self, id: u16, env: &Result<Env, Check>) -> bool {
        if id != 0 && self.opts.client_start != ClientStart::Software {
            return false;
        }
        let Ok(env) = env else { return false };
        let mut st = [0u8; 1];
        if self.shared.mem.read(env.sts(), &mut st).is_err() || st[0] & 0xf != cxt_sts::RUN {
            return false;
        }
        let mut g = self.cxt(id);
        g.running = true;
        g.sts = Some(env.sts());
        true
    }

    /// Updates a CST_BLK: er first (if set), then the signal, with release ordering (§6.4).
    fn complete(&self, csb: u64, er: bool) {
        let mem = &*self.shared.mem;
        if er {
            let mut f = [0u8; 4];
            if mem.read(csb + cst_blk::FLAGS, &mut f).is_ok() {
                let flags = u32::from_le_bytes(f) | cst_blk::ER;
                let _ = mem.write(csb + cst_blk::FLAGS, &flags.to_le_bytes());
            }
        }
        fence(Ordering::Release);
        let signal = match self.opts.signal {
            SignalMode::Clear => 0,
            SignalMode::Decrement => read_u64(mem, csb).unwrap_or(0).wrapping_sub(1),
        };
        let _ = mem.write(csb, &signal.to_le_bytes());
    }

    /// Validates and executes one descriptor. Ok = (bytes moved, er for the CST_BLK).
    fn execute(
        &self,
        env: &Env,
        raw: &[u8; 64],
        hits: &Hits,
        start: Instant,
    ) -> Result<(u64, bool), Fail> {
        let mem = &*self.shared.mem;
        let d = desc::decode(raw, env.id == 0).map_err(|c| (c, 0))?;
        if env.groups & (1u32 << d.ty) == 0 {
            return Err((Check::DescGroupDisabled, 0));
        }
        if let Some(a) = d.csb {
            if !mem.contains(a, cst_blk::BYTES) {
                return Err((Check::CsbOutsideRam, 0));
            }
        }
        match d.op {
            Op::Nop => {
                wait_until(after(start, self.shared.timing.desc_duration(0)));
                Ok((0, false))
            }
            Op::Copy {
                len,
                akey0,
                akey1,
                src,
                dst,
                ..
            } => {
                self.check_copy(env, d.csb, (akey0, akey1), src, dst, len)?;
                if let Some(code) = hits.error {
                    return Err((Check::InjectedError, u16::from(code)));
                }
                self.copy(src, dst, len, hits.corrupt, start)?;
                Ok((len, false))
            }
            Op::CxtUpd => Ok((0, false)),
            Op::CxtStart { range, db_value } => self.admin_start(range, db_value).map(|er| (0, er)),
            Op::CxtStop { range, .. } => self.admin_stop(range).map(|er| (0, er)),
            Op::Sync { flt, range } => self.admin_sync(flt, range).map(|_| (0, false)),
        }
    }

    /// §9.2 step 4 for a copy: size, AKeys, buffers inside RAM, no overlap among source,
    /// destination and CST_BLK.
    fn check_copy(
        &self,
        env: &Env,
        csb: Option<u64>,
        akeys: (u16, u16),
        src: u64,
        dst: u64,
        len: u64,
    ) -> Result<(), Fail> {
        let mem = &*self.shared.mem;
        if len > env.max_len {
            return Err((Check::DescSizeTooLarge, 0));
        }
        super::walk::akey(mem, env, akeys.0).map_err(|c| (c, 0))?;
        super::walk::akey(mem, env, akeys.1).map_err(|c| (c, 0))?;
        if !mem.contains(src, len) {
            return Err((Check::SrcOutsideRam, 0));
        }
        if !mem.contains(dst, len) {
            return Err((Check::DstOutsideRam, 0));
        }
        if overlaps(src, len, dst, len) {
            return Err((Check::Overlap, 0));
        }
        if let Some(a) = csb {
            if overlaps(a, cst_blk::BYTES, src, len) || overlaps(a, cst_blk::BYTES, dst, len) {
                return Err((Check::CsbOverlap, 0));
            }
        }
        Ok(())
    }

    /// Moves the data with the shared paced copy, in pieces of at most 2 GiB (its length is
    /// 32-bit); each piece is paced from its own start.
    fn copy(
        &self,
        src: u64,
        dst: u64,
        len: u64,
        corrupt: bool,
        start: Instant,
    ) -> Result<(), Fail> {
        const PIECE: u64 = 1 << 31;
        let mut done = 0;
        let mut t0 = start;
        while done < len {
            let n = (len - done).min(PIECE);
            let c = crate::desc::Copy {
                src: src + done,
                dst: dst + done,
                len: n as u32,
                ioc: false,
                soc: false,
            };
            crate::engine::run_copy(&self.shared, &c, corrupt, t0)
                .map_err(|_| (Check::DataAccess, 0))?;
            done += n;
            t0 = Instant::now();
        }
        Ok(())
    }
}
