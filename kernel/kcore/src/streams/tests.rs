use super::*;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;

#[test]
fn pool_lends_each_value_once_and_takes_it_back() {
    let mut p = SlotPool::new();
    p.install(vec!['a', 'b', 'c', 'd']);
    let two = p.take(Some(2)).unwrap();
    assert_eq!(two, vec![(0, 'a'), (1, 'b')]);
    assert_eq!(p.free(), 2);
    assert_eq!(
        p.take(Some(3)),
        Err(PoolError::TooFew {
            asked: 3,
            free: 2,
            slots: 4
        })
    );
    assert_eq!(
        p.take_id(0),
        Err(PoolError::TooFew {
            asked: 1,
            free: 2,
            slots: 4
        })
    );
    assert_eq!(p.take_up_to(3).unwrap(), vec![(2, 'c'), (3, 'd')]);
    assert_eq!(
        p.take_up_to(1),
        Err(PoolError::TooFew {
            asked: 1,
            free: 0,
            slots: 4
        })
    );
    assert_eq!(
        p.take(None),
        Err(PoolError::TooFew {
            asked: 0,
            free: 0,
            slots: 4
        })
    );
    for (i, v) in two {
        p.put(i, v).unwrap();
    }
    // A slot given back twice is refused, not overwritten.
    assert_eq!(p.put(0, 'x'), Err('x'));
    assert_eq!(p.put(9, 'y'), Err('y'));
    assert_eq!(p.take_id(1), Ok('b'));
    assert_eq!(p.free(), 1);
}

#[test]
fn empty_pool_says_so() {
    let mut p: SlotPool<u8> = SlotPool::new();
    assert_eq!(p.take(Some(1)), Err(PoolError::Empty));
    assert_eq!(p.take_up_to(1), Err(PoolError::Empty));
    assert_eq!(p.take_id(0), Err(PoolError::Empty));
}

#[test]
fn decide_follows_each_policy() {
    use AdmitPolicy::*;
    for p in AdmitPolicy::ALL {
        assert_eq!(decide(p, 2, 2, 0, 100), Step::Take(2));
        assert_eq!(decide(p, 2, 4, 500, 100), Step::Take(2));
    }
    assert_eq!(decide(Cpu, 2, 1, 0, 100), Step::Cpu);
    assert_eq!(decide(Cpu, 1, 0, 0, 100), Step::Cpu);
    assert_eq!(decide(Wait, 2, 1, 0, 100), Step::Retry);
    assert_eq!(decide(Wait, 2, 1, 99, 100), Step::Retry);
    assert_eq!(decide(Wait, 2, 1, 100, 100), Step::Cpu);
    assert_eq!(decide(Mixed, 2, 1, 0, 100), Step::Take(1));
    assert_eq!(decide(Mixed, 3, 0, 50, 100), Step::Retry);
    assert_eq!(decide(Mixed, 3, 0, 100, 100), Step::Cpu);
    assert_eq!(decide(Wait, 1, 0, 0, 0), Step::Cpu);
    assert_eq!(AdmitPolicy::parse("mixed"), Some(Mixed));
    assert_eq!(AdmitPolicy::parse("x"), None);
}

/// A pool of `free` channels of which `frees_after` polls later one more comes back;
/// the clock advances 10 ns per reading.
struct Fake {
    free: Cell<usize>,
    polls: Cell<usize>,
    frees_after: usize,
    clock: Cell<u64>,
}

impl Fake {
    fn new(free: usize, frees_after: usize) -> Self {
        Self {
            free: Cell::new(free),
            polls: Cell::new(0),
            frees_after,
            clock: Cell::new(1000),
        }
    }

    fn run(&self, policy: AdmitPolicy, want: usize, limit: u64) -> Admitted<usize> {
        admit(
            policy,
            want,
            limit,
            &mut || {
                self.clock.set(self.clock.get() + 10);
                self.clock.get()
            },
            &mut |k| {
                self.polls.set(self.polls.get() + 1);
                if self.polls.get() == self.frees_after {
                    self.free.set(self.free.get() + 1);
                }
                if self.free.get() >= k {
                    self.free.set(self.free.get() - k);
                    Ok(k)
                } else {
                    Err(self.free.get())
                }
            },
            &mut || {},
        )
    }
}

#[test]
fn admit_waits_until_a_channel_comes_back() {
    let f = Fake::new(0, 5);
    let a = f.run(AdmitPolicy::Wait, 1, 1_000_000);
    assert_eq!(a.lease, Some(1));
    assert_eq!(a.counts.full, 1);
    assert_eq!(a.counts.waited, 1);
    assert!(a.counts.wait_ns > 0);
    assert_eq!(f.polls.get(), 5);
    a.counts.consistent_with(AdmitPolicy::Wait).unwrap();
}

