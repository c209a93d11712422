//! DMA engines: finds every AMD PTDMA function (1022:1498, one queue each) and every
//! AE4DMA function (1022:149b, up to 16 queues each) on the PCI bus, claims it (memory
//! decode + bus master), maps its BAR uncached, gives each queue a descriptor ring (and
//! PTDMA a completion-marker area) from node-0 frames, and starts it through the
//! `ptdma` driver crate. Each started hardware queue is a [`Channel`].
//!
//! One CPU per channel at a time: a channel belongs to the CPU that runs the migration
//! using it (the coordinating CPU, normally the BSP); `smp` workers never call into this
//! module. Every register access goes through [`with_channel`], under the `CHANNELS`
//! lock, so even a stray second caller is serialized, never concurrent. QEMU needs
//! this, not just the queue logic: two vCPUs accessing the same emulated PTDMA function
//! (`x-pci-proxy-dev`) at once can deadlock QEMU for good (the proxy's io_mutex against
//! the BQL). Moving a channel to another CPU means handing it over, never sharing it.
//!
//! Safety on real machines: an engine whose queue is already running belongs to
//! someone else (firmware, another OS instance): it is refused unless `dma-force=1`.

mod mem;

use crate::arch::mmio::Mmio;
use crate::arch::tsc;
use crate::mm::{frames, paging};
use crate::{pcicfg, println};
use alloc::string::String;
use alloc::vec::Vec;
use mem::{DmaBuf, MmioRegs};
use ptdma::ae4dma::{self, Ae4Config, Ae4Queue};
use ptdma::regs::{QueueControl, QueueReg};
use ptdma::{
    Completed, CopyOp, DmaChannel, PtdmaError, PtdmaQueue, QueueConfig, RegisterAccess, Ticket,
};
use spin::Mutex;

/// Descriptor slots per PTDMA ring.
pub const RING_ENTRIES: usize = 1024;
/// Buddy order of the ring block: 1024 × 32 B = 32 KiB, naturally aligned to its size
/// (the engine requires it) and never crossing a 4 GiB line.
const RING_ORDER: usize = 3;
/// Buddy order of the marker area: 8 × (entries + 1) bytes.
const MARKER_ORDER: usize = 2;

/// The driver's queue, of either engine kind.
pub enum Hw {
    /// A PTDMA function's single queue.
    Ptdma(PtdmaQueue<MmioRegs, mem::FrameWords>),
    /// One of an AE4DMA function's queues.
    Ae4(Ae4Queue<MmioRegs, mem::FrameWords>),
}

impl Hw {
    /// Queues `ops` with one doorbell.
    pub fn submit(&mut self, ops: &[CopyOp]) -> Result<Ticket, PtdmaError> {
        match self {
            Hw::Ptdma(q) => q.submit(ops),
            Hw::Ae4(q) => q.submit(ops),
        }
    }

    /// Polls until done or `expired()`; on expiry the queue is reset.
    pub fn wait_until(&mut self, expired: impl FnMut() -> bool) -> Result<Completed, PtdmaError> {
        match self {
            Hw::Ptdma(q) => q.wait_until(expired),
            Hw::Ae4(q) => q.wait_until(expired),
        }
    }

    /// Register traffic so far.
    pub fn counters(&self) -> ptdma::MmioCounters {
        match self {
            Hw::Ptdma(q) => q.counters(),
            Hw::Ae4(q) => q.counters(),
        }
    }

    /// Periodic register checks made while polling the memory marker (PTDMA only).
    pub fn safety_checks(&self) -> u64 {
        match self {
            Hw::Ptdma(q) => q.safety_checks(),
            Hw::Ae4(_) => 0,
        }
    }

    /// Descriptor slots a new batch may use (a PTDMA marker slot excluded).
    pub fn free_slots(&self) -> usize {
        match self {
            Hw::Ptdma(q) => DmaChannel::free_slots(q),
            Hw::Ae4(q) => DmaChannel::free_slots(q),
        }
    }

    /// Descriptors `op` needs.
    pub fn descriptors_for(&self, op: &CopyOp) -> usize {
        match self {
            Hw::Ptdma(q) => q.descriptors_for(op),
            Hw::Ae4(q) => q.descriptors_for(op),
        }
    }
}

