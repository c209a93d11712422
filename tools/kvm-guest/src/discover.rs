//! Host facts from sysfs, /proc/cpuinfo and /dev: KVM usable, NUMA nodes with their
//! CPUs, free memory and free 2 MiB huge pages, PCI functions with driver and IOMMU group.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// Where the host files live (`/`-rooted on a real host, a fixture tree in tests).
#[derive(Debug, Clone)]
pub struct HostPaths {
    /// The sysfs mount (`/sys`).
    pub sysfs: PathBuf,
    /// The device directory (`/dev`): `kvm` and `vfio/GROUP`.
    pub dev: PathBuf,
    /// `/proc/cpuinfo`.
    pub cpuinfo: PathBuf,
}

impl HostPaths {
    /// The real host.
    pub fn system() -> Self {
        Self {
            sysfs: "/sys".into(),
            dev: "/dev".into(),
            cpuinfo: "/proc/cpuinfo".into(),
        }
    }

    /// A tree laid out like `/` under `root` (`root/sys`, `root/dev`, `root/proc/cpuinfo`).
    pub fn under(root: &Path) -> Self {
        Self {
            sysfs: root.join("sys"),
            dev: root.join("dev"),
            cpuinfo: root.join("proc/cpuinfo"),
        }
    }
}

/// PCI vendor and device IDs of the engines foliomove drives.
pub const DMA_ENGINES: &[(u16, u16, &str)] =
    &[(0x1022, 0x1498, "PTDMA"), (0x1022, 0x149b, "AE4DMA")];

/// Something the host lacks for the requested guest, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// No `/dev/kvm`.
    NoKvmDevice,
    /// `/dev/kvm` exists but cannot be opened read-write.
    KvmNotAccessible(String),
    /// The CPU flags have neither `vmx` nor `svm`.
    NoHardwareVirtualization,
    /// The KVM module is a software shim (`kvm_pvm`) that cannot run bare-metal guests.
    SoftwareKvm,
    /// No `node<N>` in sysfs.
    NoSuchNode(u32),
    /// The host node has no CPUs to pin vCPUs to.
    NodeWithoutCpus(u32),
    /// The host node has less free memory than the guest node needs (MiB).
    NotEnoughMemory {
        node: u32,
        want_mib: u64,
        free_mib: u64,
    },
    /// Too few free 2 MiB huge pages on the node; `fix` reserves them.
    NotEnoughHugepages {
        node: u32,
        want: u64,
        free: u64,
        fix: String,
    },
    /// The PCI address is not `DDDD:BB:DD.F`.
    BadAddress(String),
    /// No such PCI function.
    NoSuchDevice(String),
    /// The function is not a PTDMA or AE4DMA engine.
    NotADmaEngine {
        bdf: String,
        vendor: u16,
        device: u16,
    },
    /// Not bound to `vfio-pci`; `fix` are the commands that bind it.
    NotBoundToVfio {
        bdf: String,
        driver: Option<String>,
        fix: Vec<String>,
    },
    /// No IOMMU group (IOMMU off in firmware or on the kernel command line).
    NoIommuGroup(String),
    /// Other functions of the group are bound to other drivers, so the group cannot be
    /// given to the guest.
    GroupNotViable {
        bdf: String,
        group: String,
        others: Vec<String>,
    },
    /// `/dev/vfio/<group>` is missing.
    NoVfioGroupDevice(String),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoKvmDevice => write!(f, "no /dev/kvm: load kvm_amd or kvm_intel (and enable SVM/VT-x in the firmware)"),
            Self::KvmNotAccessible(e) => write!(f, "/dev/kvm cannot be opened read-write ({e}): run as root or join the kvm group"),
            Self::NoHardwareVirtualization => write!(f, "the CPU flags have neither svm nor vmx: enable virtualization in the firmware"),
            Self::SoftwareKvm => write!(f, "this KVM is the software kvm_pvm shim, which cannot run a bare-metal guest: use TCG"),
            Self::NoSuchNode(n) => write!(f, "host NUMA node {n} does not exist"),
            Self::NodeWithoutCpus(n) => write!(f, "host node {n} has no CPUs to pin the guest node's vCPUs to"),
            Self::NotEnoughMemory { node, want_mib, free_mib } => write!(f, "host node {node} has {free_mib} MiB free, the guest node needs {want_mib} MiB"),
            Self::NotEnoughHugepages { node, want, free, fix } => write!(f, "host node {node} has {free} free 2 MiB huge pages, the guest node needs {want}; reserve them with: {fix}"),
            Self::BadAddress(a) => write!(f, "'{a}' is not a PCI address DDDD:BB:DD.F"),
            Self::NoSuchDevice(a) => write!(f, "no PCI function {a}"),
            Self::NotADmaEngine { bdf, vendor, device } => write!(f, "{bdf} is {vendor:04x}:{device:04x}, not a PTDMA (1022:1498) or AE4DMA (1022:149b) engine"),
            Self::NotBoundToVfio { bdf, driver, fix } => write!(
                f,
                "{bdf} is bound to {}, not vfio-pci; bind it with:\n  {}",
                driver.as_deref().unwrap_or("no driver"),
                fix.join("\n  ")
            ),
            Self::NoIommuGroup(b) => write!(f, "{b} has no IOMMU group: turn the IOMMU on (firmware, and amd_iommu=on / intel_iommu=on)"),
            Self::GroupNotViable { bdf, group, others } => write!(f, "IOMMU group {group} of {bdf} also holds {} (not on vfio-pci): bind them to vfio-pci too", others.join(", ")),
            Self::NoVfioGroupDevice(g) => write!(f, "/dev/vfio/{g} is missing: modprobe vfio-pci"),
        }
    }
}

