//! Per-CPU data, reached through the GS base MSR, and the job pointer a CPU's mailbox
//! carries. Everything CPU-local lives in one [`PerCpu`] block per CPU, allocated by
//! `smp` (on the heap, leaked) before the CPU starts; the block's address is written to
//! IA32_GS_BASE on that CPU, so [`current`] needs no lookup table and no APIC read.
//!
//! The fields are atomics or locks because other CPUs read them: the watchdog reads
//! heartbeats and sampled RIPs, `smp::dispatch` posts jobs, `smp::shootdown` posts flush
//! plans.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kcore::pagetable::FlushPlan;
use kcore::topology::{CpuIdent, CpuTopo};
use spin::{Mutex, Once};
use x86_64::registers::model_specific::GsBase;
use x86_64::VirtAddr;

/// What a CPU is doing, for the watchdog's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum CpuState {
    /// Not started (or failed to start).
    Offline = 0,
    /// Starting: trampoline sent, not reported in yet.
    Starting = 1,
    /// Waiting for work.
    Idle = 2,
    /// Running a dispatched job.
    Running = 3,
    /// The boot CPU, running the main job.
    Main = 4,
}

impl CpuState {
    /// Decodes the value stored in [`PerCpu::state`].
    pub fn from_u32(v: u32) -> Self {
        match v {
            1 => Self::Starting,
            2 => Self::Idle,
            3 => Self::Running,
            4 => Self::Main,
            _ => Self::Offline,
        }
    }
}

/// One CPU's data.
pub struct PerCpu {
    /// Kernel CPU index (MADT order).
    pub index: usize,
    /// APIC ID (from the MADT).
    pub apic_id: u32,
    /// NUMA node (SRAT).
    pub node: u32,
    /// Tops of the IST stacks (APs; the BSP uses its static ones).
    pub ist_tops: [u64; super::gdt::IST_COUNT],
    /// Top of the stack `ap_main` runs on (APs).
    pub stack_top: u64,
    /// Lowest and highest address of this CPU's stacks, for exception stack dumps.
    pub stacks: (u64, u64),
    /// CPUID topology as decoded on this CPU.
    pub ident: Once<CpuIdent>,
    /// Position in the machine (package, die, L3, core, SMT, node), once every CPU is up.
    pub topo: Once<CpuTopo>,
    /// Reported in and serving its mailbox.
    pub online: AtomicBool,
    /// A [`CpuState`].
    pub state: AtomicU32,
    /// TSC at the last worker-loop pass, job start/end or timer tick.
    pub heartbeat: AtomicU64,
    /// RIP the last LAPIC timer tick interrupted.
    pub sampled_rip: AtomicU64,
    /// RIP an NMI from the watchdog interrupted (0 = none yet).
    pub nmi_rip: AtomicU64,
    /// Jobs posted to this CPU (a sequence number).
    pub posted: AtomicU64,
    /// Jobs this CPU finished (equals `posted` when idle).
    pub finished: AtomicU64,
    /// The job for sequence `posted`.
    pub job: Mutex<Option<JobPtr>>,
    /// TLB flush requested of this CPU by a shootdown round.
    pub tlb_plan: Mutex<Option<Arc<FlushPlan>>>,
    /// Shootdown rounds this CPU has acknowledged.
    pub tlb_acked: AtomicU64,
}

impl PerCpu {
    /// A block for CPU `index` with nothing started yet.
    pub fn new(index: usize, apic_id: u32, node: u32) -> Self {
        Self {
            index,
            apic_id,
            node,
            ist_tops: [0; super::gdt::IST_COUNT],
            stack_top: 0,
            stacks: (0, 0),
            ident: Once::new(),
            topo: Once::new(),
            online: AtomicBool::new(false),
            state: AtomicU32::new(CpuState::Offline as u32),
            heartbeat: AtomicU64::new(0),
            sampled_rip: AtomicU64::new(0),
            nmi_rip: AtomicU64::new(0),
            posted: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            job: Mutex::new(None),
            tlb_plan: Mutex::new(None),
            tlb_acked: AtomicU64::new(0),
        }
    }

