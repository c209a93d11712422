//! Integration tests: the sample serial log in `tests/data/` through the parser, every output
//! format, and the binary's exit codes.

use report::{generate, parse::parse_log, verdict, Format};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sample-tcg.log");
const ALL: [Format; 5] = [
    Format::Csv,
    Format::Json,
    Format::Md,
    Format::Png,
    Format::Svg,
];

fn sample() -> Vec<u8> {
    std::fs::read(SAMPLE).expect("sample log")
}

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("report-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run_bin(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_report"));
    cmd.args(args);
    match stdin {
        None => cmd.output().unwrap(),
        Some(data) => {
            use std::io::Write;
            let mut child = cmd
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(data).unwrap();
            child.wait_with_output().unwrap()
        }
    }
}

#[test]
fn sample_log_counts_cells_and_skipped_lines() {
    let p = parse_log(&sample());
    assert_eq!(p.cells.len(), 61);
    assert_eq!(p.lines, 112);
    assert!(p.run.is_some());
    assert_eq!(
        p.run.as_ref().unwrap().text("status").as_deref(),
        Some("ok")
    );
    let lines: Vec<usize> = p.skipped.iter().map(|s| s.line).collect();
    assert_eq!(lines, [104, 105, 106, 107, 108, 109]);
    let reasons: Vec<&str> = p.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert!(reasons[0].contains("bad JSON"), "{}", reasons[0]);
    assert!(reasons[1].contains("missing key `gbps_stdev`") && reasons[1].contains("`verified`"));
    assert!(reasons[2].contains("`threads` must be a non-negative integer"));
    assert!(reasons[2].contains("`gbps_mean` must be a finite number"));
    assert!(reasons[3].contains("truncated JSON"));
    assert!(reasons[4].contains("trailing characters"));
    assert!(reasons[5].contains("no JSON"));
    // The console-prefixed line ("[cpu0] RESULT {...}") is a valid cell.
    assert!(p.cells.iter().any(|c| c.exp == "3a" && c.threads == 2));
    assert_eq!(
        p.experiments(),
        ["1a", "1b", "2a", "3a", "3b", "efficiency"]
    );
    assert!(verdict(&p).is_ok());
}

#[test]
fn csv_has_flat_columns_and_one_row_per_cell() {
    let out = scratch("csv");
    generate(&sample(), "sample", &out, &[Format::Csv], "t").unwrap();
    let text = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 62);
    let header: Vec<&str> = rows[0].split(',').collect();
    assert_eq!(&header[..4], ["line", "exp", "engine", "mode"]);
    for col in [
        "phase_ns.prepare",
        "phase_ns.unmap",
        "phase_ns.copy",
        "phase_ns.remap",
        "mmio.reads",
        "mmio.writes",
        "mmio.doorbells",
        "gbps_mean",
        "verified",
        "cycles_per_gib", // an extra key some cells carry
    ] {
        assert!(header.contains(&col), "missing column {col}");
    }
    assert!(!text.contains('"'), "sample needs no quoting");
    for r in &rows[1..] {
        assert_eq!(r.split(',').count(), header.len(), "{r}");
    }
    let dma_row = rows.iter().find(|r| r.contains(",1b,dma,")).unwrap();
    let doorbells = header.iter().position(|h| *h == "mmio.doorbells").unwrap();
    assert_eq!(dma_row.split(',').nth(doorbells), Some("1"));
}

#[test]
fn json_holds_cells_run_and_skipped() {
    let out = scratch("json");
    generate(&sample(), "sample", &out, &[Format::Json], "t").unwrap();
    let text = std::fs::read_to_string(out.join("results.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["cells"].as_array().unwrap().len(), 61);
    assert_eq!(v["cells"][0]["line"], 23);
    assert_eq!(v["run"]["accel"], "tcg");
    assert_eq!(v["skipped"].as_array().unwrap().len(), 6);
}

#[test]
fn markdown_puts_seed_numbers_beside_ours_and_warns_about_emulation() {
    let out = scratch("md");
    generate(&sample(), "sample", &out, &[Format::Md], "Test title").unwrap();
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.starts_with("# Test title"));
    assert!(md.contains("NOT BARE METAL"));
    assert!(md.contains("QEMU TCG"));
    assert!(md.contains("DMA timing profile"));
    assert!(md.contains("2 CCDs x 4 cores"));
    // Seed numbers: table 1a, 1b, 2a, 3a, 3b.
    for seed in [
        "1.72 ± 0.05",
        "29.61 ± 0.43",
        "0.460 ± 0.010",
        "24.52 ± 0.22",
        "7.56 ± 3.23",
    ] {
        assert!(md.contains(seed), "missing seed number {seed}");
    }
    assert!(md.contains("37.07 ± 1.62") && md.contains("11.08 ± 0.03"));
    // No comparison against the seed's hardware on an emulator.
    assert!(!md.contains("ours/seed"));
    assert!(md.contains("% of raw"));
    assert!(md.contains("## Per-folio vs batched"));
    assert!(md.contains("## Phase breakdown"));
    assert!(md.contains("## Skipped lines (6)"));
    assert!(md.contains("- line 107: RESULT: truncated JSON"));
    assert!(md.contains("## Experiment efficiency"));
    assert!(!md.contains("did not finish cleanly"));
    assert!(!md.contains("The RUN line counts"));
}

#[test]
fn markdown_flags_an_unclean_run() {
    let log = String::from_utf8(sample()).unwrap().replace(
        "\"failures\":0,\"elapsed_s\":318.6,\"status\":\"ok\"",
        "\"failures\":2,\"status\":\"timeout\"",
    );
    let out = scratch("unclean");
    generate(log.as_bytes(), "sample", &out, &[Format::Md], "t").unwrap();
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("did not finish cleanly: status timeout, 2 failure(s)"),
        "{md}"
    );
    let cut = String::from_utf8(sample())
        .unwrap()
        .replacen("RESULT {", "RESULT [", 1);
    generate(cut.as_bytes(), "sample", &out, &[Format::Md], "t").unwrap();
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("The RUN line counts 61 cells but the log has 60 valid RESULT lines"));
}

