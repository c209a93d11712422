//! Batch unmap and remap against per-folio unmap and remap.

use super::*;
use std::cell::Cell;

const F: LeafFlags = LeafFlags::DATA;

/// Memory that counts reads of one table (the PML4: one per walk from the root).
struct Counting {
    inner: FakeMemory,
    root: u64,
    root_reads: Cell<usize>,
}

impl TableMemory for Counting {
    fn alloc_table(&mut self) -> Option<u64> {
        self.inner.alloc_table()
    }
    fn free_table(&mut self, phys: u64) {
        self.inner.free_table(phys)
    }
    fn read_entry(&self, table: u64, index: usize) -> u64 {
        if table == self.root {
            self.root_reads.set(self.root_reads.get() + 1);
        }
        self.inner.read_entry(table, index)
    }
    fn write_entry(&mut self, table: u64, index: usize, value: u64) {
        self.inner.write_entry(table, index, value)
    }
}

/// `n` folios of `order` mapped back to back from VA, physical back to back from PA.
fn mapped(order: u8, n: u64) -> (FakeMemory, AddressSpace, Vec<(u64, u8)>) {
    let (mut mem, mut space) = setup();
    let size = folio_size(order).unwrap();
    let folios: Vec<(u64, u8)> = (0..n).map(|i| (VA + i * size, order)).collect();
    for (i, &(va, _)) in folios.iter().enumerate() {
        fresh(space.map(&mut mem, va, PA + i as u64 * size, order, F));
    }
    (mem, space, folios)
}

#[test]
fn unmap_batch_matches_per_folio_unmap_and_walks_once_per_table() {
    // 1100 folios of 4 KiB span three page tables.
    let (mem, mut space, folios) = mapped(0, 1100);
    let mut counting = Counting {
        inner: mem,
        root: space.root(),
        root_reads: Cell::new(0),
    };
    let mut pas = Vec::new();
    space.unmap_batch(&mut counting, &folios, &mut pas).unwrap();
    let want: Vec<u64> = (0..1100).map(|i| PA + i * PAGE_SIZE).collect();
    assert_eq!(pas, want);
    assert_eq!(counting.root_reads.get(), 3, "one walk per page table");
    for &(va, _) in &folios {
        assert_eq!(space.translate(&counting.inner, va), None);
    }
    // Remap to new frames, again one walk per table.
    counting.root_reads.set(0);
    let new: Vec<(u64, u64, u8)> = folios
        .iter()
        .enumerate()
        .map(|(i, &(va, o))| (va, PA + HUGE_PAGE_SIZE * 8 + i as u64 * PAGE_SIZE, o))
        .collect();
    let mut replaced = Vec::new();
    space
        .remap_batch(&mut counting, &new, F, &mut replaced)
        .unwrap();
    assert!(replaced.is_empty());
    assert_eq!(counting.root_reads.get(), 3);
    for &(va, pa, _) in &new {
        let t = space.translate(&counting.inner, va + 5).unwrap();
        assert_eq!(t.pa, pa + 5);
    }
    assert_eq!(
        counting.inner.allocs,
        space.table_frames(),
        "remap allocates nothing"
    );
}

#[test]
fn batch_of_mixed_orders() {
    let (mut mem, mut space) = setup();
    // A 2 MiB folio, then 16 KiB and 4 KiB folios in the next 2 MiB region.
    let folios = [
        (VA, PA, 9u8),
        (VA + HUGE_PAGE_SIZE, PA + HUGE_PAGE_SIZE, 2),
        (
            VA + HUGE_PAGE_SIZE + 0x4000,
            PA + HUGE_PAGE_SIZE + 0x4000,
            0,
        ),
        (VA + 2 * HUGE_PAGE_SIZE, PA + 4 * HUGE_PAGE_SIZE, 9),
    ];
    for &(va, pa, o) in &folios {
        fresh(space.map(&mut mem, va, pa, o, F));
    }
    let vas: Vec<(u64, u8)> = folios.iter().map(|&(va, _, o)| (va, o)).collect();
    let mut pas = Vec::new();
    space.unmap_batch(&mut mem, &vas, &mut pas).unwrap();
    assert_eq!(pas, folios.iter().map(|f| f.1).collect::<Vec<_>>());
    let mut replaced = Vec::new();
    space
        .remap_batch(&mut mem, &folios, F, &mut replaced)
        .unwrap();
    for &(va, pa, o) in &folios {
        let t = space.translate(&mem, va).unwrap();
        assert_eq!(
            (t.pa, t.leaf_size),
            (pa, if o == 9 { HUGE_PAGE_SIZE } else { PAGE_SIZE })
        );
    }
}

