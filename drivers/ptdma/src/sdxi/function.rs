//! One SDXI function: activation (`sdxi-facts.md` §6.1), the context tables, the admin
//! context (context 0) and its operations (start/stop a client context, §6.2), and the
//! error log (§7). Channels share it behind a lock for admin work and log reading.

use super::context::{read64, write64, ContextMem, CONTEXT_BYTES, CSB_SLOTS};
use super::desc::{self, ContextState, Descriptor, SyncFilter};
use super::error::{BringUpError, ErrorLogEntry, SdxiError};
use super::regs::{self, Cap0, Cap1, FunctionState, StateRequest};
use crate::regs::{CountingRegs, MmioCounters};
use crate::{DmaMemory, PtdmaError, RegisterAccess};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

/// Byte offset of the L2 table in the function's table region.
pub const L2_OFF: usize = 0x0000;
/// Byte offset of the (single) L1 table.
pub const L1_OFF: usize = 0x1000;
/// Byte offset of the error log.
pub const ERRLOG_OFF: usize = 0x2000;
/// Error-log entries (the minimum, 64 × 64 B).
pub const ERRLOG_ENTRIES: u64 = 64;
/// Bytes the table region needs.
pub const TABLE_BYTES: usize = 0x3000;
/// Highest context id with one L1 table.
pub const MAX_CONTEXT_ONE_L1: u16 = 127;

/// How the function waits and what it may use.
#[derive(Clone, Copy, Debug)]
pub struct FunctionConfig {
    /// A clock in nanoseconds for state and admin waits; `None` counts polls instead.
    pub clock: Option<fn() -> u64>,
    /// Limit of one state change or admin operation, in ns (with `clock`).
    pub timeout_ns: u64,
    /// Limit of one state change or admin operation, in polls (without `clock`).
    pub spins: u64,
    /// Size of the doorbell BAR (BAR 2) in bytes: bounds the usable context ids.
    pub doorbell_bar_bytes: u64,
}

impl Default for FunctionConfig {
    fn default() -> Self {
        Self {
            clock: None,
            timeout_ns: 1_000_000_000,
            spins: 1 << 20,
            doorbell_bar_bytes: 0x2000,
        }
    }
}

/// An activated SDXI function.
#[derive(Debug)]
pub struct SdxiFunction<R: RegisterAccess, M: DmaMemory> {
    regs: CountingRegs<R>,
    db: CountingRegs<R>,
    tables: M,
    admin: ContextMem<M>,
    admin_seq: u64,
    /// Descriptors written to the device's rings so far (for the driver/model cross-check).
    descriptors: u64,
    cap0: Cap0,
    cap1: Cap1,
    version: (u8, u8),
    config: FunctionConfig,
    log: Vec<ErrorLogEntry>,
    reactivations: u64,
    generation: Arc<AtomicU64>,
}

fn err(e: BringUpError) -> PtdmaError {
    PtdmaError::Sdxi {
        error: SdxiError::BringUp(e),
        progress: None,
    }
}

/// Polls `done` until it returns `Some`, within the configured limit.
fn wait_for<T>(config: &FunctionConfig, mut done: impl FnMut() -> Option<T>) -> Option<T> {
    let start = config.clock.map(|c| c());
    let mut spins = 0u64;
    loop {
        if let Some(v) = done() {
            return Some(v);
        }
        let over = match (config.clock, start) {
            (Some(c), Some(s)) => c().saturating_sub(s) > config.timeout_ns,
            _ => {
                spins += 1;
                spins > config.spins
            }
        };
        if over {
            return None;
        }
        core::hint::spin_loop();
    }
}

