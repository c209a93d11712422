//! Checks on how a batch of copy ops is cut into pieces for several copiers (CPU
//! workers, DMA fallback): every piece inside its op, and — when the pieces run at the
//! same time — no two pieces writing the same bytes. The kernel's copy primitive
//! (`mm::copy`) runs these checks before handing pieces to other CPUs, so a split bug
//! shows as a refused batch, never as two CPUs writing one destination.

use crate::migrate::Piece;
use alloc::vec::Vec;

/// Why a set of pieces was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceError {
    /// The piece names an op the batch does not have.
    NoSuchOp {
        /// The op index.
        op: usize,
        /// Ops in the batch.
        ops: usize,
    },
    /// The piece is empty or runs past its op's end.
    OutOfBounds {
        /// The piece.
        piece: Piece,
        /// Bytes of its op.
        op_len: u64,
    },
    /// Two pieces write the same bytes of an op.
    Overlap {
        /// The first of the two (by op, then offset).
        a: Piece,
        /// The one starting inside it.
        b: Piece,
    },
}

impl core::fmt::Display for PieceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PieceError::NoSuchOp { op, ops } => write!(f, "piece of op {op}, batch has {ops}"),
            PieceError::OutOfBounds { piece, op_len } => write!(
                f,
                "piece {}+{} of op {} outside its {op_len} bytes",
                piece.offset, piece.len, piece.op
            ),
            PieceError::Overlap { a, b } => write!(
                f,
                "pieces {}+{} and {}+{} of op {} overlap",
                a.offset, a.len, b.offset, b.len, a.op
            ),
        }
    }
}

/// Checks one piece against the ops' lengths (bytes).
///
/// # Errors
/// [`PieceError::NoSuchOp`] or [`PieceError::OutOfBounds`] (an empty piece included).
pub fn check_piece(lens: &[u64], p: &Piece) -> Result<(), PieceError> {
    let op_len = *lens.get(p.op).ok_or(PieceError::NoSuchOp {
        op: p.op,
        ops: lens.len(),
    })?;
    if p.len == 0 || p.offset.checked_add(p.len).is_none_or(|end| end > op_len) {
        return Err(PieceError::OutOfBounds { piece: *p, op_len });
    }
    Ok(())
}

/// Checks pieces that will be copied at the same time: each inside its op, and no two
/// overlapping. `O(n log n)` in the number of pieces.
///
/// # Errors
/// The first [`PieceError`] found.
pub fn check_disjoint<'a>(
    lens: &[u64],
    pieces: impl IntoIterator<Item = &'a Piece>,
) -> Result<(), PieceError> {
    let mut all: Vec<Piece> = Vec::new();
    for p in pieces {
        check_piece(lens, p)?;
        all.push(*p);
    }
    all.sort_unstable_by_key(|p| (p.op, p.offset));
    for w in all.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a.op == b.op && b.offset < a.offset + a.len {
            return Err(PieceError::Overlap { a, b });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::mt_split;
    use proptest::prelude::*;

    fn p(op: usize, offset: u64, len: u64) -> Piece {
        Piece { op, offset, len }
    }

    #[test]
    fn refuses_out_of_bounds_empty_and_unknown_ops() {
        let lens = [4096, 8192];
        assert_eq!(check_piece(&lens, &p(1, 4096, 4096)), Ok(()));
        assert_eq!(
            check_piece(&lens, &p(0, 4000, 97)),
            Err(PieceError::OutOfBounds {
                piece: p(0, 4000, 97),
                op_len: 4096
            })
        );
        assert!(matches!(
            check_piece(&lens, &p(0, 0, 0)),
            Err(PieceError::OutOfBounds { .. })
        ));
        assert!(matches!(
            check_piece(&lens, &p(0, u64::MAX, 2)),
            Err(PieceError::OutOfBounds { .. })
        ));
        assert_eq!(
            check_piece(&lens, &p(2, 0, 1)),
            Err(PieceError::NoSuchOp { op: 2, ops: 2 })
        );
    }

    #[test]
    fn refuses_overlap_across_shares() {
        let lens = [8192];
        let shares = [alloc::vec![p(0, 0, 4096)], alloc::vec![p(0, 4095, 10)]];
        assert_eq!(
            check_disjoint(&lens, shares.iter().flatten()),
            Err(PieceError::Overlap {
                a: p(0, 0, 4096),
                b: p(0, 4095, 10)
            })
        );
        let shares = [alloc::vec![p(0, 0, 4096)], alloc::vec![p(0, 4096, 4096)]];
        assert_eq!(check_disjoint(&lens, shares.iter().flatten()), Ok(()));
    }

    proptest! {
        /// The multi-threaded split is always accepted: inside its ops, no overlap, and
        /// every byte covered once.
        #[test]
        fn mt_split_is_disjoint(lens in prop::collection::vec(1u64..=(2 << 20), 1..40), workers in 1usize..20) {
            let shares = mt_split(&lens, workers);
            prop_assert_eq!(check_disjoint(&lens, shares.iter().flatten()), Ok(()));
            let covered: u64 = shares.iter().flatten().map(|p| p.len).sum();
            prop_assert_eq!(covered, lens.iter().sum::<u64>());
        }
    }
}
