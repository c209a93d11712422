//! `get-qemu 10`: QEMU 10.0 from Debian's bookworm-backports into
//! `${XDG_CACHE_HOME:-$HOME/.cache}/foliomove/qemu-10.0/`, without touching the system QEMU.
//! A private apt configuration (the system's Debian mirror plus its backports suite, own
//! lists and cache) downloads the packages, `dpkg-deb -x` unpacks them, and a generated
//! wrapper `bin/qemu-system-x86_64` there sets the library, module and firmware paths.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::exit::Exit;
use crate::host::{on_path, Fail};

/// `${XDG_CACHE_HOME:-$HOME/.cache}/foliomove`.
pub fn cache_root() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
        });
    base.join("foliomove")
}

/// The wrapper `get-qemu 10` installs.
pub fn cached_qemu10() -> PathBuf {
    cache_root().join("qemu-10.0/bin/qemu-system-x86_64")
}

/// The private apt options: lists, cache and sources of `dir`, no system lock.
fn apt_opts(dir: &Path) -> Vec<String> {
    let d = dir.display();
    [
        format!("Dir::State::Lists={d}/lists"),
        format!("Dir::Cache={d}"),
        format!("Dir::Cache::archives={d}/archives"),
        format!("Dir::Etc::SourceParts={d}/sources.list.d"),
        "Dir::Etc::SourceList=/dev/null".to_string(),
        "Debug::NoLocking=1".to_string(),
    ]
    .into_iter()
    .flat_map(|o| ["-o".to_string(), o])
    .collect()
}

fn output(c: &mut Command) -> Option<(bool, String)> {
    let o = c.stdin(Stdio::null()).output().ok()?;
    let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&o.stderr));
    Some((o.status.success(), text))
}

/// The Debian mirror this system's apt uses for `codename`, from `apt-get indextargets`.
fn mirror_of(codename: &str) -> Option<String> {
    let o = Command::new("apt-get")
        .args([
            "indextargets",
            "--format",
            "$(REPO_URI) $(RELEASE)",
            "Created-By: Packages",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&o.stdout).lines().find_map(|l| {
        let (uri, rel) = l.split_once(' ')?;
        (rel == codename).then(|| uri.to_string())
    })
}

/// Writes DIR/sources.list.d (the system's sources plus backports) and refreshes the
/// private lists.
fn setup_backports(dir: &Path, codename: &str) -> Result<(), Fail> {
    let Some(uri) = mirror_of(codename) else {
        return Err(Fail::setup(format!(
            "no Debian '{codename}' source in this system's apt configuration (run 'apt-get update' first)"
        )));
    };
    let io = |e: std::io::Error| Fail::setup(format!("{}: {e}", dir.display()));
    for sub in ["lists/partial", "archives/partial", "sources.list.d"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(io)?;
    }
    let parts = dir.join("sources.list.d");
    for e in std::fs::read_dir(&parts).map_err(io)?.flatten() {
        let _ = std::fs::remove_file(e.path());
    }
    let mut system = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(rd) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "list" || x == "sources"))
            .collect();
        more.sort();
        system.extend(more);
    }
    for f in system.iter().filter(|f| f.is_file()) {
        let name = f.file_name().unwrap_or_default().to_string_lossy();
        let name = if name == "sources.list" {
            "main.list".into()
        } else {
            name
        };
        let _ = std::fs::copy(f, parts.join(format!("system-{name}")));
    }
    let mut bpo =
        format!("Types: deb\nURIs: {uri}\nSuites: {codename}-backports\nComponents: main\n");
    let keyring = "/usr/share/keyrings/debian-archive-keyring.gpg";
    if Path::new(keyring).is_file() {
        bpo.push_str(&format!("Signed-By: {keyring}\n"));
    }
    std::fs::write(parts.join("foliomove-backports.sources"), bpo).map_err(io)?;
    let ok = Command::new("apt-get")
        .args(apt_opts(dir))
        .args(["update", "-qq"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Ok(())
    } else {
        Err(Fail::setup(format!(
            "apt-get update of {codename}-backports failed"
        )))
    }
}

