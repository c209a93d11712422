//! Page-table trees of migration address spaces: x86_64 4-level paging with folio-sized leaves.
//!
//! A migration address space is its own tree (its own CR3 root) in which a workload's folios
//! are mapped at user-like virtual addresses in the lower canonical half. The leaf matches the
//! folio, as Linux does for mTHP: an order-9 folio is one 2 MiB leaf (a PDE with the PS bit),
//! an order-0..=8 folio is 2^order contiguous 4 KiB PTEs, naturally aligned in both virtual and
//! physical space.
//!
//! The layouts follow Intel SDM Vol. 3A §4.5 "4-Level Paging" (Tables 4-15 to 4-20: PML4E,
//! PDPTE, PDE with PS=1 mapping a 2 MiB page, PDE referencing a page table, PTE) and AMD APM
//! Vol. 2 §5.3 "Long-Mode Page Translation" (§5.3.4 for 2 MiB pages). TLB rules follow SDM
//! §4.10.4 ("Invalidation of TLBs and Paging-Structure Caches"); see [`FlushPlan`].
//!
//! Nothing here touches hardware: physical memory is reached through [`TableMemory`], which the
//! kernel implements over its direct map and the tests implement with a `HashMap`.
//!
//! - [`AddressSpace`]: one tree; map, unmap, remap and translate folios; share kernel PML4
//!   slots; free every table frame it allocated with [`AddressSpace::destroy`].
//! - [`AddressSpace::unmap_batch`], [`AddressSpace::remap_batch`]: a migration batch's
//!   folios, walking the tree once per leaf table rather than once per folio.
//! - [`FlushPlan`]: per-page `invlpg` or a full flush after a batch of unmaps.
//! - [`PtError`]: why an operation was refused (the tree is then left unchanged).

mod batch;
mod entries;
mod error;
mod flush;
mod space;

pub use error::{AddrKind, PtError};
pub use flush::{FlushPlan, DEFAULT_FLUSH_THRESHOLD};
pub use space::{AddressSpace, MapOutcome};

/// Size of a 4 KiB page and of a page-table frame.
pub const PAGE_SIZE: u64 = 4096;
/// Size of a 2 MiB leaf (PDE with PS).
pub const HUGE_PAGE_SIZE: u64 = 2 << 20;
/// Size of a 1 GiB leaf (PDPTE with PS); never created here, only followed by `translate`.
pub const GIANT_PAGE_SIZE: u64 = 1 << 30;
/// Entries per page table (each level).
pub const ENTRIES: usize = 512;
/// Largest folio order: 2^9 pages = 2 MiB, mapped by one PDE.
pub const MAX_ORDER: u8 = 9;
/// Order whose folios are mapped by a 2 MiB leaf.
pub const HUGE_ORDER: u8 = 9;

/// Bit 0: the entry maps a page or references a table.
pub const PRESENT: u64 = 1 << 0;
/// Bit 1 (R/W): writes allowed.
pub const WRITABLE: u64 = 1 << 1;
/// Bit 2 (U/S): user-mode accesses allowed.
pub const USER: u64 = 1 << 2;
/// Bit 3 (PWT): page-level write-through.
pub const WRITE_THROUGH: u64 = 1 << 3;
/// Bit 4 (PCD): page-level cache disable.
pub const CACHE_DISABLE: u64 = 1 << 4;
/// Bit 5: set by the CPU on access.
pub const ACCESSED: u64 = 1 << 5;
/// Bit 6: set by the CPU on write (leaves only).
pub const DIRTY: u64 = 1 << 6;
/// Bit 7 (PS) in a PDE or PDPTE: the entry is a leaf. In a PTE the same bit is PAT, which this
/// module never sets, so it is only interpreted above the PT level.
pub const HUGE: u64 = 1 << 7;
/// Bit 8: global translation (survives CR3 writes when CR4.PGE=1).
pub const GLOBAL: u64 = 1 << 8;
/// Bit 63 (XD/NX): instruction fetches not allowed (needs EFER.NXE).
pub const NO_EXECUTE: u64 = 1 << 63;
/// Physical address bits 51:12 of a PTE or of an entry referencing a table.
pub const ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;
/// Physical address bits 51:21 of a 2 MiB leaf (bit 12 is PAT there, 20:13 reserved).
pub const HUGE_ADDR_MASK: u64 = 0x000F_FFFF_FFE0_0000;
/// Physical address bits 51:30 of a 1 GiB leaf.
pub const GIANT_ADDR_MASK: u64 = 0x000F_FFFF_C000_0000;
/// One past the highest physical address an entry can hold (52-bit MAXPHYADDR limit).
pub const PHYS_LIMIT: u64 = 1 << 52;
/// One past the highest address of the lower canonical half: the workload window is
/// `0..USER_END`, the user half of a 48-bit address space.
pub const USER_END: u64 = 1 << 47;

