//! PTDMA queue engine through the socket: copies, ring wrap, batching, every error path,
//! fault injection, W1C status, and timing that never blocks BAR accesses.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ptdma_model::desc::encode_ptdma;
use ptdma_model::device::Kind;
use ptdma_model::engine::Timing;
use ptdma_model::faults::Fault;

const CONTROL: u64 = Q;
const HEAD: u64 = Q + 0x8;
const INT_STATUS: u64 = Q + 0x10;
const STATUS: u64 = Q + 0x100;

fn raw_with(mut d: [u8; 32], dw: usize, v: u32) -> [u8; 32] {
    d[4 * dw..4 * dw + 4].copy_from_slice(&v.to_le_bytes());
    d
}

fn fault(s: &str) -> Fault {
    s.parse().unwrap()
}

#[test]
fn single_copy_sets_completion_and_empty() {
    let h = Harness::ready(Kind::Ptdma, vec![]);
    let src = pattern(3, 4096);
    h.poke(0x10_0000, &src);
    let mut ring = PtRing::init(&h, 0x4000, 5);
    assert_eq!(h.r32(CONTROL) & 0x3, 0x1, "RUN set, not HALTED");
    ring.submit(&h, &[encode_ptdma(0x10_0000, 0x30_0000, 4096, true, false)]);
    assert!(ring.drain(&h));
    assert_eq!(h.peek(0x30_0000, 4096), src);
    assert!(
        wait_for(1000, || h.r32(INT_STATUS) == 0b1001),
        "COMPLETION|QUEUE_EMPTY"
    );
    assert_eq!(h.r32(STATUS) & 0x3f, 0);
    let c = h.counters.to_json();
    let q = &c["queues"][0];
    assert_eq!(
        (q["doorbells"].as_u64(), q["descriptors"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(q["bytes"], 4096);
    assert_eq!(q["mmio_writes"]["TAIL_LO"], 2, "init + doorbell");
    h.finish().unwrap();
}

#[test]
fn many_descriptors_one_doorbell_and_no_ioc() {
    let h = Harness::ready(Kind::Ptdma, vec![]);
    let mut ring = PtRing::init(&h, 0x8000, 5);
    let mut descs = Vec::new();
    for i in 0..8u64 {
        h.poke(0x10_0000 + i * 0x1000, &pattern(i as u8, 0x1000));
        let last = i == 7;
        descs.push(encode_ptdma(
            0x10_0000 + i * 0x1000,
            0x40_0000 + i * 0x1000,
            0x1000,
            last,
            false,
        ));
    }
    ring.submit(&h, &descs[..7]);
    assert!(ring.drain(&h));
    assert_eq!(h.r32(INT_STATUS) & 1, 0, "no IOC, no COMPLETION");
    ring.submit(&h, &descs[7..]);
    assert!(ring.drain(&h));
    assert!(wait_for(1000, || h.r32(INT_STATUS) & 1 == 1));
    for i in 0..8u64 {
        assert_eq!(
            h.peek(0x40_0000 + i * 0x1000, 0x1000),
            pattern(i as u8, 0x1000)
        );
    }
    let c = h.counters.to_json();
    assert_eq!(c["queues"][0]["doorbells"], 2);
    assert_eq!(c["queues"][0]["descriptors"], 8);
    h.finish().unwrap();
}

#[test]
fn ring_wraps() {
    let h = Harness::ready(Kind::Ptdma, vec![]);
    // 4-entry ring (QUEUE_SIZE field 1) at a 128-byte aligned address.
    let mut ring = PtRing::init(&h, 0x6080, 2);
    assert_eq!(h.r32(CONTROL) >> 3 & 0x1f, 1);
    for round in 0..5u32 {
        let descs: Vec<_> = (0..3u64)
            .map(|i| {
                let n = u64::from(round) * 3 + i;
                h.poke(0x10_0000 + n * 64, &pattern(n as u8, 64));
                encode_ptdma(0x10_0000 + n * 64, 0x50_0000 + n * 64, 64, true, false)
            })
            .collect();
        ring.submit(&h, &descs);
        assert!(ring.drain(&h), "round {round}");
        let head = h.r32(HEAD);
        assert!(
            (0x6080..0x6100).contains(&head),
            "HEAD {head:#x} stays inside the ring"
        );
    }
    for n in 0..15u64 {
        assert_eq!(
            h.peek(0x50_0000 + n * 64, 64),
            pattern(n as u8, 64),
            "copy {n}"
        );
    }
    h.finish().unwrap();
}

/// Submits `bad` after one good descriptor and checks the hardware-like error stop.
fn expect_error(bad: [u8; 32], code: u32, source: u32) {
    let h = Harness::ready(Kind::Ptdma, vec![]);
    h.w32(Q + 0xc, 0x3);
    let mut ring = PtRing::init(&h, 0x2000, 5);
    let good = encode_ptdma(0x10_0000, 0x20_0000, 128, true, false);
    let after = encode_ptdma(0x10_0000, 0x21_0000, 128, true, false);
    h.poke(0x10_0000, &pattern(5, 128));
    ring.submit(&h, &[good, bad, after]);
    assert!(
        wait_for(2000, || h.r32(INT_STATUS) & 0x2 != 0),
        "ERROR status"
    );
    assert_eq!(h.r32(HEAD), 0x2020, "HEAD points at the failing descriptor");
    let st = h.r32(STATUS);
    assert_eq!(st & 0x3f, code, "error code");
    assert_eq!(st >> 10 & 3, source, "error source");
    assert_eq!(h.r32(CONTROL) & 0x3, 0x2, "RUN cleared, HALTED");
    assert_eq!(h.r32(INT_STATUS) & 0x4, 0x4, "QUEUE_STOPPED");
    assert_eq!(
        h.peek(0x21_0000, 128),
        vec![0; 128],
        "nothing after the failure ran"
    );
    assert_eq!(
        h.peek(0x20_0000, 128),
        pattern(5, 128),
        "the one before did"
    );
    // Linux 6.12 rewrites CONTROL | RUN with every command: that must neither erase the
    // code nor re-run the failed descriptor while the error is unacknowledged.
    h.w32(CONTROL, h.r32(CONTROL) | 1);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(h.r32(STATUS) & 0x3f, code, "RUN keeps the code in STATUS");
    assert_eq!(h.r32(HEAD), 0x2020, "HEAD still at the failing descriptor");
    assert_eq!(
        h.r32(CONTROL) & 0x3,
        0x2,
        "RUN did not stick while ERROR is pending"
    );
    assert_eq!(h.counters.to_json()["queues"][0]["errors"], 1, "not re-run");
    // Then as pt_check_status_trans + pt_do_cmd_complete: read INTERRUPT_STATUS and STATUS,
    // write the status back (W1C), skip the failed descriptor by writing HEAD, run.
    let ist = h.r32(INT_STATUS);
    assert_eq!(h.r32(STATUS) & 0x3f, code);
    h.w32(INT_STATUS, ist);
    assert_eq!(
        h.r32(STATUS) & 0x3f,
        0,
        "acknowledging ERROR clears the code"
    );
    h.w32(HEAD, 0x2040);
    h.w32(CONTROL, h.r32(CONTROL) | 1);
    assert!(ring.drain(&h));
    assert_eq!(h.peek(0x21_0000, 128), pattern(5, 128));
    assert_eq!(
        h.counters.to_json()["queues"][0]["errors"],
        1,
        "failed once, never re-run"
    );
    assert_eq!(h.counters.to_json()["queues"][0]["descriptors"], 2);
    h.finish().unwrap();
}

#[test]
fn acknowledged_error_without_moving_head_retries_the_descriptor() {
    let h = Harness::ready(Kind::Ptdma, vec![fault("error-at=1")]);
    let mut ring = PtRing::init(&h, 0x2000, 5);
    h.poke(0x10_0000, &pattern(9, 64));
    ring.submit(&h, &[encode_ptdma(0x10_0000, 0x20_0000, 64, true, false)]);
    assert!(wait_for(2000, || h.r32(INT_STATUS) & 2 != 0));
    h.w32(INT_STATUS, 0xf);
    h.w32(CONTROL, h.r32(CONTROL) | 1);
    assert!(
        ring.drain(&h),
        "the driver chose to retry: HEAD was left on it"
    );
    assert_eq!(h.peek(0x20_0000, 64), pattern(9, 64));
    let q = &h.counters.to_json()["queues"][0];
    assert_eq!(
        (q["errors"].as_u64(), q["descriptors"].as_u64()),
        (Some(1), Some(1))
    );
    h.finish().unwrap();
}

#[test]
fn error_bad_source_address() {
    expect_error(
        encode_ptdma(0x7000_0000, 0x20_0000, 64, true, false),
        0x14,
        0,
    );
}

#[test]
fn error_bad_destination_address() {
    expect_error(
        encode_ptdma(0x10_0000, 0x1_0000_0000, 64, true, false),
        0x27,
        0,
    );
}

#[test]
fn error_range_running_off_the_end_of_ram() {
    expect_error(
        encode_ptdma(2 * NODE_SIZE - 32, 0x20_0000, 64, true, false),
        0x14,
        0,
    );
}

#[test]
fn error_bad_engine() {
    let d = raw_with(
        encode_ptdma(0x10_0000, 0x20_0000, 64, true, false),
        0,
        0x0030_0012,
    );
    expect_error(d, 0x01, 1);
}

#[test]
fn error_reserved_function_bits() {
    let d = raw_with(
        encode_ptdma(0x10_0000, 0x20_0000, 64, true, false),
        0,
        0x0058_0012,
    );
    expect_error(d, 0x08, 1);
}

#[test]
fn error_length_zero_and_too_large() {
    expect_error(encode_ptdma(0x10_0000, 0x20_0000, 0, true, false), 0x09, 1);
    expect_error(
        encode_ptdma(0x10_0000, 0x20_0000, u32::MAX, true, false),
        0x09,
        1,
    );
}

#[test]
fn error_bad_memory_type() {
    let d = encode_ptdma(0x10_0000, 0x20_0000, 64, true, false);
    let dw3 = u32::from_le_bytes(d[12..16].try_into().unwrap());
    expect_error(raw_with(d, 3, dw3 | (1 << 16)), 0x0c, 1);
}

#[test]
fn error_ring_outside_ram() {
    let h = Harness::ready(Kind::Ptdma, vec![]);
    let mut ring = PtRing::init(&h, 0x4000_0000, 5);
    ring.submit(&h, &[encode_ptdma(0x10_0000, 0x20_0000, 64, true, false)]);
    assert!(wait_for(2000, || h.r32(INT_STATUS) & 0x2 != 0));
    assert_eq!(h.r32(STATUS) & 0x3f, 0x14);
    assert_eq!(h.r32(STATUS) >> 10 & 3, 1, "source: command descriptor");
    assert_eq!(h.r32(HEAD), 0x4000_0000);
    h.finish().unwrap();
}

#[test]
fn soc_halts_after_that_descriptor() {
    let h = Harness::ready(Kind::Ptdma, vec![]);
    let mut ring = PtRing::init(&h, 0x2000, 5);
    let d1 = encode_ptdma(0x10_0000, 0x20_0000, 64, false, true);
    let d2 = encode_ptdma(0x10_0000, 0x21_0000, 64, true, false);
    h.poke(0x10_0000, &pattern(1, 64));
    ring.submit(&h, &[d1, d2]);
    assert!(wait_for(2000, || h.r32(CONTROL) & 2 != 0));
    assert_eq!(h.r32(HEAD), 0x2020, "HEAD past the SOC descriptor");
    assert_eq!(h.r32(INT_STATUS) & 0x4, 0x4);
    assert_eq!(h.peek(0x21_0000, 64), vec![0; 64]);
    h.w32(CONTROL, h.r32(CONTROL) | 1);
    assert!(ring.drain(&h));
    assert_eq!(h.peek(0x21_0000, 64), pattern(1, 64));
    h.finish().unwrap();
}

#[test]
fn interrupt_status_is_write_1_to_clear() {
    let h = Harness::ready(Kind::Ptdma, vec![]);
    let mut ring = PtRing::init(&h, 0x2000, 5);
    ring.submit(&h, &[encode_ptdma(0x10_0000, 0x20_0000, 64, true, false)]);
    assert!(wait_for(2000, || h.r32(INT_STATUS) == 0b1001));
    h.w32(INT_STATUS, 0);
    assert_eq!(h.r32(INT_STATUS), 0b1001, "writing 0 changes nothing");
    h.w32(INT_STATUS, 0b1000);
    assert_eq!(h.r32(INT_STATUS), 0b0001, "only the written 1s clear");
    h.write(INT_STATUS, 0x1, 1);
    assert_eq!(h.r32(INT_STATUS), 0);
    h.w32(Q + 0xc, 0xffff_ffff);
    assert_eq!(h.r32(Q + 0xc), 0xf, "INT_ENABLE keeps the 4 defined bits");
    h.finish().unwrap();
}

#[test]
fn fault_error_at_n_counts_globally() {
    let h = Harness::ready(Kind::Ptdma, vec![fault("error-at=3:0x27")]);
    let mut ring = PtRing::init(&h, 0x2000, 5);
    let d: Vec<_> = (0..4u64)
        .map(|i| encode_ptdma(0x10_0000, 0x20_0000 + i * 64, 64, true, false))
        .collect();
    ring.submit(&h, &d[..1]);
    assert!(ring.drain(&h));
    ring.submit(&h, &d[1..]);
    assert!(wait_for(2000, || h.r32(INT_STATUS) & 2 != 0));
    assert_eq!(h.r32(STATUS) & 0x3f, 0x27);
    assert_eq!(h.r32(HEAD), 0x2040, "stopped at descriptor #3");
    h.finish().unwrap();
}

#[test]
fn fault_stuck_never_moves_and_bar_stays_responsive() {
    let h = Harness::ready(Kind::Ptdma, vec![fault("stuck-at=2")]);
    let mut ring = PtRing::init(&h, 0x2000, 5);
    let d: Vec<_> = (0..3u64)
        .map(|i| encode_ptdma(0x10_0000, 0x20_0000 + i * 64, 64, true, false))
        .collect();
    h.poke(0x10_0000, &pattern(2, 64));
    ring.submit(&h, &d);
    assert!(wait_for(2000, || h.r32(HEAD) == 0x2020));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(h.r32(HEAD), 0x2020, "HEAD never moves past #2");
    assert_eq!(h.r32(INT_STATUS) & 0x6, 0, "no error, no stop reported");
    h.w32(CONTROL, h.r32(CONTROL) | 1);
    h.w32(Q + 4, 0x2060);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(h.r32(HEAD), 0x2020, "still stuck after RUN and doorbell");
    assert_eq!(h.peek(0x20_0040, 64), vec![0; 64]);
    assert_eq!(h.r32(STATUS) >> 7 & 7, 2, "job status: active (wedged)");
    // Driver abort (Linux pt_do_cmd_complete style): stop, HEAD_LO <- TAIL, restart.
    h.w32(CONTROL, h.r32(CONTROL) & !1);
    h.w32(HEAD, 0x2060);
    h.w32(CONTROL, h.r32(CONTROL) | 1);
    ring.submit(&h, &[encode_ptdma(0x10_0000, 0x20_0100, 64, true, false)]);
    assert!(ring.drain(&h), "queue usable again after the abort");
    assert_eq!(h.peek(0x20_0100, 64), pattern(2, 64));
    assert_eq!(
        h.peek(0x20_0040, 64),
        vec![0; 64],
        "the wedged descriptor never completed"
    );
    h.finish().unwrap();
}

#[test]
fn fault_halt_clears_run_and_can_resume() {
    let h = Harness::ready(Kind::Ptdma, vec![fault("halt-at=2")]);
    let mut ring = PtRing::init(&h, 0x2000, 5);
    let d: Vec<_> = (0..3u64)
        .map(|i| encode_ptdma(0x10_0000, 0x20_0000 + i * 64, 64, true, false))
        .collect();
    h.poke(0x10_0000, &pattern(2, 64));
    ring.submit(&h, &d);
    assert!(wait_for(2000, || h.r32(CONTROL) & 2 != 0), "HALTED");
    assert_eq!(h.r32(CONTROL) & 1, 0, "RUN cleared");
    assert_eq!(h.r32(HEAD), 0x2020, "halted at descriptor #2");
    assert_eq!(h.r32(INT_STATUS) & 0x4, 0x4, "QUEUE_STOPPED");
    h.w32(CONTROL, h.r32(CONTROL) | 1);
    assert!(ring.drain(&h));
    assert_eq!(h.peek(0x20_0080, 64), pattern(2, 64));
    h.finish().unwrap();
}

#[test]
fn fault_corrupt_reports_success_with_wrong_bytes() {
    let h = Harness::ready(Kind::Ptdma, vec![fault("corrupt-at=1")]);
    let mut ring = PtRing::init(&h, 0x2000, 5);
    let src = pattern(4, 256);
    h.poke(0x10_0000, &src);
    ring.submit(&h, &[encode_ptdma(0x10_0000, 0x20_0000, 256, true, false)]);
    assert!(ring.drain(&h));
    assert!(
        wait_for(1000, || h.r32(INT_STATUS) & 0x3 == 0x1),
        "COMPLETION, no ERROR"
    );
    let got = h.peek(0x20_0000, 256);
    assert!(
        got.iter().zip(&src).all(|(a, b)| *a != *b),
        "every byte wrong"
    );
    h.finish().unwrap();
}

#[test]
fn fault_vanish_reads_all_ones() {
    let h = Harness::ready(Kind::Ptdma, vec![fault("vanish-at=1")]);
    let mut ring = PtRing::init(&h, 0x2000, 5);
    ring.submit(&h, &[encode_ptdma(0x10_0000, 0x20_0000, 64, true, false)]);
    assert!(wait_for(2000, || h.r32(HEAD) == 0xffff_ffff));
    assert_eq!(h.read(BAR + 0x10, 4), 0xffff_ffff);
    assert_eq!(h.read(BAR, 8), u64::MAX);
    assert_eq!(h.read(BAR, 2), 0xffff);
    assert_eq!(h.cfg_read(0, 4), 0xffff_ffff, "config space gone too");
    h.reset();
    assert_eq!(h.cfg_read(0, 2), 0xffff, "a reset does not bring it back");
    assert_eq!(h.counters.to_json()["vanished"], true);
    h.finish().unwrap();
}

#[test]
fn bandwidth_cap_paces_copies_without_blocking_mmio() {
    // 3 x ~2.7 MiB at 1 GB/s should take >= 8.4 ms; plus 3 descriptors x 3 ms latency.
    const LEN: u32 = (0x10_0000 * 8 / 3) & !0xfff;
    let timing = Timing {
        bytes_per_sec: Some(1e9),
        desc_ns: 3_000_000,
        doorbell_ns: 0,
    };
    let h = Harness::start(Kind::Ptdma, timing, vec![]);
    h.sync_ram();
    h.cfg_write(0x18, BAR as u32, 4);
    h.cfg_write(0x04, 6, 2);
    let mut ring = PtRing::init(&h, 0x2000, 5);
    let d: Vec<_> = (0..3u64)
        .map(|i| encode_ptdma(0x10_0000, 0x40_0000 + i * u64::from(LEN), LEN, true, false))
        .collect();
    let bytes = 3 * u64::from(LEN);
    let t0 = Instant::now();
    ring.submit(&h, &d);
    // While the worker is pacing, BAR reads must still be answered quickly.
    let mut slowest = Duration::ZERO;
    let mut reads = 0;
    while h.r32(HEAD) != 0x2060 {
        let t = Instant::now();
        h.r32(Q + 0x100);
        slowest = slowest.max(t.elapsed());
        reads += 1;
        assert!(t0.elapsed() < Duration::from_secs(5));
    }
    let took = t0.elapsed();
    let min = Duration::from_secs_f64(bytes as f64 / 1e9) + Duration::from_millis(9);
    assert!(took >= min, "took {took:?}, model says >= {min:?}");
    assert!(took < min + Duration::from_secs(2), "took {took:?}");
    assert!(reads > 3, "only {reads} reads during the copy");
    // Generous bound for a loaded 2-core CI box; the whole copy takes >= 17 ms.
    assert!(
        slowest < Duration::from_millis(200),
        "a BAR read took {slowest:?}"
    );
    h.finish().unwrap();
}

#[test]
fn doorbell_latency_applies_once_per_doorbell() {
    let timing = Timing {
        bytes_per_sec: None,
        desc_ns: 0,
        doorbell_ns: 50_000_000,
    };
    let h = Harness::start(Kind::Ptdma, timing, vec![]);
    h.sync_ram();
    h.cfg_write(0x18, BAR as u32, 4);
    h.cfg_write(0x04, 6, 2);
    let mut ring = PtRing::init(&h, 0x2000, 5);
    let d: Vec<_> = (0..4u64)
        .map(|i| encode_ptdma(0x10_0000, 0x20_0000 + i * 64, 64, true, false))
        .collect();
    let t0 = Instant::now();
    ring.submit(&h, &d);
    assert!(ring.drain(&h));
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(50), "{took:?}");
    assert!(
        took < Duration::from_millis(150),
        "latency charged per descriptor (would be 200 ms)? {took:?}"
    );
    h.finish().unwrap();
}
