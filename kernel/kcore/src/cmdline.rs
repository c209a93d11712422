//! The kernel command line (`-append` in QEMU, the GRUB `multiboot2` line on hardware),
//! parsed into a typed [`Config`].
//!
//! Grammar: tokens separated by spaces; each is `key=value` or a bare flag (`help`).
//! Every key is declared once in [`KEYS`] with its default and what it accepts, so
//! `help` can list them all and a mistake is answered with the key, what was given and
//! what is accepted. Nothing is silently ignored: an unknown key, a bad value or a key
//! given twice is a [`CmdlineError`], which the kernel reports before exiting with the
//! "bad input" code.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// What kind of value a key takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A bare word with no value (`help`).
    Flag,
    /// `0|1|yes|no|on|off|true|false`.
    Bool,
    /// A free-form word (checked later by whoever uses it).
    Word,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    /// A non-negative integer within bounds (decimal or `0x` hex).
    Int {
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
}

/// One key the kernel understands.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    /// The key as typed on the command line.
    pub name: &'static str,
    /// The value kind.
    pub kind: ValueKind,
    /// The default, as it would be typed (`-` for none).
    pub default: &'static str,
    /// One line saying what the key does and what it accepts.
    pub help: &'static str,
}

/// Every key of the kernel command line. Add new keys here and in [`Config`].
pub const KEYS: &[KeySpec] = &[
    KeySpec {
        name: "help",
        kind: ValueKind::Flag,
        default: "-",
        help: "print every key with its default and exit",
    },
    KeySpec {
        name: "test",
        kind: ValueKind::Word,
        default: "-",
        help: "run in-kernel self-tests: 'all', or a comma list of names (a trailing * matches a prefix)",
    },
    KeySpec {
        name: "reboot",
        kind: ValueKind::Bool,
        default: "0",
        help: "on bare metal, reboot instead of halting when the run ends (0|1)",
    },
    KeySpec {
        name: "console",
        kind: ValueKind::Word,
        default: "-",
        help: "serial console: ttyS0..ttyS3, an I/O port (0x2f8) or none, optionally ,BAUD; default: the ACPI SPCR port, else ttyS0",
    },
    KeySpec {
        name: "debug-exit",
        kind: ValueKind::Bool,
        default: "1",
        help: "report the exit code through QEMU's isa-debug-exit (only under TCG/KVM; 0 = halt as on bare metal)",
    },
    KeySpec {
        name: "host-binding",
        kind: ValueKind::Word,
        default: "none",
        help: "how run-qemu.sh bound a KVM guest to its host (kvm:G-H/...:ENGINES[:huge]); recorded in every result",
    },
    KeySpec {
        name: "ap-start",
        kind: ValueKind::Choice(&["parallel", "serial"]),
        default: "parallel",
        help: "start the other CPUs all at once (each finds its slot by APIC ID) or one at a time",
    },
    KeySpec {
        name: "pcid",
        kind: ValueKind::Choice(&["auto", "on", "off"]),
        default: "auto",
        help: "PCIDs for migration address spaces: auto (when the CPU has them) | on (refuse to run without) | off",
    },
    KeySpec {
        name: "invpcid",
        kind: ValueKind::Choice(&["auto", "on", "off"]),
        default: "auto",
        help: "INVPCID for unloaded address spaces (needs PCIDs): auto | on (refuse without) | off (flushing CR3 load instead)",
    },
    KeySpec {
        name: "avx512",
        kind: ValueKind::Choice(&["auto", "on", "off"]),
        default: "auto",
        help: "AVX-512 state and the avx512 copy routine: auto | on (refuse to run without) | off",
    },
    KeySpec {
        name: "expect-cpus",
        kind: ValueKind::Int { min: 1, max: 4096 },
        default: "-",
        help: "self-test: the number of CPUs the runner gave the machine",
    },
    KeySpec {
        name: "expect-nodes",
        kind: ValueKind::Int { min: 1, max: 64 },
        default: "-",
        help: "self-test: the number of NUMA nodes the runner gave the machine",
    },
    KeySpec {
        name: "expect-node-mib",
        kind: ValueKind::Int { min: 1, max: 1 << 24 },
        default: "-",
        help: "self-test: MiB of RAM per NUMA node the runner gave the machine",
    },
    KeySpec {
        name: "expect-ptdma",
        kind: ValueKind::Int { min: 0, max: 256 },
        default: "-",
        help: "self-test: the number of PTDMA engines the runner attached",
    },
    KeySpec {
        name: "dma-force",
        kind: ValueKind::Bool,
        default: "0",
        help: "take DMA engines whose queue is already running (owned by firmware/another OS)",
    },
    KeySpec {
        name: "dma-marker",
        kind: ValueKind::Bool,
        default: "1",
        help: "end each DMA batch with a memory completion marker (poll RAM, not MMIO)",
    },
    KeySpec {
        name: "dma-timeout-ms",
        kind: ValueKind::Int { min: 1, max: 600_000 },
        default: "2000",
        help: "how long a DMA batch may take before its queue is reset and the CPU copies the rest",
    },
    KeySpec {
        name: "migrate",
        kind: ValueKind::Flag,
        default: "-",
        help: "run one migration experiment with the engine/mode/size/... keys below",
    },
    KeySpec {
        name: "bench",
        kind: ValueKind::Word,
        default: "-",
        help: "benchmarks, comma list: efficiency (batched vs per-folio vs raw), 1a/1b (cpu-mt/dma: size x threads/channels), 2a/2b (cpu/dma: 2M folio count), 3a/3b (threads spread/fill across CCDs), setup (DMA/CPU cost per batch, descriptor, byte; crossover), auto (per-batch engine choice vs fixed), placement (workers src/dst/spread), pollution (victim cache re-read), load (under memory/DMA load), cycles (CPU cycles per GiB), all",
    },
    KeySpec {
        name: "soak",
        kind: ValueKind::Int { min: 1, max: 7 * 24 * 3600 },
        default: "-",
        help: "run random verified migrations for this many seconds (run-qemu.sh soak MINUTES)",
    },
    KeySpec {
        name: "widths",
        kind: ValueKind::Word,
        default: "1,2,4,8,16",
        help: "thread/channel counts of the seed's tables; given: used exactly (bad input if one exceeds the machine); default: the ones that fit",
    },
    KeySpec {
        name: "counts",
        kind: ValueKind::Word,
        default: "1,8,64,256,512,1024,2048,8192",
        help: "2M folio counts of tables 2a/2b; given: used exactly (bad input if one does not fit); default: the ones that fit",
    },
    KeySpec {
        name: "engine",
        kind: ValueKind::Choice(&["cpu", "cpu-mt", "dma", "hybrid"]),
        default: "cpu",
        help: "copy engine: cpu (one core) | cpu-mt (threads= workers) | dma (PTDMA queues) | hybrid (CPU workers + DMA)",
    },
    KeySpec {
        name: "mode",
        kind: ValueKind::Choice(&["batched", "per-folio"]),
        default: "batched",
        help: "batched (each phase over the batch, the RFC) | per-folio (stock Linux)",
    },
    KeySpec {
        name: "size",
        kind: ValueKind::Word,
        default: "2m",
        help: "folio size(s), comma list of 4k,16k,32k,64k,128k,256k,512k,1m,2m",
    },
    KeySpec {
        name: "total",
        kind: ValueKind::Word,
        default: "32m",
        help: "bytes migrated per repetition (k/m/g suffixes); given: a whole number of folios of every size, checked against node memory before the first cell",
    },
    KeySpec {
        name: "batch",
        kind: ValueKind::Word,
        default: "512",
        help: "batch limit in base pages (512 like Linux) or 'all' for the whole workload",
    },
    KeySpec {
        name: "threads",
        kind: ValueKind::Int { min: 1, max: 4096 },
        default: "1",
        help: "CPU worker threads of cpu-mt and hybrid",
    },
    KeySpec {
        name: "placement",
        kind: ValueKind::Word,
        default: "spread",
        help: "where workers run: spread (over CCDs) | fill (one CCD first) | src | dst (node's CPUs) | list:0,2,4-7",
    },
    KeySpec {
        name: "hybrid-cpu",
        kind: ValueKind::Int { min: 0, max: 100 },
        default: "50",
        help: "percent of each batch the hybrid engine gives to CPU workers (the rest to DMA)",
    },
    KeySpec {
        name: "channels",
        kind: ValueKind::Word,
        default: "all",
        help: "DMA channels to use: a number or 'all'",
    },
    KeySpec {
        name: "from",
        kind: ValueKind::Int { min: 0, max: 63 },
        default: "0",
        help: "source NUMA node; given: used exactly (bad input if it has no memory); default: 0, else the first node with memory",
    },
    KeySpec {
        name: "to",
        kind: ValueKind::Int { min: 0, max: 63 },
        default: "1",
        help: "destination NUMA node; given: used exactly (bad input if it has no memory); default: 1, else the first other node with memory (printed)",
    },
    KeySpec {
        name: "reps",
        kind: ValueKind::Int { min: 1, max: 1000 },
        default: "5",
        help: "measured repetitions per cell (after one warm-up)",
    },
    KeySpec {
        name: "copy",
        kind: ValueKind::Choice(&["auto", "movsb", "sse2", "avx2", "avx512", "nt"]),
        default: "auto",
        help: "CPU copy routine: auto (fastest measured at boot) or a forced one",
    },
    KeySpec {
        name: "dma-split",
        kind: ValueKind::Choice(&["rr", "contiguous", "bytes"]),
        default: "rr",
        help: "how a batch is split across DMA channels: rr (folio i to channel i mod n, RFC V2) | contiguous (blocks of folios, RFC V3) | bytes (chunks of dma-chunk bytes, inside folios when there are fewer folios than channels)",
    },
    KeySpec {
        name: "dma-chunk",
        kind: ValueKind::Word,
        default: "256k..2m",
        help: "dma-split=bytes: smallest..largest chunk, multiples of 4k",
    },
    KeySpec {
        name: "dma-min-batch",
        kind: ValueKind::Word,
        default: "0",
        help: "DMA batches below this many bytes are copied by the CPU and counted as declined: 0 (off), a size like 32k, or auto (the DMA/CPU crossover measured at boot)",
    },
    KeySpec {
        name: "dma-profile",
        kind: ValueKind::Word,
        default: "none",
        help: "the emulated DMA engine's timing assumption, echoed in reports (set by run-qemu.sh)",
    },
    KeySpec {
        name: "expect-topo",
        kind: ValueKind::Word,
        default: "-",
        help: "self-test: the CPU shape the runner gave QEMU, e.g. 2s2d2c1t2n (sockets, dies, cores, threads, nodes)",
    },
    KeySpec {
        name: "watchdog-s",
        kind: ValueKind::Int { min: 1, max: 86_400 },
        default: "120",
        help: "stop the run (exit code 5) after this many seconds without progress, printing where each CPU is",
    },
    KeySpec {
        name: "verbose",
        kind: ValueKind::Bool,
        default: "0",
        help: "print more detail while booting (0|1)",
    },
];

