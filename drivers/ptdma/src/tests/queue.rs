use super::*;
use crate::error::{PtdmaError, RingPlacement};
use crate::queue::*;
use crate::regs::{IntStatus, QueueControl, QueueReg};
use crate::testing::{Access, FakePhys, FakePtdma, Faults};
use crate::{Descriptor, SliceMemory};

type Queue<'a> = PtdmaQueue<&'a FakePtdma<'a>, SliceMemory<'a>>;

fn queue<'a>(
    mem: &'a FakePhys,
    dev: &'a FakePtdma<'a>,
    entries: usize,
    config: QueueConfig,
) -> Queue<'a> {
    let marker = Some(mem.region(MARKER, 8 * (entries + 1)));
    let q = PtdmaQueue::init(dev, mem.region(RING, 32 * entries), marker, config).unwrap();
    dev.clear_log();
    q
}

fn doorbells(dev: &FakePtdma) -> Vec<u32> {
    let tail = QueueReg::TailLo.offset(0);
    dev.log()
        .iter()
        .filter_map(|a| match a {
            Access::Write(o, v) if *o == tail => Some(*v),
            _ => None,
        })
        .collect()
}

fn set_faults(dev: &FakePtdma, f: Faults) {
    dev.faults.set(f);
}

#[test]
fn init_follows_linux_order() {
    let mem = FakePhys::new(MEM);
    let dev = FakePtdma::new(&mem);
    let q = PtdmaQueue::init(&dev, mem.region(RING, 1024), None, QueueConfig::default()).unwrap();
    use Access::{Read as R, Write as W};
    let ring = RING as u32;
    assert_eq!(
        dev.log(),
        [
            R(0x10, 0x8001),
            W(0x1120, 1),
            W(0x0000, 6),
            W(0x0008, 0),
            W(0x6004, 0x1001),
            W(0x0004, 0),
            W(0x100c, 0),
            W(0x1000, 0),
            R(0x1104, 0),
            R(0x1100, 0),
            W(0x1010, 0xf),
            W(0x1004, ring),
            W(0x1008, ring),
            W(0x1000, (4 << 3) | 1),
        ]
    );
    assert_eq!(q.version(), 0x8001);
    assert_eq!(q.counters().doorbells, 0);
}

#[test]
fn interrupts_are_enabled_last_when_asked() {
    let mem = FakePhys::new(MEM);
    let dev = FakePtdma::new(&mem);
    let config = QueueConfig {
        interrupts: IntStatus::COMPLETION | IntStatus::ERROR,
        ..Default::default()
    };
    PtdmaQueue::init(&dev, mem.region(RING, 1024), None, config).unwrap();
    assert_eq!(dev.log().last(), Some(&Access::Write(0x100c, 0x3)));
}

#[test]
fn one_doorbell_per_batch_with_tail_after_last_descriptor() {
    let mem = FakePhys::new(MEM);
    let dev = FakePtdma::new(&mem);
    let mut q = queue(&mem, &dev, 32, QueueConfig::default());
    let batch = ops(&mem, 3, 4096);
    let t = q.submit(&batch).unwrap();
    assert_eq!(doorbells(&dev), [RING as u32 + 3 * 32]);
    let done = q.wait(10).unwrap();
    assert_eq!(done.last, Some(t));
    assert!(batch.iter().all(|op| copied(&mem, op)));
    assert_eq!(q.counters().doorbells, 1);
    // IOC only on the last descriptor.
    let dw0: Vec<u32> = (0..3).map(|i| mem.read32(RING + 32 * i)).collect();
    assert_eq!(dw0, [0x0050_0010, 0x0050_0010, 0x0050_0012]);
}

#[test]
fn tail_wraps_around_the_ring_end() {
    let mem = FakePhys::new(MEM);
    let dev = FakePtdma::new(&mem);
    let mut q = queue(&mem, &dev, 8, QueueConfig::default());
    let all = ops(&mem, 10, 256);
    q.submit(&all[..5]).unwrap();
    q.wait(10).unwrap();
    q.submit(&all[5..]).unwrap();
    q.wait(10).unwrap();
    assert_eq!(
        doorbells(&dev),
        [RING as u32 + 5 * 32, RING as u32 + 2 * 32]
    );
    assert_eq!(dev.peek(QueueReg::HeadLo.offset(0)), RING as u32 + 2 * 32);
    assert!(all.iter().all(|op| copied(&mem, op)));
    assert_eq!(q.free_slots(), 7);
}

