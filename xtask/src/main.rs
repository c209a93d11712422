//! foliomove's runner (`./run-qemu.sh`, `cargo xtask`): builds the kernel, boots it in QEMU
//! with a machine shape and emulated PTDMA engines, and exits with the kernel's meaning
//! (`--help` for everything).
//!
//! Layering: [`cli`] parses and checks the words; [`shape`] and [`proxy_ram`] validate the
//! machine; [`machine`] turns it into QEMU's arguments; [`qemu`] picks and probes the binary;
//! [`boot`] runs one boot through `ptdma_model::launch`; [`exit`] maps how it ended;
//! [`commands`] has `run`, `test`, `bench`, `faults` and `soak` (from `-kernel` or, through
//! [`iso`], from a GRUB ISO; on a server as a [`kvm`] guest); [`iso`] also makes the ISO;
//! [`getqemu`] fetches QEMU 10.0; [`conformance`] runs Linux's ptdma driver against the model;
//! [`check`] runs the suite of [`check_cases`] (with [`check_groups`] for the ISO, Linux and
//! other-QEMU entries).

mod boot;
mod check;
mod check_cases;
mod check_groups;
mod check_verify;
mod cli;
mod commands;
mod conformance;
mod exit;
mod getqemu;
mod host;
mod iso;
mod kvm;
mod machine;
mod model;
mod proxy_ram;
mod qemu;
mod qmp;
mod quote;
mod screen;
mod shape;

use std::path::{Path, PathBuf};

use cli::Command;
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

fn real_main() -> Exit {
    // ./run-qemu.sh runs `cargo xtask` from the repository: back to the caller's directory,
    // so relative paths (--qemu ./bin/qemu) mean what they meant.
    if let Some(dir) = std::env::var_os("FOLIOMOVE_CWD") {
        let _ = std::env::set_current_dir(dir);
    }
    let o = match cli::parse(std::env::args().skip(1)) {
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
    let done = match &o.command {
        Command::Check(only) => check::check(&o, &root, &shape, only.as_deref(), o.list),
        Command::Bench(list) => commands::bench(&o, &root, shape, list),
        Command::Faults => commands::faults(&o, &root, shape),
        Command::Soak(minutes) => commands::soak(&o, &root, shape, *minutes),
        Command::Iso => iso::command(&o, &root),
        Command::GetQemu(version) => getqemu::command(version),
        Command::Conformance => conformance::command(&o, &root, shape),
        _ => commands::run_or_test(&o, &root, shape),
    };
    match done {
        Ok(exit) => exit,
        Err(f) => f.report(),
    }
}

fn main() {
    std::process::exit(real_main().code());
}
