//! Host tests of the page-table module against [`fake::FakeMemory`].

mod batch;
mod fake;
mod lifecycle;
mod random;

use super::*;
use fake::FakeMemory;

/// Start of the workload region used by most tests (P4 slot 224).
const VA: u64 = 0x0000_7000_0000_0000;
/// Physical base of test folios: 1 GiB, aligned for every order.
const PA: u64 = 0x4000_0000;

/// A fresh space in fresh memory.
fn setup() -> (FakeMemory, AddressSpace) {
    let mut mem = FakeMemory::new();
    let space = AddressSpace::new(&mut mem).unwrap();
    (mem, space)
}

/// The entry at `level` (4..=1) on the walk to `va`, read by hand rather than by the module.
fn entry_at(mem: &FakeMemory, space: &AddressSpace, va: u64, level: usize) -> u64 {
    let idx = indices(va);
    let mut table = space.root();
    for l in (level + 1..=4).rev() {
        table = mem.read_entry(table, idx[4 - l]) & ADDR_MASK;
    }
    mem.read_entry(table, idx[4 - level])
}

/// Asserts a map or remap succeeded without replacing a table.
#[track_caller]
fn fresh(result: Result<MapOutcome, PtError>) {
    assert_eq!(result, Ok(MapOutcome::Fresh));
}

#[test]
fn indices_of_known_addresses() {
    assert_eq!(indices(0x0000_7000_0020_3000), [224, 0, 1, 3]);
    assert_eq!(indices(0), [0, 0, 0, 0]);
    assert_eq!(indices(0xFFFF_8000_0000_0000), [256, 0, 0, 0]);
    assert_eq!(indices(0xFFFF_FFFF_FFFF_F000), [511, 511, 511, 511]);
    assert_eq!(indices(0x0000_0080_4020_1FFF), [1, 1, 1, 1]);
}

#[test]
fn canonical_addresses() {
    assert!(is_canonical(0));
    assert!(is_canonical(0x0000_7FFF_FFFF_FFFF));
    assert!(is_canonical(0xFFFF_8000_0000_0000));
    assert!(is_canonical(u64::MAX));
    assert!(!is_canonical(0x0000_8000_0000_0000));
    assert!(!is_canonical(0xFFFF_7FFF_FFFF_FFFF));
    assert!(!is_canonical(0x0001_0000_0000_0000));
}

#[test]
fn sizes_and_alignment() {
    assert_eq!(folio_size(0), Some(4096));
    assert_eq!(folio_size(4), Some(64 << 10));
    assert_eq!(folio_size(9), Some(HUGE_PAGE_SIZE));
    assert_eq!(folio_size(10), None);
    assert_eq!(frames_in(9), Some(512));
    assert_eq!(frames_in(200), None);
    assert!(is_aligned(0x20_0000, 9));
    assert!(!is_aligned(0x10_0000, 9));
    assert!(is_aligned(0x10_0000, 8));
    assert!(!is_aligned(0x800, 0));
    assert!(!is_aligned(0, 10));
}

#[test]
fn leaf_flag_bits() {
    let data = LeafFlags::DATA.bits();
    assert_eq!(data, PRESENT | WRITABLE | NO_EXECUTE | ACCESSED | DIRTY);
    let ro_uc = LeafFlags {
        writable: false,
        no_execute: false,
        user: true,
        cache: CacheMode::Uncached,
        preset_accessed_dirty: false,
    };
    assert_eq!(ro_uc.bits(), PRESENT | USER | WRITE_THROUGH | CACHE_DISABLE);
    let wt = LeafFlags {
        cache: CacheMode::WriteThrough,
        ..LeafFlags::DATA
    };
    assert_eq!(wt.bits(), data | WRITE_THROUGH);
    assert_eq!(data & (HUGE | GLOBAL | ADDR_MASK), 0);
}

#[test]
fn map_and_translate_every_order() {
    for order in 0..=MAX_ORDER {
        let (mut mem, mut space) = setup();
        let size = folio_size(order).unwrap();
        let (va, pa) = (VA + 3 * size, PA + 5 * size);
        let out = space.map(&mut mem, va, pa, order, LeafFlags::DATA);
        assert_eq!(out, Ok(MapOutcome::Fresh), "order {order}");
        let table_bits = PRESENT | WRITABLE | USER;
        assert_eq!(entry_at(&mem, &space, va, 4) & !ADDR_MASK, table_bits);
        assert_eq!(entry_at(&mem, &space, va, 3) & !ADDR_MASK, table_bits);
        let bits = LeafFlags::DATA.bits();
        if order == 9 {
            assert_eq!(entry_at(&mem, &space, va, 2), pa | bits | HUGE);
            assert_eq!(space.table_frames(), 3);
        } else {
            assert_eq!(entry_at(&mem, &space, va, 2) & !ADDR_MASK, table_bits);
            for i in 0..1u64 << order {
                let pte = entry_at(&mem, &space, va + i * PAGE_SIZE, 1);
                assert_eq!(pte, (pa + i * PAGE_SIZE) | bits, "order {order} page {i}");
            }
            // Nothing written before the folio's PTEs (va is never 2 MiB aligned here).
            assert_eq!(entry_at(&mem, &space, va - PAGE_SIZE, 1), 0);
            assert_eq!(space.table_frames(), 4);
        }
        assert_eq!(mem.live(), space.table_frames());
        let leaf = if order == 9 {
            HUGE_PAGE_SIZE
        } else {
            PAGE_SIZE
        };
        for off in [0, 0x123, size / 2 + 8, size - 1] {
            let t = space.translate(&mem, va + off).unwrap();
            assert_eq!(
                (t.pa, t.leaf_size),
                (pa + off, leaf),
                "order {order} off {off:#x}"
            );
            assert_eq!(t.flags & NO_EXECUTE, NO_EXECUTE);
        }
        assert_eq!(space.translate(&mem, va + size), None);
        assert_eq!(space.translate(&mem, va - 1), None);
    }
}

