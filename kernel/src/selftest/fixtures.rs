//! Fixtures that fail on purpose, so the runner can prove failures are reported with
//! the right exit code. Not in the default suite: they run only when named.

use super::Test;
use alloc::string::String;

pub static TESTS: &[Test] = &[
    Test {
        name: "selftest_must_fail",
        in_default_suite: false,
        run: must_fail,
    },
    Test {
        name: "fault_page_fault",
        in_default_suite: false,
        run: page_fault,
    },
    Test {
        name: "fault_panic",
        in_default_suite: false,
        run: panics,
    },
];

fn must_fail() -> Result<(), String> {
    Err("this fixture always fails".into())
}

/// Reads an address the boot page tables do not map: must end in the exception report.
fn page_fault() -> Result<(), String> {
    let p = 0x40_0000_0000u64 as *const u64;
    // SAFETY: deliberately unsound read to provoke #PF; the handler ends the run.
    let v = unsafe { p.read_volatile() };
    Err(alloc::format!("read of unmapped memory returned {v:#x}"))
}

fn panics() -> Result<(), String> {
    panic!("fault_panic fixture panics on purpose")
}
