//! [`FakeSdxi`]: a register and memory model of one SDXI function for host tests, after
//! `sdxi-facts.md` §9.1–§9.2: function state machine, context tables walked on every
//! doorbell, Write_Index read from memory (the doorbell value is ignored), descriptors
//! executed in ring order until one whose vl is 0 (wait, not error), validity checks
//! (opcode, reserved bits, AKeys, ranges inside memory, no overlap), CST_BLK update
//! (clear or decrement: [`SignalMode`]), CXT_STS.read_index at fetch or at completion
//! ([`ReadIndexMode`]), error-log entries, and faults (error on the n-th descriptor, a stuck
//! context, a vanished device, a function error). Client doorbells can be deferred until
//! the next STS0 read to test waiting.

mod exec;

use super::error::ERRLOG_TYPE;
use super::regs::{self, FunctionState};
use crate::testing::FakePhys;
use crate::RegisterAccess;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

/// How the function updates a CST_BLK signal (UNSURE, facts §6.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SignalMode {
    /// Write 0.
    #[default]
    Clear,
    /// Atomic decrement by one.
    Decrement,
}

/// When CXT_STS.read_index advances (UNSURE, facts §4.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadIndexMode {
    /// After each descriptor completed.
    #[default]
    Completion,
    /// When descriptors are fetched: every valid descriptor up to Write_Index at once,
    /// before any of them executes.
    Fetch,
}

/// Injected faults.
#[derive(Clone, Copy, Debug, Default)]
pub struct SdxiFaults {
    /// Fail the n-th client descriptor executed (0-based, copies and NOPs) with a data
    /// buffer access error (step 10, sub_step 2, buffer 1, context stopped).
    pub error_at: Option<u64>,
    /// Doorbells of this context are ignored.
    pub stuck: Option<u16>,
    /// Every read returns all-ones; writes are dropped.
    pub gone: bool,
}

/// One logged register access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdxiAccess {
    /// 0 (registers) or 2 (doorbells).
    pub bar: u8,
    /// Byte offset in the BAR.
    pub offset: usize,
    /// Value read or written.
    pub value: u64,
    /// True for a write.
    pub write: bool,
    /// Access size in bytes.
    pub size: u8,
}

/// A bad descriptor or structure: (step, sub_step, buffer).
pub(crate) type Fault = (u64, u64, Option<u64>);

/// The fake function.
#[derive(Debug)]
pub struct FakeSdxi<'m> {
    mem: &'m FakePhys,
    regs: RefCell<BTreeMap<usize, u64>>,
    gsv: Cell<FunctionState>,
    log: RefCell<Vec<SdxiAccess>>,
    deferred_set: RefCell<BTreeSet<u16>>,
    /// Injected faults.
    pub faults: Cell<SdxiFaults>,
    /// CST_BLK signal behaviour.
    pub signal: Cell<SignalMode>,
    /// read_index behaviour.
    pub read_index: Cell<ReadIndexMode>,
    /// Client doorbells wait for the next STS0 read.
    pub deferred: Cell<bool>,
    executed: Cell<u64>,
    /// Doorbells per context.
    pub doorbells: RefCell<BTreeMap<u16, u64>>,
}

/// A view of one BAR of a [`FakeSdxi`].
#[derive(Debug, Clone, Copy)]
pub struct FakeBar<'a, 'm> {
    dev: &'a FakeSdxi<'m>,
    bar: u8,
}

/// CAP0 of the fake: db_stride 4 KiB, rings up to 4096 entries.
pub const FAKE_CAP0: u64 = 2 << 24;
/// CAP1 of the fake: max_buffer 11, max_akey_sz 0, max_cxt 4, operation groups DmaBase
/// (type 1) and Admin (type 2) as bits 1 and 2 (bit n = group type n, the facts' plausible
/// reading of opb_000_cap, §2.1).
pub const FAKE_CAP1: u64 = 11 | (4 << 16) | (0b110 << 32);

impl<'m> FakeSdxi<'m> {
    /// A stopped function over `mem`, VERSION 1.0.
    pub fn new(mem: &'m FakePhys) -> Self {
        let regs = BTreeMap::from([
            (regs::CAP0, FAKE_CAP0),
            (regs::CAP1, FAKE_CAP1),
            (regs::VERSION, 1 << 16),
        ]);
        Self {
            mem,
            regs: RefCell::new(regs),
            gsv: Cell::new(FunctionState::Stop),
            log: RefCell::new(Vec::new()),
            deferred_set: RefCell::new(BTreeSet::new()),
            faults: Cell::new(SdxiFaults::default()),
            signal: Cell::new(SignalMode::Clear),
            read_index: Cell::new(ReadIndexMode::Completion),
            deferred: Cell::new(false),
            executed: Cell::new(0),
            doorbells: RefCell::new(BTreeMap::new()),
        }
    }

