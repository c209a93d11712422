//! The machine QEMU builds, as typed values validated once: CPUs and their
//! sockets/dies/cores/threads, NUMA nodes (CPU-less ones included) with memory per node and
//! distances, the CPU model, emulated PTDMA engines, and the firmware. [`Shape::new`] checks
//! everything (the device proxy's RAM-section limit included); `Machine::qemu_args` turns
//! it into QEMU arguments in one place.

use std::fmt;

use crate::proxy_ram::{self, ProxyRamError};

/// vCPUs at most: the kernel's CPU sets name 512 CPUs (kcore::cpuset).
pub const MAX_VCPUS: u32 = 512;
/// NUMA nodes at most (the proxy maps at most 8 RAM sections).
pub const MAX_NODES: u32 = 8;
/// Each of sockets/dies/cores/threads at most.
pub const MAX_TOPO_LEVEL: u32 = 64;
/// Emulated PTDMA engines at most.
pub const MAX_PTDMA: u32 = 16;
/// Memory per node at least, MiB.
pub const MIN_NODE_MIB: u64 = 64;

/// `-smp` topology: CPUs are sockets x dies x cores x threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topology {
    /// Sockets (packages).
    pub sockets: u32,
    /// Dies per socket (L3 domains on AMD with leaf 0x1F).
    pub dies: u32,
    /// Cores per die.
    pub cores: u32,
    /// Threads per core.
    pub threads: u32,
}

impl Topology {
    /// CPUs in the topology.
    pub fn cpus(&self) -> u64 {
        u64::from(self.sockets)
            * u64::from(self.dies)
            * u64::from(self.cores)
            * u64::from(self.threads)
    }

    /// The highest APIC ID QEMU gives it: each level takes ceil(log2(count)) bits
    /// (threads, cores, dies, then sockets).
    pub fn max_apic_id(&self) -> u64 {
        let bits = |n: u32| n.next_power_of_two().trailing_zeros();
        let (tb, cb, db) = (bits(self.threads), bits(self.cores), bits(self.dies));
        (u64::from(self.sockets - 1) << (tb + cb + db))
            | (u64::from(self.dies - 1) << (tb + cb))
            | (u64::from(self.cores - 1) << tb)
            | u64::from(self.threads - 1)
    }
}

/// NUMA distances QEMU puts in a SLIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NumaDist {
    /// No SLIT (the kernel assumes 10 local / 20 remote).
    #[default]
    None,
    /// d(i,j) = 10 + 10*|i-j| (capped at 254): nodes in a chain.
    Line,
}

/// What the user asked for (`None` = not given), before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeRequest {
    /// `--cpus`.
    pub cpus: Option<u32>,
    /// `--sockets`, `--dies`, `--cores`, `--threads`.
    pub sockets: Option<u32>,
    /// See `sockets`.
    pub dies: Option<u32>,
    /// See `sockets`.
    pub cores: Option<u32>,
    /// See `sockets`.
    pub threads: Option<u32>,
    /// `--nodes`.
    pub nodes: u32,
    /// `--mem-per-node`, MiB.
    pub mem_per_node_mib: u64,
    /// `--numa-dist`.
    pub numa_dist: NumaDist,
    /// `--cpu`.
    pub cpu_model: String,
    /// `--ptdma`: emulated engines.
    pub ptdma: u32,
}

impl Default for ShapeRequest {
    fn default() -> Self {
        ShapeRequest {
            cpus: None,
            sockets: None,
            dies: None,
            cores: None,
            threads: None,
            nodes: 2,
            mem_per_node_mib: 512,
            numa_dist: NumaDist::None,
            cpu_model: "max".to_string(),
            ptdma: 2,
        }
    }
}

/// Why a shape cannot be built (each message as the runner prints it after `run-qemu.sh: `).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShapeError {
    /// `--cpus` differs from the topology's product.
    CpusNotProduct {
        /// `--cpus`.
        cpus: u32,
        /// sockets x dies x cores x threads.
        product: u64,
    },
    /// The topology has more than [`MAX_VCPUS`] CPUs.
    TooManyCpus(u64),
    /// CPUs do not split evenly into the nodes (with a topology).
    UnevenNodes {
        /// CPUs.
        cpus: u32,
        /// NUMA nodes.
        nodes: u32,
    },
    /// A node would hold part of a core.
    SplitsCore {
        /// NUMA nodes.
        nodes: u32,
        /// CPUs per node.
        per_node: u32,
        /// Threads per core.
        threads: u32,
    },
    /// With engines, more RAM sections than the proxy shares.
    ProxyRam(ProxyRamError),
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShapeError::CpusNotProduct { cpus, product } => write!(
                f,
                "--cpus {cpus} differs from sockets x dies x cores x threads = {product}"
            ),
            ShapeError::TooManyCpus(n) => {
                write!(f, "the shape has {n} CPUs; at most {MAX_VCPUS}")
            }
            ShapeError::UnevenNodes { cpus, nodes } => {
                write!(f, "{cpus} CPUs do not split evenly into {nodes} NUMA nodes")
            }
            ShapeError::SplitsCore {
                nodes,
                per_node,
                threads,
            } => write!(
                f,
                "{nodes} NUMA nodes of {per_node} CPUs would split a core of {threads} threads"
            ),
            ShapeError::ProxyRam(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ShapeError {}

/// A validated machine shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// vCPUs.
    pub cpus: u32,
    /// The `-smp` topology, when one was asked for.
    pub topology: Option<Topology>,
    /// NUMA nodes.
    pub nodes: u32,
    /// RAM per node, MiB.
    pub mem_per_node_mib: u64,
    /// SLIT distances.
    pub numa_dist: NumaDist,
    /// QEMU CPU model (may gain `,x2apic=on`, see [`Shape::needs_x2apic`]).
    pub cpu_model: String,
    /// Emulated PTDMA engines.
    pub ptdma: u32,
}

