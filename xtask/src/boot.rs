//! One boot: print the QEMU command line, run QEMU under `ptdma_model::launch` (which attaches
//! the emulated engines, forwards Ctrl-C and SIGTERM to QEMU, enforces the wall-clock limit and
//! writes the model's counters on every exit path), copy the serial output to a log, and map
//! how it ended to the runner's exit.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ptdma_model::launch::{launch_to, LaunchIo};

use crate::exit::{map_status, Ended, Exit};
use crate::host::Fail;
use crate::machine::Machine;
use crate::model::{restore_default_signals, ModelSetup};
use crate::quote::quote_all;

/// Where a boot runs from and what it may do.
#[derive(Debug)]
pub struct Ctx {
    /// The repository.
    pub root: PathBuf,
    /// Logs and counters (`out/`).
    pub out: PathBuf,
    /// Print the command line and stop.
    pub dry_run: bool,
    /// The model's log and options.
    pub model: ModelSetup,
}

/// One boot.
#[derive(Debug)]
pub struct Boot<'a> {
    /// The machine and kernel command line.
    pub machine: Machine,
    /// `--ptdma-arg`s for the model.
    pub model_args: &'a [String],
    /// Wall-clock limit, seconds.
    pub timeout_s: u64,
    /// The serial log.
    pub log: PathBuf,
    /// Also show the serial output on stdout.
    pub echo: bool,
    /// QEMU's stderr goes to this file (inherited when `None`).
    pub stderr: Option<PathBuf>,
    /// The model's counters and log (default: out/ptdma-counters.json, out/ptdma-model.log).
    pub model_files: Option<(PathBuf, PathBuf)>,
    /// vCPU pinning of a KVM guest (through the machine's KVM QMP socket).
    pub pins: Vec<(u32, u32)>,
    /// Print why the run did not succeed (off where QEMU is expected to end without a
    /// kernel status, e.g. told to quit over QMP).
    pub end_note: bool,
}

impl<'a> Boot<'a> {
    /// A boot of `machine` with the defaults: inherited stderr, the model's files in out/,
    /// no pinning, the end note printed.
    pub fn new(
        machine: Machine,
        model_args: &'a [String],
        timeout_s: u64,
        log: PathBuf,
        echo: bool,
    ) -> Boot<'a> {
        Boot {
            machine,
            model_args,
            timeout_s,
            log,
            echo,
            stderr: None,
            model_files: None,
            pins: Vec::new(),
            end_note: true,
        }
    }
}

/// Copies everything from `from` to `log` and, when `echo`, to stdout.
fn tee(mut from: std::io::PipeReader, mut log: std::fs::File, echo: bool) {
    let mut buf = [0u8; 8192];
    let stdout = std::io::stdout();
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let _ = log.write_all(&buf[..n]);
                if echo {
                    let mut o = stdout.lock();
                    let _ = o.write_all(&buf[..n]);
                    let _ = o.flush();
                }
            }
        }
    }
}

