//! Cells measured side by side: repetition r of every cell runs before repetition r + 1
//! of any, so a change in the machine's speed during the run (other guests, host load)
//! hits every cell alike and their ratios stay meaningful. `bench=efficiency` and the
//! frontier's ratio tables use it.

use super::cell::{one_rep, RepError};
use super::spec::{Outcome, Spec};
use super::totals::Totals;
use crate::migrate::engine::CopyEngine;
use crate::println;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use kcore::honesty::Status;

/// Runs `specs` (each on its engine, `engines[i]` for `specs[i]`, several specs may use
/// the same engine index) interleaved: the warm-up of each, then repetition 1 of each,
/// and so on. A cell that fails stops (its own status) while the others go on. Prints
/// and counts each cell's RESULT line at the end.
pub fn measure(
    specs: &[(Spec, usize)],
    engines: &mut [Box<dyn CopyEngine>],
    progress: &[String],
    totals: &mut Totals,
) -> Vec<Outcome> {
    let mut outs: Vec<Outcome> = specs
        .iter()
        .map(|(_, e)| Outcome::new(engines[*e].as_ref()))
        .collect();
    for (i, (spec, _)) in specs.iter().enumerate() {
        if let Err(e) = super::limits::check(&[spec.need()]) {
            println!("!!! OUT OF MEMORY in {}: {e}; cell not run", progress[i]);
            outs[i].status = Status::OutOfMemory;
            outs[i].failure = Some(alloc::format!("{e}"));
        }
    }
    let reps = specs.iter().map(|(s, _)| s.reps).max().unwrap_or(0);
    for rep in 0..=reps {
        for (i, (spec, e)) in specs.iter().enumerate() {
            if outs[i].failure.is_some() || rep > spec.reps {
                continue;
            }
            let label = if rep == 0 {
                String::from("warm-up")
            } else {
                alloc::format!("rep {rep}/{}", spec.reps)
            };
            println!("  [{}] {label}", progress[i]);
            crate::smp::watchdog::progress();
            match one_rep(spec, engines[*e].as_mut(), rep as u64) {
                Ok((ns, phases, eng, lat)) => {
                    outs[i].record(spec, rep, ns, &phases, &eng);
                    outs[i].record_latency(rep, lat);
                }
                Err(RepError::OutOfMemory(m)) => {
                    println!(
                        "!!! OUT OF MEMORY in {}, {label}: {m}; every folio stayed where it was",
                        progress[i]
                    );
                    outs[i].status = Status::OutOfMemory;
                    outs[i].failure = Some(m);
                }
                Err(RepError::Failed(m)) => {
                    println!("!!! VERIFICATION FAILED in {}, {label}: {m}", progress[i]);
                    outs[i].status = Status::VerificationFailed;
                    outs[i].failure = Some(m);
                }
            }
        }
    }
    for (i, (spec, _)) in specs.iter().enumerate() {
        outs[i].label(&progress[i]);
        println!("{}", super::result::result_line(spec, &outs[i]));
        totals.count(&outs[i]);
    }
    outs
}
