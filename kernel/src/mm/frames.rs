//! Physical frames, owned per NUMA node: one `kcore::buddy::BuddyZone` per node hands
//! out naturally aligned blocks of order 0..=9 (4 KiB..2 MiB), so every mTHP folio size
//! is a real aligned physical block. Allocation names its node; there is no silent
//! fallback to another node.
//!
//! Each zone's metadata (12 bytes per frame of the node's span) is carved from the
//! node's own RAM, so touching it never crosses the interconnect.

use super::error::MmError;
use alloc::vec::Vec;
use kcore::buddy::{AllocError, BuddyZone, FrameMeta, FreeError};
use kcore::numa::NumaLayout;
use spin::{Mutex, Once};
use x86_64::PhysAddr;

/// Size of a base frame.
pub const FRAME: u64 = 4096;

/// A block of `2^order` frames, owned: the only handle to that memory. It is neither
/// `Copy` nor `Clone` and its fields are private, so code outside `mm` cannot forge one
/// over memory it does not hold or keep two views of one block; the allocator hands
/// each block out once. Dropping it (or [`free`], [`free_bulk`]) is the only way back
/// to the allocator.
#[derive(Debug, PartialEq, Eq)]
pub struct Block {
    /// Physical address of the first byte (aligned to the block size).
    addr: PhysAddr,
    /// log2 of the block size in frames.
    order: u8,
    /// Node the block belongs to.
    node: u32,
}

impl Block {
    /// Physical address of the first byte (aligned to [`Block::bytes`]).
    pub fn addr(&self) -> PhysAddr {
        self.addr
    }

    /// log2 of the block size in 4 KiB frames (0..=9).
    pub fn order(&self) -> u8 {
        self.order
    }

    /// NUMA node of the block.
    pub fn node(&self) -> u32 {
        self.node
    }

    /// Bytes in the block.
    pub fn bytes(&self) -> u64 {
        FRAME << self.order
    }

    /// The block's memory through the direct map, read only.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the allocator handed this block out once and `Block` cannot be copied or
        // forged, so this handle is its only owner; RAM is identity mapped. A DMA engine
        // writes it only while a `CopyBatch` holds it mutably borrowed.
        unsafe {
            core::slice::from_raw_parts(self.addr.as_u64() as *const u8, self.bytes() as usize)
        }
    }

    /// The block's memory through the direct map.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as for `as_slice`; `&mut self` makes this the only view.
        unsafe {
            core::slice::from_raw_parts_mut(self.addr.as_u64() as *mut u8, self.bytes() as usize)
        }
    }

    /// Gives up the handle without freeing the block (its owner is now whatever records
    /// the address, e.g. a page-table entry); [`Block::from_raw`] takes it back.
    pub fn into_raw(self) -> PhysAddr {
        let addr = self.addr;
        core::mem::forget(self);
        addr
    }

    /// The handle of a block given up with [`Block::into_raw`].
    ///
    /// # Safety
    /// `addr`, `order` and `node` must be those of a block given up with
    /// [`Block::into_raw`] and not taken back since: two handles to one block would
    /// alias and free it twice.
    pub(super) unsafe fn from_raw(addr: PhysAddr, order: u8, node: u32) -> Self {
        Self { addr, order, node }
    }

    fn new(pfn: u64, order: usize, node: u32) -> Self {
        Self {
            addr: PhysAddr::new(pfn * FRAME),
            order: order as u8,
            node,
        }
    }
}

impl Drop for Block {
    /// Returns the block to its node. A refusal (which only a broken allocator can cause)
    /// is printed: `drop` has no caller to return it to; [`free`] reports it instead.
    fn drop(&mut self) {
        if let Err(e) = release(self) {
            crate::println!("frames: dropping a block failed: {e}");
        }
    }
}

/// Why a frame operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The node does not exist or has no memory.
    NoSuchNode(u32),
    /// The buddy allocator refused.
    Alloc(u32, AllocError),
    /// A free was refused (double free, wrong order, …).
    Free(u64, FreeError),
    /// No zone owns this address.
    NotOwned(u64),
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FrameError::NoSuchNode(n) => write!(f, "node {n} has no memory zone"),
            FrameError::Alloc(n, e) => write!(f, "allocation on node {n} failed: {e}"),
            FrameError::Free(a, e) => write!(f, "free of {a:#x} refused: {e}"),
            FrameError::NotOwned(a) => write!(f, "{a:#x} belongs to no frame zone"),
        }
    }
}

