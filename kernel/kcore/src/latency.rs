//! What a batch size costs in latency: the statistics of item 6 of the frontier.
//!
//! While a folio is unmapped, a process touching it waits (on Linux it sleeps on the
//! migration entry). The pipeline timestamps each batch's phases; within a phase the
//! folios are handled in order at a steady rate, so folio `i` of `n` is taken as
//! unmapped at `interpolate(unmap_start, unmap_end, i, n)` and mapped again at
//! `interpolate(remap_first, remap_end, i, n - 1)` after the first folio, whose remap is
//! timed exactly ([`batch_windows`]). Percentiles are nearest-rank.

use alloc::vec::Vec;

/// p50, p99 and max of a sample, in its unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    /// Median (nearest rank).
    pub p50: u64,
    /// 99th percentile (nearest rank).
    pub p99: u64,
    /// Largest value.
    pub max: u64,
    /// Sample size.
    pub count: usize,
}

/// The nearest-rank `p`-th percentile (0 < p ≤ 100) of sorted `v` (non-empty).
fn rank(sorted: &[u64], p: u64) -> u64 {
    let n = sorted.len() as u64;
    let r = (p * n).div_ceil(100).clamp(1, n);
    sorted[(r - 1) as usize]
}

/// Percentiles of `values` (sorted in place), or None when empty.
pub fn percentiles(values: &mut [u64]) -> Option<Percentiles> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    Some(Percentiles {
        p50: rank(values, 50),
        p99: rank(values, 99),
        max: *values.last().expect("non-empty"),
        count: values.len(),
    })
}

/// The time of step `i` of `n` between `start` and `end`: `start` for `i = 0`, `end`
/// for `i = n` (`n = 0` gives `end`).
pub fn interpolate(start: u64, end: u64, i: usize, n: usize) -> u64 {
    if n == 0 {
        return end;
    }
    let span = end.saturating_sub(start) as u128;
    start + (span * i.min(n) as u128 / n as u128) as u64
}

/// Timestamps (ns) of one batch of `n` folios.
#[derive(Debug, Clone, Copy)]
pub struct BatchTimes {
    /// The unmap phase starts (first PTE about to be cleared).
    pub unmap_start: u64,
    /// The last PTE was cleared.
    pub unmap_end: u64,
    /// The first folio's PTE points at its destination.
    pub remap_first: u64,
    /// The last folio's PTE points at its destination.
    pub remap_end: u64,
}

/// Appends each folio's unmapped window (ns) of a batch of `n` folios to `out`.
pub fn batch_windows(t: &BatchTimes, n: usize, out: &mut Vec<u64>) {
    for i in 0..n {
        let unmapped = interpolate(t.unmap_start, t.unmap_end, i, n);
        let mapped = if i == 0 {
            t.remap_first
        } else {
            interpolate(t.remap_first, t.remap_end, i, n - 1)
        };
        out.push(mapped.saturating_sub(unmapped));
    }
}

/// One point of a batch-size sweep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepPoint {
    /// Batch limit in base pages.
    pub batch_pages: u64,
    /// p99 of the unmapped window, ns.
    pub p99_ns: u64,
    /// Throughput, GB/s.
    pub gbps: f64,
}

/// `batch=auto:unmapped-us=N`: the largest batch limit whose p99 unmapped window is at
/// most `bound_ns`, or None when none is.
pub fn auto_batch(points: &[SweepPoint], bound_ns: u64) -> Option<SweepPoint> {
    points
        .iter()
        .filter(|p| p.p99_ns <= bound_ns)
        .max_by_key(|p| p.batch_pages)
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        let p = percentiles(&mut v).unwrap();
        assert_eq!((p.p50, p.p99, p.max, p.count), (50, 99, 100, 100));
        let mut one = vec![7];
        let p = percentiles(&mut one).unwrap();
        assert_eq!((p.p50, p.p99, p.max), (7, 7, 7));
        // 10 values: p99 is the largest (rank ceil(9.9) = 10), p50 the 5th.
        let mut ten: Vec<u64> = (0..10).map(|x| x * 10).collect();
        let p = percentiles(&mut ten).unwrap();
        assert_eq!((p.p50, p.p99), (40, 90));
        assert_eq!(percentiles(&mut []), None);
    }

    #[test]
    fn interpolation_ends() {
        assert_eq!(interpolate(100, 200, 0, 4), 100);
        assert_eq!(interpolate(100, 200, 2, 4), 150);
        assert_eq!(interpolate(100, 200, 4, 4), 200);
        assert_eq!(interpolate(100, 200, 9, 4), 200, "clamped");
        assert_eq!(interpolate(100, 200, 0, 0), 200);
        assert_eq!(
            interpolate(200, 100, 1, 2),
            200,
            "a clock that went back gives no span"
        );
    }

    #[test]
    fn windows_of_a_batch() {
        let t = BatchTimes {
            unmap_start: 0,
            unmap_end: 100,
            remap_first: 1000,
            remap_end: 1300,
        };
        let mut w = Vec::new();
        batch_windows(&t, 4, &mut w);
        // Unmapped at 0, 25, 50, 75; mapped at 1000, 1100, 1200, 1300.
        assert_eq!(w, vec![1000, 1075, 1150, 1225]);
        let mut one = Vec::new();
        batch_windows(&t, 1, &mut one);
        assert_eq!(one, vec![1000]);
    }

    #[test]
    fn auto_batch_picks_the_largest_within_the_bound() {
        let p = |b, us: u64, g| SweepPoint {
            batch_pages: b,
            p99_ns: us * 1000,
            gbps: g,
        };
        let pts = [
            p(1, 20, 0.5),
            p(64, 150, 1.8),
            p(512, 900, 2.0),
            p(8, 60, 1.2),
        ];
        assert_eq!(auto_batch(&pts, 200_000), Some(pts[1]));
        assert_eq!(auto_batch(&pts, 1_000_000), Some(pts[2]));
        assert_eq!(auto_batch(&pts, 10_000), None);
    }

    proptest! {
        #[test]
        fn percentiles_are_ordered_members(v in proptest::collection::vec(0u64..1_000_000, 1..500)) {
            let mut s = v.clone();
            let p = percentiles(&mut s).unwrap();
            prop_assert!(p.p50 <= p.p99 && p.p99 <= p.max);
            prop_assert!(v.contains(&p.p50) && v.contains(&p.p99));
            prop_assert_eq!(p.max, *v.iter().max().unwrap());
            // At least 99 % of the sample is at or below p99.
            let below = v.iter().filter(|&&x| x <= p.p99).count();
            prop_assert!(below * 100 >= 99 * v.len());
        }
    }
}
