//! Batched TLB shootdown (DESIGN.md §4 step 2): after unmapping a whole batch, one IPI
//! round to the CPUs in the address space's CPU mask, each acknowledging once it has
//! flushed. The flush plan (per-page `invlpg` up to a threshold, a full flush above it)
//! is `kcore::pagetable::FlushPlan`, the same plan the initiator applies locally.
//!
//! Rounds are serialized (one at a time, machine-wide); every wait is bounded. The
//! handler runs on the target's IRQ stack with interrupts off; it takes the plan from
//! its own slot and drops its reference before acknowledging, so the initiator (which
//! still holds one) always frees it — never the handler, which may have interrupted a
//! holder of the heap lock.

use super::error::ShootdownError;
use super::{now_ns, RoundCost};
use crate::arch::percpu;
use crate::arch::traps::TrapFrame;
use crate::arch::{apic, tsc};
use crate::mm::aspace::{self, AddressSpace};
use crate::mm::frames;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use kcore::cpuset::CpuSet;
use kcore::pagetable::FlushPlan;
use spin::Mutex;

/// Longest a round may wait for acknowledgements.
const ACK_TIMEOUT_NS: u64 = 1_000_000_000;

static ROUND: Mutex<()> = Mutex::new(());

/// What one round did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    /// The plan applied on every CPU.
    pub plan: FlushPlan,
    /// CPUs that got the IPI (kernel indices).
    pub targets: Vec<usize>,
    /// Nanoseconds from the first IPI to the last acknowledgement (0 without targets).
    pub ns: u64,
}

/// Invalidates a batch of unmapped `(va, order)` of `space` on this CPU and on every
/// other CPU that has the space loaded, with one IPI each. Err names the CPUs that did
/// not acknowledge in time.
///
/// # Errors
/// [`ShootdownError::RoundBusy`], [`ShootdownError::UnknownCpu`],
/// [`ShootdownError::Ipi`] or [`ShootdownError::NoAck`] naming the late CPUs.
pub fn flush(space: &mut AddressSpace, unmapped: &[(u64, u8)]) -> Result<Round, ShootdownError> {
    let plan = space.flush(unmapped);
    let me = percpu::current_index();
    let mut mask = space.cpumask();
    mask.remove(me);
    let targets: Vec<usize> = mask.iter().collect();
    if targets.is_empty() {
        return Ok(Round {
            plan,
            targets,
            ns: 0,
        });
    }
    let deadline = now_ns() + ACK_TIMEOUT_NS;
    let _round = loop {
        if let Some(g) = ROUND.try_lock() {
            break g;
        }
        if now_ns() > deadline {
            return Err(ShootdownError::RoundBusy);
        }
        core::hint::spin_loop();
    };
    let shared = Arc::new(plan);
    let cpus = super::cpus();
    let t0 = tsc::rdtsc();
    let mut waits = Vec::with_capacity(targets.len());
    for &t in &targets {
        let c = cpus.get(t).ok_or(ShootdownError::UnknownCpu(t))?;
        let want = c.tlb_acked.load(Ordering::Acquire) + 1;
        *c.tlb_plan.lock() = Some(shared.clone());
        apic::send_fixed(c.apic_id, super::VEC_TLB)
            .map_err(|error| ShootdownError::Ipi { cpu: t, error })?;
        waits.push((c, want));
    }
    loop {
        let late: Vec<usize> = waits
            .iter()
            .filter(|(c, want)| c.tlb_acked.load(Ordering::Acquire) < *want)
            .map(|(c, _)| c.index)
            .collect();
        if late.is_empty() {
            break;
        }
        if now_ns() > deadline {
            return Err(ShootdownError::NoAck(late));
        }
        core::hint::spin_loop();
    }
    let ns = tsc::ticks_to_ns(tsc::rdtsc() - t0);
    let plan = Arc::try_unwrap(shared).unwrap_or_else(|a| (*a).clone());
    Ok(Round { plan, targets, ns })
}