/// Benchmarks `bench=` accepts.
pub const BENCHES: &[&str] = &[
    "efficiency",
    "1a",
    "1b",
    "2a",
    "2b",
    "3a",
    "3b",
    "setup",
    "auto",
    "placement",
    "pollution",
    "load",
    "cycles",
    "frontier",
    "all",
];

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

/// What a migration run or benchmark is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateArgs {
    /// Engine name (`cpu`, `dma`).
    pub engine: String,
    /// `batched` or `per-folio`.
    pub mode: String,
    /// Folio orders, in the order given.
    pub sizes: Vec<u8>,
    /// `size=` was given (benchmarks otherwise use their own default sizes).
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
    /// Worker placement policy text.
    pub placement: String,
    /// Percent of a batch the hybrid engine copies with the CPU.
    pub hybrid_cpu_percent: u32,
    /// Source node.
    pub from: u32,
    /// Destination node.
    pub to: u32,
    /// Measured repetitions.
    pub reps: u32,
}

impl Default for MigrateArgs {
    fn default() -> Self {
        Self {
            engine: "cpu".into(),
            mode: "batched".into(),
            sizes: alloc::vec![9],
            size_given: false,
            total_given: false,
            widths: alloc::vec![1, 2, 4, 8, 16],
            counts: alloc::vec![1, 8, 64, 256, 512, 1024, 2048, 8192],
            total: 32 << 20,
            batch_pages: 512,
            batch_auto_us: None,
            mix: None,
            channels: None,
            threads: 1,
            placement: "spread".into(),
            hybrid_cpu_percent: 50,
            from: 0,
            to: 1,
            reps: 5,
        }
    }
}

