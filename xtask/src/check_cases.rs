//! The check suite as data: each QEMU case is a machine (edits of the default shape), how it
//! boots (`-kernel` or an ISO, serial port, QEMU version), kernel arguments, PTDMA model
//! arguments, the exit it must end with and the lines its serial log must hold. Entries that
//! are not one kernel boot (screen checks, Linux conformance boots, the KVM guest command,
//! QEMU 10.0) are run by check_groups.rs. Entries may belong to a group (`iso`,
//! `conformance`, `machines`): `check GROUP` runs all of it.

use kcore::honesty::Status;

use crate::exit::Exit;
use crate::machine::Via;
use crate::shape::{Shape, ShapeRequest};

/// A line a case's serial log must hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expect {
    /// The self-tests' closing line `N passed, M failed` with exactly these failures
    /// (and, when given, exactly these passes).
    Tests {
        /// Passed tests, if it matters.
        passed: Option<u64>,
        /// Failed tests.
        failed: u64,
    },
    /// A `RESULT` cell (report parser) with this logged status, of this engine if given.
    Cell {
        /// Engine name (`dma`, `cpu`, ...), or any.
        engine: Option<&'static str>,
        /// Logged status.
        status: Status,
    },
    /// The `RUN` line (report parser) has this status and counts at least one such cell.
    Run(Status),
    /// A line matching this regular expression (console text the kernel prints for people).
    Text(&'static str),
    /// No line matching this regular expression.
    NoText(&'static str),
}

/// What a case boots on: the default machine with these edits.
pub type Edit = fn(&mut ShapeRequest);

/// Kernel arguments or model arguments for a case, given its shape.
pub type Args = fn(&Shape) -> String;

/// A follow-up check on a case's log (its own result line).
#[derive(Debug, Clone, Copy)]
pub struct Then {
    /// The result's name.
    pub name: &'static str,
    /// What to check.
    pub what: ThenKind,
}

/// tools/report run on a case's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportCheck {
    /// Output directory under out/.
    pub dir: &'static str,
    /// Text report.md must hold.
    pub has: Option<&'static str>,
    /// Text report.md must not hold.
    pub lacks: Option<&'static str>,
    /// Files that must exist in the directory.
    pub files: &'static [&'static str],
}

/// Follow-up checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThenKind {
    /// The driver's doorbell count equals what the device model counted.
    Doorbells,
    /// Every `RESULT` line parses (report parser) and its string `key` matches `pattern`.
    EveryCell {
        /// The JSON key.
        key: &'static str,
        /// A regular expression its value must match.
        pattern: &'static str,
    },
    /// `smp: N of N CPUs online (x2APIC mode)` for all of the shape's CPUs.
    AllOnlineX2apic,
    /// More lines the log must (not) hold, then, if given, a report from the log that passes
    /// the report's verdict.
    Check {
        /// Expectations on the log.
        also: &'static [Expect],
        /// The report.
        report: Option<ReportCheck>,
    },
}

/// One QEMU case.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Name (`check NAME`; the log is out/check-NAME.log).
    pub name: &'static str,
    /// Edits of the default machine.
    pub edit: Option<Edit>,
    /// Kernel arguments.
    pub kargs: Args,
    /// PTDMA model arguments (space separated).
    pub model: Option<Args>,
    /// Exit the boot must end with.
    pub want: Exit,
    /// Lines the log must hold.
    pub expect: &'static [Expect],
    /// Another outcome that also passes: this exit with these lines (a feature forced on
    /// is used where the CPU has it, else refused with exit 6 naming it).
    pub alt: Option<(Exit, &'static [Expect])>,
    /// Console lines to print after the boot (regex), e.g. the topology.
    pub show: Option<&'static str>,
    /// Follow-up checks on the log.
    pub then: &'static [Then],
    /// `-kernel`, or an ISO under SeaBIOS or OVMF.
    pub via: Via,
    /// COM1 on stdio (`false`: `-serial none`).
    pub serial: bool,
    /// Boot on QEMU 10.0 (`get-qemu 10`) instead of the options' QEMU.
    pub qemu10: bool,
    /// Wall-clock limit instead of `--timeout`, seconds.
    pub timeout_s: Option<u64>,
    /// The group `check GROUP` runs it with.
    pub group: Option<&'static str>,
}

