//! The DMA copy engine: a batch is split across N PTDMA channels — whole ops
//! round-robin (RFC V2), contiguous blocks of ops (RFC V3), or chunks by bytes
//! (`dma-split=bytes`, inside folios when there are fewer folios than channels; see
//! `kcore::split`) — then, in rounds that
//! fit the rings, one doorbell per channel, and all channels are waited for with a
//! wall-clock limit. Whatever a channel did not finish (error, timeout, device gone)
//! is copied by the CPU and counted, so a batch never ends half copied.
//!
//! Only the CPU running the migration touches the channels (QEMU's proxy can deadlock
//! when two vCPUs access one emulated function at once).

use super::{bytes_of, cpu, CopyEngine, CopyOutcome};
use crate::arch::tsc;
use crate::dma;
use crate::migrate::error::EngineError;
use crate::println;
use alloc::string::String;
use alloc::vec::Vec;
use kcore::honesty::CopiedBytes;
use kcore::split::ChunkBounds;
use ptdma::channel::split;
use ptdma::{CopyOp, SplitPolicy};

/// How a batch is divided among the channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Whole ops (folios), by the driver's policy.
    Ops(SplitPolicy),
    /// Chunks of bytes within these bounds.
    Bytes(ChunkBounds),
}

impl Split {
    /// The name in reports: `rr`, `contiguous`, `bytes`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Ops(SplitPolicy::RoundRobin) => "rr",
            Split::Ops(SplitPolicy::Contiguous) => "contiguous",
            Split::Bytes(_) => "bytes",
        }
    }
}

/// PTDMA queues as one engine.
#[derive(Debug)]
pub struct DmaEngine {
    channels: Vec<usize>,
    split: Split,
    timeout_ns: u64,
    /// Batches of fewer bytes go to the CPU (declined); 0: none.
    min_batch: u64,
}

impl DmaEngine {
    /// Uses the first `n` started channels (all when `None`).
    pub fn new(n: Option<u32>, split: Split, timeout_ms: u64) -> Result<Self, String> {
        let have = dma::channel_count();
        if have == 0 {
            return Err("engine=dma: no DMA engine was found (see the dma: lines above)".into());
        }
        let want = n.map_or(have, |n| n as usize);
        if want > have {
            return Err(alloc::format!(
                "channels={want} but only {have} DMA channel(s) started"
            ));
        }
        Ok(Self {
            channels: (0..want).collect(),
            split,
            timeout_ns: timeout_ms * 1_000_000,
            min_batch: 0,
        })
    }

    /// Uses started channel `channel` alone (the ceiling's per-engine figure).
    ///
    /// # Errors
    /// No such started channel.
    pub fn only(channel: usize, split: Split, timeout_ms: u64) -> Result<Self, String> {
        let mut e = Self::new(None, split, timeout_ms)?;
        if channel >= e.channels.len() {
            return Err(alloc::format!("DMA channel {channel} was not started"));
        }
        e.channels = alloc::vec![channel];
        Ok(e)
    }

    /// Sends batches of fewer than `bytes` bytes to the CPU (counted as declined, not as
    /// fallback); 0 turns it off.
    pub fn with_min_batch(mut self, bytes: u64) -> Self {
        self.min_batch = bytes;
        self
    }

    /// The ops each channel gets: op indices into the returned list, which is `ops`
    /// itself or its chunks.
    fn plan(&self, ops: &[CopyOp]) -> (Vec<CopyOp>, Vec<Vec<usize>>) {
        match self.split {
            Split::Ops(policy) => (ops.to_vec(), split(ops.len(), self.channels.len(), policy)),
            Split::Bytes(bounds) => {
                let lens: Vec<u64> = ops.iter().map(|o| o.len).collect();
                let chunks = kcore::split::split_bytes(&lens, self.channels.len(), bounds);
                let mut pieces = Vec::new();
                let shares = chunks
                    .iter()
                    .map(|list| {
                        list.iter()
                            .map(|c| {
                                let op = &ops[c.op];
                                pieces.push(CopyOp {
                                    src: ptdma::DmaAddr::new(op.src.as_u64() + c.offset),
                                    dst: ptdma::DmaAddr::new(op.dst.as_u64() + c.offset),
                                    len: c.len,
                                });
                                pieces.len() - 1
                            })
                            .collect()
                    })
                    .collect();
                (pieces, shares)
            }
        }
    }
}

