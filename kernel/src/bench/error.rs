//! Why an experiment stopped, by kind: the request itself (bad input: exit 6, nothing
//! measured), or something that went wrong while measuring (the run ends with its RUN
//! line and the status of the worst outcome). `run` classifies by variant.

use crate::dma::TakeError;
use crate::exit::ExitCode;
use crate::migrate::error::{MigrateError, SetupError};
use crate::mm::frames::FrameError;
use crate::smp::dispatch::PostError;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use kcore::bench::Bench;
use kcore::costmodel::FitError;
use kcore::honesty::Status;
use kcore::migrate::SizeName;
use kcore::plan::PlanError;

/// A request this machine cannot run as asked. Each says what was asked and what exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputError {
    /// An experiment that measures DMA on a machine without a DMA engine.
    NeedsDma(Bench),
    /// `batch=auto:unmapped-us=N`, which only `bench=frontier`'s latency sweep resolves,
    /// given to another experiment.
    BatchAutoOutsideFrontier,
    /// `size=mix:…`, which only `bench=frontier` measures, given to another experiment.
    MixOutsideFrontier,
    /// No NUMA node has memory.
    NoMemoryNode,
    /// `from=`/`to=` names a node without memory.
    NodeWithoutMemory {
        /// `from` or `to`.
        key: &'static str,
        /// The node given.
        node: u32,
        /// Nodes with memory.
        with_memory: Vec<u32>,
        /// Nodes with CPUs.
        with_cpus: Vec<u32>,
    },
    /// `widths=` names more threads or channels than the machine has.
    WidthsExceed {
        /// The widths given.
        given: Vec<u32>,
        /// Those beyond `have`.
        dropped: Vec<u32>,
        /// What the machine has.
        have: u32,
        /// `online CPU(s)`, `DMA channels`, …
        what: &'static str,
    },
    /// `counts=` names more 2M folios than the nodes hold.
    CountsExceed {
        /// Counts beyond the limit.
        dropped: Vec<u64>,
        /// Source node.
        from: u32,
        /// Destination node.
        to: u32,
        /// 2M folios that fit.
        limit: u64,
    },
    /// `threads=` more than the nodes have CPUs to place workers on.
    ThreadsExceed {
        /// Threads given.
        threads: usize,
        /// Source node.
        from: u32,
        /// Destination node.
        to: u32,
        /// Online CPUs each node has.
        fit: usize,
    },
    /// `total=` smaller than one folio of a size the experiment runs.
    TotalBelowFolio {
        /// Bytes.
        total: u64,
        /// The folio size in bytes.
        folio: u64,
    },
    /// `total=` not a whole number of folios of a size it is used with.
    TotalNotWhole {
        /// Bytes.
        total: u64,
        /// Folio size in bytes.
        folio: u64,
    },
    /// `size=mix` shares that do not divide `total=`.
    Mix {
        /// Bytes.
        total: u64,
        /// Why.
        error: kcore::mix::MixError,
    },
    /// An engine an experiment cannot use (`table 2 measures cpu or dma`).
    EngineNotFor {
        /// The experiment.
        exp: Bench,
        /// The engine given.
        engine: kcore::cmdline::Engine,
    },
    /// A placement an experiment cannot use (`table 3 places by spread or fill`).
    PlacementNotFor {
        /// The experiment.
        exp: Bench,
        /// The policy given.
        policy: kcore::placement::Policy,
    },
    /// `dma-min-batch=auto` without a DMA engine to measure the crossover with.
    CrossoverNeedsDma,
    /// A key given to a job that does not use it (refused, not ignored).
    KeyNotUsed {
        /// The key.
        key: &'static str,
        /// The jobs that use it.
        by: &'static str,
    },
    /// More streams than CPUs free to coordinate them (one CPU per stream).
    TooFewStreamCpus {
        /// Streams asked for.
        streams: usize,
        /// CPUs free for streams.
        free: usize,
        /// True when one CPU is kept for `bench=appcost`'s foreground job.
        besides_foreground: bool,
    },
    /// An engine a stream cannot be: a stream's CPU copies alone, so `cpu-mt` and
    /// `hybrid` (whose workers would be other streams' CPUs) are refused.
    NotAStreamEngine(kcore::cmdline::Engine),
    /// `channels=` per stream beyond the DMA channels the machine has.
    ChannelsPerStream {
        /// Channels asked per stream.
        asked: u32,
        /// DMA channels that exist.
        have: usize,
    },
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::NeedsDma(b) => write!(
                f,
                "bench={b} measures DMA, but no DMA engine is available (see the dma: lines above)"
            ),
            InputError::BatchAutoOutsideFrontier => write!(
                f,
                "batch=auto:unmapped-us=N is chosen by bench=frontier's latency sweep; other experiments need a page count or 'all'"
            ),
            InputError::MixOutsideFrontier => write!(
                f,
                "size=mix:... is measured by bench=frontier; other experiments take a comma list of sizes"
            ),
            InputError::NoMemoryNode => write!(f, "no NUMA node has memory"),
            InputError::NodeWithoutMemory {
                key,
                node,
                with_memory,
                with_cpus,
            } => write!(
                f,
                "{key}={node}: node {node} has no memory (nodes with memory: {with_memory:?}; nodes with CPUs: {with_cpus:?})"
            ),
            InputError::WidthsExceed {
                given,
                dropped,
                have,
                what,
            } => {
                let given: Vec<String> = given.iter().map(|w| alloc::format!("{w}")).collect();
                write!(
                    f,
                    "widths={}: {dropped:?} exceed the {have} {what} this machine has",
                    given.join(",")
                )
            }
            InputError::CountsExceed {
                dropped,
                from,
                to,
                limit,
            } => write!(
                f,
                "counts={dropped:?}: more 2M folios than nodes {from}/{to} hold ({limit} fit)"
            ),
            InputError::ThreadsExceed {
                threads,
                from,
                to,
                fit,
            } => write!(
                f,
                "threads={threads}: nodes {from} and {to} have only {fit} online CPU(s) each to place workers on"
            ),
            InputError::TotalBelowFolio { total, folio } => {
                write!(f, "total={total} is smaller than one {} folio", SizeName(*folio))
            }
            InputError::TotalNotWhole { total, folio } => {
                let down = total / folio * folio;
                write!(
                    f,
                    "total={total} bytes is not a whole number of {} KiB folios; use {} or {}",
                    folio >> 10,
                    if down == 0 { *folio } else { down },
                    down + folio
                )
            }
            InputError::Mix { total, error } => write!(f, "size=mix with total={total}: {error}"),
            InputError::EngineNotFor { exp, engine } => {
                write!(f, "bench={exp} measures cpu or dma, not {engine}")
            }
            InputError::PlacementNotFor { exp, policy } => {
                write!(f, "bench={exp} places threads by spread or fill, not {policy}")
            }
            InputError::KeyNotUsed { key, by } => {
                write!(f, "{key}= applies to {by}, which this run does not include")
            }
            InputError::TooFewStreamCpus {
                streams,
                free,
                besides_foreground,
            } => write!(
                f,
                "{streams} stream(s) need {streams} CPU(s){}; {free} are free for streams",
                if *besides_foreground {
                    " besides the foreground's"
                } else {
                    ""
                }
            ),
            InputError::NotAStreamEngine(e) => write!(
                f,
                "streams: engine={e}: a stream runs cpu or dma (cpu, dma and auto when engine= is not given)"
            ),
            InputError::ChannelsPerStream { asked, have } => write!(
                f,
                "streams: channels={asked} per stream, but {have} DMA channels exist"
            ),
            InputError::CrossoverNeedsDma => write!(
                f,
                "dma-min-batch=auto: no DMA engine to measure a crossover with"
            ),
        }
    }
}

