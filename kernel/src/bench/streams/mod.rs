//! `bench=streams`: several migrations at once. Each stream has its own workload (own
//! address space, folios on its source node) and its own coordinating CPU; all start
//! together and migrate with the same kind of engine. DMA streams lease channels from
//! the one registry pool for each batch (a channel is only ever driven by the CPU
//! holding it) and follow `dma-admit=` when the channels they want are not free.
//!
//! Per stream: GB/s, batch latency p50/p99, bytes by copier, admission counts (waits,
//! refusals to the CPU, partial leases), verification and frame accounting; per set:
//! GB/s over the common window and Jain's fairness index across streams.

pub mod cell;
pub mod run;
pub mod table;

use super::error::{BenchError, InputError};
use super::keys::pct_obj;
use super::spec::{size_name, Spec};
use super::totals::Totals;
use crate::migrate::engine::dma::DmaEngine;
use crate::println;
use alloc::string::String;
use alloc::vec::Vec;
use cell::{run_set, SetOutcome};
use kcore::bench::Bench;
use kcore::cmdline::{Config, Engine};
use kcore::costmodel::Cost;
use kcore::migrate::folio_bytes;
use kcore::record::result::streams as ks;
use kcore::stats::Summary;
use kcore::streams::{AdmitPolicy, StreamRoute, StreamsArg};
use run::{StreamEngine, StreamPlan};
pub use table::{channel_ids, print_faults, print_table, row};

/// The engine every stream of a set migrates with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// The stream's own CPU copies.
    Cpu,
    /// DMA channels leased per batch from the shared pool.
    Dma,
    /// Per batch, the cheaper of the two by the calibrated cost model.
    Auto,
}

impl StreamKind {
    /// The name in tables and RESULT lines (`engine`).
    pub fn name(self) -> &'static str {
        match self {
            StreamKind::Cpu => "cpu",
            StreamKind::Dma => "dma",
            StreamKind::Auto => "auto",
        }
    }
}

/// What every set of one run shares.
pub struct Setup {
    /// Source and destination of `streams=N`.
    pub from: u32,
    /// Destination.
    pub to: u32,
    /// Channels each DMA stream wants per batch.
    pub channels: usize,
    /// Folio order.
    pub order: u8,
    /// Bytes each stream migrates per repetition.
    pub bytes: u64,
    /// `auto`'s calibrated costs (CPU, DMA at `channels`), once calibrated.
    pub auto_costs: Option<(Cost, Cost)>,
}

/// Stream counts to run: `streams=` as given, else 1, 2, 3, … up to the CPUs present
/// (powers of two past 4).
pub fn stream_counts(config: &Config, cpus: usize) -> Vec<usize> {
    if let Some(s) = &config.streams {
        return alloc::vec![s.len()];
    }
    (1..=cpus)
        .filter(|&n| n <= 4 || n.is_power_of_two() || n == cpus)
        .collect()
}

/// The routes of `n` streams: `streams=` routes as given, else every stream from→to
/// (or alternating with `N:alt`).
pub fn routes(config: &Config, n: usize, from: u32, to: u32) -> Vec<StreamRoute> {
    match &config.streams {
        Some(s @ StreamsArg::Routes(_)) => s.routes(from, to),
        Some(StreamsArg::Count { alternate, .. }) => StreamsArg::Count {
            n,
            alternate: *alternate,
        }
        .routes(from, to),
        None => StreamsArg::Count {
            n,
            alternate: false,
        }
        .routes(from, to),
    }
}

