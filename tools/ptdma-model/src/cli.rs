//! Command line (clap derive), logging setup and the `serve` subcommand; `launch` lives in
//! `launch.rs`. Bad usage exits with code 2 and a message, never a panic.

use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::device::{DeviceOptions, Kind};
use crate::engine::Timing;
use crate::faults::{Fault, FaultPlan};
use crate::sdxi::options::{
    ClientStart, ReadIndexMode, ResumeMode, SdxiOptions, SignalMode, DEFAULT_MAX_CXT,
};
use crate::transport::Server;

const PROFILES_HELP: &str = "\
Timing profiles:
  (none)  copy as fast as possible (default)
  seed    ASSUMPTION derived from the page-migration RFC's one-channel PTDMA numbers,
          t(folio) ~ 8.6 us + bytes / 12.4 GB/s measured through Linux dmaengine. Most of the
          8.6 us is Linux's software path, so the profile models 2 us per doorbell, 1 us per
          descriptor and a 12.4 GB/s (1 GB = 1e9 B) cap per queue. Not a measurement.
  --bw-gbps / --desc-ns / --doorbell-ns override single values of the chosen profile.

Faults (--fault, repeatable; N counts descriptors from 1 across all queues and functions):
  error-at=N[:CODE]  descriptor N fails with STATUS error CODE (default 0x13)
  stuck-at=N         queue stops consuming at descriptor N, HEAD never moves; only
                     stopping the queue (RUN 1->0 / AE4 enable 1->0) un-wedges it
  halt-at=N          queue halts at descriptor N (RUN cleared, HALTED + QUEUE_STOPPED)
  corrupt-at=N       descriptor N writes inverted bytes but reports success
  vanish-at=N        after descriptor N the function reads as all-ones (removed device);
                     the socket stays open so QEMU never hangs

Interrupts:
  Config space has PM, PCI Express, MSI and MSI-X capabilities (PTDMA: 1 MSI-X vector,
  table + PBA in BAR5; AE4DMA: 16 vectors in BAR2). Enabling MSI/MSI-X works as registers
  (bits stick, the table reads back, INTx stops), but QEMU's x-pci-proxy-dev cannot deliver
  MSI or MSI-X messages (and INTx only under KVM): guests must poll.

