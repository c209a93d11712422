//! How a run ends: one final status line, then the exit code through QEMU's
//! `isa-debug-exit` device (port 0xf4), or on bare metal a halt (or reboot).
//!
//! QEMU exits with `(code << 1) | 1`; `run-qemu.sh` maps that back to the table in
//! README.md. A triple fault makes QEMU exit 0 with `-no-reboot`, which is why success
//! is 0x10 (33) and never 0.

use crate::arch::cpu;
use core::sync::atomic::{AtomicBool, Ordering};

/// Port of QEMU's `isa-debug-exit` device (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`).
const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Why the kernel stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// Everything asked for ran and checked out (QEMU status 33).
    Success = 0x10,
    /// A self-test or a verification failed (35).
    TestFailure = 0x11,
    /// A Rust panic (37).
    Panic = 0x12,
    /// An unexpected CPU exception (39).
    Exception = 0x13,
    /// The watchdog saw no progress (41).
    Watchdog = 0x14,
    /// Bad command line or other bad input (43).
    BadInput = 0x15,
    /// A benchmark figure is invalid: the engine it names did not do the work (more
    /// than the allowed share went to the CPU fallback) (45).
    Invalid = 0x16,
    /// A migration ran out of destination frames mid-run; every folio stayed where it
    /// was (47).
    OutOfMemory = 0x17,
}

impl ExitCode {
    fn name(self) -> &'static str {
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
}

static REBOOT_ON_EXIT: AtomicBool = AtomicBool::new(false);
static EXITING: AtomicBool = AtomicBool::new(false);
static DEBUG_EXIT: AtomicBool = AtomicBool::new(true);

/// On bare metal, reboot instead of halting at the end (`reboot=1`).
pub fn set_reboot_on_exit(reboot: bool) {
    REBOOT_ON_EXIT.store(reboot, Ordering::Relaxed);
}

/// `debug-exit=0`: never write the debug-exit port (halt instead, as on bare metal).
pub fn set_debug_exit(enabled: bool) {
    DEBUG_EXIT.store(enabled, Ordering::Relaxed);
}

/// Port 0xf4 is only written where it is known to be QEMU's debug-exit device: under
/// the TCG or KVM hypervisor signature, and unless `debug-exit=0`. On a real machine
/// (no hypervisor bit) or under another hypervisor, port 0xf4 may be anything.
fn debug_exit_allowed() -> bool {
    DEBUG_EXIT.load(Ordering::Relaxed)
        && cpu::hypervisor_signature()
            .is_some_and(|sig| &sig == b"TCGTCGTCGTCG" || sig.starts_with(b"KVMKVMKVM"))
}

/// Prints the final status line and stops the machine.
pub fn exit(code: ExitCode) -> ! {
    if !EXITING.swap(true, Ordering::SeqCst) {
        crate::println!("foliomove: exit {} (code {:#x})", code.name(), code as u32);
    }
    if debug_exit_allowed() {
        // SAFETY: port 0xf4 is QEMU's debug-exit device (TCG/KVM checked); if the device
        // is absent the write goes nowhere and we fall through to the halt below.
        unsafe { cpu::outl(DEBUG_EXIT_PORT, code as u32) };
    }
    if REBOOT_ON_EXIT.load(Ordering::Relaxed) {
        // SAFETY: 0xCF9 reset control register (PCH/FCH): 0x6 = full reset. Only reached
        // when the user asked for `reboot=1`.
        unsafe { cpu::outb(0xcf9, 0x6) };
    }
    cpu::halt_forever()
}
