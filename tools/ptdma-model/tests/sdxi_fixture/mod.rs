//! Host-side SDXI fixture: a `Core` without worker threads over a `VecMemory`, brought up the
//! way sdxi-facts §6.1/§6.2 describe, so tests drive the model exactly through its register and
//! memory interface and run each context's ring synchronously with `Core::service`.
#![allow(dead_code)]

use std::sync::Arc;

use ptdma_model::counters::Counters;
use ptdma_model::engine::{Shared, Timing};
use ptdma_model::faults::{Fault, FaultPlan};
use ptdma_model::guestmem::{GuestMemory, VecMemory};
use ptdma_model::sdxi::core::Core;
use ptdma_model::sdxi::desc::{encode_copy, encode_cxt_start, encode_nop, CxtRange};
use ptdma_model::sdxi::errlog::Check;
use ptdma_model::sdxi::layout::{set_bits, ErrLogEntry};
use ptdma_model::sdxi::options::SdxiOptions;
use ptdma_model::sdxi::regs::{off, Gsv};
use ptdma_model::sdxi::ring::Outcome;

pub const RAM: usize = 16 << 20;
pub const L2: u64 = 0x1000;
pub const L1: u64 = 0x2000;
pub const AKEYS: u64 = 0x6000;
pub const ERRLOG: u64 = 0x8000;
pub const CSB: u64 = 0x9000;
pub const DATA: u64 = 0x80_0000;
pub const RING_ENTRIES: u32 = 1024;

pub fn cxt_ctl(id: u16) -> u64 {
    0x3000 + u64::from(id) * 64
}
pub fn cxt_sts(id: u16) -> u64 {
    0x4000 + u64::from(id) * 16
}
pub fn write_index(id: u16) -> u64 {
    0x5000 + u64::from(id) * 8
}
pub fn ring(id: u16) -> u64 {
    0x10_0000 + u64::from(id) * 0x1_0000
}
/// CST_BLK number `n` (32 bytes each).
pub fn csb(n: u64) -> u64 {
    CSB + n * 32
}

pub struct Fx {
    pub mem: Arc<VecMemory>,
    pub core: Core,
    pub counters: Arc<Counters>,
}

impl Fx {
    pub fn new(opts: SdxiOptions, faults: Vec<Fault>) -> Fx {
        let mem = Arc::new(VecMemory::new(0, RAM));
        let counters = Arc::new(Counters::new(0, "sdxi", usize::from(opts.max_cxt) + 1));
        let shared = Arc::new(Shared::new(
            mem.clone(),
            Timing::default(),
            FaultPlan::new(faults),
            counters.clone(),
        ));
        shared
            .master
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Fx {
            mem,
            core: Core::new(shared, opts),
            counters,
        }
    }

    pub fn w64(&self, gpa: u64, v: u64) {
        self.mem.write(gpa, &v.to_le_bytes()).unwrap();
    }
    pub fn r64(&self, gpa: u64) -> u64 {
        let mut b = [0u8; 8];
        self.mem.read(gpa, &mut b).unwrap();
        u64::from_le_bytes(b)
    }
    pub fn poke(&self, gpa: u64, b: &[u8]) {
        self.mem.write(gpa, b).unwrap();
    }
    pub fn peek(&self, gpa: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        self.mem.read(gpa, &mut b).unwrap();
        b
    }
    pub fn reg(&self, o: u64) -> u64 {
        self.core.mmio_read(o, 8)
    }
    pub fn set_reg(&self, o: u64, v: u64) {
        self.core.mmio_write(o, v, 8);
    }
    pub fn gsv(&self) -> u64 {
        self.reg(off::STS0) & 7
    }

