//! A benchmark cell's shape (`Spec`: what to run, on which sizes and nodes) and its
//! outcome (`Outcome`: GB/s per repetition, phases, what each copier moved, status),
//! shared by the cell runner, the RESULT lines and every experiment's tables.

use crate::migrate::engine::{CopyEngine, CopyOutcome};
use crate::migrate::pipeline::PhaseNs;
use crate::migrate::Mode;
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

/// A repetition's latency samples (empty for a raw copy).
#[derive(Debug, Default)]
pub struct Latency {
    /// Each folio's unmapped window, ns.
    pub windows: Vec<u64>,
    /// Per batch, ns until its first folio was mapped again.
    pub first_mapped: Vec<u64>,
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