/// The packages of a simulated install (`Inst NAME [OLD] (NEW origin...)` lines) that QEMU 10
/// brings: QEMU itself, SeaBIOS and shared libraries, at exactly the version chosen.
pub fn packages_from_simulation(sim: &str) -> Vec<String> {
    sim.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("Inst ")?;
            let (name, rest) = rest.split_once(' ')?;
            let rest = match rest.strip_prefix('[') {
                Some(r) => r.split_once("] ")?.1,
                None => rest,
            };
            let version = rest.strip_prefix('(')?.split(' ').next()?;
            let wanted = matches!(
                name,
                "qemu-system-x86" | "qemu-system-common" | "qemu-system-data" | "seabios"
            ) || name.starts_with("lib");
            wanted.then(|| format!("{name}={version}"))
        })
        .collect()
}

/// The wrapper script: runs DEST's unpacked binary with its own libraries, its own modules
/// only (the system QEMU's modules are of another build and abort it), its firmware (-L),
/// and no audio backend (probing one would load the system's audio modules).
pub fn wrapper(dest: &Path) -> String {
    format!(
        r#"#!/bin/sh
# QEMU 10.0 unpacked by foliomove's run-qemu.sh get-qemu (not installed system-wide).
R="{}/root"
export LD_LIBRARY_PATH="$R/usr/lib/x86_64-linux-gnu:$R/lib/x86_64-linux-gnu${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}"
export QEMU_MODULE_DIR="$R/usr/lib/x86_64-linux-gnu/qemu"
for a in "$@"; do
    case "$a" in --version|-version|-h|--help) exec "$R/usr/bin/qemu-system-x86_64" "$@" ;; esac
done
exec "$R/usr/bin/qemu-system-x86_64" -L "$R/usr/share/qemu" -L "$R/usr/share/seabios" -audio none "$@"
"#,
        dest.display()
    )
}

fn is_qemu10(bin: &Path) -> bool {
    output(Command::new(bin).arg("--version"))
        .is_some_and(|(ok, t)| ok && t.contains("version 10.0"))
}

/// The cached QEMU 10.0, fetched when missing (notes on stderr).
///
/// # Errors
/// [`Fail`] when it cannot be fetched.
pub fn ensure_qemu10() -> Result<PathBuf, Fail> {
    let q = cached_qemu10();
    if q.is_file() {
        return Ok(q);
    }
    fetch()
}

/// `get-qemu VERSION`: only 10 (10.0 from bookworm-backports) is offered; prints the
/// wrapper's path.
///
/// # Errors
/// [`Fail`]: exit 2 for another version, 8 when it cannot be fetched.
pub fn command(version: &str) -> Result<Exit, Fail> {
    if version != "10" && version != "10.0" {
        return Err(Fail::usage(format!(
            "get-qemu offers 10 (10.0 from Debian bookworm-backports), not '{version}'"
        )));
    }
    println!("{}", fetch()?.display());
    Ok(Exit::Ok)
}

