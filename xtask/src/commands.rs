//! The commands that boot: `run`, `test`, `bench`, `faults`, `soak`.

use std::path::{Path, PathBuf};

use regex::Regex;

use crate::boot::{boot, kernel_cmdline, log_passed, Boot, Ctx};
use crate::check_cases::probe_copies;
use crate::cli::{Command, Options};
use crate::exit::Exit;
use crate::host::Fail;
use crate::kvm::KvmGuest;
use crate::machine::{Firmware, Machine, Medium, Via};
use crate::model::ModelSetup;
use crate::qemu::{self, Qemu};
use crate::shape::Shape;

/// A command's QEMU, kernel and shape, settled before its first boot.
pub struct Prepared<'a> {
    /// The options.
    pub o: &'a Options,
    /// Paths and the model.
    pub ctx: Ctx,
    /// The probed QEMU.
    pub qemu: Qemu,
    /// The options' machine, fitted to this QEMU.
    pub shape: Shape,
    /// Its firmware.
    pub firmware: Firmware,
    /// The kernel ELF.
    pub kernel: PathBuf,
    /// The KVM guest the options ask for.
    pub kvm: Option<KvmGuest>,
}

/// How one boot differs from the options' own: its machine, how it boots, and where its
/// output goes.
#[derive(Debug, Clone)]
pub struct BootPlan<'q> {
    /// The shape (fitted to the QEMU it runs on) and its firmware.
    pub shape: Shape,
    /// See `shape`.
    pub firmware: Firmware,
    /// `-kernel`, or an ISO under SeaBIOS or OVMF.
    pub via: Via,
    /// COM1 on stdio.
    pub serial: bool,
    /// Another QEMU than the prepared one.
    pub qemu: Option<&'q Qemu>,
    /// A QMP socket.
    pub qmp: Option<PathBuf>,
    /// QEMU's stderr into this file.
    pub stderr: Option<PathBuf>,
    /// Wall-clock limit, seconds.
    pub timeout_s: u64,
    /// Apply the options' KVM guest (`--host-nodes`, `--vfio`).
    pub kvm: bool,
    /// Print why the run did not succeed.
    pub end_note: bool,
}

impl<'a> Prepared<'a> {
    /// QEMU (probed), the shape fitted to it, the kernel built, the KVM guest planned.
    ///
    /// # Errors
    /// [`Fail`] (exit 8) when QEMU or the kernel is not usable or the host cannot run the
    /// KVM guest asked for; exit 2 when the KVM options do not go together.
    pub fn new(o: &'a Options, root: &Path, mut shape: Shape) -> Result<Prepared<'a>, Fail> {
        let ctx = Ctx {
            root: root.to_path_buf(),
            out: root.join("out"),
            dry_run: o.dry_run,
            model: ModelSetup::init(),
        };
        let bin = qemu::select(o.qemu.as_deref());
        let qemu = qemu::ensure(&bin, shape.ptdma > 0, o.accel, &ctx.model)?;
        let firmware = qemu::fit_shape(&mut shape, &qemu, o.accel, o.iso)?;
        let kernel = crate::host::build_kernel(root, o.debug)?;
        let kvm = crate::kvm::plan(o, &shape, &ctx.out)?;
        Ok(Prepared {
            o,
            ctx,
            qemu,
            shape,
            firmware,
            kernel,
            kvm,
        })
    }

    /// The options' own boot plan: their shape, `--iso`/`--uefi`, `--timeout`, the KVM guest.
    pub fn own_plan(&self) -> BootPlan<'_> {
        BootPlan {
            shape: self.shape.clone(),
            firmware: self.firmware,
            via: Via::of(self.o.iso, self.o.uefi),
            serial: true,
            qemu: None,
            qmp: None,
            stderr: None,
            timeout_s: self.o.timeout_s,
            kvm: true,
            end_note: true,
        }
    }

