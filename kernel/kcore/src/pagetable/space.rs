//! [`AddressSpace`]: one 4-level tree and the folio operations on it.
//!
//! Levels are numbered as in the SDM walk: 4 = PML4, 3 = PDPT, 2 = PD, 1 = PT. An order-9
//! folio's leaf lives at level 2 (PDE with PS), smaller folios' leaves at level 1. Every
//! operation validates its arguments and inspects the tree before it writes anything, so a
//! refused operation leaves the tree exactly as it was.

use core::ops::Range;

use super::entries::{
    check_phys, first_present, free_subtree, table_entry, unmap_huge, unmap_small, write_leaves,
};
use super::{
    folio_size, indices, is_canonical, AddrKind, LeafFlags, PtError, TableMemory, Translation,
    ADDR_MASK, ENTRIES, GIANT_ADDR_MASK, GIANT_PAGE_SIZE, HUGE, HUGE_ADDR_MASK, HUGE_ORDER,
    HUGE_PAGE_SIZE, PAGE_SIZE, PRESENT, USER_END,
};

/// What a successful [`AddressSpace::map`] or [`AddressSpace::remap`] did besides the leaf.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapOutcome {
    /// Only non-present entries were written: no TLB invalidation needed.
    Fresh,
    /// A 2 MiB leaf replaced a present PDE that referenced an empty page table (left by
    /// unmapped small folios); that table was freed. Paging-structure caches may still hold
    /// the old PDE, so the caller must `invlpg` the folio's address before the freed frame is
    /// reused.
    ReplacedTable,
}

/// Where a walk towards a leaf level stopped.
pub(super) enum Walk {
    /// Every table exists; this is the table holding the leaf entries.
    Leaf(u64),
    /// Entry `idx[4 - level]` of `table` (at `level`) is not present.
    Missing {
        /// Physical address of the last existing table.
        table: u64,
        /// Its level.
        level: usize,
    },
    /// A larger leaf (1 GiB, or 2 MiB when looking for a PT) already maps the address.
    Covered,
}

/// Page-table tree of one migration address space (its own CR3 root).
///
/// The tree is reached only through the [`TableMemory`] passed to each call; the struct keeps
/// the root, the number of table frames it allocated and which PML4 slots are borrowed from
/// the kernel. Dropping it without [`AddressSpace::destroy`] leaks its table frames.
#[derive(Debug)]
pub struct AddressSpace {
    root: u64,
    tables: usize,
    /// Bitmap of PML4 slots copied from the kernel: never written after sharing, never freed.
    shared: [u64; ENTRIES / 64],
}

impl AddressSpace {
    /// A space with an empty PML4 (the only table it owns so far).
    ///
    /// # Errors
    /// [`PtError::OutOfMemory`] when `mem` has no frame for the PML4.
    pub fn new<M: TableMemory + ?Sized>(mem: &mut M) -> Result<Self, PtError> {
        let root = mem.alloc_table().ok_or(PtError::OutOfMemory)?;
        Ok(Self {
            root,
            tables: 1,
            shared: [0; ENTRIES / 64],
        })
    }

    /// Physical address of the PML4, the value for CR3 (with PCID/flag bits 0).
    pub fn root(&self) -> u64 {
        self.root
    }

    /// Number of table frames this space allocated and still holds, root included.
    pub fn table_frames(&self) -> usize {
        self.tables
    }

    /// Whether PML4 `slot` is shared with the kernel.
    pub fn is_shared_slot(&self, slot: usize) -> bool {
        slot < ENTRIES && self.shared[slot / 64] & (1 << (slot % 64)) != 0
    }

