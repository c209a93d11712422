//! Machine shapes like `2s2d2c1t`: parse, build a synthetic [`Topology`], check a real one.
//!
//! The synthetic machine follows QEMU 7.2's layout: CPU index runs over socket, die, core,
//! thread (siblings adjacent); APIC ID fields are ceil(log2) bits wide, so non-power-of-two
//! counts leave gaps (`dies=2,cores=3` gives 0,1,2,4,5,6); each die is one L3 domain.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::mismatch::{Count, Mismatch, ShapeMismatch};
use super::{log2ceil, CpuTopo, L3Source, Topology};

/// Largest CPU count a shape may describe (keeps synthetic topologies small and ids in u32).
pub const MAX_SHAPE_CPUS: u32 = 1 << 16;

/// A regular machine: `sockets x dies x cores x threads`, optionally with a NUMA node count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Packages.
    pub sockets: u32,
    /// Dies (L3 domains) per package.
    pub dies: u32,
    /// Cores per die.
    pub cores: u32,
    /// Threads per core.
    pub threads: u32,
    /// NUMA nodes with CPUs, when the shape states it (`2n`).
    pub nodes: Option<u32>,
}

/// How a synthetic machine's CPUs map to NUMA nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeMap {
    /// Everything on node 0.
    Single,
    /// Node = socket.
    PerSocket,
    /// Node = die (like QEMU `-numa cpu,node-id=N,socket-id=S,die-id=D`, NPS4-like).
    PerDie,
    /// CPUs split into this many equal contiguous index ranges (like `-numa node,cpus=lo-hi`).
    Contiguous(u32),
    /// One node per CPU, by index.
    Explicit(Vec<u32>),
}

/// Why a shape string or node map was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShapeError {
    /// The string is empty.
    Empty,
    /// A letter other than s, d, c, t, n.
    UnknownField(char),
    /// A letter without a number before it.
    MissingNumber(char),
    /// The same letter twice.
    Repeated(char),
    /// Digits at the end with no letter.
    TrailingNumber,
    /// A count of zero or one that does not fit.
    BadCount(char),
    /// More than [`MAX_SHAPE_CPUS`] CPUs.
    TooLarge,
    /// A node map that does not fit the shape.
    BadNodeMap(String),
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const FORM: &str =
            "expected e.g. 2s2d2c1t (sockets, dies, cores, threads; optional Nn nodes)";
        match self {
            Self::Empty => write!(f, "empty shape; {FORM}"),
            Self::UnknownField(c) => write!(f, "unknown field '{c}' in shape; {FORM}"),
            Self::MissingNumber(c) => write!(f, "no count before '{c}' in shape; {FORM}"),
            Self::Repeated(c) => write!(f, "field '{c}' given twice in shape"),
            Self::TrailingNumber => write!(f, "number without a field letter; {FORM}"),
            Self::BadCount(c) => write!(f, "count for '{c}' must be 1 or more and fit in u32"),
            Self::TooLarge => write!(f, "shape has more than {MAX_SHAPE_CPUS} CPUs"),
            Self::BadNodeMap(m) => write!(f, "node map: {m}"),
        }
    }
}

/// Parses `<n>s<n>d<n>c<n>t[<n>n]` in any order; missing fields default to 1 (nodes to unstated).
///
/// # Errors
/// [`ShapeError::Empty`] for a blank string; [`ShapeError::UnknownField`] for a letter
/// other than s, d, c, t, n; [`ShapeError::MissingNumber`] for a letter without a count
/// before it; [`ShapeError::Repeated`] for a letter given twice; [`ShapeError::BadCount`]
/// for a count of 0 or above `u32::MAX`; [`ShapeError::TrailingNumber`] for digits after
/// the last letter; [`ShapeError::TooLarge`] when the CPUs exceed [`MAX_SHAPE_CPUS`].
pub fn parse_shape(s: &str) -> Result<Shape, ShapeError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(ShapeError::Empty);
    }
    let mut fields: [Option<u32>; 5] = [None; 5];
    let mut num: Option<u64> = None;
    for ch in s.chars() {
        if let Some(d) = ch.to_digit(10) {
            // Saturate: anything above u32::MAX is refused below anyway.
            num = Some((num.unwrap_or(0) * 10 + u64::from(d)).min(1 << 40));
            continue;
        }
        let slot = "sdctn".find(ch).ok_or(ShapeError::UnknownField(ch))?;
        let n = num.take().ok_or(ShapeError::MissingNumber(ch))?;
        if fields[slot].is_some() {
            return Err(ShapeError::Repeated(ch));
        }
        match u32::try_from(n) {
            Ok(v) if v > 0 => fields[slot] = Some(v),
            _ => return Err(ShapeError::BadCount(ch)),
        }
    }
    if num.is_some() {
        return Err(ShapeError::TrailingNumber);
    }
    let shape = Shape {
        sockets: fields[0].unwrap_or(1),
        dies: fields[1].unwrap_or(1),
        cores: fields[2].unwrap_or(1),
        threads: fields[3].unwrap_or(1),
        nodes: fields[4],
    };
    shape.cpus().ok_or(ShapeError::TooLarge)?;
    Ok(shape)
}

