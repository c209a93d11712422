//! The DMA copy engine: a thin adapter over the driver's tested multi-channel scheduler
//! (`ptdma::ChannelSet`). A batch is split across the engine's channels — whole ops
//! round-robin (RFC V2), contiguous blocks of ops (RFC V3), or chunks by bytes
//! (`dma-split=bytes`, inside folios when there are fewer folios than channels; see
//! `kcore::split`) — then, in rounds that fit the rings, one doorbell per channel, and
//! all channels are waited for with a wall-clock limit per round. Whatever a channel did
//! not finish (error, timeout, device gone) is copied by the CPU and counted as
//! fallback, so a batch never ends half copied and never passes for DMA when the CPU did
//! it. A batch below `dma-min-batch` bytes is declined to the CPU (counted apart).
//!
//! The engine leases its channels from the registry for each batch (`dma::take`): only
//! the CPU running the batch touches them, and they go back to the pool when it ends,
//! so several engines (the ceiling's per-channel engines, a frontier sweep) can exist
//! side by side and take turns.

use super::{bytes_of, cpu, CopyEngine, CopyOutcome};
use crate::arch::tsc;
use crate::dma::{self, Lease, TakeError};
use crate::migrate::error::EngineError;
use crate::mm::copy::CopyBatch;
use crate::println;
use alloc::vec::Vec;
use kcore::honesty::CopiedBytes;
use kcore::migrate::Piece;
use kcore::split::ChunkBounds;
use kcore::streams::{AdmitCounts, AdmitPolicy};
use ptdma::channel::split;
use ptdma::{ChannelSet, CopyOp, DmaAddr, DmaChannel, MmioCounters, SplitPolicy, WaitLimit};

/// How a batch is divided among the channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Whole ops (folios), by the driver's policy.
    Ops(SplitPolicy),
    /// Chunks of bytes within these bounds.
    Bytes(ChunkBounds),
}

impl Split {
    /// The `dma-split=` value it stands for.
    pub fn choice(self) -> kcore::cmdline::DmaSplit {
        use kcore::cmdline::DmaSplit;
        match self {
            Split::Ops(SplitPolicy::RoundRobin) => DmaSplit::RoundRobin,
            Split::Ops(SplitPolicy::Contiguous) => DmaSplit::Contiguous,
            Split::Bytes(_) => DmaSplit::Bytes,
        }
    }

    /// The name in reports: `rr`, `contiguous`, `bytes` (the `dma-split=` words).
    pub fn name(self) -> &'static str {
        self.choice().name()
    }
}

/// Which channels an engine leases for each batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// This many (every free one when `None`, as many as there were at construction).
    Count(usize),
    /// The channel with this registry id alone.
    Id(usize),
}

/// PTDMA/AE4DMA queues as one engine. It holds no channel between batches (only what
/// to lease), so copies of it can run on several CPUs and share the pool.
#[derive(Debug, Clone)]
pub struct DmaEngine {
    want: Want,
    /// Channels per batch.
    width: usize,
    /// Bytes one descriptor carries on these channels.
    max_desc_len: u64,
    split: Split,
    timeout_ns: u64,
    /// Batches of fewer bytes go to the CPU (declined); 0: none.
    min_batch: u64,
    /// Shared channels: what a batch does when they are not free, and how long it may
    /// wait (ns). `None`: a busy pool is an error ([`EngineError::ChannelsBusy`]).
    admit: Option<(AdmitPolicy, u64)>,
}

impl DmaEngine {
    /// Takes `n` free channels from the registry (every free one when `None`).
    ///
    /// # Errors
    /// [`TakeError`] when there is no DMA engine or fewer than `n` channels are free.
    pub fn new(n: Option<u32>, split: Split, timeout_ms: u64) -> Result<Self, TakeError> {
        let lease = dma::take(n.map(|n| n as usize))?;
        Ok(Self::from_lease(
            &lease,
            Want::Count(lease.len()),
            split,
            timeout_ms,
        ))
    }

    /// Uses started channel `id` alone (the ceiling's per-channel figure).
    ///
    /// # Errors
    /// [`TakeError`] when that channel does not exist or is in use.
    pub fn only(id: usize, split: Split, timeout_ms: u64) -> Result<Self, TakeError> {
        let lease = dma::take_id(id)?;
        Ok(Self::from_lease(&lease, Want::Id(id), split, timeout_ms))
    }

