//! One benchmark cell: a warm-up and `reps` measured repetitions of the same
//! migration (or raw copy), each on a freshly created and filled workload, each
//! verified byte for byte and checked for leaked frames. Any failure stops the cell
//! and marks it unverified; it is never reported as a number.

use super::json::Obj;
use crate::arch::tsc;
use crate::migrate::engine::{CopyEngine, CopyOutcome};
use crate::migrate::error::MigrateError;
use crate::migrate::pipeline::{self, PhaseNs};
use crate::migrate::workload::Workload;
use crate::migrate::Mode;
use crate::mm::frames;
use crate::println;
use alloc::string::String;
use alloc::vec::Vec;
use kcore::honesty::{self, CopiedBytes, Status};
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
    /// A workload of several folio sizes (`size=mix:…`): `order` is then the largest and
    /// `folios` the count of all sizes together.
    pub mix: Option<kcore::mix::Mix>,
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
            mix: None,
        }
    }

    /// The folio orders of a mixed cell, or `None` for a uniform one.
    pub fn mix_orders(&self) -> Option<Vec<u8>> {
        let bytes = self.folios as u64 * folio_bytes(self.order);
        self.mix.and_then(|m| m.orders(bytes).ok())
    }

    /// Bytes migrated per repetition. A mixed cell's `folios` counts folios of the
    /// largest size worth of bytes (see `frontier::mix`).
    pub fn bytes(&self) -> u64 {
        self.folios as u64 * folio_bytes(self.order)
    }
}

impl Spec {
    /// The cell's memory shape for the limits check.
    pub fn need(&self) -> kcore::plan::CellNeed {
        let folios = self.folios as u64;
        kcore::plan::CellNeed {
            from: self.from,
            to: self.to,
            order: self.order,
            folios,
            batch_folios: match self.kind {
                Kind::Migrate(crate::migrate::Mode::PerFolio) => 1,
                _ => (self.batch_pages >> self.order).clamp(1, folios.max(1)),
            },
            raw_copy: self.kind == Kind::RawCopy,
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
    /// Bytes each kind of copier moved, warm-up included.
    pub copied: CopiedBytes,
    /// Fallback bytes of each repetition, warm-up first.
    pub fallback_per_rep: Vec<u64>,
    /// CPU worker threads.
    pub threads: usize,
    /// DMA channels.
    pub channels: usize,
    /// Placement policy of the workers.
    pub placement: String,
    /// Each folio's unmapped window over the measured repetitions, ns.
    pub windows: Vec<u64>,
    /// Per batch of the measured repetitions: ns until its first folio was mapped again.
    pub first_mapped: Vec<u64>,
    /// Engine name.
    pub engine_name: &'static str,
    /// DMA split (`rr`, `contiguous`, `bytes`, `-`).
    pub split: &'static str,
    /// DMA batch floor in bytes (0: none).
    pub min_batch: u64,
    /// How the cell ended: a figure of its engine (`Ok`, `Degraded`) or not.
    pub status: Status,
    /// `None` when every repetition verified; else what went wrong.
    pub failure: Option<String>,
}

impl Outcome {
    /// An empty outcome for a cell of `engine`.
    pub fn new(engine: &dyn CopyEngine) -> Self {
        Self {
            gbps: Vec::new(),
            phases: PhaseNs::default(),
            engine: CopyOutcome::default(),
            copied: CopiedBytes::default(),
            fallback_per_rep: Vec::new(),
            windows: Vec::new(),
            first_mapped: Vec::new(),
            threads: engine.threads(),
            channels: engine.channels(),
            placement: String::from(engine.placement()),
            engine_name: engine.name(),
            split: engine.split_name(),
            min_batch: engine.min_batch(),
            status: Status::Ok,
            failure: None,
        }
    }

    /// Records one repetition that finished (`rep` 0 is the warm-up: its bytes count
    /// for the label, its time does not).
    pub fn record(&mut self, spec: &Spec, rep: u32, ns: u64, phases: &PhaseNs, eng: &CopyOutcome) {
        self.copied.add(&eng.bytes);
        self.fallback_per_rep.push(eng.bytes.fallback);
        if rep == 0 {
            return;
        }
        let bytes = spec.bytes();
        let reps = u64::from(spec.reps.max(1));
        self.gbps.push(gbps(bytes, ns).unwrap_or(0.0));
        self.phases.prepare += phases.prepare / reps;
        self.phases.unmap += phases.unmap / reps;
        self.phases.copy += phases.copy / reps;
        self.phases.remap += phases.remap / reps;
        self.engine.add(eng);
    }

    /// Records the latency samples of a measured repetition (`rep` 0 is ignored).
    pub fn record_latency(&mut self, rep: u32, lat: Latency) {
        if rep > 0 {
            self.windows.extend(lat.windows);
            self.first_mapped.extend(lat.first_mapped);
        }
    }

    /// Labels a cell whose repetitions all finished from what its copiers did, and says
    /// so when it is not a clean figure of its engine.
    pub fn label(&mut self, progress: &str) {
        if self.failure.is_some() {
            return;
        }
        self.status = honesty::classify(&self.copied);
        match self.status {
            Status::Degraded => println!(
                "  [{progress}] degraded: {:.3} % of the bytes meant for DMA were copied by the CPU fallback",
                100.0 * self.copied.fallback_share()
            ),
            Status::Invalid => println!(
                "!!! INVALID in {progress}: {:.1} % of the bytes meant for DMA were copied by the CPU fallback \
                 (limit {:.0} %): not a figure of engine {}",
                100.0 * self.copied.fallback_share(),
                100.0 * honesty::DEGRADED_MAX_SHARE,
                self.engine_name
            ),
            _ => {}
        }
    }

    /// Whether the cell's GB/s may be shown as a figure of its engine.
    pub fn is_figure(&self) -> bool {
        self.failure.is_none() && self.status.is_figure()
    }
}

/// Runs a cell. `progress` is printed before each repetition.
pub fn run(spec: &Spec, engine: &mut dyn CopyEngine, progress: &str) -> Outcome {
    let mut out = Outcome::new(engine);
    // The run's plan was checked before its first cell; this is the net under it, for
    // a cell whose shape the plan did not foresee: no work, its own status.
    if let Err(e) = super::plan::check(&[spec.need()]) {
        println!("!!! OUT OF MEMORY in {progress}: {e}; cell not run");
        out.status = Status::OutOfMemory;
        out.failure = Some(e);
        return out;
    }
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
            Ok((ns, phases, eng, lat)) => {
                out.record(spec, rep, ns, &phases, &eng);
                out.record_latency(rep, lat);
            }
            Err(RepError::OutOfMemory(e)) => {
                println!("!!! OUT OF MEMORY in {progress}, {label}: {e}; every folio stayed where it was");
                out.status = Status::OutOfMemory;
                out.failure = Some(e);
                return out;
            }
            Err(RepError::Failed(e)) => {
                println!("!!! VERIFICATION FAILED in {progress}, {label}: {e}");
                out.status = Status::VerificationFailed;
                out.failure = Some(e);
                return out;
            }
        }
    }
    out.label(progress);
    out
}