/// What an allocated block is for, recorded in the buddy metadata of its head frame.
/// Only [`FrameUse::Data`] blocks may be named by a DMA descriptor (see
/// [`check_data_range`]): never the kernel's page tables, stacks, descriptor rings or
/// anything else the kernel or firmware keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameUse {
    /// Kernel structures: page tables, stacks, descriptor rings, metadata.
    Kernel = 0,
    /// Data a copy engine may read or write: folios, migration destinations, benchmark
    /// buffers.
    Data = 1,
}

/// Why a range may not be handed to a DMA engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeError {
    /// No zone manages the address (kernel image, heap, firmware, MMIO, a hole).
    Unmanaged(u64),
    /// The frame is in no allocated block: free, or reserved inside a node's span for
    /// the kernel image, the heap or firmware.
    NotHeld(u64),
    /// The block holding the address is a kernel structure.
    KernelUse(u64),
    /// The range runs past the end of the block that holds its start.
    CrossesBlock {
        /// First byte.
        addr: u64,
        /// Bytes.
        len: u64,
    },
}

impl core::fmt::Display for RangeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RangeError::Unmanaged(a) => {
                write!(f, "{a:#x} is not RAM the frame allocator manages")
            }
            RangeError::NotHeld(a) => write!(
                f,
                "{a:#x} is in no allocated block (free, or reserved for the kernel or firmware)"
            ),
            RangeError::KernelUse(a) => write!(f, "{a:#x} lies in a kernel structure"),
            RangeError::CrossesBlock { addr, len } => {
                write!(f, "{addr:#x}+{len:#x} runs past the block that holds it")
            }
        }
    }
}

struct Zone {
    node: u32,
    buddy: Mutex<BuddyZone<'static>>,
}

static ZONES: Once<Vec<Zone>> = Once::new();

fn zones() -> &'static [Zone] {
    ZONES.get().map_or(&[], |z| z.as_slice())
}

/// Builds one zone per node from its usable ranges, minus `reserved`.
///
/// # Errors
/// [`MmError::Zone`] when a node's zone cannot be built, [`MmError::NoUsableMemory`]
/// when no node has memory left for it.
pub fn init(numa: &NumaLayout, reserved: &[(u64, u64)]) -> Result<(), MmError> {
    let mut zones = Vec::new();
    for node in &numa.nodes {
        let ranges: Vec<(u64, u64)> = node
            .ranges
            .iter()
            .flat_map(|&(s, e)| super::paging_subtract(s, e, reserved))
            .map(|(s, e)| ((s + FRAME - 1) & !(FRAME - 1), e & !(FRAME - 1)))
            .filter(|(s, e)| s < e)
            .collect();
        let (Some(lo), Some(hi)) = (
            ranges.iter().map(|r| r.0).min(),
            ranges.iter().map(|r| r.1).max(),
        ) else {
            continue; // a memory-less node (CPUs only)
        };
        let span = (hi - lo) / FRAME;
        let meta_len = kcore::buddy::meta_len_for(span).ok_or(MmError::Zone {
            node: node.id,
            reason: "too large for buddy metadata",
        })?;
        let meta_bytes = (meta_len * core::mem::size_of::<FrameMeta>()) as u64;
        let meta_bytes = (meta_bytes + FRAME - 1) & !(FRAME - 1);
        // Metadata at the top of the largest range of the node.
        let &(ls, le) = ranges
            .iter()
            .max_by_key(|(s, e)| e - s)
            .expect("ranges is not empty");
        if le - ls < meta_bytes * 2 {
            return Err(MmError::Zone {
                node: node.id,
                reason: "too small for its frame metadata",
            });
        }
        let meta_at = le - meta_bytes;
        // SAFETY: [meta_at, le) is usable RAM of this node, mapped by the direct map, and
        // excluded from the zone below, so nothing else will ever own it.
        let meta: &'static mut [FrameMeta] = unsafe {
            let p = meta_at as *mut FrameMeta;
            for i in 0..meta_len {
                p.add(i).write(FrameMeta::FREE_INIT);
            }
            core::slice::from_raw_parts_mut(p, meta_len)
        };
        let mut buddy = BuddyZone::new(node.id, lo / FRAME, meta).map_err(|_| MmError::Zone {
            node: node.id,
            reason: "span not representable",
        })?;
        for &(s, e) in &ranges {
            let e = if (s, e) == (ls, le) { meta_at } else { e };
            if s < e {
                buddy
                    .add_free_range(s / FRAME, e / FRAME)
                    .map_err(|_| MmError::Zone {
                        node: node.id,
                        reason: "a usable range overlaps another",
                    })?;
            }
        }
        zones.push(Zone {
            node: node.id,
            buddy: Mutex::new(buddy),
        });
    }
    if zones.is_empty() {
        return Err(MmError::NoUsableMemory);
    }
    ZONES.call_once(|| zones);
    Ok(())
}

