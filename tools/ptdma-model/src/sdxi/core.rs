//! The function core: registers, the function state machine (MMIO_CTL0.fn_gsr →
//! MMIO_STS0.fn_gsv, sdxi-facts §2.1, §6.1, §6.5), per-context run state, doorbells and error
//! recording. Socket- and thread-free: the worker threads of `mod.rs` and the host tests call
//! the same methods (`service` lives in `ring.rs`).
//!
//! State machine (§9.1): STOP --gsr=ACTIVE--> ACTIVE when CTL2, MMIO_CXT_L2 and the admin
//! context's tables pass every check, else ERROR (error-log entry, re = function stopped).
//! INIT is skipped. ACTIVE --gsr=STOP_SF/STOP_HD--> STOPG_SF/STOPG_HD while a context is still
//! executing a descriptor, then STOP; contexts that were running get CXT_STS.state = STOP_FN.
//! A hard stop drops the completion of the descriptor in flight. Any state --gsr=RESET--> STOP
//! (the only way out of ERROR); reset writes no memory and forgets every context's state.
//! Register contents survive every transition (software reprograms them).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::errlog::{self, Check, Reaction, Report};
use super::layout::cxt_sts;
use super::options::SdxiOptions;
use super::regs::{off, Gsr, Gsv, Regs, OPB_CAP};
use super::walk::walk;
use crate::engine::{lock, QueueCell, Shared};

/// Run state of one context as the function sees it.
#[derive(Debug, Default)]
pub struct Cxt {
    /// In CXTV_RUN: descriptors are executed.
    pub running: bool,
    /// Stopped by the stuck fault: nothing moves until the context is stopped or reset.
    pub stuck: bool,
    /// A worker is executing one of its descriptors.
    pub busy: bool,
    /// Stalled on a slot below Write_Index whose vl is still 0.
    pub waiting: bool,
    /// Doorbells (and admin starts) received / consumed by the worker.
    pub kicks: u64,
    pub seen: u64,
    /// Last doorbell value (a hint only: Write_Index in memory is authoritative).
    pub last_doorbell: u64,
    /// To be marked STOP_FN when a function stop completes.
    pub stop_fn_pending: bool,
    /// CXT_STS address from the last successful walk.
    pub sts: Option<u64>,
}

/// One SDXI function without its threads.
pub struct Core {
    pub shared: Arc<Shared>,
    pub opts: SdxiOptions,
    regs: Mutex<Regs>,
    pub cxts: Vec<QueueCell<Cxt>>,
    active: AtomicBool,
    epoch: AtomicU64,
}

impl Core {
    pub fn new(shared: Arc<Shared>, opts: SdxiOptions) -> Core {
        let n = usize::from(opts.max_cxt) + 1;
        Core {
            shared,
            opts,
            regs: Mutex::new(Regs::new(opts.max_cxt)),
            cxts: (0..n).map(|_| QueueCell::new(Cxt::default())).collect(),
            active: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
        }
    }