impl Shape {
    /// Validates a request (ranges of single options are checked by the CLI).
    ///
    /// # Errors
    /// [`ShapeError`] when the topology and the node split clash, or when with engines the
    /// guest RAM is more sections than QEMU's device proxy shares.
    pub fn new(req: &ShapeRequest) -> Result<Shape, ShapeError> {
        let any_topo = req.sockets.or(req.dies).or(req.cores).or(req.threads);
        let (cpus, topology) = if any_topo.is_some() {
            let t = Topology {
                sockets: req.sockets.unwrap_or(1),
                dies: req.dies.unwrap_or(1),
                cores: req.cores.unwrap_or(1),
                threads: req.threads.unwrap_or(1),
            };
            let product = t.cpus();
            if let Some(c) = req.cpus.filter(|&c| u64::from(c) != product) {
                return Err(ShapeError::CpusNotProduct { cpus: c, product });
            }
            if product > u64::from(MAX_VCPUS) {
                return Err(ShapeError::TooManyCpus(product));
            }
            let cpus = product as u32;
            if !cpus.is_multiple_of(req.nodes) {
                return Err(ShapeError::UnevenNodes {
                    cpus,
                    nodes: req.nodes,
                });
            }
            if !(cpus / req.nodes).is_multiple_of(t.threads) {
                return Err(ShapeError::SplitsCore {
                    nodes: req.nodes,
                    per_node: cpus / req.nodes,
                    threads: t.threads,
                });
            }
            (cpus, Some(t))
        } else {
            (req.cpus.unwrap_or(2), None)
        };
        if req.ptdma > 0 {
            proxy_ram::check(req.nodes, req.mem_per_node_mib).map_err(ShapeError::ProxyRam)?;
        }
        Ok(Shape {
            cpus,
            topology,
            nodes: req.nodes,
            mem_per_node_mib: req.mem_per_node_mib,
            numa_dist: req.numa_dist,
            cpu_model: req.cpu_model.clone(),
            ptdma: req.ptdma,
        })
    }

    /// The `-smp` value.
    pub fn smp(&self) -> String {
        match self.topology {
            None => self.cpus.to_string(),
            Some(t) => format!(
                "{},sockets={},dies={},cores={},threads={}",
                self.cpus, t.sockets, t.dies, t.cores, t.threads
            ),
        }
    }

    /// `expect-topo` for the kernel's topology self-test: `SsDdCcTtNn`.
    pub fn expect_topo(&self) -> Option<String> {
        self.topology.map(|t| {
            format!(
                "{}s{}d{}c{}t{}n",
                t.sockets, t.dies, t.cores, t.threads, self.nodes
            )
        })
    }

    /// What the runner built, for the kernel's platform self-test.
    pub fn expect_args(&self) -> String {
        let mut s = format!(
            "expect-cpus={} expect-nodes={} expect-node-mib={} expect-ptdma={}",
            self.cpus, self.nodes, self.mem_per_node_mib, self.ptdma
        );
        if let Some(t) = self.expect_topo() {
            s.push_str(" expect-topo=");
            s.push_str(&t);
        }
        s
    }

    /// The highest APIC ID of this shape.
    pub fn max_apic_id(&self) -> u64 {
        match self.topology {
            Some(t) => t.max_apic_id(),
            None => u64::from(self.cpus) - 1,
        }
    }

    /// APIC IDs above 254 need x2APIC.
    pub fn needs_x2apic(&self) -> bool {
        self.max_apic_id() > 254
    }

    /// The CPU range of each node: contiguous ranges, the first `cpus % nodes` nodes one
    /// more; `None` for a CPU-less node.
    pub fn node_cpus(&self) -> Vec<Option<(u32, u32)>> {
        let per = self.cpus / self.nodes;
        let extra = self.cpus % self.nodes;
        let mut next = 0;
        (0..self.nodes)
            .map(|n| {
                let count = per + u32::from(n < extra);
                (count > 0).then(|| {
                    let r = (next, next + count - 1);
                    next += count;
                    r
                })
            })
            .collect()
    }

    /// `-numa dist,...` values for every pair of nodes (empty without a SLIT).
    pub fn numa_dist_args(&self) -> Vec<String> {
        if self.numa_dist != NumaDist::Line {
            return Vec::new();
        }
        let mut out = Vec::new();
        for i in 0..self.nodes {
            for j in i + 1..self.nodes {
                let d = (10 + 10 * (j - i)).min(254);
                out.push(format!("dist,src={i},dst={j},val={d}"));
            }
        }
        out
    }
}

#[cfg(test)]
#[path = "shape_tests.rs"]
mod tests;
