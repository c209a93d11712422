//! The streams table (one row per set of streams) and the line that says which streams
//! met a failed DMA channel.

use super::cell::SetOutcome;
use crate::bench::spec::cell_text;
use crate::println;
use alloc::string::String;
use alloc::vec::Vec;
use kcore::stats::Summary;

/// Registry ids of the channels in mask `m`.
pub fn channel_ids(m: u64) -> Vec<u64> {
    (0..64).filter(|i| m & (1 << i) != 0).collect()
}

/// Says which streams met failed DMA channels (nothing when none did): with a fault
/// injected in one engine, only the streams that leased it fall back.
pub fn print_faults(label: &str, set: &SetOutcome) {
    let all = set.failed_channels.iter().fold(0, |a, m| a | m);
    if all == 0 {
        return;
    }
    let hit: Vec<usize> = (0..set.failed_channels.len())
        .filter(|&i| set.failed_channels[i] != 0)
        .collect();
    let fallback: Vec<u64> = set.streams.iter().map(|o| o.copied.fallback).collect();
    println!(
        "streams: DMA faults in {label}: channel(s) {:?} failed in stream(s) {hit:?} (fallback bytes per stream {fallback:?}); {} of {} stream(s) never met a failed channel",
        channel_ids(all),
        set.streams.len() - hit.len(),
        set.streams.len()
    );
}

/// One table row per set.
pub struct Row {
    /// Streams.
    pub n: usize,
    /// Engine.
    pub engine: &'static str,
    /// Admission policy (`-` for cpu).
    pub admit: &'static str,
    /// Each stream's cell text.
    pub per_stream: Vec<String>,
    /// The set's GB/s.
    pub total: String,
    /// Jain's index.
    pub jain: Option<f64>,
    /// Batch latency p50 and p99 over all streams, µs.
    pub p50_p99: Option<(f64, f64)>,
    /// Bytes by DMA / all bytes.
    pub dma_share: f64,
    /// Admission counts summed over streams.
    pub admit_counts: kcore::streams::AdmitCounts,
    /// Every stream verified.
    pub verified: bool,
}

/// The table row of a set.
pub fn row(n: usize, engine: &'static str, admit: &'static str, set: &SetOutcome) -> Row {
    let mut all: Vec<u64> = set.batch_ns.iter().flatten().copied().collect();
    let p = kcore::latency::percentiles(&mut all);
    let mut counts = kcore::streams::AdmitCounts::default();
    let (mut dma, mut bytes) = (0u64, 0u64);
    for o in &set.streams {
        counts.add(&o.engine.admit);
        dma += o.copied.dma;
        bytes += o.copied.dma + o.copied.cpu + o.copied.fallback;
    }
    Row {
        n,
        engine,
        admit,
        per_stream: set.streams.iter().map(cell_text).collect(),
        total: Summary::of(&set.total_gbps)
            .map(|s| alloc::format!("{:.3} ± {:.3}", s.mean, s.stdev))
            .unwrap_or_else(|_| String::from("-")),
        jain: set.jain,
        p50_p99: p.map(|p| (p.p50 as f64 / 1e3, p.p99 as f64 / 1e3)),
        dma_share: if bytes == 0 {
            0.0
        } else {
            dma as f64 / bytes as f64
        },
        admit_counts: counts,
        verified: set.streams.iter().all(|o| o.failure.is_none()),
    }
}

/// Prints the streams table.
pub fn print_table(title: &str, rows: &[Row]) {
    println!();
    println!("{title}{}", crate::bench_context().note());
    println!(" streams | engine | admit | set GB/s        | Jain  | batch p50/p99 us | DMA share | asked/full/part/waited/refused | verified | per-stream GB/s");
    println!("=================================================================================================================================================");
    for r in rows {
        let a = &r.admit_counts;
        println!(
            " {:>7} | {:<6} | {:<5} | {:>15} | {:>5} | {:>16} | {:>8.1}% | {:>30} | {:>8} | {}",
            r.n,
            r.engine,
            r.admit,
            r.total,
            r.jain
                .map_or(String::from("-"), |j| alloc::format!("{j:.3}")),
            r.p50_p99
                .map_or(String::from("-"), |(a, b)| alloc::format!("{a:.0}/{b:.0}")),
            100.0 * r.dma_share,
            alloc::format!(
                "{}/{}/{}/{}/{}",
                a.asked,
                a.full,
                a.partial,
                a.waited,
                a.refused
            ),
            if r.verified { "yes" } else { "NO" },
            r.per_stream.join(" | ")
        );
    }
}
