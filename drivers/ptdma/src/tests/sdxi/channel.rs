//! Batches, completion (both readings of the UNSURE points), timeout, errors and recovery.

use super::*;
use crate::channel::{ChannelSet, DmaChannel, SplitPolicy, WaitLimit};
use crate::error::Progress;
use crate::queue::Poll;
use crate::sdxi::context::{RING_ENTRIES, WRITE_INDEX_OFF};
use crate::sdxi::desc::{ContextState, Descriptor, FE};
use crate::sdxi::error::{ErrStep, ErrorLogEntry, Reaction, SubStep};
use crate::sdxi::fake::{ReadIndexMode, SdxiFaults, SignalMode};
use crate::sdxi::regs::{self, FunctionState};
use crate::sdxi::SdxiError;
use crate::{PtdmaError, RegisterAccess};

fn fault(dev: &FakeSdxi<'_>, f: impl FnOnce(&mut SdxiFaults)) {
    let mut x = dev.faults.get();
    f(&mut x);
    dev.faults.set(x);
}

fn doorbells(dev: &FakeSdxi<'_>) -> Vec<(usize, u64)> {
    dev.log()
        .iter()
        .filter(|a| a.write && a.bar == 2)
        .map(|a| (a.offset, a.value))
        .collect()
}

#[test]
fn a_batch_is_copies_plus_a_fenced_nop_and_one_doorbell() {
    let mem = FakePhys::new(MEM);
    let dev = FakeSdxi::new(&mem);
    let f = activate(&mem, &dev);
    let mut ch = open(&mem, &dev, &f, 1);
    dev.clear_log();
    let batch = ops(&mem, 0, 5, 3000);
    let t = ch.submit(&batch).unwrap();
    assert_eq!(
        doorbells(&dev),
        vec![(4096, 6)],
        "one doorbell at context 1, value 6"
    );
    assert_eq!(dev.log().len(), 1, "no other register access on submit");
    assert_eq!(mem.read64(client(1) + WRITE_INDEX_OFF as u64), 6);
    for (i, op) in batch.iter().enumerate() {
        let want = Descriptor::copy(op.src.as_u64(), op.dst.as_u64(), 3000, None);
        assert_eq!(ch.context().desc(i), want, "copy {i}");
    }
    let nop = ch.context().desc(5);
    assert_eq!(nop, Descriptor::nop(true, Some(ch.context().csb_bus(0))));
    assert_eq!(nop.0[0] & FE, FE);
    let done = ch.wait(10).unwrap();
    assert_eq!(done.last, Some(t));
    assert_eq!(done.descriptors, 6);
    assert!(batch.iter().all(|op| copied(&mem, op)));
    assert_eq!(ch.counters().doorbells, 1);
    assert_eq!(
        ch.counters().descriptors,
        6,
        "five copies and the no-op written (the model's count is compared in check)"
    );
    assert_eq!(ch.poll(), Ok(Poll::Complete { last: t }));
}

#[test]
fn long_ops_are_cut_at_max_desc_len() {
    let mem = FakePhys::new(MEM);
    let dev = FakeSdxi::new(&mem);
    let f = activate(&mem, &dev);
    let cfg = ChannelConfig {
        max_desc_len: 4096,
        ..ChannelConfig::default()
    };
    let mut ch = open_with(&mem, &dev, &f, 1, cfg);
    let batch = ops(&mem, 0, 3, 10_000);
    assert_eq!(ch.descriptors_for(&batch[0]), 3);
    ch.submit(&batch).unwrap();
    assert_eq!(mem.read64(client(1) + WRITE_INDEX_OFF as u64), 10);
    let last = ch.context().desc(2);
    assert_eq!(last.bits(32, 32), 10_000 - 8192 - 1);
    assert_eq!(last.bits(128, 64), batch[0].src.as_u64() + 8192);
    ch.wait(10).unwrap();
    assert!(batch.iter().all(|op| copied(&mem, op)));
    assert_eq!(
        ch.counters().descriptors,
        10,
        "nine pieces of copies and the no-op"
    );
}

/// Every combination of the two UNSURE readings, over several ring wraps.
#[test]
fn completes_under_both_signal_and_read_index_readings() {
    for signal in [SignalMode::Clear, SignalMode::Decrement] {
        for ri in [ReadIndexMode::Completion, ReadIndexMode::Fetch] {
            let mem = FakePhys::new(MEM);
            let dev = FakeSdxi::new(&mem);
            dev.signal.set(signal);
            dev.read_index.set(ri);
            let f = activate(&mem, &dev);
            let mut ch = open(&mem, &dev, &f, 1);
            let mut total = 0;
            for round in 0..6u64 {
                let batch = ops(&mem, round * 300, 300, 64);
                assert!(ch.free_slots() >= 300, "{signal:?} {ri:?} round {round}");
                let t = ch.submit(&batch).unwrap();
                let done = ch.wait(10).unwrap();
                total += 301;
                assert_eq!(done.last, Some(t));
                assert_eq!(done.descriptors, total);
                assert!(batch.iter().all(|op| copied(&mem, op)), "{signal:?} {ri:?}");
                assert_eq!(ch.free_slots(), RING_ENTRIES as usize - 1);
            }
            assert!(total > 1024, "wrapped the ring");
            assert_eq!(ch.context().read_index(), total);
        }
    }
}

