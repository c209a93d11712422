//! Unmap, remap, failure atomicity, table replacement, sharing and destroy.

use super::*;

const F: LeafFlags = LeafFlags::DATA;

#[test]
fn unmap_returns_pa_and_remap_moves_the_folio() {
    for order in 0..=MAX_ORDER {
        let (mut mem, mut space) = setup();
        let size = folio_size(order).unwrap();
        fresh(space.map(&mut mem, VA, PA, order, F));
        let tables = space.table_frames();
        assert_eq!(space.unmap(&mut mem, VA, order), Ok(PA));
        assert_eq!(space.translate(&mem, VA), None);
        assert_eq!(space.translate(&mem, VA + size - 1), None);
        assert_eq!(space.table_frames(), tables, "unmap keeps tables");
        assert_eq!(
            space.unmap(&mut mem, VA, order),
            Err(PtError::NotMapped(VA))
        );
        let new_pa = PA + 7 * HUGE_PAGE_SIZE;
        assert_eq!(
            space.remap(&mut mem, VA, new_pa, order, F),
            Ok(MapOutcome::Fresh)
        );
        assert_eq!(mem.allocs, tables, "remap allocates nothing");
        let t = space.translate(&mem, VA + size - 1).unwrap();
        assert_eq!(t.pa, new_pa + size - 1);
        let again = space.remap(&mut mem, VA, PA, order, F);
        assert_eq!(again, Err(PtError::AlreadyMapped(VA)));
        assert_eq!(space.unmap(&mut mem, VA, order), Ok(new_pa));
    }
}

#[test]
fn remap_never_allocates() {
    let (mut mem, mut space) = setup();
    assert_eq!(
        space.remap(&mut mem, VA, PA, 0, F),
        Err(PtError::NoTable(VA))
    );
    assert_eq!(
        space.remap(&mut mem, VA, PA, 9, F),
        Err(PtError::NoTable(VA))
    );
    fresh(space.map(&mut mem, VA, PA, 9, F));
    // The PD exists now, but a small folio elsewhere in it still lacks a PT.
    let other = VA + HUGE_PAGE_SIZE;
    assert_eq!(
        space.remap(&mut mem, other, PA, 0, F),
        Err(PtError::NoTable(other))
    );
    assert_eq!(
        space.remap(&mut mem, other, PA, 9, F),
        Ok(MapOutcome::Fresh)
    );
    assert_eq!(mem.live(), 3);
}

#[test]
fn partial_or_scattered_folios_are_inconsistent() {
    let (mut mem, mut space) = setup();
    // Only the second page of an order-2 range is present.
    fresh(space.map(&mut mem, VA + 0x1000, PA, 0, F));
    assert_eq!(space.unmap(&mut mem, VA, 2), Err(PtError::Inconsistent(VA)));
    // Two pages present but physically apart.
    fresh(space.map(&mut mem, VA, PA + 0x3000, 0, F));
    assert_eq!(space.unmap(&mut mem, VA, 1), Err(PtError::Inconsistent(VA)));
    // Contiguous but the first frame is not aligned to the folio.
    let b = VA + 0x10000;
    fresh(space.map(&mut mem, b, PA + 0x1000, 0, F));
    fresh(space.map(&mut mem, b + 0x1000, PA + 0x2000, 0, F));
    assert_eq!(space.unmap(&mut mem, b, 1), Err(PtError::Inconsistent(b)));
    // Refusals changed nothing.
    assert_eq!(space.translate(&mem, VA).unwrap().pa, PA + 0x3000);
    assert_eq!(space.translate(&mem, b + 0x1000).unwrap().pa, PA + 0x2000);
    // A 4 KiB unmap inside a 2 MiB leaf, and a 2 MiB unmap over PTEs.
    let h = VA + HUGE_PAGE_SIZE;
    fresh(space.map(&mut mem, h, PA, 9, F));
    assert_eq!(
        space.unmap(&mut mem, h + 0x1000, 0),
        Err(PtError::Inconsistent(h + 0x1000))
    );
    assert_eq!(space.unmap(&mut mem, VA, 9), Err(PtError::Inconsistent(VA)));
    // A 2 MiB unmap over an empty PT is simply not mapped.
    for (va, order) in [(VA, 0), (VA + 0x1000, 0), (b, 0), (b + 0x1000, 0)] {
        space.unmap(&mut mem, va, order).unwrap();
    }
    assert_eq!(space.unmap(&mut mem, VA, 9), Err(PtError::NotMapped(VA)));
    let far = 0x0000_0100_0000_0000;
    assert_eq!(space.unmap(&mut mem, far, 3), Err(PtError::NotMapped(far)));
}