impl<R: RegisterAccess, M: DmaMemory> SdxiFunction<R, M> {
    /// Activates the function as `sdxi-facts.md` §6.1 does: stop it (RESET from ERROR), clear
    /// CTL0's PASID/interrupt fields, read VERSION/CAP0/CAP1, write CTL2 from CAP1, build the
    /// L2 and L1 tables (in `tables`, ≥ [`TABLE_BYTES`], 4 KiB aligned) and the admin
    /// context 0 (in `admin_mem`, ≥ [`CONTEXT_BYTES`], 4 KiB aligned; CXT_STS = RUN set by
    /// software), initialize the error log (§7.1, polled: ERR_CTL.en = 0), request ACTIVE
    /// and wait for it, and jump-start the admin context with a doorbell of 0.
    ///
    /// # Errors
    /// [`PtdmaError::DeviceGone`] when STS0 reads all-ones; [`PtdmaError::Sdxi`] with
    /// [`SdxiError::BringUp`]: `Memory` for bad regions (nothing written), `Version`,
    /// `RingSize`, `StateTimeout`, `ActivationFailed`.
    pub fn activate(
        regs: R,
        db: R,
        tables: M,
        admin_mem: M,
        config: FunctionConfig,
    ) -> Result<Self, PtdmaError> {
        if tables.len_bytes() < TABLE_BYTES || tables.bus_addr().as_u64() & 0xFFF != 0 {
            return Err(err(BringUpError::Memory));
        }
        let admin = ContextMem::new(admin_mem).ok_or(err(BringUpError::Memory))?;
        let regs = CountingRegs::new(regs);
        let mut f = Self {
            regs,
            db: CountingRegs::new(db),
            tables,
            admin,
            admin_seq: 0,
            descriptors: 0,
            cap0: Cap0::decode(0),
            cap1: Cap1::decode(0),
            version: (0, 0),
            config,
            log: Vec::new(),
            reactivations: 0,
            generation: Arc::new(AtomicU64::new(0)),
        };
        // 1. To STOP.
        f.stop()?;
        let ctl0 = f.regs.read64(regs::CTL0);
        if ctl0 & regs::CTL0_CLEAR_AT_INIT != 0 {
            f.regs.write64(regs::CTL0, ctl0 & !regs::CTL0_CLEAR_AT_INIT);
        }
        // 2. Identity and capabilities.
        f.version = regs::version(f.regs.read64(regs::VERSION));
        if f.version.0 != 1 {
            return Err(err(BringUpError::Version {
                major: f.version.0,
                minor: f.version.1,
            }));
        }
        f.cap0 = Cap0::decode(f.regs.read64(regs::CAP0));
        f.cap1 = Cap1::decode(f.regs.read64(regs::CAP1));
        if f.cap0.max_ring_entries < super::context::RING_ENTRIES {
            return Err(err(BringUpError::RingSize));
        }
        f.bring_up()?;
        Ok(f)
    }

    /// Steps 3–10 of §6.1 (from STOP): CTL2, tables, admin context (ring reset, RUN),
    /// error log, ACTIVE, admin jump start.
    fn bring_up(&mut self) -> Result<(), PtdmaError> {
        // 3. CTL2 = CAP1's limits.
        self.regs.write64(regs::CTL2, self.cap1.ctl2());
        // 4. L2 table (zeroed) and its address.
        for off in (0..TABLE_BYTES).step_by(4) {
            self.tables.write32(off, 0);
        }
        self.regs.write64(regs::CXT_L2, self.table_bus(L2_OFF));
        // 5. L2[0] → the L1 table.
        write64(&self.tables, L2_OFF, desc::l2_entry(self.table_bus(L1_OFF)));
        // 6. Admin context 0, then software marks it RUN.
        self.admin.reset_ring();
        self.admin_seq = 0;
        self.register(0, &self.admin);
        self.admin.set_state(ContextState::RUN);
        // 7. Error log (§7.1).
        self.regs.write64(regs::ERR_CFG, 0);
        self.regs.write64(
            regs::ERR_STS,
            regs::ERR_STS_STS | regs::ERR_STS_OVF | regs::ERR_STS_ERR,
        );
        self.regs.write64(regs::ERR_CTL, 0);
        self.regs.write64(regs::ERR_WRT, 0);
        self.regs.write64(regs::ERR_RD, 0);
        self.regs.write64(
            regs::ERR_CFG,
            regs::err_cfg(self.table_bus(ERRLOG_OFF), ERRLOG_ENTRIES),
        );
        // 9. ACTIVE.
        self.request(StateRequest::Active);
        let state = self.wait_state(
            |s| matches!(s, FunctionState::Active | FunctionState::Error),
            FunctionState::Active,
        )?;
        if state != FunctionState::Active {
            return Err(err(BringUpError::ActivationFailed));
        }
        // 10.b Jump start the admin context (doorbell value = its write index, 0).
        self.db.doorbell64(0, 0);
        Ok(())
    }

    /// Recovers a function that left ACTIVE (ERROR after an internal failure, or stopped):
    /// RESET/stop to STOP, then the activation again (§6.5, §6.1). Every client context is
    /// stopped by it: each channel notices its context left RUN and restarts it.
    ///
    /// # Errors
    /// As [`Self::activate`] (`StateTimeout`, `ActivationFailed`, [`PtdmaError::DeviceGone`]).
    pub fn reactivate(&mut self) -> Result<(), PtdmaError> {
        self.stop()?;
        self.log.clear();
        self.reactivations += 1;
        // Every context's L1 entry is gone with the tables: channels restart theirs when
        // they see the generation change.
        self.generation.fetch_add(1, Ordering::Release);
        self.bring_up()
    }

    /// The activation generation (bumped by [`Self::reactivate`]), readable without the
    /// function's lock: a channel whose context was started in an older generation must
    /// restart it.
    pub fn generation(&self) -> Arc<AtomicU64> {
        self.generation.clone()
    }

