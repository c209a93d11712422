//! What one migration did: time per phase, bytes, batches, the engine's side effects and
//! the latency samples (`kcore::latency`).

use super::engine::CopyOutcome;
use alloc::vec::Vec;

/// Nanoseconds spent in each phase, summed over the run.
#[derive(Debug, Clone, Copy, Default)]
pub struct PhaseNs {
    /// Allocating destinations and copying metadata.
    pub prepare: u64,
    /// Clearing PTEs and flushing the TLB.
    pub unmap: u64,
    /// Copying data.
    pub copy: u64,
    /// Installing the new PTEs and freeing the sources.
    pub remap: u64,
}

impl PhaseNs {
    /// All phases.
    pub fn total(&self) -> u64 {
        self.prepare + self.unmap + self.copy + self.remap
    }
}

/// What one migration did.
#[derive(Debug, Clone, Default)]
pub struct RunStats {
    /// Per-phase time.
    pub phases: PhaseNs,
    /// Bytes moved.
    pub bytes: u64,
    /// Batches (per-folio mode: one per folio).
    pub batches: usize,
    /// TLB flushes that were full flushes rather than per-page `invlpg`.
    pub full_flushes: usize,
    /// Engine side effects (fallbacks, MMIO).
    pub engine: CopyOutcome,
    /// Each folio's unmapped window, ns (see `kcore::latency`).
    pub windows: Vec<u64>,
    /// Per batch: ns from the start of the batch until its first folio was mapped again.
    pub first_mapped: Vec<u64>,
    /// Per batch: ns from its start (prepare) to its end (last folio remapped).
    pub batch_ns: Vec<u64>,
}
