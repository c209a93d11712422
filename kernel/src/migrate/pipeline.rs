//! The four-phase migration of a workload to another node, timed per phase:
//!
//! 1. prepare — allocate destination folios on the target node, copy metadata;
//! 2. unmap — clear the PTEs, then one TLB flush for the whole batch;
//! 3. copy — the batch through a copy engine;
//! 4. remap — point the PTEs at the destination folios, free the sources.
//!
//! `Batched` runs each phase over a batch (at most `batch_pages` base pages, like
//! Linux's `NR_MAX_BATCHED_MIGRATION`); `PerFolio` runs all four for one folio before
//! the next. A failure in prepare leaves the not-yet-moved folios where they were.

use super::engine::{CopyEngine, CopyOutcome};
use super::workload::{Folio, Workload};
use super::Mode;
use crate::arch::tsc;
use crate::mm::aspace::AddressSpace;
use crate::mm::frames::{self, Block};
use alloc::string::String;
use alloc::vec::Vec;
use kcore::migrate::{batches, flags, FolioMeta};
use ptdma::{CopyOp, DmaAddr};

/// Nanoseconds spent in each phase, summed over the run.
#[derive(Debug, Clone, Copy, Default)]
pub struct PhaseNs {
    /// Allocating destinations and copying metadata.
    pub prepare: u64,
    /// Clearing PTEs and flushing the TLB.
    pub unmap: u64,
    /// Copying data.
    pub copy: u64,
    /// Installing the new PTEs and freeing the sources.
    pub remap: u64,
}

impl PhaseNs {
    /// All phases.
    pub fn total(&self) -> u64 {
        self.prepare + self.unmap + self.copy + self.remap
    }
}

/// What one migration did.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunStats {
    /// Per-phase time.
    pub phases: PhaseNs,
    /// Bytes moved.
    pub bytes: u64,
    /// Batches (per-folio mode: one per folio).
    pub batches: usize,
    /// TLB flushes that were full flushes rather than per-page `invlpg`.
    pub full_flushes: usize,
    /// Engine side effects (fallbacks, MMIO).
    pub engine: CopyOutcome,
}

/// Moves every folio of `w` to node `to`.
pub fn migrate(
    w: &mut Workload,
    to: u32,
    engine: &mut dyn CopyEngine,
    mode: Mode,
    batch_pages: u64,
) -> Result<RunStats, String> {
    let order = w.order;
    let limit = if mode == Mode::PerFolio {
        0
    } else {
        batch_pages
    };
    let ranges: Vec<_> = batches(w.folios.len(), order, limit).collect();
    let folios = &mut w.folios;
    let mut stats = RunStats::default();
    w.space.with_active(|space| {
        for r in ranges {
            move_batch(space, &mut folios[r], order, to, engine, &mut stats)?;
        }
        Ok::<(), String>(())
    })?;
    stats.bytes = w.folios.len() as u64 * kcore::migrate::folio_bytes(order);
    Ok(stats)
}