SDXI (--kind sdxi; shared/reference/sdxi-facts.md, reconstructed from AMD's Linux driver):
  PCI 1b36:10f5 (our own: Red Hat/QEMU vendor, a device ID QEMU does not assign), class
  0x120100, BAR0 256 KiB registers, BAR2 one 4 KiB doorbell page per context 0..=max_cxt,
  PM + PCIe + MSI capabilities, no MSI-X, no INTx pin. SDXI 1.0, CAP1: max_cxt (see
  --sdxi-max-cxt), max_buffer 11 (4 GiB), 256 AKeys, groups DmaBase + Admin; rings of 1024
  to 4096 entries. Admin ops: CXT_START (NM), CXT_STOP, SYNC, CXT_UPD (no-op), NOP; client
  ops: DMAB_COPY and DMAB_NOP. Every check of facts §9.2 writes an error-log entry
  (vendor[0] = the model's check number). Faults count DSC_DMAB_COPY descriptors only:
  error-at fails the copy (CST_BLK er, context ERR_FN, err_class = CODE); stuck-at wedges
  the context until DSC_CXT_STOP or a function stop/reset; halt-at puts the function in
  ERROR (STS0.fn_gsv = 5); vanish-at and corrupt-at as above.
  UNSURE points (facts §9.3), default first:
    --sdxi-signal decrement|clear        CST_BLK.signal on completion
    --sdxi-read-index completion|fetch   when CXT_STS.read_index passes a descriptor
    --sdxi-resume poll|doorbell          what restarts a context waiting on a vl=0 slot
    --sdxi-client-start admin|software   DSC_CXT_START only, or also software-set RUN";

#[derive(Parser, Debug)]
#[command(name = "ptdma-model", version, about = "Emulated AMD PTDMA/AE4DMA and SNIA SDXI engines for QEMU's x-pci-proxy-dev", after_help = PROFILES_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve one already-open proxy socket (SOCK_STREAM) given as a file descriptor number.
    Serve {
        /// The socket fd (inherited from the caller).
        #[arg(long)]
        fd: i32,
        #[command(flatten)]
        common: Common,
    },
    /// Create N socketpairs, serve them, and run QEMU with `-device x-pci-proxy-dev` for each.
    /// Exits with QEMU's exit status (128+signal if it was killed; 70 if the model failed).
    Launch {
        /// Number of PCI functions to attach (0 = just run QEMU).
        #[arg(long, default_value_t = 1)]
        count: usize,
        /// Wall-clock limit in seconds: then QEMU gets SIGTERM (SIGKILL 5 s later).
        #[arg(long)]
        timeout: Option<f64>,
        #[command(flatten)]
        common: Common,
        /// The QEMU command line, after `--`.
        #[arg(last = true, required = true, num_args = 1..)]
        qemu: Vec<String>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    Ptdma,
    Ae4dma,
    /// SNIA SDXI 1.0 function (class 0x120100, 1b36:10f5).
    Sdxi,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    None,
    Seed,
}

#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Device personality: one for every function, or a comma list with one per function
    /// in launch order (`--kind=ptdma,sdxi,sdxi` for a machine with both kinds).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "ptdma")]
    pub kind: Vec<KindArg>,
    /// Named timing profile (see below).
    #[arg(long, value_enum, default_value = "none")]
    pub profile: ProfileArg,
    /// Bandwidth cap per queue in GB/s (1e9 bytes/s).
    #[arg(long)]
    pub bw_gbps: Option<f64>,
    /// Fixed latency per descriptor, nanoseconds.
    #[arg(long)]
    pub desc_ns: Option<u64>,
    /// Fixed latency per doorbell, nanoseconds.
    #[arg(long)]
    pub doorbell_ns: Option<u64>,
    /// Fault to inject (repeatable), e.g. `error-at=3:0x27`.
    #[arg(long = "fault")]
    pub faults: Vec<Fault>,
    /// Append one JSON line of counters per function to this file on exit.
    #[arg(long)]
    pub counters: Option<PathBuf>,
    /// Write logs to this file instead of stderr.
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long, default_value = "info")]
    pub log_level: tracing::Level,
    #[command(flatten)]
    pub sdxi: SdxiArgs,
}

/// `--sdxi-*`: readings of the points sdxi-facts §9.3 leaves UNSURE (`--kind sdxi` only).
#[derive(Args, Debug, Clone)]
pub struct SdxiArgs {
    /// SDXI: what completion does to CST_BLK.signal: decrement by one (default) or clear to 0.
    #[arg(long, value_enum, default_value = "decrement")]
    pub sdxi_signal: SignalMode,
    /// SDXI: CXT_STS.read_index moves past a descriptor at completion (default) or at fetch.
    #[arg(long, value_enum, default_value = "completion")]
    pub sdxi_read_index: ReadIndexMode,
    /// SDXI: a context stalled on a vl=0 slot resumes on a doorbell or a 1 ms re-read (poll,
    /// default), or only on a doorbell.
    #[arg(long, value_enum, default_value = "poll")]
    pub sdxi_resume: ResumeMode,
    /// SDXI: client contexts start only by DSC_CXT_START on the admin ring (admin, default), or
    /// also when software sets CXT_STS.state = RUN and rings the doorbell (software).
    #[arg(long, value_enum, default_value = "admin")]
    pub sdxi_client_start: ClientStart,
    /// SDXI: CAP1.max_cxt, the highest context id (1..=127); BAR2 has one 4 KiB doorbell page
    /// per context 0..=N.
    #[arg(long, default_value_t = DEFAULT_MAX_CXT, value_parser = clap::value_parser!(u16).range(1..=127))]
    pub sdxi_max_cxt: u16,
}

impl SdxiArgs {
    pub fn options(&self) -> SdxiOptions {
        SdxiOptions {
            signal: self.sdxi_signal,
            read_index: self.sdxi_read_index,
            resume: self.sdxi_resume,
            client_start: self.sdxi_client_start,
            max_cxt: self.sdxi_max_cxt,
        }
    }
}

