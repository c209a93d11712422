//! AMD PTDMA (1022:1498) and AE4DMA (1022:149b) copy-engine drivers for foliomove, and the
//! SNIA SDXI 1.0 driver ([`sdxi`], any function of class 0x120100).
//!
//! Design principles:
//! - No `unsafe` at all: registers are reached through [`RegisterAccess`] and descriptor rings
//!   through [`DmaMemory`]; the kernel implements both over its UC MMIO mapping and its direct map.
//! - Registers are named types ([`regs`]), descriptors are `#[repr(C)]` structs ([`desc`]), every
//!   failure is a [`PtdmaError`], and every polling loop is bounded.
//! - Batches: many descriptors, one doorbell; completion by polling (no MSI needed).
//!
//! Facts: `shared/reference/ptdma-facts.md` (§2 registers, §3 descriptor, §4 sequences, §4.5 error
//! codes, §5 AE4DMA, §8 synthesis). Module split follows Linux ptdma: [`regs`] (`ptdma.h`
//! layout), [`desc`] (descriptor + ring maths), [`queue`] (`ptdma-dev.c`), [`ae4dma`],
//! [`channel`] (the dmaengine-like front end that spreads a batch over engines).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]

extern crate alloc;

pub mod ae4dma;
pub mod channel;
pub mod desc;
pub mod error;
pub mod queue;
pub mod regs;
pub mod sdxi;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};

pub use channel::{ChannelSet, DmaChannel, SplitPolicy, WaitLimit};
pub use desc::{Descriptor, Ring};
pub use error::{Progress, PtdmaError};
pub use queue::{Completed, IocPolicy, Poll, PtdmaQueue, QueueConfig, Ticket};
pub use regs::MmioCounters;

/// PCI vendor ID of AMD.
pub const AMD_VENDOR_ID: u16 = 0x1022;
/// PCI device ID of PTDMA (register BAR 2; facts §1.1).
pub const PTDMA_DEVICE_ID: u16 = 0x1498;
/// PCI device ID of AE4DMA (register BAR 0; facts §1.1).
pub const AE4DMA_DEVICE_ID: u16 = 0x149b;
/// BAR index holding PTDMA registers.
pub const PTDMA_BAR: usize = 2;
/// BAR index holding AE4DMA registers.
pub const AE4DMA_BAR: usize = 0;

/// A device-visible (bus) address: a physical address with the IOMMU off, an IOVA otherwise.
///
/// Deliberately has no conversion from virtual addresses.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DmaAddr(u64);

impl DmaAddr {
    /// Highest address + 1 the engines can reach (48-bit descriptor fields; facts §6.2).
    pub const LIMIT: u64 = 1 << 48;

    /// Wraps a bus address.
    pub const fn new(addr: u64) -> Self {
        Self(addr)
    }

    /// The raw address.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Low 32 bits.
    pub const fn lo(self) -> u32 {
        self.0 as u32
    }

    /// Bits 63:32.
    pub const fn hi(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// `self + bytes`.
    pub const fn add(self, bytes: u64) -> Self {
        Self(self.0 + bytes)
    }
}

impl fmt::Debug for DmaAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DmaAddr({:#x})", self.0)
    }
}

/// One copy of `len` bytes from `src` to `dst` (bus addresses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyOp {
    /// Source bus address.
    pub src: DmaAddr,
    /// Destination bus address.
    pub dst: DmaAddr,
    /// Length in bytes.
    pub len: u64,
}

/// 32-bit register access to one device BAR. The kernel implements it over a UC MMIO mapping
/// (volatile accesses); tests implement it with a register model.
pub trait RegisterAccess {
    /// Reads the 32-bit register at byte `offset` from the BAR base.
    fn read32(&self, offset: usize) -> u32;
    /// Writes the 32-bit register at byte `offset` from the BAR base.
    fn write32(&self, offset: usize, value: u32);
    /// Reads the 64-bit register at byte `offset` (multiple of 8). The default reads the low
    /// then the high half; implementations that can issue one 8-byte access (SDXI registers
    /// are 64-bit, `sdxi-facts.md` §2) override it.
    fn read64(&self, offset: usize) -> u64 {
        let lo = self.read32(offset);
        u64::from(lo) | (u64::from(self.read32(offset + 4)) << 32)
    }
    /// Writes the 64-bit register at byte `offset` (multiple of 8). The default writes the
    /// low then the high half; a doorbell must be one 8-byte store (`sdxi-facts.md` §3), so
    /// real MMIO implementations override it.
    fn write64(&self, offset: usize, value: u64) {
        self.write32(offset, value as u32);
        self.write32(offset + 4, (value >> 32) as u32);
    }
}

impl<T: RegisterAccess + ?Sized> RegisterAccess for &T {
    fn read32(&self, offset: usize) -> u32 {
        (**self).read32(offset)
    }
    fn write32(&self, offset: usize, value: u32) {
        (**self).write32(offset, value)
    }
    fn read64(&self, offset: usize) -> u64 {
        (**self).read64(offset)
    }
    fn write64(&self, offset: usize, value: u64) {
        (**self).write64(offset, value)
    }
}

/// CPU access to a physically contiguous, device-visible memory region (a descriptor ring or
/// the completion-marker words), addressed in 32-bit words.
///
/// Accesses must not be elided or cached by the compiler because the device reads and writes
/// the same memory: [`SliceMemory`] uses atomics for that.
pub trait DmaMemory {
    /// Bus address of byte 0.
    fn bus_addr(&self) -> DmaAddr;
    /// Length in bytes.
    fn len_bytes(&self) -> usize;
    /// Reads the 32-bit word at byte offset `off` (multiple of 4).
    fn read32(&self, off: usize) -> u32;
    /// Writes the 32-bit word at byte offset `off` (multiple of 4).
    fn write32(&self, off: usize, value: u32);
}

/// [`DmaMemory`] over a slice of atomics, e.g. the kernel's direct map of a DMA buffer.
#[derive(Debug, Clone, Copy)]
pub struct SliceMemory<'a> {
    words: &'a [AtomicU32],
    bus: DmaAddr,
}

impl<'a> SliceMemory<'a> {
    /// `words` is the CPU view of the region whose device view starts at `bus`.
    pub fn new(words: &'a [AtomicU32], bus: DmaAddr) -> Self {
        Self { words, bus }
    }
}

impl DmaMemory for SliceMemory<'_> {
    fn bus_addr(&self) -> DmaAddr {
        self.bus
    }
    fn len_bytes(&self) -> usize {
        self.words.len() * 4
    }
    fn read32(&self, off: usize) -> u32 {
        self.words[off / 4].load(Ordering::Acquire)
    }
    fn write32(&self, off: usize, value: u32) {
        self.words[off / 4].store(value, Ordering::Release)
    }
}

#[cfg(test)]
mod tests;