/// One host NUMA node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostNode {
    /// Node number.
    pub id: u32,
    /// Its CPUs (Linux CPU numbers).
    pub cpus: Vec<u32>,
    /// Free memory, MiB.
    pub free_mib: u64,
    /// Free 2 MiB huge pages.
    pub free_hugepages_2m: u64,
}

/// Reads the host through `paths`.
#[derive(Debug, Clone)]
pub struct Host {
    paths: HostPaths,
}

/// Parses a Linux cpulist (`0-3,8,10-11`).
pub fn parse_cpulist(s: &str) -> Option<Vec<u32>> {
    let mut v = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if a > b {
                    return None;
                }
                v.extend(a..=b);
            }
            None => v.push(part.parse().ok()?),
        }
    }
    Some(v)
}

fn read(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}

impl Host {
    /// A host read through `paths`.
    pub fn new(paths: HostPaths) -> Self {
        Self { paths }
    }

    /// Checks that KVM can run a bare-metal guest here.
    pub fn check_kvm(&self) -> Result<(), HostError> {
        let kvm = self.paths.dev.join("kvm");
        if !kvm.exists() {
            return Err(HostError::NoKvmDevice);
        }
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&kvm)
            .map_err(|e| HostError::KvmNotAccessible(e.to_string()))?;
        let flags = read(&self.paths.cpuinfo).unwrap_or_default();
        let virt = flags
            .lines()
            .filter(|l| l.starts_with("flags"))
            .any(|l| l.split_whitespace().any(|w| w == "vmx" || w == "svm"));
        if !virt {
            return Err(HostError::NoHardwareVirtualization);
        }
        if self.paths.sysfs.join("module/kvm_pvm").exists() {
            return Err(HostError::SoftwareKvm);
        }
        Ok(())
    }

    /// Host node `id`.
    pub fn node(&self, id: u32) -> Result<HostNode, HostError> {
        let dir = self
            .paths
            .sysfs
            .join(format!("devices/system/node/node{id}"));
        if !dir.is_dir() {
            return Err(HostError::NoSuchNode(id));
        }
        let cpus = read(&dir.join("cpulist"))
            .and_then(|s| parse_cpulist(&s))
            .unwrap_or_default();
        // meminfo lines: "Node 0 MemFree:   123456 kB"
        let free_kib = read(&dir.join("meminfo"))
            .and_then(|m| {
                m.lines().find_map(|l| {
                    let mut w = l.split_whitespace();
                    (w.nth(2) == Some("MemFree:")).then(|| w.next()?.parse::<u64>().ok())?
                })
            })
            .unwrap_or(0);
        let free_hugepages_2m = read(&dir.join("hugepages/hugepages-2048kB/free_hugepages"))
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        Ok(HostNode {
            id,
            cpus,
            free_mib: free_kib / 1024,
            free_hugepages_2m,
        })
    }

    /// Checks that `bdf` is a DMA engine bound to vfio-pci in a viable IOMMU group;
    /// returns the engine's name.
    pub fn check_vfio(&self, bdf: &str) -> Result<&'static str, HostError> {
        if !valid_bdf(bdf) {
            return Err(HostError::BadAddress(bdf.into()));
        }
        let dev = self.paths.sysfs.join("bus/pci/devices").join(bdf);
        if !dev.is_dir() {
            return Err(HostError::NoSuchDevice(bdf.into()));
        }
        let id = |f: &str| {
            read(&dev.join(f))
                .and_then(|s| u16::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok())
                .unwrap_or(0)
        };
        let (vendor, device) = (id("vendor"), id("device"));
        let name = DMA_ENGINES
            .iter()
            .find(|&&(v, d, _)| v == vendor && d == device)
            .map(|e| e.2)
            .ok_or_else(|| HostError::NotADmaEngine {
                bdf: bdf.into(),
                vendor,
                device,
            })?;
        let driver = link_name(&dev.join("driver"));
        if driver.as_deref() != Some("vfio-pci") {
            let mut fix = vec!["modprobe vfio-pci".to_string()];
            if driver.is_some() {
                fix.push(format!(
                    "echo {bdf} > /sys/bus/pci/devices/{bdf}/driver/unbind"
                ));
            }
            fix.push(format!(
                "echo vfio-pci > /sys/bus/pci/devices/{bdf}/driver_override"
            ));
            fix.push(format!("echo {bdf} > /sys/bus/pci/drivers_probe"));
            return Err(HostError::NotBoundToVfio {
                bdf: bdf.into(),
                driver,
                fix,
            });
        }
        let group = link_name(&dev.join("iommu_group"))
            .ok_or_else(|| HostError::NoIommuGroup(bdf.into()))?;
        let members = self
            .paths
            .sysfs
            .join("kernel/iommu_groups")
            .join(&group)
            .join("devices");
        let mut others = Vec::new();
        if let Ok(entries) = fs::read_dir(&members) {
            for e in entries.flatten() {
                let other = e.file_name().to_string_lossy().into_owned();
                let drv = link_name(
                    &self
                        .paths
                        .sysfs
                        .join("bus/pci/devices")
                        .join(&other)
                        .join("driver"),
                );
                // Unbound functions and PCI bridges (pcieport) do not block assignment.
                if other != bdf
                    && !matches!(drv.as_deref(), None | Some("vfio-pci") | Some("pcieport"))
                {
                    others.push(format!("{other} ({})", drv.unwrap_or_default()));
                }
            }
        }
        others.sort();
        if !others.is_empty() {
            return Err(HostError::GroupNotViable {
                bdf: bdf.into(),
                group,
                others,
            });
        }
        if !self.paths.dev.join("vfio").join(&group).exists() {
            return Err(HostError::NoVfioGroupDevice(group));
        }
        Ok(name)
    }
}

/// `DDDD:BB:DD.F` with hex digits.
pub fn valid_bdf(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 12
        && b[4] == b':'
        && b[7] == b':'
        && b[10] == b'.'
        && s.char_indices()
            .filter(|&(i, _)| ![4, 7, 10].contains(&i))
            .all(|(_, c)| c.is_ascii_hexdigit())
}

fn link_name(p: &Path) -> Option<String> {
    fs::read_link(p)
        .ok()
        .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
}
