//! The benchmark jobs: `bench=LIST` (each experiment in turn, the run's limits checked
//! before the first cell), the `migrate` job, and the default demo; each ends with the
//! RUN line and the exit code of the run's worst outcome.

use crate::exit::ExitCode;
use crate::{arch, bench, dma, println};

fn run_bench_list(
    config: &kcore::cmdline::Config,
    list: &str,
) -> Result<bench::totals::Totals, alloc::string::String> {
    let mut totals = bench::totals::Totals::default();
    let all = list.split(',').any(|b| b == "all");
    // An experiment named explicitly is run as asked or not at all: one that measures
    // DMA needs a DMA engine (`all` skips those parts and says so).
    if dma::channel_count() == 0 {
        if let Some(b) = list.split(',').find(|b| ["1b", "2b", "auto"].contains(b)) {
            return Err(alloc::format!(
                "bench={b} measures DMA, but no DMA engine is available (see the dma: lines above)"
            ));
        }
    }
    // Keys only the frontier's sweeps can resolve.
    let only_frontier = list.split(',').all(|b| b == "frontier");
    if !only_frontier && config.migrate.batch_auto_us.is_some() {
        return Err("batch=auto:unmapped-us=N is chosen by bench=frontier's latency sweep; other experiments need a page count or 'all'".into());
    }
    if !only_frontier && config.migrate.mix.is_some() {
        return Err("size=mix:... is measured by bench=frontier; other experiments take a comma list of sizes".into());
    }
    // Keys only the streams experiments use: asked for elsewhere, refused (not ignored).
    let streams_exp = all || list.split(',').any(|b| b == "streams" || b == "appcost");
    let appcost = all || list.split(',').any(|b| b == "appcost");
    if config.given("fg-node") && !appcost {
        return Err(alloc::format!(
            "fg-node= applies to bench=appcost, which bench={list} does not run"
        ));
    }
    if let Some(k) = ["streams", "dma-admit", "dma-wait-us"]
        .into_iter()
        .find(|k| config.given(k) && !streams_exp)
    {
        return Err(alloc::format!(
            "{k}= applies to bench=streams and bench=appcost, which bench={list} does not run"
        ));
    }
    for &name in kcore::cmdline::BENCHES.iter().filter(|&&b| b != "all") {
        if !all && !list.split(',').any(|b| b == name) {
            continue;
        }
        println!("=== bench {name} ===");
        let stopped_before = totals.not_figures();
        let r = match name {
            "efficiency" => bench::efficiency::efficiency(config).map(|t| totals.add(&t)),
            "1a" => bench::seed::table_1(config, false, &mut totals),
            "1b" => bench::seed::table_1(config, true, &mut totals),
            "3a" => bench::seed::table_3(config, "spread", &mut totals),
            "3b" => bench::seed::table_3(config, "fill", &mut totals),
            "2a" => bench::seed::table_2(config, "cpu", &mut totals),
            "2b" => bench::seed::table_2(config, "dma", &mut totals),
            "setup" => bench::setup::setup(config, &mut totals),
            "auto" => bench::auto::auto(config, &mut totals),
            "placement" => bench::placement::placement(config, &mut totals),
            "pollution" => bench::pollution::pollution(config, &mut totals),
            "load" => bench::load::load(config, &mut totals),
            "cycles" => bench::cycles::cycles(config, &mut totals),
            "frontier" => bench::frontier::frontier(config, &mut totals),
            "streams" => bench::streams::streams(config, &mut totals),
            "appcost" => bench::appcost::appcost(config, &mut totals),
            other => Err(alloc::format!("bench {other}: not built in")),
        };
        match r {
            Ok(()) => {}
            // An experiment that stopped because a verification failed or memory ran
            // out is a failed run (RUN line with its status), not bad input.
            Err(e) if totals.not_figures() > stopped_before => {
                println!("!!! bench {name} stopped: {e}");
                return Ok(totals);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(totals)
}

/// Runs `bench=` (or the `migrate` job) and returns how the boot should end.
pub fn run_benchmarks(config: &kcore::cmdline::Config) -> ExitCode {
    let start = arch::tsc::now_ns();
    if let Err(e) = bench::plan::check_run(config, config.bench.as_deref()) {
        println!("bad input: {e}");
        return ExitCode::BadInput;
    }
    let result = match &config.bench {
        Some(list) => run_bench_list(config, list),
        None => match ["streams", "dma-admit", "dma-wait-us", "fg-node"]
            .into_iter()
            .find(|k| config.given(k))
        {
            Some(k) => Err(alloc::format!(
                "{k}= applies to bench=streams and bench=appcost; the migrate job runs one migration"
            )),
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
        Err(e) => {
            println!("bad input: {e}");
            ExitCode::BadInput
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
    let (tables, what) = if dma::channel_count() > 0 {
        (
            "1a,1b",
            "tables 1a and 1b (multi-threaded CPU and DMA by folio size)",
        )
    } else {
        (
            "1a",
            "table 1a (multi-threaded CPU by folio size; no DMA engine for 1b)",
        )
    };
    demo.bench = Some(tables.into());
    println!(
        "no job given on the command line: running a short demo of the seed's {what} \
         (boot with 'help' for every key, 'bench=all' for everything)"
    );
    run_benchmarks(&demo)
}
