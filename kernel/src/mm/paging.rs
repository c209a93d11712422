//! The kernel's page tables, built with the `x86_64` crate.
//!
//! Virtual = physical for all RAM (an identity "direct map"): DMA descriptors, frame
//! numbers and pointers then agree, and the boot code's addresses stay valid. RAM is
//! mapped with the largest page that fits (1 GiB where the CPU has pdpe1gb, else
//! 2 MiB, 4 KiB at the edges), write-back, no-execute. The kernel image gets 4 KiB
//! pages with per-section rights (text RX, rodata R, data RW), and the guard pages under
//! the stacks and page 0 stay unmapped. MMIO is mapped on request, uncached.

use super::early::EarlyFrames;
use super::error::MmError;
use crate::arch::{self, cpu};
use alloc::vec::Vec;
use kcore::bootinfo::{MemKind, MemoryMap};
use spin::Mutex;
use x86_64::registers::control::{Cr0, Cr0Flags, Cr3, Efer, EferFlags};
use x86_64::structures::paging::mapper::MapToError;
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageSize, PageTable, PageTableFlags as F,
    PhysFrame, Size1GiB, Size2MiB, Size4KiB, Translate,
};
use x86_64::{PhysAddr, VirtAddr};

const RAM: F = F::PRESENT
    .union(F::WRITABLE)
    .union(F::NO_EXECUTE)
    .union(F::GLOBAL);
const MMIO: F = F::PRESENT
    .union(F::WRITABLE)
    .union(F::NO_EXECUTE)
    .union(F::NO_CACHE)
    .union(F::WRITE_THROUGH);

struct KernelTables {
    mapper: OffsetPageTable<'static>,
    early: EarlyFrames,
}

// SAFETY: the tables are only touched under the KERNEL lock.
unsafe impl Send for KernelTables {}

static KERNEL: Mutex<Option<KernelTables>> = Mutex::new(None);

/// What the switch did, for the boot summary and self-tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct PagingStats {
    /// Bytes mapped with 1 GiB, 2 MiB and 4 KiB pages.
    pub bytes_1g: u64,
    /// Bytes mapped with 2 MiB pages.
    pub bytes_2m: u64,
    /// Bytes mapped with 4 KiB pages.
    pub bytes_4k: u64,
    /// Page-table frames used.
    pub table_frames: u64,
    /// The CPU supports 1 GiB pages.
    pub has_1g: bool,
}

static STATS: Mutex<PagingStats> = Mutex::new(PagingStats {
    bytes_1g: 0,
    bytes_2m: 0,
    bytes_4k: 0,
    table_frames: 0,
    has_1g: false,
});

/// Statistics of the kernel map.
pub fn stats() -> PagingStats {
    *STATS.lock()
}

fn cpu_has_1g_pages() -> bool {
    cpu::cpuid(0x8000_0001, 0).edx & (1 << 26) != 0
}

fn cpu_has_nx() -> bool {
    cpu::cpuid(0x8000_0001, 0).edx & (1 << 20) != 0
}

/// Builds the kernel tables and switches CR3 to them.
///
/// # Errors
/// [`MmError::NoNx`] when CPUID 0x8000_0001 EDX bit 20 (NX) is clear; nothing is changed
/// then. [`MmError::EarlyFramesExhausted`] when the early region runs out of table frames, or
/// [`MmError::Map`] (the mapper's reason and the address) when identity-mapping RAM or the
/// kernel image fails; CR3 is not switched in either case.
pub fn init_kernel_tables(memory: &MemoryMap, early: EarlyFrames) -> Result<(), MmError> {
    if !cpu_has_nx() {
        return Err(MmError::NoNx);
    }
    // SAFETY: setting EFER.NXE only enables the NX bit in page tables.
    unsafe { Efer::update(|f| f.insert(EferFlags::NO_EXECUTE_ENABLE)) };
    let (l4_frame, mut early) = {
        let mut e = early;
        let f = e.allocate_frame().ok_or(MmError::EarlyFramesExhausted)?;
        (f, e)
    };
    let l4 = l4_frame.start_address().as_u64() as *mut PageTable;
    // SAFETY: the frame is zeroed RAM below 4 GiB (identity mapped) owned by us, and
    // offset 0 is right for an identity map.
    let mut mapper = unsafe { OffsetPageTable::new(&mut *l4, VirtAddr::new(0)) };
    let mut stats = PagingStats {
        has_1g: cpu_has_1g_pages(),
        ..Default::default()
    };

    let holes = unmapped_pages();
    let (kstart, kend) = crate::kernel_image_range();
    for (s, e) in ram_ranges(memory) {
        for (s, e) in subtract(s, e, &[(kstart, kend)]) {
            map_range(&mut mapper, &mut early, s, e, RAM, &mut stats)?;
        }
    }
    map_kernel_image(&mut mapper, &mut early, &holes, &mut stats)?;
    stats.table_frames = early.used();

    // SAFETY: the new tables map all RAM (this code, the stacks, the heap) at the same
    // addresses as the boot tables, so execution continues seamlessly; CR0.WP makes the
    // read-only kernel sections read-only for the kernel too.
    unsafe {
        Cr3::write(l4_frame, Cr3::read().1);
        Cr0::update(|f| f.insert(Cr0Flags::WRITE_PROTECT));
    }
    *STATS.lock() = stats;
    *KERNEL.lock() = Some(KernelTables { mapper, early });
    Ok(())
}

