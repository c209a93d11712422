//! A [`Shape`] plus how to boot it (QEMU binary, accelerator, firmware, kernel and command
//! line) turned into QEMU's command line: the one place QEMU arguments are built.

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

/// Everything one QEMU boot of the kernel needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// The qemu-system-x86_64 to run.
    pub qemu: String,
    /// `-accel` value (`tcg,thread=multi` or `kvm`).
    pub accel: String,
    /// The validated shape.
    pub shape: Shape,
    /// Firmware.
    pub firmware: Firmware,
    /// The kernel ELF (`-kernel`).
    pub kernel: PathBuf,
    /// The kernel command line (`-append`).
    pub cmdline: String,
}

impl Machine {
    /// QEMU's argv (program first). The emulated PTDMA functions are added by
    /// `ptdma_model::launch` (`-device x-pci-proxy-dev,id=ptdmaK,fd=F`).
    pub fn qemu_args(&self) -> Vec<String> {
        let s = &self.shape;
        let total = u64::from(s.nodes) * s.mem_per_node_mib;
        let mut a: Vec<String> = [
            self.qemu.as_str(),
            "-machine",
            "q35",
            "-accel",
            &self.accel,
            "-cpu",
            &s.cpu_model,
            "-smp",
            &s.smp(),
            "-m",
            &format!("{total}M"),
            "-display",
            "none",
            "-vga",
            "none",
            "-nic",
            "none",
            "-monitor",
            "none",
            "-serial",
            "stdio",
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
            a.push(format!(
                "memory-backend-memfd,id=m{n},size={}M,share=on",
                s.mem_per_node_mib
            ));
            a.push("-numa".into());
            a.push(match cpus {
                Some((first, last)) => format!("node,nodeid={n},cpus={first}-{last},memdev=m{n}"),
                None => format!("node,nodeid={n},memdev=m{n}"),
            });
        }
        for d in s.numa_dist_args() {
            a.push("-numa".into());
            a.push(d);
        }
        a.push("-kernel".into());
        a.push(self.kernel.display().to_string());
        a.push("-append".into());
        a.push(self.cmdline.clone());
        a
    }
}