impl CopyEngine for DmaEngine {
    fn name(&self) -> &'static str {
        "dma"
    }

    fn width(&self) -> usize {
        self.channels.len()
    }

    fn threads(&self) -> usize {
        0
    }

    fn channels(&self) -> usize {
        self.channels.len()
    }

    fn split_name(&self) -> &'static str {
        self.split.name()
    }

    fn min_batch(&self) -> u64 {
        self.min_batch
    }

    fn copy(&mut self, ops: &[CopyOp]) -> Result<CopyOutcome, EngineError> {
        // Every range must be a frame the caller holds before any descriptor is written.
        dma::check_owned(ops)?;
        if bytes_of(ops) < self.min_batch {
            // Below the floor one DMA setup costs more than the CPU copy: declined.
            cpu::copy_ops(ops);
            return Ok(CopyOutcome {
                declined: 1,
                ..super::cpu_outcome(ops)
            });
        }
        let (pieces, shares) = self.plan(ops);
        let ops = &pieces[..];
        let before = self.counters();
        let before_t = self.timing();
        let mut cursor = alloc::vec![0usize; shares.len()];
        let mut failed = alloc::vec![false; shares.len()];
        let mut fallback: Vec<CopyOp> = Vec::new();
        while shares.iter().zip(&cursor).any(|(s, &c)| c < s.len()) {
            // Submit one ring-full per channel, then wait for all of them.
            let mut in_flight: Vec<(usize, Vec<usize>)> = Vec::new();
            for (k, share) in shares.iter().enumerate() {
                if cursor[k] == share.len() {
                    continue;
                }
                if failed[k] {
                    fallback.extend(share[cursor[k]..].iter().map(|&i| ops[i]));
                    cursor[k] = share.len();
                    continue;
                }
                let chunk = dma::with_channel(self.channels[k], |c| {
                    let mut room = c.queue.free_slots().saturating_sub(1);
                    let mut take = Vec::new();
                    for &i in &share[cursor[k]..] {
                        let need = c.queue.descriptors_for(&ops[i]);
                        if need > room {
                            break;
                        }
                        room -= need;
                        take.push(i);
                    }
                    take
                })
                .unwrap_or_default();
                if chunk.is_empty() {
                    failed[k] = true;
                    continue;
                }
                let batch: Vec<CopyOp> = chunk.iter().map(|&i| ops[i]).collect();
                let submitted = dma::with_channel(self.channels[k], |c| c.submit(&batch));
                cursor[k] += chunk.len();
                match submitted {
                    Some(Ok(())) => in_flight.push((k, chunk)),
                    Some(Err(dma::SubmitError::NotOwned(e))) => return Err(e.into()),
                    Some(Err(e)) => {
                        println!("dma: channel {k} refused a batch ({e}); the CPU copies it");
                        failed[k] = true;
                        fallback.extend(batch);
                    }
                    None => fallback.extend(batch),
                }
            }
            let deadline = tsc::now_ns() + self.timeout_ns;
            for (k, chunk) in in_flight {
                let r = dma::with_channel(self.channels[k], |c| c.wait(deadline));
                if let Some(Err(e)) = r {
                    let done = e.progress().map_or(0, |p| p.ops_completed.min(chunk.len()));
                    println!(
                        "dma: channel {k}: {e}; the CPU copies {} op(s)",
                        chunk.len() - done
                    );
                    failed[k] = true;
                    fallback.extend(chunk[done..].iter().map(|&i| ops[i]));
                }
            }
        }
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
            declined: 0,
            mmio: ptdma::MmioCounters {
                reads: after.reads - before.reads,
                writes: after.writes - before.writes,
                doorbells: after.doorbells - before.doorbells,
            },
        })
    }
}

impl DmaEngine {
    /// (batches, submit ns, wait ns) summed over the engine's channels.
    fn timing(&self) -> (u64, u64, u64) {
        let mut t = (0, 0, 0);
        for &c in &self.channels {
            if let Some((b, s, w)) =
                dma::with_channel(c, |ch| (ch.batches, ch.submit_ns, ch.wait_ns))
            {
                t = (t.0 + b, t.1 + s, t.2 + w);
            }
        }
        t
    }

    fn counters(&self) -> ptdma::MmioCounters {
        let mut sum = ptdma::MmioCounters::default();
        for &c in &self.channels {
            if let Some(m) = dma::with_channel(c, |ch| ch.queue.counters()) {
                sum.reads += m.reads;
                sum.writes += m.writes;
                sum.doorbells += m.doorbells;
            }
        }
        sum
    }
}
