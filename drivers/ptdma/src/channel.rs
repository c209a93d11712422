//! The engine-independent front end: [`DmaChannel`] (one hardware queue, PTDMA or AE4DMA) and
//! [`ChannelSet`], which spreads a batch of [`CopyOp`]s over several channels the way the
//! migration RFCs do (facts §7.3): whole ops round-robin (RFC V2: op i → channel i mod n) or
//! contiguous blocks (RFC V3: channel i gets ops `[nr*i/n, nr*(i+1)/n)`). Every channel gets
//! one submit (one doorbell) per round; a round is "submit on all, then wait on all". A channel
//! whose share does not fit its ring runs several rounds. Failures are reported per channel as
//! original op indices, so the caller can CPU-copy exactly those.

use crate::ae4dma::Ae4Queue;
use crate::queue::{Completed, Poll, PtdmaQueue, Ticket};
use crate::regs::MmioCounters;
use crate::{CopyOp, DmaMemory, PtdmaError, RegisterAccess};
use alloc::vec::Vec;

/// One DMA hardware queue.
pub trait DmaChannel {
    /// Queues `ops` with one doorbell.
    ///
    /// # Errors
    /// The driver's refusal (queue full, misaligned op, retired device).
    fn submit(&mut self, ops: &[CopyOp]) -> Result<Ticket, PtdmaError>;
    /// Non-blocking completion check.
    ///
    /// # Errors
    /// A hardware error or a vanished device.
    fn poll(&mut self) -> Result<Poll, PtdmaError>;
    /// Polls until everything submitted completed, or `expired()` says the wait is over
    /// (a spin budget on the host, a wall-clock deadline in the kernel); on expiry the
    /// queue is stopped and the error says how far it got.
    ///
    /// # Errors
    /// A hardware error, a vanished device, or [`PtdmaError::Timeout`] on expiry.
    fn wait_until(&mut self, expired: &mut dyn FnMut() -> bool) -> Result<Completed, PtdmaError>;
    /// [`Self::wait_until`] with a budget of `spin_limit` pending polls.
    ///
    /// # Errors
    /// As [`Self::wait_until`].
    fn wait(&mut self, spin_limit: u64) -> Result<Completed, PtdmaError> {
        let mut spins = 0u64;
        self.wait_until(&mut || {
            spins += 1;
            spins > spin_limit
        })
    }
    /// Descriptors `op` needs on this channel.
    fn descriptors_for(&self, op: &CopyOp) -> usize;
    /// Descriptor slots free now (a whole batch, any marker included, must fit).
    fn free_slots(&self) -> usize;
    /// MMIO counts.
    fn counters(&self) -> MmioCounters;
}

impl<R: RegisterAccess, M: DmaMemory> DmaChannel for PtdmaQueue<R, M> {
    fn submit(&mut self, ops: &[CopyOp]) -> Result<Ticket, PtdmaError> {
        PtdmaQueue::submit(self, ops)
    }
    fn poll(&mut self) -> Result<Poll, PtdmaError> {
        PtdmaQueue::poll(self)
    }
    fn wait_until(&mut self, expired: &mut dyn FnMut() -> bool) -> Result<Completed, PtdmaError> {
        PtdmaQueue::wait_until(self, expired)
    }
    fn descriptors_for(&self, op: &CopyOp) -> usize {
        PtdmaQueue::descriptors_for(self, op)
    }
    fn free_slots(&self) -> usize {
        // One slot is reserved for the completion marker when it is enabled.
        PtdmaQueue::free_slots(self).saturating_sub(usize::from(self.config().completion_marker))
    }
    fn counters(&self) -> MmioCounters {
        PtdmaQueue::counters(self)
    }
}

