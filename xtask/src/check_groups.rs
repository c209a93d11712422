//! The check entries that are not one boot of the kernel judged by its log: screenshots of
//! the framebuffer console (group `iso`), Linux's ptdma driver on the model (group
//! `conformance`), the KVM guest command against a fixture host and QEMU 10.0 (group
//! `machines`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::check::Tally;
use crate::check_cases::{MachineCheck, ScreenCase};
use crate::check_verify::{holds, read_log};
use crate::commands::{BootPlan, Prepared};
use crate::conformance::{self, ConfCase, Linux};
use crate::exit::Exit;
use crate::host::Fail;
use crate::qemu::{self, Qemu};

/// What the entries share, made on first use: QEMU 10.0 (probed) and the conformance Linux.
#[derive(Debug, Default)]
pub struct Shared {
    qemu10: Option<Result<Qemu, String>>,
    linux: Option<Result<Linux, String>>,
}

impl Shared {
    /// QEMU 10.0 from the cache (fetched with `get-qemu 10` when missing), probed without
    /// engines.
    ///
    /// # Errors
    /// Why it is not there.
    pub fn qemu10(&mut self, p: &Prepared) -> Result<Qemu, String> {
        self.qemu10
            .get_or_insert_with(|| {
                let bin = crate::getqemu::ensure_qemu10().map_err(|f| f.lines.join(" "))?;
                qemu::ensure(&bin.display().to_string(), false, p.o.accel, &p.ctx.model)
                    .map_err(|f| f.lines.join(" "))
            })
            .clone()
    }
}

/// The runner (this program) on `args` with `FOLIOMOVE_HOST_ROOT=host_root` if given: exit
/// code and everything it printed.
///
/// # Errors
/// When it cannot be started.
pub fn runner(args: &[&str], host_root: Option<&Path>) -> Result<(i32, String), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the runner: {e}"))?;
    let mut c = Command::new(exe);
    c.args(args).env_remove("FOLIOMOVE_CWD");
    if let Some(r) = host_root {
        c.env("FOLIOMOVE_HOST_ROOT", r);
    }
    let out = c
        .output()
        .map_err(|e| format!("cannot run the runner: {e}"))?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    Ok((out.status.code().unwrap_or(-1), text))
}

/// Boots `c` with `debug-exit=0`, waits (bounded) until the run ended, takes a screendump
/// through QMP, asks QEMU to quit, and counts the text pixels.
///
/// # Errors
/// [`Fail`] with [`Exit::Signal`] when interrupted.
pub fn screen(p: &Prepared, c: &ScreenCase, t: &mut Tally) -> Result<(), Fail> {
    let out = &p.ctx.out;
    let log = out.join(format!("check-{}.log", c.name));
    let sock = out.join(format!("qmp-{}.sock", c.name));
    let ppm = out.join(format!("screen-{}.ppm", c.name));
    let _ = std::fs::remove_file(&ppm);
    let mut req = p.o.shape.clone();
    if let Some(edit) = c.edit {
        edit(&mut req);
    }
    let fitted = crate::shape::Shape::new(&req)
        .map_err(|e| e.to_string())
        .and_then(|mut s| {
            let fw =
                qemu::fit_shape(&mut s, &p.qemu, p.o.accel, true).map_err(|f| f.lines.join(" "))?;
            Ok((s, fw))
        });
    let fitted = match fitted {
        Ok(f) => f,
        Err(why) => return t.cannot_run(c.name, why),
    };
    let plan = BootPlan {
        via: c.via,
        serial: c.serial,
        qmp: Some(sock.clone()),
        stderr: Some(out.join(format!("check-{}.err", c.name))),
        end_note: false,
        ..p.plan_for(fitted)
    };
    println!("check: screenshot of the framebuffer console ({})", c.name);
    let (booted, dumped) = std::thread::scope(|s| {
        let boot = s.spawn(|| p.boot_on(plan, "debug-exit=0", &[], &log, false));
        // OVMF + GRUB + the run take ~10 s under TCG; allow 120 s. The serial log says when
        // the run ended; without serial QEMU is asked, sparingly (2 host cores).
        let sock_s = sock.display().to_string();
        let start = Instant::now();
        let mut polls = 0u32;
        while start.elapsed() < Duration::from_secs(120) {
            std::thread::sleep(Duration::from_secs(1));
            polls += 1;
            if boot.is_finished() {
                break;
            }
            if !sock.exists() {
                continue;
            }
            if read_log(&log).1.contains("foliomove: exit") {
                std::thread::sleep(Duration::from_secs(1));
                break;
            }
            if polls.is_multiple_of(3) && crate::screen::halted(&sock_s).unwrap_or(false) {
                break;
            }
        }
        let dumped = crate::screen::dump(&sock_s, &ppm.display().to_string());
        let _ = crate::screen::quit(&sock_s);
        (boot.join(), dumped)
    });
    match booted {
        Ok(Err(f)) if matches!(f.exit, Exit::Signal(_)) => return Err(f),
        Ok(Err(f)) => return t.cannot_run(c.name, f.lines.join(" ")),
        Err(_) => return t.cannot_run(c.name, "the boot thread panicked".into()),
        Ok(Ok(_)) => {}
    }
    let ppm_s = ppm.display().to_string();
    let verdict = dumped
        .and_then(|()| crate::screen::read_ppm(&ppm_s))
        .map_err(|e| format!("{e}; log {}", log.display()))
        .and_then(|img| {
            let _ = crate::screen::png(&ppm_s, &ppm.with_extension("png").display().to_string());
            let n = img.text_pixels();
            // 1024x768 is the mode the kernel's multiboot2 header asks for; GRUB's own
            // screens are 1280x800 (OVMF) or 720x400 text (SeaBIOS), so the size shows the
            // mode switch.
            if (img.width, img.height) != (1024, 768) {
                Err(format!(
                    "{n} text pixels ({}x{}, not 1024x768) in {ppm_s}",
                    img.width, img.height
                ))
            } else if n < c.min_pixels {
                Err(format!("{n} text pixels in {ppm_s}, want {}", c.min_pixels))
            } else {
                let (bytes, text) = read_log(&log);
                c.expect
                    .iter()
                    .try_for_each(|e| holds(e, &bytes, &text))
                    .map_err(|w| format!("{w}; log {}", log.display()))
            }
        });
    t.record(c.name, verdict);
    Ok(())
}

