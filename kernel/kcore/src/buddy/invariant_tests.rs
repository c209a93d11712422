//! Host tests of [`BuddyZone::check_invariants`]: each corruption is reported as its own
//! variant, so a broken zone says what is broken and where.

use super::*;
use alloc::string::ToString;
use alloc::vec;

/// A zone of 8 frames at PFN 0x100 with one free order-2 block at 0x100 (frames 0..4).
fn zone(m: &mut [FrameMeta]) -> BuddyZone<'_> {
    let mut z = BuddyZone::new(0, 0x100, m).unwrap();
    z.add_free_range(0x100, 0x104).unwrap();
    z.check_invariants().unwrap();
    z
}

#[test]
fn free_list_corruptions_are_named() {
    let mut m = vec![FrameMeta::FREE_INIT; 8];
    let mut z = zone(&mut m);
    z.free_blocks[2] += 1;
    assert_eq!(
        z.check_invariants(),
        Err(InvariantError::FreeCount {
            order: 2,
            listed: 1,
            counted: 2
        })
    );
    z.free_blocks[2] -= 1;
    z.meta[0].order = 1;
    assert_eq!(
        z.check_invariants(),
        Err(InvariantError::FreeListEntry {
            order: 2,
            pfn: 0x100
        })
    );
    z.meta[0].order = 2;
    z.meta[0].next = 5000;
    assert_eq!(
        z.check_invariants(),
        Err(InvariantError::FreeListIndex {
            order: 2,
            index: 5000
        })
    );
}

#[test]
fn misaligned_free_block_is_named() {
    let mut m = vec![FrameMeta::FREE_INIT; 8];
    let mut z = zone(&mut m);
    // Move the order-2 block's head from frame 0 to frame 1 (PFN 0x101), links intact.
    z.meta[1] = z.meta[0];
    z.meta[0] = FrameMeta::FREE_INIT;
    z.free_head[2] = 1;
    assert_eq!(
        z.check_invariants(),
        Err(InvariantError::FreeMisaligned {
            order: 2,
            pfn: 0x101
        })
    );
}

#[test]
fn frame_walk_corruptions_are_named() {
    let mut m = vec![FrameMeta::FREE_INIT; 8];
    let mut z = zone(&mut m);
    z.meta[5].state = State::Tail;
    assert_eq!(z.check_invariants(), Err(InvariantError::StrayTail(0x105)));
    z.meta[5].state = State::Reserved;
    z.meta[2].state = State::Reserved;
    assert_eq!(z.check_invariants(), Err(InvariantError::BrokenBody(0x100)));
    z.meta[2].state = State::Tail;
    // An allocated order-1 block at frames 6..8 claimed as order 2 reaches frame 10 of 8.
    z.add_free_range(0x106, 0x108).unwrap();
    assert_eq!(z.alloc(1), Ok(0x106));
    z.meta[6].order = 2;
    assert_eq!(
        z.check_invariants(),
        Err(InvariantError::BlockLeavesZone(0x106))
    );
}

#[test]
fn counter_corruptions_are_named() {
    let mut m = vec![FrameMeta::FREE_INIT; 8];
    let mut z = zone(&mut m);
    z.free_frames += 1;
    assert_eq!(z.check_invariants(), Err(InvariantError::FrameCounters));
    z.free_frames -= 1;
    assert_eq!(z.alloc(0), Ok(0x100));
    z.check_invariants().unwrap();
    z.live_blocks[0] += 1;
    assert_eq!(z.check_invariants(), Err(InvariantError::LiveCounters));
}

#[test]
fn messages_are_the_ones_the_kernel_prints() {
    assert_eq!(
        InvariantError::FrameCounters.to_string(),
        "frame counters disagree with states"
    );
    assert_eq!(
        InvariantError::BrokenBody(0x100).to_string(),
        "block body is not all tail frames"
    );
}
