//! Item 6: what each batch size costs in latency. For batch limits from one folio to
//! the whole workload, on each engine: throughput, the time from the start of a batch
//! until its first folio is mapped again, and each folio's unmapped window (the time a
//! process touching it would wait) as p50/p99/max (`kcore::latency`).
//!
//! `batch=auto:unmapped-us=N` (default N = 300 here) picks, per engine, the largest
//! batch whose p99 window stays within N µs and says how much throughput it gives up
//! against the best batch of the sweep.

use super::super::error::BenchError;
use super::super::spec::{cell_text, Outcome, Spec};
use super::super::totals::Totals;
use crate::println;
use alloc::string::String;
use alloc::vec::Vec;
use kcore::cmdline::Config;
use kcore::latency::{auto_batch, percentiles, SweepPoint};

/// The bound when `batch=auto:unmapped-us=` is not given, µs.
pub const DEFAULT_BOUND_US: u64 = 300;

/// Batch limits of the sweep in 4 KiB pages (`u64::MAX`: the whole workload).
pub const BATCHES: [u64; 6] = [1, 8, 64, 512, 4096, u64::MAX];

fn us(ns: u64) -> String {
    alloc::format!("{:.1}", ns as f64 / 1e3)
}

fn batch_name(b: u64) -> String {
    if b == u64::MAX {
        String::from("all")
    } else {
        alloc::format!("{b}")
    }
}

/// Runs the sweep and the automatic choice.
///
/// # Errors
/// An engine that cannot be built.
pub fn run(
    config: &Config,
    from: u32,
    to: u32,
    total: u64,
    totals: &mut Totals,
) -> Result<(), BenchError> {
    let folios = (total >> 12).max(1) as usize;
    let bound_us = config.migrate.batch_auto_us.unwrap_or(DEFAULT_BOUND_US);
    let (names, mut engines) = super::cpu_and_dma(config)?;
    let batches: Vec<u64> = BATCHES
        .iter()
        .copied()
        .filter(|&b| b == u64::MAX || b < folios as u64)
        .collect();
    let mut specs = Vec::new();
    let mut progress = Vec::new();
    for (e, name) in names.iter().enumerate() {
        for &b in &batches {
            let spec = Spec {
                batch_pages: b,
                ..Spec::batched("frontier-latency", 0, folios, from, to, config)
            };
            specs.push((spec, e));
            progress.push(alloc::format!("latency: {name}, batch {}", batch_name(b)));
        }
    }
    let outs = super::super::interleave::measure(&specs, &mut engines, &progress, totals);
    println!();
    println!(
        "frontier 6. Latency by batch size: {folios} x 4K (first mapped = from the start of a batch to its first folio mapped again; unmapped = each folio's window; µs){}",
        crate::bench_context().note()
    );
    println!(
        "{:>6} {:>6} {:>18} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "engine", "batch", "GB/s", "first p50", "first max", "unm. p50", "unm. p99", "unm. max"
    );
    for (k, o) in outs.iter().enumerate() {
        let (e, b) = (k / batches.len(), batches[k % batches.len()]);
        let mut f = o.first_mapped.clone();
        let mut w = o.windows.clone();
        let (fp, wp) = (percentiles(&mut f), percentiles(&mut w));
        println!(
            "{:>6} {:>6} {:>18} {:>10} {:>10} {:>10} {:>10} {:>10}",
            names[e],
            batch_name(b),
            cell_text(o),
            fp.map_or(String::from("-"), |p| us(p.p50)),
            fp.map_or(String::from("-"), |p| us(p.max)),
            wp.map_or(String::from("-"), |p| us(p.p50)),
            wp.map_or(String::from("-"), |p| us(p.p99)),
            wp.map_or(String::from("-"), |p| us(p.max)),
        );
    }
    for (e, name) in names.iter().enumerate() {
        let rows = &outs[e * batches.len()..(e + 1) * batches.len()];
        choose(name.name(), &batches, rows, bound_us);
    }
    Ok(())
}

/// Prints `batch=auto:unmapped-us=N` for one engine's sweep.
fn choose(name: &str, batches: &[u64], rows: &[Outcome], bound_us: u64) {
    let points: Vec<SweepPoint> = batches
        .iter()
        .zip(rows)
        .filter_map(|(&b, o)| {
            let gbps = super::mean(o)?;
            let mut w = o.windows.clone();
            let p = percentiles(&mut w)?;
            Some(SweepPoint {
                batch_pages: b,
                p99_ns: p.p99,
                gbps,
            })
        })
        .collect();
    let best = points.iter().map(|p| p.gbps).fold(0.0f64, f64::max);
    match auto_batch(&points, bound_us * 1000) {
        Some(p) => println!(
            "  batch=auto:unmapped-us={bound_us} for {name}: batch {} (p99 window {} µs), {:.3} GB/s = {:.1} % of the best batch's {:.3} GB/s (gives up {:.1} %)",
            batch_name(p.batch_pages),
            us(p.p99_ns),
            p.gbps,
            100.0 * p.gbps / best,
            best,
            100.0 - 100.0 * p.gbps / best
        ),
        None => println!(
            "  batch=auto:unmapped-us={bound_us} for {name}: no batch of the sweep keeps the p99 window within {bound_us} µs"
        ),
    }
}
