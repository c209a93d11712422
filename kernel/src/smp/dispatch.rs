//! Work dispatch: one pinned run-to-completion worker per CPU, no scheduler.
//!
//! Each AP idles in [`worker_loop`]: it checks its mailbox (`PerCpu::posted` vs
//! `finished`) with interrupts off and otherwise sleeps in `hlt` until an interrupt
//! (`arch::cpu::sleep_unless`). A dispatcher stores the job in the mailbox, bumps
//! `posted` and sends the wake-up IPI; the worker runs the job with interrupts on (so
//! shootdown IPIs are served while it works), then publishes `finished`. `hlt` rather
//! than a `pause`/`mwait` loop: under TCG `mwait` only ends on an interrupt anyway, and
//! spinning vCPUs would starve the working ones on a small host.
//!
//! [`run_on`] runs a closure on a set of CPUs (the caller's own share inline), waits
//! for all of them (a barrier) and returns the per-CPU results. A CPU that does not
//! finish within the watchdog limit ends the run through the watchdog, which prints
//! where every CPU is. [`run_static_within`] is the variant with a caller-chosen
//! timeout that returns the CPUs that did not finish (the job must be `'static` then).

use super::{now_ns, watchdog, RoundCost};
use crate::arch::percpu::{self, CpuState, JobPtr, PerCpu};
use crate::arch::{apic, cpu, tsc};
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use spin::Mutex;

/// The loop every AP runs after reporting in; never returns.
pub fn worker_loop(cpu: &'static PerCpu) -> ! {
    loop {
        cpu.beat();
        let seq = cpu.posted.load(Ordering::Acquire);
        if seq != cpu.finished.load(Ordering::Relaxed) {
            let job = *cpu.job.lock();
            cpu.set_state(CpuState::Running);
            if let Some(job) = job {
                job.call(cpu.index);
            }
            cpu.set_state(CpuState::Idle);
            cpu.finished.store(seq, Ordering::Release);
            continue;
        }
        cpu::sleep_unless(|| {
            cpu.posted.load(Ordering::Acquire) != cpu.finished.load(Ordering::Relaxed)
        });
    }
}

/// Why a job could not be posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostError {
    /// No such CPU, or it is not online.
    Offline(usize),
    /// The CPU still runs an earlier job.
    Busy(usize),
    /// The wake-up IPI failed.
    Ipi(usize, apic::IpiError),
}

impl core::fmt::Display for PostError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Offline(c) => write!(f, "CPU {c} is not online"),
            Self::Busy(c) => write!(f, "CPU {c} is still running an earlier job"),
            Self::Ipi(c, e) => write!(f, "wake-up IPI to CPU {c} failed: {e:?}"),
        }
    }
}

/// Serializes posting (not waiting), so two dispatchers never claim one CPU.
static POST_LOCK: Mutex<()> = Mutex::new(());

fn target(index: usize) -> Result<&'static PerCpu, PostError> {
    super::cpus()
        .get(index)
        .copied()
        .filter(|c| c.online.load(Ordering::Acquire))
        .ok_or(PostError::Offline(index))
}

fn is_idle(c: &PerCpu) -> bool {
    c.posted.load(Ordering::Acquire) == c.finished.load(Ordering::Acquire)
}

/// Posts `job` to every CPU of `cpus`; all or none. Returns (CPU, sequence) pairs.
fn post_all(cpus: &[usize], job: JobPtr) -> Result<Vec<(&'static PerCpu, u64)>, PostError> {
    let _g = POST_LOCK.lock();
    let targets = cpus
        .iter()
        .map(|&i| target(i))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(busy) = targets.iter().find(|c| !is_idle(c)) {
        return Err(PostError::Busy(busy.index));
    }
    let mut posted = Vec::with_capacity(targets.len());
    for c in targets {
        *c.job.lock() = Some(job);
        let seq = c.posted.fetch_add(1, Ordering::AcqRel) + 1;
        apic::send_fixed(c.apic_id, super::VEC_WAKE).map_err(|e| PostError::Ipi(c.index, e))?;
        posted.push((c, seq));
    }
    Ok(posted)
}

