//! Self-tests of the migration engine: the full matrix of engines × modes × mTHP folio
//! sizes at small sizes, there and back, verified byte for byte with no frame leaked;
//! and (as a fixture for fault boots) a DMA migration that survives an injected fault.

use super::{check, check_eq, Test};
use crate::bench;
use crate::migrate::engine::cpumt::CpuMtEngine;
use crate::migrate::engine::dma::{DmaEngine, Split};
use crate::migrate::engine::hybrid::HybridEngine;
use crate::migrate::engine::CopyEngine;
use crate::migrate::pipeline;
use crate::migrate::workload::Workload;
use crate::migrate::Mode;
use crate::mm::frames;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use kcore::cmdline::Engine;
use kcore::migrate::{folio_bytes, MTHP_ORDERS};
use kcore::placement::Policy;

pub static TESTS: &[Test] = &[
    Test {
        name: "migrate_matrix_engines_modes_sizes",
        in_default_suite: true,
        run: matrix,
    },
    Test {
        name: "migrate_engines_write_only_inside_folios",
        in_default_suite: true,
        run: guard_bytes,
    },
    Test {
        name: "migrate_batch_limit_and_whole_workload",
        in_default_suite: true,
        run: batch_limits,
    },
    Test {
        name: "migrate_dma_split_policies",
        in_default_suite: true,
        run: split_policies,
    },
    Test {
        name: "migrate_mixed_sizes_and_rollback",
        in_default_suite: true,
        run: mixed_sizes,
    },
    Test {
        name: "migrate_dma_fault_falls_back_to_cpu",
        in_default_suite: false,
        run: dma_fault_fallback,
    },
    Test {
        name: "migrate_dma_corruption_detected",
        in_default_suite: false,
        run: corruption_detected,
    },
];

/// Every engine this machine can run: cpu; cpu-mt on all online CPUs; dma when an
/// engine is attached; hybrid (one CPU worker per other CPU + DMA) when both are there.
/// Built one at a time by [`make_engine`]: DMA engines own their channels, so two of
/// them cannot hold the same channels at once.
fn engine_kinds() -> Vec<Engine> {
    let online = crate::smp::online().len();
    let dma = crate::dma::channel_count() > 0;
    let mut v = alloc::vec![Engine::Cpu];
    if online > 1 {
        v.push(Engine::CpuMt);
    }
    if dma {
        v.push(Engine::Dma);
        if online > 1 {
            v.push(Engine::Hybrid);
        }
    }
    v
}

/// The engine `kind` for moves between nodes `a` and `b` (see [`engine_kinds`]).
fn make_engine(kind: Engine, a: u32, b: u32) -> Result<Box<dyn CopyEngine>, String> {
    let config = crate::config();
    let online = crate::smp::online().len();
    Ok(match kind {
        Engine::CpuMt => Box::new(CpuMtEngine::new(online, &Policy::Spread, a, b)?),
        Engine::Hybrid => {
            let me = crate::arch::percpu::current_index();
            let others: Vec<usize> = crate::smp::online()
                .into_iter()
                .filter(|&c| c != me)
                .collect();
            let cpu = CpuMtEngine::new(others.len(), &Policy::List(others), a, b)?;
            let dma = DmaEngine::new(
                None,
                Split::Ops(ptdma::SplitPolicy::RoundRobin),
                config.dma_timeout_ms,
            )?;
            Box::new(HybridEngine::new(cpu, dma, 50)?)
        }
        other @ (Engine::Cpu | Engine::Dma) => bench::engine(other, config)?,
    })
}

/// Every engine, both modes, every mTHP size: 1 MiB (at least 2 folios) moved from the
/// first node to the last and back, verified each way.
fn matrix() -> Result<(), String> {
    let nodes = frames::nodes();
    let (a, b) = (nodes[0], *nodes.last().ok_or("no nodes")?);
    let before = frames::frames_in_use();
    let mut names = Vec::new();
    for kind in engine_kinds() {
        let mut engine = make_engine(kind, a, b)?;
        names.push(engine.name());
        for mode in [Mode::Batched, Mode::PerFolio] {
            for order in MTHP_ORDERS {
                let count = ((1u64 << 20) / folio_bytes(order)).max(2) as usize;
                let mut w = Workload::create(a, order, count, 0xabc0 + order as u64)?;
                let there = pipeline::migrate(&mut w, b, engine.as_mut(), mode, 64)
                    .map_err(String::from)
                    .and_then(|_| w.verify(b).map_err(String::from))
                    .and_then(|_| {
                        pipeline::migrate(&mut w, a, engine.as_mut(), mode, 64)
                            .map_err(String::from)
                    })
                    .and_then(|_| w.verify(a).map_err(String::from));
                let destroyed = w.destroy().map_err(String::from);
                there.and(destroyed).map_err(|e| {
                    alloc::format!(
                        "{} {} {}K: {e}",
                        engine.name(),
                        mode.name(),
                        folio_bytes(order) >> 10
                    )
                })?;
            }
        }
    }
    crate::print!("(engines {names:?}) ");
    check_eq(
        "frames in use after the matrix",
        frames::frames_in_use(),
        before,
    )
}

