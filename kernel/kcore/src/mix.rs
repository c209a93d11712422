//! `size=mix:2m=50%,64k=25%,4k=25%`: one workload holding folios of several sizes in one
//! address space, as a partly-THP process has, and batches that mix them.
//!
//! The shares are of the bytes. [`Mix::orders`] lays the folios out in an interleaved
//! order (each next folio is of the size furthest behind its share), so batches mix the
//! sizes all along the workload; [`batch_ranges`] cuts such a list into batches of at most
//! `limit` base pages (a folio larger than the limit is a batch of its own).

use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use crate::migrate::{folio_bytes, order_of, parse_size};

/// Most sizes in one mix (the mTHP sizes).
pub const MAX_SIZES: usize = 10;

/// Folio sizes and their share of the bytes (percent, summing to 100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    parts: [(u8, u8); MAX_SIZES],
    len: usize,
}

/// Why a mix was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MixError {
    /// Not `mix:SIZE=P%,…`.
    Syntax,
    /// A size that is not an mTHP folio size.
    BadSize,
    /// A size listed twice.
    Duplicate,
    /// Shares that do not add up to 100 %, or a zero share.
    Shares(u32),
    /// `total` bytes do not give a whole number of folios of this size for its share.
    NotWhole {
        /// The folio size, bytes.
        size: u64,
        /// Bytes of that size the share asks for.
        bytes: u64,
    },
}

impl fmt::Display for MixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MixError::Syntax => {
                f.write_str("mix:SIZE=P%,SIZE=P%,... like mix:2m=50%,64k=25%,4k=25%")
            }
            MixError::BadSize => f.write_str("sizes must be mTHP sizes 4k..2m"),
            MixError::Duplicate => f.write_str("each size at most once"),
            MixError::Shares(sum) => write!(
                f,
                "shares must be > 0 and add up to 100% (they add up to {sum}%)"
            ),
            MixError::NotWhole { size, bytes } => write!(
                f,
                "{bytes} bytes of {} KiB folios is not a whole number of folios",
                size >> 10
            ),
        }
    }
}

/// Parses `mix:SIZE=P%,…`.
///
/// # Errors
/// A [`MixError`] saying what is wrong.
pub fn parse(s: &str) -> Result<Mix, MixError> {
    let body = s.strip_prefix("mix:").ok_or(MixError::Syntax)?;
    let mut mix = Mix {
        parts: [(0, 0); MAX_SIZES],
        len: 0,
    };
    let mut sum = 0u32;
    for item in body.split(',') {
        let (size, pct) = item.split_once('=').ok_or(MixError::Syntax)?;
        let pct = pct.strip_suffix('%').ok_or(MixError::Syntax)?;
        let pct: u8 = pct.parse().map_err(|_| MixError::Syntax)?;
        let order = parse_size(size)
            .and_then(order_of)
            .ok_or(MixError::BadSize)?;
        if mix.parts[..mix.len].iter().any(|p| p.0 == order) {
            return Err(MixError::Duplicate);
        }
        if mix.len == MAX_SIZES {
            return Err(MixError::Duplicate);
        }
        if pct == 0 {
            return Err(MixError::Shares(0));
        }
        mix.parts[mix.len] = (order, pct);
        mix.len += 1;
        sum += u32::from(pct);
    }
    if sum != 100 {
        return Err(MixError::Shares(sum));
    }
    Ok(mix)
}

impl Mix {
    /// `(order, percent)` of each size, in the order given.
    pub fn parts(&self) -> &[(u8, u8)] {
        &self.parts[..self.len]
    }

    /// The largest order in the mix.
    pub fn max_order(&self) -> u8 {
        self.parts().iter().map(|p| p.0).max().unwrap_or(0)
    }

    /// Folios of each size for `total` bytes: `(order, count)`.
    ///
    /// # Errors
    /// [`MixError::NotWhole`] when a share is not a whole number of its folios.
    pub fn counts(&self, total: u64) -> Result<Vec<(u8, u64)>, MixError> {
        self.parts()
            .iter()
            .map(|&(order, pct)| {
                let bytes = (u128::from(total) * u128::from(pct) / 100) as u64;
                let size = folio_bytes(order);
                if !bytes.is_multiple_of(size)
                    || !(u128::from(total) * u128::from(pct)).is_multiple_of(100)
                {
                    return Err(MixError::NotWhole { size, bytes });
                }
                Ok((order, bytes / size))
            })
            .collect()
    }

    /// The order of each folio of a `total`-byte workload, interleaved: each next folio
    /// is of the size whose bytes so far are furthest behind its share.
    ///
    /// # Errors
    /// As [`Mix::counts`].
    pub fn orders(&self, total: u64) -> Result<Vec<u8>, MixError> {
        let counts = self.counts(total)?;
        let n: u64 = counts.iter().map(|c| c.1).sum();
        let mut done = alloc::vec![0u64; counts.len()];
        let mut out = Vec::with_capacity(n as usize);
        let mut placed = 0u128;
        for _ in 0..n {
            // Deficit of size k: share·(placed + its size) - its bytes so far; the size
            // with the largest deficit (ties: first listed) that still has folios left.
            let k = (0..counts.len())
                .filter(|&k| done[k] < counts[k].1)
                .max_by(|&a, &b| {
                    let d = |k: usize| {
                        let size = u128::from(folio_bytes(counts[k].0));
                        let want = u128::from(self.parts[k].1) * (placed + size);
                        want as i128
                            - 100 * i128::try_from(u128::from(done[k]) * size).unwrap_or(i128::MAX)
                    };
                    d(a).cmp(&d(b)).then(b.cmp(&a))
                })
                .expect("a size with folios left");
            done[k] += 1;
            placed += u128::from(folio_bytes(counts[k].0));
            out.push(counts[k].0);
        }
        Ok(out)
    }
}

/// Cuts folios of `orders` into consecutive batches of at most `limit` base pages; a
/// folio larger than the limit is a batch of its own.
pub fn batch_ranges(orders: &[u8], limit: u64) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut pages = 0u64;
    for (i, &o) in orders.iter().enumerate() {
        let p = 1u64 << o;
        if i > start && pages.saturating_add(p) > limit {
            out.push(start..i);
            start = i;
            pages = 0;
        }
        pages += p;
    }
    if start < orders.len() {
        out.push(start..orders.len());
    }
    out
}

#[cfg(test)]
mod tests;