#[test]
fn huge_map_replaces_an_empty_page_table() {
    let (mut mem, mut space) = setup();
    fresh(space.map(&mut mem, VA + 0x4000, PA, 2, F));
    assert_eq!(space.table_frames(), 4);
    space.unmap(&mut mem, VA + 0x4000, 2).unwrap();
    assert_eq!(
        space.map(&mut mem, VA, PA, 9, F),
        Ok(MapOutcome::ReplacedTable)
    );
    assert_eq!(space.table_frames(), 3);
    assert_eq!(mem.live(), 3);
    assert_eq!(
        space.translate(&mem, VA + 0x4321).unwrap().leaf_size,
        HUGE_PAGE_SIZE
    );
    // And back: a small folio after the huge one is gone allocates a new PT.
    space.unmap(&mut mem, VA, 9).unwrap();
    fresh(space.map(&mut mem, VA, PA, 0, F));
    assert_eq!(space.table_frames(), 4);
    assert_eq!(mem.live(), 4);
}

#[test]
fn allocation_failure_leaves_nothing_behind() {
    for order in [0u8, 5, 9] {
        let needed = if order == 9 { 2 } else { 3 };
        for allowed in 0..needed {
            let (mut mem, mut space) = setup();
            mem.fail_after = Some(allowed);
            let r = space.map(&mut mem, VA, PA, order, F);
            assert_eq!(
                r,
                Err(PtError::OutOfMemory),
                "order {order} allowed {allowed}"
            );
            assert_eq!(mem.live(), 1, "no leaked tables");
            assert_eq!(space.table_frames(), 1);
            assert!(mem.table(space.root()).iter().all(|&e| e == 0));
            assert_eq!(space.translate(&mem, VA), None);
            mem.fail_after = None;
            fresh(space.map(&mut mem, VA, PA, order, F));
            assert_eq!(mem.live(), space.table_frames());
        }
    }
    // Failing below an existing PDPT: only the missing PD and PT are needed.
    let (mut mem, mut space) = setup();
    fresh(space.map(&mut mem, VA, PA, 0, F));
    mem.fail_after = Some(1);
    let far = VA + GIANT_PAGE_SIZE;
    assert_eq!(
        space.map(&mut mem, far, PA, 0, F),
        Err(PtError::OutOfMemory)
    );
    assert_eq!(mem.live(), 4);
    assert_eq!(entry_at(&mem, &space, far, 3), 0);
    let mut none = FakeMemory::new();
    none.fail_after = Some(0);
    assert!(matches!(
        AddressSpace::new(&mut none),
        Err(PtError::OutOfMemory)
    ));
}

/// A kernel tree: slot 0 identity-maps 0..4 MiB with 2 MiB leaves, slot 256 maps 1 GiB.
fn kernel_tree(mem: &mut FakeMemory) -> (u64, [u64; 4]) {
    let root = mem.alloc_table().unwrap();
    let (pdpt0, pd0, pdpt_hi) = (
        mem.alloc_table().unwrap(),
        mem.alloc_table().unwrap(),
        mem.alloc_table().unwrap(),
    );
    let table = PRESENT | WRITABLE;
    mem.write_entry(root, 0, pdpt0 | table);
    mem.write_entry(pdpt0, 0, pd0 | table);
    mem.write_entry(pd0, 0, table | HUGE);
    mem.write_entry(pd0, 1, HUGE_PAGE_SIZE | table | HUGE);
    mem.write_entry(root, 256, pdpt_hi | table);
    mem.write_entry(pdpt_hi, 0, table | HUGE | GLOBAL);
    (root, [root, pdpt0, pd0, pdpt_hi])
}

