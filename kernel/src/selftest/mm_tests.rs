//! Self-tests of memory: frames on every node in every order, the kernel map's
//! protections (null page, guard pages, read-only data), and leak accounting.

use super::{check, check_eq, Test};
use crate::arch::traps;
use crate::mm::frames::{self, FrameError};
use crate::platform;
use alloc::string::String;
use alloc::vec::Vec;
use core::arch::asm;

pub static TESTS: &[Test] = &[
    Test {
        name: "frames_every_order_every_node",
        in_default_suite: true,
        run: every_order_every_node,
    },
    Test {
        name: "frames_double_free_refused",
        in_default_suite: true,
        run: double_free_refused,
    },
    Test {
        name: "frames_no_silent_node_fallback",
        in_default_suite: true,
        run: no_silent_fallback,
    },
    Test {
        name: "frames_exhaust_node_and_recover",
        in_default_suite: true,
        run: exhaust_and_recover,
    },
    Test {
        name: "paging_direct_map_is_identity",
        in_default_suite: true,
        run: direct_map_identity,
    },
    Test {
        name: "paging_null_page_unmapped",
        in_default_suite: true,
        run: null_page_unmapped,
    },
    Test {
        name: "paging_stack_guard_unmapped",
        in_default_suite: true,
        run: stack_guard_unmapped,
    },
    Test {
        name: "paging_rodata_read_only",
        in_default_suite: true,
        run: rodata_read_only,
    },
];