    pub fn regs(&self) -> MutexGuard<'_, Regs> {
        lock(&self.regs)
    }

    /// True while MMIO_STS0.fn_gsv = ACTIVE.
    pub fn active(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }

    /// Bumped by every reset and hard stop: results of work started before are dropped.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    pub fn cxt(&self, id: u16) -> MutexGuard<'_, Cxt> {
        self.cxts[usize::from(id)].lock()
    }

    fn set_gsv(&self, regs: &mut Regs, gsv: Gsv) {
        regs.gsv = gsv;
        self.active.store(gsv == Gsv::Active, Ordering::SeqCst);
    }

    /// Reads `size` (4 or 8) bytes at BAR0 offset `o` (8-byte registers, either half).
    pub fn mmio_read(&self, o: u64, size: u32) -> u64 {
        let v = self.regs().read(o & !7);
        let v = v >> (8 * (o & 7));
        if size >= 8 {
            v
        } else {
            v & ((1u64 << (8 * size)) - 1)
        }
    }

    /// Writes `size` (1, 2, 4 or 8) bytes at BAR0 offset `o`; a write reaching
    /// CTL0.fn_gsr requests a function state change.
    pub fn mmio_write(&self, o: u64, val: u64, size: u32) {
        let shift = 8 * (o & 7);
        let width = if size >= 8 {
            u64::MAX
        } else {
            (1u64 << (8 * size)) - 1
        };
        let (val, mask) = (val << shift, width << shift);
        let mut regs = self.regs();
        regs.write(o & !7, val, mask);
        if o & !7 == off::CTL0 && mask & 3 != 0 {
            let gsr = Gsr::of(regs.ctl0);
            self.request(&mut regs, gsr);
        }
    }

    fn request(&self, regs: &mut Regs, gsr: Gsr) {
        match (gsr, regs.gsv) {
            (Gsr::Reset, _) => {
                self.epoch.fetch_add(1, Ordering::SeqCst);
                for c in &self.cxts {
                    let mut g = c.lock();
                    *g = Cxt {
                        kicks: g.kicks,
                        seen: g.kicks,
                        busy: g.busy,
                        ..Cxt::default()
                    };
                }
                self.set_gsv(regs, Gsv::Stop);
                tracing::info!("SDXI function reset: STOP");
            }
            (Gsr::Active, Gsv::Stop) => self.activate(regs),
            (Gsr::StopSoft | Gsr::StopHard, Gsv::Active) => {
                let hard = gsr == Gsr::StopHard;
                if hard {
                    self.epoch.fetch_add(1, Ordering::SeqCst);
                }
                for c in &self.cxts {
                    let mut g = c.lock();
                    g.stop_fn_pending = g.running;
                    g.running = false;
                    g.stuck = false;
                    g.waiting = false;
                }
                let stopping = if hard {
                    Gsv::StoppingHard
                } else {
                    Gsv::StoppingSoft
                };
                self.set_gsv(regs, stopping);
                self.settle_locked(regs);
            }
            _ => {}
        }
    }

    /// STOP → ACTIVE, or ERROR when the function-level setup fails a check.
    fn activate(&self, regs: &mut Regs) {
        let cap = super::regs::Ctl2::of(regs.cap1);
        let c = regs.ctl2();
        let over = c.max_buffer > cap.max_buffer
            || c.max_akey_sz > cap.max_akey_sz
            || c.max_cxt > cap.max_cxt
            || c.opb_000_avl & !OPB_CAP != 0;
        let admin = if over {
            Err(Check::Ctl2ExceedsCap)
        } else if !self.shared.dma_allowed() {
            Err(Check::NoBusMaster)
        } else {
            walk(&*self.shared.mem, regs, 0)
        };
        match admin {
            Ok(env) => {
                let mut st = [0u8; 1];
                let run =
                    self.shared.mem.read(env.sts(), &mut st).is_ok() && st[0] & 0xf == cxt_sts::RUN;
                {
                    let mut g = self.cxt(0);
                    g.running = run;
                    g.sts = Some(env.sts());
                    g.kicks += 1;
                }
                self.set_gsv(regs, Gsv::Active);
                self.cxts[0].kick();
                tracing::info!("SDXI function ACTIVE (admin context running: {run})");
            }
            Err(check) => {
                self.set_gsv(regs, Gsv::Error);
                let r = Report {
                    check,
                    reaction: Reaction::FunctionStopped,
                    cxt: Some(0),
                    dsc_index: None,
                    err_class: 0,
                };
                errlog::record(regs, &*self.shared.mem, &r);
            }
        }
    }

    /// Finishes a pending function stop once no context is executing a descriptor.
    pub fn settle(&self) {
        let mut regs = self.regs();
        self.settle_locked(&mut regs);
    }

    fn settle_locked(&self, regs: &mut Regs) {
        if !matches!(regs.gsv, Gsv::StoppingSoft | Gsv::StoppingHard) {
            return;
        }
        if self.cxts.iter().any(|c| c.lock().busy) {
            return;
        }
        for c in &self.cxts {
            let mut g = c.lock();
            if std::mem::take(&mut g.stop_fn_pending) {
                if let Some(sts) = g.sts {
                    let _ = self.shared.mem.write(sts, &[cxt_sts::STOP_FN]);
                }
            }
        }
        self.set_gsv(regs, Gsv::Stop);
        tracing::info!("SDXI function stopped");
    }

    /// A doorbell write to context `id` carrying `value` (BAR2 + id × 4 KiB). Counted always;
    /// acted upon only while the function is ACTIVE. A context above CTL2.max_cxt gets an
    /// informative error-log entry.
    pub fn doorbell(&self, id: u16, value: u64) {
        self.shared
            .counters
            .queue(usize::from(id), |c| c.doorbells += 1);
        let mut regs = self.regs();
        if regs.gsv != Gsv::Active {
            return;
        }
        if id > regs.ctl2().max_cxt {
            let r = Report {
                check: Check::CxtIdRange,
                reaction: Reaction::Informative,
                cxt: Some(id),
                dsc_index: None,
                err_class: 0,
            };
            errlog::record(&mut regs, &*self.shared.mem, &r);
            return;
        }
        drop(regs);
        let mut g = self.cxt(id);
        g.kicks += 1;
        g.last_doorbell = value;
        drop(g);
        self.cxts[usize::from(id)].kick();
    }

    /// Records an error that stops context `id`: error-log entry, CXT_STS.state = ERR_FN (when
    /// the CXT_STS address is known), and the context stops running.
    pub fn fail_context(&self, id: u16, check: Check, dsc_index: Option<u64>, err_class: u16) {
        let sts = {
            let mut g = self.cxt(id);
            g.running = false;
            g.waiting = false;
            g.sts
        };
        if let Some(sts) = sts {
            let _ = self.shared.mem.write(sts, &[cxt_sts::ERR_FN]);
        }
        self.shared
            .counters
            .queue(usize::from(id), |c| c.errors += 1);
        let r = Report {
            check,
            reaction: Reaction::ContextStopped,
            cxt: Some(id),
            dsc_index,
            err_class,
        };
        errlog::record(&mut self.regs(), &*self.shared.mem, &r);
    }

    /// Moves the function to ERROR (the function-error fault): every context stops.
    pub fn fail_function(&self, id: u16, check: Check, dsc_index: Option<u64>) {
        let mut regs = self.regs();
        for c in &self.cxts {
            let mut g = c.lock();
            g.running = false;
            g.waiting = false;
        }
        self.set_gsv(&mut regs, Gsv::Error);
        let r = Report {
            check,
            reaction: Reaction::FunctionStopped,
            cxt: Some(id),
            dsc_index,
            err_class: 0,
        };
        errlog::record(&mut regs, &*self.shared.mem, &r);
    }

    /// Records an informative error (the context keeps running).
    pub fn inform(&self, id: u16, check: Check, dsc_index: Option<u64>) {
        let r = Report {
            check,
            reaction: Reaction::Informative,
            cxt: Some(id),
            dsc_index,
            err_class: 0,
        };
        errlog::record(&mut self.regs(), &*self.shared.mem, &r);
    }
}
