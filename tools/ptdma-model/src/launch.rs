//! `launch`: creates one socketpair per PCI function, serves each on a thread, and runs QEMU
//! with the QEMU-side ends inherited (CLOEXEC cleared on exactly those) plus
//! `-device x-pci-proxy-dev,id=ptdmaK,fd=F` (qemu-proxy-protocol §1). Forwards SIGINT/SIGTERM,
//! enforces `--timeout`, writes counters, and returns QEMU's exit status. Every path (QEMU
//! exits, a model thread fails, a signal) ends QEMU, joins the serving threads and writes counters.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{shutdown, socketpair, AddressFamily, Shutdown, SockFlag, SockType};
use nix::unistd::Pid;

use crate::cli::{install_signal_handlers, Common, EXIT_USAGE, SIGNALLED};
use crate::counters::Counters;
use crate::faults::FaultPlan;
use crate::transport::Server;

/// Exit code when a model thread failed (QEMU is stopped in that case).
pub const EXIT_MODEL_FAILED: i32 = 70;
/// Exit code when QEMU could not be started.
pub const EXIT_NO_QEMU: i32 = 127;

struct Function {
    counters: Arc<Counters>,
    ours: OwnedFd,
}

fn quote(a: &str) -> String {
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || ",.=/_-:+@%".contains(c))
    {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

fn signal_child(child: &Child, sig: Signal) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = kill(Pid::from_raw(pid), sig);
    }
}

/// How a launch ended (see [`launch_to`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Launched {
    /// QEMU's exit status (128 + signal if it was killed; [`EXIT_MODEL_FAILED`],
    /// [`EXIT_NO_QEMU`], [`EXIT_USAGE`] or 1 when the launch itself failed).
    pub code: i32,
    /// The first SIGINT/SIGTERM this process received and forwarded to QEMU, if any.
    pub signal: Option<i32>,
    /// True when the wall-clock limit ended QEMU.
    pub timed_out: bool,
}

/// Where QEMU's output goes, for a caller that uses the launcher as a library.
#[derive(Debug, Default)]
pub struct LaunchIo {
    /// QEMU's standard output (e.g. a pipe the caller copies to a log); inherited if `None`.
    pub stdout: Option<std::process::Stdio>,
    /// QEMU's standard error; inherited if `None`.
    pub stderr: Option<std::process::Stdio>,
    /// Do not print the `ptdma-model: running ...` line.
    pub quiet: bool,
}

/// Runs the launcher; returns the process exit code.
pub fn launch(count: usize, timeout: Option<f64>, common: &Common, qemu: &[String]) -> i32 {
    launch_to(count, timeout, common, qemu, LaunchIo::default()).code
}

/// As [`launch`], with QEMU's output where `io` says. Tells apart a signal and the
/// wall-clock limit (`timeout`, seconds), which end QEMU the same way. Installs the
/// SIGINT/SIGTERM handlers of [`install_signal_handlers`].
pub fn launch_to(
    count: usize,
    timeout: Option<f64>,
    common: &Common,
    qemu: &[String],
    io: LaunchIo,
) -> Launched {
    let failed = |code| Launched {
        code,
        signal: None,
        timed_out: false,
    };
    let Some((prog, qargs)) = qemu.split_first() else {
        eprintln!("ptdma-model: launch needs a QEMU command after `--`");
        return failed(EXIT_USAGE);
    };
    let limit = match timeout.map(Duration::try_from_secs_f64) {
        None => None,
        Some(Ok(d)) if !d.is_zero() => Some(d),
        Some(_) => {
            eprintln!("ptdma-model: --timeout must be a positive number of seconds");
            return failed(EXIT_USAGE);
        }
    };
    if let Err(e) = common.check_kinds(count) {
        eprintln!("ptdma-model: {e}");
        return failed(EXIT_USAGE);
    }
    install_signal_handlers();
    let faults = FaultPlan::new(common.faults.clone());
    let (done_tx, done_rx) = mpsc::channel::<(usize, Result<(), String>)>();
    let mut functions = Vec::new();
    let mut theirs: Vec<OwnedFd> = Vec::new();
    let mut threads = Vec::new();
    for k in 0..count {
        let opts = match common.options(k, &faults) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("ptdma-model: {e}");
                return failed(EXIT_USAGE);
            }
        };
        let pair = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        );
        let (ours, qemu_end) = match pair {
            Ok(p) => p,
            Err(e) => {
                eprintln!("ptdma-model: socketpair failed: {e}");
                return failed(1);
            }
        };
        let (ours_dup, mut server) = match ours.try_clone() {
            Ok(d) => (d, Server::new(&opts)),
            Err(e) => {
                eprintln!("ptdma-model: dup failed: {e}");
                return failed(1);
            }
        };
        functions.push(Function {
            counters: server.device.counters(),
            ours: ours_dup,
        });
        theirs.push(qemu_end);
        let tx = done_tx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("serve{k}"))
            .spawn(move || {
                let r = server.run(&ours);
                server.device.stop();
                let _ = tx.send((k, r));
            });
        match spawned {
            Ok(h) => threads.push(h),
            Err(e) => {
                eprintln!("ptdma-model: cannot start serving thread: {e}");
                return failed(1);
            }
        }
    }
    drop(done_tx);

    let mut cmd = Command::new(prog);
    cmd.args(qargs);
    if let Some(out) = io.stdout {
        cmd.stdout(out);
    }
    if let Some(err) = io.stderr {
        cmd.stderr(err);
    }
    let mut shown: Vec<String> = qemu.iter().map(|a| quote(a)).collect();
    for (k, fd) in theirs.iter().enumerate() {
        let dev = format!("x-pci-proxy-dev,id=ptdma{k},fd={}", fd.as_raw_fd());
        cmd.arg("-device").arg(&dev);
        shown.push("-device".into());
        shown.push(dev);
    }
    let inherit: Vec<RawFd> = theirs.iter().map(|f| f.as_raw_fd()).collect();
    let clear_cloexec = move || -> std::io::Result<()> {
        for &fd in &inherit {
            // SAFETY: `fd` is one of the QEMU-side socket ends, open in the child (inherited
            // copy) for the whole pre-exec phase.
            let b = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            nix::fcntl::fcntl(
                b,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
            )
            .map_err(std::io::Error::from)?;
        }
        Ok(())
    };
    // SAFETY: the closure runs in the forked child before exec and only calls fcntl(2), which is
    // async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(clear_cloexec);
    }
    if !io.quiet {
        eprintln!("ptdma-model: running {}", shown.join(" "));
    }
    let spawned = cmd.spawn();
    drop(theirs); // QEMU has its copies; ours must go so EOF arrives when QEMU exits
    let launched = match spawned {
        Ok(mut child) => supervise(&mut child, limit, &done_rx),
        Err(e) => {
            eprintln!("ptdma-model: cannot start {prog}: {e}");
            failed(EXIT_NO_QEMU)
        }
    };
    drop(cmd); // closes the caller's stdout pipe end, so its reader sees EOF
               // Unblock serving threads (normally they already saw EOF) and give them a moment.
    for f in &functions {
        let _ = shutdown(f.ours.as_raw_fd(), Shutdown::Both);
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    for h in threads {
        while !h.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if h.is_finished() {
            let _ = h.join();
        }
    }
    if let Some(p) = &common.counters {
        for f in &functions {
            if let Err(e) = f.counters.append_to(p) {
                eprintln!("ptdma-model: cannot write counters to {}: {e}", p.display());
            }
        }
    }
    launched
}