impl Shape {
    /// Total CPUs, or `None` above [`MAX_SHAPE_CPUS`].
    pub fn cpus(&self) -> Option<u32> {
        let n = [self.dies, self.cores, self.threads]
            .iter()
            .try_fold(self.sockets, |acc, &x| acc.checked_mul(x))?;
        (n <= MAX_SHAPE_CPUS).then_some(n)
    }

    /// A synthetic topology of this shape, in QEMU's CPU and APIC ID order.
    ///
    /// # Errors
    /// [`ShapeError::TooLarge`] above [`MAX_SHAPE_CPUS`] CPUs; [`ShapeError::BadNodeMap`]
    /// when a [`NodeMap::Contiguous`] count does not divide the CPU count (or is 0), or a
    /// [`NodeMap::Explicit`] list does not have one node per CPU.
    pub fn build(&self, nodes: &NodeMap) -> Result<Topology, ShapeError> {
        let total = self.cpus().ok_or(ShapeError::TooLarge)?;
        let (tw, cw, dw) = (
            log2ceil(self.threads),
            log2ceil(self.cores),
            log2ceil(self.dies),
        );
        let mut cpus = Vec::new();
        for s in 0..self.sockets {
            for d in 0..self.dies {
                for c in 0..self.cores {
                    for t in 0..self.threads {
                        let die = s * self.dies + d;
                        cpus.push(CpuTopo {
                            cpu: cpus.len(),
                            apic_id: (((s << dw | d) << cw | c) << tw) | t,
                            package: s,
                            die,
                            l3: die,
                            core: die * self.cores + c,
                            smt: t,
                            node: 0,
                        });
                    }
                }
            }
        }
        for c in &mut cpus {
            c.node = node_of(nodes, c, total)?;
        }
        Ok(Topology::from_dense(cpus, L3Source::Synthetic))
    }

    /// Checks `topo` has this shape. Dies are checked through both the die ids and (when
    /// CPUID gave them) the L3 domains, since QEMU's die is the L3.
    ///
    /// # Errors
    /// [`ShapeMismatch`] listing every count that differs (CPUs, sockets, dies per socket,
    /// cores per die, threads per core, L3 domains unless CPUID has no cache leaf, NUMA
    /// nodes when the shape states them), with `dies_unseen` set when the shape has more
    /// than one die but CPUID cannot show dies.
    pub fn matches(&self, topo: &Topology) -> Result<(), ShapeMismatch> {
        let mut mismatches: Vec<Mismatch> = Vec::new();
        let mut check = |count: Count, expected: u64, got: &[u64]| {
            if let Some(&found) = got.iter().find(|&&g| g != expected) {
                mismatches.push(Mismatch {
                    count,
                    expected,
                    found,
                });
            }
        };
        let want_cpus = u64::from(self.cpus().unwrap_or(0));
        check(Count::Cpus, want_cpus, &[topo.len() as u64]);
        check(
            Count::Sockets,
            self.sockets.into(),
            &[topo.packages() as u64],
        );
        check(
            Count::DiesPerSocket,
            self.dies.into(),
            &children(topo, |c| c.package, |c| c.die),
        );
        check(
            Count::CoresPerDie,
            self.cores.into(),
            &children(topo, |c| c.die, |c| c.core),
        );
        check(
            Count::ThreadsPerCore,
            self.threads.into(),
            &children(topo, |c| c.core, |c| c.cpu as u32),
        );
        if topo.l3_source() != L3Source::Unknown {
            let want = u64::from(self.sockets) * u64::from(self.dies);
            check(Count::L3Domains, want, &[topo.l3_domains() as u64]);
        }
        if let Some(n) = self.nodes {
            check(Count::NumaNodes, n.into(), &[topo.nodes() as u64]);
        }
        if mismatches.is_empty() {
            return Ok(());
        }
        Err(ShapeMismatch {
            mismatches,
            dies_unseen: topo.l3_source() == L3Source::Unknown && self.dies > 1,
        })
    }
}

/// For each parent id, how many distinct child ids it has.
fn children(topo: &Topology, parent: fn(&CpuTopo) -> u32, child: fn(&CpuTopo) -> u32) -> Vec<u64> {
    let mut pairs: Vec<(u32, u32)> = topo.cpus().iter().map(|c| (parent(c), child(c))).collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut counts: Vec<u64> = Vec::new();
    for (i, p) in pairs.iter().enumerate() {
        if i == 0 || pairs[i - 1].0 != p.0 {
            counts.push(0);
        }
        if let Some(last) = counts.last_mut() {
            *last += 1;
        }
    }
    counts
}

fn node_of(map: &NodeMap, c: &CpuTopo, total: u32) -> Result<u32, ShapeError> {
    Ok(match map {
        NodeMap::Single => 0,
        NodeMap::PerSocket => c.package,
        NodeMap::PerDie => c.die,
        NodeMap::Contiguous(n) => {
            if total.checked_rem(*n) != Some(0) {
                let m = format!("{total} CPUs do not split into {n} equal nodes");
                return Err(ShapeError::BadNodeMap(m));
            }
            c.cpu as u32 / (total / n)
        }
        NodeMap::Explicit(v) => match v.get(c.cpu) {
            Some(&n) if v.len() == total as usize => n,
            _ => {
                let m = format!("{} node ids for {total} CPUs", v.len());
                return Err(ShapeError::BadNodeMap(m));
            }
        },
    })
}
