//! In-kernel self-tests: `test=all` (or a name list) runs the registered tests, prints
//! one line per test and ends with the line `N passed, N failed`.
//!
//! Tests return `Result<(), String>`; an `Err` says what was expected and what was seen.
//! Fixtures (tests that fail, fault or panic on purpose) are not in the default suite;
//! they run only when named, so the runner can check that failures are noticed.

mod arch_tests;
mod aspace_tests;
mod bench_tests;
mod boot_tests;
mod dma_tests;
mod fixtures;
mod migrate_tests;
mod mm_tests;
mod numa_tests;
mod pci_tests;
mod platform_tests;
mod smp_tests;
mod trust_tests;

use crate::exit::ExitCode;
use crate::println;
use alloc::string::String;
use kcore::cmdline::TestFilter;

/// One registered self-test.
pub struct Test {
    /// Name used by `test=`.
    pub name: &'static str,
    /// False for fixtures that must be named explicitly.
    pub in_default_suite: bool,
    /// The test body.
    pub run: fn() -> Result<(), String>,
}

/// Every registered test, in run order.
fn registry() -> impl Iterator<Item = &'static Test> {
    boot_tests::TESTS
        .iter()
        .chain(arch_tests::TESTS)
        .chain(platform_tests::TESTS)
        .chain(mm_tests::TESTS)
        .chain(aspace_tests::TESTS)
        .chain(pci_tests::TESTS)
        .chain(dma_tests::TESTS)
        .chain(migrate_tests::TESTS)
        .chain(trust_tests::TESTS)
        .chain(bench_tests::TESTS)
        .chain(numa_tests::TESTS)
        .chain(smp_tests::TESTS)
        .chain(fixtures::TESTS)
}

/// Runs the selected tests and returns how the boot should end.
pub fn run(filter: &TestFilter) -> ExitCode {
    let selected: alloc::vec::Vec<&Test> = registry()
        .filter(|t| filter.selects(t.name, t.in_default_suite))
        .collect();
    if selected.is_empty() {
        println!("bad command line: no self-test matches the 'test' value; known tests:");
        for t in registry() {
            let note = if t.in_default_suite {
                ""
            } else {
                " (fixture, only when named)"
            };
            println!("  {}{}", t.name, note);
        }
        return ExitCode::BadInput;
    }
    println!("running {} self-tests", selected.len());
    let (mut passed, mut failed) = (0u32, 0u32);
    for t in selected {
        crate::print!("test {} ... ", t.name);
        crate::smp::watchdog::progress();
        let start = crate::arch::tsc::now_ns();
        let result = (t.run)();
        let us = (crate::arch::tsc::now_ns() - start) / 1000;
        match result {
            Ok(()) => {
                passed += 1;
                println!("ok ({us} us)");
            }
            Err(why) => {
                failed += 1;
                println!("FAILED: {why} ({us} us)");
            }
        }
    }
    crate::dma::print_counters();
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::Success
    } else {
        ExitCode::TestFailure
    }
}

/// Fails with a message naming what differed.
pub fn check_eq<T: PartialEq + core::fmt::Debug>(
    what: &str,
    got: T,
    want: T,
) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(alloc::format!("{what}: got {got:?}, want {want:?}"))
    }
}

/// Fails with `msg` unless `cond`.
pub fn check(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}
