//! One repetition of several streams at once: every stream's coordinating CPU builds
//! its own workload (its own address space, folios on its source node), all wait at a
//! start line, then each migrates with its own engine — channels come from the one
//! registry pool per batch — verifies every byte and mapping, and destroys its
//! workload. The caller checks the machine's frames afterwards.

use crate::arch::tsc;
use crate::migrate::engine::auto::AutoEngine;
use crate::migrate::engine::cpu::CpuEngine;
use crate::migrate::engine::dma::DmaEngine;
use crate::migrate::engine::{CopyEngine, CopyOutcome};
use crate::migrate::pipeline::{self, PhaseNs};
use crate::migrate::workload::Workload;
use crate::migrate::Mode;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};
use kcore::costmodel::Cost;
use spin::Mutex;

/// The engine a stream builds on its own CPU (every part of it is plain data, so it
/// can be handed to that CPU).
#[derive(Debug, Clone)]
pub enum StreamEngine {
    /// One core: the stream's coordinating CPU.
    Cpu,
    /// DMA channels leased per batch under the admission policy.
    Dma(DmaEngine),
    /// Per batch, CPU or DMA by the calibrated costs (CPU first, DMA second).
    Auto(DmaEngine, Cost, Cost),
}

impl StreamEngine {
    /// `cpu`, `dma`, `auto`.
    pub fn name(&self) -> &'static str {
        match self {
            StreamEngine::Cpu => "cpu",
            StreamEngine::Dma(_) => "dma",
            StreamEngine::Auto(..) => "auto",
        }
    }
}

/// What one stream migrates.
#[derive(Debug, Clone)]
pub struct StreamPlan {
    /// Kernel index of its coordinating CPU.
    pub cpu: usize,
    /// Source node.
    pub from: u32,
    /// Destination node.
    pub to: u32,
    /// Folio order.
    pub order: u8,
    /// Folios.
    pub folios: usize,
    /// Batch limit in base pages.
    pub batch_pages: u64,
    /// Its engine.
    pub engine: StreamEngine,
}

/// How one stream's repetition ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamFailure {
    /// Its source node had no frames for the workload (nothing migrated).
    OutOfMemory(String),
    /// Migration, verification or the stream's frame accounting failed.
    Failed(String),
}

/// One stream's repetition.
#[derive(Debug, Clone, Default)]
pub struct StreamRep {
    /// TSC ns when its migration started and ended.
    pub start_ns: u64,
    /// End of the migration (before verification).
    pub end_ns: u64,
    /// Per-phase time.
    pub phases: PhaseNs,
    /// The engine's side effects (bytes by copier, admission counts, ...).
    pub engine: CopyOutcome,
    /// Each batch's time, ns.
    pub batch_ns: Vec<u64>,
    /// Each folio's unmapped window, ns.
    pub windows: Vec<u64>,
    /// Per batch: ns until its first folio was mapped again.
    pub first_mapped: Vec<u64>,
    /// Frames the workload held before and after migrating (must be equal).
    pub frames: (u64, u64),
    /// `auto`'s choices (`cpu:3,dma:5`), else empty.
    pub choices: String,
    /// `None` when migrated and verified.
    pub failure: Option<StreamFailure>,
}

/// Streams migrating right now (the foreground of `bench=appcost` counts its rounds
/// only while this is above zero).
static MIGRATING: AtomicUsize = AtomicUsize::new(0);

/// Streams migrating right now.
pub fn migrating() -> usize {
    MIGRATING.load(Ordering::Acquire)
}

/// Streams this long past the start line count as stuck (ns).
const START_LINE_NS: u64 = 30_000_000_000;

fn frames_of(w: &Workload) -> u64 {
    w.folios.iter().map(|f| 1u64 << f.block.order()).sum()
}

