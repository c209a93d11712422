//! `bench=efficiency` and the `migrate` job.
//!
//! efficiency: for each folio size (default 4K and 2M) and each engine present (cpu,
//! and dma when an engine was found), batched migration vs per-folio migration vs the
//! same engine's raw copy of the same bytes, all in one boot. The headline figure is
//! batched / raw copy: how much of the engine's bandwidth survives the unmap, TLB flush
//! and remap around it. The three cells of a row run interleaved (repetition by
//! repetition, see [`super::interleave`]), so load on the host moves them together.

use super::error::{BenchError, InputError};
use super::spec::{cell_text, size_name, Kind, Outcome, Spec};
use crate::migrate::Mode;
use crate::println;
use alloc::string::String;
use alloc::vec::Vec;
use kcore::cmdline::{Config, Engine};
use kcore::migrate::folio_bytes;
use kcore::stats::Summary;

use super::totals::Totals;

fn folios_for(config: &Config, order: u8) -> Result<usize, BenchError> {
    let n = config.migrate.total / folio_bytes(order);
    if n == 0 {
        return Err(InputError::TotalBelowFolio {
            total: config.migrate.total,
            folio: folio_bytes(order),
        }
        .into());
    }
    Ok(n as usize)
}

fn mean(o: &Outcome) -> Option<f64> {
    if !o.is_figure() {
        return None;
    }
    Summary::of(&o.gbps).ok().map(|s| s.mean)
}

/// Runs `bench=efficiency`.
///
/// # Errors
/// [`BenchError::Input`] for nodes (`from=`/`to=`) without memory, [`InputError::TotalBelowFolio`] for a `total=`
/// below one folio, [`BenchError::Engine`]/[`BenchError::Channels`] for an engine that
/// cannot be built.
pub fn efficiency(config: &Config) -> Result<Totals, BenchError> {
    let (from, to) = super::nodes(config)?;
    let sizes = super::sizes_or(config, &[0, 9]);
    let mut engines: Vec<Engine> = alloc::vec![Engine::Cpu];
    if crate::dma::channel_count() > 0 {
        engines.push(Engine::Dma);
    } else {
        println!("efficiency: no DMA engine: the dma rows are skipped");
    }
    let kinds = [
        Kind::Migrate(Mode::Batched),
        Kind::Migrate(Mode::PerFolio),
        Kind::RawCopy,
    ];
    let total_cells = sizes.len() * engines.len() * kinds.len();
    println!(
        "efficiency: {} MiB per repetition, node {from} -> {to}, batch {} pages, {} reps + warm-up, {} cells{}",
        config.migrate.total >> 20,
        config.migrate.batch_pages.min(1 << 40),
        config.migrate.reps,
        total_cells,
        crate::bench_context().note()
    );
    let mut rows = Vec::new();
    let mut totals = Totals::default();
    for &order in &sizes {
        let folios = folios_for(config, order)?;
        for &engine_kind in &engines {
            let mut engine = alloc::vec![super::engine(engine_kind, config)?];
            let specs: Vec<(Spec, usize)> = kinds
                .iter()
                .map(|&kind| {
                    let spec = Spec {
                        kind,
                        ..Spec::batched("efficiency", order, folios, from, to, config)
                    };
                    (spec, 0)
                })
                .collect();
            let progress: Vec<String> = kinds
                .iter()
                .enumerate()
                .map(|(k, kind)| {
                    alloc::format!(
                        "efficiency cell {}/{}: {} {engine_kind} {}",
                        totals.cells + k + 1,
                        total_cells,
                        size_name(order),
                        kind.name()
                    )
                })
                .collect();
            let outs = super::interleave::measure(&specs, &mut engine, &progress, &mut totals);
            rows.push((order, engine_kind.name(), outs));
        }
    }
    print_table(&rows);
    Ok(totals)
}

fn print_table(rows: &[(u8, &str, Vec<Outcome>)]) {
    println!();
    println!(
        "efficiency (GB/s, mean ± stdev; ratio = migration / raw copy of the same engine){}",
        crate::bench_context().note()
    );
    println!(
        "{:>5} {:>6} {:>18} {:>18} {:>18} {:>12} {:>14}",
        "folio", "engine", "batched", "per-folio", "raw copy", "batched/raw", "per-folio/raw"
    );
    for (order, name, o) in rows {
        let ratio = |a: &Outcome| match (mean(a), mean(&o[2])) {
            (Some(x), Some(r)) if r > 0.0 => alloc::format!("{:.3}", x / r),
            _ => String::from("-"),
        };
        println!(
            "{:>5} {:>6} {:>18} {:>18} {:>18} {:>12} {:>14}",
            alloc::format!("{}", size_name(*order)),
            name,
            cell_text(&o[0]),
            cell_text(&o[1]),
            cell_text(&o[2]),
            ratio(&o[0]),
            ratio(&o[1])
        );
    }
    for (order, name, o) in rows {
        let p = &o[0].phases;
        let t = p.total().max(1) as f64;
        println!(
            "  phases {} {name} batched: prepare {:.1}%, unmap+flush {:.1}%, copy {:.1}%, remap {:.1}%",
            size_name(*order),
            100.0 * p.prepare as f64 / t,
            100.0 * p.unmap as f64 / t,
            100.0 * p.copy as f64 / t,
            100.0 * p.remap as f64 / t
        );
    }
}

/// Runs the `migrate` job: one cell per folio size with the engine and mode given.
///
/// # Errors
/// As [`efficiency`], for the one engine `engine=` names.
pub fn migrate_job(config: &Config) -> Result<Totals, BenchError> {
    let (from, to) = super::nodes(config)?;
    let m = &config.migrate;
    let mode = m.mode;
    let mut engine = super::engine(m.engine, config)?;
    let mut totals = Totals::default();
    for &order in &m.sizes {
        let folios = folios_for(config, order)?;
        let spec = Spec {
            exp: "migrate",
            kind: Kind::Migrate(mode),
            order,
            folios,
            from,
            to,
            batch_pages: m.batch_pages,
            reps: m.reps,
            mix: None,
        };
        let progress = alloc::format!("migrate {} {} {}", size_name(order), m.engine, mode.name());
        let o = super::result::measure(&spec, engine.as_mut(), &progress, &mut totals);
        if o.failure.is_some() {
            continue;
        }
        let p = &o.phases;
        let t = p.total().max(1) as f64;
        let per = |x: u64| x / folios as u64;
        println!(
            "migrate {} x {folios} {} {} node {from}->{to}: {} GB/s; per folio: prepare {} ns ({:.1}%), unmap {} ns ({:.1}%), copy {} ns ({:.1}%), remap {} ns ({:.1}%); {} DMA fallback op(s)",
            size_name(order),
            m.engine,
            mode.name(),
            cell_text(&o),
            per(p.prepare),
            100.0 * p.prepare as f64 / t,
            per(p.unmap),
            100.0 * p.unmap as f64 / t,
            per(p.copy),
            100.0 * p.copy as f64 / t,
            per(p.remap),
            100.0 * p.remap as f64 / t,
            o.engine.fallback_ops
        );
    }
    Ok(totals)
}
