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

/// How the four phases are ordered (`mode=`, parsed in kcore).
pub use kcore::cmdline::Mode;
