//! End to end through the PCI function as QEMU sees it (config space, BAR0 register and BAR2
//! doorbell accesses, worker threads), independent of any driver: identity and BARs, the §6.1
//! bring-up, one client context started by DSC_CXT_START, one copy with a trailing fenced
//! no-op whose CST_BLK is polled, the counters, and a function stop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ptdma_model::device::{Device, DeviceOptions, Kind};
use ptdma_model::engine::Timing;
use ptdma_model::faults::FaultPlan;
use ptdma_model::guestmem::{GuestMemory, VecMemory};
use ptdma_model::sdxi::desc::{
    encode_copy, encode_cxt_start, encode_cxt_stop, encode_nop, encode_sync, CxtRange,
};
use ptdma_model::sdxi::options::{ResumeMode, SdxiOptions};
use ptdma_model::sdxi::regs::off;

const BAR0: u64 = 0xfe00_0000;
const BAR2: u64 = 0xfe10_0000;
const RAM: usize = 8 << 20;

struct Fn {
    dev: Device,
    mem: Arc<VecMemory>,
}

impl Fn {
    fn w64(&self, gpa: u64, v: u64) {
        self.mem.write(gpa, &v.to_le_bytes()).unwrap();
    }
    fn r64(&self, gpa: u64) -> u64 {
        let mut b = [0u8; 8];
        self.mem.read(gpa, &mut b).unwrap();
        u64::from_le_bytes(b)
    }
    fn reg(&self, o: u64) -> u64 {
        self.dev.bar_read(BAR0 + o, 8)
    }
    fn set(&self, o: u64, v: u64) {
        self.dev.bar_write(BAR0 + o, v, 8);
    }
    /// Writes descriptors at Write_Index `w` of a 1024-entry ring, then Write_Index, then the
    /// doorbell of context `id` (one 8-byte store).
    fn submit(&self, id: u64, ring: u64, wi: u64, descs: &[[u8; 64]]) {
        let mut w = self.r64(wi);
        for d in descs {
            let slot = ring + (w % 1024) * 64;
            self.mem.write(slot + 8, &d[8..]).unwrap();
            self.mem.write(slot, &d[..8]).unwrap();
            w += 1;
        }
        self.w64(wi, w);
        self.dev.bar_write(BAR2 + id * 4096, w, 8);
    }
    fn wait_zero(&self, gpa: u64) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if self.r64(gpa) == 0 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }
}

fn function() -> Fn {
    function_with(SdxiOptions::default())
}

fn function_with(sdxi: SdxiOptions) -> Fn {
    function_timed(sdxi, Timing::default())
}

fn function_timed(sdxi: SdxiOptions, timing: Timing) -> Fn {
    let mem = Arc::new(VecMemory::new(0, RAM));
    let opts = DeviceOptions {
        kind: Kind::Sdxi,
        timing,
        faults: FaultPlan::new(vec![]),
        function: 0,
        sdxi,
    };
    let mut dev = Device::new(&opts, mem.clone());
    dev.cfg_write(0x10, BAR0 as u32, 4);
    dev.cfg_write(0x18, BAR2 as u32, 4);
    dev.cfg_write(0x04, 0x0006, 2);
    Fn { dev, mem }
}

#[test]
fn identity_bars_and_capabilities() {
    let mut f = function();
    assert_eq!(
        f.dev.cfg_read(0x00, 4),
        0x10f5_1b36,
        "our own ID, never AMD's"
    );
    assert_eq!(f.dev.cfg_read(0x08, 4) >> 8, 0x12_01_00, "class 0x120100");
    assert_eq!(f.dev.cfg_read(0x3d, 1), 0, "no INTx pin");
    for (bar, size) in [(0x10u32, 256u32 << 10), (0x18, 32 << 10)] {
        f.dev.cfg_write(bar, u32::MAX, 4);
        assert_eq!(f.dev.cfg_read(bar, 4), !(size - 1), "BAR at {bar:#x}");
    }
    for bar in [0x14u32, 0x1c, 0x20, 0x24] {
        f.dev.cfg_write(bar, u32::MAX, 4);
        assert_eq!(f.dev.cfg_read(bar, 4), 0, "unused BAR at {bar:#x}");
    }
    // Capability list: PM → PCIe → MSI, no MSI-X.
    let mut ids = Vec::new();
    let mut p = f.dev.cfg_read(0x34, 1);
    while p != 0 && ids.len() < 8 {
        ids.push(f.dev.cfg_read(p, 1));
        p = f.dev.cfg_read(p + 1, 1);
    }
    assert_eq!(ids, vec![0x01, 0x10, 0x05]);
}

const fn ctl(id: u64) -> u64 {
    0x5000 + id * 64
}
const fn sts(id: u64) -> u64 {
    0x6000 + id * 16
}
const fn wi(id: u64) -> u64 {
    0x7000 + id * 8
}
const fn ring(id: u64) -> u64 {
    0x10_0000 + id * 0x1_0000
}

/// §6.1 bring-up and §6.2 start of client context 1, all through the BARs.
fn ready(sdxi: SdxiOptions) -> Fn {
    ready_timed(sdxi, Timing::default())
}