#[test]
fn markdown_names_hardware_paths_and_the_kvm_host_binding() {
    let sample = String::from_utf8(sample()).unwrap();
    let log = sample.replacen(
        "\"ptdma_profile\":",
        "\"features\":\"PCID on (forced), INVPCID on (auto), AVX-512 off (forced; the CPU has it)\",\"host\":\"KVM guest, nodes bound to host nodes 0->2 1->3, 2 assigned engine(s)\",\"ptdma_profile\":",
        1,
    );
    assert_ne!(log, sample, "the sample's RUN line has no ptdma_profile");
    let out = scratch("paths");
    generate(log.as_bytes(), "sample", &out, &[Format::Md], "t").unwrap();
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("- Hardware paths: PCID on (forced), INVPCID on (auto), AVX-512 off (forced; the CPU has it)"), "{md}");
    assert!(
        md.contains("- Host: KVM guest, nodes bound to host nodes 0->2 1->3, 2 assigned engine(s)"),
        "{md}"
    );
    // A TCG run without a binding gets no Host line.
    generate(sample.as_bytes(), "sample", &out, &[Format::Md], "t").unwrap();
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(!md.contains("- Host:"));
}

#[test]
fn bare_metal_runs_get_a_seed_ratio_and_no_warning() {
    let log = String::from_utf8(sample())
        .unwrap()
        .replace("\"tcg\"", "\"bare-metal\"");
    let out = scratch("bare");
    let o = generate(log.as_bytes(), "sample", &out, &[Format::Md], "t").unwrap();
    assert!(o.parsed.is_bare_metal());
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(!md.contains("NOT BARE METAL"));
    assert!(md.contains("ours/seed"));
    assert!(md.contains("bare metal"));
}

/// Width and height from a PNG's IHDR chunk, after checking the signature.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (w, h)
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.len() > 5000,
        "{} is too small to hold a chart",
        path.display()
    );
    assert_eq!(png_size(&bytes), report::plots::SIZE);
}

#[test]
fn plots_are_written_for_present_experiments_only() {
    let out = scratch("plots");
    let o = generate(&sample(), "sample", &out, &ALL, "t").unwrap();
    for stem in [
        "exp1a",
        "exp1b",
        "exp2a",
        "exp3",
        "phases-cpu_mt-batched",
        "phases-dma-per_folio",
    ] {
        assert_png(&out.join(format!("{stem}.png")));
        let svg = std::fs::read_to_string(out.join(format!("{stem}.svg"))).unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
    }
    let svg = std::fs::read_to_string(out.join("exp1a.svg")).unwrap();
    for text in [
        "throughput (GB/s)",
        "4K",
        "2M",
        "T=4",
        "tcg: emulator speed",
    ] {
        assert!(svg.contains(text), "exp1a.svg lacks {text}");
    }
    // 2b is not in the log, so no plot for it.
    assert!(!out.join("exp2b.png").exists());
    assert!(!out.join("exp2b.svg").exists());
    assert!(o.written.iter().any(|p| p.ends_with("report.md")));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("](exp1a.png)"));
}

#[test]
fn binary_exits_zero_on_the_sample_and_reports_skipped_lines() {
    let out = scratch("bin-ok");
    let o = run_bin(
        &[
            SAMPLE,
            "--out",
            out.to_str().unwrap(),
            "--formats",
            "csv,md",
        ],
        None,
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("skipped:").count(), 6, "{err}");
    assert!(err.contains(":106: skipped: RESULT: `threads` must be"));
    assert!(out.join("results.csv").exists() && out.join("report.md").exists());
    assert!(!out.join("exp1a.png").exists(), "png not requested");
}

#[test]
fn binary_exits_one_on_unverified_cells_and_names_them() {
    let log =
        String::from_utf8(sample())
            .unwrap()
            .replacen("\"verified\":true", "\"verified\":false", 1);
    let out = scratch("bin-unverified");
    let o = run_bin(
        &["-", "--out", out.to_str().unwrap(), "--formats", "md"],
        Some(log.as_bytes()),
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 23: cell exp 1a engine cpu-mt"), "{err}");
    assert!(err.contains("verified: false"));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("## ✗ Not figures of the named engine (1)"),
        "{md}"
    );
    assert!(md.contains("| 23 | 1a | cpu-mt |") && md.contains("`verified: false`"));
}

#[test]
fn binary_exits_one_without_result_lines() {
    let out = scratch("bin-empty");
    let log = b"foliomove 0.1.0 starting\r\nbad command line\r\n";
    let o = run_bin(
        &["-", "--out", out.to_str().unwrap(), "--formats", "md"],
        Some(log),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no valid RESULT lines"));
}

#[test]
fn binary_exits_two_on_bad_usage_and_io_errors() {
    let o = run_bin(&["/nonexistent/serial.log"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read /nonexistent/serial.log"));
    let o = run_bin(&[SAMPLE, "--formats", "csv,pdf"], None);
    assert_eq!(o.status.code(), Some(2));
    let o = run_bin(&[], None);
    assert_eq!(o.status.code(), Some(2));
    // An output "directory" under a regular file cannot be created.
    let o = run_bin(&[SAMPLE, "--out", &format!("{SAMPLE}/sub")], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot create output directory"));
}
