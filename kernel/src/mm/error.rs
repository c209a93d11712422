//! Why memory bring-up or a kernel mapping failed.

use core::fmt;

/// A failure of `mm`: the kernel's page tables, MMIO mappings or the frame zones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MmError {
    /// The CPU has no NX bit: data pages could not be kept from executing.
    NoNx,
    /// No 2 MiB of usable RAM below 4 GiB for the early page tables.
    NoEarlyRegion,
    /// The early table frames ran out.
    EarlyFramesExhausted,
    /// Called before the kernel's page tables exist.
    TablesNotBuilt,
    /// Mapping this virtual address failed (the mapper's reason).
    Map {
        /// The address.
        addr: u64,
        /// What the mapper said (`x86_64::structures::paging::MapToError`).
        reason: &'static str,
    },
    /// An MMIO page is already mapped to another physical address.
    MmioConflict {
        /// The virtual (identity) address.
        addr: u64,
        /// What it maps already.
        mapped: u64,
    },
    /// The address is not page aligned.
    Misaligned(u64),
    /// The address is not mapped.
    NotMapped(u64),
    /// A node's zone could not be built.
    Zone {
        /// The node.
        node: u32,
        /// Why.
        reason: &'static str,
    },
    /// No node has memory the frame allocator can use.
    NoUsableMemory,
    /// A frame zone's invariants do not hold.
    Invariant {
        /// The node.
        node: u32,
        /// The broken invariant.
        what: kcore::buddy::InvariantError,
    },
}

impl fmt::Display for MmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MmError::NoNx => write!(
                f,
                "CPU lacks NX (no-execute): data pages cannot be protected"
            ),
            MmError::NoEarlyRegion => {
                write!(
                    f,
                    "no 2 MiB of usable RAM below 4 GiB for the early page tables"
                )
            }
            MmError::EarlyFramesExhausted => write!(f, "early page-table frames exhausted"),
            MmError::TablesNotBuilt => write!(f, "kernel page tables not built yet"),
            MmError::Map { addr, reason } => write!(f, "mapping {addr:#x} failed: {reason}"),
            MmError::MmioConflict { addr, mapped } => {
                write!(f, "MMIO {addr:#x} already maps {mapped:#x}")
            }
            MmError::Misaligned(a) => write!(f, "{a:#x} is not page aligned"),
            MmError::NotMapped(a) => write!(f, "{a:#x} is not mapped"),
            MmError::Zone { node, reason } => write!(f, "node {node}: {reason}"),
            MmError::NoUsableMemory => write!(f, "no usable memory for the frame allocator"),
            MmError::Invariant { node, what } => write!(f, "node {node}: {what}"),
        }
    }
}

/// Self-tests and boot messages that report a failure as text.
impl From<MmError> for alloc::string::String {
    fn from(e: MmError) -> Self {
        alloc::format!("{e}")
    }
}
