//! Which CPUs the multi-threaded copy engine (`cpu-mt`) runs its workers on (DESIGN.md §4).
//!
//! - [`Policy`]: `spread` (round-robin over L3 domains, i.e. CCDs), `fill` (one L3 domain
//!   first), `src` / `dst` (CPUs of the source / destination node, spread over its L3 domains),
//!   `list:0,2,5` (explicit). [`Policy::parse`] reads the command-line form.
//! - [`place`]: the CPUs for `n` workers, or a [`PlacementError`] saying why not.
//!
//! Source facts (shared/reference/ptdma-facts.md §7.4): the RFC's `cpuselect=0` puts one thread
//! per CCD (CPUs 0, 8, 16, …) and `cpuselect=1` fills a die (0, 1, 2, …); spreading 16 threads
//! over CCDs gave 36–37 GB/s against 17.9 GB/s filling one CCD first. Zi Yan's version takes the
//! first CPUs of the source ("push") or destination ("pull") node. Both policies here also take
//! physical cores before SMT siblings, since siblings share the core's load/store bandwidth.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::topology::{CpuTopo, Topology};

/// How worker CPUs are chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Round-robin over all L3 domains; physical cores before SMT siblings.
    Spread,
    /// Fill one L3 domain before the next; physical cores before SMT siblings.
    Fill,
    /// CPUs of the source node, spread over its L3 domains ("push").
    Src,
    /// CPUs of the destination node, spread over its L3 domains ("pull").
    Dst,
    /// Exactly these kernel CPU indices, in this order (the first `n` are used).
    List(Vec<usize>),
}

/// Why a policy string was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyParseError {
    /// Not one of the known policy names.
    Unknown(String),
    /// `list:` with nothing after it.
    EmptyList,
    /// A list element that is not a CPU number or `lo-hi` range.
    BadCpu(String),
}

impl fmt::Display for PolicyParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(s) => write!(
                f,
                "unknown placement '{s}' (accepted: spread, fill, src, dst, list:<cpus> e.g. list:0,2,4-7)"
            ),
            Self::EmptyList => write!(f, "placement list is empty (e.g. list:0,2,4-7)"),
            Self::BadCpu(s) => write!(
                f,
                "bad CPU '{s}' in placement list (expected a number or lo-hi range)"
            ),
        }
    }
}

/// Largest range a `lo-hi` list element may expand to (guards against `list:0-4000000000`).
const MAX_LIST: usize = 4096;

impl Policy {
    /// Parses `spread`, `fill`, `src`, `dst` or `list:<cpus>` where `<cpus>` is a comma-separated
    /// list of numbers and `lo-hi` ranges.
    ///
    /// # Errors
    /// [`PolicyParseError::Unknown`] for a word other than the four names and not starting
    /// with `list:`; [`PolicyParseError::EmptyList`] for `list:` with nothing after it;
    /// [`PolicyParseError::BadCpu`] with the element that is not a number or `lo-hi` range, has
    /// `lo > hi`, or would make the list reach `MAX_LIST` (4096) CPUs.
    pub fn parse(s: &str) -> Result<Self, PolicyParseError> {
        match s.trim() {
            "spread" => Ok(Self::Spread),
            "fill" => Ok(Self::Fill),
            "src" => Ok(Self::Src),
            "dst" => Ok(Self::Dst),
            other => match other.strip_prefix("list:") {
                Some(list) => parse_list(list).map(Self::List),
                None => Err(PolicyParseError::Unknown(other.to_string())),
            },
        }
    }

    /// Short name for reports (`list` for explicit lists).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Spread => "spread",
            Self::Fill => "fill",
            Self::Src => "src",
            Self::Dst => "dst",
            Self::List(_) => "list",
        }
    }
}

impl core::str::FromStr for Policy {
    type Err = PolicyParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self::List(cpus) = self else {
            return f.write_str(self.name());
        };
        f.write_str("list:")?;
        for (i, c) in cpus.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(f, "{sep}{c}")?;
        }
        Ok(())
    }
}

fn parse_list(list: &str) -> Result<Vec<usize>, PolicyParseError> {
    if list.trim().is_empty() {
        return Err(PolicyParseError::EmptyList);
    }
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim) {
        let bad = || PolicyParseError::BadCpu(item.to_string());
        let num = |s: &str| s.trim().parse::<usize>().map_err(|_| bad());
        let (lo, hi) = match item.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(item)?, num(item)?),
        };
        if lo > hi || hi - lo >= MAX_LIST || out.len() + (hi - lo) >= MAX_LIST {
            return Err(bad());
        }
        out.extend(lo..=hi);
    }
    Ok(out)
}

/// Why no placement could be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlacementError {
    /// Zero workers were asked for.
    ZeroThreads,
    /// More workers than eligible CPUs.
    NotEnoughCpus {
        /// Workers asked for.
        requested: usize,
        /// Eligible CPUs under the policy.
        available: usize,
        /// Policy name.
        policy: &'static str,
    },
    /// A listed CPU does not exist.
    UnknownCpu(usize),
    /// A CPU is listed twice.
    DuplicateCpu(usize),
    /// A listed CPU is in the exclude set.
    ExcludedCpu(usize),
    /// The node has no eligible CPUs.
    EmptyNode(u32),
}

