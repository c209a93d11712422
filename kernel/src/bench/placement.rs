//! `bench=placement`: multi-threaded CPU migration with the workers on the source node
//! ("push"), on the destination node ("pull") or spread over the L3 domains, for each folio
//! size, in one boot. The thread count is the CPUs the smaller of the two nodes has (so that
//! `src` and `dst` get the same count), or `threads=` when given and possible.

use super::cell;
use super::error::{BenchError, InputError};
use super::spec::{cell_text, size_name, Spec};
use super::totals::Totals;
use crate::migrate::engine::cpumt::CpuMtEngine;
use crate::println;
use alloc::string::String;
use alloc::vec::Vec;
use kcore::cmdline::Config;
use kcore::migrate::{folio_bytes, MTHP_ORDERS};
use kcore::placement::Policy;

const POLICIES: [Policy; 3] = [Policy::Src, Policy::Dst, Policy::Spread];

/// Runs `bench=placement`.
///
/// # Errors
/// [`BenchError::Input`] for nodes (`from=`/`to=`) without memory, [`InputError::ThreadsExceed`] for `threads=` beyond
/// the CPUs of the nodes.
pub fn placement(config: &Config, totals: &mut Totals) -> Result<(), BenchError> {
    let (from, to) = super::nodes(config)?;
    let online = crate::smp::online();
    let on_node = |node: u32| {
        crate::smp::cpus()
            .iter()
            .filter(|c| online.contains(&c.index) && c.node == node)
            .count()
    };
    let fit = on_node(from).min(on_node(to)).max(1);
    let threads = if config.given("threads") {
        let t = config.migrate.threads as usize;
        if t > fit {
            return Err(InputError::ThreadsExceed {
                threads: t,
                from,
                to,
                fit,
            }
            .into());
        }
        t
    } else {
        fit
    };
    let sizes = super::sizes_or(config, &[MTHP_ORDERS[0], 4, 9]);
    let total = super::question_total(config);
    let mut engines = Vec::new();
    for p in POLICIES {
        match CpuMtEngine::new(threads, &p, from, to) {
            Ok(e) => {
                println!("placement: {p}: {threads} worker(s) on CPUs {:?}", e.cpus());
                engines.push((p, e));
            }
            Err(e) => println!("placement: {p}: skipped ({e})"),
        }
    }
    println!(
        "placement: cpu-mt x{threads}, policies {:?}, {} MiB per repetition, node {from} -> {to}, {} reps + warm-up{}",
        engines.iter().map(|(p, _)| p.name()).collect::<Vec<_>>(),
        total >> 20,
        config.migrate.reps,
        crate::bench_context().note()
    );
    let mut grid: Vec<Vec<String>> = Vec::new();
    let cells = sizes.len() * engines.len();
    let mut k = 0;
    for &order in &sizes {
        let mut row = Vec::new();
        for (p, e) in engines.iter_mut() {
            k += 1;
            let spec = Spec::batched(
                "placement",
                order,
                (total / folio_bytes(order)).max(1) as usize,
                from,
                to,
                config,
            );
            let label = alloc::format!("placement cell {k}/{cells}: {p} {}", size_name(order));
            let o = cell::run(&spec, e, &label);
            totals.count(&o);
            let cpus: Vec<String> = e.cpus().iter().map(|c| alloc::format!("{c}")).collect();
            let obj = super::result::result_obj(&spec, &o).str("cpus", &cpus.join(","));
            crate::bench::json::print_result(obj);
            row.push(cell_text(&o));
        }
        grid.push(row);
    }
    println!();
    println!(
        "placement. Workers on the source node vs the destination node vs spread (GB/s, cpu-mt x{threads}, batched){}",
        crate::bench_context().note()
    );
    let mut header = String::from(" folio |");
    for (p, _) in &engines {
        header.push_str(&alloc::format!(" {:>15} |", p.name()));
    }
    println!("{header}");
    println!("{}", "=".repeat(header.len()));
    for (order, row) in sizes.iter().zip(grid) {
        let mut line = alloc::format!(" {:>5} |", alloc::format!("{}", size_name(*order)));
        for c in row {
            line.push_str(&alloc::format!(" {c:>15} |"));
        }
        println!("{line}");
    }
    Ok(())
}