#[test]
fn several_batches_in_flight_complete_in_order() {
    let mem = FakePhys::new(MEM);
    let dev = FakeSdxi::new(&mem);
    dev.deferred.set(true);
    let f = activate(&mem, &dev);
    let cfg = ChannelConfig {
        check_interval: 1,
        ..ChannelConfig::default()
    };
    let mut ch = open_with(&mem, &dev, &f, 1, cfg);
    let a = ops(&mem, 0, 4, 100);
    let b = ops(&mem, 10, 4, 100);
    ch.submit(&a).unwrap();
    let tb = ch.submit(&b).unwrap();
    assert_eq!(ch.free_slots(), 1024 - 10 - 1);
    assert!(!copied(&mem, &a[0]), "deferred: nothing ran yet");
    // First poll: CST_BLK still armed → STS0 read (the fake runs the deferred doorbells).
    assert_eq!(ch.poll(), Ok(Poll::Pending));
    assert_eq!(ch.poll(), Ok(Poll::Complete { last: tb }));
    assert!(a.iter().chain(&b).all(|op| copied(&mem, op)));
}

#[test]
fn a_descriptor_whose_valid_bit_is_not_yet_set_makes_the_function_wait() {
    let mem = FakePhys::new(MEM);
    let dev = FakeSdxi::new(&mem);
    let f = activate(&mem, &dev);
    let mut ch = open(&mem, &dev, &f, 1);
    let batch = ops(&mem, 0, 2, 64);
    // Write_Index covering a slot whose vl is 0 must not fail the context.
    let wi = client(1) + WRITE_INDEX_OFF as u64;
    mem.write64(wi, 1);
    dev.bar2().write64(4096, 1);
    assert_eq!(ch.context().state(), ContextState::Run);
    assert_eq!(ch.context().read_index(), 0);
    ch.submit(&batch).unwrap();
    ch.wait(10).unwrap();
    assert!(batch.iter().all(|op| copied(&mem, op)));
}

#[test]
fn refusals_write_nothing() {
    let mem = FakePhys::new(MEM);
    let dev = FakeSdxi::new(&mem);
    let f = activate(&mem, &dev);
    let mut ch = open(&mem, &dev, &f, 1);
    dev.clear_log();
    let mut bad = ops(&mem, 0, 3, 4096);
    bad[1].dst = bad[1].src.add(100);
    assert_eq!(
        ch.submit(&bad),
        Err(PtdmaError::Sdxi {
            error: SdxiError::Overlap { op: 1 },
            progress: None
        })
    );
    let many = ops(&mem, 0, 1024, 8);
    assert_eq!(
        ch.submit(&many),
        Err(PtdmaError::QueueFull {
            needed: 1025,
            free: 1024
        })
    );
    assert!(dev.log().is_empty(), "no doorbell");
    assert_eq!(mem.read64(client(1) + WRITE_INDEX_OFF as u64), 0);
    let fits = ops(&mem, 0, 1023, 8);
    ch.submit(&fits).unwrap();
    ch.wait(10).unwrap();
    assert!(fits.iter().all(|op| copied(&mem, op)));
}

#[test]
fn timeout_stops_and_restarts_the_context() {
    let mem = FakePhys::new(MEM);
    let dev = FakeSdxi::new(&mem);
    let f = activate(&mem, &dev);
    let mut ch = open(&mem, &dev, &f, 1);
    fault(&dev, |x| x.stuck = Some(1));
    let batch = ops(&mem, 0, 4, 256);
    ch.submit(&batch).unwrap();
    dev.clear_log();
    let e = ch.wait(50).unwrap_err();
    assert_eq!(
        e,
        PtdmaError::Timeout {
            desc_index: 0,
            progress: Progress {
                ticket: 0,
                ops_completed: 0,
                ops_total: 4
            }
        }
    );
    assert!(!copied(&mem, &batch[0]));
    assert_eq!(ch.recoveries(), 1);
    // Admin ring: START (open), then STOP + SYNC(STOP), then START again.
    let c = |slot: u64| mem.read64(ADMIN + 64 * slot) as u32;
    assert_eq!([c(1), c(2), c(3)], [0x0002_0405, 0x0002_0605, 0x0002_0305]);
    assert_eq!(
        doorbells(&dev),
        vec![(0, 3), (0, 4)],
        "admin doorbells: stop+sync, start"
    );
    assert_eq!(
        mem.read64(client(1) + WRITE_INDEX_OFF as u64),
        0,
        "ring reset"
    );
    fault(&dev, |x| x.stuck = None);
    let again = ops(&mem, 10, 4, 256);
    ch.submit(&again).unwrap();
    ch.wait(10).unwrap();
    assert!(again.iter().all(|op| copied(&mem, op)));
}

