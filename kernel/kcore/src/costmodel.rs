//! The copy-cost model behind `bench=setup` and the `auto` engine.
//!
//! One copy call (a batch) of an engine costs
//! `t = per_batch + per_desc × descriptors + per_byte × bytes` nanoseconds: per batch the
//! doorbell and the start of the completion wait (DMA) or one dispatch round (cpu-mt), per
//! descriptor the descriptor write and its completion (DMA), per byte the copy itself.
//!
//! - [`least_squares`]: ordinary least squares with several regressors (normal equations,
//!   columns scaled to unit length, Gaussian elimination with partial pivoting), with the fit's
//!   RMS and worst relative error, so a model is always printed with how well it fits.
//! - [`Cost`]: a fitted model; [`Cost::predict`] a batch's time; [`cheapest`] picks the engine
//!   predicted fastest for a batch (the `auto` engine's choice).
//! - [`crossover`]: the folio size at which one engine starts to beat another for a batch of
//!   `n` folios.

use alloc::vec::Vec;
use core::fmt;

/// Why a fit could not be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FitError {
    /// Rows and values differ in number, or a row has the wrong width.
    Shape,
    /// Fewer points than coefficients.
    TooFewPoints {
        /// Points given.
        points: usize,
        /// Coefficients to fit.
        coefficients: usize,
    },
    /// A value is NaN or infinite.
    NotFinite,
    /// The regressors are linearly dependent (e.g. every point has the same batch count).
    Singular,
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Shape => write!(f, "every row needs one value per coefficient and one y"),
            Self::TooFewPoints {
                points,
                coefficients,
            } => write!(
                f,
                "{points} point(s) cannot fit {coefficients} coefficient(s)"
            ),
            Self::NotFinite => write!(f, "a value is NaN or infinite"),
            Self::Singular => write!(
                f,
                "the regressors are linearly dependent: vary them independently"
            ),
        }
    }
}

/// A least-squares fit `y ≈ Σ coef[j] × x[j]` (no implicit intercept: add a column of ones).
#[derive(Clone, Debug, PartialEq)]
pub struct Fit {
    /// One coefficient per regressor column.
    pub coef: Vec<f64>,
    /// Root-mean-square residual, in units of y.
    pub rms: f64,
    /// Largest |residual| / |y| over the points (0 when every y is 0).
    pub max_rel_err: f64,
    /// Coefficient of determination against the mean of y.
    pub r2: f64,
}