impl<R: RegisterAccess, M: DmaMemory> DmaChannel for Ae4Queue<R, M> {
    fn submit(&mut self, ops: &[CopyOp]) -> Result<Ticket, PtdmaError> {
        Ae4Queue::submit(self, ops)
    }
    fn poll(&mut self) -> Result<Poll, PtdmaError> {
        Ae4Queue::poll(self)
    }
    fn wait_until(&mut self, expired: &mut dyn FnMut() -> bool) -> Result<Completed, PtdmaError> {
        Ae4Queue::wait_until(self, expired)
    }
    fn descriptors_for(&self, op: &CopyOp) -> usize {
        Ae4Queue::descriptors_for(self, op)
    }
    fn free_slots(&self) -> usize {
        Ae4Queue::free_slots(self)
    }
    fn counters(&self) -> MmioCounters {
        Ae4Queue::counters(self)
    }
}

/// How a batch is divided among channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitPolicy {
    /// RFC V2: op i goes to channel i mod n.
    RoundRobin,
    /// RFC V3: channel i gets the contiguous ops `[nr*i/n, nr*(i+1)/n)`.
    Contiguous,
}

/// Op indices per channel for `nr_ops` ops over `channels` channels (pure; `channels` ≥ 1).
///
/// # Panics
/// If `channels` is 0.
pub fn split(nr_ops: usize, channels: usize, policy: SplitPolicy) -> Vec<Vec<usize>> {
    assert!(channels > 0, "split over zero channels");
    match policy {
        SplitPolicy::RoundRobin => (0..channels)
            .map(|c| (c..nr_ops).step_by(channels).collect())
            .collect(),
        SplitPolicy::Contiguous => (0..channels)
            .map(|c| (nr_ops * c / channels..nr_ops * (c + 1) / channels).collect())
            .collect(),
    }
}

/// Outcome on one channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelReport {
    /// Op indices (into the batch) assigned to this channel, in submission order.
    pub assigned: Vec<usize>,
    /// Op indices that the DMA did not (certainly) complete; copy them with the CPU.
    pub not_done: Vec<usize>,
    /// The first error, if any (the channel is not used for the rest of the batch after it).
    pub error: Option<PtdmaError>,
    /// Submit calls (doorbells) made.
    pub submits: usize,
}

/// Outcome of [`ChannelSet::run`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchReport {
    /// One entry per channel, in channel order.
    pub channels: Vec<ChannelReport>,
}

impl BatchReport {
    /// True when every op completed.
    pub fn is_ok(&self) -> bool {
        self.channels.iter().all(|c| c.error.is_none())
    }
    /// Every op index not completed, sorted.
    pub fn not_done(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .channels
            .iter()
            .flat_map(|c| c.not_done.iter().copied())
            .collect();
        v.sort_unstable();
        v
    }
}

/// How long [`ChannelSet::run`] waits for a round before it gives up on a channel.
#[derive(Clone, Copy)]
pub enum WaitLimit<'a> {
    /// At most this many pending polls per channel wait (host tests, fakes).
    Spins(u64),
    /// A wall-clock limit per round: every channel of a round must finish before
    /// `now_ns()` passes the round's start plus `timeout_ns`.
    Deadline {
        /// The clock, in nanoseconds.
        now_ns: &'a dyn Fn() -> u64,
        /// Nanoseconds a round may take.
        timeout_ns: u64,
    },
}

impl core::fmt::Debug for WaitLimit<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WaitLimit::Spins(n) => write!(f, "Spins({n})"),
            WaitLimit::Deadline { timeout_ns, .. } => write!(f, "Deadline({timeout_ns} ns)"),
        }
    }
}

/// A set of channels driven together.
pub struct ChannelSet<'a> {
    channels: Vec<&'a mut dyn DmaChannel>,
    /// How batches are split.
    pub policy: SplitPolicy,
    /// How long a round may wait.
    pub limit: WaitLimit<'a>,
}

impl core::fmt::Debug for ChannelSet<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChannelSet")
            .field("channels", &self.channels.len())
            .field("policy", &self.policy)
            .field("limit", &self.limit)
            .finish()
    }
}

