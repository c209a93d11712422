//! Why a migration or a copy engine stopped. Every variant leaves the workload whole:
//! each folio mapped, its data intact (the old copy or the new one), every frame
//! accounted for — except `MigrateError::Batch` (a rollback), which says exactly which folio
//! could not be put back.

use crate::dma::NotOwned;
use crate::mm::frames::FrameError;
use core::fmt;
use kcore::pagetable::PtError;

use kcore::pipeline::BatchError;
pub use kcore::pipeline::Phase;

/// Why a copy engine could not copy a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineError {
    /// An op names memory the migration does not hold (a kernel structure, a free
    /// frame, RAM the allocator does not manage): refused before any descriptor was
    /// written, nothing copied.
    NotOwned(NotOwned),
    /// The engine's channels are in use elsewhere at the moment of the copy.
    ChannelsBusy(crate::dma::TakeError),
    /// The CPU copy refused the batch (a piece outside its op, overlapping pieces for
    /// concurrent workers, an unavailable routine); nothing was copied.
    Copy(crate::mm::copy::CopyError),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::NotOwned(e) => write!(f, "{e}"),
            EngineError::ChannelsBusy(e) => write!(f, "DMA channels busy: {e}"),
            EngineError::Copy(e) => write!(f, "CPU copy refused: {e}"),
        }
    }
}

/// Why an engine could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupError {
    /// A CPU copy routine this CPU cannot run (its instructions are missing).
    RoutineUnavailable(&'static str),
    /// No frames for the boot-time copy measurement.
    Frames(FrameError),
    /// The boot-time copy measurement was refused.
    Copy(crate::mm::copy::CopyError),
    /// The placement cannot be satisfied on this machine.
    Placement {
        /// The policy.
        policy: alloc::string::String,
        /// Workers asked for.
        threads: usize,
        /// Why.
        error: crate::smp::placement::PlaceError,
    },
    /// A hybrid engine's CPU workers include the coordinating CPU (which drives DMA).
    CoordinatorInWorkers,
    /// An `auto` engine needs at least one candidate.
    NoCandidate,
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::RoutineUnavailable(r) => write!(
                f,
                "copy={r}: this CPU lacks the instructions it needs (see the copy: line)"
            ),
            SetupError::Frames(e) => write!(f, "no frames to measure the copy routines: {e}"),
            SetupError::Copy(e) => write!(f, "measuring the copy routines: {e}"),
            SetupError::Placement {
                policy,
                threads,
                error,
            } => write!(f, "placement={policy} threads={threads}: {error}"),
            SetupError::CoordinatorInWorkers => write!(
                f,
                "hybrid: the CPU workers must not include the coordinating CPU, which drives the DMA queues"
            ),
            SetupError::NoCandidate => write!(f, "auto engine: no candidate engine"),
        }
    }
}

/// Benchmarks and self-tests that report a failure as text.
impl From<SetupError> for alloc::string::String {
    fn from(e: SetupError) -> Self {
        alloc::format!("{e}")
    }
}

/// What a verification found wrong with a workload (the first problem).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// A folio is not on the node it should be, or its metadata says another node.
    WrongNode {
        /// The folio.
        folio: u64,
        /// Node of its physical block.
        block_node: u32,
        /// Node its metadata records.
        meta_node: u32,
    },
    /// A folio's metadata was not carried over (or MIGRATING is still set).
    Metadata {
        /// The folio.
        folio: u64,
    },
    /// A word of a folio does not hold its pattern.
    Data {
        /// The folio.
        folio: u64,
        /// Byte offset of the word.
        offset: u64,
        /// What it holds.
        got: u64,
        /// What it should hold.
        want: u64,
    },
    /// A read through the workload mapping sees old data (the remap did not take).
    StaleMapping {
        /// The folio.
        folio: u64,
        /// The word index read.
        word: u64,
    },
    /// A raw copy's destination differs from its source.
    RawCopyDiffers {
        /// The folio.
        folio: u64,
    },
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::WrongNode {
                folio,
                block_node,
                meta_node,
            } => write!(
                f,
                "folio {folio} on node {block_node} with metadata node {meta_node}"
            ),
            VerifyError::Metadata { folio } => {
                write!(f, "folio {folio} metadata not carried over")
            }
            VerifyError::Data {
                folio,
                offset,
                got,
                want,
            } => write!(
                f,
                "folio {folio} byte {offset:#x}: {got:#018x}, expected {want:#018x}"
            ),
            VerifyError::StaleMapping { folio, word } => {
                write!(f, "folio {folio}: word {word} through the mapping is stale")
            }
            VerifyError::RawCopyDiffers { folio } => {
                write!(f, "raw copy of folio {folio} differs from its source")
            }
        }
    }
}

/// Self-tests and benchmarks that report a failure as text.
impl From<VerifyError> for alloc::string::String {
    fn from(e: VerifyError) -> Self {
        alloc::format!("{e}")
    }
}

/// A batch's failure in one of the four phases (the generic pipeline's error, with the
/// kernel's allocator and engine errors); also used by the raw copy and workload set-up,
/// which share its prepare and copy steps.
pub type BatchFailure = BatchError<FrameError, EngineError>;

/// Why a migration stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrateError {
    /// A batch failed in one of the four phases (and was rolled back), or the raw copy
    /// or a workload's set-up ran out of blocks or was refused by the engine.
    Batch(BatchFailure),
    /// Page tables of the workload could not be built.
    Tables(PtError),
    /// Tearing a workload down failed: a folio could not be unmapped or freed.
    Teardown {
        /// The folio.
        folio: u64,
        /// What failed, as the allocator or page tables said it.
        unmap: Option<PtError>,
        /// The free's error, if that failed.
        free: Option<FrameError>,
    },
    /// The data did not check out.
    Verify(VerifyError),
}

impl MigrateError {
    /// The run ran out of destination frames (its own outcome, not a verification
    /// failure).
    pub fn is_out_of_memory(&self) -> bool {
        matches!(
            self,
            MigrateError::Batch(BatchError::OutOfMemory { .. })
                | MigrateError::Tables(PtError::OutOfMemory)
        )
    }
}

impl From<NotOwned> for EngineError {
    fn from(e: NotOwned) -> Self {
        EngineError::NotOwned(e)
    }
}

/// Self-tests and benchmarks that report a failure as text.
impl From<MigrateError> for alloc::string::String {
    fn from(e: MigrateError) -> Self {
        alloc::format!("{e}")
    }
}

impl From<VerifyError> for MigrateError {
    fn from(e: VerifyError) -> Self {
        MigrateError::Verify(e)
    }
}

impl From<BatchFailure> for MigrateError {
    fn from(e: BatchFailure) -> Self {
        MigrateError::Batch(e)
    }
}

impl From<EngineError> for MigrateError {
    fn from(e: EngineError) -> Self {
        MigrateError::Batch(BatchError::Copy(e))
    }
}

impl fmt::Display for MigrateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MigrateError::Batch(e) => write!(f, "{e}"),
            MigrateError::Tables(e) => write!(f, "workload page tables: {e}"),
            MigrateError::Teardown { folio, unmap, free } => {
                write!(f, "teardown of folio {folio}:")?;
                if let Some(e) = unmap {
                    write!(f, " unmap: {e}")?;
                }
                if let Some(e) = free {
                    write!(f, " free: {e}")?;
                }
                Ok(())
            }
            MigrateError::Verify(e) => write!(f, "{e}"),
        }
    }
}