/// The CPUs `n` streams run on: this CPU first, then the others in order, skipping
/// `exclude`.
///
/// # Errors
/// [`InputError::TooFewStreamCpus`]: fewer CPUs than streams (`exclude` holds the
/// foreground's CPU when not empty).
pub fn stream_cpus(n: usize, exclude: &[usize]) -> Result<Vec<usize>, BenchError> {
    let me = crate::arch::percpu::current_index();
    let mut cpus: Vec<usize> = core::iter::once(me)
        .chain(crate::smp::online().into_iter().filter(|&c| c != me))
        .filter(|c| !exclude.contains(c))
        .collect();
    if cpus.len() < n {
        return Err(InputError::TooFewStreamCpus {
            streams: n,
            free: cpus.len(),
            besides_foreground: !exclude.is_empty(),
        }
        .into());
    }
    cpus.truncate(n);
    Ok(cpus)
}

/// The engine of every stream of kind `kind`; `auto` is calibrated on this CPU first
/// when [`Setup::auto_costs`] does not hold its costs yet.
///
/// # Errors
/// [`BenchError::Channels`]: DMA channels that cannot be leased; a failed calibration
/// (see [`calibrate_auto`]).
pub fn stream_engine(
    config: &Config,
    setup: &mut Setup,
    kind: StreamKind,
    policy: AdmitPolicy,
    totals: &mut Totals,
) -> Result<StreamEngine, BenchError> {
    let dma = |channels: usize| -> Result<DmaEngine, BenchError> {
        Ok(DmaEngine::new(
            Some(channels as u32),
            super::dma_split(config),
            config.dma_timeout_ms,
        )?
        .with_admission(policy, config.dma_wait_us))
    };
    match kind {
        StreamKind::Cpu => Ok(StreamEngine::Cpu),
        StreamKind::Dma => Ok(StreamEngine::Dma(dma(setup.channels)?)),
        StreamKind::Auto => {
            let (c, d) = match setup.auto_costs {
                Some(costs) => costs,
                None => {
                    let costs = calibrate_auto(config, setup, totals)?;
                    setup.auto_costs = Some(costs);
                    costs
                }
            };
            Ok(StreamEngine::Auto(dma(setup.channels)?, c, d))
        }
    }
}

/// Plans `n` streams of `engine` on `cpus` (RESULT lines name experiment `exp`).
pub fn plans(
    exp: &'static str,
    config: &Config,
    setup: &Setup,
    routes: &[StreamRoute],
    cpus: &[usize],
    engine: &StreamEngine,
) -> (Vec<Spec>, Vec<StreamPlan>) {
    let folios = (setup.bytes / folio_bytes(setup.order)).max(1) as usize;
    routes
        .iter()
        .zip(cpus)
        .map(|(r, &cpu)| {
            (
                Spec::batched(exp, setup.order, folios, r.from, r.to, config),
                StreamPlan {
                    cpu,
                    from: r.from,
                    to: r.to,
                    order: setup.order,
                    folios,
                    batch_pages: config.migrate.batch_pages,
                    engine: engine.clone(),
                },
            )
        })
        .unzip()
}

/// Calibrates `auto`'s two candidates (CPU, DMA at `channels`) on this CPU.
///
/// # Errors
/// [`BenchError::Channels`] when the channels cannot be leased; a calibration cell that
/// gave no figure ([`BenchError::Calibration`]) or a fit that failed.
pub fn calibrate_auto(
    config: &Config,
    setup: &Setup,
    totals: &mut Totals,
) -> Result<(Cost, Cost), BenchError> {
    use super::setup::{calibrate, design};
    let reps = config.migrate.reps.clamp(1, 3);
    let mut cpu = crate::migrate::engine::cpu::CpuEngine;
    let mut dma = DmaEngine::new(
        Some(setup.channels as u32),
        super::dma_split(config),
        config.dma_timeout_ms,
    )?;
    let m_cpu = calibrate(
        &mut cpu,
        &design(1),
        setup.from,
        setup.to,
        reps,
        None,
        totals,
    )?;
    let m_dma = calibrate(
        &mut dma,
        &design(1),
        setup.from,
        setup.to,
        reps,
        None,
        totals,
    )?;
    super::setup::print_models(&[m_cpu.clone(), m_dma.clone()]);
    Ok((m_cpu.cost, m_dma.cost))
}