fn fetch() -> Result<PathBuf, Fail> {
    let cache = cache_root();
    let dest = cache.join("qemu-10.0");
    let bin = dest.join("bin/qemu-system-x86_64");
    if is_qemu10(&bin) {
        crate::note(&format!("QEMU 10.0 already in {}", dest.display()));
        return Ok(bin);
    }
    if !on_path("apt-get") || !on_path("dpkg-deb") {
        return Err(Fail::setup("get-qemu needs apt-get and dpkg-deb (Debian)"));
    }
    let codename = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VERSION_CODENAME=")
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_default();
    if codename != "bookworm" {
        crate::note(&format!(
            "this is '{codename}', not Debian 12 bookworm: trying {codename}-backports"
        ));
    }
    let apt_dir = cache.join("apt-backports");
    setup_backports(&apt_dir, &codename)?;
    let opts = apt_opts(&apt_dir);
    let suite = format!("{codename}-backports");
    let (ok, sim) = output(Command::new("apt-get").args(&opts).args([
        "install",
        "-s",
        "--no-install-recommends",
        "-t",
        &suite,
        "qemu-system-x86",
    ]))
    .unwrap_or((false, String::new()));
    if !ok {
        return Err(Fail::setup(format!(
            "apt cannot resolve qemu-system-x86 from {suite}: {}",
            sim.lines().last().unwrap_or("")
        )));
    }
    let mut spec = packages_from_simulation(&sim);
    for p in [
        "qemu-system-x86",
        "qemu-system-common",
        "qemu-system-data",
        "seabios",
    ] {
        if !spec.iter().any(|s| s.starts_with(&format!("{p}="))) {
            spec.push(format!("{p}/{suite}"));
        }
    }
    let debs = apt_dir.join("debs");
    let stage = cache.join("qemu-10.0.partial");
    let _ = std::fs::remove_dir_all(&debs);
    let _ = std::fs::remove_dir_all(&stage);
    let io = |p: &Path, e: std::io::Error| Fail::setup(format!("{}: {e}", p.display()));
    for d in [debs.clone(), stage.join("root"), stage.join("bin")] {
        std::fs::create_dir_all(&d).map_err(|e| io(&d, e))?;
    }
    crate::note(&format!("downloading {}", spec.join(" ")));
    let (ok, text) = output(
        Command::new("apt-get")
            .current_dir(&debs)
            .args(&opts)
            .args(["download", "-qq"])
            .args(&spec),
    )
    .unwrap_or((false, String::new()));
    if !ok {
        let tail: Vec<&str> = text.lines().rev().take(2).collect();
        return Err(Fail::setup(format!(
            "apt-get download failed: {}",
            tail.into_iter().rev().collect::<Vec<_>>().join(" ")
        )));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&debs)
        .map_err(|e| io(&debs, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    files.sort();
    for deb in &files {
        let ok = Command::new("dpkg-deb")
            .arg("-x")
            .arg(deb)
            .arg(stage.join("root"))
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(Fail::setup(format!("could not unpack {}", deb.display())));
        }
    }
    let wrapper_path = stage.join("bin/qemu-system-x86_64");
    std::fs::write(&wrapper_path, wrapper(&dest)).map_err(|e| io(&wrapper_path, e))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper_path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| io(&wrapper_path, e))?;
    let r = stage.join("root");
    let libs = format!(
        "{}:{}",
        r.join("usr/lib/x86_64-linux-gnu").display(),
        r.join("lib/x86_64-linux-gnu").display()
    );
    let (_, ldd) = output(
        Command::new("ldd")
            .arg(r.join("usr/bin/qemu-system-x86_64"))
            .env("LD_LIBRARY_PATH", libs),
    )
    .unwrap_or((false, String::new()));
    let missing: Vec<&str> = ldd.lines().filter(|l| l.contains("not found")).collect();
    if !missing.is_empty() {
        eprintln!("{}", missing.join("\n"));
        return Err(Fail::setup(
            "QEMU 10.0 still lacks shared libraries (above)",
        ));
    }
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::rename(&stage, &dest).map_err(|e| io(&dest, e))?;
    match output(Command::new(&bin).arg("--version")) {
        Some((true, v)) => crate::note(&format!(
            "{} in {} (use --qemu {} or FOLIOMOVE_QEMU)",
            v.lines().next().unwrap_or(""),
            dest.display(),
            bin.display()
        )),
        _ => return Err(Fail::setup("the unpacked QEMU does not run")),
    }
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_at_the_resolved_version() {
        let sim = "NOTE: simulation\nInst libfoo2 [1.0-1] (1.2-1~bpo12+1 Debian Backports:bookworm-backports [amd64])\nInst qemu-system-x86 (1:10.0.2+ds-1~bpo12+1 Debian Backports:bookworm-backports [amd64])\nInst tzdata (2025a-0 Debian:12 [all])\nConf qemu-system-x86 (1:10.0.2+ds-1~bpo12+1)\n";
        assert_eq!(
            packages_from_simulation(sim),
            [
                "libfoo2=1.2-1~bpo12+1",
                "qemu-system-x86=1:10.0.2+ds-1~bpo12+1"
            ]
        );
    }

    #[test]
    fn wrapper_runs_the_unpacked_binary() {
        let w = wrapper(Path::new("/c/qemu-10.0"));
        assert!(w.starts_with("#!/bin/sh\n"));
        assert!(w.contains("R=\"/c/qemu-10.0/root\"\n"));
        assert!(w.contains("${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\""));
        assert!(w.ends_with("-audio none \"$@\"\n"));
    }
}
