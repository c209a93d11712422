//! Self-tests of exception handling and CPU state.

use super::{check, check_eq, Test};
use crate::arch::traps;
use alloc::string::String;
use core::arch::asm;

pub static TESTS: &[Test] = &[
    Test {
        name: "trap_breakpoint_resumes",
        in_default_suite: true,
        run: breakpoint_resumes,
    },
    Test {
        name: "trap_invalid_opcode_caught",
        in_default_suite: true,
        run: invalid_opcode_caught,
    },
    Test {
        name: "trap_preserves_sse_state",
        in_default_suite: true,
        run: trap_preserves_sse,
    },
    Test {
        name: "sse_float_format",
        in_default_suite: true,
        run: sse_float_format,
    },
];

/// `int3` is a trap: the handler sees RIP after the instruction and execution resumes.
fn breakpoint_resumes() -> Result<(), String> {
    let mut after: u64 = 0;
    let caught = traps::expect(3, 0, || {
        // SAFETY: int3 is caught by the expectation; the asm only writes `after`.
        unsafe { asm!("lea 2f(%rip), {0}", "int3", "2:", out(reg) after, options(att_syntax)) };
    });
    let c = caught.ok_or_else(|| String::from("int3 did not reach the handler"))?;
    check_eq("vector", c.vector, 3)?;
    check_eq("rip after int3", c.rip, after)
}

/// `ud2` is a fault: RIP points at it; the handler skips its 2 bytes.
fn invalid_opcode_caught() -> Result<(), String> {
    let mut at: u64 = 0;
    let caught = traps::expect(6, 2, || {
        // SAFETY: ud2 is caught and skipped by the expectation.
        unsafe { asm!("lea 2f(%rip), {0}", "2: ud2", out(reg) at, options(att_syntax)) };
    });
    let c = caught.ok_or_else(|| String::from("ud2 did not reach the handler"))?;
    check_eq("vector", c.vector, 6)?;
    check_eq("rip of ud2", c.rip, at)
}

/// The entry stub saves SSE state: a handler that scrambles every XMM register must
/// not change what the interrupted code sees.
fn trap_preserves_sse() -> Result<(), String> {
    let before: u64 = 0x0123_4567_89ab_cdef;
    let mut after0: u64 = 0;
    let mut after15: u64 = 0;
    traps::scramble_sse_in_next_expected_trap();
    let caught = traps::expect(3, 0, || {
        // SAFETY: writes xmm0/xmm15 (declared clobbered), int3 is expected.
        unsafe {
            asm!(
                "movq {v}, %xmm0",
                "movq {v}, %xmm15",
                "int3",
                "movq %xmm0, {a}",
                "movq %xmm15, {b}",
                v = in(reg) before,
                a = out(reg) after0,
                b = out(reg) after15,
                out("xmm0") _,
                out("xmm15") _,
                options(att_syntax)
            )
        };
    });
    check(caught.is_some(), || String::from("int3 not caught"))?;
    check_eq("xmm0 across a trap", after0, before)?;
    check_eq("xmm15 across a trap", after15, before)
}

/// Float formatting needs SSE enabled before Rust runs (else `core` hits #UD).
fn sse_float_format() -> Result<(), String> {
    let x = core::hint::black_box(2.0f64) / core::hint::black_box(3.0f64);
    check_eq("2/3", alloc::format!("{x}").as_str(), "0.6666666666666666")
}
