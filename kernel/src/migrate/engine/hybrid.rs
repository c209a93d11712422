//! The hybrid engine: a fraction of every batch goes to CPU workers, the rest to DMA
//! queues, at the same time. The coordinating CPU drives the DMA share (channels are
//! only ever touched by one CPU) while the workers copy theirs in the same dispatch
//! round; DMA failures fall back to the CPU like the `dma` engine's.

use super::cpumt::CpuMtEngine;
use super::dma::DmaEngine;
use super::{cpu, cpu_outcome, CopyEngine, CopyOutcome};
use crate::arch::percpu;
use crate::migrate::error::{EngineError, SetupError};
use crate::smp;
use alloc::vec::Vec;
use kcore::migrate::mt_split;
use ptdma::{CopyOp, DmaAddr};
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

    fn copy(&mut self, ops: &[CopyOp]) -> Result<CopyOutcome, EngineError> {
        // Whole ops to each side: the first `k` ops (by bytes) to the CPU workers.
        let total: u64 = ops.iter().map(|o| o.len).sum();
        let want = total * self.cpu_percent / 100;
        let (mut k, mut acc) = (0, 0);
        while k < ops.len() && acc + ops[k].len / 2 < want {
            acc += ops[k].len;
            k += 1;
        }
        let (cpu_ops, dma_ops) = ops.split_at(k);
        let workers = self.cpu.cpus().to_vec();
        let me = percpu::current_index();
        let lens: Vec<u64> = cpu_ops.iter().map(|o| o.len).collect();
        let shares: Vec<Vec<CopyOp>> = mt_split(&lens, workers.len())
            .into_iter()
            .map(|p| {
                p.into_iter()
                    .map(|p| CopyOp {
                        src: DmaAddr::new(cpu_ops[p.op].src.as_u64() + p.offset),
                        dst: DmaAddr::new(cpu_ops[p.op].dst.as_u64() + p.offset),
                        len: p.len,
                    })
                    .collect()
            })
            .collect();
        let mut all = workers.clone();
        all.push(me);
        let dma = &self.dma;
        // The DMA share is checked before any worker starts: a refused op copies nothing.
        crate::dma::check_owned(dma_ops)?;
        let results: Vec<Option<Result<CopyOutcome, EngineError>>> =
            smp::dispatch::run_on(&all, |c| {
                if c == me {
                    Some(if dma_ops.is_empty() {
                        Ok(CopyOutcome::default())
                    } else {
                        dma.lock().copy(dma_ops)
                    })
                } else {
                    if let Some(w) = workers.iter().position(|&x| x == c) {
                        cpu::copy_ops(&shares[w]);
                    }
                    None
                }
            });
        let mut outcome = results
            .into_iter()
            .flatten()
            .next()
            .unwrap_or(Ok(CopyOutcome::default()))?;
        outcome.add(&cpu_outcome(cpu_ops));
        Ok(outcome)
    }
}