/// Why the CPUs of a background load (or of `bench=appcost`'s foreground job) misbehaved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// The load could not be posted to its CPUs.
    Start(PostError),
    /// The load CPUs returned at once instead of running until stopped.
    FinishedAtOnce,
    /// A load CPU did not stop within 5 s.
    DidNotStop(usize),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Start(e) => write!(f, "{e}"),
            LoadError::FinishedAtOnce => write!(f, "its CPUs finished at once"),
            LoadError::DidNotStop(c) => write!(f, "CPU {c} did not stop"),
        }
    }
}

/// Why an experiment stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum BenchError {
    /// The request cannot run here as asked (nothing measured).
    Input(InputError),
    /// An engine cannot be built here (a placement it cannot satisfy, a routine the CPU
    /// lacks).
    Engine(SetupError),
    /// DMA channels named or needed are not there (or are in use).
    Channels(TakeError),
    /// The run's cells do not fit the machine's memory (checked before any work).
    DoesNotFit(PlanError),
    /// A calibration cell gave no figure (failed, out of memory or invalid); it is
    /// counted in the run's totals already.
    Calibration {
        /// The cell.
        cell: String,
        /// How it ended.
        status: Status,
        /// Why.
        why: String,
    },
    /// The cost model could not be fitted to the calibration cells.
    Fit {
        /// Engine.
        engine: &'static str,
        /// Threads or channels.
        width: usize,
        /// Why.
        error: FitError,
    },
    /// An experiment's own buffers (victim set, load ring, background DMA) did not fit.
    Frames {
        /// What they were for.
        what: &'static str,
        /// The node.
        node: u32,
        /// The allocator's answer.
        error: FrameError,
    },
    /// The allocator refused to take back an experiment's own block (its bookkeeping is
    /// broken).
    Free(FrameError),
    /// A migration outside a cell failed, or its data did not check out.
    Migrate(MigrateError),
    /// Frames were not all given back after an experiment's step.
    Leak {
        /// The step.
        what: &'static str,
        /// Frames in use before.
        before: u64,
        /// And after.
        after: u64,
    },
    /// The CPUs of a background load misbehaved.
    Load(LoadError),
    /// The CPU of `bench=appcost`'s foreground job misbehaved.
    Foreground(LoadError),
    /// A stream of a set failed (counted in the run's totals already); the experiment
    /// stops after printing what it measured.
    StreamFailed {
        /// The set (`streams 3 dma admit=wait`).
        set: String,
        /// The stream's failure.
        why: String,
    },
}

