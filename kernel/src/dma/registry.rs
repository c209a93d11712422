//! Started channels, handed out by value. [`take`] lends channels as a [`Lease`]; the
//! lease owns them (so only the CPU holding it touches their registers) and gives them
//! back when dropped. Nothing addresses a channel by index from outside: an engine,
//! benchmark or self-test asks for how many it needs and uses what it was given.

use super::channel::Channel;
use crate::println;
use alloc::vec::Vec;
use core::ops::{Deref, DerefMut};
use kcore::streams::{PoolError, SlotPool};
use spin::Mutex;

/// One slot per started channel (`kcore::streams::SlotPool`, host-tested: a channel is
/// in the pool or held by one lease, never both).
static POOL: Mutex<SlotPool<Channel>> = Mutex::new(SlotPool::new());

/// Why channels could not be lent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeError {
    /// No channel was started on this machine.
    NoEngine,
    /// Fewer channels are free than asked for.
    TooFew {
        /// Channels asked for.
        asked: usize,
        /// Channels free now.
        free: usize,
        /// Channels started in all (the rest are lent out).
        started: usize,
    },
}

impl core::fmt::Display for TakeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TakeError::NoEngine => write!(f, "no DMA engine was found (see the dma: lines above)"),
            TakeError::TooFew {
                asked,
                free,
                started,
            } => write!(
                f,
                "{asked} DMA channel(s) asked for, {free} free ({started} started, the rest in use)"
            ),
        }
    }
}

/// Benchmarks and self-tests that report a failure as text.
impl From<TakeError> for alloc::string::String {
    fn from(e: TakeError) -> Self {
        alloc::format!("{e}")
    }
}

/// Channels lent by [`take`], given back on drop.
pub struct Lease {
    channels: Vec<Channel>,
}

impl Deref for Lease {
    type Target = [Channel];
    fn deref(&self) -> &[Channel] {
        &self.channels
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut [Channel] {
        &mut self.channels
    }
}

impl core::fmt::Debug for Lease {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let ids: Vec<usize> = self.channels.iter().map(Channel::id).collect();
        write!(f, "Lease{ids:?}")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut pool = POOL.lock();
        for ch in self.channels.drain(..) {
            let id = ch.id();
            if pool.put(id, ch).is_err() {
                // Cannot happen: only a lease holds a channel and ids are unique.
                println!("dma: channel {id} given back twice: dropped");
            }
        }
    }
}

/// The engine kinds of the started channels (`ptdma`, `ae4dma`, `sdxi`, joined by `+`
/// when several; `-` for none), set once by [`install`].
static KINDS: spin::Once<alloc::string::String> = spin::Once::new();

/// The engine kinds of the started channels, for RESULT lines and messages: `sdxi`,
/// `ptdma+ae4dma`, or `-` when no channel started.
pub fn kinds_name() -> &'static str {
    KINDS.get().map_or("-", alloc::string::String::as_str)
}

/// Installs the started channels (numbered in order). Called once by `dma::init`.
pub(super) fn install(mut channels: Vec<Channel>) {
    for (i, c) in channels.iter_mut().enumerate() {
        c.set_id(i);
    }
    let mut kinds: Vec<&str> = Vec::new();
    for c in &channels {
        if !kinds.contains(&c.kind().name()) {
            kinds.push(c.kind().name());
        }
    }
    KINDS.call_once(|| {
        if kinds.is_empty() {
            "-".into()
        } else {
            kinds.join("+")
        }
    });
    POOL.lock().install(channels);
}

impl From<PoolError> for TakeError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Empty => TakeError::NoEngine,
            PoolError::TooFew { asked, free, slots } => TakeError::TooFew {
                asked,
                free,
                started: slots,
            },
        }
    }
}

fn lease(taken: Vec<(usize, Channel)>) -> Lease {
    Lease {
        channels: taken.into_iter().map(|(_, c)| c).collect(),
    }
}

/// Lends `n` channels (all free ones when `None`), lowest ids first.
///
/// # Errors
/// [`TakeError::NoEngine`] when no channel was started, [`TakeError::TooFew`] when fewer
/// than `n` are free (or none at all for `None`).
pub fn take(n: Option<usize>) -> Result<Lease, TakeError> {
    Ok(lease(POOL.lock().take(n)?))
}

/// Lends the channel with registry id `id` alone.
///
/// # Errors
/// [`TakeError::NoEngine`] when no channel was started, [`TakeError::TooFew`] when that
/// channel does not exist or is lent out.
pub fn take_id(id: usize) -> Result<Lease, TakeError> {
    let ch = POOL.lock().take_id(id)?;
    Ok(Lease {
        channels: alloc::vec![ch],
    })
}

/// Channels started on this machine (lent out or not).
pub fn count() -> usize {
    POOL.lock().len()
}

/// Engines (PCI functions) with at least one started channel.
pub fn engine_count() -> usize {
    let pool = POOL.lock();
    let mut bdfs: Vec<pci::PciAddress> = pool.iter_free().map(|(_, c)| c.bdf()).collect();
    bdfs.sort();
    bdfs.dedup();
    bdfs.len()
}

/// Prints every channel's register traffic (compared with the model's own counters by
/// `run-qemu.sh check`). Channels lent out at the time are not counted, and said so.
pub fn print_counters() {
    let pool = POOL.lock();
    let (mut r, mut w, mut d, mut n) = (0, 0, 0, 0);
    for (_, c) in pool.iter_free() {
        let m = c.counters();
        let t = c.timing();
        println!(
            "dma: channel {} mmio reads {} writes {} doorbells {}; {} batches, submit {} ns and completion {} ns per batch; {} descriptors",
            c.name(),
            m.reads,
            m.writes,
            m.doorbells,
            t.batches,
            t.submit_ns / t.batches.max(1),
            t.wait_ns / t.batches.max(1),
            m.descriptors
        );
        (r, w, d, n) = (
            r + m.reads,
            w + m.writes,
            d + m.doorbells,
            n + m.descriptors,
        );
    }
    // SDXI: each function's own traffic (activation, admin doorbells), once per function.
    let mut seen: Vec<pci::PciAddress> = Vec::new();
    for (_, c) in pool.iter_free() {
        let Some(m) = c.function_counters() else {
            continue;
        };
        if seen.contains(&c.bdf()) {
            continue;
        }
        seen.push(c.bdf());
        println!(
            "dma: SDXI function {:?} admin mmio reads {} writes {} doorbells {} descriptors {}",
            c.bdf(),
            m.reads,
            m.writes,
            m.doorbells,
            m.descriptors
        );
        (r, w, d, n) = (
            r + m.reads,
            w + m.writes,
            d + m.doorbells,
            n + m.descriptors,
        );
    }
    let lent = pool.len() - pool.free();
    if lent > 0 {
        println!("dma: {lent} channel(s) still lent out: not counted");
    }
    if !pool.is_empty() {
        println!("dma: total mmio reads {r} writes {w} doorbells {d} descriptors {n}");
    }
}
