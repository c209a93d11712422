//! One streams cell: `reps` repetitions (after a warm-up) of the same set of streams,
//! each stream's figures kept apart (an `Outcome` per stream, as for a one-stream
//! cell) and the set's own: throughput over the common window, Jain's index over the
//! streams' throughputs, and the machine's frames checked after every repetition.

use super::run::{run_streams, StreamFailure, StreamPlan};
use crate::arch::tsc;
use crate::bench::spec::{Latency, Outcome, Spec};
use crate::migrate::engine::cpu::CpuEngine;
use crate::migrate::engine::CopyEngine;
use crate::mm::frames;
use crate::println;
use alloc::string::String;
use alloc::vec::Vec;
use kcore::honesty::Status;
use kcore::stats::gbps;
use kcore::streams::{AdmitCounts, AdmitPolicy};

/// What a set of streams did over its measured repetitions.
#[derive(Debug)]
pub struct SetOutcome {
    /// Each stream's cell outcome (GB/s per repetition, bytes by copier, admission).
    pub streams: Vec<Outcome>,
    /// Each stream's batch times over the measured repetitions, ns.
    pub batch_ns: Vec<Vec<u64>>,
    /// Each stream's failed DMA channels over all repetitions, warm-up included (bit i:
    /// registry channel i).
    pub failed_channels: Vec<u64>,
    /// Each stream's `auto` choices of the last repetition.
    pub choices: Vec<String>,
    /// The set's GB/s per measured repetition: all bytes over first start to last end.
    pub total_gbps: Vec<f64>,
    /// Jain's index of the streams' mean GB/s (None when a stream has no figure).
    pub jain: Option<f64>,
    /// Each stream's start and end in the last measured repetition, µs after the first
    /// stream started (how much the streams really overlapped).
    pub window_us: Vec<(f64, f64)>,
}

impl SetOutcome {
    /// Admission counts of stream `i` over the measured repetitions.
    pub fn admit(&self, i: usize) -> AdmitCounts {
        self.streams[i].engine.admit
    }
}

/// The engine name for a stream's outcome (the plan's engine, not built here).
struct Named(&'static str, usize);

impl CopyEngine for Named {
    fn name(&self) -> &'static str {
        self.0
    }
    fn width(&self) -> usize {
        self.1.max(1)
    }
    fn threads(&self) -> usize {
        usize::from(self.1 == 0)
    }
    fn channels(&self) -> usize {
        self.1
    }
    fn copy(
        &mut self,
        batch: &mut crate::mm::copy::CopyBatch<'_>,
    ) -> Result<crate::migrate::engine::CopyOutcome, crate::migrate::error::EngineError> {
        CpuEngine.copy(batch)
    }
}