impl BenchError {
    /// True when the request itself is at fault (bad input, exit 6): nothing was
    /// measured, and the message says what to ask instead.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            BenchError::Input(_)
                | BenchError::Engine(_)
                | BenchError::Channels(_)
                | BenchError::DoesNotFit(_)
        )
    }

    /// True when the failure is a cell already counted in the run's totals.
    pub fn is_counted(&self) -> bool {
        matches!(
            self,
            BenchError::Calibration { .. } | BenchError::StreamFailed { .. }
        )
    }

    /// How a run that stopped with this error ends.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            e if e.is_input() => ExitCode::BadInput,
            BenchError::Frames { .. } => ExitCode::OutOfMemory,
            BenchError::Migrate(e) if e.is_out_of_memory() => ExitCode::OutOfMemory,
            BenchError::Calibration {
                status: Status::OutOfMemory,
                ..
            } => ExitCode::OutOfMemory,
            BenchError::Calibration {
                status: Status::Invalid,
                ..
            } => ExitCode::Invalid,
            _ => ExitCode::TestFailure,
        }
    }
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Input(e) => write!(f, "{e}"),
            BenchError::Engine(e) => write!(f, "{e}"),
            BenchError::Channels(e) => write!(f, "engine=dma: {e}"),
            BenchError::DoesNotFit(e) => write!(f, "{e}"),
            BenchError::Calibration { cell, why, .. } => write!(f, "{cell}: {why}"),
            BenchError::Fit {
                engine,
                width,
                error,
            } => write!(f, "{engine} x{width} cost fit: {error}"),
            BenchError::Frames { what, node, error } => {
                write!(f, "{what} on node {node}: {error}")
            }
            BenchError::Free(e) => write!(f, "{e}"),
            BenchError::Migrate(e) => write!(f, "{e}"),
            BenchError::Leak {
                what,
                before,
                after,
            } => write!(
                f,
                "frame leak in {what}: {before} frames in use before, {after} after"
            ),
            BenchError::Load(e) => write!(f, "load: {e}"),
            BenchError::Foreground(e) => write!(f, "appcost foreground: {e}"),
            BenchError::StreamFailed { set, why } => write!(f, "{set}: {why}"),
        }
    }
}

impl From<InputError> for BenchError {
    fn from(e: InputError) -> Self {
        BenchError::Input(e)
    }
}

impl From<SetupError> for BenchError {
    fn from(e: SetupError) -> Self {
        BenchError::Engine(e)
    }
}

impl From<TakeError> for BenchError {
    fn from(e: TakeError) -> Self {
        BenchError::Channels(e)
    }
}

impl From<PlanError> for BenchError {
    fn from(e: PlanError) -> Self {
        BenchError::DoesNotFit(e)
    }
}

impl From<MigrateError> for BenchError {
    fn from(e: MigrateError) -> Self {
        BenchError::Migrate(e)
    }
}

impl From<FrameError> for BenchError {
    fn from(e: FrameError) -> Self {
        BenchError::Free(e)
    }
}

impl From<crate::migrate::error::VerifyError> for BenchError {
    fn from(e: crate::migrate::error::VerifyError) -> Self {
        BenchError::Migrate(MigrateError::Verify(e))
    }
}

impl From<LoadError> for BenchError {
    fn from(e: LoadError) -> Self {
        BenchError::Load(e)
    }
}

/// Self-tests report failures as text.
impl From<BenchError> for String {
    fn from(e: BenchError) -> Self {
        alloc::format!("{e}")
    }
}
