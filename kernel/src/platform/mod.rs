//! Platform discovery from ACPI only (no hard-coded topology): CPUs and APIC IDs
//! (MADT), NUMA affinity (SRAT) and distances (SLIT), ECAM windows (MCFG), HPET, FADT
//! and SPCR. The result is a [`Platform`] copied onto the heap, so nothing keeps
//! pointing into firmware tables afterwards.

pub mod acpi;

use alloc::vec::Vec;
use kcore::numa::NumaLayout;
use spin::Once;

/// One enabled CPU from the MADT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MadtCpu {
    /// Local APIC ID (x2APIC ID for x2APIC entries).
    pub apic_id: u32,
    /// ACPI processor UID.
    pub uid: u32,
    /// Listed as an x2APIC entry.
    pub x2apic: bool,
}

/// An I/O APIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoApic {
    /// I/O APIC ID.
    pub id: u8,
    /// MMIO base.
    pub address: u64,
    /// First GSI it serves.
    pub gsi_base: u32,
}

/// A PCI Express enhanced configuration (ECAM) window from MCFG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EcamWindow {
    /// Physical base of bus 0 of the segment (as MCFG gives it).
    pub base: u64,
    /// PCI segment group.
    pub segment: u16,
    /// First bus decoded.
    pub bus_start: u8,
    /// Last bus decoded.
    pub bus_end: u8,
}

/// The HPET block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hpet {
    /// MMIO base of the register block.
    pub base: u64,
}

/// What the firmware told us about the machine.
#[derive(Debug)]
pub struct Platform {
    /// Signatures of all ACPI tables found.
    pub tables: Vec<[u8; 4]>,
    /// Enabled CPUs, in MADT order (the boot CPU first on PCs).
    pub cpus: Vec<MadtCpu>,
    /// Local APIC MMIO base.
    pub lapic_base: u64,
    /// I/O APICs.
    pub ioapics: Vec<IoApic>,
    /// NUMA nodes, their CPUs, RAM and distances.
    pub numa: NumaLayout,
    /// ECAM windows (empty: use port I/O config access).
    pub ecam: Vec<EcamWindow>,
    /// HPET, if present.
    pub hpet: Option<Hpet>,
    /// SPCR's console port, if it names an I/O-port UART.
    pub spcr_port: Option<u16>,
    /// FADT revision, if present.
    pub fadt_revision: Option<u8>,
}

static PLATFORM: Once<Platform> = Once::new();

/// Stores the discovered platform (once).
pub fn set(p: Platform) -> &'static Platform {
    PLATFORM.call_once(|| p)
}

/// The discovered platform.
///
/// # Panics
/// If called before discovery (a kernel bug: `kmain` discovers first).
pub fn get() -> &'static Platform {
    PLATFORM
        .get()
        .expect("platform discovered in kmain before use")
}

/// Prints nodes with their CPUs and memory, and the distance matrix.
pub fn print_summary(p: &Platform) {
    use crate::println;
    let sigs: Vec<&str> = p
        .tables
        .iter()
        .map(|s| core::str::from_utf8(s).unwrap_or("????"))
        .collect();
    println!("acpi: tables {}", sigs.join(" "));
    println!(
        "cpus: {} enabled (apic ids {:?}); local APIC at {:#x}; {} I/O APIC(s)",
        p.cpus.len(),
        p.cpus.iter().map(|c| c.apic_id).collect::<Vec<_>>(),
        p.lapic_base,
        p.ioapics.len()
    );
    let n = &p.numa;
    let source = if n.from_srat {
        "SRAT"
    } else {
        "no SRAT: one node"
    };
    let dist = if n.from_slit {
        "SLIT"
    } else {
        "no SLIT: 10 local / 20 remote"
    };
    println!(
        "numa: {} node(s) ({source}; distances from {dist})",
        n.nodes.len()
    );
    for node in &n.nodes {
        println!(
            "  node {} (domain {}): cpus (apic) {:?}, {} MiB usable in {} range(s)",
            node.id,
            node.domain,
            node.apic_ids,
            node.bytes() >> 20,
            node.ranges.len()
        );
    }
    if n.unaffined_bytes > 0 || !n.unaffined_cpus.is_empty() {
        println!(
            "  note: {} KiB of RAM and cpus {:?} not covered by SRAT were given to node 0",
            n.unaffined_bytes >> 10,
            n.unaffined_cpus
        );
    }
    crate::print!("  distance");
    for b in 0..n.distances.n {
        crate::print!(" {b:>4}");
    }
    println!();
    for a in 0..n.distances.n {
        crate::print!("  {a:>8}");
        for b in 0..n.distances.n {
            crate::print!(" {:>4}", n.distances.distance(a, b).unwrap_or(0));
        }
        println!();
    }
    for e in &p.ecam {
        println!(
            "pci: ECAM segment {} buses {:#04x}-{:#04x} at {:#x}",
            e.segment, e.bus_start, e.bus_end, e.base
        );
    }
    if p.ecam.is_empty() {
        println!("pci: no MCFG, configuration through port I/O");
    }
    println!(
        "firmware: FADT {}; SPCR console {}",
        p.fadt_revision
            .map_or("absent".into(), |r| alloc::format!("revision {r}")),
        p.spcr_port.map_or("absent".into(), |port| alloc::format!(
            "at I/O port {port:#x}"
        ))
    );
    match p.hpet {
        Some(h) => println!("hpet: at {:#x}", h.base),
        None => println!("hpet: none (PIT will calibrate the TSC)"),
    }
}
