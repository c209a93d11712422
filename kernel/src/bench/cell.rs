//! One benchmark cell: a warm-up and `reps` measured repetitions of the same
//! migration (or raw copy), each on a freshly created and filled workload, each
//! verified byte for byte and checked for leaked frames. Any failure stops the cell
//! and marks it unverified; it is never reported as a number.

use super::json::Obj;
use crate::arch::tsc;
use crate::migrate::engine::{CopyEngine, CopyOutcome};
use crate::migrate::pipeline::{self, PhaseNs};
use crate::migrate::workload::Workload;
use crate::migrate::Mode;
use crate::mm::frames;
use crate::println;
use alloc::string::String;
use alloc::vec::Vec;
use kcore::migrate::{folio_bytes, SizeName};
use kcore::stats::{gbps, Summary};

/// What a cell measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A migration in this mode.
    Migrate(Mode),
    /// The engine's copy alone (no unmap/remap): the ceiling.
    RawCopy,
}

impl Kind {
    /// Name in tables and RESULT lines.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Migrate(m) => m.name(),
            Kind::RawCopy => "raw-copy",
        }
    }
}

/// A cell's parameters.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Experiment name (`efficiency`, `migrate`, …).
    pub exp: &'static str,
    /// What to run.
    pub kind: Kind,
    /// Folio order.
    pub order: u8,
    /// Folios per repetition.
    pub folios: usize,
    /// Source and destination node.
    pub from: u32,
    /// Destination node.
    pub to: u32,
    /// Batch limit in base pages.
    pub batch_pages: u64,
    /// Measured repetitions.
    pub reps: u32,
}

impl Spec {
    /// A batched migration of `folios` folios of `order` from `from` to `to`, with the
    /// command line's batch limit and repetitions.
    pub fn batched(
        exp: &'static str,
        order: u8,
        folios: usize,
        from: u32,
        to: u32,
        config: &kcore::cmdline::Config,
    ) -> Self {
        Self {
            exp,
            kind: Kind::Migrate(crate::migrate::Mode::Batched),
            order,
            folios,
            from,
            to,
            batch_pages: config.migrate.batch_pages,
            reps: config.migrate.reps,
        }
    }
}

/// A cell's outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// GB/s of each measured repetition.
    pub gbps: Vec<f64>,
    /// Per-repetition mean of each phase.
    pub phases: PhaseNs,
    /// Engine side effects summed over the measured repetitions.
    pub engine: CopyOutcome,
    /// CPU worker threads.
    pub threads: usize,
    /// DMA channels.
    pub channels: usize,
    /// Placement policy of the workers.
    pub placement: String,
    /// Engine name.
    pub engine_name: &'static str,
    /// `None` when every repetition verified; else what went wrong.
    pub failure: Option<String>,
}

/// Runs a cell. `progress` is printed before each repetition.
pub fn run(spec: &Spec, engine: &mut dyn CopyEngine, progress: &str) -> Outcome {
    let mut out = Outcome {
        gbps: Vec::new(),
        phases: PhaseNs::default(),
        engine: CopyOutcome::default(),
        threads: engine.threads(),
        channels: engine.channels(),
        placement: String::from(engine.placement()),
        engine_name: engine.name(),
        failure: None,
    };
    let start = tsc::now_ns();
    for rep in 0..=spec.reps {
        let label = if rep == 0 {
            String::from("warm-up")
        } else {
            alloc::format!("rep {rep}/{}", spec.reps)
        };
        println!(
            "  [{progress}] {label} ({:.1} s)",
            (tsc::now_ns() - start) as f64 / 1e9
        );
        crate::smp::watchdog::progress();
        match one_rep(spec, engine, rep as u64) {
            Ok((ns, phases, eng)) if rep > 0 => {
                let bytes = spec.folios as u64 * folio_bytes(spec.order);
                out.gbps.push(gbps(bytes, ns).unwrap_or(0.0));
                out.phases.prepare += phases.prepare / spec.reps as u64;
                out.phases.unmap += phases.unmap / spec.reps as u64;
                out.phases.copy += phases.copy / spec.reps as u64;
                out.phases.remap += phases.remap / spec.reps as u64;
                out.engine.add(&eng);
            }
            Ok(_) => {}
            Err(e) => {
                println!("!!! VERIFICATION FAILED in {progress}, {label}: {e}");
                out.failure = Some(e);
                break;
            }
        }
    }
    out
}

fn one_rep(
    spec: &Spec,
    engine: &mut dyn CopyEngine,
    rep: u64,
) -> Result<(u64, PhaseNs, CopyOutcome), String> {
    let frames_before = frames::frames_in_use();
    let seed = tsc::rdtsc() ^ (rep << 48) ^ spec.order as u64;
    let mut w = Workload::create(spec.from, spec.order, spec.folios, seed)?;
    let result = match spec.kind {
        Kind::Migrate(mode) => pipeline::migrate(&mut w, spec.to, engine, mode, spec.batch_pages)
            .and_then(|s| {
                w.verify(spec.to)
                    .map(|()| (s.phases.total(), s.phases, s.engine))
            }),
        Kind::RawCopy => {
            pipeline::raw_copy(&w, spec.to, engine, spec.batch_pages).map(|(ns, o)| {
                (
                    ns,
                    PhaseNs {
                        copy: ns,
                        ..PhaseNs::default()
                    },
                    o,
                )
            })
        }
    };
    let destroyed = w.destroy();
    let r = result.and_then(|r| destroyed.map(|()| r))?;
    let frames_after = frames::frames_in_use();
    if frames_after != frames_before {
        return Err(alloc::format!(
            "frame leak: {frames_before} frames in use before, {frames_after} after"
        ));
    }
    Ok(r)
}

/// Runs a cell, prints its RESULT line and counts it (and its failure, if any).
pub fn measure(
    spec: &Spec,
    engine: &mut dyn CopyEngine,
    progress: &str,
    totals: &mut super::efficiency::Totals,
) -> Outcome {
    let o = run(spec, engine, progress);
    println!("{}", result_line(spec, &o));
    totals.cells += 1;
    totals.failures += usize::from(o.failure.is_some());
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
    Obj::new()
        .str("exp", spec.exp)
        .str("engine", o.engine_name)
        .str("mode", spec.kind.name())
        .int("folio_kib", folio_bytes(spec.order) >> 10)
        .int("folios", spec.folios as u64)
        .int("threads", o.threads as u64)
        .int("channels", o.channels as u64)
        .str("placement", &o.placement)
        .int("from", spec.from as u64)
        .int("to", spec.to as u64)
        .int("bytes", spec.folios as u64 * folio_bytes(spec.order))
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
}

/// Mean GB/s and stdev as `12.34 ± 0.56`, or `FAILED`.
pub fn cell_text(o: &Outcome) -> String {
    match (&o.failure, Summary::of(&o.gbps)) {
        (Some(_), _) | (_, Err(_)) => String::from("FAILED"),
        (None, Ok(s)) => alloc::format!("{:.3} ± {:.3}", s.mean, s.stdev),
    }
}

/// `4K` … `2M`.
pub fn size_name(order: u8) -> SizeName {
    SizeName(folio_bytes(order))
}
