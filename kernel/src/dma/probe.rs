//! Finding and starting the engines: every PTDMA function (1022:1498, one queue),
//! AE4DMA function (1022:149b, up to 16 queues) and SDXI function (class 0x120100, one
//! client context per channel, `start_sdxi`) on the PCI bus is claimed (memory decode
//! and bus master), its BAR mapped uncached, each queue given a ring (and PTDMA a
//! completion-marker area) from node-0 frames and started through the `ptdma` driver;
//! then every channel passes a first-use probe copy or is retired.
//!
//! Safety on real machines: an engine whose queue is already running belongs to
//! someone else (firmware, another OS instance): it is refused unless `dma-force=1`.

use super::channel::{Channel, Hw};
use super::mem::{DmaBuf, MmioRegs};
use crate::arch::mmio::Mmio;
use crate::mm::frames::{self, Block, FrameError};
use crate::mm::paging;
use crate::pcicfg;
use alloc::vec::Vec;
use ptdma::ae4dma::{self, Ae4Config, Ae4Queue};
use ptdma::regs::{QueueControl, QueueReg};
use ptdma::{CopyOp, DmaAddr, PtdmaError, PtdmaQueue, QueueConfig, RegisterAccess};

/// Descriptor slots per PTDMA ring.
pub const RING_ENTRIES: usize = 1024;
/// Buddy order of the ring block: 1024 × 32 B = 32 KiB, naturally aligned to its size
/// (the engine requires it) and never crossing a 4 GiB line.
const RING_ORDER: usize = 3;
/// Buddy order of the marker area: 8 × (entries + 1) bytes.
const MARKER_ORDER: usize = 2;

/// Why an engine was not started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartError {
    /// The register BAR is missing, unassigned or too small (`ptdma-facts.md` §2: BAR2
    /// of PTDMA, BAR0 of AE4DMA).
    Bar {
        /// BAR index.
        bar: usize,
        /// Its size in bytes (0 when missing).
        size: u64,
    },
    /// The BAR could not be mapped.
    Map(crate::mm::MmError),
    /// The registers read all-ones: the device is gone.
    Gone,
    /// The engine is already running (owned by firmware or another OS).
    Busy,
    /// No frames for a ring or marker.
    Memory(FrameError),
    /// The driver refused to start a queue (or to activate an SDXI function).
    Init(PtdmaError),
    /// The AE4DMA function granted no queue (or the SDXI function allows no client
    /// context).
    NoQueue,
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StartError::Bar { bar, size } => {
                write!(f, "BAR{bar} missing, unassigned or too small ({size:#x} bytes)")
            }
            StartError::Map(e) => write!(f, "cannot map its registers: {e}"),
            StartError::Gone => write!(f, "registers read all-ones (device gone?)"),
            StartError::Busy => write!(
                f,
                "its queue is already running with work (owned by firmware or another OS); dma-force=1 takes it"
            ),
            StartError::Memory(e) => write!(f, "ring memory: {e}"),
            StartError::Init(e) => write!(f, "init: {e}"),
            StartError::NoQueue => write!(f, "the engine granted no queue"),
        }
    }
}

/// Maps the register BAR `bar` of `f` (at least `min` bytes) and enables it.
fn claim(f: &pci::PciFunction, bar: usize, min: u64) -> Result<MmioRegs, StartError> {
    let b = f.bar(bar).ok_or(StartError::Bar { bar, size: 0 })?;
    if b.address == 0 || b.size < min {
        return Err(StartError::Bar { bar, size: b.size });
    }
    let base = paging::map_mmio(b.address, b.size).map_err(StartError::Map)?;
    // SAFETY: this BAR of a PTDMA/AE4DMA function is its register block (ptdma-facts.md
    // §2), now mapped uncached.
    let regs = MmioRegs(unsafe { Mmio::new(base, b.size) });
    let cmd = pci::Command {
        bus_master: true,
        memory: true,
        io: false,
    };
    pci::enable(pcicfg::access(), f.address, cmd);
    Ok(regs)
}

