//! Errors of the page-table code; each refuses the operation without changing the tree.

use core::fmt;

use super::MAX_ORDER;

/// Which address space an address belongs to, for [`PtError::Misaligned`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrKind {
    /// A virtual address.
    Virtual,
    /// A physical address.
    Physical,
}

/// Why a page-table operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PtError {
    /// `alloc_table` returned None; tables allocated by the failed call were given back.
    OutOfMemory,
    /// An address is not a multiple of the folio size.
    Misaligned {
        /// The address given.
        addr: u64,
        /// The folio order given.
        order: u8,
        /// Virtual or physical.
        kind: AddrKind,
    },
    /// The virtual address is not canonical.
    NonCanonical(u64),
    /// The virtual address is canonical but outside the workload window (the lower half).
    OutsideWindow(u64),
    /// The physical address does not fit the 52-bit address field.
    PhysTooLarge(u64),
    /// The folio order is above [`MAX_ORDER`].
    BadOrder(u8),
    /// Something is already mapped at this virtual address.
    AlreadyMapped(u64),
    /// Nothing is mapped at this virtual address.
    NotMapped(u64),
    /// The mapping at this virtual address is not one folio of the given order: partly
    /// present, not physically contiguous, or a leaf of another size.
    Inconsistent(u64),
    /// A table on the path is missing, and the operation (`remap`) never allocates.
    NoTable(u64),
    /// The virtual address lies in a PML4 slot shared with the kernel.
    SharedSlot(u64),
    /// The PML4 slot range is empty, reversed or beyond 512.
    BadSlots {
        /// First slot.
        start: usize,
        /// One past the last slot.
        end: usize,
    },
    /// This space already has its own mapping in the PML4 slot it was asked to share.
    SlotInUse(usize),
}

impl fmt::Display for PtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::OutOfMemory => write!(f, "out of page-table frames"),
            Self::Misaligned { addr, order, kind } => {
                let kind = match kind {
                    AddrKind::Virtual => "virtual",
                    AddrKind::Physical => "physical",
                };
                write!(
                    f,
                    "{kind} address {addr:#x} not aligned to an order-{order} folio"
                )
            }
            Self::NonCanonical(va) => write!(f, "non-canonical virtual address {va:#x}"),
            Self::OutsideWindow(va) => write!(f, "virtual address {va:#x} outside the lower half"),
            Self::PhysTooLarge(pa) => write!(f, "physical address {pa:#x} beyond 52 bits"),
            Self::BadOrder(order) => write!(f, "folio order {order} above {MAX_ORDER}"),
            Self::AlreadyMapped(va) => write!(f, "{va:#x} is already mapped"),
            Self::NotMapped(va) => write!(f, "{va:#x} is not mapped"),
            Self::Inconsistent(va) => {
                write!(f, "mapping at {va:#x} is not one folio of the given order")
            }
            Self::NoTable(va) => write!(f, "no page table on the path to {va:#x}"),
            Self::SharedSlot(va) => write!(f, "{va:#x} is in a PML4 slot shared with the kernel"),
            Self::BadSlots { start, end } => write!(f, "bad PML4 slot range {start}..{end}"),
            Self::SlotInUse(slot) => write!(f, "PML4 slot {slot} already has its own mapping"),
        }
    }
}
