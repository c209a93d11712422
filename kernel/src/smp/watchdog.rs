//! The watchdog: a run that makes no progress for `watchdog-s` seconds is stopped with
//! a report of where every CPU is, and exit code 5 (`ExitCode::Watchdog`).
//!
//! Progress is declared with [`progress`] (each self-test, each dispatch round, the
//! migration engine's batches). Every CPU's LAPIC timer ticks every `TICK_MS`; the tick
//! records the interrupted RIP in the CPU's block and checks the time since the last
//! progress. The first CPU to see the limit passed fires: it NMIs every other online
//! CPU (the NMI hook records the RIP the NMI interrupted, which also catches a CPU
//! spinning with interrupts off), waits a bounded 200 ms for them, prints one line per
//! CPU (state, last heartbeat, sampled and NMI RIP) and exits.

use crate::arch::percpu::{self, PerCpu};
use crate::arch::traps::TrapFrame;
use crate::arch::{apic, cpu, tsc};
use crate::exit::{self, ExitCode};
use crate::println;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static LIMIT_NS: AtomicU64 = AtomicU64::new(120_000_000_000);
static LAST_PROGRESS: AtomicU64 = AtomicU64::new(0);
static ARMED: AtomicBool = AtomicBool::new(false);
static FIRED: AtomicBool = AtomicBool::new(false);

/// Sets the no-progress limit.
pub fn configure(seconds: u64) {
    LIMIT_NS.store(seconds.max(1) * 1_000_000_000, Ordering::Relaxed);
}

/// The no-progress limit in nanoseconds.
pub fn limit_ns() -> u64 {
    LIMIT_NS.load(Ordering::Relaxed)
}

/// Starts watching (after the CPUs are up).
pub fn arm() {
    progress();
    ARMED.store(true, Ordering::Release);
}

/// Declares progress now.
pub fn progress() {
    LAST_PROGRESS.store(tsc::now_ns(), Ordering::Relaxed);
}

/// LAPIC timer tick on any CPU: sample the RIP, check for progress.
pub fn on_tick(frame: &mut TrapFrame) {
    if let Some(c) = percpu::current() {
        c.sampled_rip.store(frame.rip, Ordering::Relaxed);
    }
    // Once the watchdog fired, the reporting CPU owns the end of the run. Its own tick
    // must not call `fire` again: that would halt it inside the interrupt, in the middle
    // of its report, and the run would hang instead of exiting.
    if !ARMED.load(Ordering::Acquire) || FIRED.load(Ordering::Acquire) {
        return;
    }
    let idle_ns = tsc::now_ns().saturating_sub(LAST_PROGRESS.load(Ordering::Relaxed));
    if idle_ns > limit_ns() {
        fire(format_args!(
            "no progress for {} ms (limit {} s)",
            idle_ns / 1_000_000,
            limit_ns() / 1_000_000_000
        ));
    }
}

/// NMI hook: while the watchdog fires, record where this CPU was and claim the NMI.
pub fn on_nmi(frame: &mut TrapFrame) -> bool {
    if !FIRED.load(Ordering::Acquire) {
        return false;
    }
    if let Some(c) = percpu::current() {
        c.nmi_rip.store(frame.rip.max(1), Ordering::Release);
    }
    true
}

/// Stops the run: prints `reason` and where every CPU is, exits with code 5.
pub fn fire(reason: core::fmt::Arguments<'_>) -> ! {
    if FIRED.swap(true, Ordering::SeqCst) {
        // Another CPU is already reporting; it ends the run.
        cpu::halt_forever();
    }
    println!("\nwatchdog: {reason}");
    let me = percpu::current_index();
    let cpus = super::cpus();
    for c in cpus.iter().filter(|c| c.index != me && is_online(c)) {
        c.nmi_rip.store(0, Ordering::Release);
        let _ = apic::send_nmi(c.apic_id);
    }
    let deadline = tsc::now_ns() + 200_000_000;
    while tsc::now_ns() < deadline
        && cpus
            .iter()
            .any(|c| c.index != me && is_online(c) && c.nmi_rip.load(Ordering::Acquire) == 0)
    {
        core::hint::spin_loop();
    }
    let now = tsc::rdtsc();
    for c in cpus {
        let beat = c.heartbeat.load(Ordering::Relaxed);
        let age_ms = if beat == 0 {
            u64::MAX
        } else {
            tsc::ticks_to_ns(now.saturating_sub(beat)) / 1_000_000
        };
        let nmi = NmiRip {
            reporting: c.index == me,
            rip: c.nmi_rip.load(Ordering::Acquire),
        };
        println!(
            "watchdog: cpu {} apic {} {:?}: last heartbeat {} ms ago, tick RIP {:#x}, NMI RIP {}",
            c.index,
            c.apic_id,
            c.state(),
            age_ms,
            c.sampled_rip.load(Ordering::Relaxed),
            nmi
        );
    }
    exit::exit(ExitCode::Watchdog)
}

/// The NMI column of the report (formatted without allocating: the interrupted code
/// may hold the heap lock).
struct NmiRip {
    reporting: bool,
    rip: u64,
}

impl core::fmt::Display for NmiRip {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match (self.reporting, self.rip) {
            (true, _) => write!(f, "- (this CPU reports)"),
            (false, 0) => write!(f, "none (no answer to the NMI)"),
            (false, rip) => write!(f, "{rip:#x}"),
        }
    }
}

fn is_online(c: &PerCpu) -> bool {
    c.online.load(Ordering::Acquire)
}