#[test]
fn unmap_batch_stops_at_the_first_refused_folio() {
    let (mut mem, mut space, mut folios) = mapped(0, 8);
    folios[5].0 = VA + 100 * PAGE_SIZE; // never mapped
    let mut pas = Vec::new();
    assert_eq!(
        space.unmap_batch(&mut mem, &folios, &mut pas),
        Err((5, PtError::NotMapped(VA + 100 * PAGE_SIZE)))
    );
    assert_eq!(pas.len(), 5, "folios before it unmapped");
    for i in 0..8u64 {
        let mapped = space.translate(&mem, VA + i * PAGE_SIZE).is_some();
        assert_eq!(mapped, i >= 5, "folio {i}");
    }
    // A misaligned folio is refused before the tree is read.
    let bad = [(VA + 6 * PAGE_SIZE, 0u8), (VA + PAGE_SIZE, 1)];
    let mut pas = Vec::new();
    assert!(matches!(
        space.unmap_batch(&mut mem, &bad, &mut pas),
        Err((1, PtError::Misaligned { .. }))
    ));
}

#[test]
fn remap_batch_stops_at_the_first_refused_folio() {
    let (mut mem, mut space, folios) = mapped(0, 8);
    let mut pas = Vec::new();
    space.unmap_batch(&mut mem, &folios[..6], &mut pas).unwrap();
    // Folio 6 is still mapped: remapping it is refused, 0..6 are done.
    let new: Vec<(u64, u64, u8)> = folios
        .iter()
        .map(|&(va, o)| (va, va - VA + PA + HUGE_PAGE_SIZE, o))
        .collect();
    let mut replaced = Vec::new();
    assert_eq!(
        space.remap_batch(&mut mem, &new, F, &mut replaced),
        Err((6, PtError::AlreadyMapped(VA + 6 * PAGE_SIZE)))
    );
    for (i, &(va, pa, _)) in new.iter().enumerate() {
        let want = if i < 6 { pa } else { PA + i as u64 * PAGE_SIZE };
        assert_eq!(space.translate(&mem, va).unwrap().pa, want, "folio {i}");
    }
    // Where no table exists, remap refuses rather than allocating.
    let far = [(VA + 64 * HUGE_PAGE_SIZE, PA, 0u8)];
    assert_eq!(
        space.remap_batch(&mut mem, &far, F, &mut replaced),
        Err((0, PtError::NoTable(VA + 64 * HUGE_PAGE_SIZE)))
    );
}

#[test]
fn remap_batch_reports_a_replaced_table() {
    let (mut mem, mut space, folios) = mapped(0, 4);
    let mut pas = Vec::new();
    space.unmap_batch(&mut mem, &folios, &mut pas).unwrap();
    let tables = space.table_frames();
    // A 2 MiB folio where the (now empty) page table was, then a 4 KiB folio in the
    // next region, where no page table exists.
    let batch = [(VA, PA, 9u8), (VA + HUGE_PAGE_SIZE, PA, 0)];
    let mut replaced = Vec::new();
    assert_eq!(
        space.remap_batch(&mut mem, &batch, F, &mut replaced),
        Err((1, PtError::NoTable(VA + HUGE_PAGE_SIZE)))
    );
    assert_eq!(replaced, vec![VA]);
    assert_eq!(
        space.table_frames(),
        tables - 1,
        "the empty page table was freed"
    );
    assert_eq!(
        space.translate(&mem, VA + 0x1234).unwrap().leaf_size,
        HUGE_PAGE_SIZE
    );
}