#[test]
fn batch_larger_than_free_slots_is_rejected() {
    let mem = FakePhys::new(MEM);
    let dev = FakePtdma::new(&mem);
    let mut q = queue(&mem, &dev, 8, QueueConfig::default());
    let all = ops(&mem, 8, 64);
    assert_eq!(
        q.submit(&all),
        Err(PtdmaError::QueueFull { needed: 8, free: 7 })
    );
    dev.lazy.set(Some(0)); // engine makes no progress
    q.submit(&all[..4]).unwrap();
    assert_eq!(
        q.submit(&all[4..]),
        Err(PtdmaError::QueueFull { needed: 4, free: 3 })
    );
    assert_eq!(
        doorbells(&dev).len(),
        1,
        "rejected batches ring no doorbell"
    );
    q.submit(&all[4..7]).unwrap();
    assert_eq!(q.free_slots(), 0);
}

#[test]
fn long_ops_are_split_into_several_descriptors() {
    let mem = FakePhys::new(MEM);
    let dev = FakePtdma::new(&mem);
    let config = QueueConfig {
        max_desc_len: 4096,
        ..Default::default()
    };
    let mut q = queue(&mem, &dev, 32, config);
    let batch = ops(&mem, 2, 10000);
    assert_eq!(q.descriptors_for_batch(&batch), 6);
    q.submit(&batch).unwrap();
    q.wait(10).unwrap();
    let descs: Vec<_> = (0..6)
        .map(|i| Descriptor::load(&mem.region(RING, 1024), i).decode())
        .collect();
    let lens: Vec<u32> = descs.iter().map(|d| d.len).collect();
    assert_eq!(lens, [4096, 4096, 1808, 4096, 4096, 1808]);
    assert_eq!(descs[1].src, batch[0].src.add(4096));
    assert_eq!(descs[5].dst, batch[1].dst.add(8192));
    assert_eq!(descs.iter().filter(|d| d.ioc).count(), 1);
    assert!(descs[5].ioc);
    assert!(batch.iter().all(|op| copied(&mem, op)));
}

#[test]
fn ioc_policy_every_and_never() {
    for (policy, expect) in [(IocPolicy::Every, 3), (IocPolicy::Never, 0)] {
        let mem = FakePhys::new(MEM);
        let dev = FakePtdma::new(&mem);
        let mut q = queue(
            &mem,
            &dev,
            32,
            QueueConfig {
                ioc: policy,
                ..Default::default()
            },
        );
        q.submit(&ops(&mem, 3, 64)).unwrap();
        let n = (0..3)
            .filter(|&i| mem.read32(RING + 32 * i) & 2 != 0)
            .count();
        assert_eq!(n, expect);
    }
}

