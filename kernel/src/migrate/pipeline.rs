//! The four-phase migration of a workload to another node, timed per phase:
//!
//! 1. prepare — allocate the batch's destination folios on the target node in one
//!    allocator call, copy metadata;
//! 2. unmap — clear the batch's PTEs in one pass over the tree (one walk per leaf
//!    table), then one TLB flush for the whole batch;
//! 3. copy — the batch through a copy engine;
//! 4. remap — point the PTEs at the destination folios in one pass, free the sources in
//!    one allocator call.
//!
//! `Batched` runs each phase over a batch (at most `batch_pages` base pages, like
//! Linux's `NR_MAX_BATCHED_MIGRATION`); `PerFolio` runs all four for one folio before
//! the next. A failure in any phase rolls the batch back (see [`migrate`]).

use super::engine::CopyEngine;
use super::error::{EngineError, MigrateError, Phase};
use super::rawcopy::free_all;
use super::workload::{Folio, Workload};
use super::Mode;
use crate::arch::tsc;
use crate::mm::aspace::AddressSpace;
use crate::mm::copy::CopyList;
use crate::mm::frames::{self, Block};
use alloc::vec::Vec;
use kcore::latency::BatchTimes;
use kcore::migrate::{flags, FolioMeta};
use ptdma::CopyOp;
use x86_64::PhysAddr;

pub use super::runstats::{PhaseNs, RunStats};

/// Buffers every batch of one migration reuses: the kernel heap is a first-fit list, so
/// a handful of allocations per batch would show in the per-folio mode (one folio per
/// batch).
#[derive(Default)]
struct Scratch {
    /// `(va, order)` of the batch's folios (unmap, then the TLB flush).
    unmap: Vec<(u64, u8)>,
    /// What the unmapped PTEs pointed at.
    found: Vec<u64>,
    /// `(va, destination, order)` of the batch's folios.
    remap: Vec<(u64, u64, u8)>,
    /// The batch's copy ops.
    ops: Vec<CopyOp>,
    /// The batch's destinations, then its sources.
    blocks: Vec<Block>,
}

/// A failure a self-test injects into one phase, at one folio (its index in the
/// workload), to exercise the rollback of that phase on real page tables and frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Injection {
    /// The phase that fails. `Copy` fails the whole batch holding the folio.
    pub phase: Phase,
    /// Index of the folio in the workload at which it fails.
    pub folio: usize,
}

/// Moves every folio of `w` to node `to`.
///
/// # Errors
/// A [`MigrateError`] from the first batch that failed. Batches before it moved,
/// batches after it did not start, and the failed batch was rolled back: every folio
/// is mapped, holds its data (old or new copy) and its frames are accounted for —
/// unless the error is [`MigrateError::Rollback`], which names the folio left unmapped.
pub fn migrate(
    w: &mut Workload,
    to: u32,
    engine: &mut dyn CopyEngine,
    mode: Mode,
    batch_pages: u64,
) -> Result<RunStats, MigrateError> {
    migrate_injecting(w, to, engine, mode, batch_pages, None)
}

/// [`migrate`] with a failure injected into one phase (self-tests).
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
    let ranges: Vec<_> = w.batches(limit);
    let folios = &mut w.folios;
    let mut stats = RunStats::default();
    let mut scratch = Scratch::default();
    w.space.with_active(|space| {
        for r in ranges {
            // The injection, relative to this batch (if it falls in it).
            let at = inject.and_then(|i| {
                r.contains(&i.folio).then_some(Injection {
                    phase: i.phase,
                    folio: i.folio - r.start,
                })
            });
            move_batch(
                space,
                &mut folios[r],
                to,
                engine,
                &mut stats,
                &mut scratch,
                at,
            )?;
        }
        Ok::<(), MigrateError>(())
    })?;
    stats.bytes = w.bytes();
    Ok(stats)
}

fn injected(at: Option<Injection>, phase: Phase, i: usize) -> bool {
    at.is_some_and(|a| a.phase == phase && a.folio == i)
}