/// A byte pattern that depends on the block and the offset, so a misplaced or shifted
/// block is caught, not only a wrong constant.
fn pattern(seed: u64, i: usize) -> u8 {
    (seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8
        ^ (i as u8).wrapping_mul(31)
        ^ (i >> 8) as u8
}

fn every_order_every_node() -> Result<(), String> {
    let before = frames::frames_in_use();
    let numa = &platform::get().numa;
    let mut blocks = Vec::new();
    for node in frames::nodes() {
        for order in 0..=9 {
            let mut b = frames::alloc(node, order).map_err(|e| e.to_string_lossy())?;
            check(b.addr().as_u64() % b.bytes() == 0, || {
                alloc::format!("{b:?} not naturally aligned")
            })?;
            check_eq(
                "node of block",
                numa.node_of_addr(b.addr().as_u64()),
                Some(node),
            )?;
            let seed = b.addr().as_u64() ^ order as u64;
            b.as_mut_slice()
                .iter_mut()
                .enumerate()
                .for_each(|(i, x)| *x = pattern(seed, i));
            blocks.push((b, seed));
        }
    }
    check_eq(
        "frames in use",
        frames::frames_in_use() - before,
        frames::nodes().len() as u64 * 1023,
    )?;
    for (mut b, seed) in blocks {
        if let Some(i) = b
            .as_mut_slice()
            .iter()
            .enumerate()
            .position(|(i, &x)| x != pattern(seed, i))
        {
            return Err(alloc::format!("{b:?}: byte {i} changed (blocks overlap?)"));
        }
        frames::free(b).map_err(|e| e.to_string_lossy())?;
    }
    check_eq("frames in use after free", frames::frames_in_use(), before)?;
    Ok(frames::check_invariants()?)
}

trait Lossy {
    fn to_string_lossy(&self) -> String;
}
impl Lossy for FrameError {
    fn to_string_lossy(&self) -> String {
        alloc::format!("{self}")
    }
}

fn double_free_refused() -> Result<(), String> {
    let before = frames::frames_in_use();
    let second = frames::free_twice(0, 3).map_err(|e| e.to_string_lossy())?;
    check(matches!(second, Err(FrameError::Free(..))), || {
        alloc::format!("second free accepted: {second:?}")
    })?;
    check_eq("frames in use", frames::frames_in_use(), before)?;
    Ok(frames::check_invariants()?)
}

fn no_silent_fallback() -> Result<(), String> {
    check_eq(
        "alloc on node 99",
        frames::alloc(99, 0).err(),
        Some(FrameError::NoSuchNode(99)),
    )
}

/// Takes every 2 MiB block of the last node, sees the allocator say "empty", gives them
/// back, and checks the counters return to where they were.
fn exhaust_and_recover() -> Result<(), String> {
    let node = *frames::nodes().last().ok_or("no nodes")?;
    let before = frames::frames_in_use();
    let mut got = Vec::new();
    let err = loop {
        match frames::alloc(node, 9) {
            Ok(b) => got.push(b),
            Err(e) => break e,
        }
    };
    check(matches!(err, FrameError::Alloc(..)), || {
        alloc::format!("unexpected {err}")
    })?;
    check(got.len() >= 16, || {
        alloc::format!("only {} 2 MiB blocks on node {node}", got.len())
    })?;
    for b in got {
        frames::free(b).map_err(|e| e.to_string_lossy())?;
    }
    check_eq("frames in use", frames::frames_in_use(), before)?;
    Ok(frames::check_invariants()?)
}

/// RAM on every node, the heap and the kernel text translate to themselves, and the
/// kernel tables are the ones in CR3.
fn direct_map_identity() -> Result<(), String> {
    use crate::mm::paging;
    for node in frames::nodes() {
        let b = frames::alloc(node, 0).map_err(|e| e.to_string_lossy())?;
        let pa = b.addr().as_u64();
        let t = paging::translate(pa + 0x123);
        frames::free(b).map_err(|e| e.to_string_lossy())?;
        check_eq("frame translation", t, Some(pa + 0x123))?;
    }
    let heap_obj = alloc::boxed::Box::new(7u64);
    let va = &*heap_obj as *const u64 as u64;
    check_eq("heap translation", paging::translate(va), Some(va))?;
    let text = direct_map_identity as fn() -> Result<(), String> as usize as u64;
    check_eq("text translation", paging::translate(text), Some(text))?;
    check_eq(
        "guard page",
        paging::translate(crate::arch::boot_stack_guard()),
        None,
    )?;
    let cr3 = x86_64::registers::control::Cr3::read()
        .0
        .start_address()
        .as_u64();
    check_eq("CR3 is the kernel root", paging::kernel_root(), cr3)
}

/// Reads one byte at `addr` expecting #PF; returns the caught fault.
fn read_expecting_fault(addr: u64) -> Option<traps::Caught> {
    traps::expect(14, 2, || {
        // SAFETY: the read faults and the handler skips it (`mov (%rax), %cl` is 2 bytes).
        unsafe {
            asm!("movb (%rax), %cl", in("rax") addr, out("cl") _, options(att_syntax, nostack))
        };
    })
}

fn null_page_unmapped() -> Result<(), String> {
    let c = read_expecting_fault(0x10).ok_or("read of address 0x10 did not fault")?;
    check_eq("cr2", c.cr2, 0x10)?;
    check_eq("present bit in error code", c.error_code & 1, 0)
}

fn stack_guard_unmapped() -> Result<(), String> {
    let guard = crate::arch::boot_stack_guard();
    let c = read_expecting_fault(guard + 8).ok_or("boot stack guard page is readable")?;
    check_eq("cr2", c.cr2, guard + 8)?;
    for g in crate::arch::gdt::bsp_ist_guards() {
        check(read_expecting_fault(g).is_some(), || {
            alloc::format!("IST guard {g:#x} readable")
        })?;
    }
    Ok(())
}

static RODATA_PROBE: u64 = 0x5eed;

fn rodata_read_only() -> Result<(), String> {
    let addr = &raw const RODATA_PROBE as u64;
    let caught = traps::expect(14, 3, || {
        // SAFETY: the write faults (read-only page, CR0.WP) and is skipped:
        // `movb $1, (%rax)` is 3 bytes.
        unsafe { asm!("movb $1, (%rax)", in("rax") addr, options(att_syntax, nostack)) };
    });
    let c = caught.ok_or("write to .rodata did not fault")?;
    check_eq("error code present|write", c.error_code & 3, 3)?;
    check_eq(
        "value unchanged",
        core::hint::black_box(RODATA_PROBE),
        0x5eed,
    )
}