/// A screenshot of the framebuffer console: an ISO boot with `debug-exit=0` (the kernel
/// halts instead of ending QEMU), a QMP screendump once CPU 0 sits in its final halt, and
/// the non-background pixels counted.
#[derive(Debug, Clone, Copy)]
pub struct ScreenCase {
    /// Name (out/check-NAME.log, out/screen-NAME.ppm and .png).
    pub name: &'static str,
    /// SeaBIOS or OVMF.
    pub via: Via,
    /// COM1 on stdio.
    pub serial: bool,
    /// Edits of the default machine.
    pub edit: Option<Edit>,
    /// Text pixels at least.
    pub min_pixels: u64,
    /// Lines the serial log must hold.
    pub expect: &'static [Expect],
}

/// What an entry of the `machines` group checks besides boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineCheck {
    /// The KVM guest's command (`--dry-run`) against a fixture host: nodes bound, vCPUs
    /// pinned, the engine assigned, the binding passed to the kernel.
    KvmCommand,
    /// The KVM guest refused with what the fixture host lacks (exit 8).
    KvmRefusal,
    /// QEMU 10.0 from bookworm-backports (fetched into the cache on first use).
    GetQemu10,
    /// QEMU 10.0's emulated engines under TCG refused before QEMU crashes (exit 8).
    Qemu10Refusal,
}

/// The groups (`check GROUP`).
pub const GROUPS: [&str; 3] = ["conformance", "iso", "machines"];

