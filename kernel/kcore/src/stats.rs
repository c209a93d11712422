//! Statistics for benchmark cells: summary of repetitions, throughput, linear fits.
//!
//! - [`Summary`]: n, mean, sample standard deviation (n-1), coefficient of variation, min, max —
//!   the `gbps_*` fields of a `RESULT` line (DESIGN.md §6).
//! - [`gbps`]: throughput with GB = 1e9 bytes, as the seed RFC reports it.
//! - [`fit_linear`]: least-squares line `y = intercept + slope * x`, used for the DMA setup-cost
//!   models (e.g. the seed's one-channel row fits `t ≈ 8.6 µs + bytes / 12.4 GB/s`).
//! - [`sqrt`]: `f64::sqrt` lives in `std`, not `core`, so the kernel gets its own.
//!
//! Every function returns a [`StatsError`] on input it cannot summarise instead of panicking or
//! silently producing NaN.

use core::fmt;

/// Why a statistic could not be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatsError {
    /// No samples were given.
    Empty,
    /// A sample was NaN or infinite (its index).
    NotFinite(usize),
    /// A throughput was asked for over a zero-length interval.
    ZeroDuration,
    /// `xs` and `ys` of a fit have different lengths.
    LengthMismatch {
        /// Number of x values.
        xs: usize,
        /// Number of y values.
        ys: usize,
    },
    /// A line needs at least two points.
    TooFewPoints(usize),
    /// All x values are equal, so the slope is undefined.
    DegenerateX,
}

impl fmt::Display for StatsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "no samples"),
            Self::NotFinite(i) => write!(f, "sample {i} is NaN or infinite"),
            Self::ZeroDuration => write!(f, "throughput over a zero-length interval"),
            Self::LengthMismatch { xs, ys } => {
                write!(f, "fit needs as many x as y values (got {xs} and {ys})")
            }
            Self::TooFewPoints(n) => write!(f, "a line fit needs at least 2 points (got {n})"),
            Self::DegenerateX => write!(f, "all x values are equal; the slope is undefined"),
        }
    }
}

/// Summary of the repetitions of one benchmark cell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (divides by n-1); 0 when n = 1.
    pub stdev: f64,
    /// Coefficient of variation, stdev / |mean|; 0 when the mean is 0.
    pub cv: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
}

impl Summary {
    /// Summarises `xs` (two passes: the mean first, then squared deviations, which is exact enough
    /// for a handful of repetitions and avoids the cancellation of the sum-of-squares formula).
    ///
    /// # Errors
    /// [`StatsError::Empty`] for no samples; [`StatsError::NotFinite`] with the index of the
    /// first NaN or infinite sample.
    pub fn of(xs: &[f64]) -> Result<Self, StatsError> {
        if xs.is_empty() {
            return Err(StatsError::Empty);
        }
        if let Some(i) = xs.iter().position(|x| !x.is_finite()) {
            return Err(StatsError::NotFinite(i));
        }
        let n = xs.len();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let (mut min, mut max) = (xs[0], xs[0]);
        for &x in xs {
            min = min.min(x);
            max = max.max(x);
        }
        let stdev = if n > 1 {
            let ss: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
            sqrt(ss / (n - 1) as f64)
        } else {
            0.0
        };
        let cv = if mean == 0.0 { 0.0 } else { stdev / abs(mean) };
        Ok(Self {
            n,
            mean,
            stdev,
            cv,
            min,
            max,
        })
    }
}

/// Throughput in GB/s (1 GB = 1e9 bytes, as the seed RFC) of `bytes` moved in `ns` nanoseconds.
///
/// # Errors
/// [`StatsError::ZeroDuration`] when `ns` is 0.
pub fn gbps(bytes: u64, ns: u64) -> Result<f64, StatsError> {
    if ns == 0 {
        return Err(StatsError::ZeroDuration);
    }
    // bytes / ns is bytes per nanosecond, which is exactly 1e9 bytes per second.
    Ok(bytes as f64 / ns as f64)
}

