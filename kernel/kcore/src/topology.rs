//! CPU topology: package / die / L3 domain / core / SMT thread, plus NUMA node, per CPU.
//!
//! - [`decode`] turns one CPU's CPUID answers (a [`CpuidSource`]: real `cpuid` in the kernel,
//!   recorded tables in tests) into a [`CpuIdent`] of raw ids.
//! - [`Topology::from_idents`] combines every CPU's ident with its NUMA node (from SRAT; CPUID
//!   does not know it) into dense, machine-wide ids ([`CpuTopo`]).
//! - [`Shape`] / [`parse_shape`] describe a `sockets x dies x cores x threads` machine, build a
//!   synthetic [`Topology`] for tests, and check a decoded one against what the QEMU runner asked
//!   for (`expect-topo=2s2d2c1t`).
//!
//! Facts followed (shared/reference/qemu-topology.md, QEMU 7.2 TCG): TOPOEXT is masked under
//! TCG although leaves 0x8000001D/0x8000001E answer correctly, so AMD leaves are gated on the
//! vendor and the max extended leaf, never on the TOPOEXT bit; 0x8000001E NodeId is a die, not a
//! NUMA node; the L3 domain is `apic_id >> log2ceil(L3 sharing count)`; `-cpu max` lacks the AMD
//! leaves, so the package stands in for the L3 domain ([`L3Source::Unknown`]).

use alloc::vec::Vec;
use core::fmt;

mod decode;
mod mismatch;
mod shape;

pub use decode::{decode, CpuIdent, LevelSource, Vendor};
pub use mismatch::{Count, Mismatch, ShapeMismatch};
pub use shape::{parse_shape, NodeMap, Shape, ShapeError, MAX_SHAPE_CPUS};

/// The four registers one `cpuid` instruction returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuidRegs {
    /// EAX.
    pub eax: u32,
    /// EBX.
    pub ebx: u32,
    /// ECX.
    pub ecx: u32,
    /// EDX.
    pub edx: u32,
}

/// Something that answers `cpuid(leaf, subleaf)` for one CPU.
pub trait CpuidSource {
    /// The registers for `leaf` / `subleaf` (ECX input).
    fn cpuid(&self, leaf: u32, subleaf: u32) -> CpuidRegs;
}

impl<F: Fn(u32, u32) -> CpuidRegs> CpuidSource for F {
    fn cpuid(&self, leaf: u32, subleaf: u32) -> CpuidRegs {
        self(leaf, subleaf)
    }
}

/// Where the L3 domains came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L3Source {
    /// AMD leaf 0x8000001D, cache level 3.
    Amd8000001D,
    /// Intel leaf 4, cache level 3.
    IntelLeaf4,
    /// No cache leaf: each package is taken as one L3 domain.
    Unknown,
    /// Built from a [`Shape`] (one L3 domain per die).
    Synthetic,
}

/// One CPU's place in the machine. Ids other than `cpu`, `apic_id` and `smt` are dense
/// (0..count) and unique machine-wide, numbered in APIC ID order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuTopo {
    /// Kernel CPU index (MADT order).
    pub cpu: usize,
    /// x2APIC (or xAPIC) ID.
    pub apic_id: u32,
    /// Package (socket).
    pub package: u32,
    /// Die (QEMU die, AMD node of 0x8000001E, or the package when unknown).
    pub die: u32,
    /// L3 domain (CCD/CCX on AMD).
    pub l3: u32,
    /// Physical core.
    pub core: u32,
    /// Thread index within its core (0 for the first sibling).
    pub smt: u32,
    /// NUMA node (SRAT proximity domain, as the kernel numbers it).
    pub node: u32,
}

/// One CPU's input to [`Topology::from_idents`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuEntry {
    /// Kernel CPU index.
    pub cpu: usize,
    /// What CPUID said on that CPU.
    pub ident: CpuIdent,
    /// Its NUMA node from SRAT (0 when there is no SRAT).
    pub node: u32,
}

/// Why CPU idents could not be combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopoError {
    /// No CPUs.
    Empty,
    /// A kernel CPU index appears twice.
    DuplicateCpu(usize),
    /// Two CPUs report the same APIC ID.
    DuplicateApic(u32),
    /// CPUs disagree on where their L3 domain came from (the CPU index that differs).
    MixedL3Source(usize),
}

