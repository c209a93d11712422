//! The seams the pipeline runs against: frames, page tables, a copy engine and a clock.
//! The kernel implements them over its real allocator, address spaces and engines; the
//! host tests over fakes.

use crate::migrate::FolioMeta;
use crate::pagetable::PtError;
use alloc::vec::Vec;

/// What the pipeline needs to know of a physical block (a frame handle).
pub trait FrameBlock {
    /// Physical address of the first byte.
    fn addr(&self) -> u64;
    /// log2 of the size in 4 KiB frames.
    fn order(&self) -> u8;
    /// NUMA node.
    fn node(&self) -> u32;
}

/// One folio: identity, where the workload maps it, the block backing it (owned), and
/// its kernel-style metadata.
#[derive(Debug)]
pub struct Folio<B> {
    /// Identity (stays with the data).
    pub id: u64,
    /// Virtual address in the workload's address space.
    pub va: u64,
    /// The block currently backing it.
    pub block: B,
    /// Kernel-style metadata.
    pub meta: FolioMeta,
}

impl<B: FrameBlock> Folio<B> {
    /// The folio's order (its block's).
    pub fn order(&self) -> u8 {
        self.block.order()
    }
}

/// The frame allocator seam.
pub trait Frames {
    /// An owned block.
    type Block: FrameBlock;
    /// Why the allocator refused.
    type Error: Clone + core::fmt::Debug;
    /// Appends `count` blocks of `2^order` frames on `node` to `out`, all or nothing.
    ///
    /// # Errors
    /// The allocator's refusal (nothing taken).
    fn alloc_bulk(
        &mut self,
        node: u32,
        order: u8,
        count: usize,
        out: &mut Vec<Self::Block>,
    ) -> Result<(), Self::Error>;
    /// Frees blocks of one node and one order, emptying `blocks`; all or nothing.
    ///
    /// # Errors
    /// `(i, error)` for the first block refused (`blocks` left as it was).
    fn free_bulk(&mut self, blocks: &mut Vec<Self::Block>) -> Result<(), (usize, Self::Error)>;
    /// Frees one block (an unused destination).
    ///
    /// # Errors
    /// The allocator's refusal.
    fn free(&mut self, block: Self::Block) -> Result<(), Self::Error>;
    /// Reports a destination that could not be freed during a rollback (nothing else
    /// can be done with it there).
    fn report_leak(&mut self, _error: &Self::Error) {}
}

/// The page-table seam: one workload address space, loaded.
pub trait Mapper {
    /// Clears the PTEs of folios `(va, order)`, appending what each pointed at to
    /// `found`.
    ///
    /// # Errors
    /// `(i, error)` for the first folio refused; folios `..i` are unmapped.
    fn unmap_batch(
        &mut self,
        folios: &[(u64, u8)],
        found: &mut Vec<u64>,
    ) -> Result<(), (usize, PtError)>;
    /// Invalidates the TLB for folios just unmapped; returns true for a full flush.
    fn flush(&mut self, unmapped: &[(u64, u8)]) -> bool;
    /// Points folios `(va, pa, order)` (unmapped) at `pa`.
    ///
    /// # Errors
    /// `(i, error)` for the first folio refused; folios `..i` are mapped.
    fn remap_batch(&mut self, folios: &[(u64, u64, u8)]) -> Result<(), (usize, PtError)>;
    /// Points one folio (unmapped) at `pa`.
    ///
    /// # Errors
    /// The tree's refusal.
    fn remap(&mut self, va: u64, pa: u64, order: u8) -> Result<(), PtError>;
}

/// The copy-engine seam.
pub trait Copier<B> {
    /// What a copy call reports besides copying (bytes per engine kind, …).
    type Outcome;
    /// Why a batch could not be copied at all.
    type Error;
    /// Copies every folio of `batch` into the destination of the same index.
    ///
    /// # Errors
    /// The engine's refusal: then no destination is used (the batch rolls back).
    fn copy(
        &mut self,
        batch: &[Folio<B>],
        dst: &mut [(B, FolioMeta)],
    ) -> Result<Self::Outcome, Self::Error>;
}

/// A clock in nanoseconds (TSC in the kernel, a counter in tests).
pub trait Clock {
    /// Now, ns.
    fn now_ns(&mut self) -> u64;
}
