//! foliomove's runner (`./run-qemu.sh`, `cargo xtask`): builds the kernel, boots it in QEMU
//! with a machine shape and emulated PTDMA engines, and exits with the kernel's meaning
//! (`--help` for everything).
//!
//! Layering: [`cli`] parses and checks the words; [`shape`] and [`proxy_ram`] validate the
//! machine; [`machine`] turns it into QEMU's arguments; [`qemu`] picks and probes the binary;
//! [`boot`] runs one boot through `ptdma_model::launch`; [`exit`] maps how it ended;
//! [`commands`] has `run`, `test`, `bench`, `faults` and `soak`; [`check`] runs the suite of
//! [`check_cases`]. `iso`, `conformance`, `get-qemu` and boots from an ISO or as a KVM guest
//! on a server still run in the bash runner tools/runner.sh, which this program hands the
//! same arguments to.

mod boot;
mod check;
mod check_cases;
mod check_verify;
mod cli;
mod commands;
mod exit;
mod host;
mod machine;
mod model;
mod proxy_ram;
mod qemu;
mod qmp;
mod quote;
mod screen;
mod shape;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use cli::{Command, Options};
use exit::Exit;
use host::Fail;
use shape::Shape;

/// Prints `run-qemu.sh: MSG` on stderr.
pub fn note(msg: &str) {
    eprintln!("run-qemu.sh: {msg}");
}

/// The repository root (this crate's parent directory).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Commands and boot modes that still run in tools/runner.sh.
fn in_bash(o: &Options) -> bool {
    let cmd_in_bash = matches!(
        o.command,
        Command::Iso | Command::GetQemu(_) | Command::Conformance
    );
    cmd_in_bash || o.iso || o.host_nodes.is_some() || o.vfio.is_some() || o.hugepages
}

/// Hands the original arguments to the bash runner (replaces this process).
fn exec_bash(root: &Path, args: &[String]) -> Fail {
    let e = std::process::Command::new("bash")
        .arg(root.join("tools/runner.sh"))
        .args(args)
        .exec();
    Fail::setup(format!("cannot run tools/runner.sh: {e}"))
}

fn real_main() -> Exit {
    // ./run-qemu.sh runs `cargo xtask` from the repository: back to the caller's directory,
    // so relative paths (--qemu ./bin/qemu) mean what they meant.
    if let Some(dir) = std::env::var_os("FOLIOMOVE_CWD") {
        let _ = std::env::set_current_dir(dir);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match cli::parse(args.clone()) {
        Ok(o) => o,
        Err(e) => return Fail::usage(e.0).report(),
    };
    if o.command == Command::Help {
        print!("{}", cli::HELP);
        print!("{}", cli::bench_list());
        return Exit::Ok;
    }
    let root = root();
    let mut req = o.shape.clone();
    if o.command == Command::Iso {
        // An ISO is not booted here: the engines' RAM limit does not apply.
        req.ptdma = 0;
    }
    let shape = match Shape::new(&req) {
        Ok(mut s) => {
            s.ptdma = o.shape.ptdma;
            s
        }
        Err(e) => return Fail::usage(e.to_string()).report(),
    };
    if in_bash(&o) {
        return exec_bash(&root, &args).report();
    }
    let done = match &o.command {
        Command::Check(only) => check::check(&o, &root, &shape, only.as_deref(), o.list),
        Command::Bench(list) => commands::bench(&o, &root, shape, list),
        Command::Faults => commands::faults(&o, &root, shape),
        Command::Soak(minutes) => commands::soak(&o, &root, shape, *minutes),
        _ => commands::run_or_test(&o, &root, shape),
    };
    match done {
        Ok(exit) => exit,
        Err(f) => f.report(),
    }
}

fn main() {
    // Internal: the screen checks tools/iso.sh runs (see screen.rs).
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("__screen") {
        std::process::exit(screen::main(&args.collect::<Vec<_>>()));
    }
    std::process::exit(real_main().code());
}
