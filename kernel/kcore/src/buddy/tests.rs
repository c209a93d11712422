//! Host tests of the buddy allocator.

use super::*;
use alloc::vec;
use alloc::vec::Vec;

/// A zone of `n` frames at `base`, with metadata owned by the test.
fn meta(n: usize) -> Vec<FrameMeta> {
    vec![FrameMeta::FREE_INIT; n]
}

#[test]
fn metadata_fits_budget() {
    // The budget (16) is a compile-time assert in buddy.rs; pin the actual size here.
    assert_eq!(core::mem::size_of::<FrameMeta>(), 12);
    assert_eq!(meta_len_for(1024), Some(1024));
    assert_eq!(meta_len_for(u64::from(u32::MAX)), None);
    assert_eq!(FrameMeta::default(), FrameMeta::FREE_INIT);
}

#[test]
fn new_zone_is_all_reserved() {
    let mut m = meta(1024);
    let mut z = BuddyZone::new(3, 0x1000, &mut m).unwrap();
    assert_eq!(z.node(), 3);
    assert_eq!((z.base_pfn(), z.span()), (0x1000, 1024));
    assert_eq!(z.managed_frames(), 0);
    assert_eq!(z.alloc(0), Err(AllocError::OutOfMemory(0)));
    assert!(z.contains(0x1000) && z.contains(0x13ff));
    assert!(!z.contains(0xfff) && !z.contains(0x1400));
    assert_eq!(z.free(0x1000, 0), Err(FreeError::NotAllocated(0x1000)));
    z.check_invariants().unwrap();
}

#[test]
fn new_rejects_overflowing_span() {
    let mut m = meta(4);
    assert_eq!(
        BuddyZone::new(0, u64::MAX - 1, &mut m).err(),
        Some(InitError::PfnOverflow)
    );
}

#[test]
fn add_range_splits_into_maximal_aligned_blocks() {
    // [1, 1030): 1 (o0), 2 (o1), 4 (o2), ... 256 (o8), 512 (o9), then 1024..1030 = o2 + o1.
    let mut m = meta(2048);
    let mut z = BuddyZone::new(0, 0, &mut m).unwrap();
    assert_eq!(z.add_free_range(1, 1030), Ok(1029));
    let expect = [1, 2, 2, 1, 1, 1, 1, 1, 1, 1];
    for (o, &n) in expect.iter().enumerate() {
        assert_eq!(z.free_blocks(o), n, "order {o}");
    }
    assert_eq!(z.free_frames(), 1029);
    z.check_invariants().unwrap();
}

#[test]
fn adjacent_ranges_merge() {
    let mut m = meta(1024);
    let mut z = BuddyZone::new(0, 512, &mut m).unwrap();
    z.add_free_range(512, 768).unwrap();
    z.add_free_range(768, 1024).unwrap();
    assert_eq!(z.free_blocks(MAX_ORDER), 1);
    assert_eq!(z.free_blocks(8), 0);
    z.check_invariants().unwrap();
}

#[test]
fn add_range_errors_change_nothing() {
    let mut m = meta(64);
    let mut z = BuddyZone::new(0, 64, &mut m).unwrap();
    assert_eq!(
        z.add_free_range(70, 70),
        Err(RangeError::Empty { start: 70, end: 70 })
    );
    assert_eq!(
        z.add_free_range(60, 70),
        Err(RangeError::OutOfZone { start: 60, end: 70 })
    );
    assert_eq!(
        z.add_free_range(100, 129),
        Err(RangeError::OutOfZone {
            start: 100,
            end: 129
        })
    );
    z.add_free_range(64, 80).unwrap();
    assert_eq!(
        z.add_free_range(72, 90),
        Err(RangeError::AlreadyManaged(72))
    );
    assert_eq!(z.free_frames(), 16);
    z.check_invariants().unwrap();
    assert!(!format!("{}", RangeError::AlreadyManaged(72)).is_empty());
}