fn move_batch(
    space: &mut AddressSpace,
    batch: &mut [Folio],
    to: u32,
    engine: &mut dyn CopyEngine,
    stats: &mut RunStats,
    s: &mut Scratch,
    at: Option<Injection>,
) -> Result<(), MigrateError> {
    // 1. prepare
    let t0 = tsc::now_ns();
    let mut dst = prepare(batch, to, &mut s.blocks, at)?;
    // 2. unmap + one flush for the batch
    let t1 = tsc::now_ns();
    if let Err(e) = unmap(space, batch, s, at) {
        release(batch, dst);
        return Err(e);
    }
    let unmap_end = tsc::now_ns();
    if matches!(space.flush(&s.unmap), kcore::pagetable::FlushPlan::Full) {
        stats.full_flushes += 1;
    }
    // 3. copy
    let t2 = tsc::now_ns();
    let copied = if (0..batch.len()).any(|i| injected(at, Phase::Copy, i)) {
        Err(EngineError::Injected)
    } else {
        copy_batch(batch, &mut dst, &mut s.ops, engine)
    };
    let outcome = match copied {
        Ok(o) => o,
        Err(e) => {
            // The sources were never written: map them back where they were.
            let cause = MigrateError::Copy(e);
            let restored = restore(space, batch, &cause);
            release(batch, dst);
            return Err(restored.err().unwrap_or(cause));
        }
    };
    stats.engine.add(&outcome);
    // 4. remap + free the sources
    let t3 = tsc::now_ns();
    let mapped = remap(space, batch, dst, s, at)?;
    let t4 = tsc::now_ns();
    stats.first_mapped.push(mapped.first - t0);
    let times = BatchTimes {
        unmap_start: t1,
        unmap_end,
        remap_first: mapped.first,
        remap_end: mapped.last,
    };
    kcore::latency::batch_windows(&times, batch.len(), &mut stats.windows);
    stats.phases.prepare += t1 - t0;
    stats.phases.unmap += t2 - t1;
    stats.phases.copy += t3 - t2;
    stats.phases.remap += t4 - t3;
    stats.batches += 1;
    crate::smp::watchdog::progress();
    Ok(())
}

/// Copies every folio of `batch` to its destination (same index) through `engine`.
fn copy_batch(
    batch: &[Folio],
    dst: &mut [(Block, FolioMeta)],
    buf: &mut Vec<CopyOp>,
    engine: &mut dyn CopyEngine,
) -> Result<super::engine::CopyOutcome, EngineError> {
    let mut list = CopyList::new(buf);
    for (f, (b, _)) in batch.iter().zip(dst.iter_mut()) {
        list.push(&f.block, b).map_err(EngineError::Copy)?;
    }
    engine.copy(&mut list.batch())
}

/// Destination blocks and metadata for every folio of the batch, taken in one allocator
/// call, or nothing: on a failure every destination is freed and the MIGRATING bits
/// cleared.
fn prepare(
    batch: &mut [Folio],
    to: u32,
    blocks: &mut Vec<Block>,
    at: Option<Injection>,
) -> Result<Vec<(Block, FolioMeta)>, MigrateError> {
    // One allocator call per folio size in the batch (one for a uniform workload).
    let first = batch[0].order();
    if batch.iter().all(|f| f.order() == first) {
        blocks.clear();
        frames::alloc_data_bulk(to, first as usize, batch.len(), blocks).map_err(|error| {
            MigrateError::OutOfMemory {
                node: to,
                order: first,
                folio: batch[0].id,
                error,
            }
        })?;
        return take_destinations(batch, blocks, to, at);
    }
    let mut orders: Vec<u8> = batch.iter().map(|f| f.order()).collect();
    orders.sort_unstable();
    orders.dedup();
    let mut by_order: Vec<(u8, alloc::vec::IntoIter<Block>)> = Vec::with_capacity(orders.len());
    for &order in &orders {
        let n = batch.iter().filter(|f| f.order() == order).count();
        let mut v = Vec::with_capacity(n);
        match frames::alloc_data_bulk(to, order as usize, n, &mut v) {
            Ok(()) => by_order.push((order, v.into_iter())),
            Err(error) => {
                for (_, taken) in by_order {
                    free_all(taken.collect());
                }
                let folio = batch
                    .iter()
                    .find(|f| f.order() == order)
                    .map_or(0, |f| f.id);
                return Err(MigrateError::OutOfMemory {
                    node: to,
                    order,
                    folio,
                    error,
                });
            }
        }
    }
    blocks.clear();
    blocks.extend(batch.iter().map(|f| {
        let (_, it) = by_order
            .iter_mut()
            .find(|(o, _)| *o == f.order())
            .expect("a block list per order");
        it.next().expect("one block per folio")
    }));
    take_destinations(batch, blocks, to, at)
}

