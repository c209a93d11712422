//! A cell's RESULT line (the machine-readable record of every figure, with what it
//! depends on) and the boot's copy ceilings it is compared against.

use super::json::Obj;
use super::spec::{Outcome, Spec};
use crate::println;
use alloc::string::String;
use kcore::migrate::folio_bytes;
use kcore::record::{result as k, RESULT_MARKER};
use kcore::stats::Summary;
use spin::Once;

/// The ceilings of this boot, GB/s.
#[derive(Debug, Clone, Copy)]
pub struct Ceiling {
    /// Best CPU raw copy.
    pub cpu: f64,
    /// Best DMA raw copy (None without DMA).
    pub dma: Option<f64>,
}

static CEILING: Once<Ceiling> = Once::new();

/// Records the ceilings (the first call wins: one measurement per boot).
pub fn set_ceiling(c: Ceiling) {
    CEILING.call_once(|| c);
}

/// The ceilings, once measured.
pub fn ceiling() -> Option<Ceiling> {
    CEILING.get().copied()
}

/// `(pct_of_ceiling, pct_of_dma_ceiling)` of a cell whose mean is `gbps`: NaN (null in
/// JSON) before the ceiling is measured, for a cell that is not a figure, and for the
/// DMA share of a cell without DMA channels.
pub fn pct(o: &Outcome, gbps: f64) -> (f64, f64) {
    match ceiling() {
        Some(c) if o.is_figure() => (
            100.0 * gbps / c.cpu,
            match c.dma {
                Some(d) if o.channels > 0 => 100.0 * gbps / d,
                _ => f64::NAN,
            },
        ),
        _ => (f64::NAN, f64::NAN),
    }
}

/// Runs a cell, prints its RESULT line and counts it (and its failure, if any).
pub fn measure(
    spec: &Spec,
    engine: &mut dyn crate::migrate::engine::CopyEngine,
    progress: &str,
    totals: &mut super::totals::Totals,
) -> Outcome {
    let o = super::cell::run(spec, engine, progress);
    println!("{}", result_line(spec, &o));
    totals.count(&o);
    o
}

/// The cell's `RESULT {json}` line.
pub fn result_line(spec: &Spec, o: &Outcome) -> String {
    alloc::format!("{RESULT_MARKER} {}", result_obj(spec, o).finish())
}

/// The cell's RESULT object, for experiments that add their own keys.
pub fn result_obj(spec: &Spec, o: &Outcome) -> Obj {
    let s = Summary::of(&o.gbps).ok();
    let get = |f: fn(&Summary) -> f64| s.as_ref().map_or(f64::NAN, f);
    let run = crate::bench_context();
    let ceiling = pct(o, get(|s| s.mean));
    let [prepare, unmap, copy, remap] = k::PHASE_NS_FIELDS;
    let [reads, writes, doorbells] = k::MMIO_FIELDS;
    Obj::new()
        .str(k::EXP, spec.exp)
        .str(k::ENGINE, o.engine_name)
        .str(k::MODE, spec.kind.name())
        .int(k::FOLIO_KIB, folio_bytes(spec.order) >> 10)
        .int(
            k::FOLIOS,
            spec.mix_orders().map_or(spec.folios, |o| o.len()) as u64,
        )
        .int(k::THREADS, o.threads as u64)
        .int(k::CHANNELS, o.channels as u64)
        .str(
            k::DMA_KIND,
            if o.channels > 0 {
                crate::dma::kinds_name()
            } else {
                "-"
            },
        )
        .str(k::PLACEMENT, &o.placement)
        .int(k::FROM, spec.from as u64)
        .int(k::TO, spec.to as u64)
        .int(k::BYTES, spec.bytes())
        .obj(k::MIX, super::keys::mix_obj(spec))
        .int(k::BATCH_PAGES, spec.batch_pages.min(1 << 40))
        .int(k::REPS, o.gbps.len() as u64)
        .num(k::GBPS_MEAN, get(|s| s.mean))
        .num(k::GBPS_STDEV, get(|s| s.stdev))
        .num(k::GBPS_CV, get(|s| s.cv))
        .num(k::GBPS_MIN, get(|s| s.min))
        .num(k::GBPS_MAX, get(|s| s.max))
        .obj(
            k::PHASE_NS,
            Obj::new()
                .int(prepare, o.phases.prepare)
                .int(unmap, o.phases.unmap)
                .int(copy, o.phases.copy)
                .int(remap, o.phases.remap),
        )
        .bool(k::VERIFIED, o.failure.is_none())
        .str(k::STATUS, o.status.name())
        .int(k::BYTES_DMA, o.copied.dma)
        .int(k::BYTES_CPU, o.copied.cpu)
        .int(k::BYTES_FALLBACK, o.copied.fallback)
        .frac(k::FALLBACK_SHARE, o.copied.fallback_share())
        .ints(k::FALLBACK_BYTES_PER_REP, &o.fallback_per_rep)
        .obj(
            k::MMIO,
            Obj::new()
                .int(reads, o.engine.mmio.reads)
                .int(writes, o.engine.mmio.writes)
                .int(doorbells, o.engine.mmio.doorbells),
        )
        .int(k::FALLBACK_OPS, o.engine.fallback_ops as u64)
        .int(k::DMA_BATCHES, o.engine.dma_batches)
        .int(k::DMA_SUBMIT_NS, o.engine.dma_submit_ns)
        .int(k::DMA_WAIT_NS, o.engine.dma_wait_ns)
        .str(k::DMA_SPLIT, o.split)
        .int(k::DMA_MIN_BATCH, o.min_batch)
        .int(k::DECLINED_BATCHES, o.engine.declined)
        .str(
            k::COPY_ROUTINE,
            crate::migrate::engine::cpu::routine().name(),
        )
        .str(k::ACCEL, run.accel)
        .str(k::CPU, &run.cpu)
        .str(k::TOPOLOGY, &run.topology)
        .str(k::DMA_PROFILE, &run.dma_profile)
        .str(k::FEATURES, run.features)
        .str(k::HOST, &run.host)
        .obj(k::UNMAPPED_US, super::keys::pct_obj(&o.windows, true))
        .obj(
            k::FIRST_MAPPED_US,
            super::keys::pct_obj(&o.first_mapped, false),
        )
        .num(k::PCT_OF_CEILING, ceiling.0)
        .num(k::PCT_OF_DMA_CEILING, ceiling.1)
}