/// The batch limit cuts batches as Linux does, and `batch=all` is one batch.
fn batch_limits() -> Result<(), String> {
    let nodes = frames::nodes();
    let (a, b) = (nodes[0], *nodes.last().ok_or("no nodes")?);
    let mut engine = bench::engine(Engine::Cpu, crate::config())?;
    let mut w = Workload::create(a, 2, 300, 77)?; // 300 x 16K = 1200 pages
    let s1 = pipeline::migrate(&mut w, b, engine.as_mut(), Mode::Batched, 512);
    let s2 = pipeline::migrate(&mut w, a, engine.as_mut(), Mode::Batched, u64::MAX);
    let s3 = pipeline::migrate(&mut w, b, engine.as_mut(), Mode::PerFolio, 512);
    let verified = w.verify(b).map_err(String::from);
    w.destroy()?;
    verified?;
    check_eq("batches of 512 pages for 1200 pages", s1?.batches, 3)?;
    check_eq("batches with batch=all", s2?.batches, 1)?;
    check_eq("per-folio batches", s3?.batches, 300)
}

/// Fixture for the fault boots: a DMA migration while the model injects a fault still
/// verifies, and the fallback is reported.
fn dma_fault_fallback() -> Result<(), String> {
    let nodes = frames::nodes();
    let (a, b) = (nodes[0], *nodes.last().ok_or("no nodes")?);
    let before = frames::frames_in_use();
    let mut engine = bench::engine(Engine::Dma, crate::config())?;
    let mut w = Workload::create(a, 0, 256, 5)?;
    let stats = pipeline::migrate(&mut w, b, engine.as_mut(), Mode::Batched, 512);
    let verified = stats
        .as_ref()
        .map_err(|e| alloc::format!("{e}"))
        .and_then(|_| w.verify(b).map_err(String::from));
    w.destroy()?;
    verified?;
    let s = stats?;
    check_eq("frames in use (balanced)", frames::frames_in_use(), before)?;
    crate::println!(
        "migration with an injected DMA fault: verified, {} op(s) copied by the CPU, frames balanced",
        s.engine.fallback_ops
    );
    check(s.engine.fallback_ops > 0, || {
        "no fallback: the injected fault was not hit".into()
    })
}

/// Fixture for the fault boot where the model writes wrong bytes but reports success:
/// the verification must catch it (and the run must never report it as a result).
fn corruption_detected() -> Result<(), String> {
    let nodes = frames::nodes();
    let (a, b) = (nodes[0], *nodes.last().ok_or("no nodes")?);
    let before = frames::frames_in_use();
    let mut engine = bench::engine(Engine::Dma, crate::config())?;
    let mut w = Workload::create(a, 0, 64, 9)?;
    let moved = pipeline::migrate(&mut w, b, engine.as_mut(), Mode::Batched, 512);
    let verdict = w.verify(b).map_err(String::from);
    w.destroy()?;
    moved?;
    match verdict {
        Err(e) => {
            crate::println!("corruption detected by verification: {e}");
            check_eq("frames in use", frames::frames_in_use(), before)
        }
        Ok(()) => Err("the corrupted copy passed verification".into()),
    }
}

/// Both ways of splitting a batch across channels (RFC V2 round-robin, V3 contiguous)
/// move the data correctly.
fn split_policies() -> Result<(), String> {
    use crate::migrate::engine::dma::{DmaEngine, Split};
    if crate::dma::channel_count() == 0 {
        crate::print!("(no DMA engine attached) ");
        return Ok(());
    }
    let nodes = frames::nodes();
    let (a, b) = (nodes[0], *nodes.last().ok_or("no nodes")?);
    // Bytes: 32 KiB folios cut into 8 KiB chunks across the channels.
    for policy in [
        Split::Ops(ptdma::SplitPolicy::RoundRobin),
        Split::Ops(ptdma::SplitPolicy::Contiguous),
        Split::Bytes(kcore::split::ChunkBounds {
            min: 8 << 10,
            max: 8 << 10,
        }),
    ] {
        let mut engine = DmaEngine::new(None, policy, crate::config().dma_timeout_ms)?;
        let mut w = Workload::create(a, 3, 37, 3)?;
        let moved = pipeline::migrate(&mut w, b, &mut engine, Mode::Batched, u64::MAX)
            .map_err(String::from)
            .and_then(|_| w.verify(b).map_err(String::from));
        w.destroy()?;
        moved.map_err(|e| alloc::format!("{policy:?}: {e}"))?;
    }
    Ok(())
}