/// Marks the batch MIGRATING with its destinations (one per folio, in order), or undoes
/// it all on an injected failure.
fn take_destinations(
    batch: &mut [Folio],
    blocks: &mut Vec<Block>,
    to: u32,
    at: Option<Injection>,
) -> Result<Vec<(Block, FolioMeta)>, MigrateError> {
    let mut dst: Vec<(Block, FolioMeta)> = Vec::with_capacity(batch.len());
    for (f, b) in batch.iter_mut().zip(blocks.drain(..)) {
        f.meta.flags |= flags::MIGRATING;
        dst.push((b, f.meta.migrated_to(to)));
    }
    if let Some(i) = (0..batch.len()).find(|&i| injected(at, Phase::Prepare, i)) {
        let folio = batch[i].id;
        release(batch, dst);
        return Err(MigrateError::Injected {
            phase: Phase::Prepare,
            folio,
        });
    }
    Ok(dst)
}

/// Clears every PTE of the batch in one pass over the tree; on a failure the PTEs
/// cleared so far are put back.
fn unmap(
    space: &mut AddressSpace,
    batch: &[Folio],
    s: &mut Scratch,
    at: Option<Injection>,
) -> Result<(), MigrateError> {
    // An injected failure stops the batch at its folio, as a refused PTE would.
    let stop = (0..batch.len()).find(|&i| injected(at, Phase::Unmap, i));
    s.unmap.clear();
    s.unmap.extend(batch.iter().map(|f| (f.va, f.order())));
    s.found.clear();
    let failed = match space.unmap_batch(&s.unmap[..stop.unwrap_or(batch.len())], &mut s.found) {
        Err((i, error)) => Some((
            i,
            MigrateError::Unmap {
                folio: batch[i].id,
                error,
            },
        )),
        Ok(()) => stop.map(|i| {
            (
                i,
                MigrateError::Injected {
                    phase: Phase::Unmap,
                    folio: batch[i].id,
                },
            )
        }),
    };
    let found = &s.found;
    // A PTE that pointed elsewhere than the folio's block: put back what was there.
    let wrong = batch
        .iter()
        .zip(found)
        .position(|(f, &pa)| pa != f.block.addr().as_u64());
    let (done, cause) = match (wrong, failed) {
        (Some(j), _) => {
            let f = &batch[j];
            let _ = space.remap(f.va, PhysAddr::new(found[j]), f.order());
            let cause = MigrateError::WrongMapping {
                folio: f.id,
                found: found[j],
                expected: f.block.addr().as_u64(),
            };
            // Folios after j were unmapped from their own blocks: restore them too.
            let rest = restore(space, &batch[j + 1..found.len()], &cause);
            let before = restore(space, &batch[..j], &cause);
            return Err(before.and(rest).err().unwrap_or(cause));
        }
        (None, Some((i, cause))) => (i, cause),
        (None, None) => return Ok(()),
    };
    Err(restore(space, &batch[..done], &cause)
        .err()
        .unwrap_or(cause))
}

