//! `dma-split=bytes`: a batch cut into chunks by bytes across DMA channels, inside folios
//! when there are fewer folios than channels (the RFC's later versions and the DSA fork
//! split one large folio across channels the same way).
//!
//! A chunk lies inside one op (one folio: it never crosses a folio boundary), starts at a
//! 4 KiB multiple of the op and is at most [`ChunkBounds::max`] long. The target size is
//! the batch's bytes over the channels, clamped to `min..=max`, so a 2 MiB folio over 8
//! channels becomes 8 chunks of 256 KiB; a chunk is shorter than `min` only when its whole
//! op is (small folios are never cut) or when no number of pieces fits both bounds (then
//! `max` wins). Chunks go to the channel with the fewest bytes so
//! far (ties to the lowest index), in op order.

use alloc::vec::Vec;
use core::fmt;

/// Alignment of every cut inside an op: a page.
pub const CUT_ALIGN: u64 = 4096;

/// Smallest and largest chunk, bytes (`dma-chunk=MIN..MAX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkBounds {
    /// Smallest chunk cut from an op longer than it (bytes, a multiple of 4 KiB).
    pub min: u64,
    /// Largest chunk (bytes, a multiple of 4 KiB, at least `min`).
    pub max: u64,
}

/// Why a `dma-chunk=` value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    /// Not `MIN..MAX` with two sizes like `256k..2m`.
    Syntax,
    /// A bound that is zero or not a multiple of 4 KiB.
    NotPages,
    /// `MIN` larger than `MAX`.
    MinAboveMax,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChunkError::Syntax => "MIN..MAX with sizes like 256k..2m",
            ChunkError::NotPages => "bounds must be non-zero multiples of 4k",
            ChunkError::MinAboveMax => "MIN must not exceed MAX",
        })
    }
}

/// Parses `MIN..MAX` (sizes as `crate::migrate::parse_size` reads them: `256k`, `2m`).
///
/// # Errors
/// A [`ChunkError`] saying what is wrong.
pub fn parse_bounds(s: &str) -> Result<ChunkBounds, ChunkError> {
    let (lo, hi) = s.split_once("..").ok_or(ChunkError::Syntax)?;
    let min = crate::migrate::parse_size(lo).ok_or(ChunkError::Syntax)?;
    let max = crate::migrate::parse_size(hi).ok_or(ChunkError::Syntax)?;
    if min == 0 || max == 0 || min % CUT_ALIGN != 0 || max % CUT_ALIGN != 0 {
        return Err(ChunkError::NotPages);
    }
    if min > max {
        return Err(ChunkError::MinAboveMax);
    }
    Ok(ChunkBounds { min, max })
}

/// A piece of op `op`: bytes `[offset, offset + len)` of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Index of the op (folio) in the batch.
    pub op: usize,
    /// First byte inside the op.
    pub offset: u64,
    /// Bytes.
    pub len: u64,
}

/// How many pieces an op of `len` bytes is cut into for chunks near `target`.
fn pieces(len: u64, target: u64, b: ChunkBounds) -> u64 {
    let pages = len.div_ceil(CUT_ALIGN);
    let at_least = len.div_ceil(b.max).max(1); // no piece above max
    let at_most = (len / b.min).max(1); // no piece below min (unless the op is)
    len.div_ceil(target.max(1))
        .clamp(at_least, at_most.max(at_least))
        .min(pages)
}

/// Cuts ops of lengths `lens` into chunks over `channels` channels (≥ 1); returns each
/// channel's chunks in submission order.
///
/// # Panics
/// If `channels` is 0.
pub fn split_bytes(lens: &[u64], channels: usize, b: ChunkBounds) -> Vec<Vec<Chunk>> {
    assert!(channels > 0, "split over zero channels");
    let total: u64 = lens.iter().sum();
    let target = (total / channels as u64).clamp(b.min, b.max);
    let mut out: Vec<Vec<Chunk>> = (0..channels).map(|_| Vec::new()).collect();
    let mut load = alloc::vec![0u64; channels];
    for (op, &len) in lens.iter().enumerate() {
        let p = pieces(len, target, b);
        let mut start = 0;
        for k in 1..=p {
            // Cut k of p at the page at or below k·len/p; the last ends at len.
            let end = if k == p {
                len
            } else {
                ((len as u128 * k as u128 / p as u128) as u64) / CUT_ALIGN * CUT_ALIGN
            };
            if end > start {
                let c = (0..channels)
                    .min_by_key(|&c| (load[c], c))
                    .expect("channels > 0");
                load[c] += end - start;
                out[c].push(Chunk {
                    op,
                    offset: start,
                    len: end - start,
                });
            }
            start = end;
        }
    }
    out
}

/// The hybrid engine's split of a batch: how many leading ops (whole folios) go to the
/// CPU workers so that they carry about `cpu_percent` % of the bytes (an op goes to the
/// CPU while the CPU share, counting half of that op, stays below the target); the rest
/// go to DMA. `cpu_percent` above 100 counts as 100.
pub fn hybrid_cpu_ops(lens: &[u64], cpu_percent: u64) -> usize {
    let total: u64 = lens.iter().sum();
    let want = total * cpu_percent.min(100) / 100;
    let (mut k, mut acc) = (0, 0);
    while k < lens.len() && acc + lens[k] / 2 < want {
        acc += lens[k];
        k += 1;
    }
    k
}

#[cfg(test)]
mod tests;
