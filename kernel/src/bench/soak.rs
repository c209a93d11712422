//! `soak=SECONDS`: random migrations — engine (cpu, cpu-mt, dma, hybrid), folio size,
//! count, mode, batch limit, threads/channels and placement, source and destination node — each verified byte for byte and checked for
//! leaked frames, until the time is up. DMA faults injected by the device model (set by
//! `run-qemu.sh soak`) must only ever show up as CPU fallbacks, never as bad data.

use crate::arch::tsc;
use crate::bench::json::Obj;
use crate::migrate::engine::cpu::CpuEngine;
use crate::migrate::engine::cpumt::CpuMtEngine;
use crate::migrate::engine::dma::{DmaEngine, Split};
use crate::migrate::engine::hybrid::HybridEngine;
use crate::migrate::engine::CopyEngine;
use crate::migrate::pipeline;
use crate::migrate::workload::Workload;
use crate::migrate::Mode;
use crate::mm::frames;
use crate::println;
use alloc::boxed::Box;
use alloc::string::String;
use kcore::cmdline::Config;
use kcore::migrate::{folio_bytes, MTHP_ORDERS};
use kcore::placement::Policy;
use kcore::rng::XorShift;
use ptdma::SplitPolicy;

/// Counts of a soak run.
#[derive(Debug, Default, Clone, Copy)]
pub struct SoakTotals {
    /// Migrations run.
    pub migrations: u64,
    /// Bytes migrated.
    pub bytes: u64,
    /// Ops the CPU copied after a DMA failure.
    pub fallback_ops: u64,
    /// Migrations whose data did not verify.
    pub data_errors: u64,
    /// Frames leaked (summed over migrations).
    pub leaked_frames: u64,
    /// Migrations refused for lack of memory (not errors: the sizes are random).
    pub skipped: u64,
}

/// Runs the soak for `seconds`.
pub fn soak(config: &Config, seconds: u64) -> SoakTotals {
    let mut rng = XorShift::new(tsc::rdtsc());
    let nodes = frames::nodes();
    let channels = crate::dma::channel_count() as u64;
    let start = tsc::now_ns();
    let end = start + seconds * 1_000_000_000;
    let mut next_report = start + 10_000_000_000;
    let mut t = SoakTotals::default();
    println!("soak: {seconds} s of random verified migrations over {} node(s), {channels} DMA channel(s)", nodes.len());
    while tsc::now_ns() < end {
        crate::smp::watchdog::progress();
        let order = MTHP_ORDERS[rng.below(MTHP_ORDERS.len() as u64) as usize];
        let max_folios = ((8u64 << 20) / folio_bytes(order)).max(1);
        let folios = 1 + rng.below(max_folios) as usize;
        let from = nodes[rng.below(nodes.len() as u64) as usize];
        let to = nodes[rng.below(nodes.len() as u64) as usize];
        let mode = if rng.below(4) == 0 {
            Mode::PerFolio
        } else {
            Mode::Batched
        };
        let batch = [1u64, 16, 512, u64::MAX][rng.below(4) as usize];
        let engine_pick = rng.below(4);
        let mut engine = match pick_engine(config, engine_pick, channels, from, to, &mut rng) {
            Some(e) => e,
            None => Box::new(CpuEngine) as Box<dyn CopyEngine>,
        };
        let before = frames::frames_in_use();
        let seed = rng.next_u64();
        let mut w = match Workload::create(from, order, folios, seed) {
            Ok(w) => w,
            Err(_) => {
                t.skipped += 1;
                continue;
            }
        };
        let outcome = pipeline::migrate(&mut w, to, engine.as_mut(), mode, batch);
        let problem = match &outcome {
            Ok(s) => match w.verify(to) {
                Ok(()) => {
                    t.migrations += 1;
                    t.bytes += s.bytes;
                    t.fallback_ops += s.engine.fallback_ops as u64;
                    None
                }
                Err(e) => Some(alloc::format!("{e}")),
            },
            // Random sizes may not fit the destination: the batch is rolled back and
            // every folio must still be whole, wherever it is.
            Err(e) if e.is_out_of_memory() => match w.verify_intact(from, to) {
                Ok(_) => {
                    t.skipped += 1;
                    None
                }
                Err(bad) => Some(alloc::format!("after '{e}', rollback left: {bad}")),
            },
            Err(e) => Some(alloc::format!("{e}")),
        };
        if let Some(e) = problem {
            t.data_errors += 1;
            println!(
                "!!! soak: DATA ERROR: {} x {}K {} {} node {from}->{to}: {e}",
                folios,
                folio_bytes(order) >> 10,
                engine.name(),
                mode.name()
            );
        }
        if let Err(e) = w.destroy() {
            println!("!!! soak: teardown failed: {e}");
            t.data_errors += 1;
        }
        let after = frames::frames_in_use();
        if after != before {
            t.leaked_frames += after.abs_diff(before);
            println!("!!! soak: {} frame(s) leaked", after.abs_diff(before));
        }
        if tsc::now_ns() > next_report {
            next_report += 10_000_000_000;
            println!(
                "soak: {:.0} s: {} migrations, {} MiB, {} fallback op(s), {} data error(s), {} leaked frame(s)",
                (tsc::now_ns() - start) as f64 / 1e9,
                t.migrations,
                t.bytes >> 20,
                t.fallback_ops,
                t.data_errors,
                t.leaked_frames
            );
        }
    }
    t
}

