//! What a benchmark run ended with, and its closing `RUN {json}` line.

use super::json::Obj;
use super::spec::Outcome;
use crate::arch::tsc;
use crate::exit::ExitCode;
use alloc::string::String;
use kcore::honesty::Status;
use kcore::record::{run as k, RUN_MARKER};

/// Counts of a run's cells by how they ended.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    /// Cells run.
    pub cells: usize,
    /// Cells that failed verification (or were stopped by an error other than memory).
    pub failures: usize,
    /// Cells with a small CPU-fallback share (still figures of their engine).
    pub degraded: usize,
    /// Cells with too much CPU fallback: not figures of their engine.
    pub invalid: usize,
    /// Cells stopped because destination frames ran out.
    pub out_of_memory: usize,
}

impl Totals {
    /// Counts one finished cell.
    pub fn count(&mut self, o: &Outcome) {
        self.cells += 1;
        match o.status {
            Status::Ok => {}
            Status::Degraded => self.degraded += 1,
            Status::Invalid => self.invalid += 1,
            Status::OutOfMemory => self.out_of_memory += 1,
            Status::VerificationFailed => self.failures += 1,
        }
    }

    /// Counts an experiment stopped by an error outside any cell (a leak, load CPUs that
    /// did not stop, buffers that did not fit) by how the run must end.
    pub fn count_stop(&mut self, code: ExitCode) {
        match code {
            ExitCode::OutOfMemory => self.out_of_memory += 1,
            ExitCode::Invalid => self.invalid += 1,
            _ => self.failures += 1,
        }
    }

    /// Adds another run's counts.
    pub fn add(&mut self, t: &Totals) {
        self.cells += t.cells;
        self.failures += t.failures;
        self.degraded += t.degraded;
        self.invalid += t.invalid;
        self.out_of_memory += t.out_of_memory;
    }

    /// Cells that are no figure of their engine (verification failure, out of memory,
    /// invalid): an experiment that stops after one ends the run with its status, not
    /// as bad input.
    pub fn not_figures(&self) -> usize {
        self.failures + self.out_of_memory + self.invalid
    }

    /// The worst outcome of the run.
    pub fn status(&self) -> Status {
        if self.failures > 0 {
            Status::VerificationFailed
        } else if self.out_of_memory > 0 {
            Status::OutOfMemory
        } else if self.invalid > 0 {
            Status::Invalid
        } else if self.degraded > 0 {
            Status::Degraded
        } else {
            Status::Ok
        }
    }

    /// The exit code for the run's worst outcome (degraded runs succeed: their figures
    /// carry their share).
    pub fn exit_code(&self) -> ExitCode {
        match self.status() {
            Status::Ok | Status::Degraded => ExitCode::Success,
            Status::Invalid => ExitCode::Invalid,
            Status::OutOfMemory => ExitCode::OutOfMemory,
            Status::VerificationFailed => ExitCode::TestFailure,
        }
    }
}

/// The closing `RUN {json}` line.
pub fn run_line(t: &Totals, start_ns: u64) -> String {
    let c = crate::bench_context();
    let o = Obj::new()
        .int(k::CELLS, t.cells as u64)
        .int(k::FAILURES, t.failures as u64)
        .int(k::DEGRADED, t.degraded as u64)
        .int(k::INVALID, t.invalid as u64)
        .int(k::OUT_OF_MEMORY, t.out_of_memory as u64)
        .num(k::ELAPSED_S, (tsc::now_ns() - start_ns) as f64 / 1e9)
        .str(k::STATUS, t.status().name())
        .str(k::ACCEL, c.accel)
        .str(k::CPU, &c.cpu)
        .str(k::TOPOLOGY, &c.topology)
        .str(k::PTDMA_PROFILE, &c.dma_profile)
        .str(k::FEATURES, c.features)
        .str(k::HOST, &c.host);
    alloc::format!("{RUN_MARKER} {}", o.finish())
}