/// Prints each stream's RESULT line (and counts it) and returns the table rows.
pub fn report_set(
    specs: &[Spec],
    plans: &[StreamPlan],
    set: &SetOutcome,
    policy: Option<AdmitPolicy>,
    wait_us: u64,
    extra: &dyn Fn(super::json::Obj) -> super::json::Obj,
    totals: &mut Totals,
) {
    let total = Summary::of(&set.total_gbps).ok();
    for (i, (spec, o)) in specs.iter().zip(&set.streams).enumerate() {
        totals.count(o);
        let a = set.admit(i);
        let [asked, full, partial, waited, wait_ns, refused, refused_after_wait] =
            ks::ADMISSION_FIELDS;
        let mut obj = super::result::result_obj(spec, o)
            .int(ks::STREAM, i as u64)
            .int(ks::STREAMS, specs.len() as u64)
            .int(ks::STREAM_CPU, plans[i].cpu as u64)
            .str(ks::ADMIT, policy.map_or("-", AdmitPolicy::name))
            .int(ks::WAIT_US, wait_us)
            .obj(
                ks::ADMISSION,
                super::json::Obj::new()
                    .int(asked, a.asked)
                    .int(full, a.full)
                    .int(partial, a.partial)
                    .int(waited, a.waited)
                    .int(wait_ns, a.wait_ns)
                    .int(refused, a.refused)
                    .int(refused_after_wait, a.refused_after_wait),
            )
            .obj(ks::BATCH_US, pct_obj(&set.batch_ns[i], true))
            .ints("failed_channels", &channel_ids(set.failed_channels[i]))
            .num(
                ks::SET_GBPS_MEAN,
                total.as_ref().map_or(f64::NAN, |s| s.mean),
            )
            .num(ks::JAIN, set.jain.unwrap_or(f64::NAN));
        if let Some(&(s, e)) = set.window_us.get(i) {
            obj = obj.num("start_us", s).num("end_us", e);
        }
        if !set.choices[i].is_empty() {
            obj = obj.str("auto_choice", &set.choices[i]);
        }
        crate::bench::json::print_result(extra(obj));
    }
}

/// Engines of the run: `engine=` when given (cpu or dma), else cpu, dma and auto (the
/// DMA ones only with a DMA engine).
///
/// # Errors
/// [`InputError::NotAStreamEngine`] for `cpu-mt` and `hybrid`; [`InputError::NeedsDma`]
/// for `engine=dma` without a DMA engine.
pub fn engines(config: &Config, bench: Bench) -> Result<Vec<StreamKind>, BenchError> {
    let dma = crate::dma::channel_count() > 0;
    if config.given("engine") {
        let kind = match config.migrate.engine {
            Engine::Cpu => StreamKind::Cpu,
            Engine::Dma => StreamKind::Dma,
            other => return Err(InputError::NotAStreamEngine(other).into()),
        };
        if kind != StreamKind::Cpu && !dma {
            return Err(InputError::NeedsDma(bench).into());
        }
        return Ok(alloc::vec![kind]);
    }
    Ok(if dma {
        alloc::vec![StreamKind::Cpu, StreamKind::Dma, StreamKind::Auto]
    } else {
        alloc::vec![StreamKind::Cpu]
    })
}

/// Admission policies of the run: `dma-admit=` when given, else all three.
pub fn policies(config: &Config) -> Vec<AdmitPolicy> {
    if config.given("dma-admit") {
        alloc::vec![config.dma_admit]
    } else {
        AdmitPolicy::ALL.to_vec()
    }
}

