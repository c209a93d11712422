//! How a run ends, as numbers: the kernel's exit codes (written to QEMU's
//! `isa-debug-exit` port), the QEMU status each gives, and the exit code `run-qemu.sh`
//! turns it into. The kernel, `run-qemu.sh` (through `report --exit-codes`) and the
//! README's "Exit codes" table all mean this one table.
//!
//! QEMU exits with `(code << 1) | 1`. A triple fault makes QEMU exit 0 with
//! `-no-reboot`, which is why success is 0x10 (QEMU status 33) and never 0.

/// Why the kernel stops. The discriminant is the value written to the debug-exit port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ExitCode {
    /// Everything asked for ran and checked out (QEMU status 33, runner 0).
    Success = 0x10,
    /// A self-test or a verification failed (35, runner 1).
    TestFailure = 0x11,
    /// A Rust panic (37, runner 3).
    Panic = 0x12,
    /// An unexpected CPU exception (39, runner 4).
    Exception = 0x13,
    /// The watchdog saw no progress (41, runner 5).
    Watchdog = 0x14,
    /// Bad command line or other bad input (43, runner 6).
    BadInput = 0x15,
    /// A benchmark figure is invalid: the engine it names did not do the work (more
    /// than the allowed share went to the CPU fallback) (45, runner 9).
    Invalid = 0x16,
    /// A migration ran out of destination frames mid-run; every folio stayed where it
    /// was (47, runner 10).
    OutOfMemory = 0x17,
}

impl ExitCode {
    /// Every kernel exit code, in code order.
    pub const ALL: [ExitCode; 8] = [
        ExitCode::Success,
        ExitCode::TestFailure,
        ExitCode::Panic,
        ExitCode::Exception,
        ExitCode::Watchdog,
        ExitCode::BadInput,
        ExitCode::Invalid,
        ExitCode::OutOfMemory,
    ];

    /// The name the kernel prints in its final line (`foliomove: exit bad-input ...`).
    pub const fn name(self) -> &'static str {
        match self {
            ExitCode::Success => "success",
            ExitCode::TestFailure => "test-failure",
            ExitCode::Panic => "panic",
            ExitCode::Exception => "cpu-exception",
            ExitCode::Watchdog => "watchdog",
            ExitCode::BadInput => "bad-input",
            ExitCode::Invalid => "invalid-result",
            ExitCode::OutOfMemory => "out-of-memory",
        }
    }

    /// One line saying what it means (the README's table and the runner's notes).
    pub const fn summary(self) -> &'static str {
        match self {
            ExitCode::Success => "success",
            ExitCode::TestFailure => "a self-test or a verification failed",
            ExitCode::Panic => "kernel panic",
            ExitCode::Exception => "unexpected CPU exception",
            ExitCode::Watchdog => "watchdog: no progress",
            ExitCode::BadInput => "bad kernel command line or other bad input",
            ExitCode::Invalid => "a figure is invalid: the named engine did not do the work",
            ExitCode::OutOfMemory => "out of memory mid-run; every folio stayed where it was",
        }
    }

    /// The value written to the debug-exit port.
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// The exit status QEMU gives for it: `(code << 1) | 1`.
    pub const fn qemu_status(self) -> u8 {
        ((self as u32) << 1 | 1) as u8
    }

    /// The exit code `run-qemu.sh` gives for it.
    pub const fn runner_code(self) -> u8 {
        match self {
            ExitCode::Success => 0,
            ExitCode::TestFailure => 1,
            ExitCode::Panic => 3,
            ExitCode::Exception => 4,
            ExitCode::Watchdog => 5,
            ExitCode::BadInput => 6,
            ExitCode::Invalid => 9,
            ExitCode::OutOfMemory => 10,
        }
    }

    /// The kernel exit code behind a QEMU exit status, if there is one.
    pub fn from_qemu_status(status: i32) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| i32::from(c.qemu_status()) == status)
    }
}

/// Exit codes of `run-qemu.sh` that have no kernel status behind them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunnerCode {
    /// Bad arguments to the runner, or a machine shape the emulated DMA engines cannot
    /// reach (2).
    Usage,
    /// QEMU ended without a kernel status: triple fault, crash, killed (7).
    NoStatus,
    /// Installing, building or starting something failed (8).
    Setup,
    /// The wall-clock limit (`--timeout`) ran out (124).
    Timeout,
}

impl RunnerCode {
    /// Every runner-only code, in code order.
    pub const ALL: [RunnerCode; 4] = [
        RunnerCode::Usage,
        RunnerCode::NoStatus,
        RunnerCode::Setup,
        RunnerCode::Timeout,
    ];

    /// A short name.
    pub const fn name(self) -> &'static str {
        match self {
            RunnerCode::Usage => "usage",
            RunnerCode::NoStatus => "no-status",
            RunnerCode::Setup => "setup",
            RunnerCode::Timeout => "timeout",
        }
    }

    /// The runner's exit code.
    pub const fn code(self) -> u8 {
        match self {
            RunnerCode::Usage => 2,
            RunnerCode::NoStatus => 7,
            RunnerCode::Setup => 8,
            RunnerCode::Timeout => 124,
        }
    }

    /// One line saying what it means.
    pub const fn summary(self) -> &'static str {
        match self {
            RunnerCode::Usage => "bad arguments to run-qemu.sh, or a machine shape whose guest RAM the emulated PTDMA engines cannot reach",
            RunnerCode::NoStatus => "QEMU ended without a kernel status (triple fault, crash)",
            RunnerCode::Setup => "setup failed (install, build, start)",
            RunnerCode::Timeout => "wall-clock timeout (--timeout)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_statuses_and_runner_codes_are_the_documented_ones() {
        let table: [(u8, u8); 8] = [
            (33, 0),
            (35, 1),
            (37, 3),
            (39, 4),
            (41, 5),
            (43, 6),
            (45, 9),
            (47, 10),
        ];
        for (c, (qemu, runner)) in ExitCode::ALL.into_iter().zip(table) {
            assert_eq!((c.qemu_status(), c.runner_code()), (qemu, runner), "{c:?}");
            assert_eq!(ExitCode::from_qemu_status(i32::from(qemu)), Some(c));
        }
        assert_eq!(ExitCode::Success.code(), 0x10);
        assert_eq!(
            ExitCode::from_qemu_status(0),
            None,
            "a triple fault is no status"
        );
        assert_eq!(ExitCode::from_qemu_status(1), None);
    }

    #[test]
    fn every_exit_code_is_distinct() {
        let mut codes: alloc::vec::Vec<u8> = ExitCode::ALL
            .iter()
            .map(|c| c.runner_code())
            .chain(RunnerCode::ALL.iter().map(|c| c.code()))
            .collect();
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n);
        let mut names: alloc::vec::Vec<&str> = ExitCode::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ExitCode::ALL.len());
    }
}
