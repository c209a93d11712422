//! Memory: the kernel's own page tables (identity direct map of all RAM, kernel image
//! with per-section permissions, guard pages, uncached MMIO), the per-NUMA-node frame
//! allocator, and migration address spaces.
//!
//! Bring-up order matters: page-table frames for the kernel tables come from a small
//! early region below 4 GiB (the boot map covers only that much), the switch to the new
//! tables maps all RAM, and only then are the per-node buddy zones built — their
//! metadata may live anywhere in RAM.

pub mod aspace;
pub mod copy;
pub mod early;
pub mod error;
pub mod frames;
pub mod paging;
pub mod pcid;

use crate::bootinfo::BootInfo;
use crate::platform::Platform;
use alloc::vec::Vec;
pub use error::MmError;

/// Physical ranges no allocator may hand out: the first MiB (BIOS data, the AP
/// trampoline to come), the kernel image, and the loader's structures.
pub fn reserved_ranges(bi: &BootInfo) -> Vec<(u64, u64)> {
    let (kstart, kend) = crate::kernel_image_range();
    let mut r = alloc::vec![(0, 0x10_0000), (kstart, kend)];
    if let Some(range) = bi.loader_range {
        r.push(range);
    }
    r
}

/// `[s, e)` minus the ranges in `cut`.
pub fn paging_subtract(s: u64, e: u64, cut: &[(u64, u64)]) -> Vec<(u64, u64)> {
    paging::subtract(s, e, cut)
}

/// Brings up paging and the frame allocator.
///
/// # Errors
/// The [`MmError`] that stopped bring-up (no NX, no early region, a zone that cannot
/// be built).
pub fn init(bi: &BootInfo, platform: &Platform) -> Result<(), MmError> {
    let mut reserved = reserved_ranges(bi);
    let early = early::EarlyFrames::carve(&platform.numa, &reserved)?;
    reserved.push(early.range());
    paging::init_kernel_tables(&bi.memory, early)?;
    pcid::init();
    if let Some((start, bytes)) = carve_heap(&platform.numa, &reserved) {
        reserved.push((start, start + bytes));
        // SAFETY: [start, start + bytes) is usable RAM (a node range minus everything
        // reserved), direct mapped by the tables just installed, and now reserved from
        // the frame allocator, so the heap is its only owner; mm::init runs once.
        unsafe { crate::heap::add_main_arena(start, bytes) };
    }
    frames::init(&platform.numa, &reserved)?;
    Ok(())
}

/// The main heap arena: `heap::main_arena_bytes` of the machine's usable RAM, at the
/// top of the largest free range (2 MiB aligned), or `None` when no range holds it
/// (the early arena alone then serves, and the limits check says what fits).
fn carve_heap(numa: &kcore::numa::NumaLayout, reserved: &[(u64, u64)]) -> Option<(u64, u64)> {
    let ranges: Vec<(u64, u64)> = numa
        .nodes
        .iter()
        .flat_map(|n| n.ranges.iter())
        .flat_map(|&(s, e)| paging::subtract(s, e, reserved))
        .map(|(s, e)| (early::align_up(s, 2 << 20), e & !((2 << 20) - 1)))
        .filter(|(s, e)| s < e)
        .collect();
    let total: u64 = ranges.iter().map(|(s, e)| e - s).sum();
    let bytes = crate::heap::main_arena_bytes(total);
    let &(s, e) = ranges.iter().max_by_key(|(s, e)| e - s)?;
    // Leave at least half of the range to the frame allocator.
    (bytes > 0 && (e - s) / 2 >= bytes).then_some((e - bytes, bytes))
}
