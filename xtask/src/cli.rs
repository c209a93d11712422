//! The runner's command line, as `./run-qemu.sh` has always taken it: options and one command
//! in any order, then `-- kernel-cmdline...`. clap splits the words; [`Options::from_cli`]
//! checks every value once, with the messages users know (exit 2 on any of them).

use std::fmt;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Parser;

use crate::shape::{
    NumaDist, ShapeRequest, MAX_NODES, MAX_PTDMA, MAX_TOPO_LEVEL, MAX_VCPUS, MIN_NODE_MIB,
};

/// `--help` text (the same as the former bash runner's).
pub const HELP: &str = include_str!("help.txt");

/// The benchmark list of `--help`, from the kernel's registry (`kcore::bench`).
pub fn bench_list() -> String {
    use kcore::bench::{DmaUse, ALL_WORD, BENCHES};
    let mut s =
        String::from("\nBenchmarks (bench EXP; from the kernel's registry, kcore::bench):\n");
    for b in BENCHES {
        let dma = if b.dma == DmaUse::Required {
            " [needs DMA]"
        } else {
            ""
        };
        s.push_str(&format!("  {:<11}{}{dma}\n", b.bench.name(), b.summary));
    }
    s.push_str(&format!(
        "  {ALL_WORD:<11}every benchmark above (those that need DMA are skipped without it)\n"
    ));
    s
}

/// The words as clap splits them; values stay text until [`Options::from_cli`].
#[derive(Parser, Debug, Default)]
#[command(
    name = "run-qemu.sh",
    disable_help_flag = true,
    disable_version_flag = true,
    disable_help_subcommand = true,
    args_override_self = true
)]
pub struct Cli {
    #[arg(long)]
    cpus: Option<String>,
    #[arg(long)]
    sockets: Option<String>,
    #[arg(long)]
    dies: Option<String>,
    #[arg(long)]
    cores: Option<String>,
    #[arg(long)]
    threads: Option<String>,
    #[arg(long)]
    nodes: Option<String>,
    #[arg(long = "numa-dist")]
    numa_dist: Option<String>,
    #[arg(long = "mem-per-node")]
    mem_per_node: Option<String>,
    #[arg(long = "cpu")]
    cpu: Option<String>,
    #[arg(long)]
    ptdma: Option<String>,
    #[arg(long = "ptdma-arg", allow_hyphen_values = true)]
    ptdma_arg: Vec<String>,
    #[arg(long)]
    sdxi: Option<String>,
    #[arg(long)]
    qemu: Option<String>,
    #[arg(long = "host-nodes")]
    host_nodes: Option<String>,
    #[arg(long)]
    hugepages: bool,
    #[arg(long)]
    vfio: Option<String>,
    #[arg(long)]
    accel: Option<String>,
    #[arg(long)]
    timeout: Option<String>,
    #[arg(long)]
    debug: bool,
    #[arg(long = "dry-run")]
    dry_run: bool,
    #[arg(long)]
    iso: bool,
    #[arg(long)]
    uefi: bool,
    #[arg(short = 'h', long = "help")]
    help: bool,
    /// `check --list`.
    #[arg(long)]
    list: bool,
    /// The command and its operand (`soak MIN`, `bench EXP`, `get-qemu V`).
    words: Vec<String>,
    /// Appended to the kernel command line.
    #[arg(last = true)]
    kargs: Vec<String>,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Boot and run the default job (or the kernel arguments given).
    Run,
    /// The in-kernel self-tests.
    Test,
    /// Each injected DMA fault during a real migration.
    Faults,
    /// Random verified migrations for this many minutes.
    Soak(u64),
    /// Benchmarks (comma list).
    Bench(String),
    /// Everything CI runs, or the one case or group named.
    Check(Option<String>),
    /// Build out/foliomove.iso.
    Iso,
    /// Download QEMU of this major version.
    GetQemu(String),
    /// Linux's ptdma driver and dmatest against the model.
    Conformance,
    /// Print the help text.
    Help,
}

/// `--accel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// KVM only on a real VT-x/AMD-V host.
    Auto,
    /// Always TCG.
    Tcg,
    /// Always KVM.
    Kvm,
}

