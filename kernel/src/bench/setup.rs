//! `bench=setup`: what a copy costs per batch, per descriptor and per byte, for DMA and
//! for the CPU engines, and where DMA starts to beat 1, 2 and 4 CPU threads.
//!
//! Each engine migrates (batched, verified) a fixed design of batches in which batch count,
//! descriptor count and bytes vary independently: 4K folios one per batch, eight per batch
//! and all in one batch; 64K and 2M folios likewise. The copy phase of a repetition (the
//! engine inside a real migration: own address space, after the TLB flush) is fitted to `batches × per_batch + descriptors × per_desc + bytes × per_byte`
//! (`kcore::costmodel::least_squares`) and printed with its RMS and worst relative error.
//! For DMA the batch count is the number of doorbell rounds the driver really rang and the
//! descriptor count what the queue needs for each op. The `auto` engine reuses [`calibrate`].

use super::cell;
use super::error::BenchError;
use super::spec::{size_name, Kind, Spec};
use super::totals::Totals;
use crate::migrate::engine::cpu::CpuEngine;
use crate::migrate::engine::cpumt::CpuMtEngine;
use crate::migrate::engine::dma::DmaEngine;
use crate::migrate::engine::CopyEngine;
use crate::migrate::Mode;
use crate::println;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use kcore::cmdline::{Config, Engine};
use kcore::costmodel::{crossover, least_squares, Cost, Crossover, Fit};
use kcore::migrate::{batches, folio_bytes};
use kcore::placement::Policy;
use ptdma::{CopyOp, DmaAddr};

/// One point of the design: `folios` folios of `order`, at most `batch_pages` per batch.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    /// Folio order.
    pub order: u8,
    /// Folios copied per repetition.
    pub folios: usize,
    /// Batch limit in base pages.
    pub batch_pages: u64,
}

/// The design, scaled by `k` (1 = smallest): batch count, descriptors and bytes vary
/// independently of each other.
pub fn design(k: usize) -> Vec<Point> {
    let p = |order, folios, batch_pages| Point {
        order,
        folios,
        batch_pages,
    };
    alloc::vec![
        p(0, 32 * k, 1),
        p(0, 32 * k, 8),
        p(0, 32 * k, u64::MAX),
        p(0, 128 * k, u64::MAX),
        p(4, 8 * k, 16),
        p(4, 8 * k, u64::MAX),
        p(9, k, 512),
        p(9, 2 * k, u64::MAX),
    ]
}

/// A fitted engine (relative least squares: `fit.rms` and `fit.max_rel_err` are fractions
/// of the measured time).
#[derive(Debug, Clone)]
pub struct Model {
    /// `cpu`, `cpu-mt`, `dma`.
    pub engine: &'static str,
    /// Threads (CPU) or channels (DMA).
    pub width: usize,
    /// The fit (coefficients per batch, descriptor, byte).
    pub fit: Fit,
    /// The fit as a cost.
    pub cost: Cost,
}

impl Model {
    /// `dma x1`, `cpu-mt x2`.
    pub fn label(&self) -> String {
        alloc::format!("{} x{}", self.engine, self.width)
    }
}

/// Descriptors the DMA queue needs for one op of `len` bytes (1 for CPU engines).
fn descs_per_op(engine: &dyn CopyEngine, len: u64) -> u64 {
    if engine.channels() == 0 {
        return 1;
    }
    let op = CopyOp {
        src: DmaAddr::new(1 << 30),
        dst: DmaAddr::new(2 << 30),
        len,
    };
    engine.descriptors(&[op])
}