/// Fits `ys[i] ≈ Σ_j coef[j] × rows[i][j]`.
///
/// # Errors
/// [`FitError::Shape`] when `rows` and `ys` differ in length, there are no rows or
/// columns, or rows differ in width; [`FitError::TooFewPoints`] with fewer rows than
/// columns; [`FitError::NotFinite`] for a NaN or infinite value; [`FitError::Singular`]
/// when a column is all zeros or the columns, scaled to unit length, are linearly dependent
/// (a pivot of the normal equations at or below 1e-12).
pub fn least_squares(rows: &[Vec<f64>], ys: &[f64]) -> Result<Fit, FitError> {
    let k = rows.first().map_or(0, Vec::len);
    if rows.len() != ys.len() || k == 0 || rows.iter().any(|r| r.len() != k) {
        return Err(FitError::Shape);
    }
    if rows.len() < k {
        return Err(FitError::TooFewPoints {
            points: rows.len(),
            coefficients: k,
        });
    }
    if rows.iter().flatten().chain(ys).any(|v| !v.is_finite()) {
        return Err(FitError::NotFinite);
    }
    // Scale every column to unit length: bytes (1e6) and batches (1) differ by many orders
    // of magnitude, which would wreck the elimination's pivot test. XᵀX then has a unit
    // diagonal, so a pivot near 0 means truly dependent columns.
    let scale: Vec<f64> = (0..k)
        .map(|j| crate::stats::sqrt(rows.iter().map(|r| r[j] * r[j]).sum::<f64>()))
        .collect();
    if scale.contains(&0.0) {
        return Err(FitError::Singular);
    }
    // Normal equations A = XᵀX, b = Xᵀy on the scaled columns, as an augmented k × (k+1) matrix.
    let mut m = alloc::vec![alloc::vec![0.0; k + 1]; k];
    for (r, y) in rows.iter().zip(ys) {
        for a in 0..k {
            let xa = r[a] / scale[a];
            for b in 0..k {
                m[a][b] += xa * r[b] / scale[b];
            }
            m[a][k] += xa * y;
        }
    }
    for col in 0..k {
        let pivot = (col..k)
            .max_by(|&a, &b| abs(m[a][col]).total_cmp(&abs(m[b][col])))
            .unwrap_or(col);
        if abs(m[pivot][col]) <= 1e-12 {
            return Err(FitError::Singular);
        }
        m.swap(col, pivot);
        let p = m[col].clone();
        for (row, r) in m.iter_mut().enumerate() {
            if row != col {
                let f = r[col] / p[col];
                for (x, y) in r[col..].iter_mut().zip(&p[col..]) {
                    *x -= f * y;
                }
            }
        }
    }
    let coef: Vec<f64> = (0..k).map(|j| m[j][k] / m[j][j] / scale[j]).collect();
    let n = ys.len() as f64;
    let mean = ys.iter().sum::<f64>() / n;
    let (mut sse, mut sst, mut worst) = (0.0, 0.0, 0.0f64);
    for (r, y) in rows.iter().zip(ys) {
        let e = y - r.iter().zip(&coef).map(|(x, c)| x * c).sum::<f64>();
        sse += e * e;
        sst += (y - mean) * (y - mean);
        if *y != 0.0 {
            worst = worst.max(abs(e / y));
        }
    }
    Ok(Fit {
        coef,
        rms: crate::stats::sqrt(sse / n),
        max_rel_err: worst,
        r2: if sst == 0.0 { 1.0 } else { 1.0 - sse / sst },
    })
}

/// A copy engine's cost per batch, per descriptor (folio) and per byte, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Cost {
    /// Fixed cost of one copy call.
    pub per_batch_ns: f64,
    /// Cost of each descriptor (op) in the call.
    pub per_desc_ns: f64,
    /// Cost of each byte.
    pub per_byte_ns: f64,
}

impl Cost {
    /// From a three-column fit (batches, descriptors, bytes).
    pub fn from_fit(fit: &Fit) -> Option<Self> {
        match fit.coef[..] {
            [b, d, y] => Some(Self {
                per_batch_ns: b,
                per_desc_ns: d,
                per_byte_ns: y,
            }),
            _ => None,
        }
    }

    /// Predicted time of `batches` calls carrying `descs` ops and `bytes` bytes in all.
    pub fn predict(&self, batches: f64, descs: f64, bytes: f64) -> f64 {
        self.per_batch_ns * batches + self.per_desc_ns * descs + self.per_byte_ns * bytes
    }

    /// Asymptotic bandwidth in GB/s (bytes per ns), infinite when the per-byte cost is ≤ 0.
    pub fn gbps(&self) -> f64 {
        if self.per_byte_ns > 0.0 {
            1.0 / self.per_byte_ns
        } else {
            f64::INFINITY
        }
    }
}

/// Index of the cost predicted fastest for one batch of `descs` ops and `bytes` bytes (the
/// first on ties); `None` when `costs` is empty.
pub fn cheapest(costs: &[Cost], descs: u64, bytes: u64) -> Option<usize> {
    let t = |c: &Cost| c.predict(1.0, descs as f64, bytes as f64);
    (0..costs.len()).min_by(|&a, &b| t(&costs[a]).total_cmp(&t(&costs[b])))
}

/// Where engine `a` beats engine `b` for one batch of `n` folios, as a function of the folio
/// size `s` (bytes): `a` is faster exactly when `s` lies on the given side of the bound.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Crossover {
    /// `a` is faster (or equal) at every folio size.
    Always,
    /// `a` is never faster.
    Never,
    /// `a` is faster for folios larger than this many bytes.
    Above(f64),
    /// `a` is faster for folios smaller than this many bytes.
    Below(f64),
}

