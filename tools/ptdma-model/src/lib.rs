//! `ptdma-model`: an emulated AMD PTDMA (1022:1498) / AE4DMA (1022:149B) PCI DMA engine that
//! QEMU 7.2 talks to through `-device x-pci-proxy-dev,fd=N` (see
//! `shared/reference/qemu-proxy-protocol.md` and `shared/reference/ptdma-facts.md`).
//!
//! Layers: `proto` (wire format) → `transport` (socket loop) → `device` (config space +
//! registers, socket-free) → `ptdma`/`ae4dma` (register files + queue workers) → `engine`
//! (paced copies) → `guestmem` (guest RAM). `launch` runs QEMU with N functions attached.

pub mod ae4dma;
pub mod caps;
pub mod cli;
pub mod config_space;
pub mod counters;
pub mod desc;
pub mod device;
pub mod engine;
pub mod faults;
pub mod guestmem;
pub mod launch;
pub mod msix;
pub mod proto;
pub mod ptdma;
pub mod sdxi;
pub mod transport;
