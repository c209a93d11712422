//! Several migrations at once (`streams=`): the shared channel pool, the admission
//! policy a batch follows when no channel is free (`dma-admit=`), what each stream
//! counts, the stream list on the command line, and Jain's fairness index.
//!
//! - [`pool`]: slots lent by value (the kernel's DMA registry keeps its channels in one).
//! - `admit`: wait, go to the CPU, or take fewer channels; the decision and the loop
//!   that polls the pool, with its counters.
//! - [`spec`]: `streams=N` or `streams=0>1,1>0,…`.

pub mod admit;
pub mod pool;
pub mod spec;

#[cfg(test)]
mod tests;

pub use admit::{admit, decide, AdmitCounts, AdmitPolicy, Admitted, Step};
pub use pool::{PoolError, SlotPool};
pub use spec::{parse_streams, FgNode, StreamRoute, StreamsArg, StreamsError};

/// Jain's fairness index of `xs` (e.g. each stream's throughput):
/// `(Σx)² / (n · Σx²)`, 1 when all are equal, `1/n` when one gets everything.
/// `None` for an empty list, an all-zero list or a negative or non-finite value.
pub fn jain_index(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() || xs.iter().any(|x| !x.is_finite() || *x < 0.0) {
        return None;
    }
    let sum: f64 = xs.iter().sum();
    let sq: f64 = xs.iter().map(|x| x * x).sum();
    if sq == 0.0 {
        return None;
    }
    Some(sum * sum / (xs.len() as f64 * sq))
}
