use super::*;
use crate::ae4dma::{init_common, Ae4Config, Ae4Queue};
use crate::channel::*;
use crate::queue::{PtdmaQueue, QueueConfig};
use crate::testing::{FakeAe4, FakePhys, FakePtdma, Faults};
use crate::PtdmaError;

/// A PTDMA queue on `dev` with the `k`-th 1 KiB ring of the test memory.
fn queue<'m>(
    mem: &'m FakePhys,
    dev: &'m FakePtdma<'m>,
    k: u64,
) -> PtdmaQueue<&'m FakePtdma<'m>, crate::SliceMemory<'m>> {
    PtdmaQueue::init(
        dev,
        mem.region(RING + 0x400 * k, 1024),
        None,
        QueueConfig::default(),
    )
    .unwrap()
}

#[test]
fn round_robin_split_matches_rfc_v2() {
    assert_eq!(
        split(10, 3, SplitPolicy::RoundRobin),
        [vec![0, 3, 6, 9], vec![1, 4, 7], vec![2, 5, 8]]
    );
    assert_eq!(
        split(2, 4, SplitPolicy::RoundRobin),
        [vec![0], vec![1], vec![], vec![]]
    );
}

#[test]
fn contiguous_split_matches_rfc_v3() {
    assert_eq!(
        split(10, 3, SplitPolicy::Contiguous),
        [vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8, 9]]
    );
    assert_eq!(
        split(3, 4, SplitPolicy::Contiguous),
        [vec![], vec![0], vec![1], vec![2]]
    );
}

#[test]
fn every_op_exactly_once_in_order() {
    for policy in [SplitPolicy::RoundRobin, SplitPolicy::Contiguous] {
        for nr in [0, 1, 7, 16, 100, 513] {
            for n in 1..=16 {
                let parts = split(nr, n, policy);
                assert_eq!(parts.len(), n);
                let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
                let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(hi - lo <= 1, "{policy:?} {nr}/{n}: {sizes:?}");
                assert!(parts.iter().all(|p| p.windows(2).all(|w| w[0] < w[1])));
                let mut all: Vec<usize> = parts.concat();
                all.sort_unstable();
                assert_eq!(all, (0..nr).collect::<Vec<_>>());
            }
        }
    }
}

#[test]
fn channel_set_drives_ptdma_and_ae4_with_one_doorbell_each() {
    let mem = FakePhys::new(MEM);
    let (d0, d1, a) = (
        FakePtdma::new(&mem),
        FakePtdma::new(&mem),
        FakeAe4::new(&mem, 16),
    );
    let (mut q0, mut q1) = (queue(&mem, &d0, 0), queue(&mem, &d1, 1));
    let granted = init_common(&a, 16).unwrap();
    let mut q2 = Ae4Queue::init(
        &a,
        0,
        granted,
        mem.region(RING + 0x800, 1024),
        Ae4Config::default(),
    )
    .unwrap();
    let batch = ops(&mem, 30, 256);
    for policy in [SplitPolicy::RoundRobin, SplitPolicy::Contiguous] {
        let mut set = ChannelSet::new(
            vec![&mut q0, &mut q1, &mut q2],
            policy,
            WaitLimit::Spins(10),
        );
        let report = set.run(&batch);
        assert!(report.is_ok(), "{report:?}");
        assert!(report.not_done().is_empty());
        assert!(report
            .channels
            .iter()
            .all(|c| c.submits == 1 && c.assigned.len() == 10));
    }
    assert!(batch.iter().all(|op| copied(&mem, op)));
    assert_eq!(
        (
            q0.counters().doorbells,
            q1.counters().doorbells,
            q2.counters().doorbells
        ),
        (2, 2, 2)
    );
}

#[test]
fn share_larger_than_ring_runs_in_rounds() {
    let mem = FakePhys::new(MEM);
    let dev = FakePtdma::new(&mem);
    let mut q =
        PtdmaQueue::init(&dev, mem.region(RING, 8 * 32), None, QueueConfig::default()).unwrap();
    let batch = ops(&mem, 20, 64);
    let mut set = ChannelSet::new(vec![&mut q], SplitPolicy::Contiguous, WaitLimit::Spins(10));
    let report = set.run(&batch);
    assert!(report.is_ok());
    assert_eq!(report.channels[0].submits, 3); // 7 + 7 + 6
    assert!(batch.iter().all(|op| copied(&mem, op)));
}

#[test]
fn failures_are_reported_as_original_op_indices() {
    let mem = FakePhys::new(MEM);
    let (d0, d1) = (FakePtdma::new(&mem), FakePtdma::new(&mem));
    let (mut q0, mut q1) = (queue(&mem, &d0, 0), queue(&mem, &d1, 1));
    // Channel 1 gets ops 1, 3, 5, 7, 9 and fails on its third descriptor (op 5).
    d1.faults.set(Faults {
        error_at: Some((2, 0x27)),
        ..Default::default()
    });
    let batch = ops(&mem, 10, 128);
    let mut set = ChannelSet::new(
        vec![&mut q0, &mut q1],
        SplitPolicy::RoundRobin,
        WaitLimit::Spins(10),
    );
    let report = set.run(&batch);
    assert!(!report.is_ok());
    assert_eq!(report.not_done(), [5, 7, 9]);
    assert!(matches!(
        report.channels[1].error,
        Some(PtdmaError::Hardware { code: 0x27, .. })
    ));
    for (i, op) in batch.iter().enumerate() {
        assert_eq!(copied(&mem, op), ![5, 7, 9].contains(&i), "op {i}");
    }
}

#[test]
fn a_round_past_its_deadline_gives_up_and_reports_the_rest() {
    use core::cell::Cell;
    let mem = FakePhys::new(MEM);
    let (d0, d1) = (FakePtdma::new(&mem), FakePtdma::new(&mem));
    let (mut q0, mut q1) = (queue(&mem, &d0, 0), queue(&mem, &d1, 1));
    // Channel 1 never processes anything; the clock advances 1 µs per reading.
    d1.faults.set(Faults {
        stuck: true,
        ..Default::default()
    });
    let clock = Cell::new(0u64);
    let now = || {
        clock.set(clock.get() + 1_000);
        clock.get()
    };
    let batch = ops(&mem, 8, 128);
    let limit = WaitLimit::Deadline {
        now_ns: &now,
        timeout_ns: 50_000,
    };
    let mut set = ChannelSet::new(vec![&mut q0, &mut q1], SplitPolicy::Contiguous, limit);
    let report = set.run(&batch);
    assert_eq!(report.not_done(), [4, 5, 6, 7]);
    assert!(
        matches!(report.channels[1].error, Some(PtdmaError::Timeout { .. })),
        "{report:?}"
    );
    assert!(report.channels[0].error.is_none());
    // The wait ended at the deadline, not after a spin budget: about 50 readings.
    assert!(
        (50_000..=60_000).contains(&clock.get()),
        "clock {}",
        clock.get()
    );
    for (i, op) in batch.iter().enumerate() {
        assert_eq!(copied(&mem, op), i < 4, "op {i}");
    }
}