/// One started hardware queue.
pub struct Channel {
    /// PCI address, for reports.
    pub bdf: pci::PciAddress,
    /// Queue index within the function (0 for PTDMA).
    pub qid: usize,
    /// The driver's queue.
    pub queue: Hw,
    /// Nanoseconds spent submitting (descriptor writes + doorbell), summed.
    pub submit_ns: u64,
    /// Nanoseconds spent waiting for and handling completions, summed.
    pub wait_ns: u64,
    /// Batches submitted.
    pub batches: u64,
    /// Why the channel was retired (device gone), if it was.
    pub retired: Option<PtdmaError>,
    _ring: DmaBuf,
    _marker: Option<DmaBuf>,
}

static CHANNELS: Mutex<Vec<Channel>> = Mutex::new(Vec::new());

/// A copy op whose range is not a frame the caller holds: refused before any
/// descriptor is written (see `mm::frames::check_data_range`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotOwned {
    /// Which side of the op: `"source"` or `"destination"`.
    pub side: &'static str,
    /// First byte of the refused range.
    pub addr: u64,
    /// Bytes.
    pub len: u64,
    /// What the range hits instead.
    pub error: frames::RangeError,
}

impl core::fmt::Display for NotOwned {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "DMA refused: {} {:#x}+{:#x} is not a data frame this run holds ({})",
            self.side, self.addr, self.len, self.error
        )
    }
}

/// Checks every op's source and destination against the data frames the caller holds
/// (never the kernel image, page tables, descriptor rings, the heap, free frames or
/// firmware ranges). On bare metal this is what stands between a bug and a DMA engine
/// writing over memory the kernel or firmware keeps.
///
/// # Errors
/// The first range that is not a held data frame.
pub fn check_owned(ops: &[CopyOp]) -> Result<(), NotOwned> {
    for op in ops {
        for (side, addr) in [
            ("source", op.src.as_u64()),
            ("destination", op.dst.as_u64()),
        ] {
            frames::check_data_range(addr, op.len).map_err(|error| NotOwned {
                side,
                addr,
                len: op.len,
                error,
            })?;
        }
    }
    Ok(())
}

/// Why a submission did not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitError {
    /// An op names memory the caller does not hold; nothing was written.
    NotOwned(NotOwned),
    /// The driver refused or the engine failed.
    Engine(PtdmaError),
}

impl From<PtdmaError> for SubmitError {
    fn from(e: PtdmaError) -> Self {
        SubmitError::Engine(e)
    }
}

impl core::fmt::Display for SubmitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SubmitError::NotOwned(e) => write!(f, "{e}"),
            SubmitError::Engine(e) => write!(f, "{e}"),
        }
    }
}

/// Number of started channels.
pub fn channel_count() -> usize {
    CHANNELS.lock().len()
}

/// Number of engines (PCI functions) with at least one started channel.
pub fn engine_count() -> usize {
    let chans = CHANNELS.lock();
    let mut bdfs: Vec<pci::PciAddress> = chans.iter().map(|c| c.bdf).collect();
    bdfs.sort();
    bdfs.dedup();
    bdfs.len()
}

/// Runs `f` with channel `i`.
pub fn with_channel<R>(i: usize, f: impl FnOnce(&mut Channel) -> R) -> Option<R> {
    CHANNELS.lock().get_mut(i).map(f)
}