fn one_stream(plan: &StreamPlan, seed: u64, ready: &AtomicUsize, n: usize) -> StreamRep {
    let mut rep = StreamRep::default();
    let w = Workload::create(plan.from, plan.order, plan.folios, seed);
    // Always reach the start line, even without a workload: the others wait for it.
    ready.fetch_add(1, Ordering::AcqRel);
    let deadline = tsc::now_ns() + START_LINE_NS;
    while ready.load(Ordering::Acquire) < n && tsc::now_ns() < deadline {
        core::hint::spin_loop();
    }
    let mut w = match w {
        Ok(w) => w,
        Err(e) => {
            rep.failure = Some(if e.is_out_of_memory() {
                StreamFailure::OutOfMemory(alloc::format!("{e}"))
            } else {
                StreamFailure::Failed(alloc::format!("{e}"))
            });
            return rep;
        }
    };
    let before = frames_of(&w);
    let (mut cpu, mut dma, mut auto) = (None, None, None);
    let engine: &mut dyn CopyEngine = match plan.engine.clone() {
        StreamEngine::Cpu => cpu.insert(CpuEngine),
        StreamEngine::Dma(d) => dma.insert(d),
        StreamEngine::Auto(d, c_cpu, c_dma) => {
            let candidates = alloc::vec![
                (Box::new(CpuEngine) as Box<dyn CopyEngine>, c_cpu),
                (Box::new(d) as Box<dyn CopyEngine>, c_dma),
            ];
            match AutoEngine::new(candidates) {
                Ok(a) => auto.insert(a),
                Err(e) => {
                    rep.failure = Some(StreamFailure::Failed(alloc::format!("{e}")));
                    let _ = w.destroy();
                    return rep;
                }
            }
        }
    };
    MIGRATING.fetch_add(1, Ordering::AcqRel);
    rep.start_ns = tsc::now_ns();
    let r = pipeline::migrate(&mut w, plan.to, engine, Mode::Batched, plan.batch_pages);
    rep.end_ns = tsc::now_ns();
    MIGRATING.fetch_sub(1, Ordering::AcqRel);
    rep.frames = (before, frames_of(&w));
    match r {
        Ok(s) => {
            rep.phases = s.phases;
            rep.engine = s.engine;
            rep.batch_ns = s.batch_ns;
            rep.windows = s.windows;
            rep.first_mapped = s.first_mapped;
            if let Err(e) = w.verify(plan.to) {
                rep.failure = Some(StreamFailure::Failed(alloc::format!("{e}")));
            } else if rep.frames.0 != rep.frames.1 {
                rep.failure = Some(StreamFailure::Failed(alloc::format!(
                    "the workload held {} frames before migrating and {} after",
                    rep.frames.0,
                    rep.frames.1
                )));
            }
        }
        Err(e) => {
            let intact = w.verify_intact(plan.from, plan.to);
            rep.failure = Some(match intact {
                Ok(_) if e.is_out_of_memory() => StreamFailure::OutOfMemory(alloc::format!("{e}")),
                Ok(_) => StreamFailure::Failed(alloc::format!("{e}")),
                Err(bad) => StreamFailure::Failed(alloc::format!(
                    "{e}; rollback left the workload damaged: {bad}"
                )),
            });
        }
    }
    rep.choices = auto.as_ref().map(AutoEngine::choices).unwrap_or_default();
    if let Err(e) = w.destroy() {
        rep.failure
            .get_or_insert(StreamFailure::Failed(alloc::format!(
                "destroying the workload: {e}"
            )));
    }
    rep
}

/// Runs every stream of `plans` at once (stream i on `plans[i].cpu`, distinct CPUs; the
/// caller's own CPU may be one of them) and returns their repetitions in order.
pub fn run_streams(plans: &[StreamPlan], seed: u64) -> Vec<StreamRep> {
    let ready = AtomicUsize::new(0);
    let cpus: Vec<usize> = plans.iter().map(|p| p.cpu).collect();
    let slots: Vec<Mutex<Option<StreamRep>>> = plans.iter().map(|_| Mutex::new(None)).collect();
    crate::smp::dispatch::run_on(&cpus, |cpu| {
        if let Some(i) = plans.iter().position(|p| p.cpu == cpu) {
            let r = one_stream(
                &plans[i],
                seed ^ ((i as u64 + 1) << 40),
                &ready,
                plans.len(),
            );
            *slots[i].lock() = Some(r);
        }
    });
    slots
        .into_iter()
        .map(|s| s.into_inner().unwrap_or_default())
        .collect()
}