    /// Times [`Self::reactivate`] ran.
    pub fn reactivations(&self) -> u64 {
        self.reactivations
    }

    fn table_bus(&self, off: usize) -> u64 {
        self.tables.bus_addr().as_u64() + off as u64
    }

    fn request(&self, r: StateRequest) {
        let ctl0 = self.regs.read64(regs::CTL0);
        self.regs
            .write64(regs::CTL0, (ctl0 & !regs::CTL0_GSR_MASK) | r as u64);
    }

    /// STS0.fn_gsv.
    ///
    /// # Errors
    /// [`PtdmaError::DeviceGone`] when STS0 reads all-ones.
    pub fn state(&self) -> Result<FunctionState, PtdmaError> {
        let v = self.regs.read64(regs::STS0);
        if v == u64::MAX {
            return Err(PtdmaError::DeviceGone);
        }
        Ok(FunctionState::from_sts0(v))
    }

    /// Polls STS0 until `settled(state)`; returns that state.
    fn wait_state(
        &self,
        settled: impl Fn(FunctionState) -> bool,
        wanted: FunctionState,
    ) -> Result<FunctionState, PtdmaError> {
        let mut last = FunctionState::Other(7);
        let mut gone = false;
        let r = wait_for(&self.config, || match self.state() {
            Err(_) => {
                gone = true;
                Some(last)
            }
            Ok(s) => {
                last = s;
                settled(s).then_some(s)
            }
        });
        if gone {
            return Err(PtdmaError::DeviceGone);
        }
        r.ok_or(err(BringUpError::StateTimeout { wanted, last }))
    }

    /// Brings the function to STOP: waits out INIT / STOPG_*, then asks for a soft stop
    /// from ACTIVE or a RESET from ERROR (§6.1 step 1, §6.5).
    ///
    /// # Errors
    /// [`PtdmaError::DeviceGone`], or `StateTimeout` when it does not settle in STOP.
    pub fn stop(&self) -> Result<(), PtdmaError> {
        use FunctionState as S;
        let transitional = |s| matches!(s, S::Init | S::StoppingSoft | S::StoppingHard);
        match self.wait_state(|s| !transitional(s), S::Stop)? {
            S::Stop => return Ok(()),
            S::Error => self.request(StateRequest::Reset),
            _ => self.request(StateRequest::StopSoft),
        }
        match self.wait_state(|s| matches!(s, S::Stop | S::Error), S::Stop)? {
            S::Stop => Ok(()),
            last => Err(err(BringUpError::StateTimeout {
                wanted: S::Stop,
                last,
            })),
        }
    }

    /// Writes context `id`'s CXT_CTL and L1 entry (vl last in both) for `cxt`.
    fn register(&self, id: u16, cxt: &ContextMem<M>) {
        cxt.write_control();
        let l1 = desc::l1_entry(
            cxt.bus(super::context::CXT_CTL_OFF),
            cxt.bus(super::context::AKEY_OFF),
            self.cap1.max_buffer,
            self.cap1.opb_000_cap,
        );
        super::context::publish(&self.tables, L1_OFF + 32 * usize::from(id), &l1);
    }

    /// Highest usable client context id: CAP1.max_cxt, one L1 table and the doorbell BAR.
    pub fn max_context(&self) -> u16 {
        let by_bar = (self.config.doorbell_bar_bytes / self.cap0.db_stride).saturating_sub(1);
        self.cap1
            .max_cxt
            .min(MAX_CONTEXT_ONE_L1)
            .min(by_bar.min(u64::from(u16::MAX)) as u16)
    }

    /// Byte offset of context `id`'s doorbell in BAR 2.
    pub fn doorbell_offset(&self, id: u16) -> usize {
        (u64::from(id) * self.cap0.db_stride) as usize
    }

    /// Runs `ds` on the admin ring, the last one carrying a fresh CST_BLK, with one
    /// doorbell, and polls the CST_BLK.
    fn admin_run(&mut self, ds: &[Descriptor]) -> Result<(), SdxiError> {
        let slot = (self.admin_seq % CSB_SLOTS as u64) as usize;
        let csb = self.admin.csb_bus(slot);
        self.admin.arm_csb(slot);
        for (i, d) in ds.iter().enumerate() {
            let mut d = *d;
            if i + 1 == ds.len() {
                d.0[7] = csb;
            }
            self.admin.write_desc(self.admin_seq + i as u64, &d);
        }
        self.admin_seq += ds.len() as u64;
        self.descriptors += ds.len() as u64;
        self.admin.set_write_index(self.admin_seq);
        self.db.doorbell64(0, self.admin_seq);
        match wait_for(&self.config, || self.admin.csb_done(slot)) {
            None => Err(SdxiError::BringUp(BringUpError::AdminTimeout)),
            Some(true) => Err(SdxiError::BringUp(BringUpError::AdminFailed)),
            Some(false) => Ok(()),
        }
    }