/// The typed configuration of one boot.
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
    /// End DMA batches with a memory completion marker.
    pub dma_marker: bool,
    /// DMA batch timeout in milliseconds.
    pub dma_timeout_ms: u64,
    /// `migrate` was given: run one migration experiment.
    pub migrate_job: bool,
    /// `bench=` value.
    pub bench: Option<String>,
    /// Migration parameters.
    pub migrate: MigrateArgs,
    /// CPU copy routine (`auto` or a forced one).
    pub copy: String,
    /// The DMA timing assumption, for reports.
    pub dma_profile: String,
    /// `rr`, `contiguous` or `bytes`.
    pub dma_split: String,
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
    /// `ap-start=serial`: start APs one at a time instead of all at once.
    pub ap_start_serial: bool,
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

impl Default for Config {
    fn default() -> Self {
        Self {
            help: false,
            test: None,
            reboot: false,
            verbose: false,
            expect: Expectations::default(),
            dma_force: false,
            dma_marker: true,
            dma_timeout_ms: 2000,
            migrate_job: false,
            bench: None,
            migrate: MigrateArgs::default(),
            copy: "auto".into(),
            dma_profile: "none".into(),
            dma_split: "rr".into(),
            dma_chunk: crate::split::ChunkBounds::DEFAULT,
            dma_min_batch: MinBatch::Off,
            soak_s: None,
            expect_topo: None,
            watchdog_s: 120,
            console: None,
            debug_exit: true,
            features: crate::features::Forced::default(),
            ap_start_serial: false,
            host_binding: None,
            given: Vec::new(),
        }
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

/// What was wrong with the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdlineError {
    /// A key that no part of the kernel understands.
    UnknownKey {
        /// The key as given.
        key: String,
        /// The closest known key, when one is close.
        suggestion: Option<&'static str>,
    },
    /// A known key with a value it does not accept.
    BadValue {
        /// The key.
        key: &'static str,
        /// The value as given.
        given: String,
        /// What the key accepts.
        accepted: String,
    },
    /// The same key twice (which one should win is not obvious, so neither does).
    Repeated {
        /// The key.
        key: &'static str,
    },
}

impl fmt::Display for CmdlineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdlineError::UnknownKey { key, suggestion } => {
                write!(f, "unknown key '{key}'")?;
                if let Some(s) = suggestion {
                    write!(f, " (did you mean '{s}'?)")?;
                }
                write!(f, "; known keys: ")?;
                for (i, k) in KEYS.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{}", k.name)?;
                }
                Ok(())
            }
            CmdlineError::BadValue {
                key,
                given,
                accepted,
            } => write!(
                f,
                "bad value for '{key}': got '{given}', accepted: {accepted}"
            ),
            CmdlineError::Repeated { key } => write!(f, "key '{key}' is given more than once"),
        }
    }
}