impl Common {
    /// Resolves the timing profile plus overrides; Err = usage error text.
    pub fn timing(&self) -> Result<Timing, String> {
        let mut t = match self.profile {
            ProfileArg::None => Timing::default(),
            ProfileArg::Seed => Timing::seed(),
        };
        if let Some(bw) = self.bw_gbps {
            if !(bw.is_finite() && bw >= 1e-6) {
                return Err(format!(
                    "--bw-gbps must be a number >= 1e-6 (GB/s), got {bw}"
                ));
            }
            t.bytes_per_sec = Some(bw * 1e9);
        }
        if let Some(n) = self.desc_ns {
            t.desc_ns = n;
        }
        if let Some(n) = self.doorbell_ns {
            t.doorbell_ns = n;
        }
        Ok(t)
    }

    /// The personality of function `function` (0-based, in launch order).
    ///
    /// # Errors
    /// A `--kind` list that names neither one kind nor one per function.
    pub fn kind_of(&self, function: usize) -> Result<Kind, String> {
        let arg = match self.kind.as_slice() {
            [one] => *one,
            list => *list.get(function).ok_or_else(|| {
                format!(
                    "--kind lists {} kind(s) but function {function} was asked for: give one kind, or one per function",
                    list.len()
                )
            })?,
        };
        Ok(match arg {
            KindArg::Ptdma => Kind::Ptdma,
            KindArg::Ae4dma => Kind::Ae4dma,
            KindArg::Sdxi => Kind::Sdxi,
        })
    }

    /// Checks that a `--kind` list fits `count` functions.
    ///
    /// # Errors
    /// A list of several kinds whose length is not `count`.
    pub fn check_kinds(&self, count: usize) -> Result<(), String> {
        match self.kind.len() {
            1 => Ok(()),
            n if n == count => Ok(()),
            n => Err(format!(
                "--kind lists {n} kinds for {count} function(s): give one kind, or one per function"
            )),
        }
    }

    pub fn options(
        &self,
        function: usize,
        faults: &Arc<FaultPlan>,
    ) -> Result<DeviceOptions, String> {
        Ok(DeviceOptions {
            kind: self.kind_of(function)?,
            timing: self.timing()?,
            faults: faults.clone(),
            function,
            sdxi: self.sdxi.options(),
        })
    }
}

/// Exit code for bad usage.
pub const EXIT_USAGE: i32 = 2;

/// Last SIGINT/SIGTERM received (0 = none).
pub static SIGNALLED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: nix::libc::c_int) {
    SIGNALLED.store(sig, Ordering::SeqCst);
}

/// Installs SIGINT/SIGTERM handlers that only record the signal.
pub fn install_signal_handlers() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let act = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for s in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores into an atomic, which is async-signal-safe.
        if let Err(e) = unsafe { sigaction(s, &act) } {
            tracing::warn!("cannot install handler for {s}: {e}");
        }
    }
}

fn init_logging(c: &Common) -> Result<(), String> {
    let b = tracing_subscriber::fmt()
        .with_max_level(c.log_level)
        .with_thread_names(true);
    let r = match &c.log {
        Some(p) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("cannot open log file {}: {e}", p.display()))?;
            b.with_ansi(false)
                .with_writer(std::sync::Mutex::new(f))
                .try_init()
        }
        None => {
            let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
            b.with_ansi(tty).with_writer(std::io::stderr).try_init()
        }
    };
    r.map_err(|e| format!("cannot set up logging: {e}"))
}

/// Entry point; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { 0 };
        }
    };
    let common = match &cli.command {
        Command::Serve { common, .. } | Command::Launch { common, .. } => common.clone(),
    };
    if let Err(e) = common.timing().and_then(|_| init_logging(&common)) {
        eprintln!("ptdma-model: {e}");
        return EXIT_USAGE;
    }
    match cli.command {
        Command::Serve { fd, common } => serve(fd, &common),
        Command::Launch {
            count,
            timeout,
            common,
            qemu,
        } => crate::launch::launch(count, timeout, &common, &qemu),
    }
}