    /// Copies PML4 entries `slots` of `kernel_root` so kernel mappings are visible here.
    ///
    /// The subtrees stay the kernel's: this space never writes below them nor frees them, and
    /// refuses to map in those slots. A slot where this space already mapped something is
    /// refused ([`PtError::SlotInUse`]); sharing a slot again refreshes the copy.
    ///
    /// # Errors
    /// [`PtError::BadSlots`] when `slots` is empty, reversed or ends past 512;
    /// [`PtError::SlotInUse`] when one of the slots already holds a mapping of this space
    /// (checked for every slot before any is copied, so nothing changes on error).
    pub fn share_kernel_entries<M: TableMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        kernel_root: u64,
        slots: Range<usize>,
    ) -> Result<(), PtError> {
        if slots.start >= slots.end || slots.end > ENTRIES {
            return Err(PtError::BadSlots {
                start: slots.start,
                end: slots.end,
            });
        }
        for slot in slots.clone() {
            if !self.is_shared_slot(slot) && mem.read_entry(self.root, slot) & PRESENT != 0 {
                return Err(PtError::SlotInUse(slot));
            }
        }
        for slot in slots {
            mem.write_entry(self.root, slot, mem.read_entry(kernel_root, slot));
            self.shared[slot / 64] |= 1 << (slot % 64);
        }
        Ok(())
    }

    /// Maps the folio of `order` at physical `pa` to `va`, allocating missing tables.
    ///
    /// Order 9 is one 2 MiB leaf, orders 0..=8 are 2^order 4 KiB PTEs. Both addresses must be
    /// aligned to the folio size, `va` in the lower half outside shared slots, and nothing may
    /// be mapped in the folio's range. If a table cannot be allocated, those allocated by this
    /// call are given back and nothing is written.
    ///
    /// # Errors
    /// Checked before anything is written: [`PtError::BadOrder`] above [`super::MAX_ORDER`],
    /// [`PtError::NonCanonical`] / [`PtError::OutsideWindow`] for a `va` outside `0..USER_END`
    /// (128 TiB), [`PtError::Misaligned`] when `va` or `pa` is not a multiple of the folio size
    /// (4 KiB << `order`), [`PtError::SharedSlot`] for a `va` in a kernel slot,
    /// [`PtError::PhysTooLarge`] for `pa` at or above 2^52. Then [`PtError::AlreadyMapped`] with
    /// the first mapped address of the range (or a larger leaf covering it), and
    /// [`PtError::OutOfMemory`] when a table frame cannot be allocated (the call's tables are
    /// given back).
    pub fn map<M: TableMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        va: u64,
        pa: u64,
        order: u8,
        flags: LeafFlags,
    ) -> Result<MapOutcome, PtError> {
        self.install(mem, va, pa, order, flags, true)
    }

    /// Maps a folio where one was unmapped, as [`AddressSpace::map`] but never allocating:
    /// the tables left by [`AddressSpace::unmap`] are reused, so a migration's remap cannot
    /// run out of memory. A missing table gives [`PtError::NoTable`].
    ///
    /// # Errors
    /// As [`AddressSpace::map`], except that a missing table on the path gives
    /// [`PtError::NoTable`] instead of being allocated (so never [`PtError::OutOfMemory`]).
    pub fn remap<M: TableMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        va: u64,
        new_pa: u64,
        order: u8,
        flags: LeafFlags,
    ) -> Result<MapOutcome, PtError> {
        self.install(mem, va, new_pa, order, flags, false)
    }

    /// Clears the leaf entries of the folio of `order` at `va` and returns its physical address.
    ///
    /// All of the folio's entries must be present, physically contiguous and aligned, else
    /// [`PtError::NotMapped`] (none present) or [`PtError::Inconsistent`]. Tables are kept so
    /// a remap is cheap. The caller invalidates the TLB (see [`super::FlushPlan`]).
    ///
    /// # Errors
    /// [`PtError::BadOrder`], [`PtError::NonCanonical`], [`PtError::OutsideWindow`],
    /// [`PtError::Misaligned`] (virtual) and [`PtError::SharedSlot`] as for
    /// [`AddressSpace::map`]; [`PtError::NotMapped`] when no entry of the folio (or no table on
    /// the path) is present; [`PtError::Inconsistent`] when the folio is partly present, maps
    /// frames that are not contiguous and aligned, lies inside a larger leaf, or (order 9)
    /// finds a page table with present entries where the 2 MiB leaf should be. Nothing is
    /// cleared on error.
    pub fn unmap<M: TableMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        va: u64,
        order: u8,
    ) -> Result<u64, PtError> {
        self.check_folio(va, order)?;
        let huge = order == HUGE_ORDER;
        match self.walk(mem, va, if huge { 2 } else { 1 }) {
            Walk::Covered => Err(PtError::Inconsistent(va)),
            Walk::Missing { .. } => Err(PtError::NotMapped(va)),
            Walk::Leaf(table) if huge => unmap_huge(mem, table, va),
            Walk::Leaf(table) => unmap_small(mem, table, va, order),
        }
    }

    /// Physical address `va` maps to, with the size and bits of the leaf; None when unmapped
    /// or non-canonical. Follows shared kernel slots too, including 1 GiB leaves.
    pub fn translate<M: TableMemory + ?Sized>(&self, mem: &M, va: u64) -> Option<Translation> {
        if !is_canonical(va) {
            return None;
        }
        let idx = indices(va);
        let mut table = self.root;
        for level in (1..=4usize).rev() {
            let entry = mem.read_entry(table, idx[4 - level]);
            if entry & PRESENT == 0 {
                return None;
            }
            // Bit 7 means PS only in PDPTEs and PDEs (reserved in a PML4E, PAT in a PTE).
            let leaf = match level {
                1 => Some((PAGE_SIZE, ADDR_MASK)),
                2 if entry & HUGE != 0 => Some((HUGE_PAGE_SIZE, HUGE_ADDR_MASK)),
                3 if entry & HUGE != 0 => Some((GIANT_PAGE_SIZE, GIANT_ADDR_MASK)),
                _ => None,
            };
            if let Some((size, mask)) = leaf {
                return Some(Translation {
                    pa: (entry & mask) | (va & (size - 1)),
                    leaf_size: size,
                    flags: entry & !mask,
                });
            }
            table = entry & ADDR_MASK;
        }
        None
    }

    /// Frees every table frame this space allocated (not the shared kernel subtrees, not the
    /// leaf frames) and returns how many: the value of [`AddressSpace::table_frames`]. The
    /// space must not be loaded in CR3 on any CPU.
    pub fn destroy<M: TableMemory + ?Sized>(self, mem: &mut M) -> usize {
        let mut freed = 0;
        for slot in 0..ENTRIES {
            if self.is_shared_slot(slot) {
                continue;
            }
            let entry = mem.read_entry(self.root, slot);
            if entry & PRESENT != 0 {
                freed += free_subtree(mem, entry & ADDR_MASK, 3);
            }
        }
        mem.free_table(self.root);
        freed + 1
    }

    /// Shared body of `map` and `remap`.
    fn install<M: TableMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        va: u64,
        pa: u64,
        order: u8,
        flags: LeafFlags,
        allocate: bool,
    ) -> Result<MapOutcome, PtError> {
        self.check_folio(va, order)?;
        check_phys(pa, order)?;
        let leaf_level = if order == HUGE_ORDER { 2 } else { 1 };
        match self.walk(mem, va, leaf_level) {
            Walk::Covered => Err(PtError::AlreadyMapped(va)),
            Walk::Leaf(table) => self.fill_leaf_table(mem, table, va, pa, order, flags),
            Walk::Missing { .. } if !allocate => Err(PtError::NoTable(va)),
            Walk::Missing { table, level } => {
                let path = NewPath {
                    table,
                    level,
                    leaf_level,
                };
                self.build_path(mem, path, va, pa, order, flags)?;
                Ok(MapOutcome::Fresh)
            }
        }
    }

    /// Checks a folio's order and virtual address (everything but the tree's contents).
    pub(super) fn check_folio(&self, va: u64, order: u8) -> Result<(), PtError> {
        let size = folio_size(order).ok_or(PtError::BadOrder(order))?;
        if !is_canonical(va) {
            return Err(PtError::NonCanonical(va));
        }
        // Aligned folios never straddle USER_END, so checking the start suffices.
        if va >= USER_END {
            return Err(PtError::OutsideWindow(va));
        }
        if va & (size - 1) != 0 {
            return Err(PtError::Misaligned {
                addr: va,
                order,
                kind: AddrKind::Virtual,
            });
        }
        if self.is_shared_slot(indices(va)[0]) {
            return Err(PtError::SharedSlot(va));
        }
        Ok(())
    }

    /// Walks from the root down to the table of `leaf_level`, without writing.
    pub(super) fn walk<M: TableMemory + ?Sized>(
        &self,
        mem: &M,
        va: u64,
        leaf_level: usize,
    ) -> Walk {
        let idx = indices(va);
        let mut table = self.root;
        let mut level = 4;
        while level > leaf_level {
            let entry = mem.read_entry(table, idx[4 - level]);
            if entry & PRESENT == 0 {
                return Walk::Missing { table, level };
            }
            if level < 4 && entry & HUGE != 0 {
                return Walk::Covered;
            }
            table = entry & ADDR_MASK;
            level -= 1;
        }
        Walk::Leaf(table)
    }

    /// Writes a folio's leaves into an existing leaf table after checking they are free.
    pub(super) fn fill_leaf_table<M: TableMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        table: u64,
        va: u64,
        pa: u64,
        order: u8,
        flags: LeafFlags,
    ) -> Result<MapOutcome, PtError> {
        let idx = indices(va);
        if order != HUGE_ORDER {
            let first = idx[3];
            if let Some(i) = first_present(mem, table, first..first + (1 << order)) {
                return Err(PtError::AlreadyMapped(va + (i - first) as u64 * PAGE_SIZE));
            }
            write_leaves(mem, table, first, pa, order, flags);
            return Ok(MapOutcome::Fresh);
        }
        let pde = mem.read_entry(table, idx[2]);
        if pde & PRESENT == 0 {
            write_leaves(mem, table, idx[2], pa, order, flags);
            return Ok(MapOutcome::Fresh);
        }
        if pde & HUGE != 0 {
            return Err(PtError::AlreadyMapped(va));
        }
        // A page table left behind by unmapped small folios: replace it if it is empty.
        let pt = pde & ADDR_MASK;
        if let Some(i) = first_present(mem, pt, 0..ENTRIES) {
            return Err(PtError::AlreadyMapped(va + i as u64 * PAGE_SIZE));
        }
        write_leaves(mem, table, idx[2], pa, order, flags);
        mem.free_table(pt);
        self.tables -= 1;
        Ok(MapOutcome::ReplacedTable)
    }

    /// Allocates the missing tables of a path, fills the leaves, then links the path.
    ///
    /// All frames are allocated before anything is written, so a failure only gives them
    /// back. The new subtree is built bottom-up and linked into the live tree by one final
    /// write, so a concurrent hardware walk never sees a half-built path.
    fn build_path<M: TableMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        path: NewPath,
        va: u64,
        pa: u64,
        order: u8,
        flags: LeafFlags,
    ) -> Result<(), PtError> {
        let needed = path.level - path.leaf_level; // 1..=3 tables
        let mut new = [0u64; 3];
        for k in 0..needed {
            match mem.alloc_table() {
                Some(frame) => new[k] = frame,
                None => {
                    new[..k].iter().for_each(|&frame| mem.free_table(frame));
                    return Err(PtError::OutOfMemory);
                }
            }
        }
        self.tables += needed;
        let idx = indices(va);
        write_leaves(
            mem,
            new[needed - 1],
            idx[4 - path.leaf_level],
            pa,
            order,
            flags,
        );
        // new[k] sits at level `path.level - 1 - k` and points to new[k + 1].
        for k in (0..needed - 1).rev() {
            let level = path.level - 1 - k;
            mem.write_entry(new[k], idx[4 - level], table_entry(new[k + 1]));
        }
        mem.write_entry(path.table, idx[4 - path.level], table_entry(new[0]));
        Ok(())
    }
}

/// The missing part of a walk: entry of `table` at `level` down to `leaf_level`.
struct NewPath {
    table: u64,
    level: usize,
    leaf_level: usize,
}