#[test]
fn admit_refuses_after_the_limit() {
    let f = Fake::new(0, usize::MAX);
    let a = f.run(AdmitPolicy::Wait, 1, 100);
    assert_eq!(a.lease, None);
    assert_eq!(a.counts.refused, 1);
    assert_eq!(a.counts.refused_after_wait, 1);
    assert!(a.counts.wait_ns >= 100, "{:?}", a.counts);
    a.counts.consistent_with(AdmitPolicy::Wait).unwrap();
    assert!(a.counts.consistent_with(AdmitPolicy::Cpu).is_err());
}

#[test]
fn admit_cpu_never_polls_twice() {
    let f = Fake::new(1, usize::MAX);
    let a = f.run(AdmitPolicy::Cpu, 2, 1_000_000);
    assert_eq!(a.lease, None);
    assert_eq!(f.polls.get(), 1);
    assert_eq!(
        (a.counts.refused, a.counts.waited, a.counts.wait_ns),
        (1, 0, 0)
    );
    a.counts.consistent_with(AdmitPolicy::Cpu).unwrap();
    assert!(a.counts.consistent_with(AdmitPolicy::Wait).is_err());
}

#[test]
fn admit_mixed_takes_what_is_free() {
    let f = Fake::new(1, usize::MAX);
    let a = f.run(AdmitPolicy::Mixed, 3, 1_000_000);
    assert_eq!(a.lease, Some(1));
    assert_eq!(
        (a.counts.partial, a.counts.full, a.counts.waited),
        (1, 0, 0)
    );
    a.counts.consistent_with(AdmitPolicy::Mixed).unwrap();
    assert!(a.counts.consistent_with(AdmitPolicy::Wait).is_err());
}

#[test]
fn counts_add_up_over_many_batches() {
    let mut sum = AdmitCounts::default();
    for (free, after) in [(0, 3), (2, usize::MAX), (0, usize::MAX), (1, usize::MAX)] {
        let f = Fake::new(free, after);
        sum.add(&f.run(AdmitPolicy::Mixed, 2, 50).counts);
    }
    assert_eq!(sum.asked, 4);
    assert_eq!((sum.full, sum.partial, sum.refused), (1, 2, 1));
    sum.consistent_with(AdmitPolicy::Mixed).unwrap();
    let broken = AdmitCounts {
        asked: 2,
        full: 1,
        ..AdmitCounts::default()
    };
    assert!(broken.consistent_with(AdmitPolicy::Wait).is_err());
}

#[test]
fn jain_index_bounds() {
    assert_eq!(jain_index(&[2.0, 2.0, 2.0]), Some(1.0));
    let one = jain_index(&[3.0, 0.0, 0.0, 0.0]).unwrap();
    assert!((one - 0.25).abs() < 1e-12);
    let mid = jain_index(&[1.0, 2.0]).unwrap();
    assert!((mid - 0.9).abs() < 1e-12);
    assert_eq!(jain_index(&[]), None);
    assert_eq!(jain_index(&[0.0, 0.0]), None);
    assert_eq!(jain_index(&[1.0, f64::NAN]), None);
    assert_eq!(jain_index(&[-1.0, 1.0]), None);
}

#[test]
fn streams_values() {
    use spec::StreamsArg;
    assert_eq!(
        parse_streams("3"),
        Ok(StreamsArg::Count {
            n: 3,
            alternate: false
        })
    );
    let alt = parse_streams("3:alt").unwrap();
    let r: Vec<(u32, u32)> = alt.routes(0, 1).iter().map(|r| (r.from, r.to)).collect();
    assert_eq!(r, vec![(0, 1), (1, 0), (0, 1)]);
    let routes = parse_streams("0>1,1>0,0>2").unwrap();
    assert_eq!(routes.len(), 3);
    assert_eq!(routes.routes(7, 8)[2], StreamRoute { from: 0, to: 2 });
    assert_eq!(parse_streams("0"), Err(StreamsError::BadCount));
    assert_eq!(parse_streams("65"), Err(StreamsError::BadCount));
    assert_eq!(parse_streams("x"), Err(StreamsError::BadCount));
    assert_eq!(parse_streams("0>1,2"), Err(StreamsError::BadRoute(1)));
    assert_eq!(parse_streams("1>1"), Err(StreamsError::SameNode(0)));
}

#[test]
fn foreground_nodes() {
    assert_eq!(FgNode::parse("both"), Some(FgNode::Both));
    assert_eq!(FgNode::parse("x"), None);
    let both: Vec<u32> = (0..4).map(|i| FgNode::Both.node_of(i, 0, 1)).collect();
    assert_eq!(both, vec![0, 1, 0, 1]);
    assert_eq!(FgNode::Src.node_of(3, 2, 5), 2);
    assert_eq!(FgNode::Dst.node_of(0, 2, 5), 5);
}
