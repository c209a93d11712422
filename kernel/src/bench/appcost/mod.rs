//! `bench=appcost`: what a running application pays for migration. On a CPU that does
//! not migrate (the last one online) a foreground job (`fg`) runs throughout: dependent
//! loads over working sets sized to L2, L3 and beyond (ns per access) and a streaming
//! read (GB/s), its buffers on the streams' source node, destination node or both
//! (`fg-node=`). It is measured alone first (and
//! again just before each set: the slowdown is against that adjacent baseline),
//! then while 1, 2, … streams (on the other CPUs) migrate with each engine; the
//! slowdown is shown next to the migration throughput that caused it.

pub mod fg;

use super::error::{BenchError, InputError};
use super::streams::{self, cell::run_set, StreamKind};
use super::totals::Totals;
use crate::println;
use alloc::string::String;
use alloc::vec::Vec;
use fg::{Foreground, Sample, KINDS};
use kcore::bench::Bench;
use kcore::cmdline::Config;
use kcore::stats::Summary;
use kcore::streams::AdmitPolicy;

/// How long the foreground is measured alone at the start, ns.
const ALONE_NS: u64 = 400_000_000;
/// How long it is measured alone again just before each set (its slowdown is against
/// this adjacent baseline, so a change in host load between sets cancels out), ns.
const BASELINE_NS: u64 = 150_000_000;

/// The three working sets: L2, L3 and beyond (4 × L3, at least 32 MiB, at most 64 MiB).
fn working_sets() -> [u64; 3] {
    let l2 = super::pollution::cache_bytes(2).unwrap_or(512 << 10);
    let l3 = super::pollution::cache_bytes(3)
        .unwrap_or(8 << 20)
        .max(l2 * 2);
    [l2, l3, (4 * l3).clamp(32 << 20, 64 << 20)]
}

/// `12.3 ns (1.05x)` or `1.23 GB/s (0.91x)`; `-` without a sample.
fn cell(kind: usize, under: Option<f64>, alone: Option<f64>) -> String {
    match under {
        None => String::from("-"),
        Some(u) => {
            let ratio = alone.map_or(String::from("?"), |a| {
                if kind < 3 {
                    alloc::format!("{:.2}x", u / a)
                } else {
                    alloc::format!("{:.2}x", a / u)
                }
            });
            if kind < 3 {
                alloc::format!("{u:.1} ns ({ratio})")
            } else {
                alloc::format!("{u:.2} GB/s ({ratio})")
            }
        }
    }
}

fn fg_obj(sets: &[u64; 3], alone: &Sample, under: &Sample) -> super::json::Obj {
    let mut o = super::json::Obj::new();
    for (k, name) in KINDS.iter().enumerate() {
        let unit = if k < 3 { "ns_per_access" } else { "gbps" };
        let slowdown = match (alone.value[k], under.value[k]) {
            (Some(a), Some(u)) if k < 3 => u / a,
            (Some(a), Some(u)) => a / u,
            _ => f64::NAN,
        };
        o = o.obj(
            name,
            super::json::Obj::new()
                .str("unit", unit)
                .int("bytes", if k < 3 { sets[k] } else { sets[2] })
                .num("alone", alone.value[k].unwrap_or(f64::NAN))
                .int("alone_amount", alone.amount[k])
                .num("under", under.value[k].unwrap_or(f64::NAN))
                .int("under_amount", under.amount[k])
                .num("slowdown", slowdown),
        );
    }
    o
}

