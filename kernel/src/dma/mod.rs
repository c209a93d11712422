//! DMA engines: finds every AMD PTDMA function (1022:1498, one queue each) on the PCI
//! bus, claims it (memory decode + bus master), maps its BAR uncached, gives it a
//! descriptor ring and a completion-marker area from node-0 frames, and starts its
//! queue through the `ptdma` driver crate. Each started queue is a [`Channel`].
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
use crate::mm::paging;
use crate::{pcicfg, println};
use alloc::string::String;
use alloc::vec::Vec;
use mem::{DmaBuf, MmioRegs};
use ptdma::regs::{QueueControl, QueueReg};
use ptdma::{Completed, CopyOp, PtdmaError, PtdmaQueue, QueueConfig, RegisterAccess, Ticket};
use spin::Mutex;

/// Descriptor slots per ring (4 KiB of descriptors, one frame, aligned to its size).
pub const RING_ENTRIES: usize = 128;

/// One started hardware queue.
pub struct Channel {
    /// PCI address, for reports.
    pub bdf: pci::PciAddress,
    /// The driver's queue.
    pub queue: PtdmaQueue<MmioRegs, mem::FrameWords>,
    /// Why the channel was retired (device gone), if it was.
    pub retired: Option<PtdmaError>,
    _ring: DmaBuf,
    _marker: DmaBuf,
}

static CHANNELS: Mutex<Vec<Channel>> = Mutex::new(Vec::new());

/// Number of started channels.
pub fn channel_count() -> usize {
    CHANNELS.lock().len()
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
                println!(
                    "dma: PTDMA {:?} started (version {:#x}, ring {} slots{})",
                    ch.bdf,
                    ch.queue.version(),
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
    let ae4 = pcicfg::functions()
        .iter()
        .filter(|f| f.vendor == ptdma::AMD_VENDOR_ID && f.device == ptdma::AE4DMA_DEVICE_ID)
        .count();
    if ae4 > 0 {
        println!("dma: {ae4} AE4DMA engine(s) present; this build drives PTDMA only");
    }
    let n = started.len();
    if n == 0 {
        println!("dma: no DMA engine: the DMA copy engine is unavailable, CPU engines still work");
    }
    *CHANNELS.lock() = started;
    n
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
    let ring = DmaBuf::new(0).map_err(|e| alloc::format!("ring memory: {e}"))?;
    let marker_buf = DmaBuf::new(0).map_err(|e| alloc::format!("marker memory: {e}"))?;
    let config = QueueConfig {
        completion_marker: marker,
        ..QueueConfig::default()
    };
    let queue = PtdmaQueue::init(regs, ring.words(), Some(marker_buf.words()), config)
        .map_err(|e| alloc::format!("init: {e}"))?;
    Ok(Channel {
        bdf: f.address,
        queue,
        retired: None,
        _ring: ring,
        _marker: marker_buf,
    })
}

impl Channel {
    /// Submits `ops` (one doorbell) and waits for them with a wall-clock limit. A
    /// device that reads all-ones is retired: later calls fail at once with the same
    /// error instead of touching it again.
    pub fn copy_sync(
        &mut self,
        ops: &[CopyOp],
        timeout_ns: u64,
    ) -> Result<(Ticket, Completed), PtdmaError> {
        if let Some(e) = &self.retired {
            return Err(*e);
        }
        let deadline = tsc::now_ns() + timeout_ns;
        let r = self.queue.submit(ops).and_then(|t| {
            self.queue
                .wait_until(|| tsc::now_ns() > deadline)
                .map(|c| (t, c))
        });
        if let Err(e @ PtdmaError::DeviceGone) = &r {
            println!("dma: channel {:?} retired: {e}", self.bdf);
            self.retired = Some(*e);
        }
        r
    }
}