impl fmt::Display for TopoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "no CPUs"),
            Self::DuplicateCpu(c) => write!(f, "CPU index {c} listed twice"),
            Self::DuplicateApic(a) => write!(f, "APIC ID {a:#x} reported by two CPUs"),
            Self::MixedL3Source(c) => write!(f, "CPU {c} found its L3 cache differently"),
        }
    }
}

/// The machine's CPUs, sorted by kernel index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    cpus: Vec<CpuTopo>,
    l3_source: L3Source,
}

impl Topology {
    /// Combines per-CPU idents into dense machine-wide ids. Raw die/L3/core ids are qualified
    /// by package (and core by die and L3) so they stay distinct whatever their source.
    ///
    /// # Errors
    /// [`TopoError::Empty`] for no entries; [`TopoError::DuplicateCpu`] with the lowest kernel
    /// index listed twice; [`TopoError::DuplicateApic`] with the lowest APIC ID two CPUs report;
    /// [`TopoError::MixedL3Source`] with the first CPU (by index) whose L3 source differs from
    /// the first entry's.
    pub fn from_idents(entries: &[CpuEntry]) -> Result<Self, TopoError> {
        let first = entries.first().ok_or(TopoError::Empty)?;
        let mut sorted: Vec<CpuEntry> = entries.to_vec();
        sorted.sort_unstable_by_key(|e| e.cpu);
        if let Some(w) = sorted.windows(2).find(|w| w[0].cpu == w[1].cpu) {
            return Err(TopoError::DuplicateCpu(w[0].cpu));
        }
        let mut apics: Vec<u32> = sorted.iter().map(|e| e.ident.apic_id).collect();
        apics.sort_unstable();
        if let Some(w) = apics.windows(2).find(|w| w[0] == w[1]) {
            return Err(TopoError::DuplicateApic(w[0]));
        }
        let src = first.ident.l3_source;
        if let Some(e) = sorted.iter().find(|e| e.ident.l3_source != src) {
            return Err(TopoError::MixedL3Source(e.cpu));
        }
        let ids = |key: fn(&CpuIdent) -> (u32, u32, u32, u32)| {
            dense_ranks(sorted.iter().map(|e| key(&e.ident)).collect())
        };
        let pkg = ids(|i| (i.package, 0, 0, 0));
        let die = ids(|i| (i.package, i.die, 0, 0));
        let l3 = ids(|i| (i.package, i.l3, 0, 0));
        let core = ids(|i| (i.package, i.die, i.l3, i.core));
        let mut cpus: Vec<CpuTopo> = sorted
            .iter()
            .enumerate()
            .map(|(k, e)| CpuTopo {
                cpu: e.cpu,
                apic_id: e.ident.apic_id,
                package: pkg[k],
                die: die[k],
                l3: l3[k],
                core: core[k],
                smt: 0,
                node: e.node,
            })
            .collect();
        number_threads(&mut cpus);
        Ok(Self {
            cpus,
            l3_source: src,
        })
    }

    /// Wraps CPUs whose ids are already dense (used by [`Shape::build`]).
    fn from_dense(mut cpus: Vec<CpuTopo>, l3_source: L3Source) -> Self {
        cpus.sort_unstable_by_key(|c| c.cpu);
        Self { cpus, l3_source }
    }

    /// All CPUs, sorted by kernel index.
    pub fn cpus(&self) -> &[CpuTopo] {
        &self.cpus
    }

    /// The CPU with kernel index `cpu`.
    pub fn cpu(&self, cpu: usize) -> Option<&CpuTopo> {
        let i = self.cpus.binary_search_by_key(&cpu, |c| c.cpu).ok()?;
        self.cpus.get(i)
    }

    /// Number of CPUs.
    pub fn len(&self) -> usize {
        self.cpus.len()
    }

    /// Whether there are no CPUs.
    pub fn is_empty(&self) -> bool {
        self.cpus.is_empty()
    }

    /// Where the L3 domains came from.
    pub fn l3_source(&self) -> L3Source {
        self.l3_source
    }

    /// Number of packages.
    pub fn packages(&self) -> usize {
        self.distinct(|c| c.package).len()
    }

