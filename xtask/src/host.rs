//! The host side of a run: failures with their exit code, Debian packages, cargo builds.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::exit::Exit;

/// A run that stops before (or instead of) booting: the exit and the lines to print, each
/// after `run-qemu.sh: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    /// The runner's exit.
    pub exit: Exit,
    /// What to tell the user.
    pub lines: Vec<String>,
}

impl Fail {
    /// Exit 8 with one line.
    pub fn setup(msg: impl Into<String>) -> Fail {
        Fail {
            exit: Exit::Setup,
            lines: vec![msg.into()],
        }
    }

    /// Any exit with these lines.
    pub fn lines(exit: Exit, lines: Vec<String>) -> Fail {
        Fail { exit, lines }
    }

    /// Exit 2 with the message and the pointer to `--help`.
    pub fn usage(msg: impl Into<String>) -> Fail {
        Fail {
            exit: Exit::Usage,
            lines: vec![msg.into()],
        }
    }

    /// Prints the lines (usage errors add the pointer to `--help`) and returns the exit.
    pub fn report(&self) -> Exit {
        for l in &self.lines {
            crate::note(l);
        }
        if self.exit == Exit::Usage {
            eprintln!("run 'run-qemu.sh --help' for usage");
        }
        self.exit
    }
}

/// True when `name` is an executable on PATH.
pub fn on_path(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|d| {
            let p = d.join(name);
            p.is_file()
                && std::fs::metadata(&p).is_ok_and(|m| {
                    std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
                })
        })
    })
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

fn apt(args: &[&str]) -> bool {
    let mut c = if is_root() {
        Command::new("apt-get")
    } else {
        let mut c = Command::new("sudo");
        c.arg("apt-get");
        c
    };
    c.args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs Debian packages (with sudo unless root), refreshing the lists once if needed.
///
/// # Errors
/// [`Fail`] (exit 8) when they cannot be installed.
pub fn apt_install(pkgs: &[&str]) -> Result<(), Fail> {
    crate::note(&format!("installing {} (Debian packages)", pkgs.join(" ")));
    let mut args = vec!["install", "-y", "-qq"];
    args.extend_from_slice(pkgs);
    if apt(&args) {
        return Ok(());
    }
    apt(&["update", "-qq"]);
    if apt(&args) {
        Ok(())
    } else {
        Err(Fail::setup(format!("could not install {}", pkgs.join(" "))))
    }
}

/// `cargo build -q -p PACKAGE [--release]` in `root`.
///
/// # Errors
/// [`Fail`] (exit 8, `what` named) when cargo is missing or the build fails.
pub fn cargo_build(root: &Path, package: &str, release: bool, what: &str) -> Result<(), Fail> {
    if !on_path("cargo") {
        return Err(Fail::setup("cargo not found: install Rust (rustup) first"));
    }
    let mut c = Command::new("cargo");
    c.current_dir(root).args(["build", "-q", "-p", package]);
    if release {
        c.arg("--release");
    }
    match c.status() {
        Ok(s) if s.success() => Ok(()),
        _ => Err(Fail::setup(format!("{what} build failed"))),
    }
}

/// Builds the kernel (release unless `debug`) and returns its ELF.
///
/// # Errors
/// [`Fail`] (exit 8) when the build fails.
pub fn build_kernel(root: &Path, debug: bool) -> Result<PathBuf, Fail> {
    cargo_build(root, "kernel", !debug, "kernel")?;
    Ok(root
        .join("target")
        .join(if debug { "debug" } else { "release" })
        .join("kernel"))
}

/// A scratch directory under `parent`, emptied when made and removed when dropped (ISO trees,
/// downloads).
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// `parent/.NAME-PID`, empty.
    ///
    /// # Errors
    /// When it cannot be created.
    pub fn new(parent: &Path, name: &str) -> std::io::Result<Scratch> {
        let dir = parent.join(format!(".{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