/// Waits until every posted job finished or `deadline_ns` passed; returns the CPUs
/// that did not finish.
fn wait_finished(posted: &[(&'static PerCpu, u64)], deadline_ns: u64) -> Vec<usize> {
    loop {
        let pending: Vec<usize> = posted
            .iter()
            .filter(|(c, seq)| c.finished.load(Ordering::Acquire) < *seq)
            .map(|(c, _)| c.index)
            .collect();
        if pending.is_empty() || now_ns() > deadline_ns {
            return pending;
        }
        core::hint::spin_loop();
    }
}

/// Runs `f(cpu)` on every CPU of `cpus` (distinct kernel indices; the caller's own
/// index runs inline) and returns the results in the order of `cpus` once all
/// finished.
///
/// # Panics
/// If a CPU is listed twice, is not online, or cannot be posted to (a caller bug).
/// A CPU that does not finish within the watchdog limit ends the run (exit code 5).
pub fn run_on<R: Send, F: Fn(usize) -> R + Sync>(cpus: &[usize], f: F) -> Vec<R> {
    for (i, c) in cpus.iter().enumerate() {
        assert!(!cpus[..i].contains(c), "run_on: CPU {c} listed twice");
    }
    let me = percpu::current_index();
    let slots: Vec<Mutex<Option<R>>> = cpus.iter().map(|_| Mutex::new(None)).collect();
    let body = |cpu: usize| {
        let r = f(cpu);
        if let Some(pos) = cpus.iter().position(|&c| c == cpu) {
            *slots[pos].lock() = Some(r);
        }
    };
    let remote: Vec<usize> = cpus.iter().copied().filter(|&c| c != me).collect();
    let limit = watchdog::limit_ns();
    let pending = core::cell::RefCell::new(Vec::new());
    percpu::lend_job(
        &body,
        |job| {
            let posted = post_all(&remote, job).unwrap_or_else(|e| panic!("run_on: {e}"));
            if cpus.contains(&me) {
                body(me);
            }
            *pending.borrow_mut() = wait_finished(&posted, now_ns() + limit);
            pending.borrow().is_empty()
        },
        || {
            let late = pending.borrow().clone();
            watchdog::fire(format_args!("dispatch round: CPUs {late:?} did not finish"))
        },
    );
    watchdog::progress();
    slots
        .into_iter()
        .map(|s| s.into_inner().expect("every CPU stored its result"))
        .collect()
}

/// Runs the `'static` job `f` on `cpus` (not the caller) and waits at most
/// `timeout_ns`. `Err` lists the CPUs that did not finish in time (they keep running
/// the job; it cannot dangle) or says why nothing was posted.
///
/// # Errors
/// `Err(Ok(cpus))` with the kernel indices of the CPUs that had not finished after
/// `timeout_ns` nanoseconds. `Err(Err(e))` when posting failed: [`PostError::Offline`] for a
/// CPU that does not exist or is not online, [`PostError::Busy`] for one still running an
/// earlier job (nothing posted in both cases), [`PostError::Ipi`] when a wake-up IPI fails
/// (the job is then already posted to that CPU and the ones before it in `cpus`).
pub fn run_static_within(
    cpus: &[usize],
    f: &'static (dyn Fn(usize) + Sync),
    timeout_ns: u64,
) -> Result<(), Result<Vec<usize>, PostError>> {
    let posted = post_all(cpus, JobPtr::from_static(f)).map_err(Err)?;
    let pending = wait_finished(&posted, now_ns() + timeout_ns);
    if pending.is_empty() {
        Ok(())
    } else {
        Err(Ok(pending))
    }
}

/// Sends the wake-up IPI to `cpus` (for jobs that sleep until a flag changes).
pub fn wake(cpus: &[usize]) {
    for c in cpus.iter().filter_map(|&i| target(i).ok()) {
        let _ = apic::send_fixed(c.apic_id, super::VEC_WAKE);
    }
}

/// Waits (at most `timeout_ns`) until CPU `index` has no job; true when idle.
pub fn wait_idle(index: usize, timeout_ns: u64) -> bool {
    let Ok(c) = target(index) else {
        return false;
    };
    let deadline = now_ns() + timeout_ns;
    while !is_idle(c) {
        if now_ns() > deadline {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

/// Times `rounds` dispatch rounds of an empty job to `cpus` (post, wake, run, barrier):
/// the fixed "thread start" cost a multi-threaded copy pays per batch.
pub fn measure_rounds(cpus: &[usize], rounds: usize) -> RoundCost {
    let mut ns = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t0 = tsc::rdtsc();
        run_on(cpus, |_| ());
        ns.push(tsc::ticks_to_ns(tsc::rdtsc() - t0));
    }
    RoundCost::of(&ns)
}