    /// An engine shaped like `lease` (taken once to check the channels exist; given back
    /// when the caller drops it).
    fn from_lease(lease: &Lease, want: Want, split: Split, timeout_ms: u64) -> Self {
        Self {
            want,
            width: lease.len(),
            max_desc_len: lease.first().map_or(u64::MAX, |c| c.max_desc_len().max(1)),
            split,
            timeout_ns: timeout_ms.saturating_mul(1_000_000),
            min_batch: 0,
            admit: None,
        }
    }

    /// Shares the channels with other streams: when the channels a batch wants are not
    /// all free, it follows `policy` (waiting at most `wait_us` µs) instead of failing.
    pub fn with_admission(mut self, policy: AdmitPolicy, wait_us: u64) -> Self {
        self.admit = Some((policy, wait_us.saturating_mul(1000)));
        self
    }

    /// Channels for one batch under the admission policy, or `None` with the counts
    /// when the CPU must copy it.
    fn admitted(&self) -> Result<(Option<Lease>, AdmitCounts), EngineError> {
        let Some((policy, limit_ns)) = self.admit else {
            let lease = self.lease().map_err(EngineError::ChannelsBusy)?;
            return Ok((Some(lease), AdmitCounts::default()));
        };
        let mut try_take = |k: usize| {
            let r = if k == self.width {
                self.lease()
            } else {
                dma::take(Some(k))
            };
            r.map_err(|e| match e {
                TakeError::TooFew { free, .. } => free,
                TakeError::NoEngine => 0,
            })
        };
        // Poll gently: every waiting CPU takes the pool's lock on each poll.
        let a = kcore::streams::admit(
            policy,
            self.width,
            limit_ns,
            &mut tsc::now_ns,
            &mut try_take,
            &mut || tsc::delay_ns(2_000),
        );
        Ok((a.lease, a.counts))
    }

    /// The channels for one batch.
    fn lease(&self) -> Result<Lease, TakeError> {
        match self.want {
            Want::Count(n) => dma::take(Some(n)),
            Want::Id(id) => dma::take_id(id),
        }
    }

    /// Sends batches of fewer than `bytes` bytes to the CPU (counted as declined, not as
    /// fallback); 0 turns it off.
    pub fn with_min_batch(mut self, bytes: u64) -> Self {
        self.min_batch = bytes;
        self
    }

    /// Descriptors `op` needs on this engine's channels.
    pub fn descriptors_for(&self, op: &CopyOp) -> usize {
        op.len.div_ceil(self.max_desc_len).max(1) as usize
    }

    /// The ops each channel gets: indices into the returned list, which is `ops` itself
    /// or its chunks, and each entry of that list as a piece of `ops` (what the CPU
    /// copies if a channel does not finish it).
    fn plan(&self, ops: &[CopyOp], n: usize) -> (Vec<CopyOp>, Vec<Piece>, Vec<Vec<usize>>) {
        let n = n.max(1);
        match self.split {
            Split::Ops(policy) => {
                let whole = ops
                    .iter()
                    .enumerate()
                    .map(|(op, o)| Piece {
                        op,
                        offset: 0,
                        len: o.len,
                    })
                    .collect();
                (ops.to_vec(), whole, split(ops.len(), n, policy))
            }
            Split::Bytes(bounds) => {
                let lens: Vec<u64> = ops.iter().map(|o| o.len).collect();
                let chunks = kcore::split::split_bytes(&lens, n, bounds);
                let mut pieces = Vec::new();
                let mut of = Vec::new();
                let shares = chunks
                    .iter()
                    .map(|list| {
                        list.iter()
                            .map(|c| {
                                let op = &ops[c.op];
                                pieces.push(CopyOp {
                                    src: DmaAddr::new(op.src.as_u64() + c.offset),
                                    dst: DmaAddr::new(op.dst.as_u64() + c.offset),
                                    len: c.len,
                                });
                                of.push(Piece {
                                    op: c.op,
                                    offset: c.offset,
                                    len: c.len,
                                });
                                pieces.len() - 1
                            })
                            .collect()
                    })
                    .collect();
                (pieces, of, shares)
            }
        }
    }
}

/// Register traffic of `lease`'s channels so far.
fn counters(lease: &Lease) -> MmioCounters {
    {
        let mut sum = MmioCounters::default();
        for c in lease.iter() {
            let m = c.counters();
            sum.reads += m.reads;
            sum.writes += m.writes;
            sum.doorbells += m.doorbells;
            sum.descriptors += m.descriptors;
        }
        sum
    }
}

