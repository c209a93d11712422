//! Self-tests of platform discovery against what the runner built, and of the clock.

use super::{check, check_eq, Test};
use crate::arch::tsc;
use crate::platform;
use alloc::string::String;

pub static TESTS: &[Test] = &[
    Test {
        name: "platform_matches_runner",
        in_default_suite: true,
        run: platform_matches_runner,
    },
    Test {
        name: "tsc_calibrated_against_reference",
        in_default_suite: true,
        run: tsc_vs_reference,
    },
];

/// CPUs, nodes and RAM per node as `run-qemu.sh` passed them in `expect-*` keys.
fn platform_matches_runner() -> Result<(), String> {
    let e = crate::config().expect;
    let p = platform::get();
    if e == Default::default() {
        crate::print!("(no expect-* keys: nothing to compare) ");
        return Ok(());
    }
    if let Some(cpus) = e.cpus {
        check_eq("enabled CPUs in the MADT", p.cpus.len() as u32, cpus)?;
    }
    if let Some(nodes) = e.nodes {
        check_eq("NUMA nodes", p.numa.nodes.len() as u32, nodes)?;
        if let Some(cpus) = e.cpus {
            // The runner spreads CPUs evenly, the first nodes taking the remainder.
            for n in &p.numa.nodes {
                let want = cpus / nodes + u32::from(n.id < cpus % nodes);
                check_eq("CPUs of node", n.apic_ids.len() as u32, want)?;
            }
        }
    }
    if let Some(mib) = e.node_mib {
        for n in &p.numa.nodes {
            // Firmware holes (BIOS area, ACPI, the PCI window) take a few MiB at most.
            let got = n.bytes() >> 20;
            check(got <= mib && got + 32 >= mib, || {
                alloc::format!("node {} has {got} MiB usable, runner gave {mib} MiB", n.id)
            })?;
        }
    }
    Ok(())
}

/// A 20 ms TSC delay measured on the HPET agrees within 20 % (emulators jitter). The
/// median of three measurements is judged: one delay stretched by the host descheduling
/// the vCPU mid-measurement (seen on a loaded 2-core build machine) is an outlier, while a
/// wrong calibration shifts all three.
fn tsc_vs_reference() -> Result<(), String> {
    check(tsc::hz() > 100_000_000, || {
        alloc::format!("TSC at {} Hz is implausible", tsc::hz())
    })?;
    let Some(h) = platform::get().hpet else {
        crate::print!("(no HPET to compare with) ");
        return Ok(());
    };
    // SAFETY: mapped uncached during calibration; the HPET block is 1 KiB.
    let hpet = unsafe { crate::arch::mmio::Mmio::new(h.base, 1024) };
    let period_fs = hpet.read64(0) >> 32;
    let mut ns = [0u64; 3];
    for n in &mut ns {
        let c0 = hpet.read64(0xf0);
        tsc::delay_ns(20_000_000);
        let c1 = hpet.read64(0xf0);
        *n = (c1.wrapping_sub(c0) as u128 * period_fs as u128 / 1_000_000) as u64;
    }
    let mut sorted = ns;
    sorted.sort_unstable();
    let median = sorted[1];
    check(median > 16_000_000 && median < 24_000_000, || {
        alloc::format!("20 ms on the TSC took {ns:?} ns on the HPET (median {median})")
    })
}
