//! The four-phase migration of a batch of folios, written against three seams so the
//! phase order and every rollback run in host tests against fakes (`tests.rs`) and in
//! the kernel against the real frame allocator, page tables and copy engines
//! (`kernel/src/migrate/pipeline.rs`):
//!
//! 1. prepare — allocate the batch's destinations on the target node (one
//!    [`Frames::alloc_bulk`] call per folio size), mark the folios MIGRATING;
//! 2. unmap — clear the batch's PTEs in one pass ([`Mapper::unmap_batch`]), check each
//!    pointed at its folio's block, then one TLB flush for the batch ([`Mapper::flush`]);
//! 3. copy — the whole batch through the copy engine ([`Copier::copy`]);
//! 4. remap — point the PTEs at the destinations in one pass ([`Mapper::remap_batch`]),
//!    then free the sources in one allocator call per (node, size).
//!
//! A failure in any phase rolls the batch back: destinations not used are freed, the
//! MIGRATING bits cleared, and every folio not yet moved is mapped to its source again
//! (old copy); folios the remap phase already moved stay moved (new copy). Only a failed
//! restore ([`BatchError::Rollback`]) leaves a folio unmapped, and it names it.

mod error;
#[cfg(test)]
mod fakes;
mod rollback;
mod seams;
#[cfg(test)]
mod tests;

pub use error::{BatchError, Phase};
use rollback::{free_sources, release, restore};
pub use seams::{Clock, Copier, Folio, FrameBlock, Frames, Mapper};

use crate::migrate::{flags, FolioMeta};
use crate::pagetable::PtError;
use alloc::vec::Vec;
use core::ops::Range;

/// A failure a test injects into one phase at one folio (its index in the batch
/// list given to [`run`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Injection {
    /// The phase that fails. `Copy` fails the whole batch holding the folio.
    pub phase: Phase,
    /// Index of the folio at which it fails.
    pub folio: usize,
}

/// When one batch passed each point (clock ns), for the phase times and the unmapped
/// windows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchClock {
    /// Start (prepare begins).
    pub start: u64,
    /// Prepare done, unmap begins.
    pub unmap_start: u64,
    /// Last PTE cleared (before the flush).
    pub unmap_end: u64,
    /// Flush done, copy begins.
    pub copy_start: u64,
    /// Copy done, remap begins.
    pub remap_start: u64,
    /// The first folio's PTE points at its destination.
    pub remap_first: u64,
    /// The last folio's PTE points at its destination.
    pub remap_last: u64,
    /// Sources freed: the batch is done.
    pub end: u64,
}

/// What one batch did.
#[derive(Debug)]
pub struct BatchReport<O> {
    /// Folios in the batch.
    pub folios: usize,
    /// The copier's outcome.
    pub outcome: O,
    /// The flush was a full one.
    pub full_flush: bool,
    /// Times.
    pub clock: BatchClock,
}

/// Buffers every batch of one migration reuses (a handful of allocations per batch
/// would show in the per-folio mode, one folio per batch).
pub struct Scratch<B> {
    unmap: Vec<(u64, u8)>,
    found: Vec<u64>,
    remap: Vec<(u64, u64, u8)>,
    blocks: Vec<B>,
}

impl<B> Default for Scratch<B> {
    fn default() -> Self {
        Self {
            unmap: Vec::new(),
            found: Vec::new(),
            remap: Vec::new(),
            blocks: Vec::new(),
        }
    }
}

/// The three seams and a clock, borrowed for one migration.
pub struct Ports<'a, F, M, C, K> {
    /// Frame allocator.
    pub frames: &'a mut F,
    /// Page tables.
    pub mapper: &'a mut M,
    /// Copy engine.
    pub copier: &'a mut C,
    /// Clock.
    pub clock: &'a mut K,
}

/// Destinations of a batch with their metadata, by folio index.
type Destinations<B> = Vec<(B, FolioMeta)>;

/// The error type of a migration through `F` and `C`.
pub type RunError<F, C> =
    BatchError<<F as Frames>::Error, <C as Copier<<F as Frames>::Block>>::Error>;

/// Moves `folios` to node `to`, batch by batch (`ranges`, in order), calling `done`
/// after each batch.
///
/// # Errors
/// The [`BatchError`] of the first batch that failed: batches before it moved, batches
/// after it did not start, and it was rolled back (see the module doc).
pub fn run<F, M, C, K>(
    p: &mut Ports<'_, F, M, C, K>,
    folios: &mut [Folio<F::Block>],
    ranges: impl IntoIterator<Item = Range<usize>>,
    to: u32,
    inject: Option<Injection>,
    mut done: impl FnMut(BatchReport<C::Outcome>),
) -> Result<(), RunError<F, C>>
where
    F: Frames,
    M: Mapper,
    C: Copier<F::Block>,
    K: Clock,
{
    let mut scratch = Scratch::default();
    for r in ranges {
        let at = inject.and_then(|i| {
            r.contains(&i.folio).then_some(Injection {
                phase: i.phase,
                folio: i.folio - r.start,
            })
        });
        done(move_batch(p, &mut folios[r], to, &mut scratch, at)?);
    }
    Ok(())
}