#[test]
fn every_order_is_naturally_aligned() {
    // An unaligned base must still give physically aligned blocks.
    let mut m = meta(4096);
    let mut z = BuddyZone::new(0, 0x12345, &mut m).unwrap();
    z.add_free_range(0x12345, 0x12345 + 4096).unwrap();
    for o in 0..=MAX_ORDER {
        let pfn = z.alloc(o).unwrap();
        assert_eq!(pfn % (1 << o), 0, "order {o} pfn {pfn:#x}");
        assert_eq!(z.allocated_order(pfn), Some(o));
    }
    z.check_invariants().unwrap();
}

#[test]
fn split_then_merge_back_to_max_order() {
    let mut m = meta(1024);
    let mut z = BuddyZone::new(0, 0, &mut m).unwrap();
    z.add_free_range(0, 1024).unwrap();
    assert_eq!(z.free_blocks(MAX_ORDER), 2);
    let a = z.alloc(0).unwrap();
    // One order-9 block split into 9 halves of orders 0..8 (one of order 0 left).
    for o in 0..MAX_ORDER {
        assert_eq!(z.free_blocks(o), 1, "order {o}");
    }
    assert_eq!(z.free_blocks(MAX_ORDER), 1);
    let b = z.alloc(3).unwrap();
    assert_eq!(
        (z.frames_in_use(), z.live_blocks(0), z.live_blocks(3)),
        (9, 1, 1)
    );
    z.free(a, 0).unwrap();
    z.free(b, 3).unwrap();
    assert_eq!(z.free_blocks(MAX_ORDER), 2);
    assert!((0..MAX_ORDER).all(|o| z.free_blocks(o) == 0));
    assert_eq!((z.free_frames(), z.frames_in_use()), (1024, 0));
    assert_eq!((z.alloc_total(0), z.alloc_total(3)), (1, 1));
    z.check_invariants().unwrap();
}

#[test]
fn exhaustion_and_full_recovery() {
    for order in [0, 2, 5, MAX_ORDER] {
        let mut m = meta(3000);
        let mut z = BuddyZone::new(0, 0, &mut m).unwrap();
        z.add_free_range(3, 2990).unwrap();
        let start: Vec<u64> = (0..ORDERS).map(|o| z.free_blocks(o)).collect();
        let total = z.free_frames();
        let mut got = Vec::new();
        while let Ok(p) = z.alloc(order) {
            got.push(p);
        }
        assert_eq!(z.alloc(order), Err(AllocError::OutOfMemory(order)));
        assert!((order..ORDERS).all(|o| z.free_blocks(o) == 0));
        assert_eq!(z.frames_in_use(), (got.len() as u64) << order);
        z.check_invariants().unwrap();
        for p in got {
            z.free(p, order).unwrap();
        }
        let end: Vec<u64> = (0..ORDERS).map(|o| z.free_blocks(o)).collect();
        assert_eq!(start, end, "order {order}");
        assert_eq!((z.free_frames(), z.frames_in_use()), (total, 0));
        z.check_invariants().unwrap();
    }
}