/// The shootdown IPI handler.
pub fn on_ipi(_frame: &mut TrapFrame) {
    let Some(c) = percpu::current() else {
        return;
    };
    let plan = c.tlb_plan.lock().take();
    if let Some(plan) = plan {
        match &*plan {
            FlushPlan::Pages(pages) => {
                for &p in pages {
                    x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(p));
                }
            }
            FlushPlan::Full => x86_64::instructions::tlb::flush_all(),
        }
        drop(plan);
        c.tlb_acked.fetch_add(1, Ordering::AcqRel);
    }
}

/// Times `rounds` real shootdown rounds: the CPUs of `others` load a one-page address
/// space and wait; this CPU unmaps the page, runs a round, and maps it back.
///
/// # Errors
/// A [`ShootdownError`] from setting up the page or from a round.
pub fn measure_rounds(others: &[usize], rounds: usize) -> Result<RoundCost, ShootdownError> {
    let me = percpu::current_index();
    let block = frames::alloc(0, 0).map_err(ShootdownError::Frames)?;
    let mut space = AddressSpace::new(0).map_err(ShootdownError::Tables)?;
    let va = aspace::WORKLOAD_BASE;
    space
        .map(va, block.addr(), 0)
        .map_err(ShootdownError::Tables)?;
    let handle = space.handle();
    let space = Mutex::new(space);
    let release = AtomicBool::new(false);
    let want_mask: CpuSet = others.iter().copied().collect();
    let mut all: Vec<usize> = others.to_vec();
    all.push(me);
    let results = super::dispatch::run_on(&all, |cpu| -> Result<Vec<u64>, ShootdownError> {
        if cpu != me {
            handle.with_active(|| wait_flag_sleeping(&release, 5_000_000_000));
            return Ok(Vec::new());
        }
        let out = (|| {
            wait_mask(&space, want_mask, 2_000_000_000)?;
            let mut ns = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                let mut s = space.lock();
                s.unmap(va, 0).map_err(ShootdownError::Tables)?;
                let r = flush(&mut s, &[(va, 0)])?;
                s.remap(va, block.addr(), 0)
                    .map_err(ShootdownError::Tables)?;
                ns.push(r.ns);
            }
            Ok(ns)
        })();
        release.store(true, Ordering::Release);
        super::dispatch::wake(others);
        out
    });
    let mut space = space.into_inner();
    let _ = space.unmap(va, 0);
    space.destroy();
    let _ = frames::free(block);
    let mut ns = Vec::new();
    for r in results {
        ns.extend(r?);
    }
    Ok(RoundCost::of(&ns))
}

/// Waits (bounded) until `flag` is set; false on timeout.
pub fn wait_flag(flag: &AtomicBool, timeout_ns: u64) -> bool {
    let deadline = now_ns() + timeout_ns;
    while !flag.load(Ordering::Acquire) {
        if now_ns() > deadline {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

/// As [`wait_flag`], but halts between checks (woken by any interrupt: a shootdown or
/// wake-up IPI, or the timer tick), so a waiting vCPU does not steal host time from the
/// ones working — under TCG on a small host that is what dominates the measured cost.
pub fn wait_flag_sleeping(flag: &AtomicBool, timeout_ns: u64) -> bool {
    let deadline = now_ns() + timeout_ns;
    while !flag.load(Ordering::Acquire) {
        if now_ns() > deadline {
            return false;
        }
        crate::arch::cpu::sleep_unless(|| flag.load(Ordering::Acquire));
    }
    true
}

/// Waits (bounded) until every CPU of `mask` has the space loaded.
///
/// # Errors
/// [`ShootdownError::NotLoaded`] after `timeout_ns`.
pub fn wait_mask(
    space: &Mutex<AddressSpace>,
    mask: CpuSet,
    timeout_ns: u64,
) -> Result<(), ShootdownError> {
    let deadline = now_ns() + timeout_ns;
    loop {
        let have = space.lock().cpumask();
        if have.is_superset(&mask) {
            return Ok(());
        }
        if now_ns() > deadline {
            return Err(ShootdownError::NotLoaded {
                missing: alloc::boxed::Box::new(mask.difference(&have)),
                have: alloc::boxed::Box::new(have),
            });
        }
        core::hint::spin_loop();
    }
}
