//! Undoing and finishing a batch: mapping folios back to their sources, giving unused
//! destinations back, and freeing the sources of moved folios per (node, size).

use super::{BatchError, Folio, FrameBlock, Frames, Mapper};
use crate::migrate::{flags, FolioMeta};
use alloc::vec::Vec;

/// Frees the sources of `moved` in one allocator call per (node, order): one call for a
/// uniform batch, one per folio size for a mixed one. A refused group does not stop the
/// others; its blocks are left in `sources` and the first refusal is returned.
pub(super) fn free_sources<F: Frames, CE>(
    frames: &mut F,
    sources: &mut Vec<F::Block>,
    moved: &[Folio<F::Block>],
) -> Result<(), BatchError<F::Error, CE>> {
    let key = |b: &F::Block| (b.node(), b.order());
    let Some(k0) = sources.first().map(key) else {
        return Ok(());
    };
    if sources.iter().all(|b| key(b) == k0) {
        return frames
            .free_bulk(sources)
            .map_err(|(k, error)| BatchError::FreeSource {
                folio: moved[k].id,
                error,
            });
    }
    let mut keys: Vec<(u32, u8)> = sources.iter().map(key).collect();
    keys.sort_unstable();
    keys.dedup();
    // (index in `moved`, block), so a refusal names its folio.
    // Every group is tried even after a refusal (a refused group's blocks stay with
    // the caller, as `free_bulk` leaves them); the first refusal is reported.
    let mut all: Vec<(usize, F::Block)> = sources.drain(..).enumerate().collect();
    let mut first = Ok(());
    for k in keys {
        let (group, rest): (Vec<_>, Vec<_>) = all.into_iter().partition(|(_, b)| key(b) == k);
        all = rest;
        let (ids, mut blocks): (Vec<usize>, Vec<F::Block>) = group.into_iter().unzip();
        if let Err((i, error)) = frames.free_bulk(&mut blocks) {
            if first.is_ok() {
                first = Err(BatchError::FreeSource {
                    folio: moved[ids[i]].id,
                    error,
                });
            }
            sources.extend(blocks);
        }
    }
    first
}

/// Maps every folio of `folios` back to its (source) block after `cause`; returns the
/// error to report: `cause`, or [`BatchError::Rollback`] naming the first folio that
/// could not be restored (the others are still tried).
pub(super) fn restore<B: FrameBlock, M: Mapper, FE, CE>(
    mapper: &mut M,
    folios: &[Folio<B>],
    cause: BatchError<FE, CE>,
) -> BatchError<FE, CE> {
    let mut first = None;
    for f in folios {
        if let Err(error) = mapper.remap(f.va, f.block.addr(), f.order()) {
            first.get_or_insert((f.id, error));
        }
    }
    match first {
        None => cause,
        Some((folio, error)) => BatchError::Rollback {
            folio,
            error,
            cause: alloc::boxed::Box::new(cause),
        },
    }
}

/// Frees destinations that were not used and clears the MIGRATING bits.
pub(super) fn release<F: Frames>(
    frames: &mut F,
    batch: &mut [Folio<F::Block>],
    dst: Vec<(F::Block, FolioMeta)>,
) {
    for (b, _) in dst {
        if let Err(e) = frames.free(b) {
            frames.report_leak(&e);
        }
    }
    for f in batch.iter_mut() {
        f.meta.flags &= !flags::MIGRATING;
    }
}