/// Engine `pick` (0 cpu, 1 cpu-mt, 2 dma, 3 hybrid) with random width and policy, if the
/// machine has what it needs.
fn pick_engine(
    config: &Config,
    pick: u64,
    channels: u64,
    from: u32,
    to: u32,
    rng: &mut XorShift,
) -> Option<Box<dyn CopyEngine>> {
    let online = crate::smp::online();
    let split = match rng.below(3) {
        0 => Split::Ops(SplitPolicy::RoundRobin),
        1 => Split::Ops(SplitPolicy::Contiguous),
        _ => Split::Bytes(kcore::split::ChunkBounds {
            min: 4 << 10,
            max: 64 << 10,
        }),
    };
    let policy =
        [Policy::Spread, Policy::Fill, Policy::Src, Policy::Dst][rng.below(4) as usize].clone();
    match pick {
        1 if online.len() > 1 => {
            let n = 1 + rng.below(online.len() as u64) as usize;
            CpuMtEngine::new(n, &policy, from, to)
                .ok()
                .map(|e| Box::new(e) as Box<dyn CopyEngine>)
        }
        2 if channels > 0 => {
            let n = 1 + rng.below(channels) as u32;
            DmaEngine::new(Some(n), split, config.dma_timeout_ms)
                .ok()
                .map(|e| Box::new(e) as Box<dyn CopyEngine>)
        }
        3 if channels > 0 && online.len() > 1 => {
            let me = crate::arch::percpu::current_index();
            let others: alloc::vec::Vec<usize> =
                online.iter().copied().filter(|&c| c != me).collect();
            let cpu = CpuMtEngine::new(others.len(), &Policy::List(others), from, to).ok()?;
            let dma = DmaEngine::new(None, split, config.dma_timeout_ms).ok()?;
            HybridEngine::new(cpu, dma, rng.below(101))
                .ok()
                .map(|e| Box::new(e) as Box<dyn CopyEngine>)
        }
        _ => None,
    }
}

/// The closing `SOAK {json}` line.
pub fn soak_line(t: &SoakTotals, seconds: u64) -> String {
    let o = Obj::new()
        .int("seconds", seconds)
        .int("migrations", t.migrations)
        .int("bytes", t.bytes)
        .int("fallback_ops", t.fallback_ops)
        .int("data_errors", t.data_errors)
        .int("leaked_frames", t.leaked_frames)
        .int("skipped_no_memory", t.skipped)
        .str("accel", crate::bench_context().accel);
    alloc::format!("SOAK {}", o.finish())
}
