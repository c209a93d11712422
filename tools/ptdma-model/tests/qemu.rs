//! End-to-end runs with the real QEMU 7.2 (TCG / qtest only, never KVM). Skipped with a notice
//! when `qemu-system-x86_64` is not installed.
//!
//! * `seabios_enumerates_two_functions`: the brief's smoke test — SeaBIOS sizes and assigns
//!   BAR2 of two proxied functions; checked from the counters JSON.
//! * `qtest_drives_dma_across_numa_nodes`: QEMU's qtest protocol acts as the guest CPU
//!   (config cycles through 0xcf8/0xcfc, MMIO to BAR2, guest RAM reads/writes), so the whole
//!   path — QEMU proxy → our socket → worker → guest RAM (two NUMA memfds) — is exercised.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ptdma-model");

fn have_qemu() -> bool {
    let ok = Command::new("qemu-system-x86_64")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("NOTICE: qemu-system-x86_64 not found, skipping QEMU test");
    }
    ok
}

fn counters_path(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!(
        "ptdma-model-qemu-{}-{name}.json",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&p);
    p
}

fn read_counters(p: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(p).expect("counters file");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

#[test]
fn seabios_enumerates_two_functions() {
    if !have_qemu() {
        return;
    }
    let path = counters_path("seabios");
    let st = Command::new(BIN)
        .args(["launch", "--count", "2", "--timeout", "4", "--counters"])
        .arg(&path)
        .args([
            "--",
            "qemu-system-x86_64",
            "-accel",
            "tcg",
            "-machine",
            "q35",
            "-m",
            "256M",
        ])
        .args(["-object", "memory-backend-memfd,id=m0,size=256M,share=on"])
        .args([
            "-machine",
            "memory-backend=m0",
            "-display",
            "none",
            "-serial",
            "none",
        ])
        .args(["-monitor", "none", "-no-reboot"])
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0), "QEMU terminates cleanly on SIGTERM");
    let c = read_counters(&path);
    assert_eq!(c.len(), 2);
    let mut bars = Vec::new();
    for (k, f) in c.iter().enumerate() {
        assert_eq!(f["function"], k);
        assert!(
            f["config"]["id_reads"].as_u64().unwrap() >= 2,
            "vendor/device read: {f}"
        );
        let bar = f["config"]["bar_assigned"].as_u64().unwrap();
        assert!(
            bar >= 0x8000_0000 && bar % (1 << 20) == 0,
            "BAR2 assigned by SeaBIOS: {f}"
        );
        bars.push(bar);
        assert!(f["messages"]["sync_sysmem"].as_u64().unwrap() > 0);
        assert_eq!(f["messages"]["device_reset"], 1);
        assert!(!f["ram_windows"].as_array().unwrap().is_empty());
    }
    assert_ne!(bars[0], bars[1]);
}