/// Runs `bench=appcost`.
///
/// # Errors
/// A request this machine cannot run ([`BenchError::is_input`]), a failed calibration of
/// `auto`, a foreground job that could not start or stop ([`BenchError::Frames`],
/// [`BenchError::Foreground`]), or [`BenchError::StreamFailed`] (the sets so far are
/// printed first, and the foreground is stopped).
pub fn appcost(config: &Config, totals: &mut Totals) -> Result<(), BenchError> {
    let online = crate::smp::online();
    let me = crate::arch::percpu::current_index();
    let Some(&fg_cpu) = online.iter().rev().find(|&&c| c != me) else {
        println!("appcost: one CPU only: no CPU left for the foreground; experiment skipped");
        return Ok(());
    };
    let fg_cpus = alloc::vec![fg_cpu];
    let max_streams = online.len() - fg_cpus.len();
    let mut setup = streams::setup(config)?;
    // Long enough for many foreground rounds inside each migration.
    if !config.migrate.total_given {
        setup.bytes *= 4;
    }
    let counts: Vec<usize> = match &config.streams {
        Some(s) if s.len() > max_streams => {
            return Err(InputError::TooFewStreamCpus {
                streams: s.len(),
                free: max_streams,
                besides_foreground: true,
            }
            .into())
        }
        Some(s) => alloc::vec![s.len()],
        None => streams::stream_counts(config, max_streams),
    };
    let engines = streams::engines(config, Bench::Appcost)?;
    let names: Vec<&str> = engines.iter().map(|k| k.name()).collect();
    let policy = config.dma_admit;
    let sets = working_sets();
    println!(
        "appcost: foreground on CPU {fg_cpus:?} (chase over {} KiB, {} KiB, {} KiB and a streaming read; buffers fg-node={} on node(s) {:?}); streams {counts:?} on the other CPUs, engines {names:?}, dma-admit={} ({} of {} channels per batch), {} MiB per stream per repetition, {} reps + warm-up{}",
        sets[0] >> 10,
        sets[1] >> 10,
        sets[2] >> 10,
        config.fg_node.name(),
        {
            let mut n = alloc::vec![
                config.fg_node.node_of(0, setup.from, setup.to),
                config.fg_node.node_of(1, setup.from, setup.to)
            ];
            n.dedup();
            n
        },
        policy.name(),
        setup.channels,
        crate::dma::channel_count(),
        setup.bytes >> 20,
        config.migrate.reps,
        crate::bench_context().note()
    );
    if engines.contains(&StreamKind::Auto) {
        setup.auto_costs = Some(streams::calibrate_auto(config, &setup, totals)?);
    }
    let place = config.fg_node;
    let (from, to) = (setup.from, setup.to);
    let fg = Foreground::start(&fg_cpus, &|i| place.node_of(i, from, to), sets)?;
    fg::reset(false);
    crate::arch::tsc::delay_ns(ALONE_NS);
    let alone = fg::sample();
    println!(
        "appcost: alone: {}",
        KINDS
            .iter()
            .enumerate()
            .map(|(k, n)| alloc::format!("{n} {}", cell(k, alone.value[k], None)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut rows = Vec::new();
    let mut stopped = None;
    'all: for &n in &counts {
        let cpus = streams::stream_cpus(n, &fg_cpus)?;
        let routes = streams::routes(config, n, setup.from, setup.to);
        for &kind in &engines {
            let e = kind.name();
            let pol = (kind != StreamKind::Cpu).then_some(policy);
            let engine = match streams::stream_engine(config, &mut setup, kind, policy, totals) {
                Ok(x) => x,
                Err(err) => {
                    stopped = Some(err);
                    break 'all;
                }
            };
            let (specs, plans) = streams::plans("appcost", config, &setup, &routes, &cpus, &engine);
            let label = alloc::format!("appcost {n} stream(s) {e}");
            fg::reset(false);
            crate::arch::tsc::delay_ns(BASELINE_NS);
            let base = fg::sample();
            fg::reset(true);
            let set = run_set(
                &specs,
                &plans,
                setup.channels,
                pol,
                config.migrate.reps,
                &label,
            );
            let under = fg::sample();
            streams::print_faults(&label, &set);
            let set_gbps = Summary::of(&set.total_gbps).map(|s| s.mean).ok();
            let fg_result = fg_obj(&sets, &base, &under);
            let all_verified = set.streams.iter().all(|o| o.failure.is_none());
            for (i, o) in set.streams.iter().enumerate() {
                totals.count(o);
                let obj = super::result::result_obj(&specs[i], o)
                    .int("stream", i as u64)
                    .int("streams", n as u64)
                    .int("stream_cpu", plans[i].cpu as u64)
                    .str("admit", pol.map_or("-", AdmitPolicy::name))
                    .int("fg_cpu", fg_cpu as u64)
                    .str("fg_node", config.fg_node.name())
                    .num("set_gbps_mean", set_gbps.unwrap_or(f64::NAN))
                    .bool("all_verified", all_verified)
                    .obj(kcore::record::result::streams::FG, fg_result.clone());
                crate::bench::json::print_result(obj);
            }
            let failed = set.streams.iter().find_map(|o| o.failure.clone());
            rows.push((n, e, set_gbps, base, under, failed.is_none()));
            if let Some(f) = failed {
                stopped = Some(BenchError::StreamFailed { set: label, why: f });
                break 'all;
            }
        }
    }
    fg.stop()?;
    println!();
    println!(
        "appcost. A foreground application on CPU {fg_cpu} alone and while streams migrate (ns per dependent load, read GB/s; x = slowdown vs the same job alone just before the set){}",
        crate::bench_context().note()
    );
    println!(
        " streams | engine | migration GB/s | {:<22} | {:<22} | {:<22} | {:<22} | verified",
        KINDS[0], KINDS[1], KINDS[2], KINDS[3]
    );
    println!("=====================================================================================================================================");
    println!(
        " {:>7} | {:<6} | {:>14} | {:<22} | {:<22} | {:<22} | {:<22} | -",
        0,
        "alone",
        "-",
        cell(0, alone.value[0], alone.value[0]),
        cell(1, alone.value[1], alone.value[1]),
        cell(2, alone.value[2], alone.value[2]),
        cell(3, alone.value[3], alone.value[3]),
    );
    for (n, e, g, base, under, ok) in rows {
        println!(
            " {n:>7} | {e:<6} | {:>14} | {:<22} | {:<22} | {:<22} | {:<22} | {}",
            g.map_or(String::from("-"), |g| alloc::format!("{g:.3}")),
            cell(0, under.value[0], base.value[0]),
            cell(1, under.value[1], base.value[1]),
            cell(2, under.value[2], base.value[2]),
            cell(3, under.value[3], base.value[3]),
            if ok { "yes" } else { "NO" }
        );
    }
    match stopped {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