/// Every engine copies exactly the folio: each destination sits in the middle of a block
/// four times its size filled with a canary, and after the copy the canary on both sides
/// is intact (nothing written outside the folio, no short or shifted copy).
fn guard_bytes() -> Result<(), String> {
    use crate::mm::copy::CopyList;
    let nodes = frames::nodes();
    let (a, b) = (nodes[0], *nodes.last().ok_or("no nodes")?);
    let before = frames::frames_in_use();
    let mut result = Ok(());
    'outer: for kind in engine_kinds() {
        let mut engine = make_engine(kind, a, b)?;
        for order in [0usize, 3, 7] {
            let size = 4096usize << order;
            let mut pairs = Vec::new();
            for i in 0..4u64 {
                let mut src = frames::alloc_data(a, order).map_err(|e| alloc::format!("{e}"))?;
                let mut dst =
                    frames::alloc_data(b, order + 2).map_err(|e| alloc::format!("{e}"))?;
                src.as_mut_slice()
                    .iter_mut()
                    .enumerate()
                    .for_each(|(k, x)| *x = kcore::migrate::pattern_byte(7, i, k as u64));
                dst.as_mut_slice().fill(0xa5);
                pairs.push((src, dst));
            }
            let mut buf = Vec::new();
            let mut list = CopyList::new(&mut buf);
            for (s, d) in pairs.iter_mut() {
                list.push_range(s, 0, d, size as u64, size as u64)
                    .map_err(|e| alloc::format!("{e}"))?;
            }
            let copied = engine.copy(&mut list.batch());
            for (i, (mut src, mut dst)) in pairs.into_iter().enumerate() {
                if result.is_ok() {
                    let d = dst.as_mut_slice();
                    let bad = if copied.is_err() {
                        Some(alloc::format!("copy failed: {:?}", copied.as_ref().err()))
                    } else if d[..size].iter().chain(&d[2 * size..]).any(|&x| x != 0xa5) {
                        Some(String::from("wrote outside the folio"))
                    } else if d[size..2 * size] != *src.as_mut_slice() {
                        Some(String::from("folio data differs"))
                    } else {
                        None
                    };
                    if let Some(why) = bad {
                        result = Err(alloc::format!(
                            "{} {}K folio {i}: {why}",
                            engine.name(),
                            size >> 10
                        ));
                    }
                }
                frames::free(src).map_err(|e| alloc::format!("{e}"))?;
                frames::free(dst).map_err(|e| alloc::format!("{e}"))?;
            }
            if result.is_err() {
                break 'outer;
            }
        }
    }
    result?;
    check_eq("frames in use", frames::frames_in_use(), before)
}

/// A workload of 2M, 64K and 4K folios in one address space (`size=mix:`), migrated by
/// every engine in both modes and verified; then a failure injected in the remap of a
/// batch that mixes sizes rolls back with every frame accounted for.
fn mixed_sizes() -> Result<(), String> {
    use crate::migrate::error::{MigrateError, Phase};
    use crate::migrate::pipeline::Injection;
    let nodes = frames::nodes();
    let (a, b) = (nodes[0], *nodes.last().ok_or("no nodes")?);
    let mix = kcore::mix::parse("mix:2m=50%,64k=25%,4k=25%").map_err(|e| alloc::format!("{e}"))?;
    let orders = mix.orders(4 << 20).map_err(|e| alloc::format!("{e}"))?;
    let before = frames::frames_in_use();
    for kind in engine_kinds() {
        let mut engine = make_engine(kind, a, b)?;
        for mode in [Mode::Batched, Mode::PerFolio] {
            let what = alloc::format!("{} {}", engine.name(), mode.name());
            let mut w = Workload::create_mixed(a, &orders, 0x313)?;
            let moved = pipeline::migrate(&mut w, b, engine.as_mut(), mode, 512)
                .map_err(String::from)
                .and_then(|s| {
                    check_eq(&alloc::format!("{what}: bytes"), s.bytes, 4 << 20)?;
                    w.verify(b).map_err(String::from)
                });
            w.destroy()?;
            moved.map_err(|e| alloc::format!("{what}: {e}"))?;
        }
    }
    // A batch of 512 pages that holds more than one size; fail its remap half way.
    let batches = kcore::mix::batch_ranges(&orders, 512);
    let r = batches
        .iter()
        .find(|r| r.len() > 2 && orders[r.start..r.end].iter().any(|&o| o != orders[r.start]))
        .ok_or("no mixed batch in the layout")?;
    let folio = r.start + r.len() / 2;
    let mut w = Workload::create_mixed(a, &orders, 0x314)?;
    let held = frames::frames_in_use();
    let inject = Injection {
        phase: Phase::Remap,
        folio,
    };
    let got = pipeline::migrate_injecting(
        &mut w,
        b,
        &mut crate::migrate::engine::cpu::CpuEngine,
        Mode::Batched,
        512,
        Some(inject),
    );
    let want = MigrateError::Batch(kcore::pipeline::BatchError::Injected {
        phase: Phase::Remap,
        folio: folio as u64,
    });
    let intact = w.verify_intact(a, b);
    let held_after = frames::frames_in_use();
    w.destroy()?;
    check(got.as_ref().err() == Some(&want), || {
        alloc::format!(
            "mixed rollback: expected {want}, got {:?}",
            got.as_ref().err()
        )
    })?;
    check_eq("mixed rollback: folios moved", intact?, folio)?;
    check_eq("mixed rollback: frames held", held_after, held)?;
    check_eq(
        "frames after the mixed tests",
        frames::frames_in_use(),
        before,
    )
}