fn ready_timed(sdxi: SdxiOptions, timing: Timing) -> Fn {
    let f = function_timed(sdxi, timing);
    // §6.1: registers.
    assert_eq!(f.reg(off::VERSION), 0x1_0000);
    assert_eq!(f.reg(off::STS0) & 7, 0, "STOP after reset");
    let cap1 = f.reg(off::CAP1);
    assert_eq!((cap1 >> 16) & 0xffff, 7, "max_cxt");
    f.set(off::CTL2, cap1 & 0xffff_ffff_ffff_f00f);
    let (l2, l1, akeys, errlog) = (0x1000u64, 0x2000u64, 0x3000u64, 0x4000u64);
    f.set(off::CXT_L2, l2);
    f.w64(l2, l1 | 1);
    f.mem.write(akeys, &[1, 0]).unwrap();
    for id in 0..2u64 {
        f.w64(ctl(id) + 8, 1024);
        f.w64(ctl(id) + 16, sts(id));
        f.w64(ctl(id) + 24, wi(id));
        f.w64(ctl(id), ring(id) | 0b11_0001);
        let e = l1 + id * 32;
        f.w64(e + 8, akeys);
        f.w64(e + 16, (cap1 & 0xffff_ffff_0000_0000) | (11 << 20));
        f.w64(e, ctl(id) | 0b11);
    }
    f.mem.write(sts(0), &[1]).unwrap(); // admin CXT_STS.state = RUN
    f.set(off::ERR_CFG, 0);
    f.set(off::ERR_STS, 0xb);
    f.set(off::ERR_WRT, 0);
    f.set(off::ERR_RD, 0);
    f.set(off::ERR_CFG, errlog | 2 | 1);
    f.set(off::CTL0, 3);
    assert_eq!(f.reg(off::STS0) & 7, 2, "ACTIVE");
    // Jump start of the admin context, then §6.2: start context 1.
    f.dev.bar_write(BAR2, 0, 8);
    let start_csb = 0x8000u64;
    f.w64(start_csb, 1);
    let start = encode_cxt_start(CxtRange { start: 1, end: 1 }, None, Some(start_csb));
    f.submit(0, ring(0), wi(0), &[start]);
    assert!(f.wait_zero(start_csb), "CXT_START completed");
    let mut b = [0u8; 1];
    f.mem.read(sts(1), &mut b).unwrap();
    assert_eq!(b[0], 1, "context 1 CXTV_RUN");
    f
}