/// Parses a whole command line.
pub fn parse(line: &str) -> Result<Config, CmdlineError> {
    let mut config = Config::default();
    let mut seen: Vec<&'static str> = Vec::new();
    for token in line.split_ascii_whitespace() {
        let (key, value) = match token.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (token, None),
        };
        let spec = KEYS
            .iter()
            .find(|s| s.name == key)
            .ok_or_else(|| CmdlineError::UnknownKey {
                key: key.to_string(),
                suggestion: closest_key(key),
            })?;
        if seen.contains(&spec.name) {
            return Err(CmdlineError::Repeated { key: spec.name });
        }
        seen.push(spec.name);
        apply(&mut config, spec, value)?;
    }
    config.given = seen;
    Ok(config)
}

fn apply(config: &mut Config, spec: &KeySpec, value: Option<&str>) -> Result<(), CmdlineError> {
    let value = check_value(spec, value)?;
    match spec.name {
        "help" => config.help = true,
        "test" => config.test = Some(parse_test_filter(spec, &value)?),
        "reboot" => config.reboot = value == "1",
        "verbose" => config.verbose = value == "1",
        "expect-cpus" => config.expect.cpus = value.parse().ok(),
        "expect-nodes" => config.expect.nodes = value.parse().ok(),
        "expect-node-mib" => config.expect.node_mib = value.parse().ok(),
        "expect-ptdma" => config.expect.ptdma = value.parse().ok(),
        "dma-force" => config.dma_force = value == "1",
        "dma-marker" => config.dma_marker = value == "1",
        "dma-timeout-ms" => config.dma_timeout_ms = value.parse().unwrap_or(2000),
        "migrate" => config.migrate_job = true,
        "bench" => {
            for b in value.split(',') {
                if !BENCHES.contains(&b) {
                    return Err(bad_value(
                        spec,
                        &value,
                        "a comma list of efficiency,1a,1b,2a,2b,3a,3b,setup,auto,placement,pollution,load,cycles,frontier,all",
                    ));
                }
            }
            config.bench = Some(value)
        }
        "widths" => {
            config.migrate.widths = parse_list(spec, &value, 1, 256)?
                .into_iter()
                .map(|n| n as u32)
                .collect()
        }
        "counts" => config.migrate.counts = parse_list(spec, &value, 1, 1 << 20)?,
        "engine" => config.migrate.engine = value,
        "mode" => config.migrate.mode = value,
        "size" if value.starts_with("mix:") => {
            config.migrate.mix = Some(
                crate::mix::parse(&value)
                    .map_err(|e| bad_value(spec, &value, &alloc::format!("{e}")))?,
            );
        }
        "size" => {
            config.migrate.sizes = parse_sizes(spec, &value)?;
            config.migrate.size_given = true;
        }
        "total" => {
            config.migrate.total_given = true;
            config.migrate.total = crate::migrate::parse_size(&value)
                .filter(|&t| t >= 4096)
                .ok_or_else(|| bad_value(spec, &value, "a size >= 4k like 64m or 1g"))?
        }
        "batch" => {
            if let Some(us) = value.strip_prefix("auto:unmapped-us=") {
                config.migrate.batch_auto_us =
                    Some(parse_u64(us).filter(|&n| n > 0).ok_or_else(|| {
                        bad_value(spec, &value, "auto:unmapped-us=N with N >= 1")
                    })?);
                return Ok(());
            }
            config.migrate.batch_pages = match value.as_str() {
                "all" => u64::MAX,
                v => parse_u64(v).filter(|&n| n > 0).ok_or_else(|| {
                    bad_value(
                        spec,
                        v,
                        "a page count >= 1, 'all', or auto:unmapped-us=N (bench=frontier)",
                    )
                })?,
            }
        }
        "channels" => {
            config.migrate.channels = match value.as_str() {
                "all" => None,
                v => Some(
                    parse_u64(v)
                        .filter(|&n| (1..=256).contains(&n))
                        .ok_or_else(|| bad_value(spec, v, "1..256 or 'all'"))?
                        as u32,
                ),
            }
        }
        "threads" => config.migrate.threads = value.parse().unwrap_or(1),
        "placement" => {
            crate::placement::Policy::parse(&value).map_err(|e| {
                bad_value(
                    spec,
                    &value,
                    &alloc::format!("spread|fill|src|dst|list:CPUS ({e})"),
                )
            })?;
            config.migrate.placement = value
        }
        "hybrid-cpu" => config.migrate.hybrid_cpu_percent = value.parse().unwrap_or(50),
        "from" => config.migrate.from = value.parse().unwrap_or(0),
        "to" => config.migrate.to = value.parse().unwrap_or(1),
        "reps" => config.migrate.reps = value.parse().unwrap_or(5),
        "copy" => config.copy = value,
        "dma-profile" => config.dma_profile = value,
        "dma-split" => config.dma_split = value,
        "dma-chunk" => {
            config.dma_chunk = crate::split::parse_bounds(&value)
                .map_err(|e| bad_value(spec, &value, &alloc::format!("{e}")))?
        }
        "dma-min-batch" => {
            config.dma_min_batch = match value.as_str() {
                "auto" => MinBatch::Auto,
                v => match crate::migrate::parse_size(v) {
                    Some(0) => MinBatch::Off,
                    Some(n) => MinBatch::Bytes(n),
                    None => return Err(bad_value(spec, v, "0, a size like 32k, or auto")),
                },
            }
        }
        "soak" => config.soak_s = value.parse().ok(),
        "expect-topo" => {
            let shape =
                crate::topology::parse_shape(&value).map_err(|e| CmdlineError::BadValue {
                    key: spec.name,
                    given: value.clone(),
                    accepted: e.to_string(),
                })?;
            config.expect_topo = Some(shape);
        }
        "watchdog-s" => config.watchdog_s = value.parse().unwrap_or(120),
        "console" => {
            config.console =
                Some(
                    crate::serialspec::parse(&value).ok_or_else(|| CmdlineError::BadValue {
                        key: spec.name,
                        given: value.clone(),
                        accepted: crate::serialspec::ACCEPTED.to_string(),
                    })?,
                )
        }
        "debug-exit" => config.debug_exit = value == "1",
        "ap-start" => config.ap_start_serial = value == "serial",
        "host-binding" => {
            config.host_binding = crate::hostbind::parse(&value)
                .map_err(|e| bad_value(spec, &value, &e.to_string()))?
        }
        "pcid" => config.features.pcid = crate::features::Force::parse(&value),
        "invpcid" => config.features.invpcid = crate::features::Force::parse(&value),
        "avx512" => config.features.avx512 = crate::features::Force::parse(&value),
        // KEYS and this match are kept in step by the `every_key_is_applied` test.
        _ => unreachable!("key {} declared but not applied", spec.name),
    }
    Ok(())
}

