//! `./run-qemu.sh conformance`: Linux's own ptdma driver and dmatest against the emulated
//! PTDMA engines. A small Linux 6.12 (built once, cached; [`linux`]) boots with 1 and 4
//! engines and once with an injected descriptor error; each boot is judged ([`verdict`]) with
//! one summary line, then `conformance: N passed, N failed`. The same cases are entries of
//! `check`.

pub mod linux;
pub mod verdict;

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::boot::{boot, Boot, Ctx};
use crate::cli::Options;
use crate::exit::Exit;
use crate::host::Fail;
use crate::machine::{Firmware, Machine, Medium};
use crate::model::ModelSetup;
use crate::qemu;
use crate::shape::Shape;

use verdict::{judge, Verdict, Want};

/// dmatest buffer sizes of the full runs, bytes.
const SIZES: &[u64] = &[4096, 16384, 65536, 1048576];

/// One conformance boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfCase {
    /// Name (logs are out/conformance/NAME.*).
    pub name: &'static str,
    /// PTDMA functions attached.
    pub engines: u32,
    /// dmatest buffer sizes, bytes.
    pub sizes: &'static [u64],
    /// dmatest iterations per channel and size (`None`: `$CONF_ITERATIONS`, else 1000).
    pub iterations: Option<u64>,
    /// dmatest failures it must show (one per injected error).
    pub failures: u64,
    /// The model's fault injection.
    pub fault: Option<&'static str>,
}

/// The cases, in the order they run.
pub const CASES: [ConfCase; 3] = [
    ConfCase {
        name: "dmatest-1-engine",
        engines: 1,
        sizes: SIZES,
        iterations: None,
        failures: 0,
        fault: None,
    },
    ConfCase {
        name: "dmatest-4-engines",
        engines: 4,
        sizes: SIZES,
        iterations: None,
        failures: 0,
        fault: None,
    },
    ConfCase {
        name: "descriptor-error",
        engines: 1,
        sizes: &[4096],
        iterations: Some(200),
        failures: 1,
        fault: Some("--fault=error-at=100"),
    },
];

impl ConfCase {
    /// Iterations per channel and size.
    pub fn iterations(&self) -> u64 {
        self.iterations.unwrap_or_else(|| {
            std::env::var("CONF_ITERATIONS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1000)
        })
    }

    /// Linux's command line (tools/conformance-init.sh reads `CONF_*`).
    pub fn cmdline(&self) -> String {
        let sizes: Vec<String> = self.sizes.iter().map(u64::to_string).collect();
        format!(
            "console=ttyS0 panic=-1 CONF_SIZES={} CONF_ITER={}",
            sizes.join(","),
            self.iterations()
        )
    }
}

/// The Linux kernel and initramfs, ready to boot.
#[derive(Debug, Clone)]
pub struct Linux {
    /// bzImage (in the cache).
    pub bzimage: PathBuf,
    /// out/conformance/initramfs.cpio.gz.
    pub initramfs: PathBuf,
    /// out/conformance.
    pub dir: PathBuf,
}

/// Builds (or finds) Linux and writes the initramfs.
///
/// # Errors
/// [`Fail`] (exit 8) when either cannot be made.
pub fn prepare(root: &Path, out: &Path) -> Result<Linux, Fail> {
    let t0 = Instant::now();
    let bzimage = linux::bzimage()?;
    crate::note(&format!(
        "conformance: kernel ready after {} s",
        t0.elapsed().as_secs()
    ));
    let dir = out.join("conformance");
    std::fs::create_dir_all(&dir)
        .map_err(|e| Fail::setup(format!("cannot create {}: {e}", dir.display())))?;
    let initramfs = dir.join("initramfs.cpio.gz");
    linux::initramfs(&root.join("tools/conformance-init.sh"), &initramfs)?;
    Ok(Linux {
        bzimage,
        initramfs,
        dir,
    })
}

/// Where a conformance boot runs: the options' machine on this QEMU.
#[derive(Debug, Clone, Copy)]
pub struct On<'a> {
    /// Paths and the model.
    pub ctx: &'a Ctx,
    /// The QEMU binary.
    pub qemu: &'a str,
    /// `-accel` value.
    pub accel: &'a str,
    /// The options' shape (its engine count is the case's).
    pub shape: &'a Shape,
    /// Its firmware.
    pub firmware: Firmware,
    /// Wall-clock limit, seconds.
    pub timeout_s: u64,
}

