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