/// Allocates a block of `2^order` frames on `node` (no fallback to other nodes) for a
/// kernel structure ([`FrameUse::Kernel`]: never a DMA target).
///
/// # Errors
/// [`FrameError::NoSuchNode`] when `node` has no memory, [`FrameError::Alloc`] when the
/// node has no free block of that order.
pub fn alloc(node: u32, order: usize) -> Result<Block, FrameError> {
    alloc_for(node, order, FrameUse::Kernel)
}

/// Allocates a block for data a copy engine may touch ([`FrameUse::Data`]).
///
/// # Errors
/// As [`alloc()`].
pub fn alloc_data(node: u32, order: usize) -> Result<Block, FrameError> {
    alloc_for(node, order, FrameUse::Data)
}

fn alloc_for(node: u32, order: usize, usage: FrameUse) -> Result<Block, FrameError> {
    let zone = zones()
        .iter()
        .find(|z| z.node == node)
        .ok_or(FrameError::NoSuchNode(node))?;
    let pfn = zone
        .buddy
        .lock()
        .alloc_tagged(order, usage as u8)
        .map_err(|e| FrameError::Alloc(node, e))?;
    Ok(Block::new(pfn, order, node))
}

/// Returns a block to its node.
///
/// # Errors
/// [`FrameError::NotOwned`] when no zone manages it, [`FrameError::Free`] when the
/// allocator refuses (only possible if its bookkeeping is broken). The handle is gone
/// either way.
pub fn free(block: Block) -> Result<(), FrameError> {
    let r = release(&block);
    core::mem::forget(block);
    r
}

fn release(block: &Block) -> Result<(), FrameError> {
    let pfn = block.addr.as_u64() / FRAME;
    let zone = zones()
        .iter()
        .find(|z| z.buddy.lock().contains(pfn))
        .ok_or(FrameError::NotOwned(block.addr.as_u64()))?;
    zone.buddy
        .lock()
        .free(pfn, block.order as usize)
        .map_err(|e| FrameError::Free(block.addr.as_u64(), e))
}

/// Self-test support: allocates a block of `2^order` frames on `node`, frees it, then
/// frees it again (what a forged second handle would do) and returns that second
/// result, which must be a refusal. All three steps run under the zone's lock, so no
/// other CPU can be handed the block between the two frees (the second free would then
/// release a live block of someone else).
///
/// # Errors
/// [`FrameError::NoSuchNode`], or the allocation's or the first free's [`FrameError`].
pub fn free_twice(node: u32, order: usize) -> Result<Result<(), FrameError>, FrameError> {
    let zone = zones()
        .iter()
        .find(|z| z.node == node)
        .ok_or(FrameError::NoSuchNode(node))?;
    let mut buddy = zone.buddy.lock();
    let pfn = buddy
        .alloc_tagged(order, FrameUse::Kernel as u8)
        .map_err(|e| FrameError::Alloc(node, e))?;
    let free = |buddy: &mut BuddyZone<'static>| {
        buddy
            .free(pfn, order)
            .map_err(|e| FrameError::Free(pfn * FRAME, e))
    };
    free(&mut buddy)?;
    Ok(free(&mut buddy))
}

/// Allocates `count` data blocks of `2^order` frames on `node` in one allocator call (one
/// lock, blocks carved from the largest free blocks) and appends them to `out`: a
/// migration batch's destinations. All or nothing.
///
/// # Errors
/// [`FrameError::NoSuchNode`] when `node` has no memory, [`FrameError::Alloc`] when the
/// node cannot give `count` blocks of that order (nothing was taken).
pub fn alloc_data_bulk(
    node: u32,
    order: usize,
    count: usize,
    out: &mut Vec<Block>,
) -> Result<(), FrameError> {
    let zone = zones()
        .iter()
        .find(|z| z.node == node)
        .ok_or(FrameError::NoSuchNode(node))?;
    out.reserve(count);
    zone.buddy
        .lock()
        .alloc_bulk(order, FrameUse::Data as u8, count, |pfn| {
            out.push(Block::new(pfn, order, node))
        })
        .map_err(|e| FrameError::Alloc(node, e))
}

