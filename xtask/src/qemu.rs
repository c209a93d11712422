//! Which QEMU the runner uses and what it can do: `--qemu PATH`, else `$FOLIOMOVE_QEMU`,
//! else `qemu-system-x86_64` from PATH (Debian's package, installed when missing). Before the
//! first boot the binary is asked for its version and for the devices and backends a boot
//! needs; the accelerator is chosen (KVM only on real VT-x/AMD-V); and the firmware and
//! x2APIC a shape needs on this QEMU are settled.

use std::path::Path;
use std::process::{Command, Stdio};

use ptdma_model::launch::{launch_to, LaunchIo};

use crate::cli::Accel;
use crate::exit::Exit;
use crate::host::{apt_install, on_path, Fail};
use crate::machine::Firmware;
use crate::model::ModelSetup;
use crate::shape::Shape;

/// The default binary name.
pub const DEFAULT_QEMU: &str = "qemu-system-x86_64";

/// A QEMU version (major.minor[.patch]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch (0 when not printed).
    pub patch: u32,
}

impl Version {
    /// Parses the first line of `qemu --version` ("QEMU emulator version 7.2.15 (...)").
    pub fn from_banner(banner: &str) -> Option<(Version, String)> {
        let first = banner.lines().next()?;
        let rest = first.strip_prefix("QEMU emulator version ")?;
        let text: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let text = text.trim_end_matches('.').to_string();
        let mut parts = text.split('.').map(|p| p.parse::<u32>().ok());
        let major = parts.next()??;
        let minor = parts.next()??;
        let patch = match parts.next() {
            Some(p) => p?,
            None => 0,
        };
        Some((
            Version {
                major,
                minor,
                patch,
            },
            text,
        ))
    }
}

/// A probed QEMU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qemu {
    /// The binary.
    pub bin: String,
    /// Its version.
    pub version: Version,
}