fn injected(at: Option<Injection>, phase: Phase, i: usize) -> bool {
    at.is_some_and(|a| a.phase == phase && a.folio == i)
}

/// Moves one batch through the four phases (see the module doc).
///
/// # Errors
/// As [`run`], for this batch.
pub fn move_batch<F, M, C, K>(
    p: &mut Ports<'_, F, M, C, K>,
    batch: &mut [Folio<F::Block>],
    to: u32,
    s: &mut Scratch<F::Block>,
    at: Option<Injection>,
) -> Result<BatchReport<C::Outcome>, RunError<F, C>>
where
    F: Frames,
    M: Mapper,
    C: Copier<F::Block>,
    K: Clock,
{
    let mut clock = BatchClock {
        start: p.clock.now_ns(),
        ..BatchClock::default()
    };
    // 1. prepare
    let mut dst = prepare(p.frames, batch, to, &mut s.blocks, at)?;
    // 2. unmap + one flush for the batch
    clock.unmap_start = p.clock.now_ns();
    if let Err(e) = unmap(p.mapper, batch, s, at) {
        release(p.frames, batch, dst);
        return Err(e);
    }
    clock.unmap_end = p.clock.now_ns();
    let full_flush = p.mapper.flush(&s.unmap);
    // 3. copy
    clock.copy_start = p.clock.now_ns();
    let copied = if let Some(i) = (0..batch.len()).find(|&i| injected(at, Phase::Copy, i)) {
        Err(BatchError::Injected {
            phase: Phase::Copy,
            folio: batch[i].id,
        })
    } else {
        p.copier.copy(batch, &mut dst).map_err(BatchError::Copy)
    };
    let outcome = match copied {
        Ok(o) => o,
        Err(cause) => {
            // The sources were never written: map them back where they were.
            let restored = restore(p.mapper, batch, cause);
            release(p.frames, batch, dst);
            return Err(restored);
        }
    };
    // 4. remap + free the sources
    clock.remap_start = p.clock.now_ns();
    remap(p, batch, dst, s, at, &mut clock)?;
    clock.end = p.clock.now_ns();
    Ok(BatchReport {
        folios: batch.len(),
        outcome,
        full_flush,
        clock,
    })
}

/// Destinations and metadata for every folio of the batch, one allocator call per folio
/// size, or nothing: on a failure every destination taken is freed.
fn prepare<F: Frames, CE>(
    frames: &mut F,
    batch: &mut [Folio<F::Block>],
    to: u32,
    blocks: &mut Vec<F::Block>,
    at: Option<Injection>,
) -> Result<Destinations<F::Block>, BatchError<F::Error, CE>> {
    blocks.clear();
    let first = batch[0].order();
    if batch.iter().all(|f| f.order() == first) {
        frames
            .alloc_bulk(to, first, batch.len(), blocks)
            .map_err(|error| BatchError::OutOfMemory {
                node: to,
                order: first,
                folio: batch[0].id,
                error,
            })?;
    } else {
        let mut orders: Vec<u8> = batch.iter().map(|f| f.order()).collect();
        orders.sort_unstable();
        orders.dedup();
        let mut by_order: Vec<(u8, alloc::vec::IntoIter<F::Block>)> = Vec::new();
        for &order in &orders {
            let n = batch.iter().filter(|f| f.order() == order).count();
            let mut v = Vec::with_capacity(n);
            if let Err(error) = frames.alloc_bulk(to, order, n, &mut v) {
                for (_, taken) in by_order {
                    for b in taken {
                        if let Err(e) = frames.free(b) {
                            frames.report_leak(&e);
                        }
                    }
                }
                let folio = batch
                    .iter()
                    .find(|f| f.order() == order)
                    .map_or(0, |f| f.id);
                return Err(BatchError::OutOfMemory {
                    node: to,
                    order,
                    folio,
                    error,
                });
            }
            by_order.push((order, v.into_iter()));
        }
        for f in batch.iter() {
            let (_, it) = by_order
                .iter_mut()
                .find(|(o, _)| *o == f.order())
                .expect("a block list per order");
            blocks.push(it.next().expect("one block per folio"));
        }
    }
    let mut dst: Vec<(F::Block, FolioMeta)> = Vec::with_capacity(batch.len());
    for (f, b) in batch.iter_mut().zip(blocks.drain(..)) {
        f.meta.flags |= flags::MIGRATING;
        dst.push((b, f.meta.migrated_to(to)));
    }
    if let Some(i) = (0..batch.len()).find(|&i| injected(at, Phase::Prepare, i)) {
        let folio = batch[i].id;
        release(frames, batch, dst);
        return Err(BatchError::Injected {
            phase: Phase::Prepare,
            folio,
        });
    }
    Ok(dst)
}