/// Pages that must stay unmapped: page 0 (null), the stack guard pages.
fn unmapped_pages() -> Vec<u64> {
    let mut v = alloc::vec![0, arch::boot_stack_guard()];
    v.extend(arch::gdt::bsp_ist_guards());
    v
}

/// RAM-like ranges of the memory map, page aligned, merged. Reserved ranges below
/// 1 MiB are included (BIOS data and tables live there); page 0 is dropped later.
fn ram_ranges(memory: &MemoryMap) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = memory
        .regions()
        .iter()
        .filter(|r| match r.kind {
            MemKind::Usable | MemKind::AcpiReclaimable | MemKind::AcpiNvs => true,
            _ => r.end() <= 0x10_0000,
        })
        .map(|r| (r.start & !0xfff, (r.end() + 0xfff) & !0xfff))
        .collect();
    v.push((0x1000, 0x10_0000)); // the whole first MiB but page 0
    v.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (s, e) in v {
        let s = s.max(0x1000);
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ if s < e => merged.push((s, e)),
            _ => {}
        }
    }
    merged
}

/// `[s, e)` minus the `cut` ranges.
pub fn subtract(s: u64, e: u64, cut: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = alloc::vec![(s, e)];
    for &(cs, ce) in cut {
        out = out
            .into_iter()
            .flat_map(|(a, b)| {
                if ce <= a || b <= cs {
                    alloc::vec![(a, b)]
                } else {
                    [(a, cs), (ce, b)]
                        .into_iter()
                        .filter(|(x, y)| x < y)
                        .collect()
                }
            })
            .collect();
    }
    out
}

fn map_err<S: PageSize + core::fmt::Debug>(e: MapToError<S>, addr: u64) -> MmError {
    let reason = match e {
        MapToError::FrameAllocationFailed => "no frame for a page table",
        MapToError::ParentEntryHugePage => "a huge page already covers it",
        MapToError::PageAlreadyMapped(_) => "already mapped",
    };
    MmError::Map { addr, reason }
}

/// Identity-maps `[s, e)` with the largest pages that fit.
fn map_range(
    m: &mut OffsetPageTable<'static>,
    alloc: &mut EarlyFrames,
    s: u64,
    e: u64,
    flags: F,
    stats: &mut PagingStats,
) -> Result<(), MmError> {
    let mut a = s;
    while a < e {
        let left = e - a;
        // The mappings below are identity mappings of RAM that no other mapping aliases
        // with different attributes; the flush is deferred to the CR3 write.
        if stats.has_1g && a.is_multiple_of(Size1GiB::SIZE) && left >= Size1GiB::SIZE {
            let (p, f) = page_frame::<Size1GiB>(a);
            // SAFETY: see above.
            unsafe { m.map_to(p, f, flags | F::HUGE_PAGE, alloc) }
                .map_err(|e| map_err(e, a))?
                .ignore();
            stats.bytes_1g += Size1GiB::SIZE;
            a += Size1GiB::SIZE;
        } else if a.is_multiple_of(Size2MiB::SIZE) && left >= Size2MiB::SIZE {
            let (p, f) = page_frame::<Size2MiB>(a);
            // SAFETY: see above.
            unsafe { m.map_to(p, f, flags | F::HUGE_PAGE, alloc) }
                .map_err(|e| map_err(e, a))?
                .ignore();
            stats.bytes_2m += Size2MiB::SIZE;
            a += Size2MiB::SIZE;
        } else {
            let (p, f) = page_frame::<Size4KiB>(a);
            // SAFETY: see above.
            unsafe { m.map_to(p, f, flags, alloc) }
                .map_err(|e| map_err(e, a))?
                .ignore();
            stats.bytes_4k += Size4KiB::SIZE;
            a += Size4KiB::SIZE;
        }
    }
    Ok(())
}