    /// The register BAR.
    pub fn bar0(&self) -> FakeBar<'_, 'm> {
        FakeBar { dev: self, bar: 0 }
    }

    /// The doorbell BAR.
    pub fn bar2(&self) -> FakeBar<'_, 'm> {
        FakeBar { dev: self, bar: 2 }
    }

    /// Every access so far.
    pub fn log(&self) -> Vec<SdxiAccess> {
        self.log.borrow().clone()
    }

    /// Forgets the access log.
    pub fn clear_log(&self) {
        self.log.borrow_mut().clear();
    }

    /// Current function state.
    pub fn state(&self) -> FunctionState {
        self.gsv.get()
    }

    /// Puts the function into ERROR (as if an internal failure happened).
    pub fn force_function_error(&self) {
        self.gsv.set(FunctionState::Error);
    }

    /// Client descriptors executed so far.
    pub fn executed(&self) -> u64 {
        self.executed.get()
    }

    /// Register value (0 if never written).
    pub fn reg(&self, off: usize) -> u64 {
        self.regs.borrow().get(&off).copied().unwrap_or(0)
    }

    /// Sets a register behind the driver's back (tests: other capabilities, a broken log).
    pub fn set_reg(&self, off: usize, v: u64) {
        self.regs.borrow_mut().insert(off, v);
    }

    fn read_reg(&self, bar: u8, off: usize) -> u64 {
        if self.faults.get().gone {
            return u64::MAX;
        }
        if bar != 0 {
            return 0;
        }
        if off == regs::STS0 {
            let pending: Vec<u16> = core::mem::take(&mut *self.deferred_set.borrow_mut())
                .into_iter()
                .collect();
            for id in pending {
                self.run_context(id);
            }
            return match self.gsv.get() {
                FunctionState::Stop => 0,
                FunctionState::Init => 1,
                FunctionState::Active => 2,
                FunctionState::StoppingSoft => 3,
                FunctionState::StoppingHard => 4,
                FunctionState::Error => 5,
                FunctionState::Other(v) => u64::from(v),
            };
        }
        self.reg(off)
    }

    fn write_reg(&self, bar: u8, off: usize, v: u64) {
        if self.faults.get().gone {
            return;
        }
        if bar == 2 {
            let id = (off / 4096) as u16;
            *self.doorbells.borrow_mut().entry(id).or_default() += 1;
            if id != 0 && self.deferred.get() {
                self.deferred_set.borrow_mut().insert(id);
            } else {
                self.run_context(id);
            }
            return;
        }
        match off {
            regs::STS0 | regs::CAP0 | regs::CAP1 | regs::VERSION => {}
            regs::ERR_STS => self.set_reg(off, self.reg(off) & !v),
            regs::CTL0 => {
                self.set_reg(off, v);
                self.request(v & 3);
            }
            _ => self.set_reg(off, v),
        }
    }

    fn request(&self, gsr: u64) {
        use FunctionState as S;
        let next = match (self.gsv.get(), gsr) {
            (S::Stop, 3) => match self.check_admin() {
                Ok(()) => S::Active,
                Err((step, sub, _)) => {
                    self.log_error(step, sub, 2, Some(0), None, None);
                    S::Error
                }
            },
            (S::Active, 1 | 2) | (_, 0) => S::Stop,
            (s, _) => s,
        };
        self.gsv.set(next);
    }

    fn in_mem(&self, addr: u64, len: u64) -> bool {
        addr.checked_add(len)
            .is_some_and(|e| e <= self.mem.len_bytes())
    }

