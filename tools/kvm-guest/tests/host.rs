//! Host discovery and command construction against fixture sysfs trees: a two-socket
//! EPYC-like host with 4 NUMA nodes and PTDMA functions in various states.

use kvm_guest::discover::{parse_cpulist, HostError};
use kvm_guest::{plan, Host, HostPaths, Request};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// A throwaway host tree under the system temp dir, removed on drop.
struct Fixture {
    root: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn write(p: &Path, s: &str) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, s).unwrap();
}

impl Fixture {
    /// KVM on an AMD host (svm), nodes 0..4 with 16 CPUs and 64 GiB free each, 1024 free
    /// huge pages on node 0 only.
    fn server(name: &str) -> Self {
        let root = std::env::temp_dir().join(format!("kvm-guest-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let f = Fixture { root };
        write(&f.root.join("dev/kvm"), "");
        write(
            &f.root.join("proc/cpuinfo"),
            "processor\t: 0\nflags\t\t: fpu vme sse2 svm x2apic\n",
        );
        for n in 0..4u32 {
            let d = f.root.join(format!("sys/devices/system/node/node{n}"));
            write(&d.join("cpulist"), &format!("{}-{}\n", n * 16, n * 16 + 15));
            write(
                &d.join("meminfo"),
                &format!(
                    "Node {n} MemTotal:       67108864 kB\nNode {n} MemFree:        67108864 kB\n"
                ),
            );
            let huge = if n == 0 { "1024\n" } else { "0\n" };
            write(&d.join("hugepages/hugepages-2048kB/free_hugepages"), huge);
        }
        f
    }

    /// A PCI function `bdf` with IDs, bound to `driver` (None: unbound), in IOMMU group
    /// `group` (None: no IOMMU).
    fn pci(&self, bdf: &str, vendor: u16, device: u16, driver: Option<&str>, group: Option<&str>) {
        let dev = self.root.join("sys/bus/pci/devices").join(bdf);
        write(&dev.join("vendor"), &format!("0x{vendor:04x}\n"));
        write(&dev.join("device"), &format!("0x{device:04x}\n"));
        if let Some(d) = driver {
            let drv = self.root.join("sys/bus/pci/drivers").join(d);
            fs::create_dir_all(&drv).unwrap();
            symlink(&drv, dev.join("driver")).unwrap();
        }
        if let Some(g) = group {
            let gdir = self.root.join("sys/kernel/iommu_groups").join(g);
            fs::create_dir_all(gdir.join("devices")).unwrap();
            symlink(&gdir, dev.join("iommu_group")).unwrap();
            symlink(&dev, gdir.join("devices").join(bdf)).unwrap();
            write(&self.root.join("dev/vfio").join(g), "");
        }
    }

    fn host(&self) -> Host {
        Host::new(HostPaths::under(&self.root))
    }
}

fn req(host_nodes: &[u32], vfio: &[&str]) -> Request {
    Request {
        cpus: 8,
        nodes: host_nodes.len() as u32,
        mem_per_node_mib: 4096,
        host_nodes: host_nodes.to_vec(),
        hugepages: false,
        vfio: vfio.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn bound_nodes_pinned_vcpus_and_assigned_engines() {
    let f = Fixture::server("ok");
    f.pci("0000:c1:00.2", 0x1022, 0x1498, Some("vfio-pci"), Some("41"));
    f.pci("0000:c2:00.2", 0x1022, 0x149b, Some("vfio-pci"), Some("42"));
    let p = plan(&f.host(), &req(&[2, 3], &["0000:c1:00.2", "0000:c2:00.2"])).unwrap();
    assert_eq!(
        p.args,
        [
            "-accel",
            "kvm",
            "-cpu",
            "host",
            "-object",
            "memory-backend-memfd,id=m0,size=4096M,share=on,host-nodes=2,policy=bind,prealloc=off",
            "-object",
            "memory-backend-memfd,id=m1,size=4096M,share=on,host-nodes=3,policy=bind,prealloc=off",
            "-device",
            "vfio-pci,host=0000:c1:00.2",
            "-device",
            "vfio-pci,host=0000:c2:00.2",
        ]
    );
    // vCPUs 0-3 are guest node 0 -> host node 2 (CPUs 32..47), 4-7 -> host node 3.
    assert_eq!(
        p.pins,
        [
            (0, 32),
            (1, 33),
            (2, 34),
            (3, 35),
            (4, 48),
            (5, 49),
            (6, 50),
            (7, 51)
        ]
    );
    assert_eq!(
        p.summary,
        "KVM guest, nodes bound to host nodes 0->2 1->3, 2 assigned engine(s) (PTDMA AE4DMA)"
    );
}

#[test]
fn hugepages_counted_per_host_node_with_the_reserving_command() {
    let f = Fixture::server("huge");
    let mut r = req(&[0, 1], &[]);
    r.hugepages = true;
    r.mem_per_node_mib = 2048; // 1024 pages each: node 0 has them, node 1 has none
    let errs = plan(&f.host(), &r).unwrap_err();
    assert_eq!(
        errs,
        [HostError::NotEnoughHugepages {
            node: 1,
            want: 1024,
            free: 0,
            fix:
                "echo 1024 > /sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages"
                    .into(),
        }]
    );
    let p = plan(
        &f.host(),
        &Request {
            host_nodes: vec![0],
            nodes: 1,
            ..r
        },
    )
    .unwrap();
    assert!(
        p.args[5].ends_with(",hugetlb=on,hugetlbsize=2M"),
        "{:?}",
        p.args
    );
    assert!(p.summary.contains("(2 MiB huge pages)"));
}

#[test]
fn two_guest_nodes_on_one_host_node_add_up() {
    let f = Fixture::server("sum");
    let mut r = req(&[1, 1], &[]);
    r.mem_per_node_mib = 40 * 1024; // 80 GiB of a 64 GiB node
    let errs = plan(&f.host(), &r).unwrap_err();
    assert_eq!(
        errs,
        [HostError::NotEnoughMemory {
            node: 1,
            want_mib: 81920,
            free_mib: 65536
        }]
    );
}

#[test]
fn unbound_engine_gets_the_bind_commands() {
    let f = Fixture::server("unbound");
    f.pci("0000:c1:00.2", 0x1022, 0x1498, Some("ptdma"), Some("41"));
    let errs = plan(&f.host(), &req(&[0], &["0000:c1:00.2"])).unwrap_err();
    let [HostError::NotBoundToVfio { driver, fix, .. }] = errs.as_slice() else {
        panic!("{errs:?}")
    };
    assert_eq!(driver.as_deref(), Some("ptdma"));
    assert_eq!(
        fix,
        &[
            "modprobe vfio-pci",
            "echo 0000:c1:00.2 > /sys/bus/pci/devices/0000:c1:00.2/driver/unbind",
            "echo vfio-pci > /sys/bus/pci/devices/0000:c1:00.2/driver_override",
            "echo 0000:c1:00.2 > /sys/bus/pci/drivers_probe",
        ]
    );
}

#[test]
fn group_shared_with_a_bound_device_is_refused() {
    let f = Fixture::server("group");
    f.pci("0000:c1:00.2", 0x1022, 0x1498, Some("vfio-pci"), Some("41"));
    f.pci("0000:c1:00.3", 0x1022, 0x15e0, Some("xhci_hcd"), None);
    let g = f
        .root
        .join("sys/kernel/iommu_groups/41/devices/0000:c1:00.3");
    symlink(f.root.join("sys/bus/pci/devices/0000:c1:00.3"), g).unwrap();
    let errs = plan(&f.host(), &req(&[0], &["0000:c1:00.2"])).unwrap_err();
    assert_eq!(
        errs,
        [HostError::GroupNotViable {
            bdf: "0000:c1:00.2".into(),
            group: "41".into(),
            others: vec!["0000:c1:00.3 (xhci_hcd)".into()],
        }]
    );
}

#[test]
fn no_iommu_wrong_device_bad_address_missing_node_all_reported() {
    let f = Fixture::server("many");
    f.pci("0000:c1:00.2", 0x1022, 0x1498, Some("vfio-pci"), None);
    f.pci("0000:03:00.0", 0x8086, 0x10d3, Some("e1000e"), Some("7"));
    let errs = plan(
        &f.host(),
        &req(&[0, 9], &["0000:c1:00.2", "0000:03:00.0", "c1:00.2"]),
    )
    .unwrap_err();
    assert_eq!(
        errs,
        [
            HostError::NoSuchNode(9),
            HostError::NoIommuGroup("0000:c1:00.2".into()),
            HostError::NotADmaEngine {
                bdf: "0000:03:00.0".into(),
                vendor: 0x8086,
                device: 0x10d3
            },
            HostError::BadAddress("c1:00.2".into()),
        ]
    );
}

#[test]
fn no_kvm_no_virtualization_and_the_software_shim_are_refused() {
    let f = Fixture::server("kvm");
    fs::remove_file(f.root.join("dev/kvm")).unwrap();
    assert_eq!(
        plan(&f.host(), &req(&[0], &[])).unwrap_err(),
        [HostError::NoKvmDevice]
    );
    write(&f.root.join("dev/kvm"), "");
    write(&f.root.join("proc/cpuinfo"), "flags\t\t: fpu sse2\n");
    assert_eq!(
        plan(&f.host(), &req(&[0], &[])).unwrap_err(),
        [HostError::NoHardwareVirtualization]
    );
    write(&f.root.join("proc/cpuinfo"), "flags\t\t: fpu vmx\n");
    fs::create_dir_all(f.root.join("sys/module/kvm_pvm")).unwrap();
    assert_eq!(
        plan(&f.host(), &req(&[0], &[])).unwrap_err(),
        [HostError::SoftwareKvm]
    );
}

#[test]
fn cpulist_parsing() {
    assert_eq!(
        parse_cpulist("0-3,8,10-11\n"),
        Some(vec![0, 1, 2, 3, 8, 10, 11])
    );
    assert_eq!(parse_cpulist("\n"), Some(vec![]));
    assert_eq!(parse_cpulist("3-1"), None);
    assert_eq!(parse_cpulist("x"), None);
}
