//! The multi-threaded CPU copy engine: N worker CPUs chosen by a placement policy
//! (spread over CCDs, fill one CCD, the source or destination node, or a list), each
//! copying its share of the batch with the boot-chosen routine, in one dispatch round.
//! The split follows the RFC's mtcopy: whole folios dealt out in blocks, or every folio
//! cut into N pieces when there are fewer folios than workers.

use super::{cpu, cpu_outcome, CopyEngine, CopyOutcome};
use crate::migrate::error::{EngineError, SetupError};
use crate::smp;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use kcore::migrate::mt_split;
use kcore::placement::Policy;
use ptdma::{CopyOp, DmaAddr};

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

    fn copy(&mut self, ops: &[CopyOp]) -> Result<CopyOutcome, EngineError> {
        copy_on(&self.cpus, ops);
        Ok(cpu_outcome(ops))
    }
}

/// Copies `ops` on `cpus` (one dispatch round; returns when every worker is done).
pub fn copy_on(cpus: &[usize], ops: &[CopyOp]) {
    let lens: Vec<u64> = ops.iter().map(|o| o.len).collect();
    let shares: Vec<Vec<CopyOp>> = mt_split(&lens, cpus.len())
        .into_iter()
        .map(|pieces| {
            pieces
                .into_iter()
                .map(|p| CopyOp {
                    src: DmaAddr::new(ops[p.op].src.as_u64() + p.offset),
                    dst: DmaAddr::new(ops[p.op].dst.as_u64() + p.offset),
                    len: p.len,
                })
                .collect()
        })
        .collect();
    smp::dispatch::run_on(cpus, |cpu| {
        if let Some(k) = cpus.iter().position(|&c| c == cpu) {
            cpu::copy_ops(&shares[k]);
        }
    });
}