#[test]
fn descriptor_error_is_decoded_from_the_error_log_and_recovered() {
    let mem = FakePhys::new(MEM);
    let dev = FakeSdxi::new(&mem);
    let f = activate(&mem, &dev);
    let mut ch = open(&mem, &dev, &f, 1);
    fault(&dev, |x| x.error_at = Some(2));
    let batch = ops(&mem, 0, 5, 512);
    ch.submit(&batch).unwrap();
    let e = ch.wait(10).unwrap_err();
    let entry = ErrorLogEntry {
        step: ErrStep::DataBuffer,
        sub_step: SubStep::Access,
        reaction: Reaction::ContextStopped,
        context: Some(1),
        desc_index: Some(2),
        buffer: Some(1),
        class: 0,
        vendor0: 0,
    };
    assert_eq!(
        e,
        PtdmaError::Sdxi {
            error: SdxiError::Logged(entry),
            progress: Some(Progress {
                ticket: 0,
                ops_completed: 0,
                ops_total: 5
            })
        }
    );
    assert!(copied(&mem, &batch[0]) && !copied(&mem, &batch[2]));
    assert_eq!(dev.reg(regs::ERR_RD), 1, "log entry consumed");
    assert_eq!(dev.reg(regs::ERR_STS), 0, "ERR_STS cleared");
    assert_eq!(ch.context().state(), ContextState::Run, "restarted");
    fault(&dev, |x| x.error_at = None);
    let again = ops(&mem, 10, 5, 512);
    let t = ch.submit(&again).unwrap();
    assert_eq!(ch.wait(10).unwrap().last, Some(t));
    assert!(again.iter().all(|op| copied(&mem, op)));
}

#[test]
fn without_a_log_entry_the_context_state_names_the_error() {
    let mem = FakePhys::new(MEM);
    let dev = FakeSdxi::new(&mem);
    let f = activate(&mem, &dev);
    let mut ch = open(&mem, &dev, &f, 1);
    dev.set_reg(regs::ERR_CFG, 0);
    fault(&dev, |x| x.error_at = Some(0));
    ch.submit(&ops(&mem, 0, 2, 64)).unwrap();
    assert!(matches!(
        ch.wait(10),
        Err(PtdmaError::Sdxi {
            error: SdxiError::ContextStopped(ContextState::ErrFn),
            progress: Some(_)
        })
    ));
    // An error on the NOP itself: its CST_BLK comes back with er = 1.
    fault(&dev, |x| x.error_at = Some(3));
    ch.submit(&ops(&mem, 0, 2, 64)).unwrap();
    assert!(matches!(
        ch.wait(10),
        Err(PtdmaError::Sdxi {
            error: SdxiError::CompletionError,
            ..
        })
    ));
    assert_eq!(ch.recoveries(), 2);
}