#[test]
fn hardware_error_reports_split_and_queue_recovers() {
    let mem = FakePhys::new(MEM);
    let dev = FakePtdma::new(&mem);
    let mut q = queue(
        &mem,
        &dev,
        32,
        QueueConfig {
            max_desc_len: 4096,
            ..Default::default()
        },
    );
    // Ops 0 and 1: one descriptor each; op 2: three (descriptors 2, 3, 4); op 3: one.
    let mut batch = ops(&mem, 4, 3 * 4096);
    for i in [0, 1, 3] {
        batch[i].len = 1024;
    }
    set_faults(
        &dev,
        Faults {
            error_at: Some((3, 0x26)),
            ..Default::default()
        },
    );
    let t = q.submit(&batch).unwrap();
    dev.clear_log();
    let err = q.wait(10).unwrap_err();
    // Recovery on the silicon's terms (as Linux 6.12 does it): STATUS is read while ERROR is
    // still latched (acknowledging clears the code), HEAD_LO is moved past the failed
    // descriptor, and RUN is written only after the acknowledgement (before it, RUN does not
    // stick and the queue would stay stopped).
    let log = dev.log();
    let at = |want: &dyn Fn(&Access) -> bool| log.iter().position(want).unwrap();
    let status_read = at(
        &|a| matches!(a, Access::Read(o, v) if *o == QueueReg::Status.offset(0) && v & 0x3f == 0x26),
    );
    let ack = at(
        &|a| matches!(a, Access::Write(o, v) if *o == QueueReg::InterruptStatus.offset(0) && v & IntStatus::ERROR.bits() != 0),
    );
    let head = at(&|a| matches!(a, Access::Write(o, _) if *o == QueueReg::HeadLo.offset(0)));
    let run = at(
        &|a| matches!(a, Access::Write(o, v) if *o == QueueReg::Control.offset(0) && v & QueueControl::RUN.bits() != 0),
    );
    assert!(status_read < ack && ack < run && head < run, "{log:?}");
    let PtdmaError::Hardware {
        code,
        name,
        source,
        desc_index,
        progress,
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (code, name, source, desc_index),
        (0x26, "ODMA0_AXI_SLVERR", 1, 3)
    );
    assert_eq!(
        (progress.ticket, progress.ops_completed, progress.ops_total),
        (t.0, 2, 4)
    );
    assert!(copied(&mem, &batch[0]) && copied(&mem, &batch[1]));
    assert!(!copied(&mem, &batch[3]));
    // Recovery: HEAD_LO = TAIL, status cleared, RUN set again.
    let tail = RING as u32 + 6 * 32;
    assert_eq!(dev.peek(QueueReg::HeadLo.offset(0)), tail);
    assert_eq!(
        dev.peek(QueueReg::InterruptStatus.offset(0)) & IntStatus::ERROR.bits(),
        0
    );
    assert_ne!(
        dev.peek(QueueReg::Control.offset(0)) & QueueControl::RUN.bits(),
        0
    );
    // The queue works again.
    set_faults(&dev, Faults::default());
    let again = ops(&mem, 2, 512);
    q.submit(&again).unwrap();
    q.wait(10).unwrap();
    assert!(again.iter().all(|op| copied(&mem, op)));
    assert_eq!(q.free_slots(), 31);
}

#[test]
fn timeout_stops_queue_and_next_submit_restarts_it() {
    let mem = FakePhys::new(MEM);
    let dev = FakePtdma::new(&mem);
    let mut q = queue(&mem, &dev, 32, QueueConfig::default());
    set_faults(
        &dev,
        Faults {
            stuck: true,
            ..Default::default()
        },
    );
    let batch = ops(&mem, 3, 256);
    let t = q.submit(&batch).unwrap();
    let err = q.wait(100).unwrap_err();
    assert_eq!(
        err,
        PtdmaError::Timeout {
            desc_index: 0,
            progress: crate::Progress {
                ticket: t.0,
                ops_completed: 0,
                ops_total: 3
            }
        }
    );
    let control = dev.peek(QueueReg::Control.offset(0));
    assert_eq!(control & QueueControl::RUN.bits(), 0, "RUN cleared");
    assert_eq!(
        dev.peek(QueueReg::HeadLo.offset(0)),
        RING as u32 + 3 * 32,
        "HEAD = TAIL"
    );
    let reads = dev
        .log()
        .iter()
        .filter(|a| matches!(a, Access::Read(0x1008, _)))
        .count();
    assert_eq!(reads, 102, "bounded: 101 polls + 1 read while aborting");
    set_faults(&dev, Faults::default());
    dev.clear_log();
    q.submit(&batch).unwrap();
    let log = dev.log();
    assert!(matches!(log[..], [Access::Write(0x1000, c), Access::Write(0x1004, _)] if c & 1 == 1));
    q.wait(10).unwrap();
    assert!(batch.iter().all(|op| copied(&mem, op)));
}

#[test]
fn lazy_engine_completes_within_spin_budget() {
    let mem = FakePhys::new(MEM);
    let dev = FakePtdma::new(&mem);
    let mut q = queue(&mem, &dev, 32, QueueConfig::default());
    dev.lazy.set(Some(1));
    let batch = ops(&mem, 5, 128);
    q.submit(&batch).unwrap();
    assert_eq!(q.poll(), Ok(Poll::Pending));
    let done = q.wait(100).unwrap();
    assert_eq!(done.descriptors, 5);
    assert_eq!(q.poll(), Ok(Poll::Idle));
    assert!(batch.iter().all(|op| copied(&mem, op)));
}

