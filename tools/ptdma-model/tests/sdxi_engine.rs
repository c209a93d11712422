//! SDXI model behaviour through its register and memory interface (no threads): bring-up and
//! the function state machine, copies and fenced no-ops with completion blocks, the wait on a
//! published-but-invalid slot, both readings of every UNSURE point, faults and counters.

mod sdxi_fixture;

use ptdma_model::faults::Fault;
use ptdma_model::sdxi::desc::{encode_copy, encode_cxt_stop, encode_nop, encode_sync, CxtRange};
use ptdma_model::sdxi::errlog::Check;
use ptdma_model::sdxi::options::{ClientStart, ReadIndexMode, SdxiOptions, SignalMode};
use ptdma_model::sdxi::regs::{off, Gsv};
use ptdma_model::sdxi::ring::Outcome;
use sdxi_fixture::*;

/// Counters of context `id` (the JSON lists only active queues).
fn queue(fx: &Fx, id: u64) -> serde_json::Value {
    let j = fx.counters.to_json();
    j["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == id)
        .cloned()
        .unwrap_or_default()
}

/// A copy whose destination runs off the end of guest RAM.
fn bad_copy() -> [u8; 64] {
    encode_copy(DATA, RAM as u64 - 16, 64, (0, 0), None)
}

fn copy(n: u64, len: u64, csb: Option<u64>) -> [u8; 64] {
    encode_copy(
        DATA + n * 0x2_0000,
        DATA + 0x40_0000 + n * 0x2_0000,
        len,
        (0, 0),
        csb,
    )
}

#[test]
fn one_copy_with_fenced_nop_completes_and_counts() {
    let fx = Fx::ready(SdxiOptions::default());
    let src = pattern(7, 4096);
    fx.poke(DATA, &src);
    let c = fx.arm(0, 1);
    let w = fx.submit(1, &[copy(0, 4096, None), encode_nop(true, Some(c))]);
    assert_eq!(fx.core.service(1, true), Outcome::Idle);
    assert_eq!(fx.peek(DATA + 0x40_0000, 4096), src);
    assert_eq!((fx.signal(0), fx.er(0)), (0, false));
    assert_eq!(fx.read_index(1), w);
    assert_eq!(
        fx.r64(write_index(1)),
        w,
        "the function never writes Write_Index"
    );
    assert_eq!(fx.peek(ring(1), 1)[0] & 1, 1, "vl is never cleared");
    let q = &queue(&fx, 1);
    assert_eq!(
        (q["doorbells"].as_u64(), q["descriptors"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(q["bytes"], 4096);
    assert!(fx.errlog().is_empty());
}

#[test]
fn batch_across_ring_wrap() {
    let fx = Fx::ready(SdxiOptions::default());
    // Move the indexes near the end of the ring: 1020 no-ops first.
    let nops: Vec<_> = (0..1020).map(|_| encode_nop(false, None)).collect();
    fx.submit(1, &nops);
    assert_eq!(fx.core.service(1, true), Outcome::Idle);
    let mut descs = Vec::new();
    for i in 0..8u64 {
        fx.poke(DATA + i * 0x2_0000, &pattern(i as u8, 512));
        descs.push(copy(i, 512, None));
    }
    let c = fx.arm(0, 1);
    descs.push(encode_nop(true, Some(c)));
    let w = fx.submit(1, &descs);
    assert_eq!(fx.core.service(1, true), Outcome::Idle);
    assert_eq!(w, 1029);
    assert_eq!(fx.read_index(1), 1029);
    for i in 0..8u64 {
        assert_eq!(
            fx.peek(DATA + 0x40_0000 + i * 0x2_0000, 512),
            pattern(i as u8, 512)
        );
    }
    assert_eq!(fx.signal(0), 0);
}

#[test]
fn published_slot_with_vl_clear_waits_then_resumes() {
    let fx = Fx::ready(SdxiOptions::default());
    fx.poke(DATA, &pattern(1, 64));
    fx.poke(DATA + 0x2_0000, &pattern(2, 64));
    let c = fx.arm(0, 1);
    let second = copy(1, 64, Some(c));
    let mut hidden = second;
    hidden[0] &= !1; // Write_Index already covers it, vl not yet set
    fx.submit(1, &[copy(0, 64, None), hidden]);
    assert_eq!(fx.core.service(1, true), Outcome::Wait);
    assert_eq!(fx.read_index(1), 1, "the first copy ran, the second waits");
    assert_eq!(fx.state(1), 1, "still CXTV_RUN: waiting is not an error");
    assert!(fx.errlog().is_empty());
    assert_eq!(fx.signal(0), 1);
    fx.poke(ring(1) + 64, &second[..8]); // software sets vl
    assert_eq!(fx.core.service(1, false), Outcome::Idle);
    assert_eq!(fx.read_index(1), 2);
    assert_eq!(fx.signal(0), 0);
    assert_eq!(fx.peek(DATA + 0x40_0000 + 0x2_0000, 64), pattern(2, 64));
}

#[test]
fn doorbell_value_is_only_a_hint() {
    let fx = Fx::ready(SdxiOptions::default());
    fx.poke(DATA, &pattern(3, 128));
    let c = fx.arm(0, 1);
    fx.submit(1, &[copy(0, 128, None), encode_nop(true, Some(c))]);
    // A stale, smaller doorbell arrives after the right one: memory decides.
    fx.core.doorbell(1, 1);
    assert_eq!(fx.core.service(1, true), Outcome::Idle);
    assert_eq!(fx.read_index(1), 2);
    assert_eq!(fx.signal(0), 0);
}

#[test]
fn signal_decrement_counts_several_descriptors() {
    let fx = Fx::ready(SdxiOptions::default());
    let c = fx.arm(0, 3);
    fx.submit(1, &[encode_nop(false, Some(c)), encode_nop(false, Some(c))]);
    fx.core.service(1, true);
    assert_eq!(fx.signal(0), 1, "decremented twice from 3");
    fx.submit(1, &[encode_nop(true, Some(c))]);
    fx.core.service(1, true);
    assert_eq!(fx.signal(0), 0);
}

#[test]
fn signal_clear_writes_zero() {
    let fx = Fx::ready(SdxiOptions {
        signal: SignalMode::Clear,
        ..SdxiOptions::default()
    });
    let c = fx.arm(0, 3);
    fx.submit(1, &[encode_nop(false, Some(c))]);
    fx.core.service(1, true);
    assert_eq!(fx.signal(0), 0, "cleared at once");
}

#[test]
fn read_index_at_completion_stays_on_a_failed_descriptor() {
    let fx = Fx::ready(SdxiOptions::default());
    fx.submit(1, &[encode_nop(false, None), bad_copy()]);
    assert_eq!(fx.core.service(1, true), Outcome::Error);
    assert_eq!(fx.read_index(1), 1);
}

#[test]
fn read_index_at_fetch_moves_past_a_failed_descriptor() {
    let fx = Fx::ready(SdxiOptions {
        read_index: ReadIndexMode::Fetch,
        ..SdxiOptions::default()
    });
    fx.submit(1, &[encode_nop(false, None), bad_copy()]);
    assert_eq!(fx.core.service(1, true), Outcome::Error);
    assert_eq!(fx.read_index(1), 2);
}

#[test]
fn client_set_run_is_ignored_by_default() {
    let fx = Fx::new(SdxiOptions::default(), vec![]);
    fx.bring_up();
    fx.build_context(2);
    fx.poke(cxt_sts(2), &[1]);
    fx.submit(2, &[encode_nop(false, None)]);
    assert_eq!(fx.core.service(2, true), Outcome::Stopped);
    assert_eq!(fx.read_index(2), 0);
}

#[test]
fn client_set_run_starts_with_software_start() {
    let fx = Fx::new(
        SdxiOptions {
            client_start: ClientStart::Software,
            ..SdxiOptions::default()
        },
        vec![],
    );
    fx.bring_up();
    fx.build_context(2);
    fx.poke(cxt_sts(2), &[1]);
    fx.submit(2, &[encode_nop(false, None)]);
    assert_eq!(fx.core.service(2, true), Outcome::Idle);
    assert_eq!(fx.read_index(2), 1);
}

#[test]
fn state_machine_stop_reset_error() {
    let fx = Fx::ready(SdxiOptions::default());
    assert_eq!(fx.reg(off::VERSION), 0x1_0000);
    // ACTIVE again is a no-op.
    fx.set_reg(off::CTL0, 3);
    assert_eq!(fx.gsv(), Gsv::Active as u64);
    // Soft stop: nothing in flight → STOP at once, running contexts marked STOP_FN.
    fx.set_reg(off::CTL0, 1);
    assert_eq!(fx.gsv(), Gsv::Stop as u64);
    assert_eq!(fx.state(1), 4, "CXTV_STOP_FN");
    // Doorbells are ignored while stopped.
    fx.submit(1, &[encode_nop(false, None)]);
    assert_eq!(fx.core.service(1, true), Outcome::Stopped);
    // Back to ACTIVE: the admin context must be set RUN again by software.
    fx.poke(cxt_sts(0), &[1]);
    fx.set_reg(off::CTL0, 3);
    assert_eq!(fx.gsv(), Gsv::Active as u64);
    // Broken L2 pointer on activation → ERROR; only RESET leaves it.
    fx.set_reg(off::CTL0, 2);
    assert_eq!(fx.gsv(), Gsv::Stop as u64);
    fx.set_reg(off::CXT_L2, 0);
    fx.set_reg(off::CTL0, 3);
    assert_eq!(fx.gsv(), Gsv::Error as u64);
    let e = fx.errlog();
    assert_eq!(
        (e[0].step, e[0].re, e[0].vendor0),
        (2, 2, Check::L2Register as u32)
    );
    fx.set_reg(off::CTL0, 3);
    assert_eq!(fx.gsv(), Gsv::Error as u64, "ACTIVE does not leave ERROR");
    fx.set_reg(off::CTL0, 1);
    assert_eq!(fx.gsv(), Gsv::Error as u64, "STOP does not leave ERROR");
    fx.set_reg(off::CTL0, 0);
    assert_eq!(fx.gsv(), Gsv::Stop as u64);
    fx.set_reg(off::CXT_L2, L2);
    fx.set_reg(off::CTL0, 3);
    assert_eq!(fx.gsv(), Gsv::Active as u64);
}

#[test]
fn context_stop_and_restart_through_admin() {
    let fx = Fx::ready(SdxiOptions::default());
    let c = fx.arm(0, 1);
    let one = CxtRange { start: 1, end: 1 };
    fx.submit(
        0,
        &[
            encode_cxt_stop(one, false, None),
            encode_sync(1, one, Some(c)),
        ],
    );
    assert_eq!(fx.core.service(0, true), Outcome::Idle);
    assert_eq!((fx.signal(0), fx.state(1)), (0, 0), "CXTV_STOP_SW");
    fx.submit(1, &[encode_nop(false, None)]);
    assert_eq!(fx.core.service(1, true), Outcome::Stopped);
    fx.start_client(1);
    // start_client rebuilt the context (indexes 0), so the ring starts over.
    fx.submit(1, &[encode_nop(false, None)]);
    assert_eq!(fx.core.service(1, true), Outcome::Idle);
    assert_eq!(fx.read_index(1), 1);
}

#[test]
fn fault_error_at_n_fails_that_copy_with_er_and_log() {
    let fx = Fx::ready_with(
        SdxiOptions::default(),
        vec!["error-at=2:0x21".parse::<Fault>().unwrap()],
    );
    let c0 = fx.arm(0, 1);
    let c1 = fx.arm(1, 1);
    fx.submit(
        1,
        &[
            copy(0, 64, Some(c0)),
            copy(1, 64, Some(c1)),
            copy(2, 64, None),
        ],
    );
    assert_eq!(fx.core.service(1, true), Outcome::Error);
    assert_eq!((fx.signal(0), fx.er(0)), (0, false));
    assert_eq!((fx.signal(1), fx.er(1)), (0, true));
    assert_eq!(fx.state(1), 0xf, "CXTV_ERR_FN");
    assert_eq!(fx.read_index(1), 1);
    let e = fx.errlog();
    assert_eq!(e.len(), 1);
    assert_eq!(
        (
            e[0].step,
            e[0].re,
            e[0].cxt_num,
            e[0].dsc_index,
            e[0].err_class,
            e[0].buf
        ),
        (10, 1, Some(1), Some(1), 0x21, Some(1)),
        "a data-buffer error names the buffer (destination)"
    );
    assert_eq!(fx.reg(off::ERR_STS) & 1, 1);
    assert_eq!(queue(&fx, 1)["errors"], 1);
}

#[test]
fn fault_stuck_until_context_stop() {
    let fx = Fx::ready_with(
        SdxiOptions::default(),
        vec!["stuck-at=1".parse::<Fault>().unwrap()],
    );
    fx.submit(1, &[copy(0, 64, None)]);
    assert_eq!(fx.core.service(1, true), Outcome::Stuck);
    fx.core.doorbell(1, 1);
    assert_eq!(
        fx.core.service(1, true),
        Outcome::Stopped,
        "doorbells do nothing"
    );
    assert_eq!(fx.read_index(1), 0);
    let one = CxtRange { start: 1, end: 1 };
    fx.submit(0, &[encode_cxt_stop(one, false, None)]);
    fx.core.service(0, true);
    assert_eq!(fx.state(1), 0);
    assert!(!fx.core.cxt(1).stuck);
}

#[test]
fn fault_halt_is_a_function_error() {
    let fx = Fx::ready_with(
        SdxiOptions::default(),
        vec!["halt-at=1".parse::<Fault>().unwrap()],
    );
    fx.submit(1, &[copy(0, 64, None)]);
    assert_eq!(fx.core.service(1, true), Outcome::Error);
    assert_eq!(fx.gsv(), Gsv::Error as u64);
    let e = fx.errlog();
    assert_eq!(
        (e[0].step, e[0].re, e[0].vendor0),
        (1, 2, Check::InjectedFunctionError as u32)
    );
}

#[test]
fn fault_vanish_after_n() {
    let fx = Fx::ready_with(
        SdxiOptions::default(),
        vec!["vanish-at=1".parse::<Fault>().unwrap()],
    );
    fx.submit(1, &[copy(0, 64, None), copy(1, 64, None)]);
    assert_eq!(fx.core.service(1, true), Outcome::Stopped);
    assert_eq!(fx.read_index(1), 1);
    assert!(fx
        .core
        .shared
        .vanished
        .load(std::sync::atomic::Ordering::SeqCst));
}

#[test]
fn fault_corrupt_inverts_but_reports_success() {
    let fx = Fx::ready_with(
        SdxiOptions::default(),
        vec!["corrupt-at=1".parse::<Fault>().unwrap()],
    );
    fx.poke(DATA, &[0x0f; 32]);
    let c = fx.arm(0, 1);
    fx.submit(1, &[copy(0, 32, Some(c))]);
    assert_eq!(fx.core.service(1, true), Outcome::Idle);
    assert_eq!(fx.peek(DATA + 0x40_0000, 32), vec![0xf0; 32]);
    assert_eq!((fx.signal(0), fx.er(0)), (0, false));
}

#[test]
fn fault_numbers_count_copies_only() {
    // error-at=2: the second copy fails, whatever no-ops come before or between.
    let fx = Fx::ready_with(
        SdxiOptions::default(),
        vec!["error-at=2".parse::<Fault>().unwrap()],
    );
    let nop = encode_nop(false, None);
    fx.submit(
        1,
        &[nop, copy(0, 64, None), nop, nop, copy(1, 64, None), nop],
    );
    assert_eq!(fx.core.service(1, true), Outcome::Error);
    assert_eq!(fx.read_index(1), 4);
    assert_eq!(fx.errlog()[0].dsc_index, Some(4));
    assert_eq!(fx.core.shared.faults.count(), 2);
}