/// Runs the set `plans` (warm-up + `reps`), checking each stream's admission counts
/// against `policy` (when its engine leases channels) and the machine's frames.
pub fn run_set(
    specs: &[Spec],
    plans: &[StreamPlan],
    channels: usize,
    policy: Option<AdmitPolicy>,
    reps: u32,
    label: &str,
) -> SetOutcome {
    let mut outs: Vec<Outcome> = plans
        .iter()
        .map(|p| {
            Outcome::new(&Named(
                p.engine.name(),
                if p.engine.name() == "cpu" {
                    0
                } else {
                    channels
                },
            ))
        })
        .collect();
    let mut batch_ns = alloc::vec![Vec::new(); plans.len()];
    let mut choices = alloc::vec![String::new(); plans.len()];
    let mut total_gbps = Vec::new();
    let mut window_us = Vec::new();
    let mut failed_channels = alloc::vec![0u64; plans.len()];
    let start = tsc::now_ns();
    'reps: for rep in 0..=reps {
        println!(
            "  [{label}] {} ({:.1} s)",
            if rep == 0 {
                String::from("warm-up")
            } else {
                alloc::format!("rep {rep}/{reps}")
            },
            (tsc::now_ns() - start) as f64 / 1e9
        );
        crate::smp::watchdog::progress();
        let frames_before = frames::frames_in_use();
        let nodes_before = frames::node_counts();
        let got = run_streams(plans, tsc::rdtsc() ^ (u64::from(rep) << 52));
        let frames_after = frames::frames_in_use();
        let nodes_after = frames::node_counts();
        let leak = (frames_after != frames_before || nodes_after != nodes_before).then(|| {
            alloc::format!(
                "frame leak: {frames_before} frames in use before the streams, {frames_after} after (per node {nodes_before:?} -> {nodes_after:?})"
            )
        });
        let mut failed = false;
        for (i, r) in got.iter().enumerate() {
            failed_channels[i] |= r.engine.failed_channels;
            let o = &mut outs[i];
            let mut failure = r.failure.clone();
            if failure.is_none() {
                if let Some(p) = policy.filter(|_| plans[i].engine.name() != "cpu") {
                    let a = &r.engine.admit;
                    if let Err(e) = a.consistent_with(p) {
                        failure = Some(StreamFailure::Failed(alloc::format!(
                            "admission counts {a:?} do not fit dma-admit={}: {e}",
                            p.name()
                        )));
                    } else if a.refused > 0 && r.engine.bytes.cpu == 0 {
                        failure = Some(StreamFailure::Failed(
                            "refused batches but no CPU bytes".into(),
                        ));
                    }
                }
            }
            if failure.is_none() && (r.engine.bytes.fallback > 0) != (r.engine.failed_channels != 0)
            {
                failure = Some(StreamFailure::Failed(alloc::format!(
                    "{} fallback bytes but failed-channel mask {:#x}: fallback must come from a failed channel",
                    r.engine.bytes.fallback, r.engine.failed_channels
                )));
            }
            if failure.is_none() {
                if let Some(l) = &leak {
                    failure = Some(StreamFailure::Failed(l.clone()));
                }
            }
            match failure {
                Some(StreamFailure::OutOfMemory(e)) => {
                    println!("!!! OUT OF MEMORY in {label}, stream {i}: {e}");
                    o.status = Status::OutOfMemory;
                    o.failure = Some(e);
                    failed = true;
                }
                Some(StreamFailure::Failed(e)) => {
                    println!("!!! VERIFICATION FAILED in {label}, stream {i}: {e}");
                    o.status = Status::VerificationFailed;
                    o.failure = Some(e);
                    failed = true;
                }
                None => {
                    let ns = r.end_ns - r.start_ns;
                    o.record(&specs[i], rep, ns, &r.phases, &r.engine);
                    o.record_latency(
                        rep,
                        Latency {
                            windows: r.windows.clone(),
                            first_mapped: r.first_mapped.clone(),
                        },
                    );
                    if rep > 0 {
                        batch_ns[i].extend_from_slice(&r.batch_ns);
                    }
                    choices[i] = r.choices.clone();
                }
            }
        }
        if failed {
            break 'reps;
        }
        if rep > 0 {
            let t0 = got.iter().map(|r| r.start_ns).min().unwrap_or(0);
            let t1 = got.iter().map(|r| r.end_ns).max().unwrap_or(0);
            let bytes: u64 = specs.iter().map(Spec::bytes).sum();
            total_gbps.push(gbps(bytes, t1.saturating_sub(t0)).unwrap_or(0.0));
            window_us = got
                .iter()
                .map(|r| ((r.start_ns - t0) as f64 / 1e3, (r.end_ns - t0) as f64 / 1e3))
                .collect();
        }
    }
    for (i, o) in outs.iter_mut().enumerate() {
        o.label(&alloc::format!("{label} stream {i}"));
    }
    let means: Option<Vec<f64>> = outs
        .iter()
        .map(|o| {
            kcore::stats::Summary::of(&o.gbps)
                .ok()
                .filter(|_| o.failure.is_none())
                .map(|s| s.mean)
        })
        .collect();
    SetOutcome {
        jain: means.and_then(|m| kcore::streams::jain_index(&m)),
        streams: outs,
        batch_ns,
        choices,
        total_gbps,
        window_us,
        failed_channels,
    }
}
