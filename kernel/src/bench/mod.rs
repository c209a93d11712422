//! Experiments: cells of repeated, verified migrations with statistics, printed as a
//! human table and as one `RESULT {json}` line per cell (DESIGN.md §6), then a
//! `RUN {json}` line. `tools/report` turns the log into CSV, markdown and plots.

pub mod appcost;
pub mod auto;
pub mod cell;
pub mod context;
pub mod cycles;
pub mod efficiency;
pub mod error;
pub mod frontier;
pub mod interleave;
pub mod json;
pub mod keys;
pub mod limits;
pub mod load;
pub mod placement;
pub mod plan;
pub mod pollution;
pub mod result;
pub mod run;
pub mod seed;
pub mod setup;
pub mod soak;
pub mod spec;
pub mod streams;
pub mod totals;

use crate::migrate::engine::cpu::CpuEngine;
use crate::migrate::engine::cpumt::CpuMtEngine;
use crate::migrate::engine::dma::{DmaEngine, Split};
use crate::migrate::engine::hybrid::HybridEngine;
use crate::migrate::engine::CopyEngine;
use crate::migrate::error::SetupError;
use alloc::boxed::Box;
use error::{BenchError, InputError};
use kcore::cmdline::{Config, DmaSplit, Engine};
use kcore::placement::Policy;
use ptdma::SplitPolicy;

/// Builds the engine `kind` from the command line's other keys (`threads=`,
/// `placement=`, `channels=`, `dma-split=`, `hybrid-cpu=`, ...).
///
/// # Errors
/// The engine cannot be set up on this machine (no DMA channel, a placement it cannot
/// satisfy, no crossover for `dma-min-batch=auto`).
pub fn engine(kind: Engine, config: &Config) -> Result<Box<dyn CopyEngine>, BenchError> {
    let m = &config.migrate;
    match kind {
        Engine::Cpu => Ok(Box::new(CpuEngine)),
        Engine::Dma => Ok(Box::new(
            DmaEngine::new(m.channels, dma_split(config), config.dma_timeout_ms)?
                .with_min_batch(min_batch(config)?),
        )),
        Engine::CpuMt => {
            let (from, to) = nodes(config)?;
            Ok(Box::new(CpuMtEngine::new(
                m.threads as usize,
                &m.placement,
                from,
                to,
            )?))
        }
        Engine::Hybrid => {
            let (from, to) = nodes(config)?;
            let me = crate::arch::percpu::current_index();
            let cpus =
                crate::smp::placement::cpus_for(&m.placement, m.threads as usize, from, to, &[me])
                    .map_err(|error| SetupError::Placement {
                        policy: alloc::format!(
                            "{} (hybrid workers; the coordinating CPU drives DMA)",
                            m.placement
                        ),
                        threads: m.threads as usize,
                        error,
                    })?;
            let cpu = CpuMtEngine::new(cpus.len(), &Policy::List(cpus), from, to)?;
            let dma = DmaEngine::new(m.channels, dma_split(config), config.dma_timeout_ms)?;
            Ok(Box::new(HybridEngine::new(
                cpu,
                dma,
                m.hybrid_cpu_percent as u64,
            )?))
        }
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

/// `dma-split=` (with `dma-chunk=` for `bytes`) as the DMA engine's split.
pub fn dma_split(config: &Config) -> Split {
    match config.dma_split {
        DmaSplit::RoundRobin => Split::Ops(SplitPolicy::RoundRobin),
        DmaSplit::Contiguous => Split::Ops(SplitPolicy::Contiguous),
        DmaSplit::Bytes => Split::Bytes(config.dma_chunk),
    }
}

/// `dma-min-batch=` in bytes: 0 when off, the crossover measured at boot for `auto`.
///
/// # Errors
/// `auto` when the crossover cannot be measured (no DMA engine).
pub fn min_batch(config: &Config) -> Result<u64, BenchError> {
    match config.dma_min_batch {
        kcore::cmdline::MinBatch::Off => Ok(0),
        kcore::cmdline::MinBatch::Bytes(n) => Ok(n),
        kcore::cmdline::MinBatch::Auto => frontier::crossover::measured(config),
    }
}

/// The source and destination nodes. A node given with `from=`/`to=` is used exactly
/// or the run stops (bad input) naming the nodes that exist; an unset key may be chosen
/// by the kernel (its default when that node has memory, else the first other node
/// with memory), and the choice is printed. RESULT lines record both nodes.
///
/// # Errors
/// A given node that has no memory, or a machine with no memory node at all.
pub fn nodes(config: &Config) -> Result<(u32, u32), BenchError> {
    let mem = crate::mm::frames::nodes();
    let first = *mem.first().ok_or(InputError::NoMemoryNode)?;
    let exists = |key: &'static str, n: u32| -> Result<(), InputError> {
        if mem.contains(&n) {
            return Ok(());
        }
        let p = crate::platform::get();
        let with_cpus: alloc::vec::Vec<u32> = p
            .numa
            .nodes
            .iter()
            .filter(|n| !n.apic_ids.is_empty())
            .map(|n| n.id)
            .collect();
        Err(InputError::NodeWithoutMemory {
            key,
            node: n,
            with_memory: mem.clone(),
            with_cpus,
        })
    };
    let from = if config.given("from") {
        exists("from", config.migrate.from)?;
        config.migrate.from
    } else if mem.contains(&config.migrate.from) {
        config.migrate.from
    } else {
        crate::println!(
            "note: from= not given and node {} has no memory: migrating from node {first}",
            config.migrate.from
        );
        first
    };
    let to = if config.given("to") {
        exists("to", config.migrate.to)?;
        config.migrate.to
    } else if mem.contains(&config.migrate.to) && config.migrate.to != from {
        config.migrate.to
    } else {
        let other = mem.iter().copied().find(|&n| n != from).unwrap_or(from);
        crate::println!(
            "note: to= not given and node {} is not a memory node other than {from}: migrating to node {other}{}",
            config.migrate.to,
            if other == from { " (the only memory node)" } else { "" }
        );
        other
    };
    Ok((from, to))
}

/// Thread or channel counts for a table: `widths=` exactly when given (stops the run
/// when one exceeds `have`), else the defaults that fit, with the skipped ones said.
///
/// # Errors
/// A given width larger than what the machine has.
pub fn widths(
    config: &Config,
    have: u32,
    what: &'static str,
    exp: &str,
) -> Result<alloc::vec::Vec<u32>, BenchError> {
    let (fit, dropped) = within(&config.migrate.widths, have);
    if dropped.is_empty() {
        return Ok(fit);
    }
    if config.given("widths") {
        return Err(InputError::WidthsExceed {
            given: config.migrate.widths.clone(),
            dropped,
            have,
            what,
        }
        .into());
    }
    crate::println!("{exp}: only {have} {what}: default widths {dropped:?} skipped");
    Ok(fit)
}
