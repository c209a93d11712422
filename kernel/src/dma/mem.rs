//! Memory the DMA engines read and write: ring and marker buffers in frames, seen by
//! the driver crate as `AtomicU32` words (the device writes them behind the compiler's
//! back, so plain references would be unsound), and the register window.

use crate::arch::mmio::Mmio;
use crate::mm::frames::{self, Block, FrameError};
use core::sync::atomic::AtomicU32;
use ptdma::{DmaAddr, DmaMemory, RegisterAccess, SliceMemory};

/// PTDMA registers through an uncached MMIO window.
#[derive(Debug, Clone, Copy)]
pub struct MmioRegs(pub Mmio);

impl RegisterAccess for MmioRegs {
    fn read32(&self, offset: usize) -> u32 {
        self.0.read32(offset as u64)
    }
    fn write32(&self, offset: usize, value: u32) {
        self.0.write32(offset as u64, value)
    }
}

/// A zeroed block of frames the device may access, freed on drop.
#[derive(Debug)]
pub struct DmaBuf {
    block: Block,
}

impl DmaBuf {
    /// `2^order` zeroed frames on node 0 (device-visible at their physical address:
    /// no IOMMU translation is set up).
    ///
    /// # Errors
    /// [`FrameError::NoSuchNode`] when node 0 has no memory zone, [`FrameError::Alloc`] when
    /// it has no free block of `order` (4 KiB << `order` bytes).
    pub fn new(order: usize) -> Result<Self, FrameError> {
        let mut block = frames::alloc(0, order)?;
        block.as_mut_slice().fill(0);
        Ok(Self { block })
    }

    /// The buffer as the driver's memory view.
    pub fn words(&self) -> FrameWords {
        self.words_prefix(self.block.bytes() as usize)
    }

    /// The first `bytes` of the buffer as the driver's memory view.
    ///
    /// # Panics
    /// If `bytes` exceeds the buffer.
    pub fn words_prefix(&self, bytes: usize) -> FrameWords {
        assert!(
            bytes as u64 <= self.block.bytes(),
            "DMA view larger than its buffer"
        );
        let len = bytes / 4;
        // SAFETY: the block is RAM owned by this DmaBuf for as long as the channel lives
        // (channels are never dropped before their buffers: same struct); AtomicU32 has
        // the layout of u32 and permits concurrent device writes.
        let words: &'static [AtomicU32] = unsafe {
            core::slice::from_raw_parts(self.block.addr().as_u64() as *const AtomicU32, len)
        };
        FrameWords(SliceMemory::new(
            words,
            DmaAddr::new(self.block.addr().as_u64()),
        ))
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