    /// Number of dies (machine-wide).
    pub fn dies(&self) -> usize {
        self.distinct(|c| c.die).len()
    }

    /// Number of L3 domains (machine-wide).
    pub fn l3_domains(&self) -> usize {
        self.distinct(|c| c.l3).len()
    }

    /// Number of physical cores (machine-wide).
    pub fn cores(&self) -> usize {
        self.distinct(|c| c.core).len()
    }

    /// Number of NUMA nodes that have CPUs.
    pub fn nodes(&self) -> usize {
        self.node_ids().len()
    }

    /// Sorted NUMA node ids that have CPUs.
    pub fn node_ids(&self) -> Vec<u32> {
        self.distinct(|c| c.node)
    }

    /// Sorted L3 domain ids.
    pub fn l3_ids(&self) -> Vec<u32> {
        self.distinct(|c| c.l3)
    }

    /// Kernel indices of the CPUs of NUMA node `node`.
    pub fn cpus_of_node(&self, node: u32) -> Vec<usize> {
        self.select(|c| c.node == node)
    }

    /// Kernel indices of the CPUs sharing L3 domain `l3`.
    pub fn cpus_of_l3(&self, l3: u32) -> Vec<usize> {
        self.select(|c| c.l3 == l3)
    }

    /// Prints package → die → L3 → core → cpu as an indented tree.
    ///
    /// # Errors
    /// Only the [`fmt::Error`] of `out`, passed on from the first write that fails.
    pub fn render_tree(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let mut order: Vec<&CpuTopo> = self.cpus.iter().collect();
        order.sort_unstable_by_key(|c| (c.package, c.die, c.l3, c.core, c.smt));
        let mut prev: Option<&CpuTopo> = None;
        for c in order {
            let new_pkg = prev.is_none_or(|p| p.package != c.package);
            let new_die = new_pkg || prev.is_some_and(|p| p.die != c.die);
            let new_l3 = new_die || prev.is_some_and(|p| p.l3 != c.l3);
            let new_core = new_l3 || prev.is_some_and(|p| p.core != c.core);
            if new_pkg {
                writeln!(out, "package {}", c.package)?;
            }
            if new_die {
                writeln!(out, "  die {}", c.die)?;
            }
            if new_l3 {
                writeln!(out, "    l3 {}", c.l3)?;
            }
            if new_core {
                writeln!(out, "      core {}", c.core)?;
            }
            writeln!(
                out,
                "        cpu {} apic {:#x} smt {} node {}",
                c.cpu, c.apic_id, c.smt, c.node
            )?;
            prev = Some(c);
        }
        Ok(())
    }

    fn distinct(&self, f: impl Fn(&CpuTopo) -> u32) -> Vec<u32> {
        let mut v: Vec<u32> = self.cpus.iter().map(f).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    fn select(&self, f: impl Fn(&CpuTopo) -> bool) -> Vec<usize> {
        self.cpus.iter().filter(|c| f(c)).map(|c| c.cpu).collect()
    }
}

/// Replaces each key by its rank among the distinct keys (dense ids in key order).
fn dense_ranks<K: Ord + Copy>(keys: Vec<K>) -> Vec<u32> {
    let mut uniq = keys.clone();
    uniq.sort_unstable();
    uniq.dedup();
    keys.iter()
        .map(|k| uniq.binary_search(k).unwrap_or(0) as u32)
        .collect()
}

/// Sets `smt` to each CPU's rank by APIC ID among the CPUs of its core.
fn number_threads(cpus: &mut [CpuTopo]) {
    let mut by_core: Vec<(u32, u32, usize)> = cpus
        .iter()
        .enumerate()
        .map(|(i, c)| (c.core, c.apic_id, i))
        .collect();
    by_core.sort_unstable();
    let mut rank = 0;
    for k in 0..by_core.len() {
        rank = if k > 0 && by_core[k - 1].0 == by_core[k].0 {
            rank + 1
        } else {
            0
        };
        cpus[by_core[k].2].smt = rank;
    }
}

/// ceil(log2(n)), 0 for n <= 1: the APIC ID bits a field of n values occupies.
pub fn log2ceil(n: u32) -> u32 {
    if n <= 1 {
        0
    } else {
        32 - (n - 1).leading_zeros()
    }
}

#[cfg(test)]
mod tests;
