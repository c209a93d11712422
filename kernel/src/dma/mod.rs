//! DMA engines: every AMD PTDMA function (1022:1498, one queue each), AE4DMA function
//! (1022:149b, up to 16 queues each) and SNIA SDXI function (class 0x120100, one client
//! context per channel) is found and started (`probe`; `dma-kind=` keeps one kind), each
//! started queue
//! is a [`Channel`] (`channel`), and the channels are lent by value (`registry`): whoever
//! holds a [`Lease`] is the only CPU touching those registers. Outside this module a
//! channel copies only through [`Channel::held`]: a [`HeldChannel`] (the driver's
//! `DmaChannel`) that refuses any op outside the frame handles its caller holds ([`Held`],
//! from a `CopyBatch` or a source and destination block); every op must also lie in
//! allocated data frames (`owned`).

mod channel;
mod held;
mod mem;
mod owned;
mod probe;
mod registry;

pub use channel::Channel;
pub use held::{Held, HeldChannel};
pub use owned::{check_owned, NotOwned};
pub use probe::RING_ENTRIES;
pub use registry::{
    count as channel_count, engine_count, kinds_name, print_counters, take, take_id, Lease,
    TakeError,
};

use crate::{pcicfg, println};
use alloc::vec::Vec;
use kcore::cmdline::DmaKind;
use ptdma::ae4dma;

/// Finds and starts every engine of the kinds `only` allows (every kind for `None`),
/// probes every channel, and lends them from then on. Returns how many channels passed
/// the probe.
pub fn init(force: bool, marker: bool, only: Option<DmaKind>) -> usize {
    let mut started: Vec<Channel> = Vec::new();
    let wanted = |k: DmaKind| only.is_none_or(|o| o == k);
    let skipped = |kind: &str, f: &pci::PciFunction| {
        println!(
            "dma: {kind} {:?} not used: dma-kind={} was given",
            f.address,
            only.map_or("-", |k| k.name())
        );
    };
    for f in pcicfg::functions()
        .iter()
        .filter(|f| f.vendor == ptdma::AMD_VENDOR_ID && f.device == ptdma::PTDMA_DEVICE_ID)
    {
        if !wanted(DmaKind::Ptdma) {
            skipped("PTDMA", f);
            continue;
        }
        match probe::start_ptdma(f, force, marker) {
            Ok(ch) => {
                println!(
                    "dma: PTDMA {:?} started (version {:#x}, ring {} slots{})",
                    ch.bdf(),
                    ch.version(),
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
        if !wanted(DmaKind::Ae4dma) {
            skipped("AE4DMA", f);
            continue;
        }
        match probe::start_ae4(f, force) {
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
    for f in pcicfg::functions().iter().filter(|f| {
        u32::from(f.class) << 16 | u32::from(f.subclass) << 8 | u32::from(f.prog_if)
            == ptdma::sdxi::CLASS_CODE
    }) {
        if !wanted(DmaKind::Sdxi) {
            skipped("SDXI", f);
            continue;
        }
        match probe::start_sdxi(f, force) {
            Ok(contexts) => {
                println!(
                    "dma: SDXI {:?} ({:04x}:{:04x}) started with {} client context(s) of {} slots",
                    f.address,
                    f.vendor,
                    f.device,
                    contexts.len(),
                    ptdma::sdxi::context::RING_ENTRIES
                );
                started.extend(contexts);
            }
            Err(e) => println!("dma: SDXI {:?} not used: {e}", f.address),
        }
    }
    let before = started.len();
    started.retain_mut(|ch| match probe::probe_reach(ch) {
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
    registry::install(started);
    n
}