/// Least-squares line through points, `y = intercept + slope * x`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearFit {
    /// Value at x = 0 (e.g. fixed setup cost).
    pub intercept: f64,
    /// Change of y per unit x (e.g. ns per byte).
    pub slope: f64,
    /// Coefficient of determination; 1 for a perfect fit (also when all y are equal).
    pub r2: f64,
    /// Root-mean-square of the residuals, in units of y.
    pub rms: f64,
}

impl LinearFit {
    /// The fitted y at `x`.
    pub fn at(&self, x: f64) -> f64 {
        self.intercept + self.slope * x
    }
}

/// Fits `ys ≈ intercept + slope * xs` by ordinary least squares (centred sums, for accuracy when
/// x is large, e.g. bytes).
///
/// # Errors
/// [`StatsError::LengthMismatch`] when `xs` and `ys` differ in length;
/// [`StatsError::TooFewPoints`] for fewer than 2 points; [`StatsError::NotFinite`] with the
/// point index of the first NaN or infinite value (all x checked before any y);
/// [`StatsError::DegenerateX`] when every x is equal.
pub fn fit_linear(xs: &[f64], ys: &[f64]) -> Result<LinearFit, StatsError> {
    if xs.len() != ys.len() {
        return Err(StatsError::LengthMismatch {
            xs: xs.len(),
            ys: ys.len(),
        });
    }
    if xs.len() < 2 {
        return Err(StatsError::TooFewPoints(xs.len()));
    }
    if let Some(i) = xs.iter().chain(ys).position(|v| !v.is_finite()) {
        return Err(StatsError::NotFinite(i % xs.len()));
    }
    let n = xs.len() as f64;
    let mx = xs.iter().sum::<f64>() / n;
    let my = ys.iter().sum::<f64>() / n;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.iter().zip(ys) {
        let (dx, dy) = (x - mx, y - my);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    if sxx == 0.0 {
        return Err(StatsError::DegenerateX);
    }
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let sse: f64 = xs
        .iter()
        .zip(ys)
        .map(|(x, y)| {
            let r = y - (intercept + slope * x);
            r * r
        })
        .sum();
    let r2 = if syy == 0.0 { 1.0 } else { 1.0 - sse / syy };
    Ok(LinearFit {
        intercept,
        slope,
        r2,
        rms: sqrt(sse / n),
    })
}

/// |x| without `std`.
fn abs(x: f64) -> f64 {
    f64::from_bits(x.to_bits() & !(1u64 << 63))
}

/// Square root without `std`: NaN for negative or NaN input, exact for 0 and +inf, otherwise
/// within a few ulps (bit-trick first guess, then Newton steps, each doubling the good bits).
pub fn sqrt(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 || x == f64::INFINITY {
        return x;
    }
    // Subnormals break the exponent-halving guess; scale into the normal range first.
    let (x, scale) = if x < f64::MIN_POSITIVE {
        (x * 18_014_398_509_481_984.0, 1.0 / 134_217_728.0) // 2^54, 2^-27
    } else {
        (x, 1.0)
    };
    // Halving the biased exponent gives a guess within about 6 %.
    let mut y = f64::from_bits((x.to_bits() >> 1) + (0x3ffu64 << 51));
    for _ in 0..6 {
        y = 0.5 * (y + x / y);
    }
    y * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        abs(a - b) <= rel * abs(b).max(1e-300)
    }

    #[test]
    fn sqrt_known_values() {
        for (x, r) in [
            (4.0, 2.0),
            (2.0, core::f64::consts::SQRT_2),
            (0.25, 0.5),
            (1e300, 1e150),
            (1e-300, 1e-150),
            (1.0, 1.0),
            (123_456_789.0, 11_111.111_060_555_555),
        ] {
            assert!(close(sqrt(x), r, 1e-15), "sqrt({x}) = {} != {r}", sqrt(x));
        }
        assert_eq!(sqrt(0.0), 0.0);
        assert_eq!(sqrt(f64::INFINITY), f64::INFINITY);
        assert!(sqrt(-1.0).is_nan());
        assert!(sqrt(f64::NAN).is_nan());
        let sub = 4.0 * f64::MIN_POSITIVE / 1024.0; // subnormal
        assert!(close(sqrt(sub) * sqrt(sub), sub, 1e-14));
    }

    #[test]
    fn sqrt_matches_std_over_a_sweep() {
        let mut x = 1e-10;
        while x < 1e12 {
            assert!(close(sqrt(x), x.sqrt(), 4e-16), "x = {x}");
            x *= 1.37;
        }
    }

    #[test]
    fn summary_known_values() {
        // Classic example: mean 5, population sd 2, sample sd sqrt(32/7).
        let s = Summary::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(s.n, 8);
        assert_eq!(s.mean, 5.0);
        assert!(close(s.stdev, (32.0f64 / 7.0).sqrt(), 1e-15));
        assert!(close(s.cv, s.stdev / 5.0, 1e-15));
        assert_eq!((s.min, s.max), (2.0, 9.0));
    }

    #[test]
    fn summary_single_and_errors() {
        let s = Summary::of(&[3.5]).unwrap();
        assert_eq!(
            (s.n, s.mean, s.stdev, s.cv, s.min, s.max),
            (1, 3.5, 0.0, 0.0, 3.5, 3.5)
        );
        assert_eq!(Summary::of(&[]), Err(StatsError::Empty));
        assert_eq!(Summary::of(&[1.0, f64::NAN]), Err(StatsError::NotFinite(1)));
        let z = Summary::of(&[0.0, 0.0]).unwrap();
        assert_eq!((z.stdev, z.cv), (0.0, 0.0));
    }

    #[test]
    fn gbps_uses_decimal_gigabytes() {
        assert_eq!(gbps(1_000_000_000, 1_000_000_000), Ok(1.0));
        // 2 MiB in 177.9 µs is the seed's 11.79 GB/s.
        assert!(close(gbps(2 << 20, 177_870).unwrap(), 11.79, 1e-3));
        assert_eq!(gbps(1, 0), Err(StatsError::ZeroDuration));
    }

    #[test]
    fn fit_recovers_exact_line() {
        // The seed's DMA model: t(ns) = 8600 + bytes / 12.4.
        let xs = [4096.0, 65536.0, 524288.0, 2097152.0];
        let ys: Vec<f64> = xs.iter().map(|b| 8600.0 + b / 12.4).collect();
        let f = fit_linear(&xs, &ys).unwrap();
        assert!(close(f.intercept, 8600.0, 1e-9));
        assert!(close(f.slope, 1.0 / 12.4, 1e-12));
        assert!(close(f.r2, 1.0, 1e-12));
        assert!(f.rms < 1e-6);
        assert!(close(f.at(1e6), 8600.0 + 1e6 / 12.4, 1e-12));
    }

    #[test]
    fn fit_noisy_known_values() {
        // y = 1 + 2x with residuals +1,-1,-1,+1: slope 2, intercept 1, sse 4, rms 1.
        let xs = [0.0, 1.0, 2.0, 3.0];
        let ys = [2.0, 2.0, 4.0, 8.0];
        let f = fit_linear(&xs, &ys).unwrap();
        assert!(close(f.slope, 2.0, 1e-12));
        assert!(close(f.intercept, 1.0, 1e-12));
        assert!(close(f.rms, 1.0, 1e-12));
        // syy = 24, sse = 4.
        assert!(close(f.r2, 1.0 - 4.0 / 24.0, 1e-12));
    }

    #[test]
    fn fit_errors() {
        assert_eq!(
            fit_linear(&[1.0], &[1.0, 2.0]),
            Err(StatsError::LengthMismatch { xs: 1, ys: 2 })
        );
        assert_eq!(fit_linear(&[1.0], &[1.0]), Err(StatsError::TooFewPoints(1)));
        assert_eq!(
            fit_linear(&[1.0, 1.0], &[1.0, 2.0]),
            Err(StatsError::DegenerateX)
        );
        assert_eq!(
            fit_linear(&[1.0, 2.0], &[1.0, f64::INFINITY]),
            Err(StatsError::NotFinite(1))
        );
        let flat = fit_linear(&[1.0, 2.0], &[3.0, 3.0]).unwrap();
        assert_eq!((flat.slope, flat.r2), (0.0, 1.0));
        assert!(!format!("{}", StatsError::DegenerateX).is_empty());
    }
}