/// The binary to use: option, environment, default.
pub fn select(option: Option<&str>) -> String {
    option
        .map(str::to_string)
        .or_else(|| {
            std::env::var("FOLIOMOVE_QEMU")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| DEFAULT_QEMU.to_string())
}

/// True when this host has real hardware virtualization for KVM: /dev/kvm usable, vmx or svm
/// in /proc/cpuinfo, and not the kvm_pvm software shim (bare-metal guests fail there).
pub fn hardware_kvm() -> bool {
    let dev = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    let flags = std::fs::read_to_string("/proc/cpuinfo")
        .map(|c| c.split_whitespace().any(|w| w == "vmx" || w == "svm"))
        .unwrap_or(false);
    dev && flags && !Path::new("/sys/module/kvm_pvm").is_dir()
}

/// The `-accel` value; `note` says so when auto falls back to TCG.
pub fn pick_accel(accel: Accel, note: bool) -> String {
    match accel {
        Accel::Tcg => "tcg,thread=multi".into(),
        Accel::Kvm => "kvm".into(),
        Accel::Auto if hardware_kvm() => "kvm".into(),
        Accel::Auto => {
            if note {
                crate::note("no hardware virtualization here: using TCG (emulation; timings are emulator speed)");
            }
            "tcg,thread=multi".into()
        }
    }
}

/// Makes sure `bin` exists (installing Debian's QEMU for the default name) and can boot:
/// 7.2 or newer, isa-debug-exit, memory-backend-memfd, and x-pci-proxy-dev when engines
/// are attached (which must also survive realizing under TCG).
///
/// # Errors
/// [`Fail`] with exit 8 naming what is missing.
pub fn ensure(bin: &str, need_proxy: bool, accel: Accel, model: &ModelSetup) -> Result<Qemu, Fail> {
    if bin == DEFAULT_QEMU && !on_path(DEFAULT_QEMU) {
        apt_install(&["qemu-system-x86"])?;
        if !on_path(DEFAULT_QEMU) {
            return Err(Fail::setup("qemu-system-x86_64 still missing"));
        }
    }
    let out = Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .output();
    let banner = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stderr).into_owned()
                + &String::from_utf8_lossy(&o.stdout);
            let first = text.lines().next().unwrap_or("").to_string();
            return Err(Fail::setup(format!("QEMU '{bin}' does not run: {first}")));
        }
        Err(e) => return Err(Fail::setup(format!("QEMU '{bin}' does not run: {e}"))),
    };
    let Some((version, text)) = Version::from_banner(&banner) else {
        let first = banner.lines().next().unwrap_or("");
        return Err(Fail::setup(format!(
            "'{bin} --version' does not name a QEMU version: {first}"
        )));
    };
    if (version.major, version.minor) < (7, 2) {
        return Err(Fail::setup(format!(
            "QEMU {text} ({bin}) is too old: foliomove needs 7.2 or newer ('./run-qemu.sh get-qemu 10' fetches 10.0)"
        )));
    }
    let mut missing = Vec::new();
    let mut devices = vec!["isa-debug-exit"];
    if need_proxy {
        devices.push("x-pci-proxy-dev");
    }
    let quiet_ok = |args: &[&str]| {
        Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    for d in devices {
        if !quiet_ok(&["-machine", "none", "-device", &format!("{d},help")]) {
            missing.push(format!("device {d}"));
        }
    }
    if !quiet_ok(&["-machine", "none", "-object", "memory-backend-memfd,help"]) {
        missing.push("object memory-backend-memfd".to_string());
    }
    if !missing.is_empty() {
        let mut lines = vec![format!("QEMU {text} ({bin}) lacks: {}", missing.join(", "))];
        if missing.iter().any(|m| m.contains("x-pci-proxy-dev")) {
            lines.push("x-pci-proxy-dev needs a QEMU built with multiprocess support (Debian's is); or boot with --ptdma 0".into());
        }
        return Err(Fail::lines(Exit::Setup, lines));
    }
    if need_proxy && pick_accel(accel, false).starts_with("tcg") && !proxy_survives_tcg(bin, model)
    {
        return Err(Fail::lines(Exit::Setup, vec![
            format!("QEMU {text} ({bin}): its x-pci-proxy-dev crashes under TCG (SIGSEGV while realizing:"),
            "  it registers the INTx irqfd with KVM, which TCG does not have; QEMU 7.2 skipped that).".into(),
            "  Emulated PTDMA engines need QEMU 7.2 under TCG, or KVM with this QEMU; boot with --ptdma 0 here.".into(),
        ]));
    }
    crate::note(&format!("QEMU {text} ({bin})"));
    Ok(Qemu {
        bin: bin.to_string(),
        version,
    })
}