fn bad_value(spec: &KeySpec, given: &str, accepted: &str) -> CmdlineError {
    CmdlineError::BadValue {
        key: spec.name,
        given: given.to_string(),
        accepted: accepted.to_string(),
    }
}

fn parse_list(spec: &KeySpec, value: &str, min: u64, max: u64) -> Result<Vec<u64>, CmdlineError> {
    value
        .split(',')
        .map(|s| {
            parse_u64(s)
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    bad_value(
                        spec,
                        value,
                        &alloc::format!("a comma list of integers {min}..{max}"),
                    )
                })
        })
        .collect()
}

fn parse_sizes(spec: &KeySpec, value: &str) -> Result<Vec<u8>, CmdlineError> {
    value
        .split(',')
        .map(|s| {
            crate::migrate::parse_size(s)
                .and_then(crate::migrate::order_of)
                .ok_or_else(|| {
                    bad_value(
                        spec,
                        value,
                        "mTHP sizes 4k,16k,32k,64k,128k,256k,512k,1m,2m",
                    )
                })
        })
        .collect()
}

/// Checks a value against its key's kind and returns it normalized
/// (booleans become `0`/`1`, integers decimal).
fn check_value(spec: &KeySpec, value: Option<&str>) -> Result<String, CmdlineError> {
    let bad = |given: &str, accepted: &str| CmdlineError::BadValue {
        key: spec.name,
        given: given.to_string(),
        accepted: accepted.to_string(),
    };
    match (spec.kind, value) {
        (ValueKind::Flag, None) => Ok(String::new()),
        (ValueKind::Flag, Some(v)) => Err(bad(v, "no value (a bare word)")),
        (_, None) => Err(bad("", "key=value")),
        (ValueKind::Bool, Some(v)) => match v {
            "1" | "yes" | "on" | "true" => Ok("1".to_string()),
            "0" | "no" | "off" | "false" => Ok("0".to_string()),
            _ => Err(bad(v, "0|1|yes|no|on|off|true|false")),
        },
        (ValueKind::Choice(words), Some(v)) => {
            if words.contains(&v) {
                Ok(v.to_string())
            } else {
                Err(bad(v, &words.join("|")))
            }
        }
        (ValueKind::Word, Some("")) => Err(bad("", "a non-empty word")),
        (ValueKind::Word, Some(v)) => Ok(v.to_string()),
        (ValueKind::Int { min, max }, Some(v)) => {
            let range = alloc::format!("an integer from {min} to {max}");
            let n = parse_u64(v).ok_or_else(|| bad(v, &range))?;
            if n < min || n > max {
                return Err(bad(v, &range));
            }
            Ok(n.to_string())
        }
    }
}