    /// The context's CXT_CTL address after walking L2 and L1, or the failing step.
    fn walk(&self, id: u16) -> Result<[u64; 8], Fault> {
        let l2 = self.reg(regs::CXT_L2) & !0xFFF;
        if l2 == 0 || !self.in_mem(l2, 4096) {
            return Err((2, 1, None));
        }
        let l2e = self.mem.read64(l2 + 8 * u64::from(id >> 7));
        if l2e & 1 == 0 || l2e & 0xFFE != 0 || !self.in_mem(l2e & !0xFFF, 4096) {
            return Err((2, 3, None));
        }
        let l1 = (l2e & !0xFFF) + 32 * u64::from(id & 127);
        let l1e: Vec<u64> = (0..4).map(|i| self.mem.read64(l1 + 8 * i)).collect();
        if l1e[0] & 1 == 0 || l1e[0] & 0x38 != 0 || l1e[1] & 0xFF0 != 0 || l1e[3] != 0 {
            return Err((3, 3, None));
        }
        let ctl = l1e[0] & !0x3F;
        if !self.in_mem(ctl, 64) {
            return Err((4, 1, None));
        }
        let mut c = [0u64; 8];
        for (i, w) in c.iter_mut().enumerate() {
            *w = self.mem.read64(ctl + 8 * i as u64);
        }
        let entries = c[1] & 0xFFFF_FFFF;
        let ring = c[0] & !0x3F;
        if c[0] & 1 == 0
            || c[0] & 2 != 0
            || c[1] >> 32 != 0
            || c[4..].iter().any(|&w| w != 0)
            || !(1024..=1024 << ((FAKE_CAP0 >> 24) & 0x1F)).contains(&entries)
            || !self.in_mem(ring, entries * 64)
            || !self.in_mem(c[2] & !0xF, 16)
            || !self.in_mem(c[3] & !7, 8)
        {
            return Err((4, 3, None));
        }
        Ok(c)
    }

    fn check_admin(&self) -> Result<(), Fault> {
        self.walk(0).map(|_| ())
    }

    fn log_error(
        &self,
        step: u64,
        sub: u64,
        re: u64,
        cxt: Option<u16>,
        dsc: Option<u64>,
        buf: Option<u64>,
    ) {
        let cfg = self.reg(regs::ERR_CFG);
        let mut sts = self.reg(regs::ERR_STS);
        if cfg & 1 == 0 {
            return;
        }
        let entries = ((cfg >> 1) & 0x1F) * 64;
        let (wrt, rd) = (self.reg(regs::ERR_WRT), self.reg(regs::ERR_RD));
        if wrt - rd >= entries {
            sts |= regs::ERR_STS_OVF;
        }
        let at = (cfg & !0xFFF) + (wrt % entries) * 64;
        let q0 = 1
            | (step << 8)
            | (ERRLOG_TYPE << 16)
            | (u64::from(cxt.is_some()) << 32)
            | (u64::from(dsc.is_some()) << 33)
            | (u64::from(buf.is_some()) << 34)
            | (buf.unwrap_or(0) << 36)
            | (sub << 40)
            | (re << 44)
            | (u64::from(cxt.unwrap_or(0)) << 48);
        for i in 1..8 {
            self.mem.write64(at + 8 * i, 0);
        }
        self.mem.write64(at + 8, dsc.unwrap_or(0));
        self.mem.write64(at, q0);
        self.set_reg(regs::ERR_WRT, wrt + 1);
        self.set_reg(regs::ERR_STS, sts | regs::ERR_STS_STS);
    }
}

impl RegisterAccess for FakeBar<'_, '_> {
    fn read32(&self, offset: usize) -> u32 {
        let v = (self.dev.read_reg(self.bar, offset & !7) >> ((offset & 4) * 8)) as u32;
        self.dev.log.borrow_mut().push(SdxiAccess {
            bar: self.bar,
            offset,
            value: u64::from(v),
            write: false,
            size: 4,
        });
        v
    }
    fn write32(&self, offset: usize, value: u32) {
        self.dev.log.borrow_mut().push(SdxiAccess {
            bar: self.bar,
            offset,
            value: u64::from(value),
            write: true,
            size: 4,
        });
        let old = self.dev.reg(offset & !7);
        let sh = (offset & 4) * 8;
        let v = (old & !(0xFFFF_FFFFu64 << sh)) | (u64::from(value) << sh);
        self.dev.write_reg(self.bar, offset & !7, v);
    }
    fn read64(&self, offset: usize) -> u64 {
        let v = self.dev.read_reg(self.bar, offset);
        self.dev.log.borrow_mut().push(SdxiAccess {
            bar: self.bar,
            offset,
            value: v,
            write: false,
            size: 8,
        });
        v
    }
    fn write64(&self, offset: usize, value: u64) {
        self.dev.log.borrow_mut().push(SdxiAccess {
            bar: self.bar,
            offset,
            value,
            write: true,
            size: 8,
        });
        self.dev.write_reg(self.bar, offset, value);
    }
}
