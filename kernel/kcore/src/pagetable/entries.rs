//! Entry-level helpers of [`super::AddressSpace`]: building, checking and clearing the
//! entries of one table. Each reads everything it needs before it writes.

use core::ops::Range;

use super::{
    indices, is_aligned, AddrKind, LeafFlags, PtError, TableMemory, ADDR_MASK, ENTRIES, HUGE,
    HUGE_ADDR_MASK, HUGE_ORDER, PAGE_SIZE, PHYS_LIMIT, PRESENT, USER, WRITABLE,
};

/// Bits of an entry referencing a lower table. Permissive on purpose: the CPU combines R/W and
/// U/S over every level of the walk (SDM §4.6), so the leaf alone decides access rights.
const TABLE_BITS: u64 = PRESENT | WRITABLE | USER;

/// Entry referencing the table at `frame`.
pub(super) fn table_entry(frame: u64) -> u64 {
    (frame & ADDR_MASK) | TABLE_BITS
}

/// Checks a folio's physical address.
pub(super) fn check_phys(pa: u64, order: u8) -> Result<(), PtError> {
    if pa >= PHYS_LIMIT {
        return Err(PtError::PhysTooLarge(pa));
    }
    if !is_aligned(pa, order) {
        return Err(PtError::Misaligned {
            addr: pa,
            order,
            kind: AddrKind::Physical,
        });
    }
    Ok(())
}

/// Index of the first present entry of `table` in `range`.
pub(super) fn first_present<M: TableMemory + ?Sized>(
    mem: &M,
    table: u64,
    range: Range<usize>,
) -> Option<usize> {
    range
        .into_iter()
        .find(|&i| mem.read_entry(table, i) & PRESENT != 0)
}

/// Writes a folio's leaf entries starting at `first`: one PDE with PS, or 2^order PTEs.
pub(super) fn write_leaves<M: TableMemory + ?Sized>(
    mem: &mut M,
    table: u64,
    first: usize,
    pa: u64,
    order: u8,
    flags: LeafFlags,
) {
    let bits = flags.bits();
    if order == HUGE_ORDER {
        mem.write_entry(table, first, (pa & HUGE_ADDR_MASK) | bits | HUGE);
        return;
    }
    for i in 0..1usize << order {
        let frame = pa + i as u64 * PAGE_SIZE;
        mem.write_entry(table, first + i, (frame & ADDR_MASK) | bits);
    }
}

/// Clears a 2 MiB leaf; a PDE referencing a page table is not a 2 MiB folio.
pub(super) fn unmap_huge<M: TableMemory + ?Sized>(
    mem: &mut M,
    pd: u64,
    va: u64,
) -> Result<u64, PtError> {
    let index = indices(va)[2];
    let pde = mem.read_entry(pd, index);
    if pde & PRESENT == 0 {
        return Err(PtError::NotMapped(va));
    }
    if pde & HUGE == 0 {
        return match first_present(mem, pde & ADDR_MASK, 0..ENTRIES) {
            Some(_) => Err(PtError::Inconsistent(va)),
            None => Err(PtError::NotMapped(va)),
        };
    }
    mem.write_entry(pd, index, 0);
    Ok(pde & HUGE_ADDR_MASK)
}

/// Clears a small folio's PTEs once all are present and map contiguous, aligned frames.
/// Each entry is read once.
pub(super) fn unmap_small<M: TableMemory + ?Sized>(
    mem: &mut M,
    pt: u64,
    va: u64,
    order: u8,
) -> Result<u64, PtError> {
    let first = indices(va)[3];
    let range = first..first + (1usize << order);
    let pa = mem.read_entry(pt, first) & ADDR_MASK;
    let (mut present, mut contiguous) = (0usize, true);
    for (k, i) in range.clone().enumerate() {
        let entry = mem.read_entry(pt, i);
        present += usize::from(entry & PRESENT != 0);
        contiguous &= entry & ADDR_MASK == pa + k as u64 * PAGE_SIZE;
    }
    if present == 0 {
        return Err(PtError::NotMapped(va));
    }
    if present != range.len() || !is_aligned(pa, order) || !contiguous {
        return Err(PtError::Inconsistent(va));
    }
    range.for_each(|i| mem.write_entry(pt, i, 0));
    Ok(pa)
}

/// Frees the table at `table` (of `level`) and the tables below it; returns how many.
pub(super) fn free_subtree<M: TableMemory + ?Sized>(
    mem: &mut M,
    table: u64,
    level: usize,
) -> usize {
    let mut freed = 0;
    // A PT's entries are all leaves; above it, PS marks a leaf.
    if level > 1 {
        for i in 0..ENTRIES {
            let entry = mem.read_entry(table, i);
            if entry & PRESENT != 0 && entry & HUGE == 0 {
                freed += free_subtree(mem, entry & ADDR_MASK, level - 1);
            }
        }
    }
    mem.free_table(table);
    freed + 1
}