impl<'a> ChannelSet<'a> {
    /// Channels in the order ops are assigned to them.
    pub fn new(
        channels: Vec<&'a mut dyn DmaChannel>,
        policy: SplitPolicy,
        limit: WaitLimit<'a>,
    ) -> Self {
        Self {
            channels,
            policy,
            limit,
        }
    }

    /// Number of channels.
    pub fn len(&self) -> usize {
        self.channels.len()
    }

    /// True when the set has no channel.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    /// Copies `ops`: split, then rounds of "submit on every channel, wait on every channel".
    /// A channel that fails (or runs past the round's limit) is not used again in this
    /// batch; its unfinished ops are reported in [`ChannelReport::not_done`] for the
    /// caller to copy another way.
    pub fn run(&mut self, ops: &[CopyOp]) -> BatchReport {
        let n = self.channels.len().max(1);
        let shares = split(ops.len(), n, self.policy);
        self.run_assigned(ops, shares)
    }

    /// [`Self::run`] with the split given: `shares[c]` are the indices into `ops` that
    /// channel `c` copies, in order (e.g. chunks of folios cut by bytes). Indices past the
    /// channels given are ignored.
    pub fn run_assigned(&mut self, ops: &[CopyOp], shares: Vec<Vec<usize>>) -> BatchReport {
        let mut reports: Vec<ChannelReport> = shares
            .into_iter()
            .take(self.channels.len())
            .map(|assigned| ChannelReport {
                assigned,
                not_done: Vec::new(),
                error: None,
                submits: 0,
            })
            .collect();
        let mut cursor = alloc::vec![0usize; reports.len()];
        let mut chunk: Vec<CopyOp> = Vec::new();
        loop {
            let mut in_round = alloc::vec![None; reports.len()];
            for (c, ch) in self.channels.iter_mut().enumerate() {
                let r = &mut reports[c];
                if r.error.is_some() || cursor[c] == r.assigned.len() {
                    continue;
                }
                // Greedy prefix that fits the free slots (at least one op, so an op too big for
                // the ring surfaces as QueueFull instead of stalling).
                let (mut end, mut slots) = (cursor[c], 0);
                let free = ch.free_slots();
                while end < r.assigned.len() {
                    let need = ch.descriptors_for(&ops[r.assigned[end]]);
                    if end > cursor[c] && slots + need > free {
                        break;
                    }
                    slots += need;
                    end += 1;
                }
                chunk.clear();
                chunk.extend(r.assigned[cursor[c]..end].iter().map(|&i| ops[i]));
                r.submits += 1;
                match ch.submit(&chunk) {
                    Ok(_) => in_round[c] = Some(end),
                    Err(e) => {
                        r.error = Some(e);
                        r.not_done.extend_from_slice(&r.assigned[cursor[c]..]);
                    }
                }
            }
            if in_round.iter().all(Option::is_none) {
                break;
            }
            let deadline = match self.limit {
                WaitLimit::Deadline { now_ns, timeout_ns } => now_ns().saturating_add(timeout_ns),
                WaitLimit::Spins(_) => 0,
            };
            for (c, ch) in self.channels.iter_mut().enumerate() {
                let Some(end) = in_round[c] else { continue };
                let r = &mut reports[c];
                let waited = match self.limit {
                    WaitLimit::Spins(n) => ch.wait(n),
                    WaitLimit::Deadline { now_ns, .. } => {
                        ch.wait_until(&mut || now_ns() > deadline)
                    }
                };
                match waited {
                    Ok(_) => cursor[c] = end,
                    Err(e) => {
                        let done = e.progress().map_or(0, |p| p.ops_completed);
                        r.error = Some(e);
                        r.not_done
                            .extend_from_slice(&r.assigned[cursor[c] + done..]);
                    }
                }
            }
        }
        BatchReport { channels: reports }
    }
}