/// Finds and starts every PTDMA engine. Returns how many started.
pub fn init(force: bool, marker: bool) -> usize {
    let mut started = Vec::new();
    for f in pcicfg::functions()
        .iter()
        .filter(|f| f.vendor == ptdma::AMD_VENDOR_ID && f.device == ptdma::PTDMA_DEVICE_ID)
    {
        match start_ptdma(f, force, marker) {
            Ok(ch) => {
                let version = match &ch.queue {
                    Hw::Ptdma(q) => q.version(),
                    Hw::Ae4(_) => 0,
                };
                println!(
                    "dma: PTDMA {:?} started (version {:#x}, ring {} slots{})",
                    ch.bdf,
                    version,
                    RING_ENTRIES,
                    if marker {
                        ", memory completion marker"
                    } else {
                        ""
                    }
                );
                started.push(ch);
            }
            Err(e) => println!("dma: PTDMA {:?} not used: {e}", f.address),
        }
    }
    for f in pcicfg::functions()
        .iter()
        .filter(|f| f.vendor == ptdma::AMD_VENDOR_ID && f.device == ptdma::AE4DMA_DEVICE_ID)
    {
        match start_ae4(f, force) {
            Ok(queues) => {
                println!(
                    "dma: AE4DMA {:?} started with {} queue(s) of {} slots",
                    f.address,
                    queues.len(),
                    ae4dma::AE4_DEFAULT_ENTRIES
                );
                started.extend(queues);
            }
            Err(e) => println!("dma: AE4DMA {:?} not used: {e}", f.address),
        }
    }
    let before = started.len();
    started.retain_mut(|ch| match probe_reach(ch) {
        Ok(()) => true,
        Err(why) => {
            println!(
                "dma: channel {} retired: it cannot reach guest RAM ({why}); engine=dma will not use it",
                ch.name()
            );
            false
        }
    });
    let n = started.len();
    if n == 0 && before > 0 {
        println!(
            "dma: every DMA channel failed its probe copy: no DMA engine (under QEMU, check that the device proxy shares every RAM section)"
        );
    } else if n == 0 {
        println!("dma: no DMA engine: the DMA copy engine is unavailable, CPU engines still work");
    } else if before > 0 {
        println!("dma: probe copy passed on {n} channel(s), one page on every node with memory");
    }
    *CHANNELS.lock() = started;
    n
}

/// Bytes each probe op copies.
const PROBE_BYTES: u64 = 4096;
/// Wall-clock limit of the probe batch.
const PROBE_TIMEOUT_NS: u64 = 2_000_000_000;

/// The first use of a channel: one page copied within every node that has memory, in
/// one batch, then compared byte for byte. An engine that cannot reach some RAM (a
/// device proxy that was not given every RAM section, an IOMMU in the way) is found
/// here, not by falling back to the CPU on every batch of a run.
///
/// # Errors
/// What failed, as text for the retirement line: no memory for the probe, the
/// engine's error, or which node's page came back wrong.
fn probe_reach(ch: &mut Channel) -> Result<(), String> {
    let mut pairs = Vec::new();
    let mut result = Ok(());
    for node in frames::nodes() {
        let pair = frames::alloc_data(node, 0).and_then(|s| match frames::alloc_data(node, 0) {
            Ok(d) => Ok((s, d)),
            Err(e) => {
                let _ = frames::free(s);
                Err(e)
            }
        });
        match pair {
            Ok((mut s, mut d)) => {
                for (i, w) in s.as_mut_slice().chunks_exact_mut(8).enumerate() {
                    let v = kcore::migrate::pattern_word(
                        0x9b0b_e5ee_d000 + u64::from(node),
                        7,
                        i as u64,
                    );
                    w.copy_from_slice(&v.to_le_bytes());
                }
                d.as_mut_slice().fill(0);
                pairs.push((node, s, d));
            }
            Err(e) => {
                result = Err(alloc::format!("no probe page on node {node}: {e}"));
                break;
            }
        }
    }
    if result.is_ok() {
        let ops: Vec<CopyOp> = pairs
            .iter()
            .map(|(_, s, d)| CopyOp {
                src: ptdma::DmaAddr::new(s.addr),
                dst: ptdma::DmaAddr::new(d.addr),
                len: PROBE_BYTES,
            })
            .collect();
        result = match ch.copy_sync(&ops, PROBE_TIMEOUT_NS) {
            Err(e) => Err(alloc::format!("probe copy: {e}")),
            Ok(_) => match pairs.iter().find(|(_, s, d)| !frames::same_bytes(s, d)) {
                Some((node, _, _)) => Err(alloc::format!(
                    "probe copy on node {node} reported success but the page differs"
                )),
                None => Ok(()),
            },
        };
    }
    for (_, s, d) in pairs {
        let _ = frames::free(s);
        let _ = frames::free(d);
    }
    // The probe is not part of any measurement.
    ch.submit_ns = 0;
    ch.wait_ns = 0;
    ch.batches = 0;
    result
}

