//! Item 4: small batches declined. DMA batches below a floor are copied by the CPU
//! (counted as `declined_batches`, their bytes as `bytes_cpu`, never as fallback), since
//! one DMA setup costs more than copying a few pages.
//!
//! The floor is `dma-min-batch=` when given (used exactly), else the DMA/CPU crossover
//! measured in this boot ([`super::crossover`]). Table: throughput of batched 4K
//! migrations by batch limit, DMA without the floor, DMA with it, and one CPU.

use super::super::error::BenchError;
use super::super::spec::{cell_text, Spec};
use super::super::totals::Totals;
use crate::migrate::engine::cpu::CpuEngine;
use crate::migrate::engine::dma::DmaEngine;
use crate::migrate::engine::CopyEngine;
use crate::println;
use alloc::boxed::Box;
use alloc::vec::Vec;
use kcore::cmdline::{Config, MinBatch};

/// Batch limits in 4 KiB pages.
pub const BATCHES: [u64; 7] = [1, 2, 4, 8, 32, 128, 512];

/// Bytes per repetition: at most 2 MiB (the one-folio batches pay a doorbell each).
pub fn total(total: u64) -> u64 {
    total.min(2 << 20)
}

/// The floor used: given, or measured.
///
/// # Errors
/// `auto`/unset without a DMA engine.
pub fn floor(config: &Config) -> Result<u64, BenchError> {
    match config.dma_min_batch {
        MinBatch::Bytes(n) if config.given("dma-min-batch") => Ok(n),
        MinBatch::Off if config.given("dma-min-batch") => Ok(0),
        _ => {
            let f = super::crossover::measured(config)?;
            if !config.given("dma-min-batch") {
                println!("note: dma-min-batch not given: frontier uses the crossover measured in this boot, {} KiB", f >> 10);
            }
            Ok(f)
        }
    }
}

/// Runs the table.
///
/// # Errors
/// An engine that cannot be built, or the crossover that cannot be measured.
pub fn run(
    config: &Config,
    from: u32,
    to: u32,
    total: u64,
    totals: &mut Totals,
) -> Result<(), BenchError> {
    let floor = floor(config)?;
    let split = super::super::dma_split(config);
    let folios = (self::total(total) >> 12) as usize;
    let mut engines: Vec<Box<dyn CopyEngine>> = alloc::vec![
        Box::new(DmaEngine::new(
            config.migrate.channels,
            split,
            config.dma_timeout_ms
        )?),
        Box::new(
            DmaEngine::new(config.migrate.channels, split, config.dma_timeout_ms)?
                .with_min_batch(floor),
        ),
        Box::new(CpuEngine),
    ];
    let mut specs = Vec::new();
    let mut progress = Vec::new();
    for &b in &BATCHES {
        for (e, label) in ["dma", "dma+floor", "cpu"].iter().enumerate() {
            let spec = Spec {
                batch_pages: b,
                ..Spec::batched("frontier-minbatch", 0, folios, from, to, config)
            };
            specs.push((spec, e));
            progress.push(alloc::format!("min-batch: batch {b} pages, {label}"));
        }
    }
    let outs = super::super::interleave::measure(&specs, &mut engines, &progress, totals);
    println!();
    println!(
        "frontier 4. Declined batches: {folios} x 4K, floor {} KiB (GB/s; declined = batches the CPU copied by design){}",
        floor >> 10,
        crate::bench_context().note()
    );
    println!(
        "{:>6} {:>18} {:>18} {:>10} {:>18} {:>14}",
        "batch", "dma", "dma+floor", "declined", "cpu", "floor/no floor"
    );
    for (k, &b) in BATCHES.iter().enumerate() {
        let (d, f, c) = (&outs[3 * k], &outs[3 * k + 1], &outs[3 * k + 2]);
        let batches = (folios as u64).div_ceil(b) * u64::from(config.migrate.reps);
        println!(
            "{:>6} {:>18} {:>18} {:>10} {:>18} {:>14}",
            alloc::format!("{}K", b * 4),
            cell_text(d),
            cell_text(f),
            alloc::format!("{}/{}", f.engine.declined, batches),
            cell_text(c),
            super::ratio(super::mean(f), super::mean(d))
        );
    }
    Ok(())
}
