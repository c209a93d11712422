//! The multi-threaded CPU copy engine: N worker CPUs chosen by a placement policy
//! (spread over CCDs, fill one CCD, the source or destination node, or a list), each
//! copying its share of the batch with the boot-chosen routine, in one dispatch round.
//! The split follows the RFC's mtcopy: whole folios dealt out in blocks, or every folio
//! cut into N pieces when there are fewer folios than workers.

use super::{cpu, cpu_outcome, CopyEngine, CopyOutcome};
use crate::migrate::error::{EngineError, SetupError};
use crate::mm::copy::{CopyBatch, CopyShare};
use crate::smp;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use kcore::migrate::mt_split;
use kcore::placement::Policy;
use spin::Mutex;

/// N CPUs copying together.
#[derive(Debug)]
pub struct CpuMtEngine {
    cpus: Vec<usize>,
    placement: String,
}

impl CpuMtEngine {
    /// `threads` workers placed by `policy` for a move from `from` to `to`.
    ///
    /// # Errors
    /// [`SetupError::Placement`] when the machine cannot satisfy the policy (too few
    /// CPUs, unknown CPUs in a list).
    pub fn new(threads: usize, policy: &Policy, from: u32, to: u32) -> Result<Self, SetupError> {
        let cpus = smp::placement::cpus_for(policy, threads, from, to, &[]).map_err(|error| {
            SetupError::Placement {
                policy: policy.to_string(),
                threads,
                error,
            }
        })?;
        Ok(Self {
            cpus,
            placement: String::from(policy.name()),
        })
    }

    /// The worker CPUs, in placement order.
    pub fn cpus(&self) -> &[usize] {
        &self.cpus
    }
}

impl CopyEngine for CpuMtEngine {
    fn name(&self) -> &'static str {
        kcore::cmdline::Engine::CpuMt.name()
    }

    fn width(&self) -> usize {
        self.cpus.len()
    }

    fn placement(&self) -> &str {
        &self.placement
    }

    fn copy(&mut self, batch: &mut CopyBatch<'_>) -> Result<CopyOutcome, EngineError> {
        copy_on(&self.cpus, batch)?;
        Ok(cpu_outcome(batch.ops()))
    }
}

/// Copies `batch` on `cpus` (one dispatch round; returns when every worker is done),
/// split by the RFC's mtcopy rule.
///
/// # Errors
/// [`EngineError::Copy`] when the split is refused (nothing copied) or a worker's routine
/// is unavailable.
pub fn copy_on(cpus: &[usize], batch: &mut CopyBatch<'_>) -> Result<(), EngineError> {
    let lens: Vec<u64> = batch.ops().iter().map(|o| o.len).collect();
    let shares = batch
        .share(mt_split(&lens, cpus.len()))
        .map_err(EngineError::Copy)?;
    run_shares(cpus, shares)
}

/// Runs share `k` on `cpus[k]`, all in one dispatch round.
///
/// # Errors
/// [`EngineError::Copy`] with the first worker's refusal.
pub fn run_shares(cpus: &[usize], shares: Vec<CopyShare<'_>>) -> Result<(), EngineError> {
    // Each worker takes its share out once: a share is copied by exactly one CPU.
    let slots: Vec<Mutex<Option<CopyShare<'_>>>> =
        shares.into_iter().map(|s| Mutex::new(Some(s))).collect();
    let routine = cpu::routine();
    smp::dispatch::run_on(cpus, |c| {
        let k = cpus.iter().position(|&x| x == c)?;
        let share = slots.get(k)?.lock().take()?;
        share.copy(routine).err()
    })
    .into_iter()
    .flatten()
    .next()
    .map_or(Ok(()), |e| Err(EngineError::Copy(e)))
}