/// Takes ownership of an inherited socket fd after checking it really is a socket.
pub fn adopt_socket_fd(fd: i32) -> Result<OwnedFd, String> {
    if fd < 0 {
        return Err(format!("--fd {fd}: not a valid file descriptor number"));
    }
    // SAFETY: only used for the fstat below, while the fd number is checked to be open.
    let b = unsafe { BorrowedFd::borrow_raw(fd) };
    let st = nix::sys::stat::fstat(b)
        .map_err(|e| format!("--fd {fd}: not an open file descriptor ({e})"))?;
    if st.st_mode & nix::libc::S_IFMT != nix::libc::S_IFSOCK {
        return Err(format!(
            "--fd {fd}: not a socket (QEMU's proxy needs an AF_UNIX SOCK_STREAM socket)"
        ));
    }
    match nix::sys::socket::getsockopt(&b, nix::sys::socket::sockopt::SockType) {
        Ok(nix::sys::socket::SockType::Stream) => {}
        Ok(t) => {
            return Err(format!(
                "--fd {fd}: socket type {t:?}, but QEMU's proxy needs SOCK_STREAM"
            ))
        }
        Err(e) => return Err(format!("--fd {fd}: cannot query the socket type ({e})")),
    }
    // SAFETY: the fd is open (fstat succeeded) and was handed to this process for it to own.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let _ = nix::fcntl::fcntl(
        &owned,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    Ok(owned)
}

fn serve(fd: i32, common: &Common) -> i32 {
    let sock = match adopt_socket_fd(fd) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ptdma-model: {e}");
            return EXIT_USAGE;
        }
    };
    let faults = FaultPlan::new(common.faults.clone());
    let opts = match common.options(0, &faults) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ptdma-model: {e}");
            return EXIT_USAGE;
        }
    };
    install_signal_handlers();
    let mut server = Server::new(&opts);
    let counters = server.device.counters();
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("serve0".into())
        .spawn(move || {
            let r = server.run(&sock);
            server.device.stop();
            let _ = tx.send(r);
        });
    if let Err(e) = spawned {
        eprintln!("ptdma-model: cannot start the serving thread: {e}");
        return 1;
    }
    let code = loop {
        if SIGNALLED.load(Ordering::SeqCst) != 0 {
            tracing::info!("signal received, exiting");
            break 0;
        }
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(Ok(())) => break 0,
            Ok(Err(e)) => {
                tracing::error!("function 0: {e}");
                break 1;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break 1,
        }
    };
    if let Some(p) = &common.counters {
        if let Err(e) = counters.append_to(p) {
            eprintln!("ptdma-model: cannot write counters to {}: {e}", p.display());
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Only {
        #[command(flatten)]
        common: Common,
    }

    fn common(args: &[&str]) -> Common {
        Only::try_parse_from(std::iter::once("t").chain(args.iter().copied()))
            .expect("parses")
            .common
    }

    #[test]
    fn one_kind_serves_every_function() {
        let c = common(&["--kind=sdxi"]);
        assert_eq!(c.check_kinds(4), Ok(()));
        assert!(matches!(c.kind_of(3), Ok(Kind::Sdxi)));
        assert!(matches!(common(&[]).kind_of(0), Ok(Kind::Ptdma)));
    }

    #[test]
    fn a_kind_list_names_each_function_in_order() {
        let c = common(&["--kind=ptdma,sdxi,ae4dma"]);
        assert_eq!(c.check_kinds(3), Ok(()));
        assert!(matches!(c.kind_of(0), Ok(Kind::Ptdma)));
        assert!(matches!(c.kind_of(1), Ok(Kind::Sdxi)));
        assert!(matches!(c.kind_of(2), Ok(Kind::Ae4dma)));
        let short = c.check_kinds(4).unwrap_err();
        assert!(short.contains("3 kinds for 4 function(s)"), "{short}");
        assert!(c.kind_of(3).is_err());
    }
}
