//! The copy phase alone: the same bytes copied by the same engine to fresh blocks on the
//! destination node, with no unmap or remap — the engine's ceiling for the efficiency
//! ratio (`Kind::RawCopy`).

use super::engine::{CopyEngine, CopyOutcome};
use super::error::EngineError;
use super::error::{MigrateError, VerifyError};
use super::workload::Workload;
use crate::arch::tsc;
use crate::mm::copy::CopyList;
use crate::mm::frames::{self, Block};
use alloc::vec::Vec;
use kcore::migrate::batches;
use kcore::pipeline::BatchError;
use ptdma::CopyOp;

/// The copy phase alone on the same bytes: every folio copied by `engine` to a fresh
/// block on `to` (allocated before timing, freed after), no unmap or remap. This is
/// the engine's ceiling for the efficiency ratio. Returns (ns, outcome).
///
/// # Errors
/// [`BatchError::OutOfMemory`] (as [`MigrateError::Batch`]) when the destinations do not fit, [`BatchError::Copy`]
/// when the engine fails, [`MigrateError::Verify`] when a copy differs from its source.
pub fn raw_copy(
    w: &Workload,
    to: u32,
    engine: &mut dyn CopyEngine,
    batch_pages: u64,
) -> Result<(u64, CopyOutcome), MigrateError> {
    let mut dst = Vec::with_capacity(w.folios.len());
    for f in &w.folios {
        match frames::alloc_data(to, w.order as usize) {
            Ok(b) => dst.push(b),
            Err(error) => {
                free_all(dst);
                return Err(MigrateError::Batch(BatchError::OutOfMemory {
                    node: to,
                    order: w.order,
                    folio: f.id,
                    error,
                }));
            }
        }
    }
    let mut outcome = CopyOutcome::default();
    let mut ns = 0;
    let mut buf: Vec<CopyOp> = Vec::new();
    for r in batches(w.folios.len(), w.order, batch_pages) {
        let mut list = CopyList::new(&mut buf);
        let mut refused = None;
        for (f, b) in w.folios[r.clone()].iter().zip(&mut dst[r]) {
            if let Err(e) = list.push(&f.block, b) {
                refused = Some(e);
            }
        }
        let t0 = tsc::now_ns();
        let copied = match refused {
            Some(e) => Err(EngineError::Copy(e)),
            None => engine.copy(&mut list.batch()),
        };
        ns += tsc::now_ns() - t0;
        match copied {
            Ok(o) => outcome.add(&o),
            Err(e) => {
                free_all(dst);
                return Err(MigrateError::from(e));
            }
        }
    }
    // The raw copy is verified too: the destinations must equal the sources.
    let checked = check_raw(w, &dst);
    free_all(dst);
    checked?;
    Ok((ns, outcome))
}

/// Frees blocks taken for a copy that did not happen (or is over), saying which failed.
pub(super) fn free_all(blocks: Vec<Block>) {
    for b in blocks {
        if let Err(e) = frames::free(b) {
            crate::println!("migrate: freeing a raw-copy destination failed: {e}");
        }
    }
}

fn check_raw(w: &Workload, dst: &[Block]) -> Result<(), VerifyError> {
    for (f, b) in w.folios.iter().zip(dst) {
        if !crate::mm::frames::same_bytes(&f.block, b) {
            return Err(VerifyError::RawCopyDiffers { folio: f.id });
        }
    }
    Ok(())
}