    /// Publishes client context `id` (CXT_CTL, AKey 0, L1 entry) and starts it with
    /// DSC_CXT_START on the admin ring (§6.2); checks CXT_STS is RUN afterwards.
    ///
    /// # Errors
    /// `NoSuchContext` (nothing written), `AdminTimeout`, `AdminFailed`, `NotStarted`.
    pub fn start_context(&mut self, id: u16, cxt: &ContextMem<M>) -> Result<(), SdxiError> {
        if id == 0 || id > self.max_context() {
            return Err(SdxiError::BringUp(BringUpError::NoSuchContext(id)));
        }
        self.register(id, cxt);
        self.admin_run(&[Descriptor::cxt_start(id, id, None)])?;
        match cxt.state() {
            ContextState::Run => Ok(()),
            s => Err(SdxiError::BringUp(BringUpError::NotStarted(s))),
        }
    }

    /// Stops client context `id`: DSC_CXT_STOP then DSC_SYNC(STOP) carrying the CST_BLK.
    ///
    /// # Errors
    /// `AdminTimeout`, `AdminFailed`.
    pub fn stop_context(&mut self, id: u16) -> Result<(), SdxiError> {
        self.admin_run(&[
            Descriptor::cxt_stop(id, id, None),
            Descriptor::sync(SyncFilter::Stop, id, id, None),
        ])
    }

    /// Reads new error-log entries into the pending list (§7.2).
    ///
    /// # Errors
    /// [`SdxiError::LogLost`] when ERR_STS.err says the log is unusable.
    pub fn drain_log(&mut self) -> Result<(), SdxiError> {
        let sts = self.regs.read64(regs::ERR_STS);
        if sts == u64::MAX || sts & regs::ERR_STS_STS == 0 {
            return Ok(());
        }
        if sts & regs::ERR_STS_ERR != 0 {
            return Err(SdxiError::LogLost { err_sts: sts });
        }
        let rd = self.regs.read64(regs::ERR_RD);
        self.regs
            .write64(regs::ERR_STS, sts & (regs::ERR_STS_STS | regs::ERR_STS_OVF));
        let wrt = self.regs.read64(regs::ERR_WRT);
        // At most one log's worth: older entries were overwritten.
        for i in rd.max(wrt.saturating_sub(ERRLOG_ENTRIES))..wrt {
            let off = ERRLOG_OFF + ((i % ERRLOG_ENTRIES) as usize) * 64;
            let mut q = [0u64; 8];
            for (k, w) in q.iter_mut().enumerate() {
                *w = read64(&self.tables, off + 8 * k);
            }
            if let Some(e) = ErrorLogEntry::decode(&q) {
                // Entries no channel takes (context 0, cv = 0, a context without a channel)
                // would pile up for as long as the function lives: keep one log's worth, the
                // newest, so a device that keeps logging cannot exhaust kernel memory.
                if self.log.len() >= ERRLOG_ENTRIES as usize {
                    self.log.remove(0);
                }
                self.log.push(e);
            }
        }
        self.regs.write64(regs::ERR_RD, wrt);
        if sts & regs::ERR_STS_OVF != 0 && self.log.is_empty() {
            return Err(SdxiError::LogLost { err_sts: sts });
        }
        Ok(())
    }

    /// Error-log entries read but not yet taken by a channel (at most [`ERRLOG_ENTRIES`]).
    pub fn pending_log(&self) -> usize {
        self.log.len()
    }

    /// Removes the pending entries that name context `id` and returns the first.
    pub fn take_log(&mut self, id: u16) -> Option<ErrorLogEntry> {
        let first = self.log.iter().position(|e| e.context == Some(id))?;
        let e = self.log[first];
        self.log.retain(|e| e.context != Some(id));
        Some(e)
    }

    /// VERSION (major, minor).
    pub fn version(&self) -> (u8, u8) {
        self.version
    }

    /// CAP0 and CAP1 as read at activation.
    pub fn caps(&self) -> (Cap0, Cap1) {
        (self.cap0, self.cap1)
    }

    /// Register traffic of the function itself (bring-up, admin doorbells, log reads).
    pub fn counters(&self) -> MmioCounters {
        let (a, b) = (self.regs.counters(), self.db.counters());
        MmioCounters {
            reads: a.reads + b.reads,
            writes: a.writes + b.writes,
            doorbells: a.doorbells + b.doorbells,
            descriptors: self.descriptors,
        }
    }

    /// Bytes a context region needs (re-exported for callers sizing buffers).
    pub const CONTEXT_BYTES: usize = CONTEXT_BYTES;
}
