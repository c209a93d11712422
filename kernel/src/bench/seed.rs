//! The seed RFC's tables, regenerated on this machine with the same axes:
//!
//! - 1b: DMA offload, folio size (4K..2M) × channels (1, 2, 4, 8, 16), fixed total;
//! - 2a / 2b: 2M folios, folio count 1..8192, one thread / one channel.
//!
//! - 1a: multi-threaded CPU, folio size × threads, placement from `placement=`;
//! - 3a / 3b: 2M folios, threads 1..16 spread across CCDs (L3 domains) vs filling one.
//!
//! Every cell is a verified batched migration (`cell::run`), printed in the seed's layout
//! and as RESULT lines. Widths beyond what the machine has and counts beyond its memory are clamped
//! and the clamping is printed.

use super::error::{BenchError, InputError};
use super::spec::{cell_text, size_name, Outcome, Spec};
use super::totals::Totals;
use crate::migrate::engine::cpumt::CpuMtEngine;
use crate::migrate::engine::dma::DmaEngine;
use crate::mm::frames;
use crate::println;
use alloc::string::String;
use alloc::vec::Vec;
use kcore::bench::Bench;
use kcore::cmdline::{Config, Engine};
use kcore::migrate::{folio_bytes, MTHP_ORDERS};
use kcore::placement::Policy;

/// Bytes per repetition: `total=` if given, else 1 GiB on hardware (the seed's) and the
/// key table's default under an emulator (32 MiB: minutes, not hours).
pub fn default_total(config: &Config) -> u64 {
    if !config.migrate.total_given && crate::bench_context().accel == "bare-metal" {
        1 << 30
    } else {
        config.migrate.total
    }
}

fn split(config: &Config) -> crate::migrate::engine::dma::Split {
    super::dma_split(config)
}

/// Table 1a (`dma = false`: multi-threaded CPU) or 1b (`dma = true`: DMA channels).
///
/// # Errors
/// [`BenchError::Input`] for nodes (`from=`/`to=`) without memory or `widths=` beyond the threads/channels present,
/// [`BenchError::Engine`]/[`BenchError::Channels`] for an engine that cannot be built.
pub fn table_1(config: &Config, dma: bool, totals: &mut Totals) -> Result<(), BenchError> {
    let exp = if dma { Bench::Seed1b } else { Bench::Seed1a }.name();
    let (from, to) = super::nodes(config)?;
    let have = if dma {
        crate::dma::channel_count() as u32
    } else {
        crate::smp::online().len() as u32
    };
    if have == 0 {
        println!("1b: no DMA engine: table skipped");
        return Ok(());
    }
    let what = if dma {
        "DMA channel(s)"
    } else {
        "online CPU(s)"
    };
    let widths = super::widths(config, have, what, exp)?;
    let sizes = super::sizes_or(config, &MTHP_ORDERS);
    let total = default_total(config);
    println!(
        "{exp}: {}, {} MiB per repetition, node {from} -> {to}, {} reps + warm-up{}",
        if dma {
            "DMA offload"
        } else {
            "multi-threaded CPU"
        },
        total >> 20,
        config.migrate.reps,
        crate::bench_context().note()
    );
    let mut grid: Vec<Vec<Option<Outcome>>> = Vec::new();
    let cells = widths.len() * sizes.len();
    let mut k = 0;
    for &w in &widths {
        let mut engine: alloc::boxed::Box<dyn crate::migrate::engine::CopyEngine> = if dma {
            alloc::boxed::Box::new(DmaEngine::new(
                Some(w),
                split(config),
                config.dma_timeout_ms,
            )?)
        } else {
            alloc::boxed::Box::new(CpuMtEngine::new(
                w as usize,
                &config.migrate.placement,
                from,
                to,
            )?)
        };
        let mut row = Vec::new();
        for &order in &sizes {
            k += 1;
            let folios = (total / folio_bytes(order)).max(1) as usize;
            let spec = Spec::batched(exp, order, folios, from, to, config);
            let progress = alloc::format!("{exp} cell {k}/{cells}: width {w} {}", size_name(order));
            row.push(Some(super::result::measure(
                &spec,
                engine.as_mut(),
                &progress,
                totals,
            )));
        }
        grid.push(row);
    }
    println!();
    if dma {
        println!(
            "1b. DMA Offload (GB/s, batched migration){}",
            crate::bench_context().note()
        );
    } else {
        println!(
            "1a. Multi-Threaded CPU (GB/s, batched migration, placement {}){}",
            config.migrate.placement,
            crate::bench_context().note()
        );
    }
    let mut header = String::from(if dma { "Channel Cnt|" } else { "Thread Cnt |" });
    for &o in &sizes {
        header.push_str(&alloc::format!(
            " {:>15} |",
            alloc::format!("{}", size_name(o))
        ));
    }
    println!("{header}");
    println!("{}", "=".repeat(header.len()));
    for (w, row) in widths.iter().zip(&grid) {
        let mut line = alloc::format!("{w:<11}|");
        for o in row.iter().flatten() {
            line.push_str(&alloc::format!(" {:>15} |", cell_text(o)));
        }
        println!("{line}");
    }
    Ok(())
}

