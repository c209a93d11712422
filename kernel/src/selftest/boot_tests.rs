//! Self-tests of what the boot set up: console, command line, boot info, heap, memory
//! functions.

use super::{check, check_eq, Test};
use crate::{bootinfo, console, heap};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use kcore::bootinfo::MemKind;

pub static TESTS: &[Test] = &[
    Test {
        name: "console_loopback",
        in_default_suite: true,
        run: console_loopback,
    },
    Test {
        name: "cmdline_parse",
        in_default_suite: true,
        run: cmdline_parse,
    },
    Test {
        name: "bootinfo_memory_map",
        in_default_suite: true,
        run: bootinfo_memory_map,
    },
    Test {
        name: "bootinfo_rsdp",
        in_default_suite: true,
        run: bootinfo_rsdp,
    },
    Test {
        name: "heap_alloc_free",
        in_default_suite: true,
        run: heap_alloc_free,
    },
    Test {
        name: "mem_functions",
        in_default_suite: true,
        run: mem_functions,
    },
];

/// The UART's own loopback: a byte sent with the line disconnected comes back.
fn console_loopback() -> Result<(), String> {
    match console::with_port(|p| p.loopback_test()) {
        // No UART (absent, or console=none): then the screen must be carrying the output.
        None if crate::fbcon::active() => {
            crate::print!("(no serial port; screen console) ");
            Ok(())
        }
        None => Err("no serial console and no screen console".into()),
        Some(Err(e)) => Err(alloc::format!("{e}")),
        Some(Ok(())) => Ok(()),
    }
}

/// The parser as the kernel runs it, including the errors users will see.
fn cmdline_parse() -> Result<(), String> {
    use kcore::cmdline::{parse, CmdlineError, TestFilter};
    let c = parse("test=all verbose=1").map_err(|e| e.to_string())?;
    check_eq("test filter", c.test, Some(TestFilter::All))?;
    check_eq("verbose", c.verbose, true)?;
    match parse("bogus=1") {
        Err(CmdlineError::UnknownKey { key, .. }) => {
            check_eq("unknown key", key.as_str(), "bogus")?
        }
        other => return Err(alloc::format!("bogus=1 gave {other:?}")),
    }
    let msg = parse("reboot=2").map(|_| ()).unwrap_err().to_string();
    check(msg.contains("reboot") && msg.contains('2'), || {
        alloc::format!("message '{msg}'")
    })?;
    // The line this kernel actually booted with parsed (or we would not be here).
    parse(&bootinfo::get().cmdline)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The memory map has RAM, and the kernel image sits inside usable RAM.
fn bootinfo_memory_map() -> Result<(), String> {
    let bi = bootinfo::get();
    check(bi.memory.overflowed() == 0, || {
        "memory map overflowed".into()
    })?;
    let usable = bi.memory.usable_bytes();
    check(usable >= 64 << 20, || {
        alloc::format!("only {usable} bytes usable")
    })?;
    let (start, end) = crate::kernel_image_range();
    let inside = bi
        .memory
        .regions()
        .iter()
        .any(|r| r.kind == MemKind::Usable && r.start <= start && end <= r.end());
    check(inside, || {
        alloc::format!("kernel {start:#x}..{end:#x} not in a usable range")
    })
}

/// The loader's (or the BIOS scan's) RSDP has a valid checksum.
fn bootinfo_rsdp() -> Result<(), String> {
    let bi = bootinfo::get();
    let p = bi.rsdp.ok_or_else(|| "no ACPI RSDP found".to_string())?;
    check(bootinfo::rsdp_valid(p), || {
        alloc::format!("RSDP at {p:#x} ({}) invalid", bi.rsdp_source)
    })
}

/// Allocation works and everything allocated is given back.
fn heap_alloc_free() -> Result<(), String> {
    let before = heap::used();
    {
        let mut v: Vec<u64> = Vec::new();
        for i in 0..100_000u64 {
            v.push(i * 3);
        }
        check_eq("sum", v.iter().sum::<u64>(), 3 * (100_000 * 99_999 / 2))?;
        let b = alloc::boxed::Box::new([7u8; 4096]);
        check_eq("box", b[4095], 7)?;
    }
    check_eq("heap bytes in use after drop", heap::used(), before)
}

/// memmove with overlap both ways, memset, memcmp ordering — the hand-written versions.
fn mem_functions() -> Result<(), String> {
    use crate::arch::memfns::{memcmp, memmove, memset};
    let mut buf: [u8; 64] = core::array::from_fn(|i| i as u8);
    // SAFETY: all ranges lie inside `buf`.
    unsafe { memmove(buf.as_mut_ptr().add(8), buf.as_ptr(), 32) };
    check_eq(
        "forward overlap",
        &buf[8..40],
        &(0u8..32).collect::<Vec<_>>()[..],
    )?;
    let mut buf2: [u8; 64] = core::array::from_fn(|i| i as u8);
    // SAFETY: as above.
    unsafe { memmove(buf2.as_mut_ptr(), buf2.as_ptr().add(8), 32) };
    check_eq(
        "backward overlap",
        &buf2[0..32],
        &(8u8..40).collect::<Vec<_>>()[..],
    )?;
    let mut buf3: [u8; 16] = core::array::from_fn(|i| i as u8);
    // SAFETY: inside `buf3`.
    unsafe { memset(buf3.as_mut_ptr().add(3), 0xab, 5) };
    check_eq(
        "memset",
        &buf3[2..9],
        &[2, 0xab, 0xab, 0xab, 0xab, 0xab, 8][..],
    )?;
    let (a, b) = ([1u8, 2, 3], [1u8, 2, 4]);
    // SAFETY: both arrays are 3 bytes.
    let (lt, eq) = unsafe {
        (
            memcmp(a.as_ptr(), b.as_ptr(), 3),
            memcmp(a.as_ptr(), a.as_ptr(), 3),
        )
    };
    check(lt < 0 && eq == 0, || {
        alloc::format!("memcmp gave {lt}, {eq}")
    })
}