/// One conformance boot (Linux built and the initramfs written on first use).
///
/// # Errors
/// [`Fail`] with [`Exit::Signal`] when interrupted.
pub fn conformance(
    p: &Prepared,
    name: &str,
    c: &ConfCase,
    shared: &mut Shared,
    t: &mut Tally,
) -> Result<(), Fail> {
    if shared.linux.is_none() {
        let built = conformance::prepare(&p.ctx.root, &p.ctx.out).map_err(|f| f.lines.join(" "));
        if let Err(why) = &built {
            t.record("conformance: Linux kernel build", Err(why.clone()));
        }
        shared.linux = Some(built);
    }
    let linux = match shared.linux.as_ref().expect("set above") {
        Ok(l) => l.clone(),
        Err(_) => return t.cannot_run(name, "no Linux kernel (see above)".into()),
    };
    let accel = qemu::pick_accel(p.o.accel, false);
    let on = conformance::On {
        ctx: &p.ctx,
        qemu: &p.qemu.bin,
        accel: &accel,
        shape: &p.shape,
        firmware: p.firmware,
        timeout_s: p.o.timeout_s,
    };
    let r = match conformance::run_case(&on, &linux, c) {
        Ok(v) if v.bad.is_empty() => Ok(()),
        Ok(v) => Err(format!(
            "{}; see {}",
            v.bad.join("; "),
            linux.dir.join(format!("{}.log", c.name)).display()
        )),
        Err(f) if matches!(f.exit, Exit::Signal(_)) => return Err(f),
        Err(f) => Err(f.lines.join(" ")),
    };
    t.record(name, r);
    Ok(())
}

/// One check of the `machines` group.
pub fn machine(p: &Prepared, name: &str, m: MachineCheck, shared: &mut Shared, t: &mut Tally) {
    let r = match m {
        MachineCheck::KvmCommand | MachineCheck::KvmRefusal => kvm(p, m),
        MachineCheck::GetQemu10 => shared.qemu10(p).map(|_| ()),
        MachineCheck::Qemu10Refusal => qemu10_refusal(p, shared),
    };
    t.record(name, r);
}

/// The runner refuses emulated engines on QEMU 10.0 under TCG (its x-pci-proxy-dev crashes
/// there) with exit 8, before QEMU crashes.
fn qemu10_refusal(p: &Prepared, shared: &mut Shared) -> Result<(), String> {
    let q = shared.qemu10(p)?;
    let file = p.ctx.out.join("check-qemu10-refusal.txt");
    match qemu::ensure(&q.bin, true, p.o.accel, &p.ctx.model) {
        Err(f) => {
            let text = f.lines.join("\n");
            let _ = std::fs::write(&file, &text);
            if f.exit == Exit::Setup && text.contains("x-pci-proxy-dev crashes under TCG") {
                Ok(())
            } else {
                Err(format!("exit {}; see {}", f.exit.code(), file.display()))
            }
        }
        Ok(_) => Err("QEMU 10.0 with engines was accepted".into()),
    }
}

