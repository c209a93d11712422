//! The migration engine: the RFC's design on bare metal. A [`workload::Workload`] holds
//! folios of one mTHP size mapped in their own address space on a source node;
//! [`pipeline::migrate`] moves them to another node in four timed phases (prepare,
//! unmap + one TLB flush, copy through an [`engine::CopyEngine`], remap + free), either
//! per folio (stock Linux) or per batch (the RFC), and the workload verifies every byte
//! and every frame afterwards.

pub mod engine;
pub mod error;
pub mod pipeline;
pub mod rawcopy;
pub mod runstats;
pub mod workload;

/// How the four phases are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Each phase over the whole batch (the RFC's `migrate_folios_batch_move`).
    Batched,
    /// All four phases for one folio before the next (stock `migrate_pages`).
    PerFolio,
}

impl Mode {
    /// The name used on the command line and in RESULT lines.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Batched => "batched",
            Mode::PerFolio => "per-folio",
        }
    }

    /// Parses `batched` / `per-folio`.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "batched" => Some(Mode::Batched),
            "per-folio" => Some(Mode::PerFolio),
            _ => None,
        }
    }
}