    /// A plan for another shape (fitted to this QEMU, with its firmware), `-kernel`, no KVM.
    pub fn plan_for(&self, (shape, firmware): (Shape, Firmware)) -> BootPlan<'_> {
        BootPlan {
            shape,
            firmware,
            via: Via::Kernel,
            kvm: false,
            ..self.own_plan()
        }
    }

    /// Boots the options' machine once with `kargs`.
    fn boot(
        &self,
        kargs: &str,
        model_args: &[String],
        timeout_s: u64,
        log: &Path,
        echo: bool,
    ) -> Result<Exit, Fail> {
        let plan = BootPlan {
            timeout_s,
            ..self.own_plan()
        };
        self.boot_on(plan, kargs, model_args, log, echo)
    }

    /// Boots `plan` once with `kargs`; the serial log goes to `log` (and stdout when `echo`).
    ///
    /// # Errors
    /// [`Fail`] when the boot cannot start (bad model arguments, unwritable log, no ISO
    /// tools), or with [`Exit::Signal`] when it was interrupted.
    pub fn boot_on(
        &self,
        plan: BootPlan,
        kargs: &str,
        model_args: &[String],
        log: &Path,
        echo: bool,
    ) -> Result<Exit, Fail> {
        let mut cmdline = kernel_cmdline(kargs.to_string(), &plan.shape, model_args);
        let kvm = self.kvm.as_ref().filter(|_| plan.kvm);
        if let Some(g) = kvm {
            cmdline = crate::kvm::with_host_binding(cmdline, g);
        }
        let medium = match plan.via {
            Via::Kernel => Medium::Kernel {
                kernel: self.kernel.clone(),
                cmdline,
                initrd: None,
            },
            Via::Iso | Via::Uefi => crate::iso::run_medium(
                &self.kernel,
                &cmdline,
                plan.via == Via::Uefi,
                &self.ctx.out,
            )?,
        };
        let machine = Machine {
            qemu: plan.qemu.unwrap_or(&self.qemu).bin.clone(),
            accel: qemu::pick_accel(self.o.accel, true),
            shape: plan.shape,
            firmware: plan.firmware,
            medium,
            serial: plan.serial,
            kvm: kvm.map(|g| g.binding.clone()),
            qmp: plan.qmp,
        };
        let mut b = Boot::new(machine, model_args, plan.timeout_s, log.to_path_buf(), echo);
        b.stderr = plan.stderr;
        b.end_note = plan.end_note;
        b.pins = kvm.map(|g| g.pins.clone()).unwrap_or_default();
        match boot(&self.ctx, &b)? {
            // Ctrl-C (or SIGTERM): QEMU is stopped and the model's counters written; stop
            // the command too (a check does not go on to its next case).
            Exit::Signal(sig) => Err(Fail::lines(Exit::Signal(sig), Vec::new())),
            exit => Ok(exit),
        }
    }
}

/// `kargs` then the words after `--`.
fn with_extra(kargs: &str, o: &Options) -> String {
    let extra = o.kargs.join(" ");
    match (kargs.is_empty(), extra.is_empty()) {
        (_, true) => kargs.to_string(),
        (true, false) => extra,
        (false, false) => format!("{kargs} {extra}"),
    }
}

/// `run` and `test`.
pub fn run_or_test(o: &Options, root: &Path, shape: Shape) -> Result<Exit, Fail> {
    let p = Prepared::new(o, root, shape)?;
    let test = o.command == Command::Test;
    let kargs = if test {
        with_extra(&format!("test=all {}", p.shape.expect_args()), o)
    } else {
        with_extra("", o)
    };
    let log = p.ctx.out.join(if test { "test.log" } else { "run.log" });
    let exit = p.boot(&kargs, &o.model_args, o.timeout_s, &log, true)?;
    if test && !o.dry_run && exit == Exit::Ok && !log_passed(&log) {
        crate::note("kernel exited 0 but printed no 'N passed, 0 failed' line");
        return Ok(Exit::Test);
    }
    Ok(exit)
}

/// Checks a `bench` list against the kernel's benchmark registry (`kcore::bench`), the
/// one list the kernel, the report and the runner share.
///
/// # Errors
/// [`Fail`] (exit 2) naming the first unknown benchmark and the available ones.
pub fn check_bench_names(list: &str) -> Result<(), Fail> {
    let names: Vec<&str> = kcore::bench::BENCHES
        .iter()
        .map(|b| b.bench.name())
        .chain([kcore::bench::ALL_WORD])
        .collect();
    if list.is_empty() || list.split(',').any(str::is_empty) {
        return Err(Fail::usage(format!(
            "bench takes a comma list of benchmark names, got '{list}'"
        )));
    }
    match list.split(',').find(|b| !names.contains(b)) {
        None => Ok(()),
        Some(b) => Err(Fail::usage(format!(
            "unknown benchmark '{b}' (available: {}; comma lists allowed)",
            names.join(", ")
        ))),
    }
}