/// The run's shared setup: nodes, channels per stream, size and bytes.
///
/// # Errors
/// Nodes without memory ([`InputError::NodeWithoutMemory`]), or more channels per stream
/// than the machine has ([`InputError::ChannelsPerStream`]).
pub fn setup(config: &Config) -> Result<Setup, BenchError> {
    let (from, to) = super::nodes(config)?;
    let have = crate::dma::channel_count();
    let channels = match config.migrate.channels {
        Some(c) if config.given("channels") => {
            if c as usize > have && have > 0 {
                return Err(InputError::ChannelsPerStream { asked: c, have }.into());
            }
            c as usize
        }
        _ => have.clamp(1, 2),
    };
    let order = *super::sizes_or(config, &[4]).first().unwrap_or(&4);
    Ok(Setup {
        from,
        to,
        channels,
        order,
        bytes: super::question_total(config),
        auto_costs: None,
    })
}

/// Runs `bench=streams`.
///
/// # Errors
/// A request this machine cannot run ([`BenchError::is_input`]), a failed calibration of
/// `auto`, or [`BenchError::StreamFailed`] when a stream of a set failed (the sets so far
/// are printed first).
pub fn streams(config: &Config, totals: &mut Totals) -> Result<(), BenchError> {
    let mut setup = setup(config)?;
    let cpus = crate::smp::online().len();
    let counts = stream_counts(config, cpus);
    let engines = engines(config, Bench::Streams)?;
    // Refuse a count the CPUs cannot carry before calibrating anything.
    stream_cpus(counts.iter().copied().max().unwrap_or(1), &[])?;
    let policies = policies(config);
    let names: Vec<&str> = engines.iter().map(|k| k.name()).collect();
    println!(
        "streams: {counts:?} streams at once, engines {names:?}, DMA streams want {} of {} channel(s) per batch, dma-admit {:?} (wait limit {} us); {} folios, {} MiB per stream per repetition, {} reps + warm-up{}",
        setup.channels,
        crate::dma::channel_count(),
        policies.iter().map(|p| p.name()).collect::<Vec<_>>(),
        config.dma_wait_us,
        size_name(setup.order),
        setup.bytes >> 20,
        config.migrate.reps,
        crate::bench_context().note()
    );
    if engines.contains(&StreamKind::Auto) {
        println!(
            "streams: calibrating auto's candidates (cpu, dma x{})",
            setup.channels
        );
        setup.auto_costs = Some(calibrate_auto(config, &setup, totals)?);
    }
    let mut rows = Vec::new();
    for &n in &counts {
        let cpus = stream_cpus(n, &[])?;
        let routes = routes(config, n, setup.from, setup.to);
        for &kind in &engines {
            let e = kind.name();
            let pols: Vec<Option<AdmitPolicy>> = if kind == StreamKind::Cpu {
                alloc::vec![None]
            } else {
                policies.iter().copied().map(Some).collect()
            };
            for policy in pols {
                let engine = stream_engine(
                    config,
                    &mut setup,
                    kind,
                    policy.unwrap_or(AdmitPolicy::Wait),
                    totals,
                )?;
                let (specs, plans) = plans("streams", config, &setup, &routes, &cpus, &engine);
                let label = alloc::format!(
                    "streams {n} {e}{}",
                    policy.map_or(String::new(), |p| alloc::format!(" admit={}", p.name()))
                );
                let set = run_set(
                    &specs,
                    &plans,
                    setup.channels,
                    policy,
                    config.migrate.reps,
                    &label,
                );
                report_set(
                    &specs,
                    &plans,
                    &set,
                    policy,
                    config.dma_wait_us,
                    &|o| o,
                    totals,
                );
                print_faults(&label, &set);
                let failed = set.streams.iter().find_map(|o| o.failure.clone());
                rows.push(row(n, e, policy.map_or("-", AdmitPolicy::name), &set));
                if let Some(why) = failed {
                    print_table("streams (stopped early).", &rows);
                    return Err(BenchError::StreamFailed { set: label, why });
                }
            }
        }
    }
    print_table(
        "streams. Migrations at once, each on its own CPU and address space, DMA channels from one pool per batch",
        &rows,
    );
    Ok(())
}
