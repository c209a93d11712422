//! What `arch` needs from the layers above it, handed in once at boot, so that `arch`
//! stays the floor of the kernel (it imports nothing from `mm`, `smp`, `console` or
//! `platform`): where exception reports are printed, how the run ends after one, and
//! where a started AP goes once its CPU is set up.

use super::percpu::PerCpu;
use core::fmt;
use spin::Once;

/// The entry points of the layers above.
#[derive(Clone, Copy)]
pub struct Hooks {
    /// Prints a message (usable from exception context; must not allocate).
    pub print: fn(fmt::Arguments<'_>),
    /// Ends the run after an unexpected CPU exception.
    pub exception_exit: fn() -> !,
    /// Where an AP continues once its descriptor tables, APIC and FPU are set up.
    pub ap_entry: fn(&'static PerCpu) -> !,
}

static HOOKS: Once<Hooks> = Once::new();

/// Installs the hooks (once, on the boot CPU before anything can fault or start an AP;
/// a second call is ignored).
pub fn install(h: Hooks) {
    HOOKS.call_once(|| h);
}

/// Prints through the installed hook (nothing before [`install`]).
pub fn print(args: fmt::Arguments<'_>) {
    if let Some(h) = HOOKS.get() {
        (h.print)(args);
    }
}

/// Ends the run after an exception (halts this CPU when no hook is installed).
pub fn exception_exit() -> ! {
    match HOOKS.get() {
        Some(h) => (h.exception_exit)(),
        None => super::cpu::halt_forever(),
    }
}

/// Continues a set-up AP in the layer above (halts it when no hook is installed).
pub fn ap_entry(cpu: &'static PerCpu) -> ! {
    match HOOKS.get() {
        Some(h) => (h.ap_entry)(cpu),
        None => super::cpu::halt_forever(),
    }
}