/// The KVM guest's command against a fixture host (no KVM here), or its refusal.
fn kvm(p: &Prepared, m: MachineCheck) -> Result<(), String> {
    let root = p.ctx.out.join("fixture-host");
    fixture_host(&root).map_err(|e| format!("fixture host: {e}"))?;
    let common = ["--accel", "kvm", "--ptdma", "0", "--cpus", "4"];
    let (args, want_rc, want): (&[&str], i32, &[&str]) = if m == MachineCheck::KvmCommand {
        (
            &[
                "--host-nodes",
                "2,3",
                "--vfio",
                "0000:c1:00.2",
                "--dry-run",
                "test",
            ],
            0,
            &[
                "-accel kvm -cpu host",
                r"memory-backend-memfd\,id=m0\,size=512M\,share=on\,host-nodes=2\,policy=bind",
                r"memory-backend-memfd\,id=m1\,size=512M\,share=on\,host-nodes=3\,policy=bind",
                r"-device vfio-pci\,host=0000:c1:00.2",
                "would pin vCPU 3 to host CPU 49",
                "KVM guest, nodes bound to host nodes 0->2 1->3, 1 assigned engine(s) (PTDMA)",
                "host-binding=kvm:0-2/1-3:1",
            ],
        )
    } else {
        (
            &["--host-nodes", "1,7", "--hugepages", "--dry-run", "test"],
            Exit::Setup.code(),
            &[
                "host NUMA node 7 does not exist",
                "echo 256 > /sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages",
            ],
        )
    };
    let all: Vec<&str> = common.iter().chain(args).copied().collect();
    let (rc, text) = runner(&all, Some(&root))?;
    let missing: Vec<&&str> = want.iter().filter(|w| !text.contains(**w)).collect();
    if rc == want_rc && missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "exit {rc} (want {want_rc}), lacks {missing:?}: {text}"
        ))
    }
}

/// A host tree (ROOT/sys, ROOT/dev, ROOT/proc/cpuinfo) like a two-socket AMD server with
/// KVM: 4 nodes of 16 CPUs and 64 GiB free, no huge pages, one PTDMA function 0000:c1:00.2
/// on vfio-pci in IOMMU group 41.
pub fn fixture_host(r: &Path) -> std::io::Result<()> {
    use std::fs::{create_dir_all, write};
    use std::os::unix::fs::symlink;
    let _ = std::fs::remove_dir_all(r);
    for d in [
        "dev/vfio",
        "proc",
        "sys/bus/pci/drivers/vfio-pci",
        "sys/kernel/iommu_groups/41/devices",
    ] {
        create_dir_all(r.join(d))?;
    }
    write(r.join("dev/kvm"), "")?;
    write(r.join("dev/vfio/41"), "")?;
    write(r.join("proc/cpuinfo"), "flags\t\t: fpu sse2 svm\n")?;
    for n in 0..4 {
        let d = r.join(format!("sys/devices/system/node/node{n}"));
        create_dir_all(d.join("hugepages/hugepages-2048kB"))?;
        write(d.join("cpulist"), format!("{}-{}\n", n * 16, n * 16 + 15))?;
        write(
            d.join("meminfo"),
            format!("Node {n} MemFree:        67108864 kB\n"),
        )?;
        write(d.join("hugepages/hugepages-2048kB/free_hugepages"), "0\n")?;
    }
    let d = r.join("sys/bus/pci/devices/0000:c1:00.2");
    create_dir_all(&d)?;
    write(d.join("vendor"), "0x1022\n")?;
    write(d.join("device"), "0x1498\n")?;
    symlink(r.join("sys/bus/pci/drivers/vfio-pci"), d.join("driver"))?;
    symlink(r.join("sys/kernel/iommu_groups/41"), d.join("iommu_group"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixture is a host tools/kvm-guest accepts for the command the check runs.
    #[test]
    fn fixture_host_plans_the_checked_guest() {
        let root = std::env::temp_dir().join(format!("xtask-fixture-{}", std::process::id()));
        fixture_host(&root).unwrap();
        let req = kvm_guest::Request {
            cpus: 4,
            nodes: 2,
            mem_per_node_mib: 512,
            host_nodes: vec![2, 3],
            hugepages: false,
            vfio: vec!["0000:c1:00.2".into()],
        };
        let plan = kvm_guest::plan(
            &kvm_guest::Host::new(kvm_guest::HostPaths::under(&root)),
            &req,
        );
        let _ = std::fs::remove_dir_all(&root);
        let plan = plan.unwrap();
        assert_eq!(plan.pins, [(0, 32), (1, 33), (2, 48), (3, 49)]);
        assert!(plan
            .args
            .contains(&"vfio-pci,host=0000:c1:00.2".to_string()));
    }
}