#[test]
fn misaligned_addresses_rejected_for_every_order() {
    for order in 0..=MAX_ORDER {
        let (mut mem, mut space) = setup();
        let size = folio_size(order).unwrap();
        let half = size / 2;
        let f = LeafFlags::DATA;
        let virt = Err(PtError::Misaligned {
            addr: VA + half,
            order,
            kind: AddrKind::Virtual,
        });
        assert_eq!(space.map(&mut mem, VA + half, PA, order, f), virt);
        assert_eq!(space.remap(&mut mem, VA + half, PA, order, f), virt);
        assert_eq!(space.unmap(&mut mem, VA + half, order), virt.map(|_| 0));
        let phys = Err(PtError::Misaligned {
            addr: PA + half,
            order,
            kind: AddrKind::Physical,
        });
        assert_eq!(space.map(&mut mem, VA, PA + half, order, f), phys);
        assert_eq!(mem.live(), 1, "nothing allocated for a refused map");
        assert_eq!(space.translate(&mem, VA), None);
    }
}

#[test]
fn bad_arguments_rejected() {
    let (mut mem, mut space) = setup();
    let f = LeafFlags::DATA;
    assert_eq!(
        space.map(&mut mem, VA, PA, 10, f),
        Err(PtError::BadOrder(10))
    );
    assert_eq!(space.unmap(&mut mem, VA, 255), Err(PtError::BadOrder(255)));
    assert_eq!(
        space.remap(&mut mem, VA, PA, 12, f),
        Err(PtError::BadOrder(12))
    );
    let nc = 0x0000_8000_0000_0000;
    assert_eq!(
        space.map(&mut mem, nc, PA, 0, f),
        Err(PtError::NonCanonical(nc))
    );
    assert_eq!(space.translate(&mem, nc), None);
    let high = 0xFFFF_8000_0000_0000;
    assert_eq!(
        space.map(&mut mem, high, PA, 9, f),
        Err(PtError::OutsideWindow(high))
    );
    let big = PHYS_LIMIT;
    assert_eq!(
        space.map(&mut mem, VA, big, 0, f),
        Err(PtError::PhysTooLarge(big))
    );
    assert_eq!(mem.live(), 1);
}

#[test]
fn overlapping_mappings_rejected() {
    let (mut mem, mut space) = setup();
    let f = LeafFlags::DATA;
    // A 2 MiB leaf, then small folios inside it.
    fresh(space.map(&mut mem, VA, PA, 9, f));
    for (va, order) in [(VA, 0), (VA + 0x5000, 0), (VA + 0x10_0000, 8), (VA, 9)] {
        assert_eq!(
            space.map(&mut mem, va, PA, order, f),
            Err(PtError::AlreadyMapped(va))
        );
    }
    // Small folios, then a 2 MiB folio and overlapping small ones over them.
    let base = VA + HUGE_PAGE_SIZE;
    fresh(space.map(&mut mem, base + 0x8000, PA, 3, f));
    let conflict = |va| Err(PtError::AlreadyMapped(va));
    assert_eq!(space.map(&mut mem, base, PA, 9, f), conflict(base + 0x8000));
    assert_eq!(space.map(&mut mem, base, PA, 4, f), conflict(base + 0x8000));
    assert_eq!(
        space.map(&mut mem, base + 0xB000, PA, 0, f),
        conflict(base + 0xB000)
    );
    assert_eq!(
        space.map(&mut mem, base + 0x8000, PA, 3, f),
        conflict(base + 0x8000)
    );
    // Neighbours are fine.
    fresh(space.map(&mut mem, base + 0x4000, PA + 0x4000, 2, f));
    fresh(space.map(&mut mem, base + 0x10000, PA + 0x10000, 4, f));
    assert_eq!(space.translate(&mem, base + 0x8000).unwrap().pa, PA);
    assert_eq!(mem.live(), space.table_frames());
}

#[test]
fn errors_display() {
    use alloc::string::ToString;
    let cases = [
        (PtError::OutOfMemory, "out of"),
        (PtError::NonCanonical(0x8000_0000_0000), "0x800000000000"),
        (PtError::BadOrder(11), "11"),
        (PtError::AlreadyMapped(0x1000), "already"),
        (PtError::NotMapped(0x2000), "not mapped"),
        (PtError::Inconsistent(0x3000), "0x3000"),
        (
            PtError::Misaligned {
                addr: 0x800,
                order: 0,
                kind: AddrKind::Physical,
            },
            "physical",
        ),
        (PtError::BadSlots { start: 3, end: 1 }, "3..1"),
    ];
    for (err, needle) in cases {
        assert!(err.to_string().contains(needle), "{err}");
    }
}
