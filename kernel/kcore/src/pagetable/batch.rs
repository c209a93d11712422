//! Batch unmap and remap: the folios of one migration batch in one call, walking from the
//! root once per leaf table instead of once per folio (512 folios of 4 KiB share one page
//! table, so a 2 MiB batch of them walks once).
//!
//! Each folio is checked exactly as [`AddressSpace::unmap`] / [`AddressSpace::remap`] check
//! it; the first one refused stops the batch with its index, and the folios before it are
//! done (the caller rolls them back), the rest untouched.

use alloc::vec::Vec;

use super::entries::{check_phys, unmap_huge, unmap_small};
use super::space::Walk;
use super::{AddressSpace, LeafFlags, MapOutcome, PtError, TableMemory, HUGE_ORDER};

/// The leaf table the last walk found, valid for every address it covers.
#[derive(Default)]
struct LeafCache {
    /// `(leaf level, va >> bits covered by that table)` of the cached walk.
    key: Option<(usize, u64)>,
    /// Physical address of the table holding the leaves.
    table: u64,
}

impl LeafCache {
    fn key(va: u64, level: usize) -> (usize, u64) {
        // A level-1 table (PT) covers 2 MiB, a level-2 table (PD) 1 GiB.
        (level, va >> (12 + 9 * level))
    }

    /// The leaf table of `va` at `level`: cached, or walked (and cached when it exists).
    fn find<M: TableMemory + ?Sized>(
        &mut self,
        space: &AddressSpace,
        mem: &M,
        va: u64,
        level: usize,
    ) -> Walk {
        let key = Self::key(va, level);
        if self.key == Some(key) {
            return Walk::Leaf(self.table);
        }
        let walk = space.walk(mem, va, level);
        if let Walk::Leaf(table) = walk {
            self.key = Some(key);
            self.table = table;
        }
        walk
    }
}

fn leaf_level(order: u8) -> usize {
    if order == HUGE_ORDER {
        2
    } else {
        1
    }
}

impl AddressSpace {
    /// Unmaps every folio `(va, order)` of `folios` in order and appends each one's physical
    /// address to `out`, as [`AddressSpace::unmap`] would one by one. Orders may differ.
    ///
    /// # Errors
    /// `(i, error)` for the first folio refused: folios `..i` are unmapped (their addresses
    /// in `out`), folio `i` and the rest are untouched.
    pub fn unmap_batch<M: TableMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        folios: &[(u64, u8)],
        out: &mut Vec<u64>,
    ) -> Result<(), (usize, PtError)> {
        let mut cache = LeafCache::default();
        out.reserve(folios.len());
        for (i, &(va, order)) in folios.iter().enumerate() {
            let pa = self.check_folio(va, order).and_then(|()| {
                match cache.find(self, mem, va, leaf_level(order)) {
                    Walk::Covered => Err(PtError::Inconsistent(va)),
                    Walk::Missing { .. } => Err(PtError::NotMapped(va)),
                    Walk::Leaf(table) if order == HUGE_ORDER => unmap_huge(mem, table, va),
                    Walk::Leaf(table) => unmap_small(mem, table, va, order),
                }
            });
            match pa {
                Ok(pa) => out.push(pa),
                Err(e) => return Err((i, e)),
            }
        }
        Ok(())
    }

    /// Maps every folio `(va, pa, order)` of `folios` where one was unmapped, as
    /// [`AddressSpace::remap`] would one by one (never allocating a table). The address of
    /// each folio whose 2 MiB leaf replaced an empty page table
    /// ([`MapOutcome::ReplacedTable`]) is appended to `replaced`: the caller invalidates it.
    ///
    /// # Errors
    /// `(i, error)` for the first folio refused: folios `..i` are mapped, folio `i` and the
    /// rest are untouched.
    pub fn remap_batch<M: TableMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        folios: &[(u64, u64, u8)],
        flags: LeafFlags,
        replaced: &mut Vec<u64>,
    ) -> Result<(), (usize, PtError)> {
        let mut cache = LeafCache::default();
        for (i, &(va, pa, order)) in folios.iter().enumerate() {
            let done = self
                .check_folio(va, order)
                .and_then(|()| check_phys(pa, order))
                .and_then(|()| match cache.find(self, mem, va, leaf_level(order)) {
                    Walk::Covered => Err(PtError::AlreadyMapped(va)),
                    Walk::Missing { .. } => Err(PtError::NoTable(va)),
                    Walk::Leaf(table) => self.fill_leaf_table(mem, table, va, pa, order, flags),
                });
            match done {
                Ok(MapOutcome::Fresh) => {}
                Ok(MapOutcome::ReplacedTable) => {
                    // A page table was freed: a cached walk through it would be stale.
                    cache = LeafCache::default();
                    replaced.push(va);
                }
                Err(e) => return Err((i, e)),
            }
        }
        Ok(())
    }
}