fn parse_test_filter(spec: &KeySpec, value: &str) -> Result<TestFilter, CmdlineError> {
    if value == "all" {
        return Ok(TestFilter::All);
    }
    let names: Vec<String> = value.split(',').map(|s| s.to_string()).collect();
    if names.iter().any(|n| n.is_empty() || n == "*") {
        return Err(CmdlineError::BadValue {
            key: spec.name,
            given: value.to_string(),
            accepted: "'all' or a comma list of non-empty test names".to_string(),
        });
    }
    Ok(TestFilter::Names(names))
}

/// Parses a decimal or `0x`-prefixed hexadecimal integer; `_` separators allowed.
pub fn parse_u64(s: &str) -> Option<u64> {
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (s, 10),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for c in digits.chars().filter(|&c| c != '_') {
        let d = c.to_digit(radix)? as u64;
        n = n.checked_mul(radix as u64)?.checked_add(d)?;
    }
    Some(n)
}

/// The known key with the smallest edit distance to `key`, if it is close (≤ 2 edits).
fn closest_key(key: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|s| (edit_distance(key, s.name), s.name))
        .filter(|&(d, _)| d <= 2)
        .min_by_key(|&(d, _)| d)
        .map(|(_, name)| name)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Writes the `help` text: one line per key with its default and what it accepts.
