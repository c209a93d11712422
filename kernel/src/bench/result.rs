//! A cell's RESULT line (the machine-readable record of every figure, with what it
//! depends on) and the boot's copy ceilings it is compared against.

use super::json::Obj;
use super::spec::{Outcome, Spec};
use crate::println;
use alloc::string::String;
use kcore::migrate::folio_bytes;
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
    alloc::format!("RESULT {}", result_obj(spec, o).finish())
}

/// The cell's RESULT object, for experiments that add their own keys.
pub fn result_obj(spec: &Spec, o: &Outcome) -> Obj {
    let s = Summary::of(&o.gbps).ok();
    let get = |f: fn(&Summary) -> f64| s.as_ref().map_or(f64::NAN, f);
    let run = crate::bench_context();
    let ceiling = pct(o, get(|s| s.mean));
    Obj::new()
        .str("exp", spec.exp)
        .str("engine", o.engine_name)
        .str("mode", spec.kind.name())
        .int("folio_kib", folio_bytes(spec.order) >> 10)
        .int(
            "folios",
            spec.mix_orders().map_or(spec.folios, |o| o.len()) as u64,
        )
        .int("threads", o.threads as u64)
        .int("channels", o.channels as u64)
        .str(
            "dma_kind",
            if o.channels > 0 {
                crate::dma::kinds_name()
            } else {
                "-"
            },
        )
        .str("placement", &o.placement)
        .int("from", spec.from as u64)
        .int("to", spec.to as u64)
        .int("bytes", spec.bytes())
        .obj("mix", super::keys::mix_obj(spec))
        .int("batch_pages", spec.batch_pages.min(1 << 40))
        .int("reps", o.gbps.len() as u64)
        .num("gbps_mean", get(|s| s.mean))
        .num("gbps_stdev", get(|s| s.stdev))
        .num("gbps_cv", get(|s| s.cv))
        .num("gbps_min", get(|s| s.min))
        .num("gbps_max", get(|s| s.max))
        .obj(
            "phase_ns",
            Obj::new()
                .int("prepare", o.phases.prepare)
                .int("unmap", o.phases.unmap)
                .int("copy", o.phases.copy)
                .int("remap", o.phases.remap),
        )
        .bool("verified", o.failure.is_none())
        .str("status", o.status.name())
        .int("bytes_dma", o.copied.dma)
        .int("bytes_cpu", o.copied.cpu)
        .int("bytes_fallback", o.copied.fallback)
        .frac("fallback_share", o.copied.fallback_share())
        .ints("fallback_bytes_per_rep", &o.fallback_per_rep)
        .obj(
            "mmio",
            Obj::new()
                .int("reads", o.engine.mmio.reads)
                .int("writes", o.engine.mmio.writes)
                .int("doorbells", o.engine.mmio.doorbells),
        )
        .int("fallback_ops", o.engine.fallback_ops as u64)
        .int("dma_batches", o.engine.dma_batches)
        .int("dma_submit_ns", o.engine.dma_submit_ns)
        .int("dma_wait_ns", o.engine.dma_wait_ns)
        .str("dma_split", o.split)
        .int("dma_min_batch", o.min_batch)
        .int("declined_batches", o.engine.declined)
        .str(
            "copy_routine",
            crate::migrate::engine::cpu::routine().name(),
        )
        .str("accel", run.accel)
        .str("cpu", &run.cpu)
        .str("topology", &run.topology)
        .str("dma_profile", &run.dma_profile)
        .str("features", run.features)
        .str("host", &run.host)
        .obj("unmapped_us", super::keys::pct_obj(&o.windows, true))
        .obj(
            "first_mapped_us",
            super::keys::pct_obj(&o.first_mapped, false),
        )
        .num("pct_of_ceiling", ceiling.0)
        .num("pct_of_dma_ceiling", ceiling.1)
}
