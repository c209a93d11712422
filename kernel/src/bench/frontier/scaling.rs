//! Item 3: DMA split by bytes across 1..N channels, against whole folios round-robin.
//!
//! The shape of tables 1b/2b with 2M folios and the default batch limit (512 pages): each
//! batch holds one 2M folio, so `rr` gives it to one channel whatever the channel count,
//! while `bytes` cuts it into one chunk per channel (`dma-chunk`, default 256k..2m). The
//! figure is the speed-up over one channel and its efficiency (speed-up / N): it can only
//! approach N where the engine is the limit, which under TCG needs a throttled profile
//! (`--ptdma-arg=--bw-gbps=0.3`: each queue copies at 0.3 GB/s).

use super::super::error::BenchError;
use super::super::spec::{cell_text, Kind, Spec};
use super::super::totals::Totals;
use super::{mean, ratio};
use crate::migrate::engine::dma::{DmaEngine, Split};
use crate::migrate::engine::CopyEngine;
use crate::migrate::Mode;
use crate::println;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use kcore::cmdline::Config;

/// Runs the scaling table.
///
/// # Errors
/// A given `widths=` the machine lacks, or an engine that cannot be built.
pub fn run(
    config: &Config,
    from: u32,
    to: u32,
    total: u64,
    totals: &mut Totals,
) -> Result<(), BenchError> {
    let have = crate::dma::channel_count() as u32;
    let widths = if config.given("widths") {
        super::super::widths(config, have, "DMA channels", "frontier")?
    } else {
        [1u32, 2, 4, 8, 16]
            .into_iter()
            .filter(|&w| w <= have)
            .collect()
    };
    let folios = (total >> 21).max(1) as usize;
    let chunk = config.dma_chunk;
    let mut engines: Vec<Box<dyn CopyEngine>> = Vec::new();
    let mut specs = Vec::new();
    let mut progress = Vec::new();
    for &w in &widths {
        for split in [
            Split::Ops(ptdma::SplitPolicy::RoundRobin),
            Split::Bytes(chunk),
        ] {
            engines.push(Box::new(DmaEngine::new(
                Some(w),
                split,
                config.dma_timeout_ms,
            )?));
            let spec = Spec {
                exp: "frontier-split",
                kind: Kind::Migrate(Mode::Batched),
                order: 9,
                folios,
                from,
                to,
                batch_pages: 512,
                reps: config.migrate.reps,
                mix: None,
            };
            specs.push((spec, engines.len() - 1));
            progress.push(alloc::format!(
                "split: {} over {w} channel(s)",
                split.name()
            ));
        }
    }
    let outs = super::super::interleave::measure(&specs, &mut engines, &progress, totals);
    println!();
    println!(
        "frontier 3. DMA split: {folios} x 2M, one folio per batch, chunks {}..{} KiB (GB/s; speed-up over 1 channel; efficiency = speed-up / N){}",
        chunk.min >> 10,
        chunk.max >> 10,
        crate::bench_context().note()
    );
    println!(
        "{:>8} {:>18} {:>18} {:>12} {:>12} {:>12}",
        "channels", "rr", "bytes", "rr speed-up", "bytes sp-up", "bytes eff."
    );
    let base = (mean(&outs[0]), mean(&outs[1]));
    for (k, &w) in widths.iter().enumerate() {
        let (rr, by) = (&outs[2 * k], &outs[2 * k + 1]);
        let eff = match (mean(by), base.1) {
            (Some(x), Some(b)) if b > 0.0 => alloc::format!("{:.3}", x / b / w as f64),
            _ => String::from("-"),
        };
        println!(
            "{w:>8} {:>18} {:>18} {:>12} {:>12} {eff:>12}",
            cell_text(rr),
            cell_text(by),
            ratio(mean(rr), base.0),
            ratio(mean(by), base.1)
        );
    }
    Ok(())
}