/// Every option, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The machine asked for (validated as a whole by `Shape::new`).
    pub shape: ShapeRequest,
    /// `--ptdma-arg`s, in order.
    pub model_args: Vec<String>,
    /// `--qemu`.
    pub qemu: Option<String>,
    /// `--accel`.
    pub accel: Accel,
    /// `--host-nodes`.
    pub host_nodes: Option<String>,
    /// `--hugepages`.
    pub hugepages: bool,
    /// `--vfio`.
    pub vfio: Option<String>,
    /// `--timeout`, seconds.
    pub timeout_s: u64,
    /// `--debug`: a debug build of the kernel.
    pub debug: bool,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--iso` (or `--uefi`).
    pub iso: bool,
    /// `--uefi`.
    pub uefi: bool,
    /// The command.
    pub command: Command,
    /// Words after `--`.
    pub kargs: Vec<String>,
    /// `check --list`.
    pub list: bool,
}

/// A usage error: printed as `run-qemu.sh: MESSAGE` plus a pointer to `--help`, exit 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage(msg: impl Into<String>) -> UsageError {
    UsageError(msg.into())
}

/// A whole number as the former bash runner took it (`^[0-9]+$`), else `None`.
fn uint(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// A whole number in `lo..=hi`, or the message `MSG, got 'VALUE'`.
fn ranged(opt: &str, v: &str, lo: u64, hi: u64, msg: &str) -> Result<u64, UsageError> {
    if v.is_empty() {
        return Err(usage(format!("option {opt} needs a value")));
    }
    uint(v)
        .filter(|n| (lo..=hi).contains(n))
        .ok_or_else(|| usage(format!("{msg}, got '{v}'")))
}

fn nonempty(opt: &str, v: Option<String>) -> Result<Option<String>, UsageError> {
    match v {
        Some(s) if s.is_empty() => Err(usage(format!("option {opt} needs a value"))),
        v => Ok(v),
    }
}

/// Parses `args` (without the program name).
///
/// # Errors
/// [`UsageError`] for an unknown option or command, a missing value or one out of range.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Options, UsageError> {
    let cli = Cli::try_parse_from(std::iter::once("run-qemu.sh".to_string()).chain(args))
        .map_err(clap_usage)?;
    Options::from_cli(cli)
}

/// A clap error in the runner's words.
fn clap_usage(e: clap::Error) -> UsageError {
    let ctx = |k| match e.get(k) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    match e.kind() {
        ErrorKind::UnknownArgument => {
            usage(format!("unknown option '{}'", ctx(ContextKind::InvalidArg)))
        }
        ErrorKind::InvalidValue | ErrorKind::NoEquals => {
            let arg = ctx(ContextKind::InvalidArg);
            let opt = arg.split_whitespace().next().unwrap_or("").to_string();
            usage(format!("option {opt} needs a value"))
        }
        _ => usage(
            e.to_string()
                .lines()
                .next()
                .unwrap_or("bad arguments")
                .trim_start_matches("error: ")
                .to_string(),
        ),
    }
}

impl Options {
    fn help() -> Options {
        Options {
            shape: ShapeRequest::default(),
            model_args: Vec::new(),
            qemu: None,
            accel: Accel::Auto,
            host_nodes: None,
            hugepages: false,
            vfio: None,
            timeout_s: 600,
            debug: false,
            dry_run: false,
            iso: false,
            uefi: false,
            command: Command::Help,
            kargs: Vec::new(),
            list: false,
        }
    }

    /// Checks every value of `cli`.
    ///
    /// # Errors
    /// [`UsageError`] naming the first bad value.
    pub fn from_cli(cli: Cli) -> Result<Options, UsageError> {
        let mut o = Options::help();
        o.command = command(&cli.words)?;
        if cli.help || o.command == Command::Help {
            return Ok(Options::help());
        }
        if let Some(v) = cli.cpus {
            let m = format!("--cpus takes 1..{MAX_VCPUS}");
            o.shape.cpus = Some(ranged("--cpus", &v, 1, MAX_VCPUS.into(), &m)? as u32);
        }
        let lvl = |opt: &str, v: Option<String>| -> Result<Option<u32>, UsageError> {
            v.map(|v| {
                let m = format!("{opt} takes 1..{MAX_TOPO_LEVEL}");
                ranged(opt, &v, 1, MAX_TOPO_LEVEL.into(), &m).map(|n| n as u32)
            })
            .transpose()
        };
        o.shape.sockets = lvl("--sockets", cli.sockets)?;
        o.shape.dies = lvl("--dies", cli.dies)?;
        o.shape.cores = lvl("--cores", cli.cores)?;
        o.shape.threads = lvl("--threads", cli.threads)?;
        if let Some(v) = cli.nodes {
            let m = format!("--nodes takes 1..{MAX_NODES} (the proxy maps at most 8 RAM sections)");
            o.shape.nodes = ranged("--nodes", &v, 1, MAX_NODES.into(), &m)? as u32;
        }
        if let Some(v) = nonempty("--numa-dist", cli.numa_dist)? {
            o.shape.numa_dist = match v.as_str() {
                "none" => NumaDist::None,
                "line" => NumaDist::Line,
                _ => return Err(usage(format!("--numa-dist takes none|line, got '{v}'"))),
            };
        }
        if let Some(v) = cli.mem_per_node {
            let m = format!("--mem-per-node takes MiB >= {MIN_NODE_MIB}");
            o.shape.mem_per_node_mib = ranged("--mem-per-node", &v, MIN_NODE_MIB, u64::MAX, &m)?;
        }
        if let Some(v) = nonempty("--cpu", cli.cpu)? {
            o.shape.cpu_model = v;
        }
        let ptdma_given = cli.ptdma.is_some();
        if let Some(v) = cli.ptdma {
            let m = format!("--ptdma takes 0..{MAX_PTDMA}");
            o.shape.ptdma = ranged("--ptdma", &v, 0, MAX_PTDMA.into(), &m)? as u32;
        }
        for a in &cli.ptdma_arg {
            if a.is_empty() {
                return Err(usage("option --ptdma-arg needs a value"));
            }
        }
        o.model_args = cli.ptdma_arg;
        if let Some(v) = cli.sdxi {
            let m = format!("--sdxi takes 0..{MAX_PTDMA}");
            let n = ranged("--sdxi", &v, 0, MAX_PTDMA.into(), &m)? as u32;
            if n > 0 {
                if o.model_args.iter().any(|a| a.starts_with("--kind")) {
                    return Err(usage(
                        "--sdxi N sets the model's kinds: drop --ptdma-arg=--kind",
                    ));
                }
                // SDXI functions replace the default PTDMA ones; with `--ptdma M` given,
                // the machine has both kinds: M PTDMA functions first, then N SDXI.
                let ptdma = if ptdma_given { o.shape.ptdma } else { 0 };
                if ptdma + n > MAX_PTDMA {
                    return Err(usage(format!(
                        "--ptdma {ptdma} and --sdxi {n}: at most {MAX_PTDMA} engine functions in all"
                    )));
                }
                let kinds: Vec<&str> = core::iter::repeat_n("ptdma", ptdma as usize)
                    .chain(core::iter::repeat_n("sdxi", n as usize))
                    .collect();
                o.shape.ptdma = ptdma + n;
                let kind = if ptdma == 0 {
                    "--kind=sdxi".to_string()
                } else {
                    format!("--kind={}", kinds.join(","))
                };
                o.model_args.insert(0, kind);
            }
        }
        o.qemu = nonempty("--qemu", cli.qemu)?;
        if let Some(v) = nonempty("--host-nodes", cli.host_nodes)? {
            let ok = v.split(',').all(|p| uint(p).is_some());
            if !ok {
                return Err(usage(format!(
                    "--host-nodes takes host node numbers A,B,..., got '{v}'"
                )));
            }
            o.host_nodes = Some(v);
        }
        o.hugepages = cli.hugepages;
        o.vfio = nonempty("--vfio", cli.vfio)?;
        if let Some(v) = nonempty("--accel", cli.accel)? {
            o.accel = match v.as_str() {
                "auto" => Accel::Auto,
                "tcg" => Accel::Tcg,
                "kvm" => Accel::Kvm,
                _ => return Err(usage(format!("--accel takes auto|tcg|kvm, got '{v}'"))),
            };
        }
        if let Some(v) = cli.timeout {
            o.timeout_s = ranged("--timeout", &v, 1, u64::MAX, "--timeout takes seconds >= 1")?;
        }
        o.debug = cli.debug;
        o.dry_run = cli.dry_run;
        o.iso = cli.iso || cli.uefi;
        o.uefi = cli.uefi;
        o.kargs = cli.kargs;
        o.list = cli.list;
        Ok(o)
    }
}

/// The command from the words that are not options (the last command given wins).
fn command(words: &[String]) -> Result<Command, UsageError> {
    let mut cmd = Command::Run;
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        let operand = words.get(i + 1).filter(|n| !n.starts_with('-')).cloned();
        i += 1;
        cmd = match w {
            "help" => return Ok(Command::Help),
            "run" => Command::Run,
            "test" => Command::Test,
            "check" => {
                // Case and group names may be command names (`check iso`, `check soak`).
                i += usize::from(operand.is_some());
                Command::Check(operand)
            }
            "faults" => Command::Faults,
            "iso" => Command::Iso,
            "conformance" => Command::Conformance,
            "soak" => match operand {
                Some(m) => {
                    i += 1;
                    match uint(&m).filter(|&n| n >= 1) {
                        Some(n) => Command::Soak(n),
                        None => return Err(usage(format!("soak takes whole minutes >= 1, got '{m}'"))),
                    }
                }
                None => Command::Soak(3),
            },
            "bench" => {
                i += usize::from(operand.is_some());
                Command::Bench(operand.unwrap_or_else(|| "efficiency".into()))
            }
            "get-qemu" => {
                i += usize::from(operand.is_some());
                Command::GetQemu(operand.unwrap_or_else(|| "10".into()))
            }
            _ => return Err(usage(format!(
                "unknown command '{w}' (commands: run, test, bench, soak, faults, iso, conformance, check, get-qemu, help)"
            ))),
        };
    }
    Ok(cmd)
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