/// Solves `a(n, s) < b(n, s)` for the folio size `s` of a batch of `n ≥ 1` folios.
pub fn crossover(a: &Cost, b: &Cost, n: u64) -> Crossover {
    let n = n.max(1) as f64;
    // a - b = fixed + slope * s, with fixed and slope per batch.
    let fixed = (a.per_batch_ns - b.per_batch_ns) + (a.per_desc_ns - b.per_desc_ns) * n;
    let slope = (a.per_byte_ns - b.per_byte_ns) * n;
    if slope == 0.0 {
        return if fixed <= 0.0 {
            Crossover::Always
        } else {
            Crossover::Never
        };
    }
    let s = -fixed / slope;
    match (slope < 0.0, s <= 0.0) {
        (true, true) => Crossover::Always,
        (true, false) => Crossover::Above(s),
        (false, true) => Crossover::Never,
        (false, false) => Crossover::Below(s),
    }
}

fn abs(x: f64) -> f64 {
    f64::from_bits(x.to_bits() & !(1u64 << 63))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    fn rows_of(points: &[(f64, f64, f64)]) -> Vec<Vec<f64>> {
        points.iter().map(|&(a, b, c)| vec![a, b, c]).collect()
    }

    #[test]
    fn recovers_an_exact_dma_like_model() {
        // 20 µs per batch, 1 µs per descriptor, 12.4 GB/s.
        let truth = Cost {
            per_batch_ns: 20_000.0,
            per_desc_ns: 1_000.0,
            per_byte_ns: 1.0 / 12.4,
        };
        let pts = [
            (64.0, 64.0, 262_144.0),
            (8.0, 64.0, 262_144.0),
            (1.0, 64.0, 262_144.0),
            (1.0, 2.0, 4_194_304.0),
            (2.0, 2.0, 4_194_304.0),
            (1.0, 512.0, 2_097_152.0),
        ];
        let ys: Vec<f64> = pts
            .iter()
            .map(|&(a, b, c)| truth.predict(a, b, c))
            .collect();
        let fit = least_squares(&rows_of(&pts), &ys).unwrap();
        let c = Cost::from_fit(&fit).unwrap();
        assert!((c.per_batch_ns - 20_000.0).abs() < 1e-3, "{c:?}");
        assert!((c.per_desc_ns - 1_000.0).abs() < 1e-4, "{c:?}");
        assert!((c.per_byte_ns - 1.0 / 12.4).abs() < 1e-9, "{c:?}");
        assert!(fit.rms < 1e-3 && fit.max_rel_err < 1e-9 && fit.r2 > 0.999_999);
    }

    #[test]
    fn least_squares_matches_a_hand_computed_line() {
        // y = 1 + 2x with residuals +1, -1, -1, +1 → same line, rms 1.
        let rows = vec![
            vec![1.0, 0.0],
            vec![1.0, 1.0],
            vec![1.0, 2.0],
            vec![1.0, 3.0],
        ];
        let ys = [2.0, 2.0, 4.0, 8.0];
        let fit = least_squares(&rows, &ys).unwrap();
        // Hand OLS: Sxy = 10, Sxx = 5, mean x 1.5, mean y 4 → slope 2, intercept 1.
        assert!((fit.coef[1] - 2.0).abs() < 1e-12, "{fit:?}");
        assert!((fit.coef[0] - 1.0).abs() < 1e-12, "{fit:?}");
        assert!((fit.rms - 1.0).abs() < 1e-12 && (fit.max_rel_err - 0.5).abs() < 1e-12);
        assert!((fit.r2 - (1.0 - 4.0 / 24.0)).abs() < 1e-12);
    }

    #[test]
    fn rejects_bad_input() {
        let one = vec![vec![1.0, 2.0, 3.0]];
        assert_eq!(
            least_squares(&one, &[1.0]),
            Err(FitError::TooFewPoints {
                points: 1,
                coefficients: 3
            })
        );
        assert_eq!(least_squares(&one, &[1.0, 2.0]), Err(FitError::Shape));
        // Batches always equal to descriptors: the two columns cannot be told apart.
        let dep = rows_of(&[(1.0, 1.0, 4096.0), (2.0, 2.0, 8192.0), (3.0, 3.0, 1.0)]);
        assert_eq!(
            least_squares(&dep, &[1.0, 2.0, 3.0]),
            Err(FitError::Singular)
        );
        let nan = rows_of(&[(1.0, f64::NAN, 1.0), (2.0, 1.0, 1.0), (3.0, 2.0, 9.0)]);
        assert_eq!(
            least_squares(&nan, &[1.0, 2.0, 3.0]),
            Err(FitError::NotFinite)
        );
    }

    #[test]
    fn crossover_of_dma_and_cpu() {
        let cpu = Cost {
            per_batch_ns: 0.0,
            per_desc_ns: 100.0,
            per_byte_ns: 1.0, // 1 GB/s
        };
        let dma = Cost {
            per_batch_ns: 10_000.0,
            per_desc_ns: 1_000.0,
            per_byte_ns: 0.25, // 4 GB/s
        };
        // One folio: 10000 + 1000 + 0.25 s < 100 + s  ⇔  s > 10900 / 0.75.
        match crossover(&dma, &cpu, 1) {
            Crossover::Above(s) => assert!((s - 10_900.0 / 0.75).abs() < 1e-6),
            other => panic!("{other:?}"),
        }
        assert!(matches!(crossover(&cpu, &dma, 1), Crossover::Below(_)));
        assert_eq!(crossover(&cpu, &cpu, 4), Crossover::Always);
        let worse = Cost {
            per_byte_ns: 2.0,
            ..dma
        };
        assert_eq!(crossover(&worse, &cpu, 8), Crossover::Never);
        // The choice agrees with the crossover on both sides of it.
        assert_eq!(cheapest(&[cpu, dma], 1, 4096), Some(0));
        assert_eq!(cheapest(&[cpu, dma], 1, 2 << 20), Some(1));
        assert_eq!(cheapest(&[], 1, 1), None);
    }

    proptest! {
        #[test]
        fn exact_models_are_recovered(
            b in 0.0f64..1e5, d in 0.0f64..1e4, y in 0.01f64..10.0,
            sizes in prop::collection::vec((1u32..64, 1u32..512, 12u32..22), 4..12)
        ) {
            let truth = Cost { per_batch_ns: b, per_desc_ns: d, per_byte_ns: y };
            let mut pts: Vec<(f64, f64, f64)> = sizes.iter()
                .map(|&(nb, nd, sh)| (nb as f64, (nb * nd) as f64, (nb * nd) as f64 * (1u64 << sh) as f64))
                .collect();
            // Guarantee independent columns.
            pts.extend([(1.0, 1.0, 4096.0), (1.0, 64.0, 4096.0 * 64.0), (64.0, 64.0, 2.0 * 1048576.0)]);
            let ys: Vec<f64> = pts.iter().map(|&(p, q, r)| truth.predict(p, q, r)).collect();
            let fit = least_squares(&rows_of(&pts), &ys).map_err(|e| TestCaseError::fail(alloc::format!("{e} {pts:?}")))?;
            prop_assert!(fit.max_rel_err < 1e-6, "{:?}", fit);
            // The chosen engine is never predicted slower than another one.
            let other = Cost { per_batch_ns: d, per_desc_ns: b / 10.0, per_byte_ns: y * 2.0 };
            for &(_, q, r) in &pts {
                let i = cheapest(&[truth, other], q as u64, r as u64).unwrap();
                let c = [truth, other];
                prop_assert!(c[i].predict(1.0, q, r) <= c[1 - i].predict(1.0, q, r));
            }
        }
    }
}
