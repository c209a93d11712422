//! The fake function's execution of a context: the ring walk from read_index to Write_Index,
//! descriptor validation (facts §9.2) and the copy, NOP and admin operations.

use super::{FakeSdxi, Fault, ReadIndexMode, SignalMode, FAKE_CAP1};
use crate::sdxi::desc::{ContextState, CSB_ER, FE, NP, SUB_COPY, SUB_CXT_START, SUB_CXT_STOP};
use crate::sdxi::desc::{SUB_NOP, SUB_SYNC, TYPE_ADMIN, TYPE_DMAB};
use crate::sdxi::regs::{self, FunctionState};
use alloc::vec::Vec;

impl FakeSdxi<'_> {
    /// Processes context `id` from its read_index to its Write_Index.
    pub(super) fn run_context(&self, id: u16) {
        if self.gsv.get() != FunctionState::Active || self.faults.get().stuck == Some(id) {
            return;
        }
        let c = match self.walk(id) {
            Ok(c) => c,
            Err((step, sub, _)) => {
                self.log_error(step, sub, 1, Some(id), None, None);
                return;
            }
        };
        let (ring, n, sts, wi) = (c[0] & !0x3F, c[1], c[2] & !0xF, c[3] & !7);
        if ContextState::decode(self.mem.read64(sts)) != ContextState::Run {
            return;
        }
        let (mut read, write) = (self.mem.read64(sts + 8), self.mem.read64(wi));
        if read > write || write - read > n {
            self.log_error(6, 3, 1, Some(id), None, None);
            self.mem.write64(sts, 0xF);
            return;
        }
        if self.read_index.get() == ReadIndexMode::Fetch {
            let mut f = read;
            while f < write && self.mem.read64(ring + (f % n) * 64) & 1 == 1 {
                f += 1;
            }
            self.mem.write64(sts + 8, f);
        }
        let mut started = Vec::new();
        while read < write {
            let at = ring + (read % n) * 64;
            let mut d = [0u64; 8];
            for (i, w) in d.iter_mut().enumerate() {
                *w = self.mem.read64(at + 8 * i as u64);
            }
            if d[0] & 1 == 0 {
                break;
            }
            let r = self.execute(id, &d, &mut started);
            let csb = (d[7] & NP == 0).then_some(d[7] & !0x1F);
            if let Some(csb) = csb.filter(|&a| a & 0x1F == 0 && self.in_mem(a, 32)) {
                if r.is_err() {
                    let f = self.mem.read32(csb + 8);
                    self.mem.write32(csb + 8, f | CSB_ER);
                }
                let s = self.mem.read64(csb);
                let s = match self.signal.get() {
                    SignalMode::Clear => 0,
                    SignalMode::Decrement => s.wrapping_sub(1),
                };
                self.mem.write64(csb, s);
            }
            read += 1;
            if self.read_index.get() == ReadIndexMode::Completion {
                self.mem.write64(sts + 8, read);
            }
            if let Err((step, sub, buf)) = r {
                self.log_error(step, sub, 1, Some(id), Some(read - 1), buf);
                self.mem.write64(sts, 0xF);
                break;
            }
        }
        for cid in started {
            self.run_context(cid);
        }
    }

    /// Validates and executes one descriptor of context `id`.
    fn execute(&self, id: u16, d: &[u64; 8], started: &mut Vec<u16>) -> Result<(), Fault> {
        let ty = (d[0] >> 16) & 0x7FF;
        let sub = (d[0] >> 8) & 0xFF;
        let bad = Err((7, 3, None));
        // The operation group must be enabled for this context (L1.opb_000_enb, bit = type).
        let l2 = self.reg(regs::CXT_L2) & !0xFFF;
        let l1 = (self.mem.read64(l2 + 8 * u64::from(id >> 7)) & !0xFFF) + 32 * u64::from(id & 127);
        if ty >= 32 || (self.mem.read64(l1 + 16) >> 32) >> ty & 1 == 0 {
            return bad;
        }
        if d[0] & 0xC0 != 0 || d[0] & 0xF800_0000 != 0 || d[7] & 0x1E != 0 {
            return bad;
        }
        if d[7] & NP == 0 && (!self.in_mem(d[7] & !0x1F, 32)) {
            return Err((8, 1, None));
        }
        if id != 0 {
            let n = self.executed.get();
            self.executed.set(n + 1);
            if self.faults.get().error_at == Some(n) {
                return Err((10, 2, Some(1)));
            }
        }
        match (id, ty, sub) {
            (_, TYPE_DMAB, SUB_NOP) => {
                if d[0] >> 32 != 0 || d[1..7].iter().any(|&w| w != 0) {
                    return bad;
                }
                Ok(())
            }
            (1.., TYPE_DMAB, SUB_COPY) => self.copy(id, d),
            (0, TYPE_ADMIN, SUB_CXT_START | SUB_CXT_STOP | SUB_SYNC) => {
                if sub != SUB_SYNC && d[0] & FE == 0 {
                    return bad;
                }
                let (first, last) = (d[1] as u16, (d[1] >> 16) as u16);
                if first == 0 || first > last || u64::from(last) > (FAKE_CAP1 >> 16) & 0xFFFF {
                    return bad;
                }
                if sub == SUB_SYNC {
                    return Ok(());
                }
                for cid in first..=last {
                    let c = self.walk(cid)?;
                    let sts = c[2] & !0xF;
                    let keep = self.mem.read64(sts) & !0xF;
                    if sub == SUB_CXT_START {
                        self.mem.write64(sts, keep | ContextState::RUN);
                        started.push(cid);
                    } else {
                        self.mem.write64(sts, keep);
                    }
                }
                Ok(())
            }
            _ => bad,
        }
    }

    fn copy(&self, id: u16, d: &[u64; 8]) -> Result<(), Fault> {
        let len = (d[0] >> 32) + 1;
        if d[1] & !0xFFFF_FFFF_0000_00FF != 0 || d[4..7].iter().any(|&w| w != 0) {
            return Err((7, 3, None));
        }
        // AKeys: index < 256 and the entry valid.
        let c = self.walk(id)?;
        let _ = c;
        let l2 = self.reg(regs::CXT_L2) & !0xFFF;
        let l1 = (self.mem.read64(l2 + 8 * u64::from(id >> 7)) & !0xFFF) + 32 * u64::from(id & 127);
        let akey = self.mem.read64(l1 + 8) & !0xFFF;
        for k in [(d[1] >> 32) & 0xFFFF, d[1] >> 48] {
            if k >= 256 || self.mem.read64(akey + 16 * k) & 1 == 0 {
                return Err((11, 3, None));
            }
        }
        let (src, dst) = (d[2], d[3]);
        if !self.in_mem(src, len) {
            return Err((10, 1, Some(0)));
        }
        if !self.in_mem(dst, len) {
            return Err((10, 1, Some(1)));
        }
        let csb = (d[7] & NP == 0).then_some(d[7] & !0x1F);
        let overlaps = |a: u64, al: u64, b: u64, bl: u64| a < b + bl && b < a + al;
        if overlaps(src, len, dst, len)
            || csb.is_some_and(|c| overlaps(src, len, c, 32) || overlaps(dst, len, c, 32))
        {
            return Err((7, 3, None));
        }
        self.mem.copy(src, dst, len);
        Ok(())
    }
}