#[test]
fn a_function_error_resets_the_function_and_every_context_restarts() {
    let mem = FakePhys::new(MEM);
    let dev = FakeSdxi::new(&mem);
    dev.deferred.set(true);
    let f = activate_with(&mem, &dev, 0x3000);
    let cfg = ChannelConfig {
        check_interval: 1,
        ..ChannelConfig::default()
    };
    let mut ch = open_with(&mem, &dev, &f, 1, cfg);
    let mut idle = open_with(&mem, &dev, &f, 2, cfg);
    ch.submit(&ops(&mem, 0, 2, 64)).unwrap();
    dev.force_function_error();
    let e = ch.wait(10).unwrap_err();
    assert!(
        matches!(
            e,
            PtdmaError::Sdxi {
                error: SdxiError::Function(FunctionState::Error),
                progress: Some(Progress { ops_total: 2, .. })
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        dev.state(),
        FunctionState::Active,
        "RESET, then activated again"
    );
    assert_eq!(f.lock().reactivations(), 1);
    assert_eq!(ch.retired(), None);
    let a = ops(&mem, 10, 3, 64);
    ch.submit(&a).unwrap();
    ch.wait(10).unwrap();
    assert!(a.iter().all(|op| copied(&mem, op)));
    // The other context's L1 entry went with the reset: it restarts before new work.
    let b = ops(&mem, 20, 3, 64);
    idle.submit(&b).unwrap();
    idle.wait(10).unwrap();
    assert!(b.iter().all(|op| copied(&mem, op)));
    assert_eq!(idle.recoveries(), 1);
}

#[test]
fn a_vanished_device_retires_the_channel() {
    let mem = FakePhys::new(MEM);
    let dev = FakeSdxi::new(&mem);
    dev.deferred.set(true);
    let f = activate(&mem, &dev);
    let cfg = ChannelConfig {
        check_interval: 1,
        ..ChannelConfig::default()
    };
    let mut ch = open_with(&mem, &dev, &f, 1, cfg);
    ch.submit(&ops(&mem, 0, 2, 64)).unwrap();
    fault(&dev, |x| x.gone = true);
    assert_eq!(ch.wait(10), Err(PtdmaError::DeviceGone));
    assert_eq!(ch.submit(&ops(&mem, 0, 1, 64)), Err(PtdmaError::DeviceGone));
}

#[test]
fn channel_set_drives_two_contexts_and_reports_what_to_cpu_copy() {
    let mem = FakePhys::new(MEM);
    let dev = FakeSdxi::new(&mem);
    let f = activate_with(&mem, &dev, 0x3000);
    let mut a = open(&mem, &dev, &f, 1);
    let mut b = open(&mem, &dev, &f, 2);
    let batch = ops(&mem, 0, 10, 1000);
    // Error on the 4th descriptor executed: context 1 runs first (ops 0..5 contiguous),
    // so its op 3 fails.
    fault(&dev, |x| x.error_at = Some(3));
    let mut set = ChannelSet::new(
        vec![&mut a as &mut dyn DmaChannel, &mut b],
        SplitPolicy::Contiguous,
        WaitLimit::Spins(10),
    );
    let r = set.run(&batch);
    assert_eq!(
        r.not_done(),
        vec![0, 1, 2, 3, 4],
        "all of channel 0's batch"
    );
    assert!(r.channels[1].error.is_none());
    assert!(batch[5..].iter().all(|op| copied(&mem, op)));
    let db = dev.doorbells.borrow().clone();
    assert_eq!((db[&1], db[&2]), (1, 1), "one doorbell per channel");
}

#[test]
fn a_copy_in_a_group_the_context_has_not_enabled_is_refused_by_the_function() {
    let mem = FakePhys::new(MEM);
    let dev = FakeSdxi::new(&mem);
    let f = activate(&mem, &dev);
    let mut ch = open(&mem, &dev, &f, 1);
    // Behind the driver's back: context 1 enables only the Admin group (bit 2).
    let l1 = TABLES + 0x1000 + 32;
    mem.write64(l1 + 16, (mem.read64(l1 + 16) & 0xFFFF_FFFF) | (0b100 << 32));
    ch.submit(&ops(&mem, 0, 1, 64)).unwrap();
    match ch.wait(10) {
        Err(PtdmaError::Sdxi {
            error: SdxiError::Logged(e),
            ..
        }) => assert_eq!(
            (e.step, e.sub_step, e.desc_index),
            (ErrStep::Descriptor, SubStep::Validation, Some(0))
        ),
        other => panic!("{other:?}"),
    }
    // The restart re-publishes L1 with CAP1's groups: copies work again.
    let again = ops(&mem, 5, 2, 64);
    ch.submit(&again).unwrap();
    ch.wait(10).unwrap();
    assert!(again.iter().all(|op| copied(&mem, op)));
}

#[test]
fn log_entries_no_channel_takes_do_not_pile_up() {
    // A buggy device that keeps logging entries naming the admin context (or no context):
    // no channel ever takes them, so they must not accumulate without bound.
    let mem = FakePhys::new(MEM);
    let dev = FakeSdxi::new(&mem);
    let f = activate(&mem, &dev);
    let log = TABLES + 0x2000;
    let q0 = 1 | (7 << 8) | (crate::sdxi::error::ERRLOG_TYPE << 16) | (1 << 32);
    for round in 0..10u64 {
        for slot in 0..64 {
            mem.write64(log + 64 * slot, q0);
        }
        dev.set_reg(regs::ERR_WRT, 64 * (round + 1));
        dev.set_reg(regs::ERR_STS, regs::ERR_STS_STS);
        f.lock().drain_log().unwrap();
        assert_eq!(
            dev.reg(regs::ERR_RD),
            64 * (round + 1),
            "every entry consumed"
        );
    }
    assert_eq!(
        f.lock().pending_log(),
        64,
        "one log's worth kept, the newest"
    );
    assert_eq!(f.lock().take_log(1), None);
}
