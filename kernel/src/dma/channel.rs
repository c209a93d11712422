//! One started hardware queue ([`Channel`]): the driver's queue of any engine kind
//! ([`Hw`]: a PTDMA queue, an AE4DMA queue or an SDXI client context) plus what the kernel keeps around it (where it is, time spent, whether the
//! device is gone). A channel takes raw copy lists only inside `dma` (the first-use probe);
//! everyone else submits through [`Channel::held`], whose [`HeldChannel`] refuses any op
//! outside the frame handles the caller holds and implements the driver's [`DmaChannel`]
//! trait, so the driver's tested multi-channel scheduler (`ptdma::ChannelSet`) drives it.
//!
//! A channel is owned by value (see `registry`): whoever holds it is the only CPU that
//! touches its registers. QEMU needs this, not just the queue logic: two vCPUs accessing
//! the same emulated function (`x-pci-proxy-dev`) at once can deadlock QEMU for good.

use super::held::{Held, HeldChannel};
use super::mem::{DmaBuf, FrameWords, MmioRegs};
use super::owned::check_owned;
use crate::arch::tsc;
use crate::println;
use alloc::string::String;
use kcore::cmdline::DmaKind;
use ptdma::ae4dma::Ae4Queue;
use ptdma::sdxi::SdxiChannel;
use ptdma::{Completed, CopyOp, DmaChannel, MmioCounters, Poll, PtdmaError, PtdmaQueue, Ticket};

/// The driver's queue, of any engine kind.
pub enum Hw {
    /// A PTDMA function's single queue.
    Ptdma(PtdmaQueue<MmioRegs, FrameWords>),
    /// One of an AE4DMA function's queues.
    Ae4(Ae4Queue<MmioRegs, FrameWords>),
    /// One client context of an SDXI function.
    Sdxi(SdxiChannel<MmioRegs, FrameWords>),
}

impl Hw {
    /// The engine kind.
    pub fn kind(&self) -> DmaKind {
        match self {
            Hw::Ptdma(_) => DmaKind::Ptdma,
            Hw::Ae4(_) => DmaKind::Ae4dma,
            Hw::Sdxi(_) => DmaKind::Sdxi,
        }
    }
}

impl DmaChannel for Hw {
    fn submit(&mut self, ops: &[CopyOp]) -> Result<Ticket, PtdmaError> {
        match self {
            Hw::Ptdma(q) => DmaChannel::submit(q, ops),
            Hw::Ae4(q) => DmaChannel::submit(q, ops),
            Hw::Sdxi(q) => DmaChannel::submit(q, ops),
        }
    }
    fn poll(&mut self) -> Result<Poll, PtdmaError> {
        match self {
            Hw::Ptdma(q) => DmaChannel::poll(q),
            Hw::Ae4(q) => DmaChannel::poll(q),
            Hw::Sdxi(q) => DmaChannel::poll(q),
        }
    }
    fn wait_until(&mut self, expired: &mut dyn FnMut() -> bool) -> Result<Completed, PtdmaError> {
        match self {
            Hw::Ptdma(q) => DmaChannel::wait_until(q, expired),
            Hw::Ae4(q) => DmaChannel::wait_until(q, expired),
            Hw::Sdxi(q) => DmaChannel::wait_until(q, expired),
        }
    }
    fn descriptors_for(&self, op: &CopyOp) -> usize {
        match self {
            Hw::Ptdma(q) => DmaChannel::descriptors_for(q, op),
            Hw::Ae4(q) => DmaChannel::descriptors_for(q, op),
            Hw::Sdxi(q) => DmaChannel::descriptors_for(q, op),
        }
    }
    fn free_slots(&self) -> usize {
        match self {
            Hw::Ptdma(q) => DmaChannel::free_slots(q),
            Hw::Ae4(q) => DmaChannel::free_slots(q),
            Hw::Sdxi(q) => DmaChannel::free_slots(q),
        }
    }
    fn counters(&self) -> MmioCounters {
        match self {
            Hw::Ptdma(q) => DmaChannel::counters(q),
            Hw::Ae4(q) => DmaChannel::counters(q),
            Hw::Sdxi(q) => DmaChannel::counters(q),
        }
    }
}

