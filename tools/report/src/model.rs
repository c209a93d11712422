//! The data model: one [`Cell`] per `RESULT` line (figures of their engine in
//! [`Parsed::cells`], the others in [`Parsed::apart`]), the [`RunInfo`] from the `RUN` line, the
//! [`Skipped`] lines, and the small analyses the outputs share (engine family, raw-copy ceiling,
//! where the run executed).
//!
//! Neighbours: `parse.rs` builds these from a serial log; `csv.rs`, `markdown.rs` and `plots.rs`
//! read them. The line format is DESIGN.md §6.

use crate::status::{Copied, Status};
use kcore::record::Key;
use serde_json::{Map, Value};

/// Per-repetition mean time of each pipeline phase, in nanoseconds (DESIGN.md §4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phases {
    /// Allocate destination folios and copy metadata.
    pub prepare: f64,
    /// Clear PTEs and the batched TLB shootdown.
    pub unmap: f64,
    /// The data copy through the engine.
    pub copy: f64,
    /// Point PTEs at the destination and free the sources.
    pub remap: f64,
}

impl Phases {
    /// Sum of the four phases.
    pub fn total(&self) -> f64 {
        self.prepare + self.unmap + self.copy + self.remap
    }

    /// The phases as `(name, ns)` in pipeline order.
    pub fn named(&self) -> [(&'static str, f64); 4] {
        [
            ("prepare", self.prepare),
            ("unmap", self.unmap),
            ("copy", self.copy),
            ("remap", self.remap),
        ]
    }
}

/// MMIO traffic of a DMA cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mmio {
    /// Register reads (polling included).
    pub reads: u64,
    /// Register writes.
    pub writes: u64,
    /// Tail-pointer doorbells rung.
    pub doorbells: u64,
}

/// One measured cell: a `RESULT` line.
#[derive(Debug, Clone)]
pub struct Cell {
    /// 1-based line number in the log.
    pub line: usize,
    /// Experiment id (`1a`, `2b`, `efficiency`, ...).
    pub exp: String,
    /// Copy engine (`cpu`, `cpu-mt`, `dma`, `raw-cpu`, ...).
    pub engine: String,
    /// `batched`, `per-folio` or `raw-copy`.
    pub mode: String,
    /// Folio size in KiB.
    pub folio_kib: u64,
    /// Folios per batch.
    pub folios: u64,
    /// CPU worker threads.
    pub threads: u64,
    /// DMA channels (queues).
    pub channels: u64,
    /// Placement policy of the CPU workers, if any.
    pub placement: Option<String>,
    /// Source node.
    pub from: Option<String>,
    /// Destination node.
    pub to: Option<String>,
    /// Bytes migrated per repetition.
    pub bytes: u64,
    /// Repetitions measured.
    pub reps: u64,
    /// Mean throughput, GB/s (1e9 bytes).
    pub gbps_mean: f64,
    /// Standard deviation of the throughput, GB/s.
    pub gbps_stdev: f64,
    /// Coefficient of variation, when reported.
    pub gbps_cv: Option<f64>,
    /// Slowest repetition, GB/s.
    pub gbps_min: Option<f64>,
    /// Fastest repetition, GB/s.
    pub gbps_max: Option<f64>,
    /// Phase times, when reported.
    pub phase_ns: Option<Phases>,
    /// Every repetition's data and frame accounting checked out.
    pub verified: bool,
    /// The status the report treats the cell with: the worst of the logged `status` (derived
    /// from `verified` in logs that have none), its fallback share and `verified`.
    pub status: Status,
    /// The `status` key as logged, if any.
    pub logged_status: Option<Status>,
    /// Who copied the bytes (DMA, CPU by design, CPU after DMA failed), when logged.
    pub copied: Option<Copied>,
    /// MMIO counters (DMA cells).
    pub mmio: Option<Mmio>,
    /// `tcg`, `kvm` or `bare-metal`.
    pub accel: String,
    /// CPU model string.
    pub cpu: String,
    /// The whole JSON object as logged, extra keys included.
    pub raw: Map<String, Value>,
}

/// Coarse engine family used to match a cell with its raw-copy ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    /// `cpu`, `cpu-mt`, `raw-cpu`, ...
    Cpu,
    /// `dma`, `raw-dma`, ...
    Dma,
    /// `hybrid`, `auto` and anything else.
    Other,
}

/// The family of an engine name.
pub fn family(engine: &str) -> Family {
    if engine.contains("dma") {
        Family::Dma
    } else if engine.contains("cpu") {
        Family::Cpu
    } else {
        Family::Other
    }
}

impl Cell {
    /// The logged value of a shared key (`kcore::record`), if present and not null.
    pub fn get<T>(&self, key: Key<T>) -> Option<&Value> {
        self.raw.get(key.name).filter(|v| !v.is_null())
    }