struct QTest {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl QTest {
    /// `ptdma-model launch <model_args> -- qemu ... -qtest stdio` with 2 NUMA memfds of 32 MiB.
    fn start(model_args: &[&str], counters: &std::path::Path) -> QTest {
        let mut child = Command::new(BIN)
            .arg("launch")
            .args(model_args)
            .args(["--timeout", "60", "--counters"])
            .arg(counters)
            // -S: no vCPU ever runs. Debian's QEMU has no qtest accelerator, so without it
            // SeaBIOS runs under TCG and its config cycles race with ours on 0xcf8/0xcfc.
            .args([
                "--",
                "qemu-system-x86_64",
                "-machine",
                "q35",
                "-accel",
                "tcg",
                "-S",
            ])
            .args(["-qtest", "stdio", "-nodefaults"])
            .args([
                "-m", "64M", "-display", "none", "-serial", "none", "-monitor", "none",
            ])
            .args(["-object", "memory-backend-memfd,id=m0,size=32M,share=on"])
            .args(["-object", "memory-backend-memfd,id=m1,size=32M,share=on"])
            .args([
                "-numa",
                "node,nodeid=0,memdev=m0",
                "-numa",
                "node,nodeid=1,memdev=m1",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        QTest {
            child,
            input,
            output,
        }
    }

    /// SIGTERM to the launcher (forwarded to QEMU); returns the launcher's exit code.
    fn stop(mut self) -> Option<i32> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        self.child.wait().unwrap().code()
    }

    fn cmd(&mut self, line: &str) -> String {
        writeln!(self.input, "{line}").unwrap();
        self.input.flush().unwrap();
        loop {
            let mut l = String::new();
            assert!(
                self.output.read_line(&mut l).unwrap() > 0,
                "QEMU went away at '{line}'"
            );
            if l.starts_with("OK") || l.starts_with("FAIL") || l.starts_with("ERR") {
                assert!(l.starts_with("OK"), "{line} -> {l}");
                return l.trim().trim_start_matches("OK").trim().to_string();
            }
        }
    }
    fn num(&mut self, line: &str) -> u64 {
        let r = self.cmd(line);
        u64::from_str_radix(r.trim_start_matches("0x"), 16).unwrap()
    }
    fn cfg_read(&mut self, slot: u32, reg: u32) -> u32 {
        self.cmd(&format!(
            "outl 0xcf8 {:#x}",
            0x8000_0000u32 | (slot << 11) | reg
        ));
        self.num("inl 0xcfc") as u32
    }
    fn cfg_write(&mut self, slot: u32, reg: u32, val: u32) {
        self.cmd(&format!(
            "outl 0xcf8 {:#x}",
            0x8000_0000u32 | (slot << 11) | reg
        ));
        self.cmd(&format!("outl 0xcfc {val:#x}"));
    }
    fn readl(&mut self, a: u64) -> u32 {
        self.num(&format!("readl {a:#x}")) as u32
    }
    fn writel(&mut self, a: u64, v: u32) {
        self.cmd(&format!("writel {a:#x} {v:#x}"));
    }
    fn write_mem(&mut self, a: u64, data: &[u8]) {
        let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
        self.cmd(&format!("write {a:#x} {:#x} 0x{hex}", data.len()));
    }
    fn read_mem(&mut self, a: u64, len: usize) -> Vec<u8> {
        let r = self.cmd(&format!("read {a:#x} {len:#x}"));
        let h = r.trim_start_matches("0x");
        (0..len)
            .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }
}

#[test]
fn qtest_drives_dma_across_numa_nodes() {
    if !have_qemu() {
        return;
    }
    let path = counters_path("qtest");
    let mut qt = QTest::start(&["--count", "2"], &path);
    let ids: Vec<u32> = (0..32).map(|s| qt.cfg_read(s, 0)).collect();
    let slots: Vec<u32> = (0..32)
        .filter(|&s| ids[s as usize] == 0x1498_1022)
        .collect();
    assert_eq!(slots.len(), 2, "two PTDMA functions on bus 0");
    assert_eq!(qt.cfg_read(slots[0], 8), 0x1080_0000, "class");
    const NODE1: u64 = 32 << 20;
    for (k, &slot) in slots.iter().enumerate() {
        let bar = 0xfe80_0000 + ((k as u64) << 20);
        qt.cfg_write(slot, 0x18, bar as u32);
        qt.cfg_write(slot, 0x04, 0x6); // MEM | MASTER
        assert_eq!(qt.readl(bar + 0x10), 0x8001, "VERSION through the proxy");
        let q = bar + 0x1000;
        let ring = 0x8000 + (k as u64) * 0x1000;
        let src = 0x10_0000 + (k as u64) * 0x1_0000;
        let dst = NODE1 + 0x20_0000 + (k as u64) * 0x1_0000;
        let data: Vec<u8> = (0..4096u32).map(|i| (i * 7 + k as u32) as u8).collect();
        qt.write_mem(src, &data);
        qt.writel(q, 0);
        qt.writel(q + 0x10, 0xf);
        qt.writel(q + 0x4, ring as u32);
        qt.writel(q + 0x8, ring as u32);
        qt.writel(q, (4 << 3) | 1);
        let good = ptdma_model::desc::encode_ptdma(src, dst, 4096, true, false);
        let bad = ptdma_model::desc::encode_ptdma(src, 0x1_0000_0000, 64, true, false);
        qt.write_mem(ring, &good);
        qt.write_mem(ring + 32, &bad);
        qt.writel(q + 0x4, (ring + 64) as u32);
        let t0 = Instant::now();
        while qt.readl(q + 0x10) & 0x2 == 0 {
            assert!(t0.elapsed() < Duration::from_secs(10), "no ERROR status");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            qt.readl(q + 0x8),
            (ring + 32) as u32,
            "HEAD at the bad descriptor"
        );
        assert_eq!(qt.readl(q + 0x100) & 0x3f, 0x27, "ODMA0 DECERR");
        assert_eq!(
            qt.read_mem(dst, 4096),
            data,
            "DMA result visible to QEMU (node 1 memfd)"
        );
    }
    assert_eq!(qt.stop(), Some(0));
    let c = read_counters(&path);
    assert_eq!(c.len(), 2);
    for f in &c {
        let q = &f["queues"][0];
        assert_eq!(q["descriptors"], 1, "{f}");
        assert_eq!(q["errors"], 1);
        assert_eq!(q["bytes"], 4096);
        assert_eq!(q["doorbells"], 1);
        let w = f["ram_windows"].as_array().unwrap();
        assert!(w.iter().any(|x| x[0] == NODE1), "node 1 window: {w:?}");
    }
}

#[test]
fn qtest_ae4dma_queue_and_vanish_fault() {
    if !have_qemu() {
        return;
    }
    let path = counters_path("ae4");
    let args = [
        "--count",
        "1",
        "--kind",
        "ae4dma",
        "--profile",
        "seed",
        "--fault",
        "vanish-at=2",
    ];
    let mut qt = QTest::start(&args, &path);
    let slot = (0..32)
        .find(|&s| qt.cfg_read(s, 0) == 0x149b_1022)
        .expect("AE4DMA function");
    let bar = 0xfe80_0000u64;
    qt.cfg_write(slot, 0x10, bar as u32);
    qt.cfg_write(slot, 0x04, 0x6);
    qt.writel(bar, 16);
    assert_eq!(qt.readl(bar), 16);
    let qb = bar + 0x20 * 4; // queue 3
    let ring = 0x9000u64;
    qt.writel(qb + 0x08, 32);
    qt.writel(qb, 1);
    qt.writel(qb + 0x18, ring as u32);
    qt.writel(qb + 0x1c, 0);
    let data: Vec<u8> = (0..2048u32).map(|i| (i * 13) as u8).collect();
    qt.write_mem(0x10_0000, &data);
    for i in 0..2u64 {
        let d =
            ptdma_model::desc::encode_ae4(0x10_0000, (32 << 20) + i * 0x1000, 2048, true, false);
        qt.write_mem(ring + i * 32, &d);
    }
    qt.writel(qb + 0x10, 1);
    let t0 = Instant::now();
    while qt.readl(qb + 0x0c) != 1 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "read_idx did not advance"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        qt.read_mem(ring + 4, 1),
        vec![3],
        "descriptor status: completed"
    );
    assert_eq!(qt.read_mem(32 << 20, 2048), data);
    // Descriptor #2 completes, then the function vanishes: all-ones, and QEMU keeps answering.
    qt.writel(qb + 0x10, 2);
    let t0 = Instant::now();
    while qt.readl(qb + 0x0c) != 0xffff_ffff {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "device did not vanish"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(qt.readl(bar), 0xffff_ffff);
    assert_eq!(qt.cfg_read(slot, 0), 0xffff_ffff);
    assert_eq!(
        qt.read_mem((32 << 20) + 0x1000, 2048),
        data,
        "the last copy landed"
    );
    assert_eq!(qt.stop(), Some(0));
    let c = read_counters(&path);
    assert_eq!(c[0]["vanished"], true);
    let q3 = c[0]["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == 3)
        .cloned()
        .unwrap();
    assert_eq!(q3["descriptors"], 2);
    assert_eq!(q3["doorbells"], 2);
}