/// Time a channel spent, summed over its life (or since [`Channel::reset_timing`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelTiming {
    /// Batches submitted (doorbells rung through this channel).
    pub batches: u64,
    /// Nanoseconds spent submitting (descriptor writes + doorbell).
    pub submit_ns: u64,
    /// Nanoseconds spent waiting for and handling completions.
    pub wait_ns: u64,
}

/// One started hardware queue.
pub struct Channel {
    /// Position in the registry (stable for the run).
    id: usize,
    bdf: pci::PciAddress,
    qid: usize,
    queue: Hw,
    timing: ChannelTiming,
    retired: Option<PtdmaError>,
    _ring: DmaBuf,
    _marker: Option<DmaBuf>,
}

impl Channel {
    /// A started queue `qid` of function `bdf`, with the buffers it uses (recorded with
    /// the channel; their frames belong to the device for the kernel's life, see
    /// `DmaBuf`).
    pub(super) fn new(
        bdf: pci::PciAddress,
        qid: usize,
        queue: Hw,
        ring: DmaBuf,
        marker: Option<DmaBuf>,
    ) -> Self {
        Self {
            id: 0,
            bdf,
            qid,
            queue,
            timing: ChannelTiming::default(),
            retired: None,
            _ring: ring,
            _marker: marker,
        }
    }

    pub(super) fn set_id(&mut self, id: usize) {
        self.id = id;
    }

    /// Position in the registry.
    pub fn id(&self) -> usize {
        self.id
    }

    /// PCI address of the function.
    pub fn bdf(&self) -> pci::PciAddress {
        self.bdf
    }

    /// True for an AE4DMA queue (which needs 4-byte aligned addresses and lengths).
    pub fn is_ae4(&self) -> bool {
        matches!(self.queue, Hw::Ae4(_))
    }

    /// The engine kind (PTDMA, AE4DMA or SDXI).
    pub fn kind(&self) -> DmaKind {
        self.queue.kind()
    }

    /// `bus:dev.fn` plus the queue index, for messages.
    pub fn name(&self) -> String {
        alloc::format!("{:?} q{}", self.bdf, self.qid)
    }

    /// The PTDMA version register (0 for AE4DMA and SDXI).
    pub fn version(&self) -> u32 {
        match &self.queue {
            Hw::Ptdma(q) => q.version(),
            Hw::Ae4(_) | Hw::Sdxi(_) => 0,
        }
    }

    /// Largest byte count one descriptor carries (ops are cut into descriptors of this).
    pub fn max_desc_len(&self) -> u64 {
        match &self.queue {
            Hw::Ptdma(q) => u64::from(q.config().max_desc_len),
            Hw::Ae4(q) => u64::from(q.config().max_desc_len),
            Hw::Sdxi(q) => q.config().max_desc_len,
        }
    }

    /// Why the channel was retired (device gone), if it was.
    pub fn retired(&self) -> Option<PtdmaError> {
        self.retired
    }

    /// Time spent so far.
    pub fn timing(&self) -> ChannelTiming {
        self.timing
    }

    /// Forgets the time spent (after the first-use probe, which is not a measurement).
    pub fn reset_timing(&mut self) {
        self.timing = ChannelTiming::default();
    }

    /// For an SDXI context: the register traffic of its function itself (activation,
    /// admin-ring doorbells, error-log reads), which no channel's counters include.
    pub fn function_counters(&self) -> Option<MmioCounters> {
        match &self.queue {
            Hw::Sdxi(q) => Some(q.function_counters()),
            Hw::Ptdma(_) | Hw::Ae4(_) => None,
        }
    }