#[test]
fn bring_up_one_copy_and_completion_through_the_bars() {
    let f = ready(SdxiOptions::default());
    let mut b = [0u8; 1];
    // §9.1 batch recipe: one copy, then a fenced no-op with the CST_BLK.
    let (src, dst, csb) = (0x40_0000u64, 0x60_0000u64, 0x8020u64);
    let data: Vec<u8> = (0..8192u32).map(|i| (i * 7) as u8).collect();
    f.mem.write(src, &data).unwrap();
    f.w64(csb, 1);
    let batch = [
        encode_copy(src, dst, data.len() as u64, (0, 0), None),
        encode_nop(true, Some(csb)),
    ];
    f.submit(1, ring(1), wi(1), &batch);
    assert!(f.wait_zero(csb), "copy batch completed");
    assert_eq!(f.r64(csb + 8) & (1 << 31), 0, "no er");
    let mut out = vec![0u8; data.len()];
    f.mem.read(dst, &mut out).unwrap();
    assert_eq!(out, data);
    assert_eq!(f.r64(sts(1) + 8), 2, "read_index caught up");
    assert_eq!(f.reg(off::ERR_WRT), 0, "no errors logged");
    let c = f.dev.counters().to_json();
    let q1 = c["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == 1)
        .cloned()
        .unwrap();
    assert_eq!(
        (q1["doorbells"].as_u64(), q1["descriptors"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(q1["mmio_writes"]["DOORBELL"], 1);
    assert_eq!(c["kind"], "sdxi");
    assert_eq!(c["global"]["mmio_writes"]["CTL0"], 1);
    // Soft stop: STOP, context marked stopped by the function.
    f.set(off::CTL0, 1);
    let t0 = Instant::now();
    while f.reg(off::STS0) & 7 != 0 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(f.reg(off::STS0) & 7, 0);
    f.mem.read(sts(1), &mut b).unwrap();
    assert_eq!(b[0], 4, "CXTV_STOP_FN");
    assert!(f.dev.healthy());
}

#[test]
fn four_byte_register_halves_and_device_reset() {
    let mut f = function();
    f.dev.bar_write(BAR0 + off::CTL2 + 4, 0x6, 4);
    assert_eq!(f.reg(off::CTL2), 0x6 << 32);
    assert_eq!(f.dev.bar_read(BAR0 + off::CAP1 + 4, 4), 0x6);
    f.dev.reset();
    f.dev.cfg_write(0x10, BAR0 as u32, 4);
    f.dev.cfg_write(0x04, 0x0006, 2);
    assert_eq!(f.reg(off::CTL2), 0, "registers back to power-on");
}

/// A batch whose copy is published (Write_Index covers it) before its vl is set: the context
/// waits without error and completes once vl is set.
fn late_vl(f: &Fn) -> (u64, [u8; 64]) {
    let (src, dst, csb) = (0x40_0000u64, 0x60_0000u64, 0x8040u64);
    f.mem.write(src, &[0x5a; 256]).unwrap();
    f.w64(csb, 1);
    let copy = encode_copy(src, dst, 256, (0, 0), Some(csb));
    let mut hidden = copy;
    hidden[0] &= !1;
    f.submit(1, ring(1), wi(1), &[hidden]);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(f.r64(csb), 1, "waiting, not executed");
    assert_eq!(f.reg(off::ERR_WRT), 0, "waiting is not an error");
    f.mem.write(ring(1), &copy[..8]).unwrap(); // vl set, no doorbell
    (csb, copy)
}

#[test]
fn vl_wait_resumes_by_polling_by_default() {
    let f = ready(SdxiOptions::default());
    let (csb, _) = late_vl(&f);
    assert!(f.wait_zero(csb), "poll picked up the late vl");
    let mut out = [0u8; 256];
    f.mem.read(0x60_0000, &mut out).unwrap();
    assert_eq!(out, [0x5a; 256]);
}

#[test]
fn vl_wait_resumes_only_on_a_doorbell_when_selected() {
    let f = ready(SdxiOptions {
        resume: ResumeMode::Doorbell,
        ..SdxiOptions::default()
    });
    let (csb, _) = late_vl(&f);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(f.r64(csb), 1, "no doorbell, no progress");
    f.dev.bar_write(BAR2 + 4096, 1, 8);
    assert!(f.wait_zero(csb), "the doorbell restarted it");
}

#[test]
fn context_stop_waits_for_the_copy_in_flight_and_nothing_runs_after_it() {
    // 100 ms per descriptor, so the stop lands while the first copy is executing.
    let timing = Timing {
        desc_ns: 100_000_000,
        ..Timing::default()
    };
    let f = ready_timed(SdxiOptions::default(), timing);
    let copies: Vec<_> = (0..3u64)
        .map(|i| {
            encode_copy(
                0x40_0000 + i * 4096,
                0x60_0000 + i * 4096,
                4096,
                (0, 0),
                None,
            )
        })
        .collect();
    f.submit(1, ring(1), wi(1), &copies);
    std::thread::sleep(Duration::from_millis(30));
    let csb = 0x8060u64;
    f.w64(csb, 1);
    let one = CxtRange { start: 1, end: 1 };
    let t0 = Instant::now();
    f.submit(
        0,
        ring(0),
        wi(0),
        &[
            encode_cxt_stop(one, false, None),
            encode_sync(1, one, Some(csb)),
        ],
    );
    assert!(f.wait_zero(csb), "stop + sync completed");
    assert!(
        t0.elapsed() >= Duration::from_millis(40),
        "waited for the copy in flight"
    );
    let mut b = [0u8; 1];
    f.mem.read(sts(1), &mut b).unwrap();
    assert_eq!(b[0], 0, "CXTV_STOP_SW");
    assert_eq!(f.r64(sts(1) + 8), 1, "only the copy in flight completed");
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(f.r64(sts(1) + 8), 1, "nothing ran after the stop");
}

#[test]
fn hard_stop_passes_through_stopping_and_drops_the_completion_in_flight() {
    let timing = Timing {
        desc_ns: 100_000_000,
        ..Timing::default()
    };
    let f = ready_timed(SdxiOptions::default(), timing);
    let csb = 0x8080u64;
    f.w64(csb, 1);
    let copy = encode_copy(0x40_0000, 0x60_0000, 4096, (0, 0), Some(csb));
    f.submit(1, ring(1), wi(1), &[copy]);
    std::thread::sleep(Duration::from_millis(30));
    f.set(off::CTL0, 2); // STOP_HD
    assert_eq!(
        f.reg(off::STS0) & 7,
        4,
        "STOPG_HD while the copy is in flight"
    );
    let t0 = Instant::now();
    while f.reg(off::STS0) & 7 != 0 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(f.reg(off::STS0) & 7, 0, "STOP once the copy ended");
    assert_eq!(f.r64(csb), 1, "no completion written after a hard stop");
    assert_eq!(f.r64(sts(1) + 8), 0, "read_index not advanced");
    let mut b = [0u8; 1];
    f.mem.read(sts(1), &mut b).unwrap();
    assert_eq!(b[0], 4, "CXTV_STOP_FN");
}

#[test]
fn bandwidth_cap_paces_a_copy() {
    let timing = Timing {
        bytes_per_sec: Some(0.1e9),
        ..Timing::default()
    };
    let f = ready_timed(SdxiOptions::default(), timing);
    let csb = 0x80a0u64;
    f.w64(csb, 1);
    let t0 = Instant::now();
    let copy = encode_copy(0x40_0000, 0x60_0000, 1 << 20, (0, 0), Some(csb));
    f.submit(1, ring(1), wi(1), &[copy]);
    assert!(f.wait_zero(csb));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(10),
        "1 MiB at 0.1 GB/s: {took:?}"
    );
}