fn move_batch(
    space: &mut AddressSpace,
    batch: &mut [Folio],
    order: u8,
    to: u32,
    engine: &mut dyn CopyEngine,
    stats: &mut RunStats,
) -> Result<(), String> {
    // 1. prepare
    let t0 = tsc::now_ns();
    let mut dst: Vec<(Block, FolioMeta)> = Vec::with_capacity(batch.len());
    for f in batch.iter_mut() {
        match frames::alloc(to, order as usize) {
            Ok(b) => {
                f.meta.flags |= flags::MIGRATING;
                dst.push((b, f.meta.migrated_to(to)));
            }
            Err(e) => {
                for (b, _) in dst {
                    let _ = frames::free(b);
                }
                for f in batch.iter_mut() {
                    f.meta.flags &= !flags::MIGRATING;
                }
                return Err(alloc::format!(
                    "prepare: no {}-frame block on node {to}: {e}",
                    1u64 << order
                ));
            }
        }
    }
    // 2. unmap + one flush for the batch
    let t1 = tsc::now_ns();
    let mut unmapped = Vec::with_capacity(batch.len());
    for f in batch.iter() {
        let pa = space
            .unmap(f.va, order)
            .map_err(|e| alloc::format!("unmap folio {}: {e}", f.id))?;
        if pa != f.block.addr {
            return Err(alloc::format!(
                "folio {} was mapped to {pa:#x}, expected {:#x}",
                f.id,
                f.block.addr
            ));
        }
        unmapped.push((f.va, order));
    }
    if matches!(space.flush(&unmapped), kcore::pagetable::FlushPlan::Full) {
        stats.full_flushes += 1;
    }
    // 3. copy
    let t2 = tsc::now_ns();
    let ops: Vec<CopyOp> = batch
        .iter()
        .zip(&dst)
        .map(|(f, (b, _))| CopyOp {
            src: DmaAddr::new(f.block.addr),
            dst: DmaAddr::new(b.addr),
            len: b.bytes(),
        })
        .collect();
    let outcome = engine.copy(&ops)?;
    stats.engine.add(&outcome);
    // 4. remap + free the sources
    let t3 = tsc::now_ns();
    for (f, (b, meta)) in batch.iter_mut().zip(dst) {
        space
            .remap(f.va, b.addr, order)
            .map_err(|e| alloc::format!("remap folio {}: {e}", f.id))?;
        let old = core::mem::replace(&mut f.block, b);
        f.meta = meta;
        frames::free(old).map_err(|e| alloc::format!("free source of folio {}: {e}", f.id))?;
    }
    let t4 = tsc::now_ns();
    stats.phases.prepare += t1 - t0;
    stats.phases.unmap += t2 - t1;
    stats.phases.copy += t3 - t2;
    stats.phases.remap += t4 - t3;
    stats.batches += 1;
    crate::smp::watchdog::progress();
    Ok(())
}

/// The copy phase alone on the same bytes: every folio copied by `engine` to a fresh
/// block on `to` (allocated before timing, freed after), no unmap or remap. This is
/// the engine's ceiling for the efficiency ratio. Returns (ns, outcome).
pub fn raw_copy(
    w: &Workload,
    to: u32,
    engine: &mut dyn CopyEngine,
    batch_pages: u64,
) -> Result<(u64, CopyOutcome), String> {
    let mut dst = Vec::with_capacity(w.folios.len());
    for _ in &w.folios {
        match frames::alloc(to, w.order as usize) {
            Ok(b) => dst.push(b),
            Err(e) => {
                for b in dst {
                    let _ = frames::free(b);
                }
                return Err(alloc::format!("raw copy destination: {e}"));
            }
        }
    }
    let mut outcome = CopyOutcome::default();
    let mut ns = 0;
    let mut result = Ok(());
    for r in batches(w.folios.len(), w.order, batch_pages) {
        let ops: Vec<CopyOp> = w.folios[r.clone()]
            .iter()
            .zip(&dst[r])
            .map(|(f, b)| CopyOp {
                src: DmaAddr::new(f.block.addr),
                dst: DmaAddr::new(b.addr),
                len: b.bytes(),
            })
            .collect();
        let t0 = tsc::now_ns();
        match engine.copy(&ops) {
            Ok(o) => outcome.add(&o),
            Err(e) => result = Err(e),
        }
        ns += tsc::now_ns() - t0;
        if result.is_err() {
            break;
        }
    }
    // The raw copy is verified too: the destinations must equal the sources.
    if result.is_ok() {
        result = check_raw(w, &mut dst);
    }
    for b in dst {
        frames::free(b).map_err(|e| alloc::format!("{e}"))?;
    }
    result.map(|()| (ns, outcome))
}

fn check_raw(w: &Workload, dst: &mut [Block]) -> Result<(), String> {
    for (f, b) in w.folios.iter().zip(dst.iter_mut()) {
        let mut src = f.block;
        if src.as_mut_slice() != b.as_mut_slice() {
            return Err(alloc::format!(
                "raw copy of folio {} differs from its source",
                f.id
            ));
        }
    }
    Ok(())
}