impl fmt::Display for PlacementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroThreads => write!(f, "at least one worker thread is needed"),
            Self::NotEnoughCpus {
                requested,
                available,
                policy,
            } => write!(
                f,
                "{requested} threads requested but placement {policy} has only {available} eligible CPUs"
            ),
            Self::UnknownCpu(c) => write!(f, "CPU {c} in the placement list does not exist"),
            Self::DuplicateCpu(c) => write!(f, "CPU {c} appears twice in the placement list"),
            Self::ExcludedCpu(c) => write!(f, "CPU {c} in the placement list is reserved"),
            Self::EmptyNode(n) => write!(f, "NUMA node {n} has no eligible CPUs"),
        }
    }
}

/// Chooses CPUs (kernel indices) for `n` copy workers moving from `src_node` to `dst_node`,
/// never using a CPU in `exclude` (e.g. the coordinating boot CPU). The result is in the order
/// the policy prefers; the first `k` of a placement for `n` are the placement for `k`.
///
/// # Errors
/// [`PlacementError::ZeroThreads`] for `n` = 0. For a `list` policy, checked in list
/// order: [`PlacementError::UnknownCpu`] (not in `topo`), [`PlacementError::DuplicateCpu`],
/// [`PlacementError::ExcludedCpu`] (in `exclude`). For `src`/`dst`,
/// [`PlacementError::EmptyNode`] when the node has no CPU outside `exclude`. For every policy,
/// [`PlacementError::NotEnoughCpus`] when fewer than `n` CPUs are eligible.
pub fn place(
    topo: &Topology,
    policy: &Policy,
    n: usize,
    src_node: u32,
    dst_node: u32,
    exclude: &[usize],
) -> Result<Vec<usize>, PlacementError> {
    if n == 0 {
        return Err(PlacementError::ZeroThreads);
    }
    let eligible = |c: &&CpuTopo| !exclude.contains(&c.cpu);
    let order = match policy {
        Policy::List(cpus) => return from_list(topo, cpus, n, exclude),
        Policy::Spread => spread_order(topo.cpus().iter().filter(eligible).collect()),
        Policy::Fill => fill_order(topo.cpus().iter().filter(eligible).collect()),
        Policy::Src | Policy::Dst => {
            let node = if *policy == Policy::Src {
                src_node
            } else {
                dst_node
            };
            let on_node: Vec<&CpuTopo> = topo
                .cpus()
                .iter()
                .filter(eligible)
                .filter(|c| c.node == node)
                .collect();
            if on_node.is_empty() {
                return Err(PlacementError::EmptyNode(node));
            }
            spread_order(on_node)
        }
    };
    take(order, n, policy.name())
}

fn take(order: Vec<usize>, n: usize, policy: &'static str) -> Result<Vec<usize>, PlacementError> {
    if n > order.len() {
        return Err(PlacementError::NotEnoughCpus {
            requested: n,
            available: order.len(),
            policy,
        });
    }
    Ok(order[..n].to_vec())
}

fn from_list(
    topo: &Topology,
    cpus: &[usize],
    n: usize,
    exclude: &[usize],
) -> Result<Vec<usize>, PlacementError> {
    for (i, &c) in cpus.iter().enumerate() {
        if topo.cpu(c).is_none() {
            return Err(PlacementError::UnknownCpu(c));
        }
        if cpus[..i].contains(&c) {
            return Err(PlacementError::DuplicateCpu(c));
        }
        if exclude.contains(&c) {
            return Err(PlacementError::ExcludedCpu(c));
        }
    }
    take(cpus.to_vec(), n, "list")
}

/// One L3 domain at a time; inside it, every core's first thread before any second thread.
/// The thread rank is the CPU's SMT index, so the sibling of an excluded CPU still counts as
/// a sibling (its core is busy).
fn fill_order(mut cpus: Vec<&CpuTopo>) -> Vec<usize> {
    cpus.sort_unstable_by_key(|c| (c.l3, c.smt, c.core, c.cpu));
    cpus.iter().map(|c| c.cpu).collect()
}

/// Round-robin over L3 domains: the k-th pick of every domain comes before any (k+1)-th, and
/// all first threads of cores (machine-wide) come before any sibling.
fn spread_order(mut cpus: Vec<&CpuTopo>) -> Vec<usize> {
    cpus.sort_unstable_by_key(|c| (c.l3, c.smt, c.core, c.cpu));
    // Position of each CPU among its domain's CPUs of the same SMT rank.
    let mut keyed: Vec<(u32, usize, u32, usize)> = Vec::with_capacity(cpus.len());
    for (i, c) in cpus.iter().enumerate() {
        let pos = match (i.checked_sub(1).map(|j| cpus[j]), keyed.last()) {
            (Some(p), Some(k)) if p.l3 == c.l3 && p.smt == c.smt => k.1 + 1,
            _ => 0,
        };
        keyed.push((c.smt, pos, c.l3, c.cpu));
    }
    keyed.sort_unstable();
    keyed.iter().map(|k| k.3).collect()
}

#[cfg(test)]
mod tests;
