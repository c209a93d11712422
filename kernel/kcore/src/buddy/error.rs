//! Errors of the buddy allocator; each refuses the operation without changing the zone.

use core::fmt;

use super::MAX_ORDER;

/// Why a zone could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitError {
    /// The metadata slice has more entries than `u32` links can index.
    TooManyFrames(usize),
    /// `base_pfn + meta.len()` overflows.
    PfnOverflow,
}

/// Why a range could not be added to the zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeError {
    /// `start >= end`.
    Empty {
        /// First PFN.
        start: u64,
        /// One past the last PFN.
        end: u64,
    },
    /// The range leaves the zone.
    OutOfZone {
        /// First PFN.
        start: u64,
        /// One past the last PFN.
        end: u64,
    },
    /// A frame of the range is already free or allocated.
    AlreadyManaged(u64),
}

/// Why an allocation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// Order above [`MAX_ORDER`].
    BadOrder(usize),
    /// No free block of this order or larger.
    OutOfMemory(usize),
}

/// Why a free was refused (the zone is left unchanged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// Order above [`MAX_ORDER`].
    BadOrder(usize),
    /// The PFN is not a multiple of 2^order.
    Misaligned {
        /// PFN given.
        pfn: u64,
        /// Order given.
        order: usize,
    },
    /// The block is not (entirely) inside the zone.
    OutOfZone(u64),
    /// The frame is already free.
    DoubleFree(u64),
    /// The frame is reserved: the zone never handed it out.
    NotAllocated(u64),
    /// The PFN heads an allocated block of another order.
    WrongOrder {
        /// PFN given.
        pfn: u64,
        /// Order given.
        order: usize,
        /// Order the block was allocated with.
        allocated: usize,
    },
    /// The PFN lies inside an allocated block but is not its first frame.
    NotBlockHead {
        /// PFN given.
        pfn: u64,
        /// First frame of the enclosing block.
        head: u64,
        /// Order of the enclosing block.
        order: usize,
    },
}

/// Which invariant of a zone does not hold ([`super::BuddyZone::check_invariants`]). A zone
/// in this state is corrupt: some earlier operation or a stray write broke it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvariantError {
    /// A free list links to a metadata index outside the zone.
    FreeListIndex {
        /// The list's order.
        order: usize,
        /// The link found.
        index: u32,
    },
    /// A free list entry is not a free head of the list's order, or its back link is wrong.
    FreeListEntry {
        /// The list's order.
        order: usize,
        /// PFN of the entry.
        pfn: u64,
    },
    /// A free block's PFN is not a multiple of 2^order.
    FreeMisaligned {
        /// The block's order.
        order: usize,
        /// PFN of the block.
        pfn: u64,
    },
    /// Walking a free list visits more entries than the zone has frames.
    FreeListCycle {
        /// The list's order.
        order: usize,
    },
    /// A free list's length is not its block counter.
    FreeCount {
        /// The list's order.
        order: usize,
        /// Blocks on the list.
        listed: u64,
        /// Blocks the counter says.
        counted: u64,
    },
    /// A tail frame is not inside any block (no head before it covers it).
    StrayTail(u64),
    /// The block headed at this PFN reaches past the zone's last frame.
    BlockLeavesZone(u64),
    /// The block headed at this PFN has a frame that is not a tail.
    BrokenBody(u64),
    /// The free or used frame counter is not the number of frames in such blocks.
    FrameCounters,
    /// The live block counters (blocks × 2^order frames) do not add up to the frames in use.
    LiveCounters,
}

impl fmt::Display for InvariantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::FreeListIndex { .. } => "free list index out of range",
            Self::FreeListEntry { .. } => "free list entry has wrong state, order or back link",
            Self::FreeMisaligned { .. } => "free block misaligned",
            Self::FreeListCycle { .. } => "free list cycle",
            Self::FreeCount { .. } => "free block counter disagrees with list",
            Self::StrayTail(_) => "tail frame outside any block",
            Self::BlockLeavesZone(_) => "block leaves zone",
            Self::BrokenBody(_) => "block body is not all tail frames",
            Self::FrameCounters => "frame counters disagree with states",
            Self::LiveCounters => "live block counters disagree with frames in use",
        })
    }
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManyFrames(n) => write!(f, "zone of {n} frames exceeds u32 indexing"),
            Self::PfnOverflow => write!(f, "zone PFN range overflows u64"),
        }
    }
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty { start, end } => write!(f, "empty frame range {start:#x}..{end:#x}"),
            Self::OutOfZone { start, end } => {
                write!(f, "frame range {start:#x}..{end:#x} leaves the zone")
            }
            Self::AlreadyManaged(p) => write!(f, "frame {p:#x} is already free or allocated"),
        }
    }
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadOrder(o) => write!(f, "order {o} exceeds maximum order {MAX_ORDER}"),
            Self::OutOfMemory(o) => write!(f, "no free block of order {o} or larger"),
        }
    }
}

impl fmt::Display for FreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadOrder(o) => write!(f, "order {o} exceeds maximum order {MAX_ORDER}"),
            Self::Misaligned { pfn, order } => {
                write!(f, "frame {pfn:#x} is not aligned to order {order}")
            }
            Self::OutOfZone(p) => write!(f, "frame {p:#x} is outside the zone"),
            Self::DoubleFree(p) => write!(f, "double free of frame {p:#x}"),
            Self::NotAllocated(p) => write!(f, "frame {p:#x} was never allocated (reserved)"),
            Self::WrongOrder {
                pfn,
                order,
                allocated,
            } => write!(
                f,
                "frame {pfn:#x} freed with order {order} but allocated with order {allocated}"
            ),
            Self::NotBlockHead { pfn, head, order } => write!(
                f,
                "frame {pfn:#x} is inside the order-{order} block at {head:#x}, not its head"
            ),
        }
    }
}