/// Boots once and returns the mapped exit (printing why when it is not success).
///
/// # Errors
/// [`Fail`] when the model's arguments are bad (exit 2) or the log cannot be written (8).
pub fn boot(ctx: &Ctx, b: &Boot) -> Result<Exit, Fail> {
    let engines = b.machine.shape.ptdma;
    let (counters, model_log) = b.model_files.clone().unwrap_or_else(|| {
        (
            ctx.out.join("ptdma-counters.json"),
            ctx.out.join("ptdma-model.log"),
        )
    });
    let common = if engines > 0 {
        ctx.model
            .common(b.model_args, Some(&counters), Some(&model_log))
    } else {
        ctx.model.common(&[], None, None)
    }
    .map_err(|e| Fail::usage(format!("--ptdma-arg: {}", e.trim_end())))?;
    let argv = b.machine.qemu_args();
    crate::note(&format!(
        "{}{}",
        quote_all(&["timeout", &b.timeout_s.to_string()]),
        quote_all(&argv)
    ));
    if engines > 0 {
        let mut margs: Vec<String> = b.model_args.to_vec();
        margs.push(format!("--counters={}", counters.display()));
        margs.push(format!("--log={}", model_log.display()));
        crate::note(&format!(
            "with {engines} emulated engine function(s) from ptdma_model::launch (-device x-pci-proxy-dev,id=ptdmaK,fd=F each; model args: {})",
            margs.join(" ")
        ));
    }
    let kvm_qmp = b.machine.kvm.as_ref().map(|k| k.qmp.clone());
    for sock in kvm_qmp.iter().chain(b.machine.qmp.as_ref()) {
        let _ = std::fs::remove_file(sock);
    }
    if ctx.dry_run {
        crate::kvm::print_pins(&b.pins);
        return Ok(Exit::Ok);
    }
    std::fs::create_dir_all(&ctx.out)
        .map_err(|e| Fail::setup(format!("cannot create {}: {e}", ctx.out.display())))?;
    let stderr = match &b.stderr {
        Some(p) => Some(std::process::Stdio::from(
            std::fs::File::create(p)
                .map_err(|e| Fail::setup(format!("cannot write {}: {e}", p.display())))?,
        )),
        None => None,
    };
    if let (Some(sock), false) = (kvm_qmp, b.pins.is_empty()) {
        crate::kvm::pin_vcpus(sock, b.pins.clone());
    }
    let _ = std::fs::remove_file(&counters);
    let log = std::fs::File::create(&b.log)
        .map_err(|e| Fail::setup(format!("cannot write {}: {e}", b.log.display())))?;
    let (reader, writer) = std::io::pipe().map_err(|e| Fail::setup(format!("pipe: {e}")))?;
    let echo = b.echo;
    let copier = std::thread::spawn(move || tee(reader, log, echo));
    ctx.model
        .log_to((engines > 0).then_some(model_log.as_path()));
    let io = LaunchIo {
        stdout: Some(writer.into()),
        stderr,
        quiet: false,
    };
    let launched = launch_to(
        engines as usize,
        Some(b.timeout_s as f64),
        &common,
        &argv,
        io,
    );
    restore_default_signals();
    let _ = copier.join();
    ctx.model.log_to(None);
    let ended = if launched.timed_out {
        Ended::Timeout
    } else if let Some(sig) = launched.signal {
        Ended::Signal(sig)
    } else {
        Ended::Status(launched.code)
    };
    let (exit, note) = map_status(ended, b.timeout_s);
    if let Some(n) = note.filter(|_| b.end_note) {
        crate::note(&n.text(&b.log.display().to_string()));
    }
    if let Exit::Signal(sig) = exit {
        crate::note(&format!(
            "interrupted (signal {sig}); QEMU stopped, model counters written"
        ));
    }
    Ok(exit)
}

/// The kernel command line of a boot: `kargs`, plus with engines the model's timing profile
/// (`dma-profile=`, unless given), which the kernel echoes into every result.
pub fn kernel_cmdline(kargs: String, shape: &crate::shape::Shape, model_args: &[String]) -> String {
    let mut c = kargs;
    if shape.ptdma > 0 && !format!(" {c} ").contains(" dma-profile=") {
        if !c.is_empty() {
            c.push(' ');
        }
        c.push_str(&format!(
            "dma-profile={}",
            crate::model::dma_profile(model_args)
        ));
    }
    c
}

/// The self-tests' closing line `N passed, M failed`, as (N, M).
pub fn test_summary(line: &str) -> Option<(u64, u64)> {
    let (passed, rest) = line.trim_end_matches('\r').split_once(" passed, ")?;
    let failed: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if passed.is_empty() || !passed.bytes().all(|b| b.is_ascii_digit()) || failed.is_empty() {
        return None;
    }
    rest[failed.len()..]
        .starts_with(" failed")
        .then(|| Some((passed.parse().ok()?, failed.parse().ok()?)))?
}

/// True when the log at `path` has a self-test summary with no failure.
pub fn log_passed(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|bytes| {
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(test_summary)
            .any(|(_, failed)| failed == 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_line() {
        assert_eq!(test_summary("71 passed, 0 failed"), Some((71, 0)));
        assert_eq!(test_summary("0 passed, 1 failed\r"), Some((0, 1)));
        assert_eq!(test_summary("x 71 passed, 0 failed"), None);
        assert_eq!(test_summary("71 passed, 0 failures"), None);
        assert_eq!(test_summary("passed, 0 failed"), None);
    }
}