#[test]
fn all_ones_reads_mean_device_gone() {
    let mem = FakePhys::new(MEM);
    let dev = FakePtdma::new(&mem);
    set_faults(
        &dev,
        Faults {
            gone: true,
            ..Default::default()
        },
    );
    let r = PtdmaQueue::init(&dev, mem.region(RING, 1024), None, QueueConfig::default());
    assert_eq!(r.unwrap_err(), PtdmaError::DeviceGone);
    let dev = FakePtdma::new(&mem);
    let mut q = queue(&mem, &dev, 32, QueueConfig::default());
    dev.lazy.set(Some(0));
    q.submit(&ops(&mem, 1, 64)).unwrap();
    set_faults(
        &dev,
        Faults {
            gone: true,
            ..Default::default()
        },
    );
    assert_eq!(q.wait(10), Err(PtdmaError::DeviceGone));
}

#[test]
fn completion_marker_needs_at_most_one_mmio_read_per_batch() {
    let mem = FakePhys::new(MEM);
    let dev = FakePtdma::new(&mem);
    let mut q = queue(
        &mem,
        &dev,
        32,
        QueueConfig {
            completion_marker: true,
            ..Default::default()
        },
    );
    for round in 0..5 {
        let batch = ops(&mem, 4, 512);
        let before = q.counters();
        q.submit(&batch).unwrap();
        q.wait(10).unwrap();
        let after = q.counters();
        assert_eq!(after.doorbells - before.doorbells, 1);
        assert!(
            after.reads - before.reads <= 1,
            "round {round}: {} reads",
            after.reads - before.reads
        );
        assert!(batch.iter().all(|op| copied(&mem, op)));
    }
    // 4 data descriptors + 1 marker per batch; IOC on the marker only.
    assert_eq!(mem.read32(RING + 4 * 32) & 0xffff_fffd, 0x0050_0010);
    assert_eq!(mem.read32(RING + 4 * 32 + 4), 8);
    assert_eq!(mem.read32(MARKER + 4), 0xf011_0000);
}

#[test]
fn completion_marker_still_notices_errors() {
    let mem = FakePhys::new(MEM);
    let dev = FakePtdma::new(&mem);
    let config = QueueConfig {
        completion_marker: true,
        marker_check_interval: 4,
        ..Default::default()
    };
    let mut q = queue(&mem, &dev, 32, config);
    set_faults(
        &dev,
        Faults {
            error_at: Some((1, 0x13)),
            ..Default::default()
        },
    );
    q.submit(&ops(&mem, 3, 64)).unwrap();
    let err = q.wait(10).unwrap_err();
    assert!(
        matches!(
            err,
            PtdmaError::Hardware {
                code: 0x13,
                desc_index: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.progress().unwrap().ops_completed, 1);
}

#[test]
fn init_rejects_bad_memory() {
    let mem = FakePhys::new(MEM);
    let dev = FakePtdma::new(&mem);
    let r = PtdmaQueue::init(
        &dev,
        mem.region(RING + 0x200, 1024),
        None,
        QueueConfig::default(),
    );
    assert_eq!(
        r.unwrap_err(),
        PtdmaError::RingPlacement(RingPlacement::Misaligned)
    );
    let config = QueueConfig {
        completion_marker: true,
        ..Default::default()
    };
    let r = PtdmaQueue::init(
        &dev,
        mem.region(RING, 1024),
        Some(mem.region(MARKER, 64)),
        config,
    );
    assert_eq!(
        r.unwrap_err(),
        PtdmaError::RingPlacement(RingPlacement::TooSmall)
    );
    assert!(dev.log().is_empty(), "nothing touched before validation");
}

#[test]
fn addresses_above_48_bits_are_rejected() {
    let mem = FakePhys::new(MEM);
    let dev = FakePtdma::new(&mem);
    let mut q = queue(&mem, &dev, 32, QueueConfig::default());
    let op = CopyOp {
        src: DmaAddr::new((1 << 48) - 8),
        dst: DmaAddr::new(0),
        len: 16,
    };
    assert_eq!(q.submit(&[op]), Err(PtdmaError::AddressTooHigh(op.src)));
}

#[test]
fn shutdown_clears_run_and_interrupts() {
    let mem = FakePhys::new(MEM);
    let dev = FakePtdma::new(&mem);
    let mut q = queue(&mem, &dev, 32, QueueConfig::default());
    q.shutdown();
    assert_eq!(dev.peek(QueueReg::Control.offset(0)) & 1, 0);
    assert_eq!(dev.peek(QueueReg::IntEnable.offset(0)), 0);
}