/// Waits for QEMU while forwarding signals, enforcing the timeout and watching model threads.
fn supervise(
    child: &mut Child,
    limit: Option<Duration>,
    done: &mpsc::Receiver<(usize, Result<(), String>)>,
) -> Launched {
    let start = Instant::now();
    let mut term_sent: Option<Instant> = None;
    let mut model_failed = false;
    let mut signal = None;
    let mut timed_out = false;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => {
                // Ctrl-C reaches QEMU and us together: QEMU may be gone before this loop
                // looked at the flag, and the run was still interrupted, not a crash.
                let late = SIGNALLED.swap(0, Ordering::SeqCst);
                if late != 0 {
                    signal.get_or_insert(late);
                }
                let code = st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0));
                tracing::info!("QEMU exited: {st}");
                let code = if model_failed {
                    EXIT_MODEL_FAILED
                } else {
                    code
                };
                return Launched {
                    code,
                    signal,
                    timed_out,
                };
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!("waiting for QEMU failed: {e}");
                signal_child(child, Signal::SIGKILL);
                let _ = child.wait();
                return Launched {
                    code: 1,
                    signal,
                    timed_out,
                };
            }
        }
        let sig = SIGNALLED.swap(0, Ordering::SeqCst);
        if sig != 0 {
            tracing::info!("forwarding signal {sig} to QEMU");
            if let Ok(s) = Signal::try_from(sig) {
                signal_child(child, s);
            }
            signal.get_or_insert(sig);
            term_sent.get_or_insert_with(Instant::now);
        }
        if let Ok((k, Err(e))) = done.try_recv() {
            tracing::error!("function {k} failed: {e}; stopping QEMU");
            model_failed = true;
            signal_child(child, Signal::SIGTERM);
            term_sent.get_or_insert_with(Instant::now);
        }
        if term_sent.is_none() && limit.is_some_and(|l| start.elapsed() >= l) {
            tracing::info!("timeout reached, sending SIGTERM to QEMU");
            signal_child(child, Signal::SIGTERM);
            term_sent = Some(Instant::now());
            timed_out = true;
        }
        if term_sent.is_some_and(|t| t.elapsed() >= Duration::from_secs(5)) {
            tracing::warn!("QEMU did not exit 5 s after SIGTERM, killing it");
            signal_child(child, Signal::SIGKILL);
            term_sent = Some(Instant::now() + crate::engine::MAX_DELAY);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A terminal's Ctrl-C signals the whole process group: QEMU ("terminating on signal 2",
    /// status 0) can be gone before the supervisor sees the recorded SIGINT.
    #[test]
    fn a_signal_that_arrives_with_qemus_exit_is_reported() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let _ = child.wait();
        SIGNALLED.store(2, Ordering::SeqCst);
        let (_tx, rx) = mpsc::channel();
        let l = supervise(&mut child, None, &rx);
        assert_eq!(l.signal, Some(2));
        assert!(!l.timed_out);
        assert_eq!(SIGNALLED.load(Ordering::SeqCst), 0, "consumed");
    }
}
