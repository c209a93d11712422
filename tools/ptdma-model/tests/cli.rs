//! The real binary: usage errors (exit 2), `serve --fd` on an inherited socket, counters on
//! socket close and on SIGTERM, and `launch` (fd inheritance, exit status, timeout, signals).

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use ptdma_model::proto::{cmd, PciConf};
use ptdma_model::transport::{recv_ret, send_msg};

const BIN: &str = env!("CARGO_BIN_EXE_ptdma-model");

fn tmp(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("ptdma-model-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn help_documents_profile_assumption() {
    let (code, text) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(
        text.contains("seed") && text.contains("ASSUMPTION"),
        "{text}"
    );
    let (code, text) = run(&["launch", "--help"]);
    assert_eq!(code, 0);
    assert!(
        text.contains("--count") && text.contains("--timeout"),
        "{text}"
    );
}

#[test]
fn bad_usage_exits_2() {
    for args in [
        &["serve"][..],
        &["serve", "--fd", "3", "--bogus"],
        &["serve", "--fd", "3", "--fault", "melt-at=1"],
        &["serve", "--fd", "3", "--kind", "ccp"],
        &["serve", "--fd", "3", "--bw-gbps", "-1"],
        &["launch", "--count", "1"],
        &["launch", "--timeout", "0", "--", "true"],
    ] {
        let (code, text) = run(args);
        assert_eq!(code, 2, "{args:?}: {text}");
        assert!(!text.contains("panicked"), "{text}");
    }
    let (code, text) = run(&["serve", "--fd", "3", "--fault", "stuck-at=zero"]);
    assert_eq!(code, 2);
    assert!(text.contains("stuck-at=zero"), "{text}");
}

#[test]
fn serve_rejects_unusable_fds() {
    let (code, text) = run(&["serve", "--fd", "77"]);
    assert_eq!(code, 2);
    assert!(text.contains("not an open file descriptor"), "{text}");
    let (code, text) = run(&["serve", "--fd", "0"]); // /dev/null
    assert_eq!(code, 2);
    assert!(text.contains("not a socket"), "{text}");
    let (code, text) = run(&["serve", "--fd", "-4"]);
    assert_eq!(code, 2, "{text}");
}

/// Spawns `serve --fd 10` with one end of a socketpair dup'ed to fd 10 in the child.
fn spawn_serve(counters: &std::path::Path) -> (std::process::Child, OwnedFd) {
    spawn_serve_type(counters, SockType::Stream)
}

fn spawn_serve_type(counters: &std::path::Path, ty: SockType) -> (std::process::Child, OwnedFd) {
    let (ours, theirs) = socketpair(AddressFamily::Unix, ty, None, SockFlag::SOCK_CLOEXEC).unwrap();
    let raw = theirs.as_raw_fd();
    let mut c = Command::new(BIN);
    c.args(["serve", "--fd", "10", "--counters"])
        .arg(counters)
        .stderr(Stdio::piped());
    // SAFETY: dup2 is async-signal-safe; the target fd 10 is free in the fresh child.
    unsafe {
        c.pre_exec(move || {
            if nix::libc::dup2(raw, 10) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = c.spawn().unwrap();
    drop(theirs);
    (child, ours)
}

fn cfg_read(fd: i32, addr: u32, len: u32) -> u64 {
    send_msg(
        fd,
        cmd::PCI_CFGREAD,
        &PciConf { addr, val: 0, len }.encode(),
        &[],
    )
    .unwrap();
    recv_ret(fd).unwrap()
}

#[test]
fn serve_inherited_socket_until_close() {
    let path = tmp("serve.json");
    let (mut child, sock) = spawn_serve(&path);
    assert_eq!(cfg_read(sock.as_raw_fd(), 0, 4), 0x1498_1022);
    assert_eq!(cfg_read(sock.as_raw_fd(), 0x0a, 2), 0x1080);
    drop(sock);
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(0));
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(v["config"]["reads"], 2);
    assert_eq!(v["kind"], "ptdma");
}

#[test]
fn serve_writes_counters_on_sigterm() {
    let path = tmp("sigterm.json");
    let (mut child, sock) = spawn_serve(&path);
    assert_eq!(cfg_read(sock.as_raw_fd(), 2, 2), 0x1498);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(0));
    let v: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&path).unwrap().trim()).unwrap();
    assert_eq!(v["config"]["id_reads"], 1);
    drop(sock);
}

#[test]
fn launch_count_0_passes_exit_status() {
    let (code, text) = run(&["launch", "--count", "0", "--", "sh", "-c", "exit 7"]);
    assert_eq!(code, 7, "{text}");
    assert!(text.contains("running sh -c 'exit 7'"), "{text}");
    let (code, _) = run(&["launch", "--count", "0", "--", "/nonexistent/qemu"]);
    assert_eq!(code, 127);
}

#[test]
fn launch_passes_exactly_the_qemu_side_fds() {
    // The child checks that every fd=N it was given is a socket, and that it holds no other
    // sockets (our ends must stay CLOEXEC).
    let script = r#"
        n=0
        for a in "$@"; do
          case "$a" in x-pci-proxy-dev,*) fd=${a##*fd=}; [ -S /proc/self/fd/$fd ] || exit 9; n=$((n+1));; esac
        done
        [ "$n" = 3 ] || exit 10
        s=$(ls -l /proc/$$/fd | grep -c socket)
        [ "$s" = 3 ] || exit 11
        exit 0"#;
    let counters = tmp("launch3.json");
    let c = counters.to_str().unwrap();
    let (code, text) = run(&[
        "launch",
        "--count",
        "3",
        "--counters",
        c,
        "--",
        "sh",
        "-c",
        script,
        "sh",
    ]);
    assert_eq!(code, 0, "{text}");
    for k in 0..3 {
        assert!(
            text.contains(&format!("-device x-pci-proxy-dev,id=ptdma{k},fd=")),
            "{text}"
        );
    }
    let lines = std::fs::read_to_string(&counters).unwrap();
    assert_eq!(lines.lines().count(), 3, "one counters line per function");
}

#[test]
fn launch_timeout_and_signal_forwarding() {
    let t0 = Instant::now();
    let (code, _) = run(&[
        "launch",
        "--count",
        "1",
        "--timeout",
        "0.3",
        "--",
        "sh",
        "-c",
        "exec sleep 30",
        "sh",
    ]);
    assert_eq!(code, 128 + 15, "sleep killed by SIGTERM");
    assert!(t0.elapsed() < Duration::from_secs(10));

    let mut child = Command::new(BIN)
        .args([
            "launch",
            "--count",
            "1",
            "--",
            "sh",
            "-c",
            "exec sleep 30",
            "sh",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let st = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(
        st.code(),
        Some(128 + 2),
        "SIGINT forwarded to the child: {err} {:?}",
        st.signal()
    );
}

#[test]
fn serve_rejects_datagram_socket() {
    let (child, _sock) = spawn_serve_type(&tmp("dgram.json"), SockType::Datagram);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SOCK_STREAM"), "{err}");
}