    /// Context `id`'s structures (ring of `RING_ENTRIES`, CXT_STS zero, Write_Index 0,
    /// CXT_CTL vl=1) and its L1 entry (vl, ka, max_buffer 11, all groups, shared AKey table).
    pub fn build_context(&self, id: u16) {
        self.w64(write_index(id), 0);
        self.poke(cxt_sts(id), &[0; 16]);
        let mut ctl = [0u8; 64];
        ctl[0..8].copy_from_slice(&(ring(id) | 0b11_0001).to_le_bytes());
        ctl[8..12].copy_from_slice(&RING_ENTRIES.to_le_bytes());
        ctl[16..24].copy_from_slice(&cxt_sts(id).to_le_bytes());
        ctl[24..32].copy_from_slice(&write_index(id).to_le_bytes());
        self.poke(cxt_ctl(id), &ctl);
        let mut l1 = [0u8; 32];
        l1[0..8].copy_from_slice(&(cxt_ctl(id) | 0b11).to_le_bytes());
        l1[8..16].copy_from_slice(&AKEYS.to_le_bytes());
        l1[16..20].copy_from_slice(&(11u32 << 20).to_le_bytes());
        l1[20..24].copy_from_slice(&((self.reg(off::CAP1) >> 32) as u32).to_le_bytes());
        self.poke(L1 + u64::from(id) * 32, &l1);
    }

    /// Everything of the §6.1 bring-up except the final fn_gsr = ACTIVE write.
    pub fn prepare(&self) {
        assert_eq!(self.gsv(), Gsv::Stop as u64);
        let cap1 = self.reg(off::CAP1);
        self.set_reg(off::CTL2, cap1 & 0xffff_ffff_ffff_f00f);
        self.set_reg(off::CXT_L2, L2);
        self.w64(L2, L1 | 1);
        // AKey 0: a valid local transfer key.
        self.poke(AKEYS, &1u16.to_le_bytes());
        self.build_context(0);
        self.poke(cxt_sts(0), &[1]); // software sets the admin context RUN (§6.1 4.b)
        self.set_reg(off::ERR_CFG, 0);
        self.set_reg(off::ERR_STS, 0xb);
        self.set_reg(off::ERR_WRT, 0);
        self.set_reg(off::ERR_RD, 0);
        self.set_reg(off::ERR_CFG, ERRLOG | (1 << 1) | 1);
    }

    /// Function bring-up per §6.1, with the error log (§7.1) enabled; the function must end
    /// ACTIVE with the admin context running.
    pub fn bring_up(&self) {
        self.prepare();
        self.set_reg(off::CTL0, 3);
        assert_eq!(self.gsv(), Gsv::Active as u64, "{:?}", self.errlog());
        self.core.doorbell(0, 0);
        assert_eq!(self.core.service(0, true), Outcome::Idle);
    }

    /// Publishes `descs` on context `id`'s ring at its Write_Index, advances it, rings the
    /// doorbell with the new value.
    pub fn submit(&self, id: u16, descs: &[[u8; 64]]) -> u64 {
        let mut w = self.r64(write_index(id));
        for d in descs {
            let slot = ring(id) + (w % u64::from(RING_ENTRIES)) * 64;
            self.poke(slot + 8, &d[8..]);
            self.poke(slot, &d[..8]);
            w += 1;
        }
        self.w64(write_index(id), w);
        self.core.doorbell(id, w);
        w
    }

    pub fn read_index(&self, id: u16) -> u64 {
        self.r64(cxt_sts(id) + 8)
    }
    pub fn state(&self, id: u16) -> u8 {
        self.peek(cxt_sts(id), 1)[0] & 0xf
    }

    /// CST_BLK `n` armed with `signal`, flags 0.
    pub fn arm(&self, n: u64, signal: u64) -> u64 {
        self.poke(csb(n), &[0; 32]);
        self.w64(csb(n), signal);
        csb(n)
    }
    pub fn signal(&self, n: u64) -> u64 {
        self.r64(csb(n))
    }
    pub fn er(&self, n: u64) -> bool {
        self.r64(csb(n) + 8) & (1 << 31) != 0
    }

    /// Builds client context `id` and starts it with DSC_CXT_START on the admin ring; the
    /// start's CST_BLK (number 100 + id) must complete without error.
    pub fn start_client(&self, id: u16) {
        self.build_context(id);
        let c = self.arm(100 + u64::from(id), 1);
        self.submit(
            0,
            &[encode_cxt_start(
                CxtRange { start: id, end: id },
                None,
                Some(c),
            )],
        );
        assert_eq!(
            self.core.service(0, true),
            Outcome::Idle,
            "{:?}",
            self.errlog()
        );
        assert_eq!(self.signal(100 + u64::from(id)), 0);
        assert!(!self.er(100 + u64::from(id)));
        assert_eq!(self.state(id), 1, "CXTV_RUN");
    }

