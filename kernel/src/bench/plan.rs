//! The limits check before the first cell (`kcore::plan`), wired to this kernel: every
//! selected experiment's cells, built from the same keys the experiments read, set
//! against the free frames of each node and the heap's room for bookkeeping. What does
//! not fit stops the run with the numbers (exit 6) before any work.

use super::error::{BenchError, InputError};
use super::seed::default_total;
use crate::println;
use alloc::vec::Vec;
use kcore::bench::{Bench, Selection};
use kcore::cmdline::Config;
use kcore::migrate::{folio_bytes, MTHP_ORDERS};
use kcore::plan::CellNeed;

/// A user-given `total=` must be a whole number of folios of every size it is used
/// with: a run never migrates more or less than it was asked to and calls it `total`.
///
/// # Errors
/// [`InputError::TotalBelowFolio`] for a size larger than `total`, else
/// [`InputError::TotalNotWhole`] naming the size `total` does not divide.
pub fn check_total(config: &Config, orders: &[u8]) -> Result<(), BenchError> {
    if !config.given("total") {
        return Ok(());
    }
    let total = config.migrate.total;
    for &o in orders {
        let fb = folio_bytes(o);
        if total < fb {
            // Not "use N or N": the only whole number below is none.
            return Err(InputError::TotalBelowFolio { total, folio: fb }.into());
        }
        if !total.is_multiple_of(fb) {
            return Err(InputError::TotalNotWhole { total, folio: fb }.into());
        }
    }
    Ok(())
}

fn cells_of(
    config: &Config,
    orders: &[u8],
    total: u64,
    from: u32,
    to: u32,
    raw: bool,
) -> Vec<CellNeed> {
    orders
        .iter()
        .map(|&order| {
            let folios = (total / folio_bytes(order)).max(1);
            let per_batch = (config.migrate.batch_pages >> order).max(1);
            CellNeed {
                from,
                to,
                order,
                folios,
                batch_folios: per_batch.min(folios),
                raw_copy: raw,
            }
        })
        .collect()
}

/// The cells the selected experiments (or the `migrate` job, `bench = None`) will
/// measure, at their largest, and the folio orders that `total` is cut into (all but
/// tables 2a/2b, which count folios).
pub fn cells(
    config: &Config,
    bench: Option<&Selection>,
    from: u32,
    to: u32,
) -> (Vec<CellNeed>, Vec<u8>) {
    let m = &config.migrate;
    let Some(list) = bench else {
        return (
            cells_of(config, &m.sizes, m.total, from, to, false),
            m.sizes.clone(),
        );
    };
    let has = |b: Bench| list.runs(b);
    let mut out = Vec::new();
    if has(Bench::Efficiency) {
        let sizes = super::sizes_or(config, &[0, 9]);
        out.extend(cells_of(config, &sizes, m.total, from, to, true));
    }
    if [Bench::Seed1a, Bench::Seed1b, Bench::Seed3a, Bench::Seed3b]
        .into_iter()
        .any(has)
    {
        let sizes = super::sizes_or(config, &MTHP_ORDERS);
        out.extend(cells_of(
            config,
            &sizes,
            default_total(config),
            from,
            to,
            false,
        ));
    }
    let questions = [
        Bench::Setup,
        Bench::Auto,
        Bench::Placement,
        Bench::Pollution,
        Bench::Load,
        Bench::Cycles,
    ];
    if questions.into_iter().any(has) {
        let sizes = super::sizes_or(config, &[0, 4, 9]);
        let total = super::question_total(config);
        out.extend(cells_of(config, &sizes, total, from, to, true));
    }
    if has(Bench::Frontier) {
        // Ceiling, split (2M), declined batches and latency (4K, up to one batch of the
        // whole workload), the mix and its uniform cells: every size at the full total.
        let total = super::frontier::total(config);
        let mut sizes = alloc::vec![0u8, 9];
        if let Ok(m) = super::frontier::mix::mix(config) {
            sizes.extend(m.parts().iter().map(|p| p.0));
        }
        sizes.sort_unstable();
        sizes.dedup();
        for &order in &sizes {
            let folios = (total / folio_bytes(order)).max(1);
            out.push(CellNeed {
                from,
                to,
                order,
                folios,
                batch_folios: folios,
                raw_copy: true,
            });
        }
    }
    let mut orders: Vec<u8> = out.iter().map(|c| c.order).collect();
    orders.sort_unstable();
    orders.dedup();
    if (has(Bench::Seed2a) || has(Bench::Seed2b)) && config.given("counts") {
        for &count in &m.counts {
            let bytes = count.saturating_mul(2 << 20);
            out.extend(cells_of(config, &[9], bytes, from, to, false));
        }
    }
    (out, orders)
}

/// Checks the whole run before its first cell and prints what it checked.
///
/// # Errors
/// The first cell that does not fit, or a `total` that is not a whole number of folios.
pub fn check_run(config: &Config, bench: Option<&Selection>) -> Result<(), BenchError> {
    let (from, to) = super::nodes(config)?;
    let (cells, orders) = cells(config, bench, from, to);
    check_total(config, &orders)?;
    super::limits::check(&cells)?;
    let peak = cells
        .iter()
        .map(|c| c.folios.saturating_mul(folio_bytes(c.order)))
        .max()
        .unwrap_or(0);
    println!(
        "plan: {} cell shape(s) fit (largest {} MiB per repetition; heap {} MiB free for bookkeeping)",
        cells.len(),
        peak >> 20,
        crate::heap::free_for_bookkeeping() >> 20
    );
    Ok(())
}
