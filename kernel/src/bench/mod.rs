//! Experiments: cells of repeated, verified migrations with statistics, printed as a
//! human table and as one `RESULT {json}` line per cell (DESIGN.md §6), then a
//! `RUN {json}` line. `tools/report` turns the log into CSV, markdown and plots.
#![deny(unsafe_code)]

pub mod auto;
pub mod cell;
pub mod cycles;
pub mod efficiency;
pub mod json;
pub mod load;
pub mod placement;
pub mod pollution;
pub mod seed;
pub mod setup;
pub mod soak;

use crate::migrate::engine::cpu::CpuEngine;
use crate::migrate::engine::cpumt::CpuMtEngine;
use crate::migrate::engine::dma::DmaEngine;
use crate::migrate::engine::hybrid::HybridEngine;
use crate::migrate::engine::CopyEngine;
use alloc::boxed::Box;
use alloc::string::String;
use kcore::cmdline::Config;
use ptdma::SplitPolicy;

/// Builds the engine `name` from the command line.
pub fn engine(name: &str, config: &Config) -> Result<Box<dyn CopyEngine>, String> {
    let m = &config.migrate;
    match name {
        "cpu" => Ok(Box::new(CpuEngine)),
        "dma" => Ok(Box::new(DmaEngine::new(
            m.channels,
            split_policy(config),
            config.dma_timeout_ms,
        )?)),
        "cpu-mt" => {
            let (from, to) = nodes(config)?;
            Ok(Box::new(CpuMtEngine::new(
                m.threads as usize,
                &m.placement,
                from,
                to,
            )?))
        }
        "hybrid" => {
            let (from, to) = nodes(config)?;
            let me = crate::arch::percpu::current_index();
            let policy = kcore::placement::Policy::parse(&m.placement)
                .map_err(|e| alloc::format!("placement={}: {e}", m.placement))?;
            let cpus =
                crate::smp::placement::cpus_for(&policy, m.threads as usize, from, to, &[me])
                    .map_err(|e| {
                        alloc::format!("hybrid CPU workers (the coordinating CPU drives DMA): {e}")
                    })?;
            let list: alloc::vec::Vec<String> =
                cpus.iter().map(|c| alloc::format!("{c}")).collect();
            let cpu = CpuMtEngine::new(
                cpus.len(),
                &alloc::format!("list:{}", list.join(",")),
                from,
                to,
            )?;
            let dma = DmaEngine::new(m.channels, split_policy(config), config.dma_timeout_ms)?;
            Ok(Box::new(HybridEngine::new(
                cpu,
                dma,
                m.hybrid_cpu_percent as u64,
            )?))
        }
        other => Err(alloc::format!(
            "engine '{other}' is not available in this build"
        )),
    }
}

/// The folio sizes `size=` asked for, else the experiment's own default.
pub fn sizes_or(config: &Config, default: &[u8]) -> alloc::vec::Vec<u8> {
    if config.migrate.size_given {
        config.migrate.sizes.clone()
    } else {
        default.to_vec()
    }
}

/// Bytes per repetition of the open-question experiments: `total=` if given, else a
/// quarter of the seed tables' default (they run many more cells).
pub fn question_total(config: &Config) -> u64 {
    if config.migrate.total_given {
        config.migrate.total
    } else {
        seed::default_total(config) / 4
    }
}

/// Splits the requested `values` into those within `limit` and those beyond it (which the
/// caller reports as skipped).
pub fn within<T: Copy + PartialOrd>(
    values: &[T],
    limit: T,
) -> (alloc::vec::Vec<T>, alloc::vec::Vec<T>) {
    values.iter().copied().partition(|&v| v <= limit)
}

/// `dma-split=` as the driver's policy.
pub fn split_policy(config: &Config) -> SplitPolicy {
    if config.dma_split == "contiguous" {
        SplitPolicy::Contiguous
    } else {
        SplitPolicy::RoundRobin
    }
}

/// The destination node: `to=` clamped to the nodes that have memory, said so.
pub fn nodes(config: &Config) -> Result<(u32, u32), String> {
    let nodes = crate::mm::frames::nodes();
    let from = config.migrate.from;
    if !nodes.contains(&from) {
        return Err(alloc::format!(
            "from={from}: node has no memory (nodes: {nodes:?})"
        ));
    }
    let to = config.migrate.to;
    if nodes.contains(&to) {
        return Ok((from, to));
    }
    let last = *nodes.last().expect("frames init found nodes");
    crate::println!("note: to={to} has no memory; migrating to node {last} instead");
    Ok((from, last))
}