    /// `ready()` plus client context 1 started.
    pub fn ready(opts: SdxiOptions) -> Fx {
        Fx::ready_with(opts, vec![])
    }
    pub fn ready_with(opts: SdxiOptions, faults: Vec<Fault>) -> Fx {
        let fx = Fx::new(opts, faults);
        fx.bring_up();
        fx.start_client(1);
        fx
    }

    /// Error-log entries in [ERR_RD, ERR_WRT).
    pub fn errlog(&self) -> Vec<ErrLogEntry> {
        let (rd, wrt) = (self.reg(off::ERR_RD), self.reg(off::ERR_WRT));
        (rd..wrt)
            .filter_map(|i| {
                let mut e = [0u8; 64];
                self.mem.read(ERRLOG + (i % 64) * 64, &mut e).ok()?;
                ErrLogEntry::decode(&e)
            })
            .collect()
    }
}

/// `len` bytes of a pattern seeded by `seed`.
pub fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Sets bits `lo..=hi` of a copy of `d`.
pub fn with_bits(mut d: [u8; 64], lo: usize, hi: usize, v: u64) -> [u8; 64] {
    set_bits(&mut d, lo, hi, v);
    d
}

// ---- helpers of the §9.2 check tests ----

/// Beyond the 16 MiB of guest RAM.
pub const FAR: u64 = 0x1_0000_0000;

pub fn one(fx: &Fx) -> ErrLogEntry {
    let e = fx.errlog();
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(fx.reg(off::ERR_STS) & 1, 1, "ERR_STS.sts");
    e[0]
}

pub fn expect(e: ErrLogEntry, check: Check, step: u8, sub_step: u8, re: u8, cxt: u16) {
    assert_eq!(e.vendor0, check as u32, "{e:?}");
    assert_eq!((e.step, e.sub_step, e.re), (step, sub_step, re), "{e:?}");
    assert_eq!(e.cxt_num, Some(cxt), "{e:?}");
}

/// Activation after `mutate` must end in ERROR with one function-stopped entry.
pub fn activation_fails(mutate: impl FnOnce(&Fx)) -> ErrLogEntry {
    let fx = Fx::new(SdxiOptions::default(), vec![]);
    fx.prepare();
    mutate(&fx);
    fx.set_reg(off::CTL0, 3);
    assert_eq!(fx.gsv(), Gsv::Error as u64);
    one(&fx)
}

/// Client context 2 built, then `mutate`d, then DSC_CXT_START: the admin descriptor completes
/// with er = 1, the target gets one context-stopped entry, the admin context goes on.
pub fn start_fails(mutate: impl FnOnce(&Fx)) -> ErrLogEntry {
    let fx = Fx::new(SdxiOptions::default(), vec![]);
    fx.bring_up();
    fx.build_context(2);
    mutate(&fx);
    let c = fx.arm(0, 1);
    fx.submit(
        0,
        &[encode_cxt_start(
            CxtRange { start: 2, end: 2 },
            None,
            Some(c),
        )],
    );
    assert_eq!(fx.core.service(0, true), Outcome::Idle);
    assert_eq!((fx.signal(0), fx.er(0)), (0, true));
    assert!(fx.core.cxt(0).running, "admin context still running");
    let e = one(&fx);
    assert_eq!(e.re, 1);
    e
}

/// Context 1 running; `desc` submitted: it must fail, stopping context 1 (CXTV_ERR_FN) with
/// read_index left on it and an entry naming its ring index.
pub fn desc_fails(fx: &Fx, desc: [u8; 64]) -> ErrLogEntry {
    fx.submit(1, &[encode_nop(false, None), desc, encode_nop(false, None)]);
    assert_eq!(fx.core.service(1, true), Outcome::Error);
    assert_eq!(fx.state(1), 0xf, "CXTV_ERR_FN");
    assert_eq!(fx.read_index(1), 1);
    let e = one(fx);
    assert_eq!(e.dsc_index, Some(1));
    e
}

pub fn ready() -> Fx {
    Fx::ready(SdxiOptions::default())
}

pub fn copy(src: u64, dst: u64, len: u64) -> [u8; 64] {
    encode_copy(src, dst, len, (0, 0), None)
}

pub fn good_copy() -> [u8; 64] {
    copy(DATA, DATA + 0x10_0000, 256)
}