#[test]
fn free_error_cases_leave_state_intact() {
    let mut m = meta(2048);
    let mut z = BuddyZone::new(0, 1024, &mut m).unwrap();
    z.add_free_range(1024, 2048).unwrap(); // [2048, 3072) stays reserved
    let p = z.alloc(2).unwrap();
    let q = z.alloc(0).unwrap();
    z.free(q, 0).unwrap();
    let before = (z.free_frames(), z.frames_in_use());

    assert_eq!(z.free(p, 10), Err(FreeError::BadOrder(10)));
    assert_eq!(
        z.free(p + 1, 1),
        Err(FreeError::Misaligned {
            pfn: p + 1,
            order: 1
        })
    );
    assert_eq!(z.free(0, 0), Err(FreeError::OutOfZone(0)));
    assert_eq!(z.free(3072, 0), Err(FreeError::OutOfZone(3072)));
    assert_eq!(
        z.free(3072 - 512, MAX_ORDER),
        Err(FreeError::NotAllocated(2560))
    );
    assert_eq!(z.free(q, 0), Err(FreeError::DoubleFree(q)));
    assert_eq!(
        z.free(p, 1),
        Err(FreeError::WrongOrder {
            pfn: p,
            order: 1,
            allocated: 2
        })
    );
    assert_eq!(
        z.free(p + 2, 1),
        Err(FreeError::NotBlockHead {
            pfn: p + 2,
            head: p,
            order: 2
        })
    );
    // A frame deep inside a large free block is a double free too.
    assert_eq!(z.free(1024 + 700, 0), Err(FreeError::DoubleFree(1724)));
    assert_eq!(z.alloc(MAX_ORDER + 1), Err(AllocError::BadOrder(10)));

    assert_eq!((z.free_frames(), z.frames_in_use()), before);
    z.check_invariants().unwrap();
    z.free(p, 2).unwrap();
    assert_eq!(z.free(p, 2), Err(FreeError::DoubleFree(p)));
    assert_eq!(z.free_blocks(MAX_ORDER), 2);
    z.check_invariants().unwrap();
    assert!(!format!(
        "{}",
        FreeError::WrongOrder {
            pfn: 1,
            order: 0,
            allocated: 1
        }
    )
    .is_empty());
}

#[test]
fn holes_are_never_handed_out() {
    // Three islands with holes between; nothing allocated may touch a hole.
    let mut m = meta(4096);
    let mut z = BuddyZone::new(0, 0, &mut m).unwrap();
    let islands = [(0u64, 700u64), (1000, 1100), (1536, 4096)];
    for (s, e) in islands {
        z.add_free_range(s, e).unwrap();
    }
    let in_island = |p: u64, o: usize| islands.iter().any(|&(s, e)| p >= s && p + (1 << o) <= e);
    for o in (0..=MAX_ORDER).rev() {
        while let Ok(p) = z.alloc(o) {
            assert!(in_island(p, o), "order {o} block {p} crosses a hole");
        }
    }
    assert_eq!(z.free_frames(), 0);
    assert_eq!(z.frames_in_use(), 700 + 100 + 2560);
    z.check_invariants().unwrap();
}

#[test]
fn randomized_alloc_free_keeps_invariants() {
    let mut m = meta(5000);
    let mut z = BuddyZone::new(0, 77, &mut m).unwrap();
    z.add_free_range(77, 2000).unwrap();
    z.add_free_range(2100, 5077).unwrap();
    let total = z.free_frames();
    let mut rng = crate::rng::XorShift::new(0x9e37_79b9_7f4a_7c15);
    let mut live: Vec<(u64, usize)> = Vec::new();
    for step in 0..4000 {
        if live.is_empty() || rng.below(100) < 55 {
            let o = rng.below(ORDERS as u64) as usize;
            match z.alloc(o) {
                Ok(p) => {
                    assert_eq!(p % (1 << o), 0);
                    live.push((p, o));
                }
                Err(e) => assert_eq!(e, AllocError::OutOfMemory(o)),
            }
        } else {
            let (p, o) = live.swap_remove(rng.below(live.len() as u64) as usize);
            z.free(p, o).unwrap();
        }
        let used: u64 = live.iter().map(|&(_, o)| 1u64 << o).sum();
        assert_eq!(z.frames_in_use(), used, "step {step}");
        assert_eq!(z.free_frames() + used, total, "step {step}");
        no_overlap(&mut live.clone());
        z.check_invariants().unwrap();
    }
    for (p, o) in live.drain(..) {
        z.free(p, o).unwrap();
    }
    assert_eq!((z.free_frames(), z.frames_in_use()), (total, 0));
    z.check_invariants().unwrap();
}

fn no_overlap(blocks: &mut [(u64, usize)]) {
    blocks.sort_unstable();
    for w in blocks.windows(2) {
        assert!(
            w[0].0 + (1 << w[0].1) <= w[1].0,
            "{:?} overlaps {:?}",
            w[0],
            w[1]
        );
    }
}

