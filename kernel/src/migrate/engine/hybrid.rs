//! The hybrid engine: a fraction of every batch goes to CPU workers, the rest to DMA
//! queues, at the same time. The coordinating CPU drives the DMA share (channels are
//! only ever touched by one CPU) while the workers copy theirs in the same dispatch
//! round; DMA failures fall back to the CPU like the `dma` engine's.

use super::cpumt::CpuMtEngine;
use super::dma::DmaEngine;
use super::{cpu, cpu_outcome, CopyEngine, CopyOutcome};
use crate::arch::percpu;
use crate::migrate::error::{EngineError, SetupError};
use crate::mm::copy::{CopyBatch, CopyShare};
use crate::smp;
use alloc::vec::Vec;
use kcore::migrate::mt_split;
use spin::Mutex;

/// CPU workers and DMA queues sharing each batch.
#[derive(Debug)]
pub struct HybridEngine {
    cpu: CpuMtEngine,
    dma: Mutex<DmaEngine>,
    /// Percentage of the bytes of a batch given to the CPU workers.
    cpu_percent: u64,
}

impl HybridEngine {
    /// `cpu` workers (which must not include the coordinating CPU) plus `dma` queues.
    ///
    /// # Errors
    /// [`SetupError::CoordinatorInWorkers`] when `cpu` includes this CPU.
    pub fn new(cpu: CpuMtEngine, dma: DmaEngine, cpu_percent: u64) -> Result<Self, SetupError> {
        if cpu.cpus().contains(&percpu::current_index()) {
            return Err(SetupError::CoordinatorInWorkers);
        }
        Ok(Self {
            cpu,
            dma: Mutex::new(dma),
            cpu_percent: cpu_percent.min(100),
        })
    }
}

impl CopyEngine for HybridEngine {
    fn name(&self) -> &'static str {
        kcore::cmdline::Engine::Hybrid.name()
    }

    fn width(&self) -> usize {
        self.cpu.width() + self.dma.lock().width()
    }

    fn threads(&self) -> usize {
        self.cpu.width()
    }

    fn channels(&self) -> usize {
        self.dma.lock().width()
    }

    fn placement(&self) -> &str {
        self.cpu.placement()
    }

    fn copy(&mut self, batch: &mut CopyBatch<'_>) -> Result<CopyOutcome, EngineError> {
        // Whole ops to each side: the first `k` ops (by bytes) to the CPU workers.
        let lens: Vec<u64> = batch.ops().iter().map(|o| o.len).collect();
        let k = kcore::split::hybrid_cpu_ops(&lens, self.cpu_percent);
        let (mut cpu_part, dma_part) = batch.reborrow().split_at(k);
        let cpu_bytes = cpu_outcome(cpu_part.ops());
        // The DMA share is checked before any worker starts: a refused op copies nothing.
        crate::dma::check_owned(dma_part.ops())?;
        let workers = self.cpu.cpus().to_vec();
        let me = percpu::current_index();
        let lens: Vec<u64> = cpu_part.ops().iter().map(|o| o.len).collect();
        let shares = cpu_part
            .share(mt_split(&lens, workers.len()))
            .map_err(EngineError::Copy)?;
        let slots: Vec<Mutex<Option<CopyShare<'_>>>> =
            shares.into_iter().map(|s| Mutex::new(Some(s))).collect();
        let dma_slot = Mutex::new(Some(dma_part));
        let mut all = workers.clone();
        all.push(me);
        let dma = &self.dma;
        let routine = cpu::routine();
        let results: Vec<Result<CopyOutcome, EngineError>> = smp::dispatch::run_on(&all, |c| {
            if c == me {
                match dma_slot.lock().take() {
                    Some(mut part) if !part.is_empty() => dma.lock().copy(&mut part),
                    _ => Ok(CopyOutcome::default()),
                }
            } else {
                let share = workers
                    .iter()
                    .position(|&x| x == c)
                    .and_then(|w| slots.get(w)?.lock().take());
                match share {
                    Some(s) => s
                        .copy(routine)
                        .map(|()| CopyOutcome::default())
                        .map_err(EngineError::Copy),
                    None => Ok(CopyOutcome::default()),
                }
            }
        });
        let mut outcome = CopyOutcome::default();
        for r in results {
            outcome.add(&r?);
        }
        outcome.add(&cpu_bytes);
        Ok(outcome)
    }
}