    /// The current state.
    pub fn state(&self) -> CpuState {
        CpuState::from_u32(self.state.load(Ordering::Acquire))
    }

    /// Sets the state and beats the heart.
    pub fn set_state(&self, s: CpuState) {
        self.state.store(s as u32, Ordering::Release);
        self.beat();
    }

    /// Records progress now.
    pub fn beat(&self) {
        self.heartbeat.store(super::tsc::rdtsc(), Ordering::Relaxed);
    }
}

/// Makes `cpu` the running CPU's per-CPU block (writes IA32_GS_BASE).
pub fn install(cpu: &'static PerCpu) {
    GsBase::write(VirtAddr::new(cpu as *const PerCpu as u64));
}

/// The running CPU's block, once [`install`] ran on it.
pub fn current() -> Option<&'static PerCpu> {
    let base = GsBase::read().as_u64();
    if base == 0 {
        return None;
    }
    // SAFETY: GS base is only ever written by `install`, with the address of a leaked
    // ('static) PerCpu; 0 (the reset value) was excluded above.
    Some(unsafe { &*(base as *const PerCpu) })
}

/// The running CPU's kernel index (0 before per-CPU data exists: only the BSP runs then).
pub fn current_index() -> usize {
    current().map_or(0, |c| c.index)
}

/// A job a CPU's mailbox carries: a closure called with the CPU's index.
#[derive(Clone, Copy)]
pub struct JobPtr(*const (dyn Fn(usize) + Sync + 'static));

// SAFETY: the closure is Sync, so sharing a pointer to it with another CPU and calling it
// there is sound; the lifetime is the constructor's business.
unsafe impl Send for JobPtr {}

impl JobPtr {
    /// A job that lives forever.
    pub fn from_static(f: &'static (dyn Fn(usize) + Sync)) -> Self {
        Self(f)
    }

    /// A job borrowed from the caller's stack.
    ///
    /// # Safety
    /// `f` must stay alive until every CPU it is posted to has finished calling it. The
    /// dispatcher guarantees this by waiting for all of them, and when a CPU does not
    /// finish in time it ends the run through the watchdog instead of returning.
    pub unsafe fn erase<'a>(f: &'a (dyn Fn(usize) + Sync + 'a)) -> Self {
        let p: *const (dyn Fn(usize) + Sync + 'a) = f;
        // SAFETY: only the lifetime changes; the caller keeps `f` alive (see above).
        Self(unsafe {
            core::mem::transmute::<
                *const (dyn Fn(usize) + Sync + 'a),
                *const (dyn Fn(usize) + Sync + 'static),
            >(p)
        })
    }

    /// Calls the job for CPU `cpu`.
    pub fn call(&self, cpu: usize) {
        // SAFETY: the pointer came from a live reference and its owner keeps it alive
        // while CPUs run it (constructors' contracts).
        unsafe { (*self.0)(cpu) }
    }
}

/// Lends the borrowed job `f` to other CPUs for the duration of `run`, which posts it
/// and waits. `run` returns true once no CPU can call the job any more; when it returns
/// false (a CPU did not finish), `stuck` runs (it should end the run) and this CPU
/// never returns, so `f` (on this stack) outlives any late caller. This is the only way to get a [`JobPtr`] to a
/// borrowed closure.
pub fn lend_job<'a>(
    f: &'a (dyn Fn(usize) + Sync + 'a),
    run: impl FnOnce(JobPtr) -> bool,
    stuck: impl FnOnce(),
) {
    // SAFETY: `f` stays borrowed (alive) until `run` returns true, or forever when
    // `stuck` diverges; `run` only returns true when every CPU it posted to finished.
    let job = unsafe { JobPtr::erase(f) };
    if !run(job) {
        stuck();
        // `stuck` is meant to end the run; if it returns, this CPU must still never
        // return past the borrow.
        super::cpu::halt_forever();
    }
}
