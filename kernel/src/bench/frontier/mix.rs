//! Item 5: mixed folio sizes. One workload holding folios of several sizes in one
//! address space (`size=mix:2m=50%,64k=25%,4k=25%` by default), laid out interleaved so
//! batches mix them (`kcore::mix`), migrated batched on each engine beside uniform
//! workloads of each size with the same bytes. The RESULT line of a mixed cell carries the
//! per-size breakdown (`mix`: folios, bytes, share). The table compares the mixed
//! throughput with what the uniform cells predict for that mix (bytes over the sum of
//! each size's bytes / its throughput).

use super::super::error::{BenchError, InputError};
use super::super::spec::{cell_text, Kind, Spec};
use super::super::totals::Totals;
use super::mean;
use crate::migrate::Mode;
use crate::println;
use alloc::string::String;
use alloc::vec::Vec;
use kcore::cmdline::Config;
use kcore::migrate::folio_bytes;
use kcore::mix::Mix;

/// The mix when `size=mix:` is not given.
pub const DEFAULT: &str = "mix:2m=50%,64k=25%,4k=25%";

/// The mix of this run.
///
/// # Errors
/// Never for the default (a constant that parses).
pub fn mix(config: &Config) -> Result<Mix, kcore::mix::MixError> {
    match config.migrate.mix {
        Some(m) => Ok(m),
        None => kcore::mix::parse(DEFAULT),
    }
}

/// Runs the mixed-size cells.
///
/// # Errors
/// A total that is not a whole number of folios of a share (given `total`/`size` keys),
/// or an engine that cannot be built.
pub fn run(
    config: &Config,
    from: u32,
    to: u32,
    total: u64,
    totals: &mut Totals,
) -> Result<(), BenchError> {
    let m = mix(config).map_err(|error| InputError::Mix { total, error })?;
    let counts = m
        .counts(total)
        .map_err(|error| InputError::Mix { total, error })?;
    let (names, mut engines) = super::cpu_and_dma(config)?;
    let top = m.max_order();
    let mut specs = Vec::new();
    let mut progress = Vec::new();
    for (e, name) in names.iter().enumerate() {
        let base = Spec {
            exp: "frontier-mix",
            kind: Kind::Migrate(Mode::Batched),
            order: top,
            folios: (total / folio_bytes(top)) as usize,
            from,
            to,
            batch_pages: config.migrate.batch_pages,
            reps: config.migrate.reps,
            mix: Some(m),
        };
        specs.push((base, e));
        progress.push(alloc::format!("mix: {name}, mixed"));
        for &(order, _) in m.parts() {
            let uniform = Spec {
                order,
                folios: (total / folio_bytes(order)) as usize,
                mix: None,
                ..base
            };
            specs.push((uniform, e));
            progress.push(alloc::format!(
                "mix: {name}, all {}",
                super::super::spec::size_name(order)
            ));
        }
    }
    let outs = super::super::interleave::measure(&specs, &mut engines, &progress, totals);
    let per = 1 + m.parts().len();
    println!();
    let parts: Vec<String> = counts
        .iter()
        .map(|&(o, n)| alloc::format!("{n} x {}", super::super::spec::size_name(o)))
        .collect();
    println!(
        "frontier 5. Mixed folio sizes: {} MiB as {} in one address space, batch {} pages (GB/s; predicted = from the uniform cells){}",
        total >> 20,
        parts.join(" + "),
        config.migrate.batch_pages.min(1 << 40),
        crate::bench_context().note()
    );
    let mut header = alloc::format!("{:>6} {:>18}", "engine", "mixed");
    for &(o, _) in m.parts() {
        header.push_str(&alloc::format!(
            " {:>18}",
            alloc::format!("all {}", super::super::spec::size_name(o))
        ));
    }
    header.push_str(&alloc::format!(
        " {:>10} {:>16}",
        "predicted",
        "mixed/predicted"
    ));
    println!("{header}");
    for (e, name) in names.iter().enumerate() {
        let row = &outs[e * per..(e + 1) * per];
        let mut line = alloc::format!("{name:>6} {:>18}", cell_text(&row[0]));
        let mut time = 0.0;
        let mut ok = true;
        for (k, &(_, pct)) in m.parts().iter().enumerate() {
            line.push_str(&alloc::format!(" {:>18}", cell_text(&row[1 + k])));
            match mean(&row[1 + k]) {
                Some(g) if g > 0.0 => time += f64::from(pct) / 100.0 / g,
                _ => ok = false,
            }
        }
        let predicted = (ok && time > 0.0).then(|| 1.0 / time);
        line.push_str(&alloc::format!(
            " {:>10} {:>16}",
            predicted.map_or(String::from("-"), |p| alloc::format!("{p:.3}")),
            super::ratio(mean(&row[0]), predicted)
        ));
        println!("{line}");
    }
    Ok(())
}
