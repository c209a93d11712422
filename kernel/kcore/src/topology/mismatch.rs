//! Why a decoded [`super::Topology`] does not have the [`super::Shape`] the runner asked for.

use alloc::vec::Vec;
use core::fmt;

/// A count of the machine that [`super::Shape::matches`] compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    /// CPUs in the topology.
    Cpus,
    /// Packages.
    Sockets,
    /// Distinct die ids under one package.
    DiesPerSocket,
    /// Distinct core ids under one die.
    CoresPerDie,
    /// CPUs under one core.
    ThreadsPerCore,
    /// L3 domains (sockets × dies: QEMU's die is the L3 domain).
    L3Domains,
    /// NUMA nodes with CPUs (from SRAT).
    NumaNodes,
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cpus => "CPUs",
            Self::Sockets => "sockets",
            Self::DiesPerSocket => "dies per socket",
            Self::CoresPerDie => "cores per die",
            Self::ThreadsPerCore => "threads per core",
            Self::L3Domains => "L3 domains",
            Self::NumaNodes => "NUMA nodes",
        })
    }
}

/// One count that differs: the first parent (socket, die, core) found with another count
/// for the per-parent ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Which count.
    pub count: Count,
    /// What the shape says.
    pub expected: u64,
    /// What the topology has.
    pub found: u64,
}

/// Every way a topology differs from a shape, in the order [`super::Shape::matches`] checks
/// (CPUs, sockets, dies, cores, threads, L3 domains, NUMA nodes). Never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeMismatch {
    /// The counts that differ.
    pub mismatches: Vec<Mismatch>,
    /// The shape has more than one die per socket but CPUID has no cache leaf to see them
    /// ([`super::L3Source::Unknown`], e.g. QEMU `-cpu max`, which lacks the AMD leaves
    /// 0x8000001D/0x8000001E: shared/reference/qemu-topology.md).
    pub dies_unseen: bool,
}

impl fmt::Display for ShapeMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.mismatches.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "expected {} {}, found {}", m.expected, m.count, m.found)?;
        }
        if self.dies_unseen {
            f.write_str(" (CPUID has no die/L3 leaves, e.g. -cpu max: dies cannot be seen)")?;
        }
        Ok(())
    }
}
