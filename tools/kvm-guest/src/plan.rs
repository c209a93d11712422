//! The QEMU arguments of a KVM guest whose nodes are bound to host nodes.

use crate::discover::{Host, HostError, HostNode};

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Guest vCPUs, spread over the guest nodes as run-qemu.sh does (contiguous ranges,
    /// the first nodes take the remainder).
    pub cpus: u32,
    /// Guest NUMA nodes.
    pub nodes: u32,
    /// MiB per guest node.
    pub mem_per_node_mib: u64,
    /// Host node of each guest node (same length as `nodes`).
    pub host_nodes: Vec<u32>,
    /// Back guest memory with 2 MiB hugetlb pages of the host node.
    pub hugepages: bool,
    /// PCI functions to assign (`DDDD:BB:DD.F`).
    pub vfio: Vec<String>,
}

/// The result: QEMU arguments, the vCPU pinning and a one-line description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Arguments that replace the TCG machine's accelerator, CPU model and memory
    /// backends: `-accel kvm -cpu host`, one `-object` per guest node (backend `m<N>`),
    /// one `-device vfio-pci` per assigned function.
    pub args: Vec<String>,
    /// (vCPU index, host CPU) pairs: each vCPU thread is pinned to one CPU of its node's
    /// host node (round robin when the guest node has more vCPUs than the host node CPUs).
    pub pins: Vec<(u32, u32)>,
    /// `KVM guest, nodes bound to host nodes 0->2, 1->3, 2 assigned engines (PTDMA x2)`.
    pub summary: String,
}

/// vCPUs of guest node `n` (run-qemu.sh's split).
pub fn vcpus_of(req: &Request, n: u32) -> std::ops::Range<u32> {
    let per = req.cpus / req.nodes;
    let extra = req.cpus % req.nodes;
    let start = n * per + n.min(extra);
    start..start + per + u32::from(n < extra)
}

/// Checks the host and builds the plan; every problem found is returned, not only the
/// first.
pub fn plan(host: &Host, req: &Request) -> Result<Plan, Vec<HostError>> {
    let mut errors = Vec::new();
    if let Err(e) = host.check_kvm() {
        errors.push(e);
    }
    let mut hnodes: Vec<Option<HostNode>> = Vec::new();
    // Memory asked of each host node (several guest nodes may share one).
    let mut want: std::collections::BTreeMap<u32, u64> = Default::default();
    for &h in &req.host_nodes {
        *want.entry(h).or_default() += req.mem_per_node_mib;
    }
    for (g, &h) in req.host_nodes.iter().enumerate() {
        match host.node(h) {
            Ok(node) => {
                if node.cpus.is_empty() && !vcpus_of(req, g as u32).is_empty() {
                    errors.push(HostError::NodeWithoutCpus(h));
                }
                hnodes.push(Some(node));
            }
            Err(e) => {
                if !errors.contains(&e) {
                    errors.push(e);
                }
                hnodes.push(None);
            }
        }
    }
    for (&h, &mib) in &want {
        let Some(node) = hnodes.iter().flatten().find(|n| n.id == h) else {
            continue;
        };
        if req.hugepages {
            let pages = mib.div_ceil(2);
            if node.free_hugepages_2m < pages {
                errors.push(HostError::NotEnoughHugepages {
                    node: h,
                    want: pages,
                    free: node.free_hugepages_2m,
                    fix: format!(
                        "echo {} > /sys/devices/system/node/node{h}/hugepages/hugepages-2048kB/nr_hugepages",
                        pages
                    ),
                });
            }
        } else if node.free_mib < mib {
            errors.push(HostError::NotEnoughMemory {
                node: h,
                want_mib: mib,
                free_mib: node.free_mib,
            });
        }
    }
    let mut engines = Vec::new();
    for bdf in &req.vfio {
        match host.check_vfio(bdf) {
            Ok(name) => engines.push(name),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut args: Vec<String> = ["-accel", "kvm", "-cpu", "host"].map(String::from).into();
    let mut pins = Vec::new();
    for (g, &h) in req.host_nodes.iter().enumerate() {
        let mut obj = format!(
            "memory-backend-memfd,id=m{g},size={}M,share=on,host-nodes={h},policy=bind,prealloc=off",
            req.mem_per_node_mib
        );
        if req.hugepages {
            obj.push_str(",hugetlb=on,hugetlbsize=2M");
        }
        args.push("-object".into());
        args.push(obj);
        let cpus = &hnodes[g].as_ref().expect("checked above").cpus;
        for (i, v) in vcpus_of(req, g as u32).enumerate() {
            pins.push((v, cpus[i % cpus.len()]));
        }
    }
    for bdf in &req.vfio {
        args.push("-device".into());
        args.push(format!("vfio-pci,host={bdf}"));
    }
    let binding: Vec<String> = req
        .host_nodes
        .iter()
        .enumerate()
        .map(|(g, h)| format!("{g}->{h}"))
        .collect();
    let mut summary = format!(
        "KVM guest, nodes bound to host nodes {}{}, {} assigned engine(s)",
        binding.join(" "),
        if req.hugepages {
            " (2 MiB huge pages)"
        } else {
            ""
        },
        req.vfio.len()
    );
    if !engines.is_empty() {
        summary.push_str(&format!(" ({})", engines.join(" ")));
    }
    Ok(Plan {
        args,
        pins,
        summary,
    })
}
