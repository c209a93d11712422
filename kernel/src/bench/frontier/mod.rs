//! `bench=frontier`: past the RFC's tables, in one boot (README "Frontier"):
//! 1. [`ceiling`]: the machine's own copy ceiling, so every later cell has a
//!    `pct_of_ceiling`;
//! 3. [`scaling`]: DMA split by bytes vs by folios, 1..N channels, one 2M folio per
//!    batch — with a throttled engine profile the engine, not the host, is the limit;
//! 4. [`minbatch`]: small batches declined to the CPU below `dma-min-batch`;
//! 5. [`mix`]: one workload of several folio sizes;
//! 6. [`latency`]: what each batch size costs in latency, and `batch=auto:unmapped-us=N`.
//!
//! Item 2 (the batched path) is `bench=efficiency`.

pub mod ceiling;
pub mod crossover;
pub mod latency;
pub mod minbatch;
pub mod mix;
pub mod scaling;

use super::error::BenchError;
use super::totals::Totals;
use crate::migrate::engine::CopyEngine;
use crate::println;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use kcore::cmdline::{Config, Engine};

/// Bytes per repetition: `total=` when given, else the question experiments' default.
pub fn total(config: &Config) -> u64 {
    super::question_total(config)
}

/// Runs `bench=frontier`.
///
/// # Errors
/// Bad input (a given key that cannot be honoured), or the first experiment that stopped.
pub fn frontier(config: &Config, totals: &mut Totals) -> Result<(), BenchError> {
    let (from, to) = super::nodes(config)?;
    let total = total(config);
    println!(
        "frontier: {} MiB per repetition, node {from} -> {to}, {} reps + warm-up{}",
        total >> 20,
        config.migrate.reps,
        crate::bench_context().note()
    );
    ceiling::measure(config, from, to, total, totals)?;
    if crate::dma::channel_count() > 0 {
        scaling::run(config, from, to, total, totals)?;
        minbatch::run(config, from, to, total, totals)?;
    } else {
        println!(
            "frontier: no DMA engine: items 3 (split by bytes) and 4 (declined batches) skipped"
        );
    }
    mix::run(config, from, to, total, totals)?;
    latency::run(config, from, to, total, totals)?;
    Ok(())
}

/// `a / b` with three decimals, or `-`.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => alloc::format!("{:.3}", a / b),
        _ => String::from("-"),
    }
}

/// Mean GB/s of a cell that is a figure of its engine.
pub fn mean(o: &super::spec::Outcome) -> Option<f64> {
    if !o.is_figure() {
        return None;
    }
    kcore::stats::Summary::of(&o.gbps).ok().map(|s| s.mean)
}

/// Engines by name, each with the engine built for it.
pub type NamedEngines = (Vec<Engine>, Vec<Box<dyn CopyEngine>>);

/// The engines the frontier's sweeps compare: `cpu`, and `dma` when there is a DMA
/// engine, with their names in the same order.
///
/// # Errors
/// An engine that cannot be built ([`BenchError::Engine`]/[`BenchError::Channels`]).
pub fn cpu_and_dma(config: &Config) -> Result<NamedEngines, BenchError> {
    let mut names = alloc::vec![Engine::Cpu];
    if crate::dma::channel_count() > 0 {
        names.push(Engine::Dma);
    }
    let engines = names
        .iter()
        .map(|&n| super::engine(n, config))
        .collect::<Result<_, _>>()?;
    Ok((names, engines))
}
