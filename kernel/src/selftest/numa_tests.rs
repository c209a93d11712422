//! Self-tests of large NUMA shapes: migration between the two nodes farthest apart by
//! SLIT distance, CPU-less memory nodes (the CXL case) as migration source and
//! destination, and RAM above 64 GiB reached through the direct map. Each migration is
//! verified byte for byte and must leave the frame counts as they were.

use super::{check_eq, Test};
use crate::bench;
use crate::migrate::engine::CopyEngine;
use crate::migrate::pipeline;
use crate::migrate::workload::Workload;
use crate::migrate::Mode;
use crate::mm::frames;
use crate::platform;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use kcore::cmdline::Engine;

pub static TESTS: &[Test] = &[
    Test {
        name: "numa_farthest_nodes_by_slit_migrate",
        in_default_suite: true,
        run: farthest_pair,
    },
    Test {
        name: "numa_cpuless_node_as_source_and_destination",
        in_default_suite: true,
        run: cpuless_nodes,
    },
];

/// The engines to move data with: cpu, and dma when an engine is attached.
fn engines() -> Result<Vec<Box<dyn CopyEngine>>, String> {
    let config = crate::config();
    let mut v = alloc::vec![bench::engine(Engine::Cpu, config)?];
    if crate::dma::channel_count() > 0 {
        v.push(bench::engine(Engine::Dma, config)?);
    }
    Ok(v)
}

/// Moves 4K and 2M folios `from` -> `to` -> `from` with every engine, verifying each
/// way. Returns the lowest and highest physical address the folios had on `to`, and
/// fails if any of those folios lay outside `to`'s SRAT ranges (a node's RAM may be in
/// several ranges, so each folio is checked on its own).
fn there_and_back(from: u32, to: u32) -> Result<(u64, u64), String> {
    let ranges = platform::get()
        .numa
        .nodes
        .iter()
        .find(|x| x.id == to)
        .map(|x| x.ranges.clone())
        .ok_or_else(|| alloc::format!("node {to} is not in the SRAT layout"))?;
    let (mut lo, mut hi) = (u64::MAX, 0u64);
    for mut engine in engines()? {
        for (order, count) in [(0u8, 64usize), (9, 2)] {
            let mut w = Workload::create(from, order, count, 0x5eed + u64::from(to))?;
            let mut run = || -> Result<(), String> {
                pipeline::migrate(&mut w, to, engine.as_mut(), Mode::Batched, 512)?;
                w.verify(to)?;
                for f in &w.folios {
                    let (s, e) = (
                        f.block.addr().as_u64(),
                        f.block.addr().as_u64() + f.block.bytes(),
                    );
                    if !ranges.iter().any(|&(rs, re)| rs <= s && e <= re) {
                        return Err(alloc::format!(
                            "folio at {s:#x}..{e:#x} outside node {to}'s SRAT ranges"
                        ));
                    }
                    lo = lo.min(s);
                    hi = hi.max(e);
                }
                pipeline::migrate(&mut w, from, engine.as_mut(), Mode::Batched, 512)?;
                w.verify(from).map_err(String::from)
            };
            let r = run();
            let destroyed = w.destroy().map_err(String::from);
            r.and(destroyed).map_err(|e| {
                alloc::format!("{} node {from} <-> {to}, order {order}: {e}", engine.name())
            })?;
        }
    }
    Ok((lo, hi))
}

/// Nodes with frames to migrate to and from.
fn memory_nodes() -> Vec<u32> {
    frames::nodes()
}

/// The pair of memory nodes with the largest SLIT distance (lowest ids on ties), there
/// and back. With one memory node there is no pair; the test says so and passes.
fn farthest_pair() -> Result<(), String> {
    let p = platform::get();
    let nodes = memory_nodes();
    let mut best: Option<(u8, u32, u32)> = None;
    for (i, &a) in nodes.iter().enumerate() {
        for &b in &nodes[i + 1..] {
            let d = p
                .numa
                .distances
                .distance(a as usize, b as usize)
                .ok_or_else(|| alloc::format!("no SLIT distance for nodes {a} and {b}"))?;
            if best.is_none_or(|(bd, _, _)| d > bd) {
                best = Some((d, a, b));
            }
        }
    }
    let Some((d, a, b)) = best else {
        crate::print!("(one memory node: no pair) ");
        return Ok(());
    };
    let before = frames::frames_in_use();
    let (lo, hi) = there_and_back(a, b)?;
    crate::println!(
        "numa: farthest memory nodes by {}: {a} and {b} (distance {d}); folios on node {b} at {lo:#x}..{hi:#x}, verified both ways",
        if p.numa.from_slit { "SLIT" } else { "the default distances (no SLIT)" }
    );
    check_eq("frames in use", frames::frames_in_use(), before)
}

/// Every memory node without CPUs: data moved onto it from a node with CPUs and off it
/// to another node, verified, its folios inside its SRAT ranges (above 64 GiB on the
/// runner's big shapes). Passes with a note when every node has CPUs.
fn cpuless_nodes() -> Result<(), String> {
    let p = platform::get();
    let nodes = memory_nodes();
    let cpuless: Vec<u32> = nodes
        .iter()
        .copied()
        .filter(|&n| {
            p.numa
                .nodes
                .iter()
                .any(|x| x.id == n && x.apic_ids.is_empty())
        })
        .collect();
    if cpuless.is_empty() {
        crate::print!("(every memory node has CPUs) ");
        return Ok(());
    }
    let with_cpus = nodes
        .iter()
        .copied()
        .find(|n| !cpuless.contains(n))
        .ok_or("no memory node with CPUs")?;
    let before = frames::frames_in_use();
    for &c in &cpuless {
        // Onto the CPU-less node and back (it is the destination, then the source).
        let (lo, hi) = there_and_back(with_cpus, c)?;
        // And from the CPU-less node to another CPU-less node when there is one.
        if let Some(&other) = cpuless.iter().find(|&&o| o != c) {
            there_and_back(c, other)?;
        }
        crate::println!(
            "numa: node {c} (no CPUs): migrations onto and off it verified; its folios at {lo:#x}..{hi:#x}{}",
            if hi > 64 << 30 { " (above 64 GiB)" } else { "" }
        );
    }
    check_eq("frames in use", frames::frames_in_use(), before)
}
