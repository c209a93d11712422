//! `bench=cycles`: CPU time (TSC cycles) spent per GiB migrated by each engine, and how
//! much of it the DMA offload gives back.
//!
//! Each engine migrates the same workload (batched, verified). Per repetition:
//! - `cpu`: every phase is one busy CPU;
//! - `cpu-mt` with N workers: prepare + unmap + remap on the migrating CPU, the copy phase on
//!   N CPUs (plus the migrating CPU when it only waits for the workers — it spins);
//! - `dma`: prepare + unmap + remap + the copy phase minus the completion wait (splitting,
//!   descriptor writes, doorbells, CPU fallback) is CPU work; the completion wait (polling
//!   and completion handling, which the driver times together) is reported apart: a kernel
//!   that sleeps until an interrupt gets that time back.

use super::cell;
use super::error::BenchError;
use super::spec::{size_name, Outcome, Spec};
use super::totals::Totals;
use crate::migrate::engine::cpu::CpuEngine;
use crate::migrate::engine::cpumt::CpuMtEngine;
use crate::migrate::engine::dma::DmaEngine;
use crate::migrate::engine::CopyEngine;
use crate::println;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use kcore::cmdline::{Config, Engine};
use kcore::migrate::folio_bytes;
use kcore::stats::Summary;

/// (busy ns, waiting ns) per repetition; `busy_cpus` CPUs during the copy phase.
fn cpu_time(o: &Outcome, busy_cpus: usize) -> (f64, f64) {
    let reps = o.gbps.len().max(1) as f64;
    let p = &o.phases;
    let other = (p.prepare + p.unmap + p.remap) as f64;
    let wait = o.engine.dma_wait_ns as f64 / reps;
    if o.channels > 0 {
        (other + (p.copy as f64 - wait).max(0.0), wait)
    } else {
        (other + p.copy as f64 * busy_cpus as f64, 0.0)
    }
}

/// Runs `bench=cycles`.
///
/// # Errors
/// [`BenchError::Input`] for nodes (`from=`/`to=`) without memory, [`BenchError::Engine`]/[`BenchError::Channels`] for
/// an engine that cannot be built.
pub fn cycles(config: &Config, totals: &mut Totals) -> Result<(), BenchError> {
    let (from, to) = super::nodes(config)?;
    let sizes = super::sizes_or(config, &[0, 9]);
    let total = super::question_total(config);
    let me = crate::arch::percpu::current_index();
    let mt = crate::smp::online().len().min(4);
    let mut engines: Vec<(Box<dyn CopyEngine>, usize)> = alloc::vec![(Box::new(CpuEngine), 1)];
    if mt > 1 {
        let e = CpuMtEngine::new(mt, &config.migrate.placement, from, to)?;
        let busy = e.cpus().len() + usize::from(!e.cpus().contains(&me));
        engines.push((Box::new(e), busy));
    }
    if crate::dma::channel_count() > 0 {
        let e = DmaEngine::new(None, super::dma_split(config), config.dma_timeout_ms)?;
        engines.push((Box::new(e), 1));
    } else {
        println!("cycles: no DMA engine: the dma rows are skipped");
    }
    let hz = crate::arch::tsc::hz() as f64;
    println!(
        "cycles: CPU cycles per GiB migrated; engines cpu, cpu-mt x{mt}, dma (all channels); sizes {}; {} MiB per repetition, node {from} -> {to}, {} reps + warm-up; TSC {:.0} MHz{}",
        sizes
            .iter()
            .map(|&o| alloc::format!("{}", size_name(o)))
            .collect::<Vec<_>>()
            .join(","),
        total >> 20,
        config.migrate.reps,
        hz / 1e6,
        crate::bench_context().note()
    );
    let mut rows = Vec::new();
    let cells = sizes.len() * engines.len();
    let mut k = 0;
    for &order in &sizes {
        let mut cpu_busy = None;
        for (e, busy) in engines.iter_mut() {
            k += 1;
            let spec = Spec::batched(
                "cycles",
                order,
                (total / folio_bytes(order)).max(1) as usize,
                from,
                to,
                config,
            );
            let label =
                alloc::format!("cycles cell {k}/{cells}: {} {}", e.name(), size_name(order));
            let o = cell::run(&spec, e.as_mut(), &label);
            totals.count(&o);
            let (busy_ns, wait_ns) = cpu_time(&o, *busy);
            let gib = (spec.folios as u64 * folio_bytes(order)) as f64 / (1u64 << 30) as f64;
            let per_gib = |ns: f64| ns * hz / 1e9 / gib;
            let busy_c = per_gib(busy_ns);
            if e.name() == Engine::Cpu.name() {
                cpu_busy = Some(busy_c);
            }
            let obj = super::result::result_obj(&spec, &o)
                .int("busy_cpus", *busy as u64)
                .num("cpu_cycles_per_gib", busy_c)
                .num("wait_cycles_per_gib", per_gib(wait_ns))
                .num(
                    "cpu_cycles_vs_cpu_engine",
                    cpu_busy.map_or(f64::NAN, |c| busy_c / c),
                );
            crate::bench::json::print_result(obj);
            let gbps = if o.failure.is_some() {
                None
            } else {
                Summary::of(&o.gbps).ok().map(|s| s.mean)
            };
            rows.push((
                order,
                alloc::format!("{} x{}", e.name(), e.width()),
                gbps,
                busy_c,
                per_gib(wait_ns),
                cpu_busy.map(|c| busy_c / c),
            ));
        }
    }
    println!();
    println!(
        "cycles. CPU cycles per GiB migrated (batched; DMA completion wait apart){}",
        crate::bench_context().note()
    );
    println!(
        " folio | engine     |   GB/s | CPU Mcycles/GiB | DMA wait Mcycles/GiB | CPU vs cpu engine"
    );
    println!("==========================================================================================");
    for (order, name, gbps, busy, wait, ratio) in rows {
        println!(
            " {:>5} | {name:<10} | {:>6} | {:>15.1} | {:>20.1} | {:>17}",
            alloc::format!("{}", size_name(order)),
            gbps.map_or(String::from("FAILED"), |g| alloc::format!("{g:.3}")),
            busy / 1e6,
            wait / 1e6,
            ratio.map_or(String::from("-"), |r| alloc::format!("{r:.2}"))
        );
    }
    Ok(())
}