/// Physical memory as the page-table code sees it. Frames are 4 KiB, addresses physical.
pub trait TableMemory {
    /// A zeroed 4 KiB frame for a page table, or None when memory is exhausted.
    fn alloc_table(&mut self) -> Option<u64>;
    /// Gives back a page-table frame allocated by `alloc_table`.
    ///
    /// Paging-structure caches may still reference the frame until the caller's next TLB
    /// flush of the address space, so the kernel must not hand it out for reuse before then.
    fn free_table(&mut self, phys: u64);
    /// Reads entry `index` (0..512) of the table at `table`.
    fn read_entry(&self, table: u64, index: usize) -> u64;
    /// Writes entry `index` of the table at `table`.
    fn write_entry(&mut self, table: u64, index: usize, value: u64);
}

/// Memory type of a leaf, chosen with PWT/PCD under the power-on PAT (SDM §11.12.4:
/// PAT entries 0, 1 and 3 are WB, WT and UC). The PAT bit itself is never set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// Write-back: ordinary RAM.
    #[default]
    WriteBack,
    /// Write-through (PWT).
    WriteThrough,
    /// Uncached (PCD | PWT).
    Uncached,
}

/// What a caller chooses for a folio's leaf entries; the rest is fixed by this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeafFlags {
    /// Writes allowed.
    pub writable: bool,
    /// Instruction fetches forbidden.
    pub no_execute: bool,
    /// User-mode access allowed (leave off when ring 0 touches the folio under SMAP).
    pub user: bool,
    /// Memory type.
    pub cache: CacheMode,
    /// Pre-set ACCESSED and DIRTY so the first touch does not pay for the CPU's locked A/D
    /// update, which would otherwise show up in the migration measurements.
    pub preset_accessed_dirty: bool,
}

impl LeafFlags {
    /// Workload data: writable, no-execute, write-back, kernel-only, A/D pre-set.
    pub const DATA: Self = Self {
        writable: true,
        no_execute: true,
        user: false,
        cache: CacheMode::WriteBack,
        preset_accessed_dirty: true,
    };

    /// Entry bits of a leaf with these flags, including PRESENT but not PS or the address.
    pub const fn bits(self) -> u64 {
        let mut bits = PRESENT;
        if self.writable {
            bits |= WRITABLE;
        }
        if self.no_execute {
            bits |= NO_EXECUTE;
        }
        if self.user {
            bits |= USER;
        }
        if self.preset_accessed_dirty {
            bits |= ACCESSED | DIRTY;
        }
        bits | match self.cache {
            CacheMode::WriteBack => 0,
            CacheMode::WriteThrough => WRITE_THROUGH,
            CacheMode::Uncached => WRITE_THROUGH | CACHE_DISABLE,
        }
    }
}

/// Result of a successful [`AddressSpace::translate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// Physical address, including the offset within the leaf.
    pub pa: u64,
    /// Size of the leaf that maps the address: 4 KiB, 2 MiB or 1 GiB.
    pub leaf_size: u64,
    /// The leaf entry's bits outside its address field.
    pub flags: u64,
}

/// Page-table indices of `va`, `[P4, P3, P2, P1]` (PML4, PDPT, PD, PT), 9 bits each.
pub const fn indices(va: u64) -> [usize; 4] {
    [
        ((va >> 39) & 511) as usize,
        ((va >> 30) & 511) as usize,
        ((va >> 21) & 511) as usize,
        ((va >> 12) & 511) as usize,
    ]
}

/// Whether `va` is canonical for 48-bit addresses: bits 63:47 all equal (SDM §3.3.7.1).
pub const fn is_canonical(va: u64) -> bool {
    let top = va >> 47;
    top == 0 || top == (1 << 17) - 1
}

/// Bytes in a folio of `order` (4 KiB << order), or None above [`MAX_ORDER`].
pub const fn folio_size(order: u8) -> Option<u64> {
    if order > MAX_ORDER {
        None
    } else {
        Some(PAGE_SIZE << order)
    }
}

/// Number of 4 KiB frames in a folio of `order`, or None above [`MAX_ORDER`].
pub const fn frames_in(order: u8) -> Option<usize> {
    if order > MAX_ORDER {
        None
    } else {
        Some(1 << order)
    }
}

/// Whether `addr` is a multiple of the folio size of `order` (false above [`MAX_ORDER`]).
pub const fn is_aligned(addr: u64, order: u8) -> bool {
    match folio_size(order) {
        Some(size) => addr & (size - 1) == 0,
        None => false,
    }
}

#[cfg(test)]
mod tests;
