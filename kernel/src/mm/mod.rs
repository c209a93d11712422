//! Memory: the kernel's own page tables (identity direct map of all RAM, kernel image
//! with per-section permissions, guard pages, uncached MMIO), the per-NUMA-node frame
//! allocator, and migration address spaces.
//!
//! Bring-up order matters: page-table frames for the kernel tables come from a small
//! early region below 4 GiB (the boot map covers only that much), the switch to the new
//! tables maps all RAM, and only then are the per-node buddy zones built — their
//! metadata may live anywhere in RAM.

pub mod aspace;
pub mod early;
pub mod frames;
pub mod paging;
pub mod pcid;

use crate::bootinfo::BootInfo;
use crate::platform::Platform;
use alloc::vec::Vec;

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

/// Brings up paging and the frame allocator. Errors name what was wrong.
pub fn init(bi: &BootInfo, platform: &Platform) -> Result<(), alloc::string::String> {
    let mut reserved = reserved_ranges(bi);
    let early = early::EarlyFrames::carve(&platform.numa, &reserved)?;
    reserved.push(early.range());
    paging::init_kernel_tables(&bi.memory, early)?;
    pcid::init();
    frames::init(&platform.numa, &reserved)?;
    Ok(())
}