fn start_ptdma(f: &pci::PciFunction, force: bool, marker: bool) -> Result<Channel, String> {
    let bar = f.bar(ptdma::PTDMA_BAR).ok_or("no BAR2")?;
    if bar.address == 0 || bar.size < 0x2000 {
        return Err(alloc::format!(
            "BAR2 unassigned or too small ({:#x} bytes)",
            bar.size
        ));
    }
    let base = paging::map_mmio(bar.address, bar.size)?;
    // SAFETY: BAR2 of a PTDMA function is its register block, now mapped uncached.
    let regs = MmioRegs(unsafe { Mmio::new(base, bar.size) });
    pci::enable(
        pcicfg::access(),
        f.address,
        pci::Command {
            bus_master: true,
            memory: true,
            io: false,
        },
    );
    let control = regs.read32(QueueReg::Control.offset(0));
    if control == u32::MAX {
        return Err("registers read all-ones (device gone?)".into());
    }
    if control & QueueControl::RUN.bits() != 0 && !force {
        return Err(
            "its queue is already running (owned by firmware or another OS); dma-force=1 takes it"
                .into(),
        );
    }
    let ring = DmaBuf::new(RING_ORDER).map_err(|e| alloc::format!("ring memory: {e}"))?;
    let marker_buf = DmaBuf::new(MARKER_ORDER).map_err(|e| alloc::format!("marker memory: {e}"))?;
    let config = QueueConfig {
        completion_marker: marker,
        // Poll RAM; look at the registers (to notice an error that stops the marker
        // from ever being written) only every 2^16 polls, so a normal batch costs one
        // MMIO read: the final HEAD check.
        marker_check_interval: 1 << 16,
        ..QueueConfig::default()
    };
    let queue = PtdmaQueue::init(regs, ring.words(), Some(marker_buf.words()), config)
        .map_err(|e| alloc::format!("init: {e}"))?;
    Ok(Channel {
        bdf: f.address,
        qid: 0,
        queue: Hw::Ptdma(queue),
        submit_ns: 0,
        wait_ns: 0,
        batches: 0,
        retired: None,
        _ring: ring,
        _marker: Some(marker_buf),
    })
}

/// Starts every queue an AE4DMA function grants (BAR0, 16 queues of 32 descriptors).
fn start_ae4(f: &pci::PciFunction, force: bool) -> Result<Vec<Channel>, String> {
    use ptdma::regs::ae4::Ae4QueueReg;
    let bar = f.bar(ptdma::AE4DMA_BAR).ok_or("no BAR0")?;
    if bar.address == 0 || bar.size < 0x400 {
        return Err(alloc::format!(
            "BAR0 unassigned or too small ({:#x} bytes)",
            bar.size
        ));
    }
    let base = paging::map_mmio(bar.address, bar.size)?;
    // SAFETY: BAR0 of an AE4DMA function is its register block, now mapped uncached.
    let regs = MmioRegs(unsafe { Mmio::new(base, bar.size) });
    let cmd = pci::Command {
        bus_master: true,
        memory: true,
        io: false,
    };
    pci::enable(pcicfg::access(), f.address, cmd);
    // Queue 0 enabled with work pending means someone else drives this engine.
    let busy = regs.read32(Ae4QueueReg::Control.offset(0)) & 1 != 0
        && regs.read32(Ae4QueueReg::ReadIdx.offset(0))
            != regs.read32(Ae4QueueReg::WriteIdx.offset(0));
    if busy && !force {
        return Err(
            "queue 0 is enabled with work pending (owned elsewhere); dma-force=1 takes it".into(),
        );
    }
    let granted = ae4dma::init_common(&regs, 16).map_err(|e| alloc::format!("{e}"))?;
    let mut out = Vec::new();
    for qid in 0..granted as usize {
        let ring = DmaBuf::new(0).map_err(|e| alloc::format!("ring memory: {e}"))?;
        // A frame holds 128 descriptors; AE4 rings are 32 long: the first KiB is the ring.
        let view = ring.words_prefix(ae4dma::AE4_DEFAULT_ENTRIES * 32);
        let q = Ae4Queue::init(regs, qid, granted, view, Ae4Config::default())
            .map_err(|e| alloc::format!("queue {qid}: {e}"))?;
        out.push(Channel {
            bdf: f.address,
            qid,
            queue: Hw::Ae4(q),
            submit_ns: 0,
            wait_ns: 0,
            batches: 0,
            retired: None,
            _ring: ring,
            _marker: None,
        });
    }
    if out.is_empty() {
        return Err("the engine granted no queue".into());
    }
    Ok(out)
}