    /// True for raw-copy ceiling cells.
    pub fn is_raw(&self) -> bool {
        self.mode == "raw-copy"
    }

    /// Engine family.
    pub fn family(&self) -> Family {
        family(&self.engine)
    }

    /// Degree of parallelism that matters for this engine: channels for DMA, threads otherwise.
    pub fn width(&self) -> u64 {
        match self.family() {
            Family::Dma => self.channels,
            _ => self.threads,
        }
    }
}

/// The `RUN` line: run totals and where it ran.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    /// Line number of the `RUN` line.
    pub line: usize,
    /// The whole object as logged.
    pub raw: Map<String, Value>,
}

impl RunInfo {
    /// A key rendered as plain text (strings unquoted), if present and not null.
    pub fn text(&self, key: &str) -> Option<String> {
        match self.raw.get(key)? {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
}

/// A log line that looked like a `RESULT`/`RUN` line but could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// 1-based line number.
    pub line: usize,
    /// Why it was skipped.
    pub reason: String,
}

/// Everything extracted from one log.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// Valid cells that are figures of their named engine (status `ok` or `degraded`), in log
    /// order: the only cells tables and plots use.
    pub cells: Vec<Cell>,
    /// Valid cells that are not figures of their named engine (`invalid`, `out-of-memory`,
    /// `verification-failed`), in log order: listed apart, never plotted.
    pub apart: Vec<Cell>,
    /// The last valid `RUN` line, if any.
    pub run: Option<RunInfo>,
    /// Lines skipped, with reasons.
    pub skipped: Vec<Skipped>,
    /// Number of lines in the log.
    pub lines: usize,
}

/// Where the raw-copy ceiling of a cell came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ceiling {
    /// Ceiling throughput, GB/s.
    pub gbps: f64,
    /// True if it is the same folio size and width; false if it is the best raw-copy number
    /// of the family in the run.
    pub exact: bool,
}

impl Parsed {
    /// Every valid cell, figures and the cells apart, in log order.
    pub fn all_cells(&self) -> Vec<&Cell> {
        let mut all: Vec<&Cell> = self.cells.iter().chain(&self.apart).collect();
        all.sort_by_key(|c| c.line);
        all
    }

    /// Valid cells with the given status, in log order.
    pub fn with_status(&self, status: Status) -> Vec<&Cell> {
        self.all_cells()
            .into_iter()
            .filter(|c| c.status == status)
            .collect()
    }

    /// The accelerator the run used: the `RUN` line's `accel`, else the first cell's.
    pub fn accel(&self) -> Option<String> {
        self.run
            .as_ref()
            .and_then(|r| r.text("accel"))
            .or_else(|| self.all_cells().first().map(|c| c.accel.clone()))
    }

    /// True only if the run says it ran on bare metal.
    pub fn is_bare_metal(&self) -> bool {
        self.accel().as_deref() == Some("bare-metal")
    }

    /// CPU model: the `RUN` line's, else the first cell's.
    pub fn cpu(&self) -> Option<String> {
        self.run
            .as_ref()
            .and_then(|r| r.text("cpu"))
            .or_else(|| self.all_cells().first().map(|c| c.cpu.clone()))
    }

    /// Distinct `accel` values among the cells, in order of appearance.
    pub fn cell_accels(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in self.all_cells() {
            if !out.contains(&c.accel) {
                out.push(c.accel.clone());
            }
        }
        out
    }

    /// Cells that failed verification.
    pub fn unverified(&self) -> Vec<&Cell> {
        self.all_cells()
            .into_iter()
            .filter(|c| !c.verified)
            .collect()
    }

    /// Experiments with at least one figure, in order of first appearance.
    pub fn experiments(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in &self.cells {
            if !out.contains(&c.exp) {
                out.push(c.exp.clone());
            }
        }
        out
    }

    /// The raw-copy ceiling of `cell`: the raw-copy cell of the same family, folio size and
    /// width when there is one; else the best raw-copy throughput of that family at the same
    /// width; else the best of that family in the run (both marked not `exact`).
    pub fn ceiling(&self, cell: &Cell) -> Option<Ceiling> {
        let fam = cell.family();
        let raws: Vec<&Cell> = self
            .cells
            .iter()
            .filter(|r| r.is_raw() && r.family() == fam)
            .collect();
        if let Some(r) = raws
            .iter()
            .find(|r| r.folio_kib == cell.folio_kib && r.width() == cell.width())
        {
            return Some(Ceiling {
                gbps: r.gbps_mean,
                exact: true,
            });
        }
        let best = |it: &mut dyn Iterator<Item = &&Cell>| it.map(|r| r.gbps_mean).reduce(f64::max);
        best(&mut raws.iter().filter(|r| r.width() == cell.width()))
            .or_else(|| best(&mut raws.iter()))
            .map(|gbps| Ceiling { gbps, exact: false })
    }
}