/// Removes the report files of an earlier run from `dir` (the log stays); true if any was
/// there.
fn remove_reports(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let mut removed = false;
    for e in entries.flatten() {
        let path = e.path();
        let is_report = path.file_name().and_then(|n| n.to_str()) != Some("serial.log")
            && path
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x, "md" | "csv" | "json" | "png" | "svg"));
        if is_report && std::fs::remove_file(&path).is_ok() {
            removed = true;
        }
    }
    removed
}

/// `bench EXP`: the benchmarks in one boot, the log kept in out/bench-TAG/ and turned into a
/// report there by tools/report.
pub fn bench(o: &Options, root: &Path, shape: Shape, list: &str) -> Result<Exit, Fail> {
    check_bench_names(list)?;
    let p = Prepared::new(o, root, shape)?;
    let tag = list.replace(',', "-");
    let rel_dir = format!("out/bench-{tag}");
    let dir = root.join(&rel_dir);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Fail::setup(format!("cannot create {}: {e}", dir.display())))?;
    let log = dir.join("serial.log");
    let rc = p.boot(
        &with_extra(&format!("bench={list}"), o),
        &o.model_args,
        o.timeout_s,
        &log,
        true,
    )?;
    if o.dry_run {
        return Ok(rc);
    }
    let bytes = std::fs::read(&log).unwrap_or_default();
    let parsed = report::parse::parse_log(&bytes);
    if parsed.all_cells().is_empty() && parsed.run.is_none() {
        // Nothing measured (bad input, a crash before the first cell): no report, and none
        // of an earlier run left beside this run's log.
        let stale = remove_reports(&dir);
        crate::note(&format!(
            "no report: the run measured nothing (see {rel_dir}/serial.log){}",
            if stale {
                "; the previous run's report there was removed"
            } else {
                ""
            }
        ));
        return Ok(if rc == Exit::Ok { Exit::Test } else { rc });
    }
    // Relative paths, so the report names the log the same way on every machine.
    let rrc = report::generate_and_tell(
        &bytes,
        &format!("{rel_dir}/serial.log"),
        &dir,
        &report::ALL_FORMATS,
        report::DEFAULT_TITLE,
    );
    crate::note(&format!(
        "report in {}/report.md (CSV, JSON and plots beside it)",
        dir.display()
    ));
    Ok(if rc != Exit::Ok {
        rc
    } else if rrc != 0 {
        Exit::Test
    } else {
        Exit::Ok
    })
}

/// One case of `faults`: what is injected where, and the self-test that migrates through it.
struct FaultCase {
    name: &'static str,
    /// `--fault=KIND-at=N`: the kind, and N after the kernel's probe descriptors.
    kind: &'static str,
    after_probe: u64,
    kargs: &'static str,
}

const FAULTS: [FaultCase; 5] = [
    FaultCase {
        name: "error status on a descriptor",
        kind: "error",
        after_probe: 40,
        kargs: "test=migrate_dma_fault_falls_back_to_cpu",
    },
    FaultCase {
        name: "stuck queue",
        kind: "stuck",
        after_probe: 40,
        kargs: "test=migrate_dma_fault_falls_back_to_cpu dma-timeout-ms=300",
    },
    FaultCase {
        name: "halted queue",
        kind: "halt",
        after_probe: 40,
        kargs: "test=migrate_dma_fault_falls_back_to_cpu dma-timeout-ms=300",
    },
    FaultCase {
        name: "device disappears mid-batch",
        kind: "vanish",
        after_probe: 40,
        kargs: "test=migrate_dma_fault_falls_back_to_cpu",
    },
    FaultCase {
        name: "corrupted copy (wrong bytes, success reported)",
        kind: "corrupt",
        after_probe: 10,
        kargs: "test=migrate_dma_corruption_detected",
    },
];

/// The model arguments of one fault boot: the run's own (`--ptdma-arg`s: the engine kind,
/// a profile, ...) and then the fault.
pub fn fault_model_args(model_args: &[String], fault: &str) -> Vec<String> {
    let mut a = model_args.to_vec();
    a.push(fault.to_string());
    a
}

