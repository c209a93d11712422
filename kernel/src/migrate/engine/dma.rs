//! The DMA copy engine: a thin adapter over the driver's tested multi-channel scheduler
//! (`ptdma::ChannelSet`): a batch is split across the engine's channels — whole ops
//! round-robin (RFC V2) or contiguous blocks of ops (RFC V3) — then, in rounds that fit
//! the rings, one doorbell per channel, and all channels are waited for with a
//! wall-clock limit per round. Whatever a channel did not finish (error, timeout, device
//! gone) is copied by the CPU and counted as fallback, so a batch never ends half
//! copied and never passes for DMA when the CPU did it.
//!
//! The engine owns its channels (a `dma::Lease`): only the CPU running the migration
//! touches them, and they go back to the registry when the engine is dropped.

use super::{bytes_of, cpu, CopyEngine, CopyOutcome};
use crate::arch::tsc;
use crate::dma::{self, Lease, TakeError};
use crate::migrate::error::EngineError;
use crate::println;
use alloc::vec::Vec;
use kcore::honesty::CopiedBytes;
use ptdma::{ChannelSet, CopyOp, DmaChannel, MmioCounters, SplitPolicy, WaitLimit};

/// PTDMA/AE4DMA queues as one engine.
#[derive(Debug)]
pub struct DmaEngine {
    lease: Lease,
    policy: SplitPolicy,
    timeout_ns: u64,
}

impl DmaEngine {
    /// Takes `n` free channels from the registry (every free one when `None`).
    ///
    /// # Errors
    /// [`TakeError`] when there is no DMA engine or fewer than `n` channels are free.
    pub fn new(n: Option<u32>, policy: SplitPolicy, timeout_ms: u64) -> Result<Self, TakeError> {
        Ok(Self {
            lease: dma::take(n.map(|n| n as usize))?,
            policy,
            timeout_ns: timeout_ms.saturating_mul(1_000_000),
        })
    }

    /// Descriptors `op` needs on this engine's channels.
    pub fn descriptors_for(&self, op: &CopyOp) -> usize {
        self.lease.first().map_or(1, |c| c.descriptors_for(op))
    }

    /// Register traffic of the engine's channels so far.
    fn counters(&self) -> MmioCounters {
        let mut sum = MmioCounters::default();
        for c in self.lease.iter() {
            let m = c.counters();
            sum.reads += m.reads;
            sum.writes += m.writes;
            sum.doorbells += m.doorbells;
        }
        sum
    }

    /// (batches, submit ns, wait ns) summed over the engine's channels.
    fn timing(&self) -> (u64, u64, u64) {
        self.lease
            .iter()
            .map(|c| c.timing())
            .fold((0, 0, 0), |t, c| {
                (t.0 + c.batches, t.1 + c.submit_ns, t.2 + c.wait_ns)
            })
    }
}

impl CopyEngine for DmaEngine {
    fn name(&self) -> &'static str {
        "dma"
    }

    fn width(&self) -> usize {
        self.lease.len()
    }

    fn threads(&self) -> usize {
        0
    }

    fn channels(&self) -> usize {
        self.lease.len()
    }

    fn descriptors(&self, ops: &[CopyOp]) -> u64 {
        ops.iter().map(|op| self.descriptors_for(op) as u64).sum()
    }

    fn copy(&mut self, ops: &[CopyOp]) -> Result<CopyOutcome, EngineError> {
        // Every range must be a frame the caller holds before any descriptor is written.
        dma::check_owned(ops)?;
        let before = self.counters();
        let before_t = self.timing();
        let now = tsc::now_ns;
        let limit = WaitLimit::Deadline {
            now_ns: &now,
            timeout_ns: self.timeout_ns,
        };
        let names: Vec<_> = self.lease.iter().map(|c| c.name()).collect();
        let channels: Vec<&mut dyn DmaChannel> = self
            .lease
            .iter_mut()
            .map(|c| c as &mut dyn DmaChannel)
            .collect();
        let report = ChannelSet::new(channels, self.policy, limit).run(ops);
        for (c, r) in report.channels.iter().enumerate() {
            if let Some(e) = &r.error {
                println!(
                    "dma: channel {}: {e}; the CPU copies {} op(s)",
                    names[c],
                    r.not_done.len()
                );
            }
        }
        let fallback: Vec<CopyOp> = report.not_done().into_iter().map(|i| ops[i]).collect();
        cpu::copy_ops(&fallback);
        let after = self.counters();
        let after_t = self.timing();
        let fallback_bytes = bytes_of(&fallback);
        Ok(CopyOutcome {
            bytes: CopiedBytes {
                dma: bytes_of(ops) - fallback_bytes,
                cpu: 0,
                fallback: fallback_bytes,
            },
            fallback_ops: fallback.len(),
            dma_batches: after_t.0 - before_t.0,
            dma_submit_ns: after_t.1 - before_t.1,
            dma_wait_ns: after_t.2 - before_t.2,
            mmio: MmioCounters {
                reads: after.reads - before.reads,
                writes: after.writes - before.writes,
                doorbells: after.doorbells - before.doorbells,
            },
        })
    }
}
