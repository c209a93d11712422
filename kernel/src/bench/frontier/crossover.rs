//! The DMA/CPU crossover in batch bytes, measured once per boot: `dma-min-batch=auto`
//! and the frontier's default floor.
//!
//! Both engines (one CPU, one DMA channel) are calibrated on the `setup` design (the
//! copy phase of verified batched migrations, fitted to per-batch, per-descriptor and
//! per-byte costs), and the floor is the smallest batch of 4 KiB folios — the smallest
//! folio, where a DMA setup weighs most — that DMA copies at least as fast as the CPU.

use super::super::error::{BenchError, InputError};
use super::super::setup::{calibrate, design};
use super::super::totals::Totals;
use crate::migrate::engine::cpu::CpuEngine;
use crate::migrate::engine::dma::{DmaEngine, Split};
use crate::println;
use kcore::cmdline::Config;
use kcore::costmodel::Cost;
use spin::Once;

/// Largest batch considered, in 4 KiB folios (Linux's batch limit).
const MAX_FOLIOS: u64 = 512;

static FLOOR: Once<Result<u64, BenchError>> = Once::new();

/// The floor in bytes: the smallest batch of 4 KiB folios that one DMA channel copies at
/// least as fast as one CPU by the two fitted models, or `None` when DMA never does up
/// to [`MAX_FOLIOS`] folios.
pub fn floor(dma: &Cost, cpu: &Cost) -> Option<u64> {
    (1..=MAX_FOLIOS)
        .find(|&n| {
            let b = (n * 4096) as f64;
            dma.predict(1.0, n as f64, b) <= cpu.predict(1.0, n as f64, b)
        })
        .map(|n| n * 4096)
}

/// The crossover of this boot (measured at the first call).
///
/// # Errors
/// No DMA engine, or a calibration cell that failed.
pub fn measured(config: &Config) -> Result<u64, BenchError> {
    FLOOR.call_once(|| measure(config)).clone()
}

fn measure(config: &Config) -> Result<u64, BenchError> {
    if crate::dma::channel_count() == 0 {
        return Err(InputError::CrossoverNeedsDma.into());
    }
    let (from, to) = super::super::nodes(config)?;
    let points = design(1);
    let reps = config.migrate.reps.min(3);
    let mut scratch = Totals::default();
    let cpu = calibrate(&mut CpuEngine, &points, from, to, reps, None, &mut scratch)?;
    let mut dma = DmaEngine::new(
        Some(1),
        Split::Ops(ptdma::SplitPolicy::RoundRobin),
        config.dma_timeout_ms,
    )?;
    let d = calibrate(&mut dma, &points, from, to, reps, None, &mut scratch)?;
    let floor = floor(&d.cost, &cpu.cost);
    let bytes = floor.unwrap_or((MAX_FOLIOS + 1) * 4096);
    println!(
        "crossover: one DMA channel vs one CPU on 4K folios: DMA is {} (min batch {} KiB); \
         models dma {:.0} ns/batch + {:.0} ns/desc + {:.3} ns/B, cpu {:.0} ns/batch + {:.0} ns/desc + {:.3} ns/B",
        match floor {
            Some(_) => "at least as fast from this batch size on",
            None => "slower at every batch size up to 512 folios",
        },
        bytes >> 10,
        d.cost.per_batch_ns,
        d.cost.per_desc_ns,
        d.cost.per_byte_ns,
        cpu.cost.per_batch_ns,
        cpu.cost.per_desc_ns,
        cpu.cost.per_byte_ns,
    );
    Ok(bytes)
}