/// `4` -> `4K`, `2048` -> `2M`, `1048576` -> `1G`.
pub fn size_label(kib: u64) -> String {
    if kib >= 1 << 20 && kib.is_multiple_of(1 << 20) {
        format!("{}G", kib >> 20)
    } else if kib >= 1024 && kib.is_multiple_of(1024) {
        format!("{}M", kib >> 10)
    } else {
        format!("{kib}K")
    }
}

/// Human description of an `accel` value.
pub fn accel_label(accel: &str) -> String {
    match accel {
        "tcg" => "QEMU TCG (software emulation)".to_string(),
        "kvm" => "QEMU with KVM (hardware virtualization, emulated devices)".to_string(),
        "bare-metal" => "bare metal".to_string(),
        other => format!("unknown accelerator `{other}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_labels() {
        assert_eq!(size_label(4), "4K");
        assert_eq!(size_label(512), "512K");
        assert_eq!(size_label(1024), "1M");
        assert_eq!(size_label(2048), "2M");
        assert_eq!(size_label(1536), "1536K");
        assert_eq!(size_label(1 << 20), "1G");
    }

    #[test]
    fn ceiling_prefers_exact_then_same_width_then_best() {
        use super::fixtures::result;
        let log = [
            result("1a", "raw-cpu", "raw-copy", 4, 8, 1, 0, 2.0, "tcg"),
            result("1a", "raw-cpu", "raw-copy", 2048, 8, 2, 0, 5.0, "tcg"),
            result("1a", "raw-cpu", "raw-copy", 4, 8, 2, 0, 3.0, "tcg"),
            result("1a", "cpu-mt", "batched", 4, 8, 1, 0, 1.0, "tcg"),
            result("1a", "cpu-mt", "batched", 64, 8, 2, 0, 1.0, "tcg"),
            result("1a", "cpu-mt", "batched", 64, 8, 8, 0, 1.0, "tcg"),
            result("1b", "dma", "batched", 64, 8, 0, 1, 1.0, "tcg"),
        ]
        .join("\n");
        let p = crate::parse::parse_log(log.as_bytes());
        let c = |i: usize| p.ceiling(&p.cells[i]);
        assert_eq!(
            c(3),
            Some(Ceiling {
                gbps: 2.0,
                exact: true
            })
        );
        assert_eq!(
            c(4),
            Some(Ceiling {
                gbps: 5.0,
                exact: false
            })
        );
        assert_eq!(
            c(5),
            Some(Ceiling {
                gbps: 5.0,
                exact: false
            })
        );
        assert_eq!(c(6), None, "no raw-copy DMA cell");
        assert_eq!(p.accel().as_deref(), Some("tcg"));
        assert!(!p.is_bare_metal());
    }

    #[test]
    fn families() {
        assert_eq!(family("cpu-mt"), Family::Cpu);
        assert_eq!(family("raw-cpu"), Family::Cpu);
        assert_eq!(family("raw-dma"), Family::Dma);
        assert_eq!(family("dma"), Family::Dma);
        assert_eq!(family("hybrid"), Family::Other);
    }
}

/// Log lines for unit tests in other modules.
#[cfg(test)]
pub(crate) mod fixtures {
    /// A small 1a log under `accel`: batched at 1 and 2 threads, a raw copy and a per-folio
    /// cell, all at 4K.
    pub fn one_1a_log(accel: &str) -> super::Parsed {
        let lines = [
            result("1a", "cpu-mt", "batched", 4, 8, 1, 0, 0.86, accel),
            result("1a", "cpu-mt", "batched", 4, 8, 2, 0, 1.5, accel),
            result("1a", "raw-cpu", "raw-copy", 4, 8, 1, 0, 1.72, accel),
            result("1a", "cpu-mt", "per-folio", 4, 8, 1, 0, 0.43, accel),
        ];
        crate::parse::parse_log(lines.join("\n").as_bytes())
    }

    /// A `RESULT` line with the given coordinates and throughput, verified, under `accel`.
    #[allow(clippy::too_many_arguments)]
    pub fn result(
        exp: &str,
        engine: &str,
        mode: &str,
        kib: u64,
        folios: u64,
        threads: u64,
        channels: u64,
        gbps: f64,
        accel: &str,
    ) -> String {
        format!(
            "RESULT {{\"exp\":\"{exp}\",\"engine\":\"{engine}\",\"mode\":\"{mode}\",\
             \"folio_kib\":{kib},\"folios\":{folios},\"threads\":{threads},\
             \"channels\":{channels},\"bytes\":{},\"reps\":3,\"gbps_mean\":{gbps},\
             \"gbps_stdev\":0.1,\"phase_ns\":{{\"prepare\":1,\"unmap\":1,\"copy\":8,\"remap\":0}},\
             \"verified\":true,\"accel\":\"{accel}\",\"cpu\":\"test\"}}",
            kib * 1024 * folios
        )
    }
}
