//! Memory the DMA engines read and write: ring and marker buffers in frames, seen by
//! the driver crate as `AtomicU32` words (the device writes them behind the compiler's
//! back, so plain references would be unsound), and the register window.

use crate::arch::mmio::Mmio;
use crate::mm::frames::{self, Block, FrameError};
use core::sync::atomic::AtomicU32;
use ptdma::{DmaAddr, DmaMemory, RegisterAccess, SliceMemory};
use x86_64::PhysAddr;

/// Engine registers (PTDMA, AE4DMA, SDXI) through an uncached MMIO window.
#[derive(Debug, Clone, Copy)]
pub struct MmioRegs(pub Mmio);

impl RegisterAccess for MmioRegs {
    fn read32(&self, offset: usize) -> u32 {
        self.0.read32(offset as u64)
    }
    fn write32(&self, offset: usize, value: u32) {
        self.0.write32(offset as u64, value)
    }
    /// One 8-byte load (SDXI registers are 64-bit).
    fn read64(&self, offset: usize) -> u64 {
        self.0.read64(offset as u64)
    }
    /// One 8-byte store (an SDXI doorbell must not be torn).
    fn write64(&self, offset: usize, value: u64) {
        self.0.write64(offset as u64, value)
    }
}

/// A zeroed block of frames given to a device for the kernel's life: never returned to
/// the allocator, because a device that was programmed with its address (even one that
/// later failed or vanished) may still write it. That is what makes the `'static` views
/// below sound, whatever owns the `DmaBuf` and in whatever order things are dropped.
#[derive(Debug)]
pub struct DmaBuf {
    addr: PhysAddr,
    bytes: u64,
}

impl DmaBuf {
    /// `2^order` zeroed frames on node 0 (device-visible at their physical address:
    /// no IOMMU translation is set up).
    ///
    /// # Errors
    /// [`FrameError::NoSuchNode`] when node 0 has no memory zone, [`FrameError::Alloc`] when
    /// it has no free block of `order` (4 KiB << `order` bytes).
    pub fn new(order: usize) -> Result<Self, FrameError> {
        let mut block: Block = frames::alloc(0, order)?;
        block.as_mut_slice().fill(0);
        let bytes = block.bytes();
        Ok(Self {
            addr: block.into_raw(),
            bytes,
        })
    }

    /// The buffer as the driver's memory view.
    pub fn words(&self) -> FrameWords {
        self.words_prefix(self.bytes as usize)
    }

    /// The first `bytes` of the buffer as the driver's memory view.
    ///
    /// # Panics
    /// If `bytes` exceeds the buffer.
    pub fn words_prefix(&self, bytes: usize) -> FrameWords {
        assert!(
            bytes as u64 <= self.bytes,
            "DMA view larger than its buffer"
        );
        let len = bytes / 4;
        // SAFETY: the frames were taken from the allocator for good in `new` (the handle
        // was given up), so they stay valid, identity-mapped RAM for the kernel's life
        // and no `Block` can ever name them again; AtomicU32 has the layout of u32 and
        // permits concurrent device writes.
        let words: &'static [AtomicU32] =
            unsafe { core::slice::from_raw_parts(self.addr.as_u64() as *const AtomicU32, len) };
        FrameWords(SliceMemory::new(words, DmaAddr::new(self.addr.as_u64())))
    }
}

/// Driver memory view of a [`DmaBuf`].
#[derive(Debug, Clone, Copy)]
pub struct FrameWords(SliceMemory<'static>);

impl DmaMemory for FrameWords {
    fn bus_addr(&self) -> DmaAddr {
        self.0.bus_addr()
    }
    fn len_bytes(&self) -> usize {
        self.0.len_bytes()
    }
    fn read32(&self, off: usize) -> u32 {
        self.0.read32(off)
    }
    fn write32(&self, off: usize, value: u32) {
        self.0.write32(off, value)
    }
}
