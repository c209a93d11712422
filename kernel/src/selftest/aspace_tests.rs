//! Self-tests of migration address spaces: every folio size mapped and read through
//! its mapping, unmap faults, remap to another node with TLB invalidation, no leaks.

use super::{check, check_eq, Test};
use crate::arch::traps;
use crate::mm::aspace::{self, AddressSpace};
use crate::mm::frames;
use alloc::string::String;
use alloc::vec::Vec;
use core::arch::asm;

pub static TESTS: &[Test] = &[
    Test {
        name: "aspace_unmap_while_switched_out_is_invalidated",
        in_default_suite: true,
        run: unmap_while_inactive,
    },
    Test {
        name: "aspace_every_folio_size_reads_through_mapping",
        in_default_suite: true,
        run: every_size,
    },
    Test {
        name: "aspace_unmapped_access_faults",
        in_default_suite: true,
        run: unmapped_faults,
    },
    Test {
        name: "aspace_remap_to_other_node_sees_new_data",
        in_default_suite: true,
        run: remap_other_node,
    },
    Test {
        name: "aspace_mapped_read_only_of_data_blocks",
        in_default_suite: true,
        run: mapped_read_checked,
    },
];

/// `read_mapped_u64` reads a data block mapped in the loaded space, and refuses a kernel
/// frame mapped there, an unmapped address and a space that is not loaded.
fn mapped_read_checked() -> Result<(), String> {
    use crate::mm::aspace::MappedReadError;
    let before = frames::frames_in_use();
    let mut space = AddressSpace::new(0).map_err(e)?;
    let mut data = frames::alloc_data(0, 0).map_err(e)?;
    data.as_mut_slice()[..8].copy_from_slice(&0x5eed_u64.to_le_bytes());
    let kernel = frames::alloc(0, 0).map_err(e)?;
    let (va_data, va_kernel) = (aspace::WORKLOAD_BASE, aspace::WORKLOAD_BASE + 0x1000);
    space.map(va_data, data.addr(), 0).map_err(e)?;
    space.map(va_kernel, kernel.addr(), 0).map_err(e)?;
    let outside = space.read_mapped_u64(va_data);
    let (good, kern, hole) = space.with_active(|s| {
        (
            s.read_mapped_u64(va_data),
            s.read_mapped_u64(va_kernel),
            s.read_mapped_u64(va_data + 0x10_0000),
        )
    });
    let _ = space.unmap(va_data, 0);
    let _ = space.unmap(va_kernel, 0);
    space.destroy();
    frames::free(data).map_err(e)?;
    frames::free(kernel).map_err(e)?;
    check_eq("data block read", good, Ok(0x5eed))?;
    check(matches!(kern, Err(MappedReadError::NotData(_))), || {
        alloc::format!("kernel frame through the mapping: {kern:?}")
    })?;
    check_eq(
        "unmapped",
        hole,
        Err(MappedReadError::NotMapped(va_data + 0x10_0000)),
    )?;
    check_eq("not loaded", outside, Err(MappedReadError::NotActive))?;
    check_eq("frames in use", frames::frames_in_use(), before)
}

fn e(x: impl core::fmt::Display) -> String {
    alloc::format!("{x}")
}

/// Reads the u64 at `va` (in the active tree) — a plain load, so the MMU walks the tree.
fn read_u64(va: u64) -> u64 {
    // SAFETY: callers only pass addresses they mapped in the active address space.
    unsafe { (va as *const u64).read_volatile() }
}

fn every_size() -> Result<(), String> {
    let before = frames::frames_in_use();
    let mut space = AddressSpace::new(0).map_err(e)?;
    let mut folios = Vec::new();
    for order in 0..=9u8 {
        let mut b = frames::alloc(0, order as usize).map_err(e)?;
        let words = b.bytes() / 8;
        // Each 8-byte word holds (order, index): a shifted or misplaced mapping shows.
        for (i, w) in b.as_mut_slice().chunks_exact_mut(8).enumerate() {
            w.copy_from_slice(&(((order as u64) << 56) | i as u64).to_le_bytes());
        }
        let va = aspace::WORKLOAD_BASE + ((order as u64 + 1) << 30);
        space.map(va, b.addr(), order).map_err(e)?;
        let t = space.translate(va + 8).ok_or("no translation after map")?;
        check_eq("translation", t.pa, b.addr().as_u64() + 8)?;
        check_eq(
            "leaf size",
            t.leaf_size,
            if order == 9 { 2 << 20 } else { 4096 },
        )?;
        folios.push((va, b, words));
    }
    // 10 folios at 1 GiB spacing: one PDPT, one PD per GiB, PTs for the small ones.
    check(space.table_frames() >= 10, || {
        alloc::format!("only {} page tables", space.table_frames())
    })?;
    let mismatch = space.with_active(|_| {
        folios.iter().find_map(|(va, b, words)| {
            let order = b.order() as u64;
            [0, 1, words / 2, words - 1]
                .into_iter()
                .find(|&i| read_u64(va + i * 8) != (order << 56) | i)
                .map(|i| (order, i))
        })
    });
    check(mismatch.is_none(), || {
        alloc::format!("read through mapping differs: {mismatch:?}")
    })?;
    for (va, b, _) in folios {
        check_eq(
            "unmap returns the frame",
            space.unmap(va, b.order()).map_err(e)?,
            b.addr(),
        )?;
        frames::free(b).map_err(e)?;
    }
    space.destroy();
    check_eq(
        "frames in use after destroy",
        frames::frames_in_use(),
        before,
    )
}

