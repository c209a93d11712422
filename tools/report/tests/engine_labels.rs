//! Engine labels (issue 15): a cell whose named engine did not do the work is never plotted or
//! tabled as that engine but listed apart with its share; a degraded cell is tabled with a
//! marker and its share; CSV and JSON carry the status and the byte counts; old logs without
//! `status` still parse.

use report::plots::{plots, Chart};
use report::status::Status;
use report::{generate, parse::parse_log, verdict, Format};
use std::path::PathBuf;

/// A verified 1b DMA cell at `kib` with one channel and `gbps`, plus `extra` keys.
fn dma(kib: u64, gbps: f64, extra: &str) -> String {
    let bytes = kib * 1024 * 8;
    format!(
        "RESULT {{\"exp\":\"1b\",\"engine\":\"dma\",\"mode\":\"batched\",\"folio_kib\":{kib},\
         \"folios\":8,\"threads\":0,\"channels\":1,\"from\":0,\"to\":1,\"bytes\":{bytes},\
         \"reps\":3,\"gbps_mean\":{gbps},\"gbps_stdev\":0.1,\"verified\":true{extra},\
         \"accel\":\"tcg\",\"cpu\":\"test\"}}"
    )
}

/// Byte accounting keys for a cell: `dma` and `fallback` bytes, nothing by CPU design.
fn bytes(status: &str, dma: u64, fallback: u64) -> String {
    let share = if dma + fallback > 0 {
        fallback as f64 / (dma + fallback) as f64
    } else {
        0.0
    };
    format!(
        ",\"status\":\"{status}\",\"bytes_dma\":{dma},\"bytes_cpu\":0,\
         \"bytes_fallback\":{fallback},\"fallback_share\":{share},\
         \"fallback_bytes_per_rep\":[{fallback},0,0,0]"
    )
}

/// 4K: invalid (87.5 % fallback, 9 GB/s, faster than anything real); 64K: degraded (0.4 %);
/// 2M: ok. The RUN line agrees.
fn log() -> String {
    [
        "foliomove 0.1.0 starting".to_string(),
        dma(4, 9.0, &bytes("invalid", 16384, 114688)),
        dma(64, 1.5, &bytes("degraded", 2088960, 8192)),
        dma(2048, 3.0, &bytes("ok", 67108864, 0)),
        "RUN {\"cells\":3,\"failures\":0,\"degraded\":1,\"invalid\":1,\"status\":\"invalid\",\
         \"accel\":\"tcg\",\"cpu\":\"test\"}"
            .to_string(),
    ]
    .join("\r\n")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("report-labels-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn an_invalid_dma_cell_is_apart_and_never_plotted() {
    let p = parse_log(log().as_bytes());
    assert!(p.skipped.is_empty(), "{:?}", p.skipped);
    assert_eq!(p.apart.len(), 1);
    assert_eq!(p.apart[0].status, Status::Invalid);
    assert_eq!(p.apart[0].folio_kib, 4);
    let points: Vec<(u64, f64)> = plots(&p)
        .iter()
        .filter_map(|plot| match &plot.chart {
            Chart::Line { series, .. } => Some(series),
            _ => None,
        })
        .flatten()
        .flat_map(|s| s.points.iter().map(|&(x, y, _)| (x, y)))
        .collect();
    assert_eq!(
        points,
        [(64, 1.5), (2048, 3.0)],
        "the 4K cell is not a DMA figure"
    );
    let problems = verdict(&p).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].contains("line 2: cell exp 1b engine dma")
            && problems[0].contains("is not a figure of engine dma: status invalid")
            && problems[0].contains("87.5 %"),
        "{problems:?}"
    );
}

#[test]
fn the_report_lists_it_apart_and_marks_the_degraded_cell() {
    let out = scratch("md");
    generate(log().as_bytes(), "t.log", &out, &[Format::Md], "t").unwrap();
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    // How the numbers were obtained is still said first.
    assert!(md.contains("## Where it ran") && md.contains("NOT BARE METAL"));
    assert!(md.contains("3 RESULT cells (1 of them not figures of their engine"));
    assert!(
        md.contains("- Engine labels: every cell reports the bytes"),
        "{md}"
    );
    assert!(md.contains("- **Status invalid: the run measured cells whose named engine"));
    assert!(!md.contains("did not finish cleanly"));
    assert!(
        !md.contains("The RUN line counts"),
        "RUN counts agree: {md}"
    );
    let apart = md
        .split("## ✗ Not figures of the named engine (1)")
        .nth(1)
        .expect("section apart")
        .split("\n## ")
        .next()
        .unwrap();
    assert!(
        apart.contains(
            "| 2 | 1b | dma | batched | 4K | 8 | 1 | 0→1 | invalid | 87.5 % | \
             16384 / 0 / 114688 | 9.00 ± 0.10 | the CPU copied 87.5 % of the bytes meant for \
             DMA because DMA failed (limit 1.0 %) |"
        ),
        "{apart}"
    );
    // The 1b table: the degraded 64K cell marked with its share; no 4K row at all.
    let table = md.split("### 1b — engine `dma`").nth(1).expect("1b table");
    let table = table.split("\n## ").next().unwrap();
    assert!(table.contains("| 64K | 1.50 ± 0.10 † 0.4 % |"), "{table}");
    assert!(table.contains("| 2M | 3.00 ± 0.10 |"), "{table}");
    assert!(
        !table.contains("| 4K |") && !table.contains("9.00"),
        "{table}"
    );
    assert!(
        table.contains("† degraded: the CPU copied this share"),
        "{table}"
    );
}