/// Starts QEMU paused under TCG with one x-pci-proxy-dev served by the model for one
/// second: true unless QEMU dies while realizing the device (QEMU 10.0 does: SIGSEGV in
/// kvm_vm_ioctl without KVM).
fn proxy_survives_tcg(bin: &str, model: &ModelSetup) -> bool {
    let args: Vec<String> = [
        bin,
        "-machine",
        "q35",
        "-accel",
        "tcg",
        "-S",
        "-nodefaults",
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-m",
        "64M",
        "-object",
        "memory-backend-memfd,id=probe,size=64M,share=on",
        "-machine",
        "memory-backend=probe",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let Ok(common) = model.common(&[], None, None) else {
        return false;
    };
    model.log_to(None);
    let io = LaunchIo {
        stdout: Some(Stdio::null()),
        stderr: Some(Stdio::null()),
        quiet: true,
    };
    let l = launch_to(1, Some(1.0), &common, &args, io);
    crate::model::restore_default_signals();
    l.timed_out || l.code == 0 || l.code == 143
}

/// What a shape needs on this QEMU: the firmware (qboot for AMD models with `level=0x1f`
/// on QEMU 10 and newer, `-kernel` boots only) and `x2apic=on` for APIC IDs above 254.
///
/// # Errors
/// [`Fail`] (exit 8) when the shape needs x2APIC under TCG and this QEMU is older than 9.0.
pub fn fit_shape(
    shape: &mut Shape,
    qemu: &Qemu,
    accel: Accel,
    iso: bool,
) -> Result<Firmware, Fail> {
    let firmware = if shape.cpu_model.contains("level=0x1f") && qemu.version.major >= 10 && !iso {
        Firmware::Qboot
    } else {
        Firmware::SeaBios
    };
    let max = shape.max_apic_id();
    if !shape.needs_x2apic() || !pick_accel(accel, false).starts_with("tcg") {
        return Ok(firmware);
    }
    if qemu.version.major < 9 {
        let v = qemu.version;
        let text = if v.patch > 0 {
            format!("{}.{}.{}", v.major, v.minor, v.patch)
        } else {
            format!("{}.{}", v.major, v.minor)
        };
        return Err(Fail::lines(Exit::Setup, vec![
            format!("this shape has APIC IDs up to {max}: above 254 they need x2APIC, which QEMU's TCG has from 9.0 on;"),
            format!("  QEMU {text} cannot boot it. './run-qemu.sh get-qemu 10', then --qemu (or FOLIOMOVE_QEMU)."),
        ]));
    }
    if !shape.cpu_model.contains("x2apic") {
        shape.cpu_model.push_str(",x2apic=on");
    }
    Ok(firmware)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_banner() {
        let (v, t) = Version::from_banner(
            "QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7+deb12u12)\nCopyright",
        )
        .unwrap();
        assert_eq!(
            (v.major, v.minor, v.patch, t.as_str()),
            (7, 2, 15, "7.2.15")
        );
        let (v, t) = Version::from_banner("QEMU emulator version 10.0\n").unwrap();
        assert_eq!((v.major, v.minor, t.as_str()), (10, 0, "10.0"));
        assert!(Version::from_banner("qemu 7").is_none());
        assert!(Version::from_banner("QEMU emulator version x").is_none());
    }

    fn qemu(major: u32) -> Qemu {
        Qemu {
            bin: "q".into(),
            version: Version {
                major,
                minor: 0,
                patch: 0,
            },
        }
    }

    #[test]
    fn firmware_and_x2apic_per_qemu() {
        use crate::shape::ShapeRequest;
        let req = |s, d, c, t| ShapeRequest {
            sockets: Some(s),
            dies: Some(d),
            cores: Some(c),
            threads: Some(t),
            cpu_model: "EPYC-Milan,level=0x1f".into(),
            ptdma: 0,
            ..ShapeRequest::default()
        };
        let mut small = Shape::new(&req(1, 2, 2, 1)).unwrap();
        assert_eq!(
            fit_shape(&mut small, &qemu(7), Accel::Tcg, false).unwrap(),
            Firmware::SeaBios
        );
        assert_eq!(
            fit_shape(&mut small, &qemu(10), Accel::Tcg, false).unwrap(),
            Firmware::Qboot
        );
        assert_eq!(
            fit_shape(&mut small, &qemu(10), Accel::Tcg, true).unwrap(),
            Firmware::SeaBios
        );
        assert_eq!(small.cpu_model, "EPYC-Milan,level=0x1f");
        let mut big = Shape::new(&req(2, 9, 8, 2)).unwrap();
        let e = fit_shape(&mut big, &qemu(7), Accel::Tcg, false).unwrap_err();
        assert_eq!(e.exit, Exit::Setup);
        assert!(e.lines[0].contains("APIC IDs up to 399"));
        fit_shape(&mut big, &qemu(10), Accel::Tcg, false).unwrap();
        assert_eq!(big.cpu_model, "EPYC-Milan,level=0x1f,x2apic=on");
        fit_shape(&mut big, &qemu(10), Accel::Tcg, false).unwrap();
        assert_eq!(
            big.cpu_model, "EPYC-Milan,level=0x1f,x2apic=on",
            "added once"
        );
    }
}
