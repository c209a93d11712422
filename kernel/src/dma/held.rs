//! Proof that a DMA submission copies memory its caller holds.
//!
//! A [`Channel`] takes no raw copy list: code outside `dma` submits through a
//! [`HeldChannel`], which exists only beside a [`Held`] borrowed from frame handles (a
//! [`CopyBatch`], or a source and a destination [`Block`]), and refuses every op that does
//! not lie inside them before a descriptor is written. `owned::check_owned` (the range is
//! some allocated data block) stays as a second check inside the channel; this one says
//! the block is the caller's.
//!
//! Written by hand: the rule is the kernel's own (frame handles of `mm`), no crate has it;
//! the arithmetic is `kcore::held`, host-tested.

use super::channel::Channel;
use crate::mm::copy::CopyBatch;
use crate::mm::frames::Block;
use core::marker::PhantomData;
use kcore::held::{Region, Regions};
use ptdma::{Completed, CopyOp, DmaAddr, DmaChannel, MmioCounters, Poll, PtdmaError, Ticket};

/// Copies the holder may hand to a DMA channel for `'b`: the regions are borrowed from
/// frame handles (destinations exclusively), so no other code can use them meanwhile.
#[derive(Debug)]
pub struct Held<'b> {
    regions: Regions,
    _held: PhantomData<&'b mut [u8]>,
}

impl<'b> Held<'b> {
    /// The ops of `batch` and any piece of them (same offset into source and destination).
    pub fn batch(batch: &'b CopyBatch<'_>) -> Self {
        let regions = batch
            .ops()
            .iter()
            .map(|o| Region {
                src: o.src.as_u64(),
                src_len: o.len,
                dst: o.dst.as_u64(),
                dst_len: o.len,
                lockstep: true,
            })
            .collect();
        Self {
            regions: Regions::new(regions),
            _held: PhantomData,
        }
    }

    /// Any copy from inside `src` to inside `dst` (a test's or a background load's own
    /// buffers, at offsets of its choosing).
    pub fn blocks(src: &'b Block, dst: &'b mut Block) -> Self {
        Self {
            regions: Regions::new(alloc::vec![Region {
                src: src.addr().as_u64(),
                src_len: src.bytes(),
                dst: dst.addr().as_u64(),
                dst_len: dst.bytes(),
                lockstep: false,
            }]),
            _held: PhantomData,
        }
    }

    /// Whether `op` lies inside what is held.
    pub fn allows(&self, op: &CopyOp) -> bool {
        self.regions
            .allows(op.src.as_u64(), op.dst.as_u64(), op.len)
    }

    /// The first op of `ops` outside what is held.
    pub fn first_outside<'o>(&self, ops: &'o [CopyOp]) -> Option<&'o CopyOp> {
        ops.iter().find(|o| !self.allows(o))
    }
}

/// A channel lent to copy what a [`Held`] covers; implements the driver's
/// [`DmaChannel`], so `ptdma::ChannelSet` drives it.
pub struct HeldChannel<'a> {
    ch: &'a mut Channel,
    held: &'a Held<'a>,
}

impl<'a> HeldChannel<'a> {
    pub(super) fn new(ch: &'a mut Channel, held: &'a Held<'a>) -> Self {
        Self { ch, held }
    }

    /// Submits `ops` (one doorbell) and waits for them with a wall-clock limit.
    ///
    /// # Errors
    /// As [`DmaChannel::submit`] and [`DmaChannel::wait_until`]; [`PtdmaError::Timeout`]
    /// when `timeout_ns` passes (the queue is stopped then).
    pub fn copy_sync(
        &mut self,
        ops: &[CopyOp],
        timeout_ns: u64,
    ) -> Result<(Ticket, Completed), PtdmaError> {
        self.check(ops)?;
        self.ch.copy_sync(ops, timeout_ns)
    }

    fn check(&self, ops: &[CopyOp]) -> Result<(), PtdmaError> {
        match self.held.first_outside(ops) {
            Some(op) => Err(PtdmaError::Refused(DmaAddr::new(op.dst.as_u64()))),
            None => Ok(()),
        }
    }
}

impl DmaChannel for HeldChannel<'_> {
    /// Queues `ops` with one doorbell; an op outside what is held is refused with
    /// [`PtdmaError::Refused`] (naming its destination) before a descriptor is written.
    fn submit(&mut self, ops: &[CopyOp]) -> Result<Ticket, PtdmaError> {
        self.check(ops)?;
        self.ch.submit(ops)
    }
    fn poll(&mut self) -> Result<Poll, PtdmaError> {
        self.ch.poll()
    }
    fn wait_until(&mut self, expired: &mut dyn FnMut() -> bool) -> Result<Completed, PtdmaError> {
        self.ch.wait_until(expired)
    }
    fn descriptors_for(&self, op: &CopyOp) -> usize {
        self.ch.descriptors_for(op)
    }
    fn free_slots(&self) -> usize {
        self.ch.free_slots()
    }
    fn counters(&self) -> MmioCounters {
        self.ch.counters()
    }
}
