//! `bench=auto`: the `auto` engine against always-CPU and always-DMA, in one boot.
//!
//! For each width w (threads = channels = w, clamped to what the machine has) the CPU
//! engine with w threads (`cpu` for one) and DMA with w channels are calibrated first
//! (`setup::calibrate` on the small design: verified migrations, copy phase timed), then every folio size is
//! migrated (batched, verified) by the CPU engine, by DMA and by `auto`, which picks one of
//! the two per batch from the calibrated model. The table shows auto / best fixed choice and
//! flags every cell where auto is more than 5 % slower — the goal is none.

use super::cell;
use super::error::BenchError;
use super::setup::{self, calibrate, design};
use super::spec::{size_name, Outcome, Spec};
use super::totals::Totals;
use crate::migrate::engine::auto::AutoEngine;
use crate::migrate::engine::dma::DmaEngine;
use crate::migrate::engine::CopyEngine;
use crate::println;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use kcore::cmdline::Config;
use kcore::migrate::folio_bytes;
use kcore::stats::Summary;

/// Auto may be this much slower than the best fixed engine before the cell counts as lost.
const TOLERANCE: f64 = 0.05;

fn mean(o: &Outcome) -> Option<f64> {
    if o.failure.is_some() {
        return None;
    }
    Summary::of(&o.gbps).ok().map(|s| s.mean)
}

/// Runs `bench=auto`.
///
/// # Errors
/// [`BenchError::Input`] for nodes (`from=`/`to=`) without memory or `widths=` beyond the CPU/DMA channel pairs;
/// [`BenchError::Engine`]/[`BenchError::Channels`] when an engine cannot be built;
/// [`BenchError::Calibration`] or [`BenchError::Fit`] when a cost model cannot be fitted.
pub fn auto(config: &Config, totals: &mut Totals) -> Result<(), BenchError> {
    let (from, to) = super::nodes(config)?;
    let channels = crate::dma::channel_count();
    if channels == 0 {
        println!("auto: no DMA engine: nothing to choose between; experiment skipped");
        return Ok(());
    }
    let have = crate::smp::online().len().min(channels) as u32;
    let widths = super::widths(config, have, "CPU/DMA channel pairs", "auto")?;
    let sizes = super::sizes_or(config, &[0, 4, 9]);
    let total = super::question_total(config);
    println!(
        "auto: widths {widths:?} (threads = channels, at most {have}), sizes {}, {} MiB per repetition, node {from} -> {to}, {} reps + warm-up; calibration: {} migration points per engine, fastest of {} reps{}",
        sizes.iter().map(|&o| alloc::format!("{}", size_name(o))).collect::<Vec<_>>().join(","),
        total >> 20,
        config.migrate.reps,
        design(1).len(),
        config.migrate.reps.max(3),
        crate::bench_context().note()
    );
    let mut rows: Vec<(u32, u8, [Option<f64>; 3], String)> = Vec::new();
    for &w in &widths {
        let place = &config.migrate.placement;
        let policy = super::dma_split(config);
        let mut cal_cpu = setup::cpu_engine(w as usize, place, from, to)?;
        let mut cal_dma = DmaEngine::new(Some(w), policy, config.dma_timeout_ms)?;
        let reps = config.migrate.reps.max(3);
        let m_cpu = calibrate(cal_cpu.as_mut(), &design(1), from, to, reps, None, totals)?;
        let m_dma = calibrate(&mut cal_dma, &design(1), from, to, reps, None, totals)?;
        println!("auto: width {w}: calibrated models");
        setup::print_models(&[m_cpu.clone(), m_dma.clone()]);
        let mut auto = AutoEngine::new(alloc::vec![
            (cal_cpu, m_cpu.cost),
            (Box::new(cal_dma) as Box<dyn CopyEngine>, m_dma.cost),
        ])?;
        // The fixed engines it is compared with are its own candidates, measured alone
        // (the same workers and the same DMA channels, which a lease owns exclusively).
        for &order in &sizes {
            let spec = Spec::batched(
                "auto",
                order,
                (total / folio_bytes(order)).max(1) as usize,
                from,
                to,
                config,
            );
            let mut means = [None; 3];
            let mut picked = String::new();
            for i in 0..3 {
                let e: &mut dyn CopyEngine = match i {
                    0 | 1 => auto.engine_mut(i),
                    _ => &mut auto,
                };
                let label = alloc::format!("auto width {w} {}: {}", size_name(order), e.name());
                let o = cell::run(&spec, e, &label);
                means[i] = mean(&o);
                totals.count(&o);
                let mut obj = super::result::result_obj(&spec, &o).int("width", w as u64);
                if i == 2 {
                    picked = auto.choices();
                    obj = obj.str("auto_choice", &picked);
                    let best = means[0].zip(means[1]).map(|(a, b)| a.max(b));
                    if let (Some(best), Some(m)) = (best, means[2]) {
                        obj = obj.num("auto_vs_best", m / best);
                    }
                }
                crate::bench::json::print_result(obj);
            }
            auto.reset_choices();
            rows.push((w, order, means, picked));
        }
    }
    println!();
    println!(
        "auto. Per-batch choice from a boot-calibrated cost model vs fixed engines (GB/s, batched migration){}",
        crate::bench_context().note()
    );
    println!(
        " width | folio |    cpu |    dma |   auto | auto/best | auto chose          | verdict"
    );
    println!("==========================================================================================");
    let mut lost = 0;
    for (w, order, m, picked) in &rows {
        let f = |v: Option<f64>| v.map_or(String::from("FAILED"), |v| alloc::format!("{v:.3}"));
        let ratio = m[0].zip(m[1]).zip(m[2]).map(|((a, b), c)| c / a.max(b));
        let verdict = match ratio {
            Some(r) if r >= 1.0 - TOLERANCE => String::from("ok"),
            Some(r) => {
                lost += 1;
                alloc::format!("LOSES {:.1}%", (1.0 - r) * 100.0)
            }
            None => String::from("-"),
        };
        println!(
            " {w:<5} | {:>5} | {:>6} | {:>6} | {:>6} | {:>9} | {picked:<18} | {verdict}",
            alloc::format!("{}", size_name(*order)),
            f(m[0]),
            f(m[1]),
            f(m[2]),
            ratio.map_or(String::from("-"), |r| alloc::format!("{r:.3}")),
        );
    }
    println!(
        "auto: {lost} of {} cell(s) more than {:.0}% slower than the best fixed engine",
        rows.len(),
        TOLERANCE * 100.0
    );
    Ok(())
}
