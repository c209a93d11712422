//! The CPU copy primitive: the only caller of the raw copy routines (`arch::copy`).
//!
//! A copy is described by a [`CopyBatch`], which can only be built from frame handles
//! the caller holds: sources borrowed shared, destinations borrowed exclusively
//! ([`CopyList::push`]). While the batch exists nothing else can read a destination or
//! write a source, and the allocator never hands out overlapping blocks, so copying it
//! is sound without a per-op ownership lookup (which would cost a lock and a buddy walk
//! per 4 KiB folio). The batch's ops carry bus addresses, so a DMA engine submits the
//! very same list. Work for several CPUs at once is cut with [`CopyBatch::share`],
//! which checks that no two pieces overlap before any CPU starts.

use super::frames::Block;
use crate::arch::copy::{self, Routine};
use alloc::vec::Vec;
use core::marker::PhantomData;
use kcore::migrate::Piece;
use kcore::pieces::{self, PieceError};
use ptdma::{CopyOp, DmaAddr};

/// Why a copy was refused (nothing was copied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyError {
    /// The range does not fit its source or destination block.
    Range {
        /// Bytes asked for.
        len: u64,
        /// Offset into the source block (bytes).
        src_offset: u64,
        /// Offset into the destination block (bytes).
        dst_offset: u64,
    },
    /// A piece outside its op, or two concurrent pieces overlapping.
    Piece(PieceError),
    /// This CPU cannot run the routine (named as `copy=` names it).
    RoutineUnavailable(&'static str),
}

impl core::fmt::Display for CopyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CopyError::Range {
                len,
                src_offset,
                dst_offset,
            } => write!(
                f,
                "{len} bytes from offset {src_offset} to offset {dst_offset} do not fit the blocks"
            ),
            CopyError::Piece(e) => write!(f, "{e}"),
            CopyError::RoutineUnavailable(r) => write!(f, "copy routine {r} unavailable here"),
        }
    }
}

/// Builds a batch of copies from held blocks. Keeps the blocks borrowed for `'a`.
pub struct CopyList<'a> {
    ops: &'a mut Vec<CopyOp>,
    _held: PhantomData<&'a mut Block>,
}

impl<'a> CopyList<'a> {
    /// An empty list that reuses `buf` (cleared) for its ops: the pipeline keeps one
    /// buffer for all its batches.
    pub fn new(buf: &'a mut Vec<CopyOp>) -> Self {
        buf.clear();
        Self {
            ops: buf,
            _held: PhantomData,
        }
    }

    /// Adds a copy of all of `src` to the start of `dst`.
    ///
    /// # Errors
    /// [`CopyError::Range`] when `dst` is smaller than `src`.
    pub fn push(&mut self, src: &'a Block, dst: &'a mut Block) -> Result<(), CopyError> {
        self.push_range(src, 0, dst, 0, src.bytes())
    }

    /// Adds a copy of `len` bytes from `src + src_offset` to `dst + dst_offset`.
    ///
    /// # Errors
    /// [`CopyError::Range`] when the range is empty or does not fit either block.
    pub fn push_range(
        &mut self,
        src: &'a Block,
        src_offset: u64,
        dst: &'a mut Block,
        dst_offset: u64,
        len: u64,
    ) -> Result<(), CopyError> {
        let fits = |off: u64, b: &Block| off.checked_add(len).is_some_and(|e| e <= b.bytes());
        if len == 0 || !fits(src_offset, src) || !fits(dst_offset, dst) {
            return Err(CopyError::Range {
                len,
                src_offset,
                dst_offset,
            });
        }
        self.ops.push(CopyOp {
            src: DmaAddr::new(src.addr().as_u64() + src_offset),
            dst: DmaAddr::new(dst.addr().as_u64() + dst_offset),
            len,
        });
        Ok(())
    }

    /// The list as a batch to copy (by a CPU engine or a DMA engine).
    pub fn batch(&mut self) -> CopyBatch<'_> {
        CopyBatch {
            ops: self.ops.as_slice(),
            _excl: PhantomData,
        }
    }
}

/// Copies of held blocks, with the right to write their destinations for `'b`. Neither
/// `Copy` nor `Clone`: whoever holds it (exclusively) may copy it, on a CPU here or by
/// handing [`CopyBatch::ops`] to a DMA engine.
pub struct CopyBatch<'b> {
    ops: &'b [CopyOp],
    _excl: PhantomData<&'b mut [u8]>,
}

impl<'b> CopyBatch<'b> {
    /// The ops (bus = physical addresses, lengths in bytes), for DMA descriptors.
    pub fn ops(&self) -> &[CopyOp] {
        self.ops
    }