/// Starts a PTDMA function's queue.
///
/// # Errors
/// See [`StartError`].
pub fn start_ptdma(f: &pci::PciFunction, force: bool, marker: bool) -> Result<Channel, StartError> {
    let regs = claim(f, ptdma::PTDMA_BAR, 0x2000)?;
    let control = regs.read32(QueueReg::Control.offset(0));
    if control == u32::MAX {
        return Err(StartError::Gone);
    }
    if control & QueueControl::RUN.bits() != 0 && !force {
        return Err(StartError::Busy);
    }
    let ring = DmaBuf::new(RING_ORDER).map_err(StartError::Memory)?;
    let marker_buf = DmaBuf::new(MARKER_ORDER).map_err(StartError::Memory)?;
    let config = QueueConfig {
        completion_marker: marker,
        // Poll RAM; look at the registers (to notice an error that stops the marker
        // from ever being written) only every 2^16 polls, so a normal batch costs one
        // MMIO read: the final HEAD check.
        marker_check_interval: 1 << 16,
        ..QueueConfig::default()
    };
    let queue = PtdmaQueue::init(regs, ring.words(), Some(marker_buf.words()), config)
        .map_err(StartError::Init)?;
    Ok(Channel::new(
        f.address,
        0,
        Hw::Ptdma(queue),
        ring,
        Some(marker_buf),
    ))
}

/// Starts every queue an AE4DMA function grants (BAR0, 16 queues of 32 descriptors).
///
/// # Errors
/// See [`StartError`].
pub fn start_ae4(f: &pci::PciFunction, force: bool) -> Result<Vec<Channel>, StartError> {
    use ptdma::regs::ae4::Ae4QueueReg;
    let regs = claim(f, ptdma::AE4DMA_BAR, 0x400)?;
    // Queue 0 enabled with work pending means someone else drives this engine.
    let busy = regs.read32(Ae4QueueReg::Control.offset(0)) & 1 != 0
        && regs.read32(Ae4QueueReg::ReadIdx.offset(0))
            != regs.read32(Ae4QueueReg::WriteIdx.offset(0));
    if busy && !force {
        return Err(StartError::Busy);
    }
    let granted = ae4dma::init_common(&regs, 16).map_err(StartError::Init)?;
    let mut out = Vec::new();
    for qid in 0..granted as usize {
        let ring = DmaBuf::new(0).map_err(StartError::Memory)?;
        // A frame holds 128 descriptors; AE4 rings are 32 long: the first KiB is the ring.
        let view = ring.words_prefix(ae4dma::AE4_DEFAULT_ENTRIES * 32);
        let q = Ae4Queue::init(regs, qid, granted, view, Ae4Config::default())
            .map_err(StartError::Init)?;
        out.push(Channel::new(f.address, qid, Hw::Ae4(q), ring, None));
    }
    if out.is_empty() {
        return Err(StartError::NoQueue);
    }
    Ok(out)
}

/// Client contexts started per SDXI function at most (each one channel).
pub const SDXI_MAX_CONTEXTS: u16 = 16;
/// Buddy order of an SDXI context region: 128 KiB for the 72 KiB the driver lays out
/// (`ptdma::sdxi::context::CONTEXT_BYTES`: 1024 × 64 B ring, control block, AKey table).
const SDXI_CONTEXT_ORDER: usize = 5;
/// Buddy order of an SDXI function's tables (L2, L1, error log: 12 KiB).
const SDXI_TABLE_ORDER: usize = 2;
/// Limit of one SDXI state change or admin operation (stop, activate, context start).
const SDXI_ADMIN_TIMEOUT_NS: u64 = 2_000_000_000;

/// Activates an SDXI function (BAR 0 registers, BAR 2 doorbells; `sdxi-facts.md` §6.1)
/// and starts up to [`SDXI_MAX_CONTEXTS`] client contexts (ids 1..), each a channel.
/// Contexts that fail to start are said and skipped.
///
/// # Errors
/// See [`StartError`]: `Busy` when the function is already ACTIVE (unless `force`),
/// `Init` when activation fails, `NoQueue` when no context could be started.
pub fn start_sdxi(f: &pci::PciFunction, force: bool) -> Result<Vec<Channel>, StartError> {
    use alloc::sync::Arc;
    use ptdma::sdxi::{self, regs, ChannelConfig, FunctionConfig, SdxiChannel, SdxiFunction};
    let regs = claim(f, sdxi::REGS_BAR, regs::BAR0_MIN)?;
    let db_size = f.bar(sdxi::DOORBELL_BAR).map_or(0, |b| b.size);
    let db = claim(f, sdxi::DOORBELL_BAR, 0x2000)?;
    let sts0 = regs.read64(regs::STS0);
    if sts0 == u64::MAX {
        return Err(StartError::Gone);
    }
    if regs::FunctionState::from_sts0(sts0) == regs::FunctionState::Active && !force {
        return Err(StartError::Busy);
    }
    let tables = DmaBuf::new(SDXI_TABLE_ORDER).map_err(StartError::Memory)?;
    let admin = DmaBuf::new(SDXI_CONTEXT_ORDER).map_err(StartError::Memory)?;
    let config = FunctionConfig {
        clock: Some(crate::arch::tsc::now_ns),
        timeout_ns: SDXI_ADMIN_TIMEOUT_NS,
        spins: 0,
        doorbell_bar_bytes: db_size,
    };
    let function = SdxiFunction::activate(regs, db, tables.words(), admin.words(), config)
        .map_err(StartError::Init)?;
    let last = function.max_context().min(SDXI_MAX_CONTEXTS);
    let function = Arc::new(spin::Mutex::new(function));
    let mut out = Vec::new();
    for id in 1..=last {
        let mem = DmaBuf::new(SDXI_CONTEXT_ORDER).map_err(StartError::Memory)?;
        match SdxiChannel::open(
            function.clone(),
            id,
            regs,
            db,
            mem.words(),
            ChannelConfig::default(),
        ) {
            Ok(ch) => out.push(Channel::new(
                f.address,
                usize::from(id),
                Hw::Sdxi(ch),
                mem,
                None,
            )),
            Err(e) => crate::println!("dma: SDXI {:?} context {id} not started: {e}", f.address),
        }
    }
    if out.is_empty() {
        return Err(StartError::NoQueue);
    }
    Ok(out)
}

