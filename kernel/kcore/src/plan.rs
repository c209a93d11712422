//! The limits check before any work: every cell a run will measure, set against each
//! NUMA node's free frames and the kernel heap's room for bookkeeping. A run whose plan
//! does not fit stops before its first cell with the numbers (asked, available, which
//! node), instead of panicking or failing half way through.
//!
//! Cells run one after another and give everything back between repetitions (the
//! leak check enforces it), so the plan fits when its most demanding cell fits. What a
//! cell holds at its peak:
//! - source node: every folio of the workload, plus the page tables mapping them;
//! - destination node: a destination for every folio of one batch (migration) or of
//!   the whole workload (raw copy, whose destinations are all allocated up front); when
//!   source and destination are the same node, both counts add up there;
//! - heap: the per-folio bookkeeping of the workload plus the per-op bookkeeping of one
//!   batch (or of the whole workload for a raw copy).
//!
//! All arithmetic saturates: a `total` of 2^64 bytes is a plan that does not fit, not
//! an overflow.

use alloc::vec::Vec;
use core::fmt;

/// One cell's memory shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellNeed {
    /// Source NUMA node.
    pub from: u32,
    /// Destination NUMA node.
    pub to: u32,
    /// Folio order (0 = 4 KiB … 9 = 2 MiB).
    pub order: u8,
    /// Folios in the workload.
    pub folios: u64,
    /// Folios per batch (at most `folios`; the whole workload for `batch=all`).
    pub batch_folios: u64,
    /// A raw copy: destinations for every folio are held at once.
    pub raw_copy: bool,
}

/// What the kernel spends on bookkeeping, in heap bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bookkeeping {
    /// Heap bytes per folio of a workload (its entry in the workload's folio table).
    pub per_folio: u64,
    /// Heap bytes per folio in flight in one batch (destinations, copy ops, engine
    /// split tables).
    pub per_batch_folio: u64,
    /// Fixed heap bytes per cell (tables, vectors' slack, report strings).
    pub per_cell: u64,
}

/// Free memory of one node, as the buddy allocator holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeRoom {
    /// The node.
    pub node: u32,
    /// Free blocks per order 0..=9 (a 2M folio needs an order-9 block, not 512 scattered
    /// frames).
    pub free_blocks: [u64; crate::buddy::ORDERS],
}

impl NodeRoom {
    /// Free 4 KiB frames in blocks of `order` or larger.
    pub fn frames_at_or_above(&self, order: u8) -> u64 {
        self.free_blocks
            .iter()
            .enumerate()
            .skip(usize::from(order))
            .fold(0u64, |acc, (k, &n)| {
                acc.saturating_add(n.saturating_mul(1 << k))
            })
    }
}

/// What the machine has for a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// Every node that has memory.
    pub nodes: Vec<NodeRoom>,
    /// Heap bytes free for the run's bookkeeping.
    pub heap_free: u64,
}

/// Why a plan does not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// A cell names a node that has no memory.
    NoSuchNode {
        /// The node asked for.
        node: u32,
        /// Nodes that have memory.
        nodes: Vec<u32>,
    },
    /// A node has too few free frames for a cell.
    NodeMemory {
        /// The node.
        node: u32,
        /// Bytes the cell needs there at its peak.
        asked: u64,
        /// Bytes free there.
        available: u64,
        /// The cell.
        cell: CellNeed,
    },
    /// The kernel heap cannot hold a cell's bookkeeping.
    Heap {
        /// Heap bytes the cell needs.
        asked: u64,
        /// Heap bytes free.
        available: u64,
        /// The cell.
        cell: CellNeed,
    },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::NoSuchNode { node, nodes } => {
                write!(
                    f,
                    "node {node} has no memory (nodes with memory: {nodes:?})"
                )
            }
            PlanError::NodeMemory {
                node,
                asked,
                available,
                cell,
            } => write!(
                f,
                "does not fit: {} x {} KiB folios node {}->{} needs {} MiB on node {node}, \
                 {} MiB free there",
                cell.folios,
                4u64 << cell.order,
                cell.from,
                cell.to,
                mib_up(*asked),
                available >> 20
            ),
            PlanError::Heap {
                asked,
                available,
                cell,
            } => write!(
                f,
                "does not fit: bookkeeping of {} x {} KiB folios needs {} MiB of kernel heap, \
                 {} MiB free",
                cell.folios,
                4u64 << cell.order,
                mib_up(*asked),
                available >> 20
            ),
        }
    }
}

