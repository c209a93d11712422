//! The `auto` engine: for every batch, the candidate engine (e.g. CPU threads or DMA
//! channels) whose calibrated cost model (`kcore::costmodel::Cost`, fitted by
//! `bench::setup::calibrate`) predicts the shortest copy, and counts of what it chose.

use super::{CopyEngine, CopyOutcome};
use crate::migrate::error::{EngineError, SetupError};
use crate::mm::copy::CopyBatch;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use kcore::costmodel::{cheapest, Cost};

/// Chooses per batch among calibrated engines.
pub struct AutoEngine {
    engines: Vec<Box<dyn CopyEngine>>,
    costs: Vec<Cost>,
    chosen: Vec<u64>,
}

impl core::fmt::Debug for AutoEngine {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "AutoEngine({})", self.choices())
    }
}

impl AutoEngine {
    /// `candidates`: each engine with its fitted cost. At least one.
    ///
    /// # Errors
    /// [`SetupError::NoCandidate`] for an empty list.
    pub fn new(candidates: Vec<(Box<dyn CopyEngine>, Cost)>) -> Result<Self, SetupError> {
        if candidates.is_empty() {
            return Err(SetupError::NoCandidate);
        }
        let (engines, costs): (Vec<_>, Vec<_>) = candidates.into_iter().unzip();
        Ok(Self {
            chosen: alloc::vec![0; engines.len()],
            engines,
            costs,
        })
    }

    /// How many batches went to each candidate so far, e.g. `cpu-mt:3,dma:5`.
    pub fn choices(&self) -> String {
        let parts: Vec<String> = self
            .engines
            .iter()
            .zip(&self.chosen)
            .map(|(e, n)| alloc::format!("{}:{n}", e.name()))
            .collect();
        parts.join(",")
    }

    /// Forgets the counts (between cells).
    pub fn reset_choices(&mut self) {
        self.chosen.iter_mut().for_each(|n| *n = 0);
    }

    /// Candidate `i` (in the order given to [`Self::new`]), to measure it alone.
    ///
    /// # Panics
    /// If `i` is not a candidate's index.
    pub fn engine_mut(&mut self, i: usize) -> &mut dyn CopyEngine {
        self.engines[i].as_mut()
    }
}

impl CopyEngine for AutoEngine {
    fn name(&self) -> &'static str {
        "auto"
    }

    fn width(&self) -> usize {
        self.engines.iter().map(|e| e.width()).max().unwrap_or(0)
    }

    fn threads(&self) -> usize {
        self.engines.iter().map(|e| e.threads()).max().unwrap_or(0)
    }

    fn channels(&self) -> usize {
        self.engines.iter().map(|e| e.channels()).max().unwrap_or(0)
    }

    fn copy(&mut self, batch: &mut CopyBatch<'_>) -> Result<CopyOutcome, EngineError> {
        let ops = batch.ops();
        let bytes: u64 = ops.iter().map(|o| o.len).sum();
        let predicted: Vec<Cost> = self
            .engines
            .iter()
            .zip(&self.costs)
            .map(|(e, c)| {
                // Fold the engine's own descriptor count into a per-op cost.
                let scale = e.descriptors(ops) as f64 / ops.len().max(1) as f64;
                Cost {
                    per_desc_ns: c.per_desc_ns * scale,
                    ..*c
                }
            })
            .collect();
        let pick = cheapest(&predicted, ops.len() as u64, bytes).unwrap_or(0);
        self.chosen[pick] += 1;
        self.engines[pick].copy(batch)
    }
}
