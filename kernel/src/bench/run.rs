//! The benchmark jobs: `bench=LIST` (each experiment in turn, the run's limits checked
//! before the first cell), the `migrate` job, and the default demo; each ends with the
//! RUN line and the exit code of the run's worst outcome.

use crate::bench::error::{BenchError, InputError};
use crate::exit::ExitCode;
use crate::{arch, bench, dma, println};
use kcore::bench::{Bench, DmaUse, Selection};
use kcore::cmdline::Engine;
use kcore::placement::Policy;

fn run_bench_list(
    config: &kcore::cmdline::Config,
    list: &Selection,
) -> Result<bench::totals::Totals, BenchError> {
    let mut totals = bench::totals::Totals::default();
    // An experiment named explicitly is run as asked or not at all: one that measures
    // DMA needs a DMA engine (`all` skips those parts and says so).
    if dma::channel_count() == 0 {
        if let Some(b) = list.named.iter().find(|b| b.info().dma == DmaUse::Required) {
            return Err(InputError::NeedsDma(*b).into());
        }
    }
    // Keys only the frontier's sweeps can resolve.
    let only_frontier = list.only(Bench::Frontier);
    if !only_frontier && config.migrate.batch_auto_us.is_some() {
        return Err(InputError::BatchAutoOutsideFrontier.into());
    }
    if !only_frontier && config.migrate.mix.is_some() {
        return Err(InputError::MixOutsideFrontier.into());
    }
    // Keys only the streams experiments use: asked for elsewhere, refused (not ignored).
    let streams_exp = list.runs(Bench::Streams) || list.runs(Bench::Appcost);
    if config.given("fg-node") && !list.runs(Bench::Appcost) {
        return Err(InputError::KeyNotUsed {
            key: "fg-node",
            by: "bench=appcost",
        }
        .into());
    }
    if let Some(k) = ["streams", "dma-admit", "dma-wait-us"]
        .into_iter()
        .find(|k| config.given(k) && !streams_exp)
    {
        return Err(InputError::KeyNotUsed {
            key: k,
            by: "bench=streams and bench=appcost",
        }
        .into());
    }
    for b in list.running() {
        println!("=== bench {b} ===");
        let stopped_before = totals.not_figures();
        let r = match b {
            Bench::Efficiency => bench::efficiency::efficiency(config).map(|t| totals.add(&t)),
            Bench::Seed1a => bench::seed::table_1(config, false, &mut totals),
            Bench::Seed1b => bench::seed::table_1(config, true, &mut totals),
            Bench::Seed3a => bench::seed::table_3(config, Policy::Spread, &mut totals),
            Bench::Seed3b => bench::seed::table_3(config, Policy::Fill, &mut totals),
            Bench::Seed2a => bench::seed::table_2(config, Engine::Cpu, &mut totals),
            Bench::Seed2b => bench::seed::table_2(config, Engine::Dma, &mut totals),
            Bench::Setup => bench::setup::setup(config, &mut totals),
            Bench::Auto => bench::auto::auto(config, &mut totals),
            Bench::Placement => bench::placement::placement(config, &mut totals),
            Bench::Pollution => bench::pollution::pollution(config, &mut totals),
            Bench::Load => bench::load::load(config, &mut totals),
            Bench::Cycles => bench::cycles::cycles(config, &mut totals),
            Bench::Frontier => bench::frontier::frontier(config, &mut totals),
            Bench::Streams => bench::streams::streams(config, &mut totals),
            Bench::Appcost => bench::appcost::appcost(config, &mut totals),
        };
        match r {
            Ok(()) => {}
            // The request itself, before anything of this experiment failed: bad input.
            Err(e) if e.is_input() && totals.not_figures() == stopped_before => return Err(e),
            // Anything else stopped a measurement: a failed run (RUN line with its
            // status), counted once.
            Err(e) => {
                println!("!!! bench {b} stopped: {e}");
                if !e.is_counted() && totals.not_figures() == stopped_before {
                    totals.count_stop(e.exit_code());
                }
                return Ok(totals);
            }
        }
    }
    Ok(totals)
}

/// Runs `bench=` (or the `migrate` job) and returns how the boot should end.
pub fn run_benchmarks(config: &kcore::cmdline::Config) -> ExitCode {
    let start = arch::tsc::now_ns();
    if let Err(e) = bench::plan::check_run(config, config.bench.as_ref()) {
        println!("bad input: {e}");
        return ExitCode::BadInput;
    }
    let result = match &config.bench {
        Some(list) => run_bench_list(config, list),
        None => match ["streams", "dma-admit", "dma-wait-us", "fg-node"]
            .into_iter()
            .find(|k| config.given(k))
        {
            Some(k) => Err(InputError::KeyNotUsed {
                key: k,
                by: "bench=streams and bench=appcost (the migrate job runs one migration)",
            }
            .into()),
            None => bench::efficiency::migrate_job(config),
        },
    };
    match result {
        Ok(t) => {
            println!("{}", bench::totals::run_line(&t, start));
            if t.invalid > 0 {
                println!(
                    "{} cell(s) invalid: the engine they name did not do the work (see the INVALID lines); no figure of theirs is a result",
                    t.invalid
                );
            }
            t.exit_code()
        }
        Err(e) if e.is_input() => {
            println!("bad input: {e}");
            ExitCode::BadInput
        }
        Err(e) => {
            println!("!!! migrate stopped: {e}");
            e.exit_code()
        }
    }
}

/// The default job: the seed's tables 1a and 1b (multi-threaded CPU and DMA by folio
/// size), short enough under an emulator to show a real table in a few minutes: 4K, 64K
/// and 2M folios there, every mTHP size on hardware (where `total` defaults to 1 GiB).
pub fn run_demo(config: &kcore::cmdline::Config) -> ExitCode {
    let mut demo = config.clone();
    if !demo.migrate.size_given && crate::bench_context().accel != "bare-metal" {
        demo.migrate.sizes = alloc::vec![0, 4, 9];
        demo.migrate.size_given = true;
    }
    // The demo names 1b only where there is a DMA engine to measure (a user who names
    // 1b on a machine without one gets bad input instead).
    let (tables, what): (&[Bench], _) = if dma::channel_count() > 0 {
        (
            &[Bench::Seed1a, Bench::Seed1b],
            "tables 1a and 1b (multi-threaded CPU and DMA by folio size)",
        )
    } else {
        (
            &[Bench::Seed1a],
            "table 1a (multi-threaded CPU by folio size; no DMA engine for 1b)",
        )
    };
    demo.bench = Some(Selection::of(tables));
    println!(
        "no job given on the command line: running a short demo of the seed's {what} \
         (boot with 'help' for every key, 'bench=all' for everything)"
    );
    run_benchmarks(&demo)
}