#[test]
fn shared_kernel_entries_are_visible_and_untouched() {
    let (mut mem, mut space) = setup();
    let (kroot, ktables) = kernel_tree(&mut mem);
    let snapshot: Vec<_> = ktables.iter().map(|&t| mem.table(t)).collect();
    space.share_kernel_entries(&mut mem, kroot, 0..1).unwrap();
    space
        .share_kernel_entries(&mut mem, kroot, 256..512)
        .unwrap();
    space.share_kernel_entries(&mut mem, kroot, 0..1).unwrap();
    mem.written.clear();
    let t = space.translate(&mem, 0x0030_1234).unwrap();
    assert_eq!((t.pa, t.leaf_size), (0x0030_1234, HUGE_PAGE_SIZE));
    let t = space.translate(&mem, 0xFFFF_8000_1234_5678).unwrap();
    assert_eq!((t.pa, t.leaf_size), (0x1234_5678, GIANT_PAGE_SIZE));
    // Slot 0 is the kernel's now: no map, unmap or remap there.
    let low = 0x0060_0000;
    assert_eq!(
        space.map(&mut mem, low, PA, 9, F),
        Err(PtError::SharedSlot(low))
    );
    assert_eq!(space.unmap(&mut mem, 0, 9), Err(PtError::SharedSlot(0)));
    assert_eq!(
        space.remap(&mut mem, 0, PA, 9, F),
        Err(PtError::SharedSlot(0))
    );
    // Workload mappings elsewhere, then destroy.
    for i in 0..20u64 {
        let order = (i % 10) as u8;
        let va = VA + i * GIANT_PAGE_SIZE / 4;
        fresh(space.map(&mut mem, va, PA, order, F));
    }
    assert_eq!(mem.live(), space.table_frames() + ktables.len());
    let expected = space.table_frames();
    let kernel_written = ktables.iter().any(|t| mem.written.contains(t));
    assert!(!kernel_written, "kernel tables written");
    assert_eq!(space.destroy(&mut mem), expected);
    assert_eq!(mem.live(), ktables.len(), "only kernel tables remain");
    for (t, before) in ktables.iter().zip(&snapshot) {
        assert_eq!(&mem.table(*t), before);
    }
}

#[test]
fn bad_slot_ranges_and_used_slots_refused() {
    let (mut mem, mut space) = setup();
    let (kroot, _) = kernel_tree(&mut mem);
    #[allow(clippy::reversed_empty_ranges)]
    let reversed = 5..3;
    for slots in [5..5, reversed, 0..513] {
        let err = PtError::BadSlots {
            start: slots.start,
            end: slots.end,
        };
        assert_eq!(space.share_kernel_entries(&mut mem, kroot, slots), Err(err));
    }
    fresh(space.map(&mut mem, 0x20_0000, PA, 9, F));
    let r = space.share_kernel_entries(&mut mem, kroot, 0..2);
    assert_eq!(r, Err(PtError::SlotInUse(0)));
    assert!(!space.is_shared_slot(1), "a refused share changes nothing");
    assert_eq!(space.translate(&mem, 0x20_0000).unwrap().pa, PA);
}

#[test]
fn destroy_of_empty_and_busy_spaces_balances() {
    let (mut mem, space) = setup();
    assert_eq!(space.destroy(&mut mem), 1);
    assert_eq!(mem.live(), 0);
    let (mut mem, mut space) = setup();
    for i in 0..64u64 {
        fresh(space.map(&mut mem, VA + i * 0x1_0000, PA, 4, F));
    }
    space.unmap(&mut mem, VA, 4).unwrap();
    fresh(space.map(&mut mem, VA + GIANT_PAGE_SIZE, PA, 9, F));
    let frames = space.table_frames();
    assert_eq!(space.destroy(&mut mem), frames);
    assert_eq!(mem.live(), 0);
    assert_eq!(mem.allocs, mem.frees);
}
