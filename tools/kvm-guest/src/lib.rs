//! What a foliomove guest under KVM on a real server needs from its host, found in sysfs,
//! and the QEMU arguments that follow from it: each guest NUMA node's memory bound to a
//! host node (`host-nodes=`, `policy=bind`, optionally hugetlb pages), vCPUs pinned to
//! host CPUs of the matching node, and real PTDMA/AE4DMA functions assigned with
//! `vfio-pci`. Every check reads files under a root given by the caller, so the host
//! tests run against fixture trees.

pub mod discover;
pub mod plan;

pub use discover::{Host, HostError, HostPaths};
pub use plan::{plan, Plan, Request};
