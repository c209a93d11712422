//! The typed configuration a command line parses into.

use super::choices::{ApStart, CopyRoutine, DmaKind, DmaSplit, Engine, Mode};
use crate::bench::Selection;
use crate::placement::Policy;
use alloc::string::String;
use alloc::vec::Vec;

/// `dma-min-batch=`: when a DMA batch is small enough that the CPU copies it instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinBatch {
    /// Never: every batch goes to DMA.
    Off,
    /// Batches below this many bytes go to the CPU.
    Bytes(u64),
    /// The DMA/CPU crossover measured at boot.
    Auto,
}

/// What a migration run or benchmark is asked to do. Every field holds the value given
/// on the command line or the key table's default ([`super::KEYS`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateArgs {
    /// `engine=`.
    pub engine: Engine,
    /// `mode=`.
    pub mode: Mode,
    /// Folio orders, in the order given.
    pub sizes: Vec<u8>,
    /// `size=` was given as a list of sizes (benchmarks otherwise use their own default
    /// sizes).
    pub size_given: bool,
    /// `total=` was given (else benchmarks pick a default for the accelerator).
    pub total_given: bool,
    /// Thread/channel counts for the seed's tables.
    pub widths: Vec<u32>,
    /// Folio counts for tables 2a/2b.
    pub counts: Vec<u64>,
    /// Bytes per repetition.
    pub total: u64,
    /// Batch limit in base pages (`u64::MAX` = the whole workload).
    pub batch_pages: u64,
    /// `size=mix:…`: one workload of several folio sizes (bench=frontier).
    pub mix: Option<crate::mix::Mix>,
    /// `batch=auto:unmapped-us=N`: the bound on the p99 unmapped window, µs.
    pub batch_auto_us: Option<u64>,
    /// DMA channels (`None` = all).
    pub channels: Option<u32>,
    /// CPU worker threads (cpu-mt, hybrid).
    pub threads: u32,
    /// `placement=`: where CPU workers run.
    pub placement: Policy,
    /// Percent of a batch the hybrid engine copies with the CPU.
    pub hybrid_cpu_percent: u32,
    /// Source node.
    pub from: u32,
    /// Destination node.
    pub to: u32,
    /// Measured repetitions.
    pub reps: u32,
}

/// The typed configuration of one boot, from [`super::parse`]: each field the value
/// given on the command line or the key table's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `help` was given.
    pub help: bool,
    /// Self-test selection, if the boot should run self-tests instead of the main job.
    pub test: Option<TestFilter>,
    /// Reboot instead of halting at the end (bare metal only).
    pub reboot: bool,
    /// Extra boot detail.
    pub verbose: bool,
    /// What the runner built, for the platform self-test.
    pub expect: Expectations,
    /// Take DMA engines that are already running.
    pub dma_force: bool,
    /// `dma-kind=`: start only engines of this kind (`None`: every kind found).
    pub dma_kind: Option<DmaKind>,
    /// End DMA batches with a memory completion marker.
    pub dma_marker: bool,
    /// DMA batch timeout in milliseconds.
    pub dma_timeout_ms: u64,
    /// `streams=`: several migrations at once.
    pub streams: Option<crate::streams::StreamsArg>,
    /// `dma-admit=`: what a stream's batch does when its channels are not free.
    pub dma_admit: crate::streams::AdmitPolicy,
    /// `dma-wait-us=`: how long a batch waits for a channel, µs.
    pub dma_wait_us: u64,
    /// `fg-node=`: where bench=appcost's foreground keeps its buffers.
    pub fg_node: crate::streams::FgNode,
    /// `migrate` was given: run one migration experiment.
    pub migrate_job: bool,
    /// `bench=`: the benchmarks to run.
    pub bench: Option<Selection>,
    /// Migration parameters.
    pub migrate: MigrateArgs,
    /// `copy=`: the CPU copy routine (`auto` or a forced one).
    pub copy: CopyRoutine,
    /// The DMA timing assumption, for reports.
    pub dma_profile: String,
    /// `dma-split=`.
    pub dma_split: DmaSplit,
    /// Chunk bounds of `dma-split=bytes`.
    pub dma_chunk: crate::split::ChunkBounds,
    /// `dma-min-batch=`: batches below it go to the CPU (declined).
    pub dma_min_batch: MinBatch,
    /// Soak duration in seconds.
    pub soak_s: Option<u64>,
    /// The CPU shape the runner built (`expect-topo`), for the topology self-test.
    pub expect_topo: Option<crate::topology::Shape>,
    /// Seconds without progress before the watchdog stops the run.
    pub watchdog_s: u64,
    /// `console=`: the serial console asked for (absent: SPCR, else COM1).
    pub console: Option<crate::serialspec::SerialSpec>,
    /// Report the exit code through QEMU's debug-exit port (under a QEMU hypervisor).
    pub debug_exit: bool,
    /// `pcid=`, `invpcid=`, `avx512=`: CPU features forced on or off.
    pub features: crate::features::Forced,
    /// `ap-start=`: start APs all at once or one at a time.
    pub ap_start: ApStart,
    /// `host-binding=`: the KVM guest's placement on its host, if any.
    pub host_binding: Option<crate::hostbind::Binding>,
    /// The keys given on the command line, in order. A key not listed here holds its
    /// default, which the kernel may adapt to the machine (and says so); a listed key is
    /// used exactly or the run stops with a bad-input error.
    pub given: Vec<&'static str>,
}

impl Config {
    /// Whether `key` was given on the command line (so its value must be used exactly).
    pub fn given(&self, key: &str) -> bool {
        self.given.contains(&key)
    }
}

/// The machine shape the runner asked QEMU for (all optional).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expectations {
    /// CPUs.
    pub cpus: Option<u32>,
    /// NUMA nodes.
    pub nodes: Option<u32>,
    /// MiB of RAM per node.
    pub node_mib: Option<u64>,
    /// PTDMA engines attached.
    pub ptdma: Option<u32>,
}

/// Which self-tests to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestFilter {
    /// Every test that is part of the default suite.
    All,
    /// Tests named explicitly (exact names, or prefixes ending in `*`).
    Names(Vec<String>),
}

impl TestFilter {
    /// Whether the test `name` is selected. `in_default_suite` is false for fixtures
    /// (tests that must fail or crash on purpose), which only run when named.
    pub fn selects(&self, name: &str, in_default_suite: bool) -> bool {
        match self {
            TestFilter::All => in_default_suite,
            TestFilter::Names(names) => names.iter().any(|pat| match pat.strip_suffix('*') {
                Some(prefix) => {
                    name.starts_with(prefix) && (in_default_suite || !prefix.is_empty())
                }
                None => pat == name,
            }),
        }
    }
}
