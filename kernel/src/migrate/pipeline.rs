//! The four-phase migration of a workload to another node, timed per phase. The phases
//! and their rollback are `kcore::pipeline` (host-tested against fakes); this module
//! plugs in the kernel's seams — the frame allocator (`mm::frames`), the workload's
//! page tables (`mm::aspace`), a copy engine (through `mm::copy` batches) and the TSC —
//! and turns each batch's clock into the run's statistics.
//!
//! `Batched` runs each phase over a batch (at most `batch_pages` base pages, like
//! Linux's `NR_MAX_BATCHED_MIGRATION`); `PerFolio` runs all four for one folio before
//! the next.

use super::engine::{CopyEngine, CopyOutcome};
use super::error::{EngineError, MigrateError};
use super::workload::{Folio, Workload};
use super::Mode;
use crate::arch::tsc;
use crate::mm::aspace::AddressSpace;
use crate::mm::copy::CopyList;
use crate::mm::frames::{self, Block, FrameError};
use alloc::vec::Vec;
use kcore::latency::BatchTimes;
use kcore::migrate::FolioMeta;
use kcore::pagetable::{FlushPlan, PtError};
use kcore::pipeline::{self, BatchReport, Clock, Copier, FrameBlock, Frames, Mapper, Ports};
use ptdma::CopyOp;
use x86_64::PhysAddr;

pub use super::runstats::{PhaseNs, RunStats};
pub use kcore::pipeline::Injection;

/// Moves every folio of `w` to node `to`.
///
/// # Errors
/// A [`MigrateError`] from the first batch that failed. Batches before it moved,
/// batches after it did not start, and the failed batch was rolled back: every folio
/// is mapped, holds its data (old or new copy) and its frames are accounted for —
/// unless the error is a [`kcore::pipeline::BatchError::Rollback`], which names the folio left unmapped.
pub fn migrate(
    w: &mut Workload,
    to: u32,
    engine: &mut dyn CopyEngine,
    mode: Mode,
    batch_pages: u64,
) -> Result<RunStats, MigrateError> {
    migrate_injecting(w, to, engine, mode, batch_pages, None)
}

/// [`migrate`] with a failure injected into one phase at one folio (its index in the
/// workload), to exercise the rollback on real page tables and frames (self-tests).
///
/// # Errors
/// As [`migrate`].
pub fn migrate_injecting(
    w: &mut Workload,
    to: u32,
    engine: &mut dyn CopyEngine,
    mode: Mode,
    batch_pages: u64,
    inject: Option<Injection>,
) -> Result<RunStats, MigrateError> {
    let limit = if mode == Mode::PerFolio {
        0
    } else {
        batch_pages
    };
    let ranges = w.batches(limit);
    let folios = &mut w.folios;
    let mut stats = RunStats::default();
    let mut copier = EngineCopier {
        engine,
        ops: Vec::new(),
    };
    w.space.with_active(|space| {
        let mut mapper = SpaceMapper(space);
        let mut ports = Ports {
            frames: &mut KernelFrames,
            mapper: &mut mapper,
            copier: &mut copier,
            clock: &mut Tsc,
        };
        pipeline::run(&mut ports, folios, ranges, to, inject, |r| {
            account(&mut stats, &r);
        })
    })?;
    stats.bytes = w.bytes();
    Ok(stats)
}

/// Adds one batch's times and outcome to the run's statistics.
fn account(stats: &mut RunStats, r: &BatchReport<CopyOutcome>) {
    let c = &r.clock;
    stats.engine.add(&r.outcome);
    stats.full_flushes += usize::from(r.full_flush);
    stats.first_mapped.push(c.remap_first - c.start);
    stats.batch_ns.push(c.end - c.start);
    let times = BatchTimes {
        unmap_start: c.unmap_start,
        unmap_end: c.unmap_end,
        remap_first: c.remap_first,
        remap_end: c.remap_last,
    };
    kcore::latency::batch_windows(&times, r.folios, &mut stats.windows);
    stats.phases.prepare += c.unmap_start - c.start;
    stats.phases.unmap += c.copy_start - c.unmap_start;
    stats.phases.copy += c.remap_start - c.copy_start;
    stats.phases.remap += c.end - c.remap_start;
    stats.batches += 1;
    crate::smp::watchdog::progress();
}

impl FrameBlock for Block {
    fn addr(&self) -> u64 {
        Block::addr(self).as_u64()
    }

    fn order(&self) -> u8 {
        Block::order(self)
    }

    fn node(&self) -> u32 {
        Block::node(self)
    }
}

/// The per-node buddy zones, data blocks only (what a copy engine may touch).
struct KernelFrames;

impl Frames for KernelFrames {
    type Block = Block;
    type Error = FrameError;

    fn alloc_bulk(
        &mut self,
        node: u32,
        order: u8,
        count: usize,
        out: &mut Vec<Block>,
    ) -> Result<(), FrameError> {
        frames::alloc_data_bulk(node, order as usize, count, out)
    }

    fn free_bulk(&mut self, blocks: &mut Vec<Block>) -> Result<(), (usize, FrameError)> {
        frames::free_bulk(blocks)
    }

    fn free(&mut self, block: Block) -> Result<(), FrameError> {
        frames::free(block)
    }

    fn report_leak(&mut self, error: &FrameError) {
        crate::println!("migrate: freeing an unused destination failed: {error}");
    }
}

/// The workload's address space, loaded on this CPU.
struct SpaceMapper<'a>(&'a mut AddressSpace);

impl Mapper for SpaceMapper<'_> {
    fn unmap_batch(
        &mut self,
        folios: &[(u64, u8)],
        found: &mut Vec<u64>,
    ) -> Result<(), (usize, PtError)> {
        self.0.unmap_batch(folios, found)
    }

    fn flush(&mut self, unmapped: &[(u64, u8)]) -> bool {
        matches!(self.0.flush(unmapped), FlushPlan::Full)
    }

    fn remap_batch(&mut self, folios: &[(u64, u64, u8)]) -> Result<(), (usize, PtError)> {
        self.0.remap_batch(folios)
    }

    fn remap(&mut self, va: u64, pa: u64, order: u8) -> Result<(), PtError> {
        self.0.remap(va, PhysAddr::new(pa), order)
    }
}

/// A copy engine fed `mm::copy` batches built from the folios' and destinations'
/// handles (one op buffer reused for every batch).
struct EngineCopier<'a> {
    engine: &'a mut dyn CopyEngine,
    ops: Vec<CopyOp>,
}

impl Copier<Block> for EngineCopier<'_> {
    type Outcome = CopyOutcome;
    type Error = EngineError;

    fn copy(
        &mut self,
        batch: &[Folio],
        dst: &mut [(Block, FolioMeta)],
    ) -> Result<CopyOutcome, EngineError> {
        let mut list = CopyList::new(&mut self.ops);
        for (f, (b, _)) in batch.iter().zip(dst.iter_mut()) {
            list.push(&f.block, b).map_err(EngineError::Copy)?;
        }
        self.engine.copy(&mut list.batch())
    }
}

/// The TSC in ns.
struct Tsc;

impl Clock for Tsc {
    fn now_ns(&mut self) -> u64 {
        tsc::now_ns()
    }
}

pub use super::rawcopy::raw_copy;
