//! Every key of the kernel command line, declared once with its kind, default and help.
//! A default is written here and nowhere else: [`super::parse`] builds every field of
//! the configuration from the value given or this default. The words of a closed-set
//! key come from its enum ([`super::Engine`], ...); benchmark names from [`crate::bench`].

use super::choices::{ApStart, CopyRoutine, DmaKind, DmaSplit, Engine, Mode};
use crate::features::Force;

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

/// Every key of the kernel command line. Add new keys here and in [`super::Config`]
/// (built in `parse`).
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
        kind: ValueKind::Choice(ApStart::NAMES),
        default: "parallel",
        help: "start the other CPUs all at once (each finds its slot by APIC ID) or one at a time",
    },
    KeySpec {
        name: "pcid",
        kind: ValueKind::Choice(Force::NAMES),
        default: "auto",
        help: "PCIDs for migration address spaces: auto (when the CPU has them) | on (refuse to run without) | off",
    },
    KeySpec {
        name: "invpcid",
        kind: ValueKind::Choice(Force::NAMES),
        default: "auto",
        help: "INVPCID for unloaded address spaces (needs PCIDs): auto | on (refuse without) | off (flushing CR3 load instead)",
    },
    KeySpec {
        name: "avx512",
        kind: ValueKind::Choice(Force::NAMES),
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
        name: "dma-kind",
        kind: ValueKind::Choice(DmaKind::NAMES),
        default: "-",
        help: "start only DMA engines of this kind (ptdma | ae4dma | sdxi); default: every kind found",
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
        name: "streams",
        kind: ValueKind::Word,
        default: "-",
        help: "migrations at once (bench=streams, migrate): N, N:alt (odd streams go to>from) or FROM>TO,FROM>TO,... (one coordinating CPU each)",
    },
    KeySpec {
        name: "dma-admit",
        kind: ValueKind::Choice(&["wait", "cpu", "mixed"]),
        default: "wait",
        help: "when a stream's DMA channels are not all free: wait up to dma-wait-us, then CPU | cpu at once | mixed (take the free ones, wait when none)",
    },
    KeySpec {
        name: "dma-wait-us",
        kind: ValueKind::Int { min: 0, max: 60_000_000 },
        default: "20000",
        help: "how long a waiting stream's batch polls for a free DMA channel before the CPU copies it (counted as refused)",
    },
    KeySpec {
        name: "fg-node",
        kind: ValueKind::Choice(&["src", "dst", "both"]),
        default: "src",
        help: "bench=appcost: the foreground's buffers on the streams' source node, destination node, or both (blocks alternating)",
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
        help: "benchmarks to run, a comma list of the names below or all",
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
        kind: ValueKind::Choice(Engine::NAMES),
        default: "cpu",
        help: "copy engine: cpu (one core) | cpu-mt (threads= workers) | dma (PTDMA queues) | hybrid (CPU workers + DMA)",
    },
    KeySpec {
        name: "mode",
        kind: ValueKind::Choice(Mode::NAMES),
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
        kind: ValueKind::Choice(CopyRoutine::NAMES),
        default: "auto",
        help: "CPU copy routine: auto (fastest measured at boot) or a forced one",
    },
    KeySpec {
        name: "dma-split",
        kind: ValueKind::Choice(DmaSplit::NAMES),
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