#[test]
fn csv_and_json_carry_status_and_bytes() {
    let out = scratch("csv");
    generate(
        log().as_bytes(),
        "t.log",
        &out,
        &[Format::Csv, Format::Json],
        "t",
    )
    .unwrap();
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 4, "every cell is a row, the invalid one too");
    let header: Vec<&str> = rows[0].split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let field = |row: usize, name: &str| rows[row].split(',').nth(col(name)).unwrap();
    assert_eq!(field(1, "status"), "invalid");
    assert_eq!(field(1, "figure"), "false");
    assert_eq!(field(1, "bytes_fallback"), "114688");
    assert_eq!(field(2, "status"), "degraded");
    assert_eq!(field(2, "figure"), "true");
    assert_eq!(field(3, "bytes_dma"), "67108864");
    assert!(rows[1].contains("\"[114688,0,0,0]\""), "{}", rows[1]);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let cells = v["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 3);
    assert_eq!(cells[0]["status"], "invalid");
    assert_eq!(cells[0]["figure"], false);
    assert_eq!(cells[0]["fallback_share"], 0.875);
    assert_eq!(cells[1]["bytes_fallback"], 8192);
}

#[test]
fn a_share_above_the_limit_is_invalid_whatever_the_line_says() {
    let line = dma(4, 2.0, &bytes("ok", 950, 50));
    let p = parse_log(line.as_bytes());
    assert!(p.cells.is_empty());
    assert_eq!(p.apart[0].status, Status::Invalid);
    assert_eq!(p.apart[0].logged_status, Some(Status::Ok));
    let out = scratch("mismatch");
    generate(
        line.as_bytes(),
        "t.log",
        &out,
        &[Format::Md, Format::Csv],
        "t",
    )
    .unwrap();
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("(limit 1.0 %) (the line says `ok`)"), "{md}");
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert!(
        csv.lines().next().unwrap().ends_with(",status_logged"),
        "{csv}"
    );
}

#[test]
fn old_logs_without_status_still_parse_and_say_labels_are_unchecked() {
    let old = [
        dma(4, 1.0, ",\"fallback_ops\":8"),
        dma(64, 2.0, "").replace("\"verified\":true", "\"verified\":false"),
    ]
    .join("\n");
    let p = parse_log(old.as_bytes());
    assert!(p.skipped.is_empty());
    assert_eq!(p.cells.len(), 1);
    assert_eq!(p.cells[0].status, Status::Ok);
    assert_eq!(p.apart[0].status, Status::VerificationFailed);
    let out = scratch("old");
    generate(old.as_bytes(), "t.log", &out, &[Format::Md], "t").unwrap();
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("- Engine labels: **not checked**"), "{md}");
    assert!(
        md.contains("- **Unchecked cells with `fallback_ops` > 0 (the CPU finished ops meant for DMA), lines 1:"),
        "{md}"
    );
}

#[test]
fn run_counts_that_disagree_with_the_cells_are_flagged() {
    let log = log().replace("\"invalid\":1,", "\"invalid\":0,");
    let out = scratch("counts");
    generate(log.as_bytes(), "t.log", &out, &[Format::Md], "t").unwrap();
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("- **The RUN line counts 0 invalid cell(s) but the log has 1.**"),
        "{md}"
    );
}

#[test]
fn the_report_names_the_dma_engine_kind() {
    let log = [
        dma(2048, 3.0, ",\"dma_kind\":\"sdxi\""),
        dma(64, 1.0, ",\"dma_kind\":\"sdxi\""),
    ]
    .join("\n");
    let out = scratch("kind");
    generate(log.as_bytes(), "t.log", &out, &[Format::Md], "t").unwrap();
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("- DMA engine kind: **SNIA SDXI 1.0 (class 0x120100"),
        "{md}"
    );
    // A log that predates the key says nothing about the kind.
    let out = scratch("nokind");
    generate(self::log().as_bytes(), "t.log", &out, &[Format::Md], "t").unwrap();
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(!md.contains("DMA engine kind"), "{md}");
}
