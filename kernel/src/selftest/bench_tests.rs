//! The benchmark layer's error classification: the request's own faults end the run as
//! bad input; anything that went wrong while measuring ends it with the RUN line and
//! the status of the worst outcome (before typed errors, a frame leak or a load CPU that
//! did not stop was reported as bad input, exit 6).

use super::{check, check_eq, Test};
use crate::bench::error::{BenchError, InputError, LoadError};
use crate::bench::totals::Totals;
use crate::exit::ExitCode;
use crate::migrate::error::{MigrateError, VerifyError};
use crate::mm::frames::FrameError;
use alloc::string::String;
use kcore::buddy::AllocError;
use kcore::honesty::Status;

pub static TESTS: &[Test] = &[
    Test {
        name: "bench_errors_classified_by_kind",
        in_default_suite: true,
        run: errors_classified_by_kind,
    },
    Test {
        name: "bench_total_checked_per_size",
        in_default_suite: true,
        run: total_checked_per_size,
    },
];

/// `total=` below one folio says so (it used to read "use 16384 or 16384"); a total
/// between folios names both whole numbers around it.
fn total_checked_per_size() -> Result<(), String> {
    let config = |line: &str| kcore::cmdline::parse(line).map_err(|e| alloc::format!("{e}"));
    let small = config("total=12k size=16k")?;
    let got = crate::bench::plan::check_total(&small, &[2]).err();
    check(
        matches!(
            got,
            Some(BenchError::Input(InputError::TotalBelowFolio {
                total: 12288,
                folio: 16384
            }))
        ),
        || alloc::format!("total=12k size=16k: {got:?}"),
    )?;
    let between = config("total=3m size=2m")?;
    let got = crate::bench::plan::check_total(&between, &[9]).err();
    check(
        matches!(
            got,
            Some(BenchError::Input(InputError::TotalNotWhole {
                total: 3145728,
                folio: 2097152
            }))
        ),
        || alloc::format!("total=3m size=2m: {got:?}"),
    )?;
    check(
        crate::bench::plan::check_total(&between, &[0, 4]).is_ok(),
        || String::from("3m is a whole number of 4K and 64K folios"),
    )
}

fn errors_classified_by_kind() -> Result<(), String> {
    let input = BenchError::from(InputError::NoMemoryNode);
    check(input.is_input() && !input.is_counted(), || {
        String::from("a request error is bad input")
    })?;
    check_eq("input exit", input.exit_code(), ExitCode::BadInput)?;
    // The streams' and appcost's refusals are bad input, each its own variant.
    for refusal in [
        InputError::TooFewStreamCpus {
            streams: 4,
            free: 3,
            besides_foreground: true,
        },
        InputError::NotAStreamEngine(kcore::cmdline::Engine::Hybrid),
        InputError::ChannelsPerStream { asked: 9, have: 2 },
    ] {
        let e = BenchError::from(refusal);
        check(e.is_input() && !e.is_counted(), || {
            alloc::format!("{e}: not bad input")
        })?;
    }
    // A failed stream was counted with its cell; it stops the run, never as bad input.
    let failed = BenchError::StreamFailed {
        set: String::from("streams 3 dma admit=wait"),
        why: String::from("data mismatch"),
    };
    check(!failed.is_input() && failed.is_counted(), || {
        alloc::format!("{failed}: must be a counted stop")
    })?;
    let cases: [(BenchError, ExitCode); 7] = [
        (
            BenchError::Leak {
                what: "test",
                before: 1,
                after: 2,
            },
            ExitCode::TestFailure,
        ),
        (
            BenchError::Load(LoadError::DidNotStop(1)),
            ExitCode::TestFailure,
        ),
        (
            BenchError::Foreground(LoadError::FinishedAtOnce),
            ExitCode::TestFailure,
        ),
        (
            BenchError::Frames {
                what: "victim working set",
                node: 0,
                error: FrameError::Alloc(0, AllocError::OutOfMemory(9)),
            },
            ExitCode::OutOfMemory,
        ),
        (
            BenchError::Migrate(MigrateError::Verify(VerifyError::Metadata { folio: 3 })),
            ExitCode::TestFailure,
        ),
        (
            BenchError::Calibration {
                cell: String::from("setup point 1"),
                status: Status::Invalid,
                why: String::from("fallback"),
            },
            ExitCode::Invalid,
        ),
        (
            BenchError::Calibration {
                cell: String::from("setup point 2"),
                status: Status::OutOfMemory,
                why: String::from("no frames"),
            },
            ExitCode::OutOfMemory,
        ),
    ];
    for (e, want) in cases {
        check(!e.is_input(), || {
            alloc::format!("{e}: classified as bad input")
        })?;
        check_eq("exit code", e.exit_code(), want)?;
    }
    // A stop outside any cell counts once, by its kind, and sets the run's exit code.
    let mut t = Totals::default();
    t.count_stop(ExitCode::TestFailure);
    check_eq("failures", t.failures, 1)?;
    check_eq("run exit", t.exit_code(), ExitCode::TestFailure)?;
    let mut t = Totals::default();
    t.count_stop(ExitCode::OutOfMemory);
    check_eq("run exit (OOM)", t.exit_code(), ExitCode::OutOfMemory)
}
