//! Item 1: the machine's own copy ceiling, measured in the same boot before the other
//! frontier experiments, for the node pair they use.
//!
//! Raw copies (no unmap, no remap: `Kind::RawCopy`) of 2 MiB folios from the source to
//! the destination node, each verified: one CPU with temporal stores (the routine chosen
//! at boot) and with non-temporal stores, all CPUs of the two nodes (`cpu-mt`, temporal),
//! each DMA channel alone and all channels together. The CPU ceiling is the best CPU
//! cell, the DMA ceiling the best DMA cell; once measured, every later RESULT line
//! carries `pct_of_ceiling` (its GB/s over the CPU ceiling) and, for DMA cells,
//! `pct_of_dma_ceiling`.

use super::super::error::BenchError;
use super::super::result::Ceiling;
use super::super::spec::{cell_text, Kind, Outcome, Spec};
use super::super::totals::Totals;
use crate::arch::copy::Routine;
use crate::migrate::engine::cpu::{CpuEngine, RoutineEngine};
use crate::migrate::engine::cpumt::CpuMtEngine;
use crate::migrate::engine::dma::{DmaEngine, Split};
use crate::migrate::engine::CopyEngine;
use crate::println;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use kcore::cmdline::Config;
use kcore::placement::Policy;
use kcore::stats::Summary;

fn mean(o: &Outcome) -> Option<f64> {
    if !o.is_figure() {
        return None;
    }
    Summary::of(&o.gbps).ok().map(|s| s.mean)
}

/// Measures the ceilings on `from -> to` with `total` bytes of 2 MiB folios per
/// repetition and records them for the RESULT lines that follow.
///
/// # Errors
/// An engine that cannot be built.
pub fn measure(
    config: &Config,
    from: u32,
    to: u32,
    total: u64,
    totals: &mut Totals,
) -> Result<Ceiling, BenchError> {
    let folios = (total >> 21).max(1) as usize;
    let mut engines: Vec<(String, bool, Box<dyn CopyEngine>)> = Vec::new();
    engines.push((
        alloc::format!(
            "1 CPU, {} (temporal)",
            crate::migrate::engine::cpu::routine().name()
        ),
        false,
        Box::new(CpuEngine),
    ));
    if let Ok(nt) = RoutineEngine::new(Routine::NonTemporal) {
        engines.push(("1 CPU, non-temporal".into(), false, Box::new(nt)));
    }
    let cpus = crate::smp::online().len();
    if cpus > 1 {
        if let Ok(mt) = CpuMtEngine::new(cpus, &Policy::Spread, from, to) {
            engines.push((alloc::format!("{cpus} CPUs (cpu-mt)"), false, Box::new(mt)));
        }
    }
    let channels = crate::dma::channel_count();
    let split = Split::Ops(ptdma::SplitPolicy::RoundRobin);
    for c in 0..channels {
        engines.push((
            alloc::format!("DMA channel {c} alone"),
            true,
            Box::new(DmaEngine::only(c, split, config.dma_timeout_ms)?),
        ));
    }
    if channels > 1 {
        engines.push((
            alloc::format!("all {channels} DMA channels"),
            true,
            Box::new(DmaEngine::new(None, split, config.dma_timeout_ms)?),
        ));
    }
    let specs: Vec<(Spec, usize)> = (0..engines.len())
        .map(|i| {
            let spec = Spec {
                exp: "frontier-ceiling",
                kind: Kind::RawCopy,
                order: 9,
                folios,
                from,
                to,
                batch_pages: u64::MAX,
                reps: config.migrate.reps,
                mix: None,
            };
            (spec, i)
        })
        .collect();
    let progress: Vec<String> = engines
        .iter()
        .map(|(label, _, _)| alloc::format!("ceiling: {label}"))
        .collect();
    let mut boxes: Vec<Box<dyn CopyEngine>> = Vec::new();
    let mut labels: Vec<(String, bool)> = Vec::new();
    for (label, dma, e) in engines {
        labels.push((label, dma));
        boxes.push(e);
    }
    let outs = super::super::interleave::measure(&specs, &mut boxes, &progress, totals);
    let best = |dma: bool| {
        labels
            .iter()
            .zip(&outs)
            .filter(|((_, d), _)| *d == dma)
            .filter_map(|(_, o)| mean(o))
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
    };
    let cpu = best(false).ok_or_else(|| BenchError::Calibration {
        cell: String::from("ceiling"),
        status: kcore::honesty::Status::VerificationFailed,
        why: String::from("no CPU raw copy verified"),
    })?;
    let ceiling = Ceiling {
        cpu,
        dma: best(true),
    };
    println!();
    println!(
        "frontier 1. Copy ceiling node {from} -> {to}: raw copies of {folios} x 2M, verified{}",
        crate::bench_context().note()
    );
    println!("{:<32} {:>18} {:>10}", "copier", "GB/s", "% of best");
    for ((label, dma), o) in labels.iter().zip(&outs) {
        let of = if *dma { ceiling.dma } else { Some(cpu) };
        let pct = match (mean(o), of) {
            (Some(x), Some(c)) => alloc::format!("{:.1}", 100.0 * x / c),
            _ => String::from("-"),
        };
        println!("{label:<32} {:>18} {pct:>10}", cell_text(o));
    }
    println!(
        "  ceiling: CPU {:.3} GB/s{}",
        cpu,
        ceiling
            .dma
            .map_or(String::new(), |d| alloc::format!(", DMA {d:.3} GB/s"))
    );
    super::super::result::set_ceiling(ceiling);
    Ok(ceiling)
}