#[test]
fn block_of_finds_the_allocated_block_and_its_tag() {
    let mut m = meta(2048);
    let mut z = BuddyZone::new(0, 0x2000, &mut m).unwrap();
    z.add_free_range(0x2000, 0x2800).unwrap();
    let a = z.alloc_tagged(4, 7).unwrap();
    let b = z.alloc(0).unwrap();
    // Every frame inside the block reports the block, with its tag.
    for pfn in a..a + 16 {
        assert_eq!(z.block_of(pfn), Some((a, 4, 7)), "pfn {pfn:#x}");
    }
    assert_eq!(z.block_of(b), Some((b, 0, 0)));
    // Free, reserved and foreign frames belong to no block.
    let free_pfn = (0x2000..0x2800).find(|&p| z.block_of(p).is_none()).unwrap();
    assert!(!(a..a + 16).contains(&free_pfn) && free_pfn != b);
    assert_eq!(z.block_of(0x1fff), None);
    assert_eq!(z.block_of(0x2800), None);
    z.free(a, 4).unwrap();
    assert_eq!(z.block_of(a), None);
    assert_eq!(z.block_of(a + 3), None);
}

/// Bulk allocation and free: what a migration batch does with its destinations and sources.
mod bulk {
    use super::*;

    fn zone_of(m: &mut [FrameMeta], frames: u64) -> BuddyZone<'_> {
        let mut z = BuddyZone::new(0, 0, m).unwrap();
        z.add_free_range(0, frames).unwrap();
        z
    }

    #[test]
    fn alloc_bulk_gives_distinct_aligned_blocks_and_keeps_the_rest_free() {
        let mut m = meta(2048);
        let mut z = zone_of(&mut m, 2048);
        let mut out = Vec::new();
        z.alloc_bulk(2, 1, 300, |p| out.push(p)).unwrap();
        assert_eq!(out.len(), 300);
        let mut sorted = out.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 300, "every block once");
        for &p in &out {
            assert_eq!(p % 4, 0, "aligned to its order");
            assert_eq!(z.block_of(p + 3), Some((p, 2, 1)), "head, order and tag");
        }
        assert_eq!(z.frames_in_use(), 1200);
        assert_eq!(z.free_frames(), 2048 - 1200);
        assert_eq!(z.live_blocks(2), 300);
        assert_eq!(z.alloc_total(2), 300);
        z.check_invariants().unwrap();
        // The remainder is still usable by the ordinary allocator, to the last frame.
        let mut n = 0;
        while z.alloc(0).is_ok() {
            n += 1;
        }
        assert_eq!(n, 2048 - 1200);
        z.check_invariants().unwrap();
    }

    #[test]
    fn alloc_bulk_of_one_takes_an_exact_block_when_there_is_one() {
        let mut m = meta(1024);
        let mut z = zone_of(&mut m, 1024);
        let mut one = Vec::new();
        z.alloc_bulk(0, 1, 1, |p| one.push(p)).unwrap();
        // The split left one free block of each order 0..8: the next single block is the
        // order-0 one, with no further split.
        let before: Vec<u64> = (0..=MAX_ORDER).map(|o| z.free_blocks(o)).collect();
        z.alloc_bulk(0, 1, 1, |p| one.push(p)).unwrap();
        assert_eq!(z.free_blocks(0), before[0] - 1);
        for (o, &n) in before.iter().enumerate().skip(1) {
            assert_eq!(z.free_blocks(o), n, "order {o} untouched");
        }
        // A whole 2 MiB batch takes a whole 2 MiB block: no remainder on the lists.
        let mut batch = Vec::new();
        let nine = z.free_blocks(9);
        z.alloc_bulk(0, 1, 512, |p| batch.push(p)).unwrap();
        assert_eq!(z.free_blocks(9), nine - 1);
        assert_eq!(batch[511] - batch[0], 511, "one contiguous block");
        z.check_invariants().unwrap();
    }

    #[test]
    fn alloc_bulk_is_all_or_nothing() {
        let mut m = meta(1024);
        let mut z = zone_of(&mut m, 1024);
        assert_eq!(z.available(0), 1024);
        assert_eq!(z.available(9), 2);
        let mut out = vec![7];
        assert_eq!(
            z.alloc_bulk(0, 1, 1025, |p| out.push(p)),
            Err(AllocError::OutOfMemory(0))
        );
        assert_eq!(out, vec![7], "nothing appended");
        assert_eq!((z.free_frames(), z.frames_in_use()), (1024, 0));
        assert_eq!(
            z.alloc_bulk(10, 1, 1, |p| out.push(p)),
            Err(AllocError::BadOrder(10))
        );
        z.check_invariants().unwrap();
        z.alloc_bulk(0, 1, 1024, |p| out.push(p)).unwrap();
        assert_eq!(z.free_frames(), 0);
        z.check_invariants().unwrap();
    }

    #[test]
    fn free_bulk_returns_every_frame_and_merges_back_to_the_largest_blocks() {
        let mut m = meta(2048);
        let mut z = zone_of(&mut m, 2048);
        let mut out = Vec::new();
        z.alloc_bulk(0, 1, 1500, |p| out.push(p)).unwrap();
        // Free in an order that is not the allocation order: runs must still be found.
        let (a, b) = out.split_at(700);
        z.free_bulk(b, 0).unwrap();
        z.check_invariants().unwrap();
        z.free_bulk(a, 0).unwrap();
        z.check_invariants().unwrap();
        assert_eq!((z.free_frames(), z.frames_in_use()), (2048, 0));
        assert_eq!(z.free_blocks(9), 4, "all merged back to 2 MiB blocks");
        assert_eq!(z.live_blocks(0), 0);
    }

    #[test]
    fn free_bulk_of_scattered_blocks() {
        let mut m = meta(1024);
        let mut z = zone_of(&mut m, 1024);
        let mut out = Vec::new();
        z.alloc_bulk(1, 1, 512, |p| out.push(p)).unwrap();
        let odd: Vec<u64> = out.iter().copied().skip(1).step_by(2).collect();
        z.free_bulk(&odd, 1).unwrap();
        z.check_invariants().unwrap();
        assert_eq!(z.free_frames(), 512);
        assert_eq!(z.free_blocks(1), 256, "no buddy of a freed block is free");
    }

    #[test]
    fn free_bulk_refuses_without_changing_anything() {
        let mut m = meta(1024);
        let mut z = zone_of(&mut m, 1024);
        let mut out = Vec::new();
        z.alloc_bulk(0, 1, 8, |p| out.push(p)).unwrap();
        let before = (z.free_frames(), z.frames_in_use(), z.free_blocks(0));
        let dup = [out[0], out[1], out[0]];
        assert_eq!(
            z.free_bulk(&dup, 0),
            Err((2, FreeError::DoubleFree(out[0])))
        );
        assert_eq!(
            (z.free_frames(), z.frames_in_use(), z.free_blocks(0)),
            before
        );
        z.check_invariants().unwrap();
        let wrong = [out[0], 999];
        assert_eq!(z.free_bulk(&wrong, 0).unwrap_err().0, 1);
        let order = [out[0], out[2]];
        assert!(matches!(
            z.free_bulk(&order, 1),
            Err((0, FreeError::WrongOrder { .. }))
        ));
        z.check_invariants().unwrap();
        // Every block can still be freed afterwards, each exactly once.
        z.free_bulk(&out, 0).unwrap();
        assert_eq!(
            z.free_bulk(&out[..1], 0),
            Err((0, FreeError::DoubleFree(out[0])))
        );
        assert_eq!(z.frames_in_use(), 0);
        z.check_invariants().unwrap();
    }
}