/// An entry of the suite.
#[derive(Debug, Clone, Copy)]
pub enum Entry {
    /// cargo fmt, clippy and the host tests.
    Host,
    /// The QEMU status -> exit code table.
    ExitMap,
    /// A QEMU boot.
    Boot(Case),
    /// The fault suite (`faults`): its name, and the model arguments that pick the engine
    /// kind (none: PTDMA).
    FaultSuite(&'static str, &'static [&'static str]),
    /// The RAM-section arithmetic on shapes booted by hand, and the runner's refusal of a
    /// shape whose RAM the engines cannot reach (exit 2, naming a shape that works) and its
    /// acceptance of the shape it suggests.
    ProxyRam,
    /// A screenshot check (group `iso`).
    Screen(ScreenCase),
    /// Linux's ptdma driver and dmatest on the model (group `conformance`): the check's name
    /// and the case of `conformance`.
    Conformance(&'static str, crate::conformance::ConfCase),
    /// A check of the `machines` group that is not a boot of the kernel.
    Machine(&'static str, MachineCheck),
}

impl Entry {
    /// The name `check --list` shows and `check NAME` takes.
    pub fn name(&self) -> &'static str {
        match self {
            Entry::Host => "host",
            Entry::ExitMap => "exit-map",
            Entry::ProxyRam => "proxy-ram",
            Entry::Boot(c) => c.name,
            Entry::Screen(c) => c.name,
            Entry::FaultSuite(n, _) | Entry::Conformance(n, _) | Entry::Machine(n, _) => n,
        }
    }

    /// The group `check GROUP` runs it with.
    pub fn group(&self) -> Option<&'static str> {
        match self {
            Entry::Boot(c) => c.group,
            Entry::Screen(_) => Some("iso"),
            Entry::Conformance(..) => Some("conformance"),
            Entry::Machine(..) => Some("machines"),
            _ => None,
        }
    }
}

const PASSED: &[Expect] = &[Expect::Tests {
    passed: None,
    failed: 0,
}];
const OK_CELL: &[Expect] = &[Expect::Cell {
    engine: None,
    status: Status::Ok,
}];

fn selftest(s: &Shape) -> String {
    format!("test=all {}", s.expect_args())
}
fn none(_: &Shape) -> String {
    String::new()
}
/// Descriptors the kernel's first-use DMA probe sends before anything else (one page per
/// memory node plus the completion marker, on each PTDMA channel).
pub fn probe_descriptors(s: &Shape) -> u64 {
    u64::from(s.ptdma) * (u64::from(s.nodes) + 1)
}
/// Copies the kernel's first-use probe sends before anything else on the engines the
/// model arguments name (`--kind=` one kind or one per function, `--sdxi-max-cxt=`): the
/// model numbers faults over them. A PTDMA function counts as in [`probe_descriptors`];
/// an SDXI function probes each client context (the kernel uses at most
/// `SDXI_MAX_CONTEXTS` = 16 of them) with one copy per node, and the model counts copies
/// only (not the fenced no-op).
pub fn probe_copies(s: &Shape, model_args: &[String]) -> u64 {
    let arg = |key: &str| model_args.iter().rev().find_map(|a| a.strip_prefix(key));
    let kinds: Vec<&str> = arg("--kind=").map_or_else(Vec::new, |l| l.split(',').collect());
    let contexts = arg("--sdxi-max-cxt=")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(u64::from(ptdma_model::sdxi::options::DEFAULT_MAX_CXT))
        .min(16);
    let nodes = u64::from(s.nodes);
    (0..s.ptdma as usize)
        .map(|f| {
            let kind = match kinds.as_slice() {
                [one] => one,
                list => list.get(f).copied().unwrap_or("ptdma"),
            };
            if kind == "sdxi" {
                contexts * nodes
            } else {
                nodes + 1
            }
        })
        .sum()
}
/// SDXI model arguments with one client context per function and `fault` on the fifth
/// copy after the probe: the model counts DSC_DMAB_COPY descriptors only, and each
/// function's one channel probes with one copy per node (its no-op is not counted).
fn sdxi_fault(fault: &str, s: &Shape) -> String {
    let probe_copies = u64::from(s.ptdma) * u64::from(s.nodes);
    format!(
        "--kind=sdxi --sdxi-max-cxt=1 --fault={fault}={}",
        probe_copies + 5
    )
}
/// The NUMA self-tests of the big shapes, with what the runner built.
fn numa_tests(s: &Shape) -> String {
    format!(
        "test=numa_farthest_nodes_by_slit_migrate,numa_cpuless_node_as_source_and_destination,platform_matches_runner,dma_engines_match_runner {}",
        s.expect_args()
    )
}
/// 2 CPUs, 2 engines, a chain SLIT and `nodes` nodes of `mib` MiB: the last nodes have no CPUs.
fn big_numa(r: &mut ShapeRequest, nodes: u32, mib: u64) {
    (r.cpus, r.ptdma, r.numa_dist) = (Some(2), 2, crate::shape::NumaDist::Line);
    (r.nodes, r.mem_per_node_mib) = (nodes, mib);
}
/// 4 vCPUs and 4 emulated engines (the streams boots).
fn four_engines(r: &mut ShapeRequest) {
    (r.cpus, r.ptdma) = (Some(4), 4);
}
fn smp_shape(r: &mut ShapeRequest, s: u32, d: u32, c: u32, t: u32) {
    (r.sockets, r.dies, r.cores, r.threads) = (Some(s), Some(d), Some(c), Some(t));
    r.cpus = None;
    r.cpu_model = "EPYC-Milan,level=0x1f".into();
    r.ptdma = 0;
}

/// One CPU, no engines (the UEFI boots).
fn one_cpu_no_dma(r: &mut ShapeRequest) {
    (r.sockets, r.dies, r.cores, r.threads) = (None, None, None, None);
    (r.cpus, r.ptdma) = (Some(1), 0);
}
/// An AMD shape with x2APIC on, no engines (QEMU 10.0 under TCG).
fn x2apic_shape(r: &mut ShapeRequest, s: u32, d: u32, c: u32, t: u32) {
    smp_shape(r, s, d, c, t);
    r.cpu_model = "EPYC-Milan,level=0x1f,x2apic=on".into();
}
const CONF: [crate::conformance::ConfCase; 3] = crate::conformance::CASES;

macro_rules! case {
    ($name:expr, $want:expr, $kargs:expr, [$($e:expr),* $(,)?] $(, edit = $edit:expr)? $(, model = $model:expr)? $(, show = $show:expr)? $(, then = $then:expr)? $(, alt = $alt:expr)? $(, via = $via:expr)? $(, serial = $serial:expr)? $(, qemu10 = $q10:expr)? $(, timeout = $to:expr)? $(, group = $group:expr)?) => {
        Entry::Boot(Case {
            name: $name,
            edit: { #[allow(unused_mut, unused_assignments)] let mut e: Option<Edit> = None; $(e = Some($edit);)? e },
            kargs: $kargs,
            model: { #[allow(unused_mut, unused_assignments)] let mut m: Option<Args> = None; $(m = Some($model);)? m },
            want: $want,
            expect: const { &[$($e),*] },
            alt: { #[allow(unused_mut, unused_assignments)] let mut a: Option<(Exit, &'static [Expect])> = None; $(a = Some($alt);)? a },
            show: { #[allow(unused_mut, unused_assignments)] let mut s: Option<&'static str> = None; $(s = Some($show);)? s },
            then: { #[allow(unused_mut, unused_assignments)] let mut t: &'static [Then] = &[]; $(t = $then;)? t },
            via: { #[allow(unused_mut, unused_assignments)] let mut v = Via::Kernel; $(v = $via;)? v },
            serial: { #[allow(unused_mut, unused_assignments)] let mut s = true; $(s = $serial;)? s },
            qemu10: { #[allow(unused_mut, unused_assignments)] let mut q = false; $(q = $q10;)? q },
            timeout_s: { #[allow(unused_mut, unused_assignments)] let mut t: Option<u64> = None; $(t = Some($to);)? t },
            group: { #[allow(unused_mut, unused_assignments)] let mut g: Option<&'static str> = None; $(g = Some($group);)? g },
        })
    };
}

const DMA_FAULT: &str = "test=dma_fault_recovery dma-timeout-ms=300";
const Q: &str =
    "bench=setup,auto,placement,pollution,load,cycles total=2m reps=1 size=4k,2m widths=1,2";
const F: &str = "bench=frontier total=2m reps=1 dma-min-batch=16k size=mix:64k=50%,4k=50% batch=auto:unmapped-us=500";

/// The whole suite, in the order it runs.
pub fn suite() -> Vec<Entry> {
    use Exit::{BadInput, Exception, Invalid, Ok as Fine, Panic, Test, Watchdog};
    use Expect::{Cell, NoText, Run, Tests, Text};
    vec![
        Entry::Host,
        case!("selftest", Fine, selftest, [PASSED[0]], then = &[Then { name: "doorbells and descriptors: driver vs device model", what: ThenKind::Doorbells }]),
        Entry::ExitMap,
        Entry::ProxyRam,
        case!("straddling-node-dma", Fine, |_| "migrate engine=dma size=2m total=16m reps=1 from=4 to=5".into(), [Cell { engine: Some("dma"), status: Status::Ok }], edit = |r| { r.nodes = 7; r.mem_per_node_mib = 448; }),
        case!("shape-4-nodes", Fine, selftest, [PASSED[0]], edit = |r| { r.cpus = Some(4); r.nodes = 4; r.mem_per_node_mib = 256; r.ptdma = 4; }),
        case!("ae4dma", Fine, selftest, [PASSED[0]], model = |_| "--kind=ae4dma".into(), then = &[Then { name: "doorbells and descriptors: AE4DMA driver vs device model", what: ThenKind::Doorbells }]),
        // SNIA SDXI (issue 22): the self-tests on two SDXI functions (7 contexts each) with
        // the driver/model doorbell cross-check (admin doorbells included on both sides).
        case!("sdxi", Fine, selftest, [PASSED[0]], model = |_| "--kind=sdxi".into(), then = &[Then { name: "doorbells and descriptors: SDXI driver vs device model", what: ThenKind::Doorbells }]),
        case!("default-run", Fine, none, [Text("foliomove: exit success")]),
        case!("kernel-help", Fine, |_| "help".into(), [Text("test +default")]),
        case!("bad-key", BadInput, |_| "bogus=1".into(), [Text("unknown key 'bogus'")]),
        case!("bad-value", BadInput, |_| "reboot=maybe".into(), [Text("bad value for 'reboot'")]),
        case!("unknown-test", BadInput, |_| "test=no_such_test".into(), [Text("no self-test matches")]),
        case!("failing-test", Test, |_| "test=selftest_must_fail".into(), [Tests { passed: Some(0), failed: 1 }]),
        case!("cpu-exception", Exception, |_| "test=fault_page_fault".into(), [Text("#PF page fault.*")]),
        case!("panic", Panic, |_| "test=fault_panic".into(), [Text("PANIC at .*fault_panic fixture")]),
        case!("watchdog", Watchdog, |_| "test=watchdog_stuck_worker_fixture watchdog-s=2".into(), [Text("cpu 1 apic 1 Running: .*NMI RIP 0x")]),
        case!("smp-4cpu", Fine, selftest, [PASSED[0]], edit = |r| smp_shape(r, 1, 2, 2, 1), show = "^(smp|topology):"),
        case!("smp-8cpu", Fine, selftest, [PASSED[0]], edit = |r| smp_shape(r, 2, 2, 2, 1), show = "^(smp|topology):"),
        case!("dma-error", Fine, |_| DMA_FAULT.into(), [Text("IDMA0_AXI_SLVERR.*4/8 ops done")], model = |s| format!("--fault=error-at={}", probe_descriptors(s) + 5)),
        case!("dma-error-recovered", Fine, |_| DMA_FAULT.into(), [Text("queue usable again")], model = |s| format!("--fault=error-at={}", probe_descriptors(s) + 5)),
        case!("dma-halted-queue", Fine, |_| DMA_FAULT.into(), [Text("queue usable again")], model = |s| format!("--fault=halt-at={}", probe_descriptors(s) + 5)),
        case!("dma-stuck-queue", Fine, |_| DMA_FAULT.into(), [Text("queue usable again")], model = |s| format!("--fault=stuck-at={}", probe_descriptors(s) + 5)),
        case!("dma-device-gone", Fine, |_| DMA_FAULT.into(), [Text("channel retired")], model = |s| format!("--fault=vanish-at={}", probe_descriptors(s) + 5)),
        // The fault suite on SDXI (one client context per function), the error decoded from
        // the error log.
        case!("sdxi-error", Fine, |_| DMA_FAULT.into(), [Text(r"SDXI: error log: step [A-Za-z]+/[A-Za-z]+ context 1 descriptor [0-9]+ buffer 1, ContextStopped, class 0x13, vendor\[0\] [0-9]+, batch 1: 0/8 ops done"), Text("queue usable again")], model = |s| sdxi_fault("error-at", s)),
        // The other reading of every point the SDXI facts leave UNSURE, at once: the
        // driver is written to work with both.
        case!("sdxi-other-readings", Fine, selftest, [PASSED[0]],
            model = |_| "--kind=sdxi --sdxi-signal=clear --sdxi-read-index=fetch --sdxi-resume=doorbell --sdxi-client-start=software".into()),
        // A machine with both kinds: dma-kind=sdxi keeps the SDXI function's channels only,
        // and the cell names its kind.
        case!("sdxi-beside-ptdma", Fine, |_| "migrate engine=dma dma-kind=sdxi size=2m total=8m reps=1".into(),
            [Text(r"^dma: PTDMA [0-9a-f:.]+ not used: dma-kind=sdxi was given"), Text(r#""dma_kind":"sdxi""#), OK_CELL[0]],
            edit = |r| r.ptdma = 2, model = |_| "--kind=ptdma,sdxi".into()),
        // The seed's table 1b on two SDXI functions, every cell verified, the report naming SDXI.
        case!("sdxi-bench-1b", Fine, |_| "bench=1b total=2m reps=1 counts=1,8 size=4k,2m".into(), [OK_CELL[0], NoText("FAILED")],
            model = |_| "--kind=sdxi".into(),
            then = &[Then { name: "sdxi: report names the engine kind", what: ThenKind::Check { also: &[], report: Some(ReportCheck { dir: "report-sdxi", has: Some("SNIA SDXI 1.0"), lacks: Some("The RUN line counts"), files: &[] }) } }]),
        case!("sdxi-halted-function", Fine, |_| DMA_FAULT.into(), [Text("FunctionStopped"), Text("queue usable again")], model = |s| sdxi_fault("halt-at", s)),
        case!("sdxi-stuck-context", Fine, |_| DMA_FAULT.into(), [Text("DMA timeout at slot"), Text("queue usable again")], model = |s| sdxi_fault("stuck-at", s)),
        case!("sdxi-device-gone", Fine, |_| DMA_FAULT.into(), [Text("channel retired")], model = |s| sdxi_fault("vanish-at", s)),
        case!("dma-probe-retires", Fine, |_| "test=dma_engines_match_runner".into(), [Text("retired: it cannot reach guest RAM.*engine=dma will not use it")], model = |_| "--fault=error-at=1".into()),
        case!("exact-node", BadInput, |_| "migrate to=5 size=2m total=8m reps=1".into(), [Text(r"to=5: node 5 has no memory \(nodes with memory: \[0, 1\]; nodes with CPUs: \[0, 1\]\)")]),
        case!("exact-widths", BadInput, |_| "bench=1a widths=1,2,4 size=2m total=4m reps=1".into(), [Text(r"widths=1,2,4: \[4\] exceed the 2 online CPU")]),
        case!("plan-does-not-fit", BadInput, |_| "migrate size=4k total=2g reps=1".into(), [Text("does not fit: 524288 x 4 KiB folios node 0->1 needs [0-9]+ MiB on node 0, [0-9]+ MiB free there")]),
        case!("total-not-whole-folios", BadInput, |_| "migrate size=2m total=3m reps=1".into(), [Text("not a whole number of 2048 KiB folios; use 2097152 or 4194304")]),
        case!("dma-invalid", Invalid, |_| "migrate engine=dma size=64k total=8m reps=2".into(), [Cell { engine: Some("dma"), status: Status::Invalid }],
            model = |s| format!("--fault=vanish-at={}", probe_descriptors(s) + 10),
            then = &[Then { name: "invalid DMA cell: RUN status and the INVALID line", what: ThenKind::Check { also: &[Run(Status::Invalid), Text("^!!! INVALID in migrate")], report: None } }]),
        case!("dma-degraded", Fine, |_| "migrate engine=dma size=2m total=128m reps=2".into(), [Cell { engine: Some("dma"), status: Status::Degraded }], model = |s| format!("--fault=error-at={}", probe_descriptors(s) + 41)),
        case!("migrate-dma-fault", Fine, |_| "test=migrate_dma_fault_falls_back_to_cpu".into(), [Text(r"verified, [0-9]+ op\(s\) copied by the CPU")], model = |_| "--fault=error-at=40".into()),
        case!("migrate-dma-corruption", Fine, |_| "test=migrate_dma_corruption_detected".into(), [Text("corruption detected by verification")], model = |_| "--fault=corrupt-at=10".into()),
        case!("bench-efficiency", Fine, |_| "bench=efficiency total=4m reps=2".into(), [OK_CELL[0]],
            then = &[Then { name: "every RESULT line records PCID/INVPCID/AVX-512", what: ThenKind::EveryCell { key: "features", pattern: r"^PCID [a-z]* \([^)]*\), INVPCID" } },
                Then { name: "report from the benchmark log", what: ThenKind::Check { also: &[], report: Some(ReportCheck { dir: "report-check", has: None, lacks: None, files: &[] }) } }]),
        case!("bench-seed-tables", Fine, |_| "bench=1a,1b,2a,2b,3a,3b total=2m reps=1 counts=1,8 size=4k,2m widths=1,2".into(), [OK_CELL[0]],
            then = &[Then { name: "seed tables beside ours in the report", what: ThenKind::Check { also: &[], report: Some(ReportCheck { dir: "report-seed", has: Some("11.79 ± 0.05"), lacks: None, files: &[] }) } }]),
        case!("bench-questions", Fine, |_| Q.into(), [OK_CELL[0]],
            then = &[Then { name: "question experiments: tables, no failed cell, report, cell counts agree", what: ThenKind::Check { also: &[
                Text(r"^setup\. Copy cost model"), Text(r"^auto\. Per-batch choice"), Text(r"^placement\. Workers"),
                Text(r"^pollution\. Victim"), Text(r"^load\. Migration under"), Text(r"^cycles\. CPU cycles"), NoText("FAILED"),
            ], report: Some(ReportCheck { dir: "report-questions", has: None, lacks: Some("The RUN line counts"), files: &[] }) } }]),
        case!("bench-frontier", Fine, |_| F.into(), [OK_CELL[0]],
            then = &[Then { name: "frontier: tables, declined batches, ceiling and latency keys, report with plots", what: ThenKind::Check { also: &[
                Text(r"^frontier 1\. Copy ceiling"), Text(r"^frontier 3\. DMA split"), Text(r"^frontier 4\. Declined"),
                Text(r"^frontier 5\. Mixed"), Text(r"^frontier 6\. Latency"), Text("batch=auto:unmapped-us=500 for cpu"),
                Text(r#""declined_batches":[1-9]"#), Text(r#""pct_of_ceiling":[0-9]"#), Text(r#""unmapped_us":\{"p50""#), NoText("FAILED"),
            ], report: Some(ReportCheck { dir: "report-frontier", has: None, lacks: Some("The RUN line counts"), files: &["frontier-split.png", "frontier-latency.png"] }) } }]),
        // Several migrations at once (issue 19), 4 vCPUs and 4 engines: three streams with
        // cpu, dma under each admission policy, and auto, every stream verified; a short
        // appcost run; a descriptor error in one engine mid-run (no completion markers, so
        // it lands on a data copy): only the stream that leased it falls back.
        case!("bench-streams", Fine, |_| "bench=streams streams=3 size=64k total=4m batch=64 reps=1".into(), [OK_CELL[0]], edit = four_engines,
            then = &[Then { name: "streams: every engine and policy, every stream verified, report", what: ThenKind::Check { also: &[
                Text(r"^ +3 \| cpu +\| - "), Text(r"^ +3 \| dma +\| wait "), Text(r"^ +3 \| dma +\| cpu "),
                Text(r"^ +3 \| dma +\| mixed "), Text(r"^ +3 \| auto +\| wait "), Text(r#""admission":\{"asked":[1-9]"#),
                NoText(r"FAILED|\| +NO \|"),
            ], report: Some(ReportCheck { dir: "report-streams", has: None, lacks: Some("The RUN line counts"), files: &[] }) } }]),
        case!("bench-appcost", Fine, |_| "bench=appcost streams=2 size=64k total=8m batch=64 reps=1".into(),
            [Text(r"^ +2 \| dma +\| +[0-9.]+ \| [0-9.]+ ns .*\| yes")], edit = four_engines),
        // A stream count the CPUs cannot carry is refused before anything is calibrated.
        case!("streams-too-many", BadInput, |_| "bench=streams streams=3".into(),
            [Text(r"^bad input: 3 stream\(s\) need 3 CPU\(s\); 2 are free for streams"), NoText("calibrating")]),
        case!("streams-fault", Fine, |_| "bench=streams streams=3 engine=dma dma-admit=wait channels=1 dma-marker=0 size=64k total=16m batch=64 reps=1".into(),
            [Text(r"channel\(s\) \[[0-9]+\] failed in stream\(s\) \[[0-9]+\] .*; 2 of 3 stream\(s\) never met a failed channel")],
            edit = four_engines, model = |s| format!("--fault=error-at={}", probe_descriptors(s) + 201)),
        Entry::FaultSuite("faults", &[]),
        // The same five faults on two SDXI functions of seven client contexts each.
        Entry::FaultSuite("faults-sdxi", &["--kind=sdxi"]),
        // Linux 6.12's own ptdma driver and dmatest on the model, 1 and 4 engines, and an
        // injected descriptor error (the Linux build is cached).
        Entry::Conformance("conformance-1-engine", CONF[0]),
        Entry::Conformance("conformance-4-engines", CONF[1]),
        Entry::Conformance("conformance-descriptor-error", CONF[2]),
        case!("soak", Fine, |_| "soak=60 dma-timeout-ms=500".into(), [Text(r#""data_errors":0,"leaked_frames":0"#)],
            model = |_| "--fault=error-at=300 --fault=halt-at=3000 --fault=stuck-at=9000".into()),
        case!("no-dma-engine", Fine, |_| "test=dma_engines_match_runner expect-ptdma=0".into(), [Text("no DMA engine: the DMA copy engine is unavailable")], edit = |r| r.ptdma = 0),
        case!("console-missing-uart", Fine, |_| "console=ttyS1".into(), [Text("no UART answers at 0x2f8.*keeping")], edit = |r| r.ptdma = 0),
        case!("console-bad-value", BadInput, |_| "console=ttyS9".into(), [Text("bad value for 'console'")], edit = |r| r.ptdma = 0),
        // The ISO boots under SeaBIOS and OVMF to the same self-test result as `-kernel`.
        // OVMF parks the other CPUs in a busy loop after ExitBootServices (SeaBIOS halts
        // them): under TCG on 2 host cores that steals the time the TSC self-test measures,
        // so the UEFI boots get one CPU.
        case!("iso-bios", Fine, selftest, [PASSED[0], Text("^loader: Multiboot2")], edit = |r| r.ptdma = 0, via = Via::Iso, group = "iso"),
        case!("iso-uefi", Fine, selftest, [PASSED[0], Text("^loader: Multiboot2")], edit = one_cpu_no_dma, via = Via::Uefi, group = "iso"),
        // The screen: a default run under OVMF, then a screendump of what the kernel drew.
        // The run fills the 48-row console (60-80k text pixels); GRUB's full menu screen has
        // ~25k but at another resolution, and with timeout=0 GRUB does not draw it.
        Entry::Screen(ScreenCase { name: "screen-uefi", via: Via::Uefi, serial: true, edit: Some(one_cpu_no_dma), min_pixels: 20000, expect: &[Text("foliomove: exit success")] }),
        // No serial port, no PTDMA: the run still ends in success (nothing on serial) and
        // the screen has it.
        case!("no-serial", Fine, |_| "test=all expect-ptdma=0".into(), [NoText(".")], edit = |r| r.ptdma = 0, via = Via::Iso, serial = false, group = "iso"),
        Entry::Screen(ScreenCase { name: "screen-no-serial", via: Via::Iso, serial: false, edit: Some(|r| r.ptdma = 0), min_pixels: 20000, expect: &[] }),
        case!("features-off", Fine, |_| "test=smp_every_madt_cpu_online pcid=off invpcid=off avx512=off".into(),
            [Text(r"features: PCID off \(forced.*INVPCID off \(forced.*AVX-512 off \(forced")], edit = |r| r.ptdma = 0),
        case!("features-pcid-on", Fine, |_| "test=smp_every_madt_cpu_online pcid=on".into(),
            [Text(r"features: .*PCID[^,]* on \(forced\)")], edit = |r| r.ptdma = 0,
            alt = (BadInput, &[Text("bad input: pcid=on, but this CPU has no")])),
        case!("features-avx512-on", Fine, |_| "test=smp_every_madt_cpu_online avx512=on".into(),
            [Text(r"features: .*AVX-512 on \(forced\)")], edit = |r| r.ptdma = 0,
            alt = (BadInput, &[Text("bad input: avx512=on, but this CPU has no")])),
        case!("numa-8-nodes-dma", Fine, numa_tests, [Text(r"numa: farthest memory nodes by SLIT: 0 and 7 \(distance 80\)")],
            edit = |r| big_numa(r, 8, 256),
            then = &[Then { name: "8 nodes with DMA: CPU-less nodes 2..7 migrated onto and off", what: ThenKind::Check {
                also: &[Text(r"numa: node 7 \(no CPUs\): migrations onto and off it verified"), Tests { passed: Some(4), failed: 0 }], report: None } }]),
        case!("numa-68g-dma", Fine, numa_tests, [Text(r"numa: node 3 \(no CPUs\): .*\(above 64 GiB\)")],
            edit = |r| big_numa(r, 4, 17408),
            then = &[Then { name: "68 GiB guest: farthest pair 0-3, 1 GiB direct-map pages, all passed", what: ThenKind::Check {
                also: &[Text(r"numa: farthest memory nodes by SLIT: 0 and 3 \(distance 40\)"), Text(r"^paging: .* ([1-9][0-9]*) GiB in 1G pages"), Tests { passed: Some(4), failed: 0 }], report: None } }]),
        // The KVM guest command against a fixture host (issue 20), and QEMU 10.0: the
        // self-tests, and boots QEMU 7.2's TCG cannot do: x2APIC mode on a small shape, and a
        // 288-vCPU two-socket shape (2 x 9 L3 domains x 8 cores x 2 threads) whose second
        // socket has APIC IDs 256..399 (every CPU online, the topology tree equal to the
        // shape, the dispatch and shootdown self-tests on all CPUs); QEMU 10.0's emulated
        // engines under TCG refused.
        Entry::Machine("kvm-command", MachineCheck::KvmCommand),
        Entry::Machine("kvm-refusal", MachineCheck::KvmRefusal),
        Entry::Machine("qemu10-get", MachineCheck::GetQemu10),
        case!("qemu10-selftest", Fine, selftest, [PASSED[0]], edit = |r| r.ptdma = 0, qemu10 = true, group = "machines"),
        case!("smp-x2apic-4cpu", Fine, selftest, [PASSED[0]], edit = |r| x2apic_shape(r, 2, 2, 1, 1), show = "^smp: .*(online|bring-up)",
            then = &[Then { name: "smp-x2apic-4cpu: every CPU online in x2APIC mode", what: ThenKind::AllOnlineX2apic }], qemu10 = true, timeout = 900, group = "machines"),
        case!("smp-288cpu", Fine, selftest, [PASSED[0]], edit = |r| x2apic_shape(r, 2, 9, 8, 2), show = "^smp: .*(online|bring-up)",
            then = &[Then { name: "smp-288cpu: every CPU online in x2APIC mode", what: ThenKind::AllOnlineX2apic }], qemu10 = true, timeout = 900, group = "machines"),
        Entry::Machine("qemu10-refusal", MachineCheck::Qemu10Refusal),
    ]
}

#[cfg(test)]
#[path = "check_cases_tests.rs"]
mod tests;
