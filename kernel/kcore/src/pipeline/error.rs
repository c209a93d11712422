//! Why a batch stopped, generic over the allocator's error `FE` and the copy engine's
//! error `CE` (the kernel's `MigrateError` wraps this with its own types).

use crate::pagetable::PtError;
use alloc::boxed::Box;
use core::fmt;

/// One of the four phases of a migration (DESIGN.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Allocating destinations and copying metadata.
    Prepare,
    /// Clearing PTEs.
    Unmap,
    /// Copying data.
    Copy,
    /// Installing the new PTEs and freeing the sources.
    Remap,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 4] = [Phase::Prepare, Phase::Unmap, Phase::Copy, Phase::Remap];

    /// The name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Prepare => "prepare",
            Phase::Unmap => "unmap",
            Phase::Copy => "copy",
            Phase::Remap => "remap",
        }
    }
}

/// Why a batch stopped. Every variant but [`BatchError::Rollback`] leaves each folio
/// mapped with its data (old or new copy) and every frame accounted for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchError<FE, CE> {
    /// No destination blocks of the folio's order on `node` (prepare).
    OutOfMemory {
        /// The node that ran out.
        node: u32,
        /// Folio order asked for.
        order: u8,
        /// The first folio of that order in the batch.
        folio: u64,
        /// The allocator's answer.
        error: FE,
    },
    /// Clearing a folio's PTE failed.
    Unmap {
        /// The folio.
        folio: u64,
        /// Why.
        error: PtError,
    },
    /// A folio's PTE pointed somewhere else than its block (a kernel bug).
    WrongMapping {
        /// The folio.
        folio: u64,
        /// Where the PTE pointed (physical address).
        found: u64,
        /// The folio's block (physical address).
        expected: u64,
    },
    /// The copy engine refused the batch.
    Copy(CE),
    /// Installing a folio's new PTE failed.
    Remap {
        /// The folio.
        folio: u64,
        /// Why.
        error: PtError,
    },
    /// A source block could not be freed after its folio moved.
    FreeSource {
        /// The folio.
        folio: u64,
        /// Why.
        error: FE,
    },
    /// A test made this phase fail at this folio.
    Injected {
        /// The phase.
        phase: Phase,
        /// The folio.
        folio: u64,
    },
    /// Putting a folio back after another failure failed too: this folio is unmapped.
    Rollback {
        /// The folio left unmapped.
        folio: u64,
        /// Why the restore failed.
        error: PtError,
        /// The failure that started the rollback.
        cause: Box<BatchError<FE, CE>>,
    },
}

impl<FE, CE> BatchError<FE, CE> {
    /// The phase the failure belongs to (a rollback: its cause's).
    pub fn phase(&self) -> Phase {
        match self {
            BatchError::OutOfMemory { .. } => Phase::Prepare,
            BatchError::Unmap { .. } | BatchError::WrongMapping { .. } => Phase::Unmap,
            BatchError::Copy(_) => Phase::Copy,
            BatchError::Remap { .. } | BatchError::FreeSource { .. } => Phase::Remap,
            BatchError::Injected { phase, .. } => *phase,
            BatchError::Rollback { cause, .. } => cause.phase(),
        }
    }
}

impl<FE: fmt::Display, CE: fmt::Display> fmt::Display for BatchError<FE, CE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::OutOfMemory {
                node,
                order,
                folio,
                error,
            } => write!(
                f,
                "out of memory: no {} KiB block on node {node} for folio {folio} ({error})",
                4u64 << order
            ),
            BatchError::Unmap { folio, error } => write!(f, "unmap of folio {folio}: {error}"),
            BatchError::WrongMapping {
                folio,
                found,
                expected,
            } => write!(
                f,
                "folio {folio} was mapped to {found:#x}, not its block {expected:#x}"
            ),
            BatchError::Copy(e) => write!(f, "copy: {e}"),
            BatchError::Remap { folio, error } => write!(f, "remap of folio {folio}: {error}"),
            BatchError::FreeSource { folio, error } => {
                write!(f, "freeing the source of folio {folio}: {error}")
            }
            BatchError::Injected { phase, folio } => {
                write!(f, "injected {} failure at folio {folio}", phase.name())
            }
            BatchError::Rollback {
                folio,
                error,
                cause,
            } => write!(
                f,
                "rollback after \"{cause}\" could not map folio {folio} back: {error}"
            ),
        }
    }
}