/// Where a batch pass over the PTEs stopped and why: the tree's refusal at folio `i`
/// (as `refused(folio id, error)`), else an injected failure at `stop`, else `None`.
fn first_failure<B, FE, CE>(
    done: Result<(), (usize, PtError)>,
    stop: Option<usize>,
    batch: &[Folio<B>],
    phase: Phase,
    refused: impl FnOnce(u64, PtError) -> BatchError<FE, CE>,
) -> Option<(usize, BatchError<FE, CE>)> {
    match done {
        Err((i, error)) => Some((i, refused(batch[i].id, error))),
        Ok(()) => stop.map(|i| {
            (
                i,
                BatchError::Injected {
                    phase,
                    folio: batch[i].id,
                },
            )
        }),
    }
}

/// Clears every PTE of the batch in one pass; on a failure the PTEs cleared so far are
/// put back.
fn unmap<B: FrameBlock, M: Mapper, FE, CE>(
    mapper: &mut M,
    batch: &[Folio<B>],
    s: &mut Scratch<B>,
    at: Option<Injection>,
) -> Result<(), BatchError<FE, CE>> {
    // An injected failure stops the batch at its folio, as a refused PTE would.
    let stop = (0..batch.len()).find(|&i| injected(at, Phase::Unmap, i));
    s.unmap.clear();
    s.unmap.extend(batch.iter().map(|f| (f.va, f.order())));
    s.found.clear();
    let done = mapper.unmap_batch(&s.unmap[..stop.unwrap_or(batch.len())], &mut s.found);
    let failed = first_failure(done, stop, batch, Phase::Unmap, |folio, error| {
        BatchError::Unmap { folio, error }
    });
    let found = &s.found;
    // A PTE that pointed elsewhere than the folio's block: put back what was there.
    let wrong = batch
        .iter()
        .zip(found)
        .position(|(f, &pa)| pa != f.block.addr());
    match (wrong, failed) {
        (Some(j), _) => {
            let f = &batch[j];
            let put_back = mapper.remap(f.va, found[j], f.order());
            let cause = BatchError::WrongMapping {
                folio: f.id,
                found: found[j],
                expected: f.block.addr(),
            };
            // Folios after j were unmapped from their own blocks: restore them too.
            let done = found.len();
            let cause = restore(mapper, &batch[j + 1..done], cause);
            let cause = restore(mapper, &batch[..j], cause);
            Err(match put_back {
                Err(error) => BatchError::Rollback {
                    folio: f.id,
                    error,
                    cause: alloc::boxed::Box::new(cause),
                },
                Ok(()) => cause,
            })
        }
        (None, Some((i, cause))) => Err(restore(mapper, &batch[..i], cause)),
        (None, None) => Ok(()),
    }
}

/// Points the batch's PTEs at their destinations in one pass and frees the sources. On
/// a failure at folio `i`, folios before it stay moved (new copy), and `i` and the rest
/// are mapped back to their sources (old copy) with their destinations freed.
fn remap<F, M, C, K>(
    p: &mut Ports<'_, F, M, C, K>,
    batch: &mut [Folio<F::Block>],
    dst: Vec<(F::Block, FolioMeta)>,
    s: &mut Scratch<F::Block>,
    at: Option<Injection>,
    clock: &mut BatchClock,
) -> Result<(), RunError<F, C>>
where
    F: Frames,
    M: Mapper,
    C: Copier<F::Block>,
    K: Clock,
{
    let stop = (0..batch.len()).find(|&i| injected(at, Phase::Remap, i));
    s.remap.clear();
    s.remap.extend(
        batch[..stop.unwrap_or(batch.len())]
            .iter()
            .zip(&dst)
            .map(|(f, (b, _))| (f.va, b.addr(), f.order())),
    );
    // The first folio alone, so the time it is mapped again is exact.
    let split = s.remap.len().min(1);
    let first = p.mapper.remap_batch(&s.remap[..split]);
    clock.remap_first = p.clock.now_ns();
    let rest = first.and_then(|()| {
        p.mapper
            .remap_batch(&s.remap[split..])
            .map_err(|(i, e)| (i + split, e))
    });
    clock.remap_last = p.clock.now_ns();
    let failed = first_failure(rest, stop, batch, Phase::Remap, |folio, error| {
        BatchError::Remap { folio, error }
    });
    let moved = failed.as_ref().map_or(batch.len(), |(i, _)| *i);
    let mut dst = dst.into_iter();
    let sources = &mut s.blocks;
    sources.clear();
    for f in &mut batch[..moved] {
        let (b, meta) = dst.next().expect("one destination per folio");
        sources.push(core::mem::replace(&mut f.block, b));
        f.meta = meta;
    }
    let freed = free_sources(p.frames, sources, &batch[..moved]);
    if let Some((i, cause)) = failed {
        let rest: Vec<(F::Block, FolioMeta)> = dst.collect();
        let err = restore(p.mapper, &batch[i..], cause);
        release(p.frames, &mut batch[i..], rest);
        return Err(err);
    }
    freed
}