impl Channel {
    /// True for an AE4DMA queue (which needs 4-byte aligned addresses and lengths).
    pub fn is_ae4(&self) -> bool {
        matches!(self.queue, Hw::Ae4(_))
    }

    /// `bus:dev.fn` plus the queue index, for messages.
    pub fn name(&self) -> String {
        alloc::format!("{:?} q{}", self.bdf, self.qid)
    }

    /// Queues `ops` with one doorbell.
    ///
    /// # Errors
    /// [`SubmitError::NotOwned`] when an op names memory that is not a held data frame
    /// (nothing is written); [`SubmitError::Engine`] when the channel is retired or the
    /// driver refuses the batch.
    pub fn submit(&mut self, ops: &[CopyOp]) -> Result<(), SubmitError> {
        check_owned(ops).map_err(SubmitError::NotOwned)?;
        if let Some(e) = self.retired {
            return Err(e.into());
        }
        let t0 = tsc::now_ns();
        let r = self.queue.submit(ops).map(|_| ());
        self.submit_ns += tsc::now_ns() - t0;
        self.batches += 1;
        Ok(r?)
    }

    /// Waits until everything submitted completed or the TSC passes `deadline_ns`
    /// (then the queue is reset and the error says what completed).
    pub fn wait(&mut self, deadline_ns: u64) -> Result<Completed, PtdmaError> {
        let t0 = tsc::now_ns();
        let r = self.queue.wait_until(|| tsc::now_ns() > deadline_ns);
        self.wait_ns += tsc::now_ns() - t0;
        if let Err(e @ PtdmaError::DeviceGone) = &r {
            println!("dma: channel {} retired: {e}", self.name());
            self.retired = Some(*e);
        }
        r
    }

    /// Submits `ops` (one doorbell) and waits for them with a wall-clock limit. A
    /// device that reads all-ones is retired: later calls fail at once with the same
    /// error instead of touching it again.
    ///
    /// # Errors
    /// As [`Self::submit`], and [`SubmitError::Engine`] with the driver's error when the
    /// batch fails or times out.
    pub fn copy_sync(
        &mut self,
        ops: &[CopyOp],
        timeout_ns: u64,
    ) -> Result<(Ticket, Completed), SubmitError> {
        check_owned(ops).map_err(SubmitError::NotOwned)?;
        if let Some(e) = &self.retired {
            return Err((*e).into());
        }
        let deadline = tsc::now_ns() + timeout_ns;
        let t0 = tsc::now_ns();
        let submitted = self.queue.submit(ops);
        let t1 = tsc::now_ns();
        self.submit_ns += t1 - t0;
        self.batches += 1;
        let r = submitted.and_then(|t| {
            self.queue
                .wait_until(|| tsc::now_ns() > deadline)
                .map(|c| (t, c))
        });
        self.wait_ns += tsc::now_ns() - t1;
        if let Err(e @ PtdmaError::DeviceGone) = &r {
            println!("dma: channel {} retired: {e}", self.name());
            self.retired = Some(*e);
        }
        Ok(r?)
    }
}

/// Prints every channel's register traffic (compared with the model's own counters by
/// `run-qemu.sh check`).
pub fn print_counters() {
    let chans = CHANNELS.lock();
    let (mut r, mut w, mut d) = (0, 0, 0);
    for c in chans.iter() {
        let m = c.queue.counters();
        println!(
            "dma: channel {} mmio reads {} writes {} doorbells {}; {} batches, submit {} ns and completion {} ns per batch",
            c.name(),
            m.reads,
            m.writes,
            m.doorbells,
            c.batches,
            c.submit_ns / c.batches.max(1),
            c.wait_ns / c.batches.max(1)
        );
        (r, w, d) = (r + m.reads, w + m.writes, d + m.doorbells);
    }
    if !chans.is_empty() {
        println!("dma: total mmio reads {r} writes {w} doorbells {d}");
    }
}