/// Why a channel failed its first-use probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeError {
    /// No frame for the probe on this node.
    NoPage(u32, FrameError),
    /// The engine reported an error or timed out.
    Copy(PtdmaError),
    /// The engine reported success but the page on this node differs.
    Differs(u32),
}

impl core::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ProbeError::NoPage(n, e) => write!(f, "no probe page on node {n}: {e}"),
            ProbeError::Copy(e) => write!(f, "probe copy: {e}"),
            ProbeError::Differs(n) => write!(
                f,
                "probe copy on node {n} reported success but the page differs"
            ),
        }
    }
}

/// Bytes each probe op copies.
const PROBE_BYTES: u64 = 4096;
/// Wall-clock limit of the probe batch.
const PROBE_TIMEOUT_NS: u64 = 2_000_000_000;

/// Two data pages on `node`: a source filled with a pattern and a zeroed destination.
fn probe_pages(node: u32) -> Result<(Block, Block), FrameError> {
    let mut s = frames::alloc_data(node, 0)?;
    let mut d = match frames::alloc_data(node, 0) {
        Ok(d) => d,
        Err(e) => {
            let _ = frames::free(s);
            return Err(e);
        }
    };
    for (i, w) in s.as_mut_slice().chunks_exact_mut(8).enumerate() {
        let v = kcore::migrate::pattern_word(0x9b0b_e5ee_d000 + u64::from(node), 7, i as u64);
        w.copy_from_slice(&v.to_le_bytes());
    }
    d.as_mut_slice().fill(0);
    Ok((s, d))
}

/// The first use of a channel: one page copied within every node that has memory, in
/// one batch (one descriptor per node plus the completion marker), then compared byte
/// for byte. An engine that cannot reach some RAM (a device proxy that was not given
/// every RAM section, an IOMMU in the way) is found here, not by falling back to the
/// CPU on every batch of a run.
///
/// # Errors
/// The [`ProbeError`] that retires the channel.
pub fn probe_reach(ch: &mut Channel) -> Result<(), ProbeError> {
    let mut pairs = Vec::new();
    let mut result = Ok(());
    for node in frames::nodes() {
        match probe_pages(node) {
            Ok((s, d)) => pairs.push((node, s, d)),
            Err(e) => {
                result = Err(ProbeError::NoPage(node, e));
                break;
            }
        }
    }
    if result.is_ok() {
        let ops: Vec<CopyOp> = pairs
            .iter()
            .map(|(_, s, d)| CopyOp {
                src: DmaAddr::new(s.addr().as_u64()),
                dst: DmaAddr::new(d.addr().as_u64()),
                len: PROBE_BYTES,
            })
            .collect();
        result = match ch.copy_sync(&ops, PROBE_TIMEOUT_NS) {
            Err(e) => Err(ProbeError::Copy(e)),
            Ok(_) => match pairs.iter().find(|(_, s, d)| !frames::same_bytes(s, d)) {
                Some((node, _, _)) => Err(ProbeError::Differs(*node)),
                None => Ok(()),
            },
        };
    }
    for (_, s, d) in pairs {
        let _ = frames::free(s);
        let _ = frames::free(d);
    }
    // The probe is not part of any measurement.
    ch.reset_timing();
    result
}
