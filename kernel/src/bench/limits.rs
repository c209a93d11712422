//! What this kernel has room for (free frames per node and order, heap for
//! bookkeeping) and the per-cell limits check (`kcore::plan`) against it: the net under
//! every cell, and the base of the whole-run check in `plan`.

use crate::migrate::workload::Folio;
use crate::mm::frames::{self, Block};
use kcore::migrate::FolioMeta;
use kcore::plan::{self, Bookkeeping, CellNeed, NodeRoom, PlanError, Room};
use ptdma::CopyOp;

/// Heap bytes this kernel spends per folio and per folio in flight (from the types the
/// workload and the pipeline keep), plus fixed slack per cell.
pub fn bookkeeping() -> Bookkeeping {
    let sz = core::mem::size_of::<usize>() as u64;
    Bookkeeping {
        per_folio: core::mem::size_of::<Folio>() as u64,
        // Destinations with metadata, the ops (pipeline, engine split, DMA batch and
        // fallback copies), the unmapped list and split indices.
        per_batch_folio: core::mem::size_of::<(Block, FolioMeta)>() as u64
            + 4 * core::mem::size_of::<CopyOp>() as u64
            + 16
            + 2 * sz,
        per_cell: 1 << 20,
    }
}

/// What the machine has free now.
pub fn room() -> Room {
    Room {
        nodes: frames::free_blocks()
            .into_iter()
            .map(|(node, free_blocks)| NodeRoom { node, free_blocks })
            .collect(),
        heap_free: crate::heap::free_for_bookkeeping() as u64,
    }
}

/// Checks `cells` against [`room`].
///
/// # Errors
/// The [`PlanError`] of the first cell that does not fit.
pub fn check(cells: &[CellNeed]) -> Result<(), PlanError> {
    plan::check(cells, &room(), &bookkeeping())
}