    /// No ops.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Bytes of all ops.
    pub fn bytes(&self) -> u64 {
        self.ops.iter().map(|o| o.len).sum()
    }

    /// The same batch, borrowed again (to pass it on and keep it).
    pub fn reborrow(&mut self) -> CopyBatch<'_> {
        CopyBatch {
            ops: self.ops,
            _excl: PhantomData,
        }
    }

    /// Ops `..k` and `k..` as two batches (distinct ops have distinct destinations).
    /// `k` is clamped to the length.
    pub fn split_at(self, k: usize) -> (CopyBatch<'b>, CopyBatch<'b>) {
        let (a, b) = self.ops.split_at(k.min(self.ops.len()));
        (
            CopyBatch {
                ops: a,
                _excl: PhantomData,
            },
            CopyBatch {
                ops: b,
                _excl: PhantomData,
            },
        )
    }

    /// Copies every op on this CPU with `routine`.
    ///
    /// # Errors
    /// [`CopyError::RoutineUnavailable`] (then nothing was copied).
    pub fn copy(&mut self, routine: Routine) -> Result<(), CopyError> {
        available(routine)?;
        for op in self.ops {
            raw_copy(routine, op.src.as_u64(), op.dst.as_u64(), op.len);
        }
        Ok(())
    }

    /// Copies `pieces` (ranges of ops) on this CPU with `routine`, e.g. what a DMA
    /// channel left undone.
    ///
    /// # Errors
    /// [`CopyError::Piece`] for a piece outside its op, [`CopyError::RoutineUnavailable`];
    /// nothing was copied then.
    pub fn copy_pieces(&mut self, routine: Routine, pieces: &[Piece]) -> Result<(), CopyError> {
        available(routine)?;
        let lens = self.lens();
        for p in pieces {
            pieces::check_piece(&lens, p).map_err(CopyError::Piece)?;
        }
        for p in pieces {
            copy_piece(routine, &self.ops[p.op], p);
        }
        Ok(())
    }

    /// Cuts the batch into `shares` for CPUs that copy at the same time, one share per
    /// CPU. Checked first: every piece inside its op and no two overlapping.
    ///
    /// # Errors
    /// [`CopyError::Piece`] naming the first bad piece (no share is handed out).
    pub fn share(&mut self, shares: Vec<Vec<Piece>>) -> Result<Vec<CopyShare<'_>>, CopyError> {
        pieces::check_disjoint(&self.lens(), shares.iter().flatten()).map_err(CopyError::Piece)?;
        Ok(shares
            .into_iter()
            .map(|pieces| CopyShare {
                ops: self.ops,
                pieces,
                _excl: PhantomData,
            })
            .collect())
    }

    fn lens(&self) -> Vec<u64> {
        self.ops.iter().map(|o| o.len).collect()
    }
}

/// One CPU's share of a batch (see [`CopyBatch::share`]); `Send`, so a worker CPU can
/// take it, and consumed by [`CopyShare::copy`], so it is copied once.
pub struct CopyShare<'s> {
    ops: &'s [CopyOp],
    pieces: Vec<Piece>,
    _excl: PhantomData<&'s mut [u8]>,
}

impl CopyShare<'_> {
    /// Copies the share on this CPU with `routine`.
    ///
    /// # Errors
    /// [`CopyError::RoutineUnavailable`] (then nothing was copied).
    pub fn copy(self, routine: Routine) -> Result<(), CopyError> {
        available(routine)?;
        for p in &self.pieces {
            copy_piece(routine, &self.ops[p.op], p);
        }
        Ok(())
    }
}

fn available(routine: Routine) -> Result<(), CopyError> {
    if routine.available() {
        Ok(())
    } else {
        Err(CopyError::RoutineUnavailable(routine.name()))
    }
}

/// A piece already checked to lie inside `op`.
fn copy_piece(routine: Routine, op: &CopyOp, p: &Piece) {
    raw_copy(
        routine,
        op.src.as_u64() + p.offset,
        op.dst.as_u64() + p.offset,
        p.len,
    );
}

/// Callers: ranges inside ops of a `CopyBatch` (or its checked pieces), `routine`
/// available.
fn raw_copy(routine: Routine, src: u64, dst: u64, len: u64) {
    // SAFETY: the range lies inside an op of a `CopyBatch`, which was built from a shared
    // borrow of the source block and an exclusive borrow of the destination block, both
    // held for the batch's life; distinct blocks never overlap (buddy allocator) and RAM
    // is identity mapped. Concurrent copiers get pieces checked disjoint by `share`.
    // The routine was checked available.
    unsafe { copy::copy(routine, dst as *mut u8, src as *const u8, len as usize) };
}