fn mib_up(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

/// Page-table frames a workload of `folios` folios of `order` needs in the worst case:
/// one 4K table per 512 leaves, one per 512 of those, one per 512² of those, and the
/// root (4-level paging; 2M folios are 2M leaves, so they need no leaf table).
pub fn table_frames(order: u8, folios: u64) -> u64 {
    let leaves = if order >= 9 {
        folios.saturating_mul(1 << (order - 9))
    } else {
        folios.saturating_mul(1 << order)
    };
    let pt = if order >= 9 { 0 } else { leaves.div_ceil(512) };
    let pd = if order >= 9 { leaves } else { pt }.div_ceil(512);
    let pdpt = pd.div_ceil(512);
    pt.saturating_add(pd).saturating_add(pdpt).saturating_add(1)
}

/// What a cell holds on one node at its peak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeNeed {
    /// The node.
    pub node: u32,
    /// Frames in folio-sized blocks (of the cell's order).
    pub folio_frames: u64,
    /// Frames for page tables (any order-0 frame).
    pub table_frames: u64,
}

/// Frames a cell holds on each node at its peak: the source and the destination (one
/// entry when they are the same node).
pub fn frames_needed(c: &CellNeed) -> Vec<NodeNeed> {
    let per = 1u64 << c.order;
    let src = c.folios.saturating_mul(per);
    let tables = table_frames(c.order, c.folios);
    let held = if c.raw_copy {
        c.folios
    } else {
        c.batch_folios.min(c.folios)
    };
    let dst = held.saturating_mul(per);
    if c.from == c.to {
        alloc::vec![NodeNeed {
            node: c.from,
            folio_frames: src.saturating_add(dst),
            table_frames: tables,
        }]
    } else {
        alloc::vec![
            NodeNeed {
                node: c.from,
                folio_frames: src,
                table_frames: tables,
            },
            NodeNeed {
                node: c.to,
                folio_frames: dst,
                table_frames: 0,
            }
        ]
    }
}

/// Heap bytes a cell needs at its peak.
pub fn heap_needed(c: &CellNeed, b: &Bookkeeping) -> u64 {
    let in_flight = if c.raw_copy {
        c.folios
    } else {
        c.batch_folios.min(c.folios)
    };
    c.folios
        .saturating_mul(b.per_folio)
        .saturating_add(in_flight.saturating_mul(b.per_batch_folio))
        .saturating_add(b.per_cell)
}

/// Checks every cell against `room`; the first that does not fit is the error.
///
/// # Errors
/// [`PlanError::NoSuchNode`] when a cell names a node without memory,
/// [`PlanError::NodeMemory`] when a node has too few free frames for a cell,
/// [`PlanError::Heap`] when the heap cannot hold a cell's bookkeeping.
pub fn check(cells: &[CellNeed], room: &Room, b: &Bookkeeping) -> Result<(), PlanError> {
    for c in cells {
        for need in frames_needed(c) {
            let Some(r) = room.nodes.iter().find(|r| r.node == need.node) else {
                return Err(PlanError::NoSuchNode {
                    node: need.node,
                    nodes: room.nodes.iter().map(|r| r.node).collect(),
                });
            };
            // Folios need blocks of their order; tables take any frame that is left.
            let big = r.frames_at_or_above(c.order);
            let all = r.frames_at_or_above(0);
            let frames = need.folio_frames.saturating_add(need.table_frames);
            // A plan whose bytes overflow u64 never fits, however the counts saturate.
            let overflow = frames.checked_mul(4096).is_none();
            if overflow || need.folio_frames > big || frames > all {
                let available = if need.folio_frames > big { big } else { all };
                return Err(PlanError::NodeMemory {
                    node: need.node,
                    asked: frames.saturating_mul(4096),
                    available: available.saturating_mul(4096),
                    cell: *c,
                });
            }
        }
        let heap = heap_needed(c, b);
        if heap > room.heap_free {
            return Err(PlanError::Heap {
                asked: heap,
                available: room.heap_free,
                cell: *c,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