/// Runs the design on `engine` (`reps` each, verified) and fits the cost model to each
/// point's fastest repetition. With
/// `exp = Some(name)` every cell prints a RESULT line with the fitted model beside it.
pub fn calibrate(
    engine: &mut dyn CopyEngine,
    points: &[Point],
    from: u32,
    to: u32,
    reps: u32,
    exp: Option<&'static str>,
    totals: &mut Totals,
) -> Result<Model, BenchError> {
    let mut rows: Vec<Vec<f64>> = Vec::new();
    let mut ys = Vec::new();
    let mut cells = Vec::new();
    for (i, pt) in points.iter().enumerate() {
        let spec = Spec {
            exp: exp.unwrap_or("calibration"),
            kind: Kind::Migrate(Mode::Batched),
            order: pt.order,
            folios: pt.folios,
            from,
            to,
            batch_pages: pt.batch_pages,
            reps,
            mix: None,
        };
        let progress = alloc::format!(
            "{} {} x{} point {}/{}: {} x {}, batch {}",
            exp.unwrap_or("calibrate"),
            engine.name(),
            engine.width(),
            i + 1,
            points.len(),
            pt.folios,
            size_name(pt.order),
            if pt.batch_pages == u64::MAX {
                String::from("all")
            } else {
                alloc::format!("{} pages", pt.batch_pages)
            }
        );
        let o = cell::run(&spec, engine, &progress);
        // Calibration points (no `exp`) print no RESULT line, so they are not cells of the
        // run's total; one that is not a figure of its engine (failed, out of memory, or
        // invalid: DMA fell back) still counts, and a model is never fitted to it.
        let mut counted = Totals::default();
        counted.count(&o);
        if exp.is_none() {
            counted.cells = 0;
            counted.degraded = 0;
        }
        totals.add(&counted);
        if !o.is_figure() {
            let why = o.failure.clone().unwrap_or_else(|| {
                alloc::format!(
                    "{}: {:.1} % of the DMA bytes were copied by the CPU fallback",
                    o.status,
                    100.0 * o.copied.fallback_share()
                )
            });
            return Err(BenchError::Calibration {
                cell: progress,
                status: o.status,
                why,
            });
        }
        let calls = batches(pt.folios, pt.order, pt.batch_pages).count() as f64;
        let n = o.gbps.len().max(1) as f64;
        let rounds = if o.engine.dma_batches > 0 {
            o.engine.dma_batches as f64 / n
        } else {
            calls
        };
        let len = folio_bytes(pt.order);
        let descs = (pt.folios as u64 * descs_per_op(engine, len)) as f64;
        let bytes = (pt.folios as u64 * len) as f64;
        rows.push(alloc::vec![rounds, descs, bytes]);
        // The fastest repetition's share of the copy phase: the least disturbed by the
        // emulator's host and by other guests. gbps covers all phases, so scale the mean
        // copy time by fastest/mean total time.
        let best = o.gbps.iter().copied().fold(0.0, f64::max);
        let mean_gbps = o.gbps.iter().sum::<f64>() / n;
        ys.push(o.phases.copy as f64 * if best > 0.0 { mean_gbps / best } else { 1.0 });
        cells.push((spec, o));
    }
    // Relative least squares: each point weighted by 1/t, so a 4K batch of 100 µs counts as
    // much as a 2M batch of 10 ms; the fit's rms is then a relative error.
    let wrows: Vec<Vec<f64>> = rows
        .iter()
        .zip(&ys)
        .map(|(r, y)| r.iter().map(|x| x / y.max(1.0)).collect())
        .collect();
    let wys: Vec<f64> = ys.iter().map(|y| y / y.max(1.0)).collect();
    let fit_error = |error| BenchError::Fit {
        engine: engine.name(),
        width: engine.width(),
        error,
    };
    let fit = least_squares(&wrows, &wys).map_err(fit_error)?;
    let cost = Cost::from_fit(&fit).ok_or(fit_error(kcore::costmodel::FitError::Shape))?;
    if exp.is_some() {
        for ((spec, o), (row, y)) in cells.iter().zip(rows.iter().zip(&ys)) {
            let obj = super::result::result_obj(spec, o)
                .num("batches_per_rep", row[0])
                .num("descs_per_rep", row[1])
                .num("ns_per_rep", *y)
                .num("model_ns", cost.predict(row[0], row[1], row[2]))
                .num("model_batch_ns", cost.per_batch_ns)
                .num("model_desc_ns", cost.per_desc_ns)
                .num("model_byte_ns", cost.per_byte_ns)
                .num("model_rms_rel_err", fit.rms)
                .num("model_max_rel_err", fit.max_rel_err);
            crate::bench::json::print_result(obj);
        }
    }
    Ok(Model {
        engine: engine.name(),
        width: engine.width(),
        fit,
        cost,
    })
}

