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

/// A kernel exit status as QEMU reports it (`(code << 1) | 1`, kernel/src/exit.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelStatus {
    /// `ExitCode::Success` (0x10).
    Success,
    /// `ExitCode::TestFailure` (0x11).
    TestFailure,
    /// `ExitCode::Panic` (0x12).
    Panic,
    /// `ExitCode::Exception` (0x13).
    Exception,
    /// `ExitCode::Watchdog` (0x14).
    Watchdog,
    /// `ExitCode::BadInput` (0x15).
    BadInput,
    /// `ExitCode::Invalid` (0x16).
    Invalid,
    /// `ExitCode::OutOfMemory` (0x17).
    OutOfMemory,
}

impl KernelStatus {
    /// Every status, in the kernel's order.
    pub const ALL: [KernelStatus; 8] = [
        KernelStatus::Success,
        KernelStatus::TestFailure,
        KernelStatus::Panic,
        KernelStatus::Exception,
        KernelStatus::Watchdog,
        KernelStatus::BadInput,
        KernelStatus::Invalid,
        KernelStatus::OutOfMemory,
    ];

    /// The kernel's `ExitCode` value (written to port 0xf4).
    pub fn kernel_code(self) -> u32 {
        0x10 + KernelStatus::ALL
            .iter()
            .position(|s| *s == self)
            .unwrap_or(0) as u32
    }

    /// The variant's name in kernel/src/exit.rs.
    #[cfg(test)]
    pub fn kernel_name(self) -> &'static str {
        match self {
            KernelStatus::Success => "Success",
            KernelStatus::TestFailure => "TestFailure",
            KernelStatus::Panic => "Panic",
            KernelStatus::Exception => "Exception",
            KernelStatus::Watchdog => "Watchdog",
            KernelStatus::BadInput => "BadInput",
            KernelStatus::Invalid => "Invalid",
            KernelStatus::OutOfMemory => "OutOfMemory",
        }
    }

    /// QEMU's process exit status for this kernel status.
    pub fn qemu_status(self) -> i32 {
        ((self.kernel_code() << 1) | 1) as i32
    }

    /// The kernel status behind a QEMU exit status, if it is one.
    pub fn from_qemu(status: i32) -> Option<KernelStatus> {
        KernelStatus::ALL
            .into_iter()
            .find(|s| s.qemu_status() == status)
    }

    /// The runner's exit for this kernel status.
    pub fn exit(self) -> Exit {
        match self {
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
}

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
        Ended::Status(rc) => match KernelStatus::from_qemu(rc) {
            Some(KernelStatus::Invalid) => (Exit::Invalid, Some(EndNote::Invalid)),
            Some(KernelStatus::OutOfMemory) => (Exit::OutOfMemory, Some(EndNote::OutOfMemory)),
            Some(s) => (s.exit(), None),
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
        for (qemu, want) in [
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
        ] {
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

    /// kernel/src/exit.rs is the definition: every `Name = 0xNN,` there must be a status
    /// here with the same value, and no other.
    #[test]
    fn kernel_status_matches_kernel_exit_rs() {
        let src = include_str!("../../kernel/src/exit.rs");
        let body = src
            .split("pub enum ExitCode {")
            .nth(1)
            .and_then(|r| r.split('}').next())
            .expect("kernel/src/exit.rs has no `pub enum ExitCode`");
        let mut found = Vec::new();
        for line in body.lines().map(str::trim) {
            if line.starts_with("//") || line.is_empty() {
                continue;
            }
            let (name, value) = line
                .trim_end_matches(',')
                .split_once(" = ")
                .unwrap_or_else(|| panic!("unexpected line in ExitCode: {line}"));
            let value = u32::from_str_radix(value.trim_start_matches("0x"), 16)
                .unwrap_or_else(|e| panic!("{name} = {value}: {e}"));
            found.push((name.to_string(), value));
        }
        let ours: Vec<(String, u32)> = KernelStatus::ALL
            .iter()
            .map(|s| (s.kernel_name().to_string(), s.kernel_code()))
            .collect();
        assert_eq!(found, ours);
    }
}