pub fn write_help(out: &mut impl fmt::Write) -> fmt::Result {
    writeln!(
        out,
        "foliomove kernel command line: key=value tokens separated by spaces"
    )?;
    for k in KEYS {
        writeln!(out, "  {:<10} default {:<4} {}", k.name, k.default, k.help)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_line_gives_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
        assert_eq!(parse("   ").unwrap(), Config::default());
    }

    #[test]
    fn every_key_is_applied() {
        // Catches a key added to KEYS but not to `apply` (which would hit unreachable!).
        for k in KEYS {
            let token = match k.kind {
                ValueKind::Flag => k.name.to_string(),
                ValueKind::Bool => alloc::format!("{}=1", k.name),
                ValueKind::Word if k.name == "console" => "console=ttyS1".to_string(),
                ValueKind::Word if k.name == "expect-topo" => alloc::format!("{}=2s2d2c1t", k.name),
                ValueKind::Word => alloc::format!("{}={}", k.name, word_example(k.name)),
                ValueKind::Choice(w) => alloc::format!("{}={}", k.name, w[0]),
                ValueKind::Int { min, .. } => alloc::format!("{}={min}", k.name),
            };
            parse(&token).unwrap_or_else(|e| panic!("{token}: {e}"));
        }
    }

    fn word_example(key: &str) -> &'static str {
        match key {
            "size" => "4k,2m",
            "placement" => "fill",
            "bench" => "1b,2a",
            "widths" => "1,2",
            "counts" => "1,8",
            "total" => "8m",
            "batch" | "channels" => "all",
            "host-binding" => "kvm:0-1/1-0:2:huge",
            "dma-chunk" => "64k..1m",
            "dma-min-batch" => "32k",
            _ => "all",
        }
    }

    #[test]
    fn dma_split_keys() {
        let c = parse("dma-split=bytes dma-chunk=64k..1m dma-min-batch=32k").unwrap();
        assert_eq!(c.dma_split, "bytes");
        assert_eq!(
            c.dma_chunk,
            crate::split::ChunkBounds {
                min: 64 << 10,
                max: 1 << 20
            }
        );
        assert_eq!(c.dma_min_batch, MinBatch::Bytes(32 << 10));
        let a = parse("batch=auto:unmapped-us=250").unwrap();
        assert_eq!(
            (a.migrate.batch_auto_us, a.migrate.batch_pages),
            (Some(250), 512)
        );
        assert!(parse("batch=auto:unmapped-us=0").is_err());
        assert!(parse("batch=auto").is_err());
        let m = parse("size=mix:2m=50%,64k=25%,4k=25%").unwrap();
        assert_eq!(m.migrate.mix.unwrap().parts(), &[(9, 50), (4, 25), (0, 25)]);
        assert!(!m.migrate.size_given);
        assert!(parse("size=mix:2m=50%").is_err());
        assert_eq!(
            parse("dma-min-batch=auto").unwrap().dma_min_batch,
            MinBatch::Auto
        );
        assert_eq!(
            parse("dma-min-batch=0").unwrap().dma_min_batch,
            MinBatch::Off
        );
        assert_eq!(Config::default().dma_min_batch, MinBatch::Off);
        assert!(parse("dma-chunk=1m..64k").is_err());
        assert!(parse("dma-min-batch=lots").is_err());
    }

    #[test]
    fn migration_keys_are_typed() {
        let c = parse("migrate engine=dma mode=per-folio size=4k,64k total=16m batch=all channels=2 from=1 to=0 reps=3 copy=nt").unwrap();
        let m = &c.migrate;
        assert!(c.migrate_job);
        assert_eq!(m.engine, "dma");
        assert_eq!(m.mode, "per-folio");
        assert_eq!(m.sizes, [0, 4]);
        assert_eq!(m.total, 16 << 20);
        assert_eq!(m.batch_pages, u64::MAX);
        assert_eq!(m.channels, Some(2));
        assert_eq!((m.from, m.to, m.reps), (1, 0, 3));
        assert_eq!(c.copy, "nt");
        let d = parse("").unwrap().migrate;
        assert_eq!((d.batch_pages, d.channels, d.reps), (512, None, 5));
        assert!(matches!(
            parse("size=8k"),
            Err(CmdlineError::BadValue { key: "size", .. })
        ));
        assert!(matches!(
            parse("engine=gpu"),
            Err(CmdlineError::BadValue { key: "engine", .. })
        ));
        assert!(matches!(
            parse("total=3x"),
            Err(CmdlineError::BadValue { key: "total", .. })
        ));
        assert!(matches!(
            parse("batch=0"),
            Err(CmdlineError::BadValue { key: "batch", .. })
        ));
        assert!(matches!(
            parse("bench=1z"),
            Err(CmdlineError::BadValue { key: "bench", .. })
        ));
    }

    #[test]
    fn question_benchmarks_are_accepted_and_named_in_the_error() {
        let c = parse("bench=setup,auto,placement,pollution,load,cycles").unwrap();
        assert_eq!(
            c.bench.as_deref(),
            Some("setup,auto,placement,pollution,load,cycles")
        );
        match parse("bench=setup,crossover") {
            Err(CmdlineError::BadValue {
                key: "bench",
                accepted,
                ..
            }) => {
                assert!(accepted.contains("pollution,load,cycles"), "{accepted}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_key_is_named_with_a_suggestion() {
        let err = parse("bogus=1").unwrap_err();
        assert_eq!(
            err,
            CmdlineError::UnknownKey {
                key: "bogus".into(),
                suggestion: None
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("'bogus'") && msg.contains("test"), "{msg}");
        match parse("tset=all").unwrap_err() {
            CmdlineError::UnknownKey { suggestion, .. } => assert_eq!(suggestion, Some("test")),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn bad_values_say_what_is_accepted() {
        let err = parse("reboot=maybe").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("reboot") && msg.contains("maybe") && msg.contains("0|1"),
            "{msg}"
        );
        assert!(matches!(
            parse("help=1"),
            Err(CmdlineError::BadValue { key: "help", .. })
        ));
        assert!(matches!(
            parse("test"),
            Err(CmdlineError::BadValue { key: "test", .. })
        ));
        assert!(matches!(
            parse("test="),
            Err(CmdlineError::BadValue { key: "test", .. })
        ));
        assert!(matches!(
            parse("test=a,,b"),
            Err(CmdlineError::BadValue { .. })
        ));
    }

    #[test]
    fn expectations_are_bounded_integers() {
        let c = parse("expect-cpus=4 expect-nodes=2 expect-node-mib=0x200").unwrap();
        assert_eq!(
            c.expect,
            Expectations {
                cpus: Some(4),
                nodes: Some(2),
                node_mib: Some(512),
                ptdma: None
            }
        );
        assert!(matches!(
            parse("expect-cpus=0"),
            Err(CmdlineError::BadValue {
                key: "expect-cpus",
                ..
            })
        ));
        assert!(matches!(
            parse("expect-nodes=two"),
            Err(CmdlineError::BadValue { .. })
        ));
    }

    #[test]
    fn topology_shape_and_watchdog_are_typed() {
        let c = parse("expect-topo=2s2d2c1t2n watchdog-s=5").unwrap();
        let shape = c.expect_topo.unwrap();
        assert_eq!(
            (
                shape.sockets,
                shape.dies,
                shape.cores,
                shape.threads,
                shape.nodes
            ),
            (2, 2, 2, 1, Some(2))
        );
        assert_eq!(c.watchdog_s, 5);
        assert_eq!(Config::default().watchdog_s, 120);
        let err = parse("expect-topo=2x").unwrap_err().to_string();
        assert!(err.contains("expect-topo") && err.contains("2x"), "{err}");
        assert!(matches!(
            parse("watchdog-s=0"),
            Err(CmdlineError::BadValue {
                key: "watchdog-s",
                ..
            })
        ));
    }

    #[test]
    fn repeated_key_is_refused() {
        assert_eq!(
            parse("test=all test=x").unwrap_err(),
            CmdlineError::Repeated { key: "test" }
        );
    }

    #[test]
    fn values_are_typed() {
        let c = parse("help reboot=yes verbose=off test=cmdline_parse,console*").unwrap();
        assert!(c.help && c.reboot && !c.verbose);
        let f = c.test.unwrap();
        assert!(f.selects("cmdline_parse", true));
        assert!(f.selects("console_loopback", true));
        assert!(!f.selects("cmdline", true));
        assert_eq!(parse("test=all").unwrap().test, Some(TestFilter::All));
    }

    #[test]
    fn fixtures_run_only_when_named() {
        assert!(!TestFilter::All.selects("selftest_must_fail", false));
        let named = TestFilter::Names(alloc::vec!["selftest_must_fail".into()]);
        assert!(named.selects("selftest_must_fail", false));
        let prefix = TestFilter::Names(alloc::vec!["selftest_*".into()]);
        assert!(prefix.selects("selftest_must_fail", false));
    }

    #[test]
    fn integers_parse_in_decimal_and_hex() {
        assert_eq!(parse_u64("0"), Some(0));
        assert_eq!(parse_u64("1_000"), Some(1000));
        assert_eq!(parse_u64("0x3f8"), Some(0x3f8));
        assert_eq!(parse_u64("0x"), None);
        assert_eq!(parse_u64("12a"), None);
        assert_eq!(parse_u64("18446744073709551616"), None);
    }

    #[test]
    fn help_lists_every_key() {
        let mut s = String::new();
        write_help(&mut s).unwrap();
        for k in KEYS {
            assert!(s.contains(k.name), "{}", k.name);
        }
    }

    #[test]
    fn edit_distance_is_levenshtein() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("test", "test"), 0);
    }
}
