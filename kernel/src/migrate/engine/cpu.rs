//! The single-core CPU copy engine, and the boot-time choice of copy routine.

use super::{cpu_outcome, CopyEngine, CopyOutcome};
use crate::arch::copy::Routine;
use crate::arch::tsc;
use crate::migrate::error::{EngineError, SetupError};
use crate::mm::copy::{CopyBatch, CopyList};
use crate::mm::frames;
use crate::println;
use alloc::string::String;
use alloc::vec::Vec;
use kcore::cmdline::CopyRoutine;
use spin::Once;

static CHOSEN: Once<Routine> = Once::new();

/// The routine the `cpu` engine uses (after [`choose`]).
pub fn routine() -> Routine {
    CHOSEN.get().copied().unwrap_or(Routine::Movsb)
}

/// Measures every available routine on a 2 MiB copy between the first and last node
/// and keeps the fastest, unless `forced` names one. Prints the table.
///
/// # Errors
/// [`SetupError::Frames`] without two free 2 MiB blocks, or
/// [`SetupError::RoutineUnavailable`] for a forced routine this CPU cannot run.
pub fn choose(forced: CopyRoutine) -> Result<Routine, SetupError> {
    let avx = Routine::Avx2.available();
    let nodes = frames::nodes();
    let (from, to) = (nodes[0], *nodes.last().expect("at least one node"));
    let src = frames::alloc(from, 9).map_err(SetupError::Frames)?;
    let mut dst = frames::alloc(to, 9).map_err(SetupError::Frames)?;
    let mut buf = Vec::with_capacity(1);
    let mut list = CopyList::new(&mut buf);
    list.push(&src, &mut dst).map_err(SetupError::Copy)?;
    let mut batch = list.batch();
    let mut best: Option<(Routine, u64)> = None;
    let mut line = String::new();
    for r in Routine::ALL.into_iter().filter(|r| r.available()) {
        let mut ns = u64::MAX;
        for _ in 0..4 {
            let t0 = tsc::now_ns();
            batch.copy(r).map_err(SetupError::Copy)?;
            ns = ns.min(tsc::now_ns() - t0);
        }
        let gbps = (2u64 << 20) as f64 / ns.max(1) as f64;
        line.push_str(&alloc::format!(" {}={:.2}", r.name(), gbps));
        if best.is_none_or(|(_, b)| ns < b) {
            best = Some((r, ns));
        }
    }
    frames::free(src).map_err(SetupError::Frames)?;
    frames::free(dst).map_err(SetupError::Frames)?;
    let chosen = match Routine::forced_by(forced) {
        None => best.map(|(r, _)| r).unwrap_or(Routine::Movsb),
        Some(r) => {
            if !r.available() {
                return Err(SetupError::RoutineUnavailable(r.name()));
            }
            r
        }
    };
    println!(
        "copy: node {from}->{to} 2 MiB, GB/s (best of 4):{line}; using {} ({}){}",
        chosen.name(),
        if forced == CopyRoutine::Auto {
            "fastest"
        } else {
            "forced by copy="
        },
        match (avx, Routine::Avx512.available()) {
            (_, true) => "",
            (true, false) => "; no AVX-512 on this CPU",
            _ => "; no AVX2/AVX-512 on this CPU",
        }
    );
    Ok(*CHOSEN.call_once(|| chosen))
}

/// One core copying with the chosen routine.
#[derive(Debug, Default)]
pub struct CpuEngine;

impl CopyEngine for CpuEngine {
    fn name(&self) -> &'static str {
        kcore::cmdline::Engine::Cpu.name()
    }

    fn width(&self) -> usize {
        1
    }

    fn copy(&mut self, batch: &mut CopyBatch<'_>) -> Result<CopyOutcome, EngineError> {
        copy_batch(batch)?;
        Ok(cpu_outcome(batch.ops()))
    }
}

/// One core copying with a given routine, whatever the boot chose (`bench=pollution`:
/// temporal vs non-temporal stores). Named `cpu-<routine>` in reports.
#[derive(Debug, Clone, Copy)]
pub struct RoutineEngine {
    routine: Routine,
}

impl RoutineEngine {
    /// The engine, if this CPU can run `routine`.
    ///
    /// # Errors
    /// [`SetupError::RoutineUnavailable`] when it cannot.
    pub fn new(routine: Routine) -> Result<Self, SetupError> {
        if routine.available() {
            Ok(Self { routine })
        } else {
            Err(SetupError::RoutineUnavailable(routine.name()))
        }
    }
}

impl CopyEngine for RoutineEngine {
    fn name(&self) -> &'static str {
        match self.routine {
            Routine::Movsb => "cpu-movsb",
            Routine::Sse2 => "cpu-sse2",
            Routine::Avx2 => "cpu-avx2",
            Routine::Avx512 => "cpu-avx512",
            Routine::NonTemporal => "cpu-nt",
        }
    }

    fn width(&self) -> usize {
        1
    }

    fn copy(&mut self, batch: &mut CopyBatch<'_>) -> Result<CopyOutcome, EngineError> {
        batch.copy(self.routine).map_err(EngineError::Copy)?;
        Ok(cpu_outcome(batch.ops()))
    }
}

/// Copies `batch` on this CPU with the chosen routine (also the DMA engine's fallback).
///
/// # Errors
/// [`EngineError::Copy`] when the routine is unavailable (nothing copied).
pub fn copy_batch(batch: &mut CopyBatch<'_>) -> Result<(), EngineError> {
    batch.copy(routine()).map_err(EngineError::Copy)
}

/// Copies `pieces` of `batch` on this CPU with the chosen routine (what DMA channels
/// left undone).
///
/// # Errors
/// [`EngineError::Copy`] for a piece outside its op or an unavailable routine (nothing
/// copied).
pub fn copy_pieces(
    batch: &mut CopyBatch<'_>,
    pieces: &[kcore::migrate::Piece],
) -> Result<(), EngineError> {
    batch
        .copy_pieces(routine(), pieces)
        .map_err(EngineError::Copy)
}