/// Returns blocks of one order and one node in one allocator call (a migration batch's
/// sources), emptying `blocks`. All or nothing.
///
/// # Errors
/// `(i, error)` for the first block refused (another node's, another order's): then
/// nothing was freed and `blocks` is left as it was.
pub fn free_bulk(blocks: &mut Vec<Block>) -> Result<(), (usize, FrameError)> {
    let Some(first) = blocks.first() else {
        return Ok(());
    };
    let (node, order) = (first.node, first.order);
    if let Some(i) = blocks
        .iter()
        .position(|b| b.node != node || b.order != order)
    {
        return Err((i, FrameError::NotOwned(blocks[i].addr.as_u64())));
    }
    let zone = zones()
        .iter()
        .find(|z| z.node == node)
        .ok_or((0, FrameError::NoSuchNode(node)))?;
    zone.buddy
        .lock()
        .free_bulk_by(
            blocks.len(),
            |i| blocks[i].addr.as_u64() / FRAME,
            order as usize,
        )
        .map_err(|(i, e)| (i, FrameError::Free(blocks[i].addr.as_u64(), e)))?;
    // Freed: the handles must not free them again on drop.
    blocks.drain(..).for_each(core::mem::forget);
    Ok(())
}

/// Checks that `[addr, addr + len)` lies inside one allocated [`FrameUse::Data`] block:
/// what a DMA descriptor may name. Anything else (the kernel image, page tables,
/// descriptor rings, the heap, free frames, firmware ranges) is refused.
///
/// # Errors
/// The [`RangeError`] saying what the range hits instead.
pub fn check_data_range(addr: u64, len: u64) -> Result<(), RangeError> {
    let pfn = addr / FRAME;
    let zone = zones()
        .iter()
        .find(|z| z.buddy.lock().contains(pfn))
        .ok_or(RangeError::Unmanaged(addr))?;
    let (head, order, tag) = zone
        .buddy
        .lock()
        .block_of(pfn)
        .ok_or(RangeError::NotHeld(addr))?;
    if tag != FrameUse::Data as u8 {
        return Err(RangeError::KernelUse(addr));
    }
    let end = (head * FRAME).saturating_add(FRAME << order);
    if len == 0 || addr.checked_add(len).is_none_or(|e| e > end) {
        return Err(RangeError::CrossesBlock { addr, len });
    }
    Ok(())
}

/// Whether two blocks hold the same bytes (same size, same contents).
pub fn same_bytes(a: &Block, b: &Block) -> bool {
    a.as_slice() == b.as_slice()
}

/// Free blocks per order (0..=9) of every node that has memory, for the limits check.
pub fn free_blocks() -> Vec<(u32, [u64; kcore::buddy::ORDERS])> {
    zones()
        .iter()
        .map(|z| {
            let b = z.buddy.lock();
            let mut n = [0u64; kcore::buddy::ORDERS];
            for (o, slot) in n.iter_mut().enumerate() {
                *slot = b.free_blocks(o);
            }
            (z.node, n)
        })
        .collect()
}

/// Frames in use on every node together (for leak checks around an experiment).
pub fn frames_in_use() -> u64 {
    zones().iter().map(|z| z.buddy.lock().frames_in_use()).sum()
}

/// Per node: (node, free frames, frames in use, managed frames).
pub fn node_counts() -> Vec<(u32, u64, u64, u64)> {
    zones()
        .iter()
        .map(|z| {
            let b = z.buddy.lock();
            (
                z.node,
                b.free_frames(),
                b.frames_in_use(),
                b.managed_frames(),
            )
        })
        .collect()
}

/// Nodes that have memory.
pub fn nodes() -> Vec<u32> {
    zones().iter().map(|z| z.node).collect()
}

/// Runs the buddy invariants check on every zone.
///
/// # Errors
/// [`MmError::Invariant`] naming the node and the broken invariant.
pub fn check_invariants() -> Result<(), MmError> {
    for z in zones() {
        z.buddy
            .lock()
            .check_invariants()
            .map_err(|what| MmError::Invariant { node: z.node, what })?;
    }
    Ok(())
}