    /// Periodic register checks made while polling the memory marker (PTDMA only).
    pub fn safety_checks(&self) -> u64 {
        match &self.queue {
            Hw::Ptdma(q) => q.safety_checks(),
            Hw::Ae4(_) | Hw::Sdxi(_) => 0,
        }
    }

    /// This channel, lent to copy what `held` covers (see [`HeldChannel`]).
    pub fn held<'a>(&'a mut self, held: &'a Held<'a>) -> HeldChannel<'a> {
        HeldChannel::new(self, held)
    }

    /// Submits `ops` (one doorbell) and waits for them with a wall-clock limit.
    ///
    /// # Errors
    /// As [`Channel::submit`] and [`Channel::wait_until`]; [`PtdmaError::Timeout`]
    /// when `timeout_ns` passes (the queue is stopped then).
    pub(super) fn copy_sync(
        &mut self,
        ops: &[CopyOp],
        timeout_ns: u64,
    ) -> Result<(Ticket, Completed), PtdmaError> {
        let deadline = tsc::now_ns() + timeout_ns;
        let ticket = self.submit(ops)?;
        let done = self.wait_until(&mut || tsc::now_ns() > deadline)?;
        Ok((ticket, done))
    }
}

/// The driver's queue operations, for [`HeldChannel`] (which checks what is submitted)
/// and the first-use probe.
impl Channel {
    /// Queues `ops` with one doorbell. Every op must lie in allocated data frames
    /// (`owned::check_owned`); anything else is refused with [`PtdmaError::Refused`]
    /// before a descriptor is written. A retired channel refuses at once.
    ///
    /// # Errors
    /// [`PtdmaError::Refused`], the retirement cause, or the queue's refusal.
    pub(super) fn submit(&mut self, ops: &[CopyOp]) -> Result<Ticket, PtdmaError> {
        if let Err(e) = check_owned(ops) {
            return Err(PtdmaError::Refused(ptdma::DmaAddr::new(e.addr)));
        }
        if let Some(e) = self.retired {
            return Err(e);
        }
        let t0 = tsc::now_ns();
        let r = self.queue.submit(ops);
        self.timing.submit_ns += tsc::now_ns() - t0;
        self.timing.batches += 1;
        r
    }

    /// Non-blocking completion check.
    ///
    /// # Errors
    /// The retirement cause, or the queue's error.
    pub fn poll(&mut self) -> Result<Poll, PtdmaError> {
        if let Some(e) = self.retired {
            return Err(e);
        }
        self.queue.poll()
    }

    /// Waits for everything submitted; a device that reads all-ones is retired, so
    /// later calls fail at once instead of touching it again.
    ///
    /// # Errors
    /// As the driver's `DmaChannel::wait_until` ([`PtdmaError::Timeout`] when `expired`).
    pub fn wait_until(
        &mut self,
        expired: &mut dyn FnMut() -> bool,
    ) -> Result<Completed, PtdmaError> {
        let t0 = tsc::now_ns();
        let r = self.queue.wait_until(expired);
        self.timing.wait_ns += tsc::now_ns() - t0;
        if let Err(e @ PtdmaError::DeviceGone) = &r {
            println!("dma: channel {} retired: {e}", self.name());
            self.retired = Some(*e);
        }
        // An SDXI context whose stop/restart failed (or whose function failed) is retired
        // by the driver; remember it here too so it is said once and not touched again.
        if let Hw::Sdxi(q) = &self.queue {
            if let (Some(e), None) = (q.retired(), self.retired) {
                println!("dma: channel {} retired: {e}", self.name());
                self.retired = Some(e);
            }
        }
        r
    }

    /// Descriptors `op` takes on this queue.
    pub fn descriptors_for(&self, op: &CopyOp) -> usize {
        self.queue.descriptors_for(op)
    }

    /// Free ring slots.
    pub fn free_slots(&self) -> usize {
        self.queue.free_slots()
    }

    /// Register traffic so far.
    pub fn counters(&self) -> MmioCounters {
        self.queue.counters()
    }
}