/// Points the batch's PTEs at their destinations in one pass over the tree and frees the
/// sources in one allocator call. On a failure at folio `i`, folios before it stay moved
/// (new copy), and `i` and the rest are mapped back to their sources (old copy) with
/// their destinations freed.
fn remap(
    space: &mut AddressSpace,
    batch: &mut [Folio],
    dst: Vec<(Block, FolioMeta)>,
    s: &mut Scratch,
    at: Option<Injection>,
) -> Result<Mapped, MigrateError> {
    let stop = (0..batch.len()).find(|&i| injected(at, Phase::Remap, i));
    s.remap.clear();
    s.remap.extend(
        batch[..stop.unwrap_or(batch.len())]
            .iter()
            .zip(&dst)
            .map(|(f, (b, _))| (f.va, b.addr().as_u64(), f.order())),
    );
    let todo = &s.remap;
    // The first folio alone, so the time it is mapped again is exact (item 6).
    let split = todo.len().min(1);
    let first = space.remap_batch(&todo[..split]);
    let t_first = tsc::now_ns();
    let rest = first.and_then(|()| {
        space
            .remap_batch(&todo[split..])
            .map_err(|(i, e)| (i + split, e))
    });
    let t_last = tsc::now_ns();
    let failed = match rest {
        Err((i, error)) => Some((
            i,
            MigrateError::Remap {
                folio: batch[i].id,
                error,
            },
        )),
        Ok(()) => stop.map(|i| {
            (
                i,
                MigrateError::Injected {
                    phase: Phase::Remap,
                    folio: batch[i].id,
                },
            )
        }),
    };
    let moved = failed.as_ref().map_or(batch.len(), |(i, _)| *i);
    let mut dst = dst.into_iter();
    let sources = &mut s.blocks;
    sources.clear();
    for f in &mut batch[..moved] {
        let (b, meta) = dst.next().expect("one destination per folio");
        sources.push(core::mem::replace(&mut f.block, b));
        f.meta = meta;
    }
    let freed = free_sources(sources, &batch[..moved]);
    sources.clear();
    if let Some((i, cause)) = failed {
        let rest: Vec<(Block, FolioMeta)> = dst.collect();
        let restored = restore(space, &batch[i..], &cause);
        release(&mut batch[i..], rest);
        return Err(restored.err().unwrap_or(cause));
    }
    freed.map(|()| Mapped {
        first: t_first,
        last: t_last,
    })
}

/// Frees the sources of `moved` in one allocator call per (node, order): one call for a
/// uniform batch, one per folio size for a mixed one. A source the allocator refuses is
/// reported; its handle (and those of its group) are dropped, which tries each again.
fn free_sources(sources: &mut Vec<Block>, moved: &[Folio]) -> Result<(), MigrateError> {
    let key = |b: &Block| (b.node(), b.order());
    let Some(k0) = sources.first().map(key) else {
        return Ok(());
    };
    if sources.iter().all(|b| key(b) == k0) {
        return frames::free_bulk(sources).map_err(|(k, error)| MigrateError::FreeSource {
            folio: moved[k].id,
            error,
        });
    }
    let mut keys: Vec<(u32, u8)> = sources.iter().map(key).collect();
    keys.sort_unstable();
    keys.dedup();
    // (index in `moved`, block), so a refusal names its folio.
    let mut all: Vec<(usize, Block)> = sources.drain(..).enumerate().collect();
    for k in keys {
        let (group, rest): (Vec<_>, Vec<_>) = all.into_iter().partition(|(_, b)| key(b) == k);
        all = rest;
        let (ids, mut blocks): (Vec<usize>, Vec<Block>) = group.into_iter().unzip();
        frames::free_bulk(&mut blocks).map_err(|(i, error)| MigrateError::FreeSource {
            folio: moved[ids[i]].id,
            error,
        })?;
    }
    Ok(())
}

/// When a batch's PTEs pointed at their destinations (TSC ns).
struct Mapped {
    /// The first folio's.
    first: u64,
    /// The last folio's.
    last: u64,
}

/// Maps every folio of `folios` back to its (source) block after `cause`.
///
/// # Errors
/// [`MigrateError::Rollback`] naming the first folio that could not be restored (the
/// others are still tried).
fn restore(
    space: &mut AddressSpace,
    folios: &[Folio],
    cause: &MigrateError,
) -> Result<(), MigrateError> {
    let mut first = Ok(());
    for f in folios {
        if let Err(error) = space.remap(f.va, f.block.addr(), f.order()) {
            if first.is_ok() {
                first = Err(MigrateError::Rollback {
                    folio: f.id,
                    error,
                    cause: alloc::format!("{cause}"),
                });
            }
        }
    }
    first
}

/// Frees destinations that were not used and clears the MIGRATING bits.
fn release(batch: &mut [Folio], dst: Vec<(Block, FolioMeta)>) {
    for (b, _) in dst {
        if let Err(e) = frames::free(b) {
            crate::println!("migrate: freeing an unused destination failed: {e}");
        }
    }
    for f in batch.iter_mut() {
        f.meta.flags &= !flags::MIGRATING;
    }
}

pub use super::rawcopy::raw_copy;
