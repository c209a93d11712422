//! One benchmark cell: a warm-up and `reps` measured repetitions of the same
//! migration (or raw copy), each on a freshly created and filled workload, each
//! verified byte for byte and checked for leaked frames. Any failure stops the cell
//! and marks it unverified; it is never reported as a number.

use super::spec::{Kind, Latency, Outcome, Spec};
use crate::arch::tsc;
use crate::migrate::engine::{CopyEngine, CopyOutcome};
use crate::migrate::error::MigrateError;
use crate::migrate::pipeline::{self, PhaseNs};
use crate::migrate::workload::Workload;
use crate::mm::frames;
use crate::println;
use alloc::string::String;
use kcore::honesty::Status;

/// Runs a cell. `progress` is printed before each repetition.
pub fn run(spec: &Spec, engine: &mut dyn CopyEngine, progress: &str) -> Outcome {
    let mut out = Outcome::new(engine);
    // The run's plan was checked before its first cell; this is the net under it, for
    // a cell whose shape the plan did not foresee: no work, its own status.
    if let Err(e) = super::limits::check(&[spec.need()]) {
        println!("!!! OUT OF MEMORY in {progress}: {e}; cell not run");
        out.status = Status::OutOfMemory;
        out.failure = Some(alloc::format!("{e}"));
        return out;
    }
    let start = tsc::now_ns();
    for rep in 0..=spec.reps {
        let label = if rep == 0 {
            String::from("warm-up")
        } else {
            alloc::format!("rep {rep}/{}", spec.reps)
        };
        println!(
            "  [{progress}] {label} ({:.1} s)",
            (tsc::now_ns() - start) as f64 / 1e9
        );
        crate::smp::watchdog::progress();
        match one_rep(spec, engine, rep as u64) {
            Ok((ns, phases, eng, lat)) => {
                out.record(spec, rep, ns, &phases, &eng);
                out.record_latency(rep, lat);
            }
            Err(RepError::OutOfMemory(e)) => {
                println!("!!! OUT OF MEMORY in {progress}, {label}: {e}; every folio stayed where it was");
                out.status = Status::OutOfMemory;
                out.failure = Some(e);
                return out;
            }
            Err(RepError::Failed(e)) => {
                println!("!!! VERIFICATION FAILED in {progress}, {label}: {e}");
                out.status = Status::VerificationFailed;
                out.failure = Some(e);
                return out;
            }
        }
    }
    out.label(progress);
    out
}

/// Why a repetition produced no number.
pub(super) enum RepError {
    /// Frames ran out (the workload was rolled back).
    OutOfMemory(String),
    /// Data, frames or the engine did not check out.
    Failed(String),
}

impl From<MigrateError> for RepError {
    fn from(e: MigrateError) -> Self {
        if e.is_out_of_memory() {
            RepError::OutOfMemory(alloc::format!("{e}"))
        } else {
            RepError::Failed(alloc::format!("{e}"))
        }
    }
}

pub(super) fn one_rep(
    spec: &Spec,
    engine: &mut dyn CopyEngine,
    rep: u64,
) -> Result<(u64, PhaseNs, CopyOutcome, Latency), RepError> {
    let frames_before = frames::frames_in_use();
    let seed = tsc::rdtsc() ^ (rep << 48) ^ spec.order as u64;
    let mut w = match spec.mix_orders() {
        Some(orders) => Workload::create_mixed(spec.from, &orders, seed)?,
        None => Workload::create(spec.from, spec.order, spec.folios, seed)?,
    };
    let result: Result<(u64, PhaseNs, CopyOutcome, Latency), RepError> = match spec.kind {
        Kind::Migrate(mode) => {
            match pipeline::migrate(&mut w, spec.to, engine, mode, spec.batch_pages) {
                Ok(s) => w
                    .verify(spec.to)
                    .map(|()| {
                        let lat = Latency {
                            windows: s.windows,
                            first_mapped: s.first_mapped,
                        };
                        (s.phases.total(), s.phases, s.engine, lat)
                    })
                    .map_err(|e| RepError::Failed(alloc::format!("{e}"))),
                Err(e) => {
                    // Rolled back: the workload must still be whole, wherever it is.
                    let intact = w.verify_intact(spec.from, spec.to);
                    match (RepError::from(e), intact) {
                        (r, Ok(_)) => Err(r),
                        (_, Err(bad)) => Err(RepError::Failed(alloc::format!(
                            "rollback left the workload damaged: {bad}"
                        ))),
                    }
                }
            }
        }
        Kind::RawCopy => match pipeline::raw_copy(&w, spec.to, engine, spec.batch_pages) {
            Ok((ns, o)) => Ok((
                ns,
                PhaseNs {
                    copy: ns,
                    ..PhaseNs::default()
                },
                o,
                Latency::default(),
            )),
            Err(e) => Err(e.into()),
        },
    };
    let destroyed = w.destroy();
    let r = result?;
    destroyed?;
    let frames_after = frames::frames_in_use();
    if frames_after != frames_before {
        return Err(RepError::Failed(alloc::format!(
            "frame leak: {frames_before} frames in use before, {frames_after} after"
        )));
    }
    Ok(r)
}
