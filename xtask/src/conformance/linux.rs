//! The Linux the conformance boots run: a small 6.12 built once from Debian's
//! linux-source-6.12 with AMD_PTDMA and DMATEST (cached outside the repository, keyed by the
//! package version and a hash of the config recipe), and a busybox initramfs whose /init is
//! tools/conformance-init.sh.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::getqemu::cache_root;
use crate::host::{apt_install, on_path, Fail, Scratch};

/// The Debian package with the sources.
pub const PACKAGE: &str = "linux-source-6.12";

/// Options enabled on top of tinyconfig (linux-ptdma-conformance.md); each must stay `=y`.
/// The text (line breaks included) is part of the cache key.
pub const ENABLE: &str =
    "64BIT SMP NUMA ACPI ACPI_NUMA X86_64_ACPI_NUMA PCI PCI_MSI X86_LOCAL_APIC X86_IO_APIC
HPET_TIMER PRINTK PRINTK_TIME TTY SERIAL_8250 SERIAL_8250_CONSOLE BLK_DEV_INITRD RD_GZIP
DEVTMPFS DEVTMPFS_MOUNT PROC_FS SYSFS DEBUG_FS BINFMT_ELF BINFMT_SCRIPT MULTIUSER FUTEX EPOLL
DMADEVICES DMA_ENGINE AMD_PTDMA DMATEST";
/// Options disabled.
pub const DISABLE: &str = "MODULES AMD_IOMMU INTEL_IOMMU SLUB_TINY";

/// The first 12 hex digits of SHA-256 over the recipe (`ENABLE`, newline, `DISABLE`, newline).
pub fn cache_key() -> String {
    let digest = Sha256::digest(format!("{ENABLE}\n{DISABLE}\n").as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The Linux cache directory for package version `version` (`6.12.117-1` -> `linux-6.12.117-KEY`).
pub fn cache_dir(version: &str) -> PathBuf {
    let upstream = version.split('-').next().unwrap_or(version);
    cache_root().join(format!("linux-{upstream}-{}", cache_key()))
}

/// The candidate version of a Debian package (`apt-cache show`), if apt knows it.
fn package_version(pkg: &str) -> Option<String> {
    let o = Command::new("apt-cache")
        .args(["show", pkg])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Version: ").map(str::to_string))
}

fn run(c: &mut Command) -> bool {
    c.stdin(Stdio::null()).status().is_ok_and(|s| s.success())
}

fn quiet(c: &mut Command) -> bool {
    run(c.stdout(Stdio::null()).stderr(Stdio::null()))
}

/// The bzImage, built unless the cache has it (several minutes with make -j2).
///
/// # Errors
/// [`Fail`] (exit 8) when the package, the tools or the build fail.
pub fn bzimage() -> Result<PathBuf, Fail> {
    let version = package_version(PACKAGE).or_else(|| {
        quiet(Command::new("apt-get").args(["update", "-qq"]));
        package_version(PACKAGE)
    });
    let Some(version) = version else {
        return Err(Fail::setup(format!(
            "conformance: Debian package {PACKAGE} not found"
        )));
    };
    let dir = cache_dir(&version);
    let bz = dir.join("bzImage");
    if std::fs::metadata(&bz).is_ok_and(|m| m.len() > 0) {
        return Ok(bz);
    }
    let t0 = Instant::now();
    let tools = ["flex", "bison", "bc"].iter().all(|t| on_path(t));
    if !tools || !Path::new("/usr/include/libelf.h").exists() {
        apt_install(&["flex", "bison", "bc", "libelf-dev", "build-essential"])?;
    }
    crate::note(&format!(
        "conformance: building Linux {version} into {} (once; several minutes with make -j2)",
        dir.display()
    ));
    let work = dir.join("work");
    let fail = |what: &str| Fail::setup(format!("conformance: {what}"));
    if !work.join("extracted").exists() {
        // A tree from an interrupted build is reused.
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).map_err(|e| fail(&e.to_string()))?;
        if !quiet(Command::new("apt-get").current_dir(&work).args([
            "download",
            "-q",
            &format!("{PACKAGE}={version}"),
        ])) {
            return Err(fail(&format!("apt-get download {PACKAGE} failed")));
        }
        let deb = find(&work, |n| {
            n.starts_with(&format!("{PACKAGE}_")) && n.ends_with(".deb")
        })
        .ok_or_else(|| fail("no package downloaded"))?;
        if !run(Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(work.join("deb")))
        {
            return Err(fail("dpkg-deb failed"));
        }
        let tar = find(&work.join("deb/usr/src"), |n| {
            n.starts_with("linux-source-") && n.contains(".tar.")
        })
        .ok_or_else(|| fail("no source tarball in the package"))?;
        if !run(Command::new("tar")
            .arg("-C")
            .arg(&work)
            .arg("-xaf")
            .arg(&tar))
        {
            return Err(fail("tar failed"));
        }
        let _ = std::fs::remove_dir_all(work.join("deb"));
        let _ = std::fs::remove_file(&deb);
        std::fs::write(work.join("extracted"), "").map_err(|e| fail(&e.to_string()))?;
    }
    let src = find(&work, |n| n.starts_with("linux-source-"))
        .filter(|p| p.is_dir())
        .ok_or_else(|| fail("no source tree in the package"))?;
    configure_and_build(&src, &dir).map_err(|why| {
        crate::note(&format!("conformance: {why}"));
        fail(&format!(
            "Linux build failed (tree kept in {})",
            work.display()
        ))
    })?;
    std::fs::rename(dir.join("bzImage.tmp"), &bz).map_err(|e| fail(&e.to_string()))?;
    let _ = std::fs::remove_dir_all(&work);
    crate::note(&format!(
        "conformance: Linux built in {} s",
        t0.elapsed().as_secs()
    ));
    Ok(bz)
}

/// The first entry of `dir` whose name satisfies `pick`.
fn find(dir: &Path, pick: impl Fn(&str) -> bool) -> Option<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| pick(&n.to_string_lossy())))
        .collect();
    v.sort();
    v.into_iter().next()
}

