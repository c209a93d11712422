//! Boot-time steps that print what they found: the clock calibration, the memory and
//! the boot summaries.

use crate::{arch, bootinfo, heap, mm, platform, println};

/// Calibrates the TSC against the HPET (PIT fallback) and prints the result.
pub fn calibrate_clock(platform: &platform::Platform) {
    let hpet = platform
        .hpet
        .and_then(|h| match mm::paging::map_mmio(h.base, 1024) {
            // SAFETY: ACPI's HPET table names this register block; it is now mapped uncached.
            Ok(base) => Some(unsafe { arch::mmio::Mmio::new(base, 1024) }),
            Err(e) => {
                println!("hpet: cannot map ({e}); calibrating against the PIT");
                None
            }
        });
    let c = arch::tsc::calibrate(hpet);
    println!(
        "tsc: {}.{:03} MHz against the {} ({} windows of 10 ms, spread {} ppm); invariant TSC: {}",
        c.hz / 1_000_000,
        (c.hz / 1_000) % 1_000,
        c.reference,
        c.windows,
        c.spread_ppm,
        if c.invariant {
            "yes"
        } else {
            "no (timings may drift with frequency changes)"
        }
    );
}

/// Prints the page tables, TLB features, heap and frames per node.
pub fn print_memory_summary() {
    let s = mm::paging::stats();
    println!(
        "paging: own tables, identity map: {} GiB in 1G pages{}, {} MiB in 2M, {} KiB in 4K; {} table frames",
        s.bytes_1g >> 30,
        if s.has_1g { "" } else { " (no pdpe1gb)" },
        s.bytes_2m >> 20,
        s.bytes_4k >> 10,
        s.table_frames
    );
    println!(
        "tlb: PCID {}, INVPCID {}",
        if mm::pcid::enabled() {
            "on (migration address spaces keep their TLB entries across switches)"
        } else {
            "not available (CR3 switches flush)"
        },
        if mm::pcid::has_invpcid() { "yes" } else { "no" }
    );
    println!(
        "heap: {} MiB ({} MiB early arena + {} MiB sized from RAM), {} MiB free",
        heap::size() >> 20,
        heap::EARLY_HEAP_BYTES >> 20,
        (heap::size() - heap::EARLY_HEAP_BYTES) >> 20,
        heap::free() >> 20
    );
    for (node, free, used, managed) in mm::frames::node_counts() {
        println!(
            "frames: node {node}: {} MiB managed, {} MiB free, {} frames in use",
            managed >> 8,
            free >> 8,
            used
        );
    }
}

/// Prints the CPU, loader, memory map, RSDP and command line.
pub fn print_boot_summary(bi: &bootinfo::BootInfo) {
    let mut brand = [0u8; 48];
    let (kstart, kend) = crate::kernel_image_range();
    println!(
        "cpu: {} (apic id {}), running on {}",
        arch::cpu::brand_string(&mut brand),
        arch::cpu::apic_id(),
        crate::bench::context::accel_name()
    );
    println!(
        "loader: {:?}{}; kernel image {:#x}..{:#x}; heap {} MiB",
        bi.loader,
        bi.loader_name
            .as_deref()
            .map(|n| alloc::format!(" ({n})"))
            .unwrap_or_default(),
        kstart,
        kend,
        heap::size() >> 20
    );
    println!(
        "memory map ({} ranges, {} MiB usable):",
        bi.memory.regions().len(),
        bi.memory.usable_bytes() >> 20
    );
    for r in bi.memory.regions() {
        println!(
            "  {:#014x}..{:#014x} {:>9} KiB {}",
            r.start,
            r.end(),
            r.len >> 10,
            r.kind
        );
    }
    match bi.rsdp {
        Some(p) => println!("acpi: RSDP at {:#x} (from {})", p, bi.rsdp_source),
        None => println!("acpi: no RSDP found (loader gave none, BIOS scan found none)"),
    }
    println!("cmdline: '{}'", bi.cmdline);
}
