//! A [`Shape`] plus how to boot it (QEMU binary, accelerator, firmware, what to boot, serial
//! port, KVM host binding, QMP socket) turned into QEMU's command line: the one place QEMU
//! arguments are built.

use std::path::PathBuf;

use crate::shape::Shape;

/// The firmware QEMU boots `-kernel` through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Firmware {
    /// QEMU's default (SeaBIOS).
    #[default]
    SeaBios,
    /// QEMU's qboot (`-bios qboot.rom`): QEMU 10.0 aborts when SeaBIOS 1.16.3 runs CPUID
    /// 0x1F on an AMD model with `level=0x1f`; qboot loads the kernel and ACPI tables the
    /// same way without it.
    Qboot,
}

/// How a boot starts the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Via {
    /// QEMU loads it (`-kernel`).
    #[default]
    Kernel,
    /// GRUB from an ISO, under SeaBIOS (`--iso`).
    Iso,
    /// GRUB from an ISO, under OVMF (`--uefi`).
    Uefi,
}

impl Via {
    /// From `--iso` and `--uefi`.
    pub fn of(iso: bool, uefi: bool) -> Via {
        match (iso, uefi) {
            (_, true) => Via::Uefi,
            (true, false) => Via::Iso,
            _ => Via::Kernel,
        }
    }
}

/// OVMF (UEFI firmware) as two pflash drives: the read-only code and a writable copy of
/// the variable store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ovmf {
    /// OVMF_CODE.fd.
    pub code: PathBuf,
    /// This run's copy of OVMF_VARS.fd.
    pub vars: PathBuf,
}

/// What QEMU boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Medium {
    /// `-kernel` (a multiboot2 ELF, or Linux's bzImage) with `-append`, and an initramfs.
    Kernel {
        /// The kernel file.
        kernel: PathBuf,
        /// Its command line.
        cmdline: String,
        /// `-initrd`.
        initrd: Option<PathBuf>,
    },
    /// A GRUB ISO as CD-ROM (`-cdrom`, `-boot d`), with a VGA device so the framebuffer
    /// console shows; SeaBIOS, or OVMF when given.
    Iso {
        /// The ISO.
        iso: PathBuf,
        /// UEFI firmware, or `None` for SeaBIOS.
        ovmf: Option<Ovmf>,
    },
}

/// A KVM guest's binding to the host (tools/kvm-guest's plan): replaces the accelerator, the
/// CPU model and each node's memory backend, adds the assigned functions and a QMP socket
/// through which the vCPU threads are pinned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvmBinding {
    /// `-accel` value.
    pub accel: String,
    /// `-cpu` value.
    pub cpu: String,
    /// `-object` of guest node N (id `mN`), in node order.
    pub backends: Vec<String>,
    /// `-device` values (`vfio-pci,host=BDF`).
    pub devices: Vec<String>,
    /// The QMP socket for the pinning.
    pub qmp: PathBuf,
}

/// Everything one QEMU boot needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// The qemu-system-x86_64 to run.
    pub qemu: String,
    /// `-accel` value (`tcg,thread=multi` or `kvm`).
    pub accel: String,
    /// The validated shape.
    pub shape: Shape,
    /// Firmware for `-kernel` boots.
    pub firmware: Firmware,
    /// What to boot.
    pub medium: Medium,
    /// COM1 on stdio (`false`: `-serial none`, the run is seen on the screen only).
    pub serial: bool,
    /// KVM host binding.
    pub kvm: Option<KvmBinding>,
    /// A QMP socket (screen checks).
    pub qmp: Option<PathBuf>,
}

fn qmp_arg(path: &std::path::Path) -> String {
    format!("unix:{},server=on,wait=off", path.display())
}

impl Machine {
    /// A `-kernel` boot of `kernel` with `cmdline` on COM1, no KVM binding, no QMP.
    pub fn kernel(
        qemu: String,
        accel: String,
        shape: Shape,
        firmware: Firmware,
        kernel: PathBuf,
        cmdline: String,
    ) -> Machine {
        Machine {
            qemu,
            accel,
            shape,
            firmware,
            medium: Medium::Kernel {
                kernel,
                cmdline,
                initrd: None,
            },
            serial: true,
            kvm: None,
            qmp: None,
        }
    }

    /// QEMU's argv (program first). The emulated PTDMA functions are added by
    /// `ptdma_model::launch` (`-device x-pci-proxy-dev,id=ptdmaK,fd=F`).
    pub fn qemu_args(&self) -> Vec<String> {
        let s = &self.shape;
        let total = u64::from(s.nodes) * s.mem_per_node_mib;
        let iso = matches!(self.medium, Medium::Iso { .. });
        let (accel, cpu) = match &self.kvm {
            Some(k) => (k.accel.as_str(), k.cpu.as_str()),
            None => (self.accel.as_str(), s.cpu_model.as_str()),
        };
        let mut a: Vec<String> = [
            self.qemu.as_str(),
            "-machine",
            "q35",
            "-accel",
            accel,
            "-cpu",
            cpu,
            "-smp",
            &s.smp(),
            "-m",
            &format!("{total}M"),
            "-display",
            "none",
            "-vga",
            if iso { "std" } else { "none" },
            "-nic",
            "none",
            "-monitor",
            "none",
            "-serial",
            if self.serial { "stdio" } else { "none" },
            "-no-reboot",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect();
        if self.firmware == Firmware::Qboot {
            a.extend(["-bios".to_string(), "qboot.rom".to_string()]);
        }
        for (n, cpus) in s.node_cpus().into_iter().enumerate() {
            a.push("-object".into());
            a.push(match self.kvm.as_ref().and_then(|k| k.backends.get(n)) {
                Some(b) => b.clone(),
                None => format!(
                    "memory-backend-memfd,id=m{n},size={}M,share=on",
                    s.mem_per_node_mib
                ),
            });
            a.push("-numa".into());
            a.push(match cpus {
                Some((first, last)) => format!("node,nodeid={n},cpus={first}-{last},memdev=m{n}"),
                None => format!("node,nodeid={n},memdev=m{n}"),
            });
        }
        if let Some(k) = &self.kvm {
            for d in &k.devices {
                a.extend(["-device".to_string(), d.clone()]);
            }
            a.extend(["-qmp".to_string(), qmp_arg(&k.qmp)]);
        }
        for d in s.numa_dist_args() {
            a.push("-numa".into());
            a.push(d);
        }
        match &self.medium {
            Medium::Kernel {
                kernel,
                cmdline,
                initrd,
            } => {
                a.extend([
                    "-kernel".to_string(),
                    kernel.display().to_string(),
                    "-append".to_string(),
                    cmdline.clone(),
                ]);
                if let Some(i) = initrd {
                    a.extend(["-initrd".to_string(), i.display().to_string()]);
                }
            }
            Medium::Iso { iso, ovmf } => {
                a.extend([
                    "-cdrom".to_string(),
                    iso.display().to_string(),
                    "-boot".to_string(),
                    "d".to_string(),
                ]);
                if let Some(f) = ovmf {
                    a.extend([
                        "-drive".to_string(),
                        format!("if=pflash,format=raw,readonly=on,file={}", f.code.display()),
                        "-drive".to_string(),
                        format!("if=pflash,format=raw,file={}", f.vars.display()),
                    ]);
                }
            }
        }
        if let Some(q) = &self.qmp {
            a.extend(["-qmp".to_string(), qmp_arg(q)]);
        }
        a
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