/// (batches, submit ns, wait ns) summed over `lease`'s channels.
fn timing(lease: &Lease) -> (u64, u64, u64) {
    lease.iter().map(|c| c.timing()).fold((0, 0, 0), |t, c| {
        (t.0 + c.batches, t.1 + c.submit_ns, t.2 + c.wait_ns)
    })
}

impl CopyEngine for DmaEngine {
    fn name(&self) -> &'static str {
        kcore::cmdline::Engine::Dma.name()
    }

    fn width(&self) -> usize {
        self.width
    }

    fn threads(&self) -> usize {
        0
    }

    fn channels(&self) -> usize {
        self.width
    }

    fn descriptors(&self, ops: &[CopyOp]) -> u64 {
        ops.iter().map(|op| self.descriptors_for(op) as u64).sum()
    }

    fn split_name(&self) -> &'static str {
        self.split.name()
    }

    fn min_batch(&self) -> u64 {
        self.min_batch
    }

    fn copy(&mut self, batch: &mut CopyBatch<'_>) -> Result<CopyOutcome, EngineError> {
        let ops = batch.ops();
        // Every range must be a frame the caller holds before any descriptor is written.
        dma::check_owned(ops)?;
        if bytes_of(ops) < self.min_batch {
            // Below the floor one DMA setup costs more than the CPU copy: declined.
            let outcome = super::cpu_outcome(ops);
            cpu::copy_batch(batch)?;
            return Ok(CopyOutcome {
                declined: 1,
                ..outcome
            });
        }
        let (lease, admit) = self.admitted()?;
        let Some(mut lease) = lease else {
            // No channel admitted: the CPU copies the batch by policy (refused).
            let outcome = super::cpu_outcome(ops);
            cpu::copy_batch(batch)?;
            return Ok(CopyOutcome { admit, ..outcome });
        };
        let (pieces, of, shares) = self.plan(ops, lease.len());
        let before = counters(&lease);
        let before_t = timing(&lease);
        let now = tsc::now_ns;
        let limit = WaitLimit::Deadline {
            now_ns: &now,
            timeout_ns: self.timeout_ns,
        };
        let names: Vec<_> = lease.iter().map(|c| c.name()).collect();
        let ids: Vec<usize> = lease.iter().map(|c| c.id()).collect();
        let policy = match self.split {
            Split::Ops(p) => p,
            Split::Bytes(_) => SplitPolicy::Contiguous,
        };
        let report = {
            // The channels may copy the batch's ops and pieces of them, nothing else.
            let held = dma::Held::batch(batch);
            let mut lent: Vec<dma::HeldChannel<'_>> =
                lease.iter_mut().map(|c| c.held(&held)).collect();
            let channels: Vec<&mut dyn DmaChannel> =
                lent.iter_mut().map(|c| c as &mut dyn DmaChannel).collect();
            ChannelSet::new(channels, policy, limit).run_assigned(&pieces, shares)
        };
        let mut failed_channels = 0u64;
        for (c, r) in report.channels.iter().enumerate() {
            if !r.not_done.is_empty() {
                failed_channels |= 1u64.checked_shl(ids[c] as u32).unwrap_or(0);
            }
            if let Some(e) = &r.error {
                println!(
                    "dma: channel {}: {e}; the CPU copies {} op(s) (batch of CPU {})",
                    names[c],
                    r.not_done.len(),
                    crate::arch::percpu::current_index()
                );
            }
        }
        let fallback: Vec<Piece> = report.not_done().into_iter().map(|i| of[i]).collect();
        cpu::copy_pieces(batch, &fallback)?;
        let after = counters(&lease);
        let after_t = timing(&lease);
        drop(lease);
        let fallback_bytes: u64 = fallback.iter().map(|p| p.len).sum();
        Ok(CopyOutcome {
            bytes: CopiedBytes {
                dma: bytes_of(&pieces) - fallback_bytes,
                cpu: 0,
                fallback: fallback_bytes,
            },
            fallback_ops: fallback.len(),
            dma_batches: after_t.0 - before_t.0,
            dma_submit_ns: after_t.1 - before_t.1,
            dma_wait_ns: after_t.2 - before_t.2,
            declined: 0,
            admit,
            failed_channels,
            mmio: MmioCounters {
                reads: after.reads - before.reads,
                writes: after.writes - before.writes,
                doorbells: after.doorbells - before.doorbells,
                descriptors: after.descriptors - before.descriptors,
            },
        })
    }
}