fn page_frame<S: PageSize>(a: u64) -> (Page<S>, PhysFrame<S>) {
    (
        Page::containing_address(VirtAddr::new(a)),
        PhysFrame::containing_address(PhysAddr::new(a)),
    )
}

unsafe extern "C" {
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
}

/// The kernel image in 4 KiB pages with per-section rights.
fn map_kernel_image(
    m: &mut OffsetPageTable<'static>,
    alloc: &mut EarlyFrames,
    holes: &[u64],
    stats: &mut PagingStats,
) -> Result<(), MmError> {
    let (kstart, kend) = crate::kernel_image_range();
    let text = (
        (&raw const __text_start) as u64,
        (&raw const __text_end) as u64,
    );
    let rodata = (
        (&raw const __rodata_start) as u64,
        (&raw const __rodata_end) as u64,
    );
    let mut a = kstart;
    while a < kend {
        let flags = if a >= text.0 && a < text.1 {
            F::PRESENT | F::GLOBAL
        } else if a < text.0 || (a >= rodata.0 && a < rodata.1) {
            F::PRESENT | F::GLOBAL | F::NO_EXECUTE
        } else {
            F::PRESENT | F::GLOBAL | F::NO_EXECUTE | F::WRITABLE
        };
        if !holes.contains(&a) {
            let (p, f) = page_frame::<Size4KiB>(a);
            // SAFETY: identity mapping of the kernel's own image.
            unsafe { m.map_to(p, f, flags, alloc) }
                .map_err(|e| map_err(e, a))?
                .ignore();
            stats.bytes_4k += 4096;
        }
        a += 4096;
    }
    Ok(())
}

/// Maps a device's registers `[phys, phys+len)` uncached at the same virtual address
/// and returns that address. 2 MiB pages where the range allows (an ECAM window is
/// 256 MiB); idempotent for pages already mapped to themselves.
///
/// # Errors
/// [`MmError::TablesNotBuilt`] before [`init_kernel_tables`]; [`MmError::MmioConflict`]
/// when a page of the range is already mapped to another physical address (pages before it
/// stay mapped); [`MmError::Map`] when a table frame cannot be had from the early region.
pub fn map_mmio(phys: u64, len: u64) -> Result<u64, MmError> {
    let mut guard = KERNEL.lock();
    let kt = guard.as_mut().ok_or(MmError::TablesNotBuilt)?;
    let (start, end) = (phys & !0xfff, (phys + len + 0xfff) & !0xfff);
    let mut a = start;
    while a < end {
        let big = a.is_multiple_of(Size2MiB::SIZE) && end - a >= Size2MiB::SIZE;
        match kt.mapper.translate_addr(VirtAddr::new(a)) {
            Some(pa) if pa.as_u64() == a => {}
            Some(pa) => {
                return Err(MmError::MmioConflict {
                    addr: a,
                    mapped: pa.as_u64(),
                })
            }
            None if big => {
                let (p, f) = page_frame::<Size2MiB>(a);
                // SAFETY: an uncached identity mapping of device memory nothing else maps
                // (translate said unmapped).
                unsafe { kt.mapper.map_to(p, f, MMIO | F::HUGE_PAGE, &mut kt.early) }
                    .map_err(|e| map_err(e, a))?
                    .flush();
                a += Size2MiB::SIZE;
                continue;
            }
            None => {
                let (p, f) = page_frame::<Size4KiB>(a);
                // SAFETY: as above, one 4 KiB page.
                unsafe { kt.mapper.map_to(p, f, MMIO, &mut kt.early) }
                    .map_err(|e| map_err(e, a))?
                    .flush();
            }
        }
        a += 4096;
    }
    Ok(phys)
}