/// A repetition's latency samples (empty for a raw copy).
#[derive(Debug, Default)]
pub struct Latency {
    /// Each folio's unmapped window, ns.
    pub windows: Vec<u64>,
    /// Per batch, ns until its first folio was mapped again.
    pub first_mapped: Vec<u64>,
}

/// Why a repetition produced no number.
pub(super) enum RepError {
    /// Frames ran out (the workload was rolled back).
    OutOfMemory(String),
    /// Data, frames or the engine did not check out.
    Failed(String),
}

impl From<MigrateError> for RepError {
    fn from(e: MigrateError) -> Self {
        if e.is_out_of_memory() {
            RepError::OutOfMemory(alloc::format!("{e}"))
        } else {
            RepError::Failed(alloc::format!("{e}"))
        }
    }
}

pub(super) fn one_rep(
    spec: &Spec,
    engine: &mut dyn CopyEngine,
    rep: u64,
) -> Result<(u64, PhaseNs, CopyOutcome, Latency), RepError> {
    let frames_before = frames::frames_in_use();
    let seed = tsc::rdtsc() ^ (rep << 48) ^ spec.order as u64;
    let mut w = match spec.mix_orders() {
        Some(orders) => Workload::create_mixed(spec.from, &orders, seed)?,
        None => Workload::create(spec.from, spec.order, spec.folios, seed)?,
    };
    let result: Result<(u64, PhaseNs, CopyOutcome, Latency), RepError> = match spec.kind {
        Kind::Migrate(mode) => {
            match pipeline::migrate(&mut w, spec.to, engine, mode, spec.batch_pages) {
                Ok(s) => w
                    .verify(spec.to)
                    .map(|()| {
                        let lat = Latency {
                            windows: s.windows,
                            first_mapped: s.first_mapped,
                        };
                        (s.phases.total(), s.phases, s.engine, lat)
                    })
                    .map_err(|e| RepError::Failed(alloc::format!("{e}"))),
                Err(e) => {
                    // Rolled back: the workload must still be whole, wherever it is.
                    let intact = w.verify_intact(spec.from, spec.to);
                    match (RepError::from(e), intact) {
                        (r, Ok(_)) => Err(r),
                        (_, Err(bad)) => Err(RepError::Failed(alloc::format!(
                            "rollback left the workload damaged: {bad}"
                        ))),
                    }
                }
            }
        }
        Kind::RawCopy => match pipeline::raw_copy(&w, spec.to, engine, spec.batch_pages) {
            Ok((ns, o)) => Ok((
                ns,
                PhaseNs {
                    copy: ns,
                    ..PhaseNs::default()
                },
                o,
                Latency::default(),
            )),
            Err(e) => Err(e.into()),
        },
    };
    let destroyed = w.destroy();
    let r = result?;
    destroyed?;
    let frames_after = frames::frames_in_use();
    if frames_after != frames_before {
        return Err(RepError::Failed(alloc::format!(
            "frame leak: {frames_before} frames in use before, {frames_after} after"
        )));
    }
    Ok(r)
}

/// Runs a cell, prints its RESULT line and counts it (and its failure, if any).
pub fn measure(
    spec: &Spec,
    engine: &mut dyn CopyEngine,
    progress: &str,
    totals: &mut super::totals::Totals,
) -> Outcome {
    let o = run(spec, engine, progress);
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
    let ceiling = super::frontier::ceiling::pct(o, get(|s| s.mean));
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

/// Mean GB/s and stdev as `12.34 ± 0.56` (with `*` when degraded), or what the cell
/// is instead of a figure: `FAILED`, `OOM`, `INVALID`.
pub fn cell_text(o: &Outcome) -> String {
    match (o.status, Summary::of(&o.gbps)) {
        (Status::OutOfMemory, _) => String::from("OOM"),
        (Status::Invalid, _) => String::from("INVALID"),
        (Status::Degraded, Ok(s)) if o.failure.is_none() => {
            alloc::format!("{:.3} ± {:.3}*", s.mean, s.stdev)
        }
        (Status::Ok, Ok(s)) if o.failure.is_none() => {
            alloc::format!("{:.3} ± {:.3}", s.mean, s.stdev)
        }
        _ => String::from("FAILED"),
    }
}

/// `4K` … `2M`.
pub fn size_name(order: u8) -> SizeName {
    SizeName(folio_bytes(order))
}
