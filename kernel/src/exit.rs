//! How a run ends: one final status line, then the exit code through QEMU's
//! `isa-debug-exit` device (port 0xf4), or on bare metal a halt (or reboot).
//!
//! The codes, their QEMU statuses and the runner's exit codes are one table in
//! [`kcore::exit`] (`run-qemu.sh` reads it through `report --exit-codes`).

use crate::arch::cpu;
use core::sync::atomic::{AtomicBool, Ordering};

/// Port of QEMU's `isa-debug-exit` device (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`).
const DEBUG_EXIT_PORT: u16 = 0xf4;

pub use kcore::exit::ExitCode;

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
        crate::println!("foliomove: exit {} (code {:#x})", code.name(), code.code());
    }
    if debug_exit_allowed() {
        // SAFETY: port 0xf4 is QEMU's debug-exit device (TCG/KVM checked); if the device
        // is absent the write goes nowhere and we fall through to the halt below.
        unsafe { cpu::outl(DEBUG_EXIT_PORT, code.code()) };
    }
    if REBOOT_ON_EXIT.load(Ordering::Relaxed) {
        // SAFETY: 0xCF9 reset control register (PCH/FCH): 0x6 = full reset. Only reached
        // when the user asked for `reboot=1`.
        unsafe { cpu::outb(0xcf9, 0x6) };
    }
    cpu::halt_forever()
}