/// Makes the 4 KiB page at `addr` (a guard page under a stack) unmapped in the kernel
/// tables, splitting the 1 GiB / 2 MiB direct-map leaf that covers it into smaller pages
/// with the same rights. Only the running CPU's TLB is flushed: call it before other
/// CPUs run on these tables (AP stacks are carved before the APs start).
///
/// # Errors
/// [`MmError::Misaligned`] when `addr` is not a multiple of 4 KiB;
/// [`MmError::TablesNotBuilt`] before [`init_kernel_tables`]; [`MmError::NotMapped`] when
/// no entry on the path (or the page itself) is present; [`MmError::EarlyFramesExhausted`]
/// when a huge leaf must be split and the early region has no frame for the new table.
pub fn unmap_guard_page(addr: u64) -> Result<(), MmError> {
    if !addr.is_multiple_of(4096) {
        return Err(MmError::Misaligned(addr));
    }
    let mut guard = KERNEL.lock();
    let kt = guard.as_mut().ok_or(MmError::TablesNotBuilt)?;
    let va = VirtAddr::new(addr);
    let l4 = kt.mapper.level_4_table_mut();
    let e4 = &mut l4[va.p4_index()];
    if e4.is_unused() {
        return Err(MmError::NotMapped(addr));
    }
    // SAFETY: a present PML4 entry of the kernel tables points at a PDPT frame in
    // identity-mapped RAM, which only this code (under the KERNEL lock) writes.
    let pdpt = unsafe { &mut *(e4.addr().as_u64() as *mut PageTable) };
    split_if_huge(&mut pdpt[va.p3_index()], Size1GiB::SIZE, &mut kt.early)?;
    let e3 = &pdpt[va.p3_index()];
    // SAFETY: as above, for the page directory the (now table) PDPT entry points at.
    let pd = unsafe { &mut *(e3.addr().as_u64() as *mut PageTable) };
    split_if_huge(&mut pd[va.p2_index()], Size2MiB::SIZE, &mut kt.early)?;
    let page = Page::<Size4KiB>::containing_address(va);
    kt.mapper
        .unmap(page)
        .map_err(|_| MmError::NotMapped(addr))?
        .1
        .flush();
    Ok(())
}

/// Replaces a huge leaf (`size` = 1 GiB or 2 MiB) by a table of 512 entries mapping the
/// same memory with the same rights, one level down.
fn split_if_huge(
    entry: &mut x86_64::structures::paging::page_table::PageTableEntry,
    size: u64,
    early: &mut EarlyFrames,
) -> Result<(), MmError> {
    let flags = entry.flags();
    if !flags.contains(F::PRESENT) {
        return Err(MmError::NotMapped(entry.addr().as_u64()));
    }
    if !flags.contains(F::HUGE_PAGE) {
        return Ok(());
    }
    let base = entry.addr().as_u64();
    let frame = early
        .allocate_frame()
        .ok_or(MmError::EarlyFramesExhausted)?;
    // SAFETY: a fresh zeroed frame from the early allocator (identity mapped, ours).
    let table = unsafe { &mut *(frame.start_address().as_u64() as *mut PageTable) };
    let child = size / 512;
    // A 2 MiB leaf's children are 4 KiB PTEs, where bit 7 is PAT, not "huge".
    let child_flags = if child == Size4KiB::SIZE {
        flags - F::HUGE_PAGE
    } else {
        flags
    };
    for (i, e) in table.iter_mut().enumerate() {
        e.set_addr(PhysAddr::new(base + i as u64 * child), child_flags);
    }
    // Same translations as before, so the switch is seamless; the stale huge TLB entry
    // is dropped by the flush of the guard page's unmap (invlpg drops any page size).
    entry.set_addr(
        frame.start_address(),
        F::PRESENT | F::WRITABLE | (flags & F::USER_ACCESSIBLE),
    );
    Ok(())
}

/// The physical address `virt` maps to in the kernel tables, if any.
pub fn translate(virt: u64) -> Option<u64> {
    let guard = KERNEL.lock();
    guard
        .as_ref()?
        .mapper
        .translate_addr(VirtAddr::new(virt))
        .map(|p| p.as_u64())
}

/// The kernel's PML4 frame (shared into migration address spaces).
pub fn kernel_root() -> u64 {
    Cr3::read().0.start_address().as_u64()
}