/// tinyconfig plus the recipe, checked, then bzImage into DIR/bzImage.tmp (.config beside).
fn configure_and_build(src: &Path, dir: &Path) -> Result<(), String> {
    let make = |args: &[&str]| {
        let mut c = Command::new("make");
        c.current_dir(src).arg("-s").arg("ARCH=x86_64").args(args);
        c
    };
    if !run(make(&["tinyconfig"]).stdout(Stdio::null())) {
        return Err("make tinyconfig failed".into());
    }
    let mut cfg = Command::new("scripts/config");
    cfg.current_dir(src);
    for o in ENABLE.split_whitespace() {
        cfg.args(["--enable", o]);
    }
    for o in DISABLE.split_whitespace() {
        cfg.args(["--disable", o]);
    }
    if !run(&mut cfg) || !run(make(&["olddefconfig"]).stdout(Stdio::null())) {
        return Err("scripts/config or make olddefconfig failed".into());
    }
    let config = std::fs::read_to_string(src.join(".config")).unwrap_or_default();
    for o in ENABLE.split_whitespace() {
        if !config.lines().any(|l| l == format!("CONFIG_{o}=y")) {
            return Err(format!("CONFIG_{o} is not =y after olddefconfig"));
        }
    }
    let log = src.join("build.log");
    let f = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let f2 = f.try_clone().map_err(|e| e.to_string())?;
    if !run(make(&["-j2", "bzImage"]).stdout(f).stderr(f2)) {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        eprintln!("{}", lines[lines.len().saturating_sub(30)..].join("\n"));
        return Err("make bzImage failed (above)".into());
    }
    std::fs::copy(src.join("arch/x86/boot/bzImage"), dir.join("bzImage.tmp"))
        .and_then(|_| std::fs::copy(src.join(".config"), dir.join("config")))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Debian's static busybox (cached beside the kernels).
///
/// # Errors
/// [`Fail`] (exit 8) when it cannot be downloaded.
fn busybox() -> Result<PathBuf, Fail> {
    let version = package_version("busybox-static").unwrap_or_default();
    let bb = cache_root()
        .join(format!(
            "busybox-static-{}",
            version.replace([':', '~'], "_")
        ))
        .join("busybox");
    if bb.is_file() {
        return Ok(bb);
    }
    let fail = || Fail::setup("conformance: cannot get busybox-static");
    let dl = Scratch::new(&cache_root(), "busybox-download").map_err(|_| fail())?;
    if !quiet(Command::new("apt-get").current_dir(dl.path()).args([
        "download",
        "-q",
        "busybox-static",
    ])) {
        return Err(fail());
    }
    let deb = find(dl.path(), |n| n.starts_with("busybox-static_")).ok_or_else(fail)?;
    if !run(Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(dl.path().join("x")))
    {
        return Err(fail());
    }
    std::fs::create_dir_all(bb.parent().expect("has a parent")).map_err(|_| fail())?;
    std::fs::copy(dl.path().join("x/bin/busybox"), &bb).map_err(|_| fail())?;
    Ok(bb)
}

/// The initramfs: a gzip'd newc cpio with /bin/busybox and `init` as /init.
///
/// # Errors
/// [`Fail`] (exit 8) when busybox or a file cannot be read or the archive written.
pub fn initramfs(init: &Path, out: &Path) -> Result<(), Fail> {
    let fail = |e: &dyn std::fmt::Display| {
        Fail::setup(format!("conformance: initramfs build failed: {e}"))
    };
    let bb = std::fs::read(busybox()?).map_err(|e| fail(&e))?;
    let init = std::fs::read(init).map_err(|e| fail(&e))?;
    let gz = write_cpio_gz(&[
        ("bin", None),
        ("bin/busybox", Some(bb)),
        ("init", Some(init)),
    ])
    .map_err(|e| fail(&e))?;
    std::fs::write(out, gz).map_err(|e| fail(&e))
}

/// A gzip'd newc cpio of `entries`: a directory (`None`) or an executable file.
pub fn write_cpio_gz(entries: &[(&str, Option<Vec<u8>>)]) -> std::io::Result<Vec<u8>> {
    use cpio::newc::Builder;
    let inputs = entries.iter().map(|(name, data)| {
        let b = Builder::new(name).uid(0).gid(0);
        match data {
            None => (b.mode(0o040755).nlink(2), Cursor::new(Vec::new())),
            Some(d) => (b.mode(0o100755).nlink(1), Cursor::new(d.clone())),
        }
    });
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut gz = cpio::write_cpio(inputs, gz)?;
    gz.flush()?;
    gz.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// The key the former bash recipe hashed (`printf '%s\n%s\n' ENABLE DISABLE | sha256sum`), so the
    /// Linux already built stays cached.
    #[test]
    fn cache_key_of_the_recipe() {
        assert_eq!(cache_key(), "f167868ff89d");
        assert!(cache_dir("6.12.117-1").ends_with("foliomove/linux-6.12.117-f167868ff89d"));
    }

    #[test]
    fn cpio_holds_the_files() {
        let gz = write_cpio_gz(&[
            ("bin", None),
            ("init", Some(b"#!/bin/busybox sh\n".to_vec())),
        ])
        .unwrap();
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut raw)
            .unwrap();
        let r = cpio::NewcReader::new(&raw[..]).unwrap();
        assert_eq!((r.entry().name(), r.entry().mode()), ("bin", 0o040755));
        let r = cpio::NewcReader::new(r.finish().unwrap()).unwrap();
        assert_eq!(
            (r.entry().name(), r.entry().mode(), r.entry().file_size()),
            ("init", 0o100755, 18)
        );
    }
}
