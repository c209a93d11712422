//! The runner's exit codes (README "Exit codes", `--help`) and how QEMU's status maps to them.
//!
//! The kernel ends a QEMU run through `isa-debug-exit`: QEMU exits with `(code << 1) | 1`
//! where `code` is the kernel's `ExitCode` (kernel/src/exit.rs). [`KernelStatus`] names those
//! codes for the runner; the host test `kernel_status_matches_kernel_exit_rs` reads
//! kernel/src/exit.rs and fails when the two differ, until the table moves into kcore and
//! this module reads it from there.

use std::fmt;

/// How the runner exits (the process exit code is [`Exit::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The kernel reported success (0).
    Ok,
    /// A self-test or a verification failed (1).
    Test,
    /// Bad arguments to the runner, or a machine shape that cannot work (2).
    Usage,
    /// Kernel panic (3).
    Panic,
    /// Unexpected CPU exception (4).
    Exception,
    /// The kernel's watchdog saw no progress (5).
    Watchdog,
    /// The kernel rejected its command line or input (6).
    BadInput,
    /// QEMU ended without a kernel status: triple fault, killed, crash (7).
    NoStatus,
    /// Could not install, build or start something (8).
    Setup,
    /// A figure is invalid: the named engine did not do the work (9).
    Invalid,
    /// Out of memory mid-run; every folio stayed where it was (10).
    OutOfMemory,
    /// The wall-clock limit ended the run (124).
    Timeout,
    /// Interrupted by a signal (128 + the signal number, as a shell reports it).
    Signal(i32),
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::Test => 1,
            Exit::Usage => 2,
            Exit::Panic => 3,
            Exit::Exception => 4,
            Exit::Watchdog => 5,
            Exit::BadInput => 6,
            Exit::NoStatus => 7,
            Exit::Setup => 8,
            Exit::Invalid => 9,
            Exit::OutOfMemory => 10,
            Exit::Timeout => 124,
            Exit::Signal(sig) => 128 + sig,
        }
    }
}

/// The kernel's exit statuses: `kcore::exit::ExitCode`, the one table the kernel, the
/// report and this runner share.
pub use kcore::exit::ExitCode as KernelStatus;

/// The runner's exit for a kernel status (its `runner_code`, as a typed [`Exit`]).
pub fn kernel_exit(s: KernelStatus) -> Exit {
    match s {
        KernelStatus::Success => Exit::Ok,
        KernelStatus::TestFailure => Exit::Test,
        KernelStatus::Panic => Exit::Panic,
        KernelStatus::Exception => Exit::Exception,
        KernelStatus::Watchdog => Exit::Watchdog,
        KernelStatus::BadInput => Exit::BadInput,
        KernelStatus::Invalid => Exit::Invalid,
        KernelStatus::OutOfMemory => Exit::OutOfMemory,
    }
}

/// The QEMU status -> runner exit code table README.md ("Exit codes") and `--help`
/// document, QEMU statuses without a kernel status and the timeout included. `check`
/// and the host tests hold [`map_status`] to it.
pub const DOCUMENTED: [(i32, i32); 12] = [
    (33, 0),
    (35, 1),
    (37, 3),
    (39, 4),
    (41, 5),
    (43, 6),
    (45, 9),
    (47, 10),
    (1, 7),
    (0, 7),
    (124, 124),
    (137, 124),
];

/// How one QEMU run ended, before mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// QEMU exited with this status.
    Status(i32),
    /// The wall-clock limit ended it.
    Timeout,
    /// The user interrupted it (SIGINT/SIGTERM, forwarded to QEMU).
    Signal(i32),
}

/// Why a run did not succeed, for the note the runner prints (`None` when nothing to say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndNote {
    /// Exit 9.
    Invalid,
    /// Exit 10.
    OutOfMemory,
    /// Exit 124, after this many seconds.
    Timeout(u64),
    /// Exit 7, with QEMU's status.
    NoStatus(i32),
}

impl EndNote {
    /// The note, naming the serial log `log`.
    pub fn text(self, log: &str) -> String {
        match self {
            EndNote::Invalid => format!(
                "a figure is invalid: the named engine did not do the work (see {log})"
            ),
            EndNote::OutOfMemory => {
                format!("out of memory mid-run; every folio stayed where it was (see {log})")
            }
            EndNote::Timeout(s) => format!("wall-clock timeout after {s}s (see {log})"),
            EndNote::NoStatus(rc) => format!(
                "QEMU exited with status {rc} and no kernel status (triple fault or crash; see {log})"
            ),
        }
    }
}

/// Maps how QEMU ended to the runner's exit and the note to print (`timeout_s`: the limit).
pub fn map_status(ended: Ended, timeout_s: u64) -> (Exit, Option<EndNote>) {
    match ended {
        Ended::Timeout => (Exit::Timeout, Some(EndNote::Timeout(timeout_s))),
        Ended::Signal(sig) => (Exit::Signal(sig), None),
        // 137: killed by SIGKILL after the limit (as `timeout -k` reports it).
        Ended::Status(124 | 137) => (Exit::Timeout, Some(EndNote::Timeout(timeout_s))),
        Ended::Status(rc) => match KernelStatus::from_qemu_status(rc) {
            Some(KernelStatus::Invalid) => (Exit::Invalid, Some(EndNote::Invalid)),
            Some(KernelStatus::OutOfMemory) => (Exit::OutOfMemory, Some(EndNote::OutOfMemory)),
            Some(s) => (kernel_exit(s), None),
            None => (Exit::NoStatus, Some(EndNote::NoStatus(rc))),
        },
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table README.md and `--help` document: QEMU status -> exit code.
    #[test]
    fn qemu_status_maps_to_documented_exit_codes() {
        for (qemu, want) in DOCUMENTED {
            let (exit, _) = map_status(Ended::Status(qemu), 600);
            assert_eq!(exit.code(), want, "QEMU status {qemu}");
        }
        assert_eq!(map_status(Ended::Timeout, 5).0.code(), 124);
        assert_eq!(map_status(Ended::Signal(2), 5).0.code(), 130);
    }

    #[test]
    fn notes_name_the_log() {
        let (_, note) = map_status(Ended::Status(0), 600);
        assert_eq!(
            note.map(|n| n.text("out/run.log")).as_deref(),
            Some("QEMU exited with status 0 and no kernel status (triple fault or crash; see out/run.log)")
        );
        let (_, note) = map_status(Ended::Timeout, 30);
        assert_eq!(
            note.map(|n| n.text("x.log")).as_deref(),
            Some("wall-clock timeout after 30s (see x.log)")
        );
        assert_eq!(map_status(Ended::Status(33), 1).1, None);
    }

    /// kcore's table is the definition: every kernel status maps to the runner code it
    /// names, and the runner-only codes are kcore's too.
    #[test]
    fn exits_follow_kcores_table() {
        for s in KernelStatus::ALL {
            assert_eq!(kernel_exit(s).code(), i32::from(s.runner_code()), "{s:?}");
            let (exit, _) = map_status(Ended::Status(i32::from(s.qemu_status())), 1);
            assert_eq!(exit, kernel_exit(s), "{s:?}");
        }
        use kcore::exit::RunnerCode;
        for (r, e) in [
            (RunnerCode::Usage, Exit::Usage),
            (RunnerCode::NoStatus, Exit::NoStatus),
            (RunnerCode::Setup, Exit::Setup),
            (RunnerCode::Timeout, Exit::Timeout),
        ] {
            assert_eq!(i32::from(r.code()), e.code(), "{r:?}");
        }
    }
}
