//! Copy engines behind one trait: `cpu` (one core, the fastest routine measured at
//! boot or the one `copy=` forces), `cpu-mt` (N worker CPUs by placement policy),
//! `dma` (PTDMA/AE4DMA queues, a batch split across channels, CPU fallback for whatever
//! a channel did not finish), `hybrid` (CPU workers and DMA queues on one batch) and
//! `auto` (per batch, the engine a calibrated cost model predicts fastest).

pub mod auto;
pub mod cpu;
pub mod cpumt;
pub mod dma;
pub mod hybrid;

use super::error::EngineError;
use crate::mm::copy::CopyBatch;
use kcore::honesty::CopiedBytes;
use kcore::streams::AdmitCounts;
use ptdma::{CopyOp, MmioCounters};

/// What a copy call did besides copying.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOutcome {
    /// Bytes each kind of copier really moved (DMA, CPU by design, CPU fallback).
    pub bytes: CopiedBytes,
    /// Ops the CPU copied because a DMA channel failed or timed out.
    pub fallback_ops: usize,
    /// DMA register traffic (zero for the CPU).
    pub mmio: MmioCounters,
    /// DMA batches (doorbell rounds) submitted.
    pub dma_batches: u64,
    /// Time in DMA submission (descriptor writes + doorbells).
    pub dma_submit_ns: u64,
    /// Time in DMA completion waiting and handling.
    pub dma_wait_ns: u64,
    /// Batches below `dma-min-batch` that the CPU copied by design (their bytes are in
    /// `bytes.cpu`, never in `bytes.fallback`).
    pub declined: u64,
    /// What this engine's batches met when asking for shared DMA channels (`dma-admit=`);
    /// a refused batch's bytes are in `bytes.cpu` (CPU by policy).
    pub admit: AdmitCounts,
    /// Registry ids (bit i: channel i, ids below 64) of the DMA channels that left ops of
    /// a batch of this engine undone (error, timeout, device gone): the CPU fallback
    /// copied them.
    pub failed_channels: u64,
}

impl CopyOutcome {
    /// Adds another call's outcome.
    pub fn add(&mut self, o: &CopyOutcome) {
        self.bytes.add(&o.bytes);
        self.fallback_ops += o.fallback_ops;
        self.mmio.reads += o.mmio.reads;
        self.mmio.writes += o.mmio.writes;
        self.mmio.doorbells += o.mmio.doorbells;
        self.dma_batches += o.dma_batches;
        self.dma_submit_ns += o.dma_submit_ns;
        self.dma_wait_ns += o.dma_wait_ns;
        self.declined += o.declined;
        self.admit.add(&o.admit);
        self.failed_channels |= o.failed_channels;
    }
}

/// Something that copies a batch of physically addressed ranges.
pub trait CopyEngine {
    /// Name in reports (`cpu`, `dma`).
    fn name(&self) -> &'static str;
    /// Threads (CPU) or channels (DMA) in use, for reports.
    fn width(&self) -> usize;
    /// CPU worker threads (for RESULT lines).
    fn threads(&self) -> usize {
        self.width()
    }
    /// DMA channels (for RESULT lines).
    fn channels(&self) -> usize {
        0
    }
    /// Where the workers run (`spread`, `fill`, …; `-` when not applicable).
    fn placement(&self) -> &str {
        "-"
    }
    /// Descriptors (DMA) or copy calls (CPU: one per op) the engine needs for `ops`.
    fn descriptors(&self, ops: &[CopyOp]) -> u64 {
        ops.len() as u64
    }
    /// How a batch is divided among DMA channels (`rr`, `contiguous`, `bytes`; `-` for
    /// CPU engines).
    fn split_name(&self) -> &'static str {
        "-"
    }
    /// Batches below this many bytes are declined to the CPU (0: none).
    fn min_batch(&self) -> u64 {
        0
    }
    /// Copies every op of `batch` (built from frame handles the caller holds); returns
    /// only when all bytes are in place (DMA errors fall back to the CPU, counted in the
    /// outcome's `bytes.fallback`).
    ///
    /// # Errors
    /// [`EngineError`] when the batch could not be copied at all (nothing is half
    /// copied from the caller's point of view: it rolls the batch back).
    fn copy(&mut self, batch: &mut CopyBatch<'_>) -> Result<CopyOutcome, EngineError>;
}

/// Bytes of `ops` together.
pub fn bytes_of(ops: &[CopyOp]) -> u64 {
    ops.iter().map(|o| o.len).sum()
}

/// The outcome of `ops` copied by CPUs by design.
pub fn cpu_outcome(ops: &[CopyOp]) -> CopyOutcome {
    CopyOutcome {
        bytes: CopiedBytes {
            cpu: bytes_of(ops),
            ..CopiedBytes::default()
        },
        ..CopyOutcome::default()
    }
}