/// `faults`: each injected DMA fault during a real migration; prints case | detected |
/// recovered | data ok, and fails unless every case is handled.
pub fn faults(o: &Options, root: &Path, shape: Shape) -> Result<Exit, Fail> {
    let p = Prepared::new(o, root, shape)?;
    let (table, passed) = fault_table(&p, &o.model_args)?;
    if o.dry_run {
        return Ok(Exit::Ok);
    }
    print!("{table}");
    Ok(if passed { Exit::Ok } else { Exit::Test })
}

/// Boots every fault case with `model_args` (the engine kind, a profile, ...) and the
/// fault; returns the table as `faults` prints it and whether every case was detected and
/// ended in success.
///
/// # Errors
/// [`Fail`] when a boot cannot start.
pub fn fault_table(p: &Prepared, model_args: &[String]) -> Result<(String, bool), Fail> {
    let o = p.o;
    let probe = probe_copies(&p.shape, model_args);
    let detected_re =
        Regex::new(r"dma: channel .*(error|state Error|timeout|gone|retired)|corruption detected")
            .expect("valid pattern");
    let mut rows = Vec::new();
    let mut failed = false;
    for c in &FAULTS {
        let fault = format!("--fault={}-at={}", c.kind, probe + c.after_probe);
        let model = fault_model_args(model_args, &fault);
        let log = p.ctx.out.join(format!(
            "faults-{}-at={}.log",
            c.kind,
            probe + c.after_probe
        ));
        let rc = p.boot(c.kargs, &model, o.timeout_s, &log, false)?;
        let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
        let detected = text.lines().any(|l| detected_re.is_match(l));
        let mut recovered = if text.contains("op(s) copied by the CPU, frames balanced") {
            "yes"
        } else {
            "no"
        };
        let mut data_ok = "no";
        if text.contains("corruption detected by verification") {
            (recovered, data_ok) = ("reported as an error, no result", "bad bytes caught");
        } else if rc == Exit::Ok {
            data_ok = "yes";
        }
        failed |= rc != Exit::Ok || !detected;
        rows.push(format!(
            "| {} | {} | {recovered} | {data_ok} |",
            c.name,
            if detected { "yes" } else { "no" }
        ));
    }
    let mut table =
        String::from("\n| case | detected | recovered | data ok |\n|---|---|---|---|\n");
    rows.iter().for_each(|r| table.push_str(&format!("{r}\n")));
    table.push_str(&format!(
        "\n(logs in {}/faults-*.log; each case is a real batched DMA migration of 256 x 4K folios)\n",
        p.ctx.out.display()
    ));
    Ok((table, !failed))
}

/// `soak MIN`: random verified migrations while the model injects an error, a halted and a
/// stuck queue and another error at random descriptors spread over the run.
pub fn soak(o: &Options, root: &Path, shape: Shape, minutes: u64) -> Result<Exit, Fail> {
    let p = Prepared::new(o, root, shape)?;
    let secs = minutes * 60;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64 | 1);
    let mut rng = kcore::rng::XorShift::new(seed);
    let (r1, r2, r3) = (
        200 + rng.below(2000),
        5000 + rng.below(5000),
        20000 + rng.below(20000),
    );
    let mut model_args = o.model_args.clone();
    model_args.extend([
        format!("--fault=error-at={r1}"),
        format!("--fault=halt-at={r2}"),
        format!("--fault=stuck-at={r3}"),
        format!("--fault=error-at={}", r3 + 5000),
    ]);
    let timeout = o.timeout_s.max(secs + 180);
    crate::note(&format!(
        "soak for {minutes} min; model faults: {}",
        model_args.join(" ")
    ));
    let log = p.ctx.out.join("soak.log");
    let kargs = with_extra(&format!("soak={secs} dma-timeout-ms=500"), o);
    let rc = p.boot(&kargs, &model_args, timeout, &log, true)?;
    if o.dry_run {
        return Ok(rc);
    }
    let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
    if let Some(last) = text.lines().rev().find(|l| l.starts_with("SOAK ")) {
        println!("{last}");
    }
    Ok(rc)
}

#[cfg(test)]
#[path = "commands_tests.rs"]
mod tests;