fn unmapped_faults() -> Result<(), String> {
    let before = frames::frames_in_use();
    let mut space = AddressSpace::new(0).map_err(e)?;
    let b = frames::alloc(0, 4).map_err(e)?;
    let va = aspace::WORKLOAD_BASE;
    space.map(va, b.addr(), 4).map_err(e)?;
    let got = space.unmap(va, 4).map_err(e)?;
    let pa = b.addr();
    let plan = space.flush(&[(va, 4)]);
    let caught = space.with_active(|_| {
        traps::expect(14, 2, || {
            // SAFETY: the read faults (unmapped) and is skipped: `mov (%rax), %cl` is 2 bytes.
            unsafe { asm!("movb (%rax), %cl", in("rax") va + 0x1008, out("cl") _, options(att_syntax, nostack)) };
        })
    });
    frames::free(b).map_err(e)?;
    space.destroy();
    check_eq("unmap returned", got, pa)?;
    check_eq("invlpg count for a 16-page folio", plan.invlpg_count(), 16)?;
    let c = caught.ok_or("access to an unmapped workload page did not fault")?;
    check_eq("fault address", c.cr2, va + 0x1008)?;
    check_eq("frames in use", frames::frames_in_use(), before)
}

/// Read through the mapping (the TLB caches it), move the folio to a frame on the last
/// node holding other data, flush, read again: the new data must show.
fn remap_other_node() -> Result<(), String> {
    let before = frames::frames_in_use();
    let last = *frames::nodes().last().ok_or("no nodes")?;
    let mut space = AddressSpace::new(0).map_err(e)?;
    let mut result = Ok(());
    for order in [0u8, 3, 9] {
        let mut a = frames::alloc(0, order as usize).map_err(e)?;
        let mut b = frames::alloc(last, order as usize).map_err(e)?;
        a.as_mut_slice().fill(0x11);
        b.as_mut_slice().fill(0x22);
        let va = aspace::WORKLOAD_BASE + (1 << 30);
        space.map(va, a.addr(), order).map_err(e)?;
        let (first, second) = space.with_active(|s| {
            let first = read_u64(va + 64);
            let old = s.unmap(va, order).expect("mapped just above");
            s.flush(&[(va, order)]);
            s.remap(va, b.addr(), order).expect("tables kept by unmap");
            let second = read_u64(va + 64);
            assert_eq!(old, a.addr());
            (first, second)
        });
        space.unmap(va, order).map_err(e)?;
        frames::free(a).map_err(e)?;
        frames::free(b).map_err(e)?;
        if first != 0x1111_1111_1111_1111 || second != 0x2222_2222_2222_2222 {
            result = Err(alloc::format!(
                "order {order}: read {first:#x} then {second:#x} (stale TLB?)"
            ));
            break;
        }
    }
    space.destroy();
    result?;
    check_eq("frames in use", frames::frames_in_use(), before)
}

/// With PCIDs the TLB keeps a space's entries across CR3 switches: an unmap + remap done
/// while the space is switched out must still be seen on the next switch in.
fn unmap_while_inactive() -> Result<(), String> {
    let before = frames::frames_in_use();
    let last = *frames::nodes().last().ok_or("no nodes")?;
    let mut space = AddressSpace::new(0).map_err(e)?;
    let mut a = frames::alloc(0, 0).map_err(e)?;
    let mut b = frames::alloc(last, 0).map_err(e)?;
    a.as_mut_slice().fill(0x33);
    b.as_mut_slice().fill(0x44);
    let va = aspace::WORKLOAD_BASE + (3 << 30);
    space.map(va, a.addr(), 0).map_err(e)?;
    let first = space.with_active(|_| read_u64(va));
    space.unmap(va, 0).map_err(e)?;
    space.flush(&[(va, 0)]);
    space.remap(va, b.addr(), 0).map_err(e)?;
    let second = space.with_active(|_| read_u64(va));
    crate::print!(
        "(pcid {:?}, invpcid {}) ",
        space.pcid(),
        crate::mm::pcid::has_invpcid()
    );
    space.unmap(va, 0).map_err(e)?;
    space.destroy();
    frames::free(a).map_err(e)?;
    frames::free(b).map_err(e)?;
    check_eq("first read", first, 0x3333_3333_3333_3333)?;
    check_eq(
        "read after remap while switched out",
        second,
        0x4444_4444_4444_4444,
    )?;
    check_eq("frames in use", frames::frames_in_use(), before)
}