/// Boots Linux for `c` and judges it; prints the summary line (and the log on failure).
///
/// # Errors
/// [`Fail`] when the boot cannot start, or [`Exit::Signal`] when it was interrupted.
pub fn run_case(on: &On, linux: &Linux, c: &ConfCase) -> Result<Verdict, Fail> {
    let mut shape = on.shape.clone();
    shape.ptdma = c.engines;
    let machine = Machine {
        medium: Medium::Kernel {
            kernel: linux.bzimage.clone(),
            cmdline: c.cmdline(),
            initrd: Some(linux.initramfs.clone()),
        },
        ..Machine::kernel(
            on.qemu.to_string(),
            on.accel.to_string(),
            shape,
            on.firmware,
            PathBuf::new(),
            String::new(),
        )
    };
    let file = |ext: &str| linux.dir.join(format!("{}.{ext}", c.name));
    let model_args: Vec<String> = c.fault.iter().map(|f| f.to_string()).collect();
    let mut b = Boot::new(machine, &model_args, on.timeout_s, file("log"), false);
    b.model_files = Some((file("counters.json"), file("model.log")));
    b.stderr = Some(file("stderr"));
    // Linux powers off: QEMU ends without a kernel status, as it should.
    b.end_note = false;
    if let Exit::Signal(sig) = boot(on.ctx, &b)? {
        return Err(Fail::lines(Exit::Signal(sig), Vec::new()));
    }
    if on.ctx.dry_run {
        return Ok(Verdict {
            line: String::new(),
            bad: Vec::new(),
        });
    }
    let want = Want {
        name: c.name,
        engines: c.engines,
        sizes: c.sizes,
        iterations: c.iterations(),
        failures: c.failures,
    };
    let log = String::from_utf8_lossy(&std::fs::read(file("log")).unwrap_or_default()).into_owned();
    let counters = std::fs::read_to_string(file("counters.json")).unwrap_or_default();
    let v = judge(&want, &log, &counters);
    println!("{}", v.line);
    if !v.bad.is_empty() {
        println!("  (log {})", file("log").display());
    }
    Ok(v)
}

/// `conformance`: the three boots; `conformance: N passed, N failed`.
///
/// # Errors
/// [`Fail`] (exit 8) when QEMU, Linux or the initramfs is not usable.
pub fn command(o: &Options, root: &Path, mut shape: Shape) -> Result<Exit, Fail> {
    let ctx = Ctx {
        root: root.to_path_buf(),
        out: root.join("out"),
        dry_run: o.dry_run,
        model: ModelSetup::init(),
    };
    let bin = qemu::select(o.qemu.as_deref());
    let q = qemu::ensure(&bin, shape.ptdma > 0, o.accel, &ctx.model)?;
    let firmware = qemu::fit_shape(&mut shape, &q, o.accel, false)?;
    let t0 = Instant::now();
    let linux = prepare(root, &ctx.out)?;
    let accel = qemu::pick_accel(o.accel, true);
    let on = On {
        ctx: &ctx,
        qemu: &q.bin,
        accel: &accel,
        shape: &shape,
        firmware,
        timeout_s: o.timeout_s,
    };
    let (mut passed, mut failed) = (0, 0);
    for c in &CASES {
        if run_case(&on, &linux, c)?.bad.is_empty() {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    crate::note(&format!(
        "conformance: took {} s (kernel in {})",
        t0.elapsed().as_secs(),
        linux.bzimage.parent().unwrap_or(Path::new("")).display()
    ));
    println!("{}", summary(passed, failed, ctx.dry_run));
    Ok(if failed == 0 { Exit::Ok } else { Exit::Test })
}

/// The final line: `conformance: N passed, N failed`, or with `--dry-run` how many boots were
/// only printed (none ran, so none passed).
fn summary(passed: usize, failed: usize, dry_run: bool) -> String {
    if dry_run {
        format!(
            "conformance: dry run, {} boot(s) printed, none run",
            passed + failed
        )
    } else {
        format!("conformance: {passed} passed, {failed} failed")
    }
}

#[cfg(test)]
mod tests {
    use super::summary;

    #[test]
    fn a_dry_run_claims_no_pass() {
        assert_eq!(summary(2, 1, false), "conformance: 2 passed, 1 failed");
        assert_eq!(
            summary(3, 0, true),
            "conformance: dry run, 3 boot(s) printed, none run"
        );
    }
}