/// The CPU engine with `threads` workers (`cpu` for one: the migrating CPU copies).
///
/// # Errors
/// [`BenchError::Engine`] when the placement cannot give `threads` workers.
pub fn cpu_engine(
    threads: usize,
    placement: &Policy,
    from: u32,
    to: u32,
) -> Result<Box<dyn CopyEngine>, BenchError> {
    if threads == 1 {
        Ok(Box::new(CpuEngine))
    } else {
        Ok(Box::new(CpuMtEngine::new(threads, placement, from, to)?))
    }
}

/// Prints the models as a table.
pub fn print_models(models: &[Model]) {
    println!(" engine     | per batch us | per desc us | per byte GB/s | rms err | worst err");
    println!(
        "======================================================================================="
    );
    for m in models {
        println!(
            " {:<10} | {:>12.2} | {:>11.3} | {:>13.3} | {:>6.1}% | {:>8.1}%",
            m.label(),
            m.cost.per_batch_ns / 1e3,
            m.cost.per_desc_ns / 1e3,
            m.cost.gbps(),
            m.fit.rms * 100.0,
            m.fit.max_rel_err * 100.0
        );
    }
}

/// Thread counts 1, 2, 4 clamped to the CPUs online.
pub fn thread_counts() -> Vec<usize> {
    let have = crate::smp::online().len();
    [1usize, 2, 4].into_iter().filter(|&t| t <= have).collect()
}

/// Runs `bench=setup`.
///
/// # Errors
/// [`BenchError::Input`] for nodes (`from=`/`to=`) without memory, [`BenchError::Engine`]/[`BenchError::Channels`] for
/// an engine that cannot be built, [`BenchError::Calibration`] or [`BenchError::Fit`]
/// when a cost model cannot be fitted.
pub fn setup(config: &Config, totals: &mut Totals) -> Result<(), BenchError> {
    let (from, to) = super::nodes(config)?;
    let k = (super::seed::default_total(config) >> 22).clamp(1, 64) as usize;
    let points = design(k);
    let threads = thread_counts();
    println!(
        "setup: cost per batch / descriptor / byte; design of {} points (4K x {}, 64K x {}, 2M x {}), engines cpu, cpu-mt {:?}, dma x1; node {from} -> {to}, {} reps + warm-up{}",
        points.len(),
        32 * k,
        8 * k,
        2 * k,
        &threads[1..],
        config.migrate.reps,
        crate::bench_context().note()
    );
    let mut models = Vec::new();
    for &t in &threads {
        let mut e = cpu_engine(t, &config.migrate.placement, from, to)?;
        models.push(calibrate(
            e.as_mut(),
            &points,
            from,
            to,
            config.migrate.reps,
            Some("setup"),
            totals,
        )?);
    }
    let dma = if crate::dma::channel_count() > 0 {
        let mut e = DmaEngine::new(Some(1), super::dma_split(config), config.dma_timeout_ms)?;
        let m = calibrate(
            &mut e,
            &points,
            from,
            to,
            config.migrate.reps,
            Some("setup"),
            totals,
        )?;
        models.push(m.clone());
        Some(m)
    } else {
        println!("setup: no DMA engine: DMA model and crossover skipped");
        None
    };
    println!();
    println!(
        "setup. Copy cost model t = batches*a + descriptors*b + bytes*c (copy phase of batched migrations){}",
        crate::bench_context().note()
    );
    print_models(&models);
    let Some(dma) = dma else { return Ok(()) };
    println!();
    println!(
        "setup. Crossover: folio size above which one DMA channel beats N CPU threads (model)"
    );
    let mut header = String::from(" folios/batch |");
    for m in models.iter().filter(|m| m.engine != Engine::Dma.name()) {
        header.push_str(&alloc::format!(" {:>14} |", m.label()));
    }
    println!("{header}");
    println!("{}", "=".repeat(header.len()));
    for n in [1u64, 8, 64, 512] {
        let mut line = alloc::format!(" {n:<12} |");
        for m in models.iter().filter(|m| m.engine != Engine::Dma.name()) {
            let text = match crossover(&dma.cost, &m.cost, n) {
                Crossover::Always => String::from("always"),
                Crossover::Never => String::from("never"),
                Crossover::Above(s) => alloc::format!("> {:.1} KiB", s / 1024.0),
                Crossover::Below(s) => alloc::format!("< {:.1} KiB", s / 1024.0),
            };
            line.push_str(&alloc::format!(" {text:>14} |"));
        }
        println!("{line}");
    }
    Ok(())
}