/// Table 2a (`Engine::Cpu`) or 2b (`Engine::Dma`, one channel).
///
/// # Errors
/// Another engine, bad input (nodes, counts) or a cell that could not be measured.
pub fn table_2(config: &Config, kind: Engine, totals: &mut Totals) -> Result<(), BenchError> {
    let cpu = match kind {
        Engine::Cpu => true,
        Engine::Dma => false,
        other => {
            return Err(InputError::EngineNotFor {
                exp: Bench::Seed2a,
                engine: other,
            }
            .into())
        }
    };
    let exp = if cpu { Bench::Seed2a } else { Bench::Seed2b }.name();
    let (from, to) = super::nodes(config)?;
    let mut engine: alloc::boxed::Box<dyn crate::migrate::engine::CopyEngine> = if cpu {
        alloc::boxed::Box::new(crate::migrate::engine::cpu::CpuEngine)
    } else {
        if crate::dma::channel_count() == 0 {
            println!("{exp}: no DMA engine: table skipped");
            return Ok(());
        }
        alloc::boxed::Box::new(DmaEngine::new(
            Some(1),
            split(config),
            config.dma_timeout_ms,
        )?)
    };
    // Source and destination blocks must both fit, with room for page tables.
    let free_2m = |node: u32| {
        frames::node_counts()
            .iter()
            .find(|c| c.0 == node)
            .map_or(0, |c| c.1 / 512)
    };
    let limit = free_2m(from).min(free_2m(to)).saturating_sub(8);
    let (counts, clamped) = super::within(&config.migrate.counts, limit);
    if !clamped.is_empty() {
        if config.given("counts") {
            return Err(InputError::CountsExceed {
                dropped: clamped,
                from,
                to,
                limit,
            }
            .into());
        }
        println!("{exp}: default counts {clamped:?} exceed the memory of nodes {from}/{to} ({limit} x 2M fit): skipped");
    }
    println!(
        "{exp}: 2M folios, one {}, node {from} -> {to}, {} reps + warm-up{}",
        if cpu { "thread" } else { "channel" },
        config.migrate.reps,
        crate::bench_context().note()
    );
    let mut rows = Vec::new();
    for (k, &count) in counts.iter().enumerate() {
        let spec = Spec::batched(exp, 9, count as usize, from, to, config);
        let progress = alloc::format!("{exp} cell {}/{}: {count} x 2M", k + 1, counts.len());
        rows.push((
            count,
            super::result::measure(&spec, engine.as_mut(), &progress, totals),
        ));
    }
    println!();
    println!(
        "{exp}. {} (2MB folios, GB/s){}",
        if cpu {
            "CPU, one thread"
        } else {
            "DMA offload, one channel"
        },
        crate::bench_context().note()
    );
    println!("Folio Count| GB/s");
    println!("======================");
    for (count, o) in &rows {
        println!("{count:<11}| {}", cell_text(o));
    }
    Ok(())
}

/// Tables 3a (`Policy::Spread`: spread across CCDs) and 3b (`Policy::Fill`: fill one
/// CCD first): 2M folios, threads 1..16.
///
/// # Errors
/// Another policy, bad input (nodes, widths) or workers that cannot be placed.
pub fn table_3(config: &Config, policy: Policy, totals: &mut Totals) -> Result<(), BenchError> {
    let exp = match policy {
        Policy::Spread => Bench::Seed3a,
        Policy::Fill => Bench::Seed3b,
        other => {
            return Err(InputError::PlacementNotFor {
                exp: Bench::Seed3a,
                policy: other,
            }
            .into())
        }
    };
    let spread = exp == Bench::Seed3a;
    let exp = exp.name();
    let (from, to) = super::nodes(config)?;
    let have = crate::smp::online().len() as u32;
    let widths = super::widths(config, have, "online CPU(s)", exp)?;
    let total = default_total(config);
    let folios = (total / folio_bytes(9)).max(1) as usize;
    println!(
        "{exp}: 2M folios x {folios}, threads {widths:?} ({} online CPU(s)), placement {policy}, node {from} -> {to}{}",
        have,
        crate::bench_context().note()
    );
    let mut rows = Vec::new();
    for (k, &w) in widths.iter().enumerate() {
        let mut engine = CpuMtEngine::new(w as usize, &policy, from, to)?;
        let spec = Spec::batched(exp, 9, folios, from, to, config);
        let progress = alloc::format!("{exp} cell {}/{}: {w} thread(s)", k + 1, widths.len());
        let o = super::result::measure(&spec, &mut engine, &progress, totals);
        println!("{exp}: {w} thread(s) on CPUs {:?}", engine.cpus());
        rows.push((w, o));
    }
    println!();
    println!(
        "{exp}. {} (2MB folios, GB/s){}",
        if spread {
            "Spread across different CCDs"
        } else {
            "Fill one CCD completely before moving to next one"
        },
        crate::bench_context().note()
    );
    println!(" Threads    | GB/s");
    println!("========================");
    for (w, o) in &rows {
        println!(" {w:<10} | {}", cell_text(o));
    }
    Ok(())
}
