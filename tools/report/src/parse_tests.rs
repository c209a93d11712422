use super::*;

const GOOD: &str = r#"{"exp":"1a","engine":"cpu-mt","mode":"batched","folio_kib":4,"folios":16,"threads":2,"channels":0,"placement":"spread","from":0,"to":1,"bytes":65536,"reps":5,"gbps_mean":0.5,"gbps_stdev":0.01,"gbps_cv":0.02,"gbps_min":0.49,"gbps_max":0.51,"phase_ns":{"prepare":1,"unmap":2,"copy":3,"remap":4},"verified":true,"accel":"tcg","cpu":"QEMU"}"#;

#[test]
fn classify_markers() {
    assert_eq!(classify("RESULT {}"), Some((Kind::Result, "{}")));
    assert_eq!(classify("  RESULT {} \r"), Some((Kind::Result, "{}")));
    assert_eq!(
        classify("[cpu1] RESULT {\"a\":1}"),
        Some((Kind::Result, "{\"a\":1}"))
    );
    assert_eq!(
        classify("RUN {\"cells\":1}"),
        Some((Kind::Run, "{\"cells\":1}"))
    );
    assert_eq!(classify("RESULT"), Some((Kind::Result, "")));
    assert_eq!(classify("RESULTS follow"), None);
    assert_eq!(classify("printing RESULT lines"), None);
    assert_eq!(classify("TEST_RUN {x}"), None);
    assert_eq!(classify("bench: 1a done"), None);
}

#[test]
fn parses_a_good_cell() {
    let obj = parse_object(GOOD).unwrap();
    let cell = cell_from_object(7, obj).unwrap();
    assert_eq!(cell.line, 7);
    assert_eq!(cell.exp, "1a");
    assert_eq!(cell.threads, 2);
    assert_eq!(cell.from.as_deref(), Some("0"));
    assert_eq!(cell.phase_ns.unwrap().total(), 10.0);
    assert!(cell.mmio.is_none());
    assert!(cell.verified);
}

#[test]
fn reports_every_problem() {
    let bad = GOOD
        .replace(r#""threads":2"#, r#""threads":"2""#)
        .replace(r#""gbps_stdev":0.01,"#, "")
        .replace(r#""verified":true"#, r#""verified":1"#);
    let err = cell_from_object(1, parse_object(&bad).unwrap()).unwrap_err();
    assert!(
        err.contains("`threads` must be a non-negative integer, got a string"),
        "{err}"
    );
    assert!(err.contains("missing key `gbps_stdev`"), "{err}");
    assert!(err.contains("`verified` must be a boolean"), "{err}");
}

#[test]
fn nested_objects_are_checked() {
    let bad = GOOD.replace(r#""remap":4"#, r#""remap":"x""#);
    let err = cell_from_object(1, parse_object(&bad).unwrap()).unwrap_err();
    assert!(
        err.contains("`phase_ns.remap` must be a finite number"),
        "{err}"
    );
    let bad = GOOD.replace(r#","remap":4"#, "");
    let err = cell_from_object(1, parse_object(&bad).unwrap()).unwrap_err();
    assert!(err.contains("missing key `phase_ns.remap`"), "{err}");
}

#[test]
fn json_errors() {
    assert!(parse_object(&GOOD[..40])
        .unwrap_err()
        .starts_with("truncated JSON"));
    assert!(parse_object("{\"a\":1} trailing")
        .unwrap_err()
        .starts_with("bad JSON"));
    assert!(parse_object("[1]").unwrap_err().contains("an array"));
    assert!(parse_object("").unwrap_err().contains("no JSON"));
}

#[test]
fn figures_and_cells_apart() {
    use crate::status::Status;
    let with = |extra: &str| format!("RESULT {}", GOOD.replace("\"verified\":true", extra));
    let log = [
        with("\"verified\":true"),
        with("\"verified\":false"),
        with("\"verified\":true,\"status\":\"invalid\",\"bytes_dma\":0,\"bytes_cpu\":0,\"bytes_fallback\":65536,\"fallback_share\":1.0"),
        with("\"verified\":true,\"status\":\"degraded\",\"bytes_dma\":65000,\"bytes_cpu\":0,\"bytes_fallback\":536"),
        with("\"verified\":true,\"status\":\"out-of-memory\""),
    ]
    .join("\n");
    let p = parse_log(log.as_bytes());
    assert!(p.skipped.is_empty(), "{:?}", p.skipped);
    let figures: Vec<(usize, Status)> = p.cells.iter().map(|c| (c.line, c.status)).collect();
    assert_eq!(figures, [(1, Status::Ok), (4, Status::Degraded)]);
    let apart: Vec<(usize, Status)> = p.apart.iter().map(|c| (c.line, c.status)).collect();
    assert_eq!(
        apart,
        [
            (2, Status::VerificationFailed),
            (3, Status::Invalid),
            (5, Status::OutOfMemory)
        ]
    );
    assert_eq!(
        p.cells[0].logged_status, None,
        "an old line: status derived"
    );
    assert_eq!(p.all_cells().len(), 5);
    assert_eq!(p.unverified().len(), 1);
}

#[test]
fn log_with_crlf_and_noise() {
    let log = format!(
        "boot\r\nRESULT {GOOD}\r\nRESULT {{bad\r\nRUN {{\"cells\":1,\"status\":\"ok\"}}\r\nRUN {{\"cells\":2,\"status\":\"ok\"}}\r\n"
    );
    let p = parse_log(log.as_bytes());
    assert_eq!(p.lines, 5);
    assert_eq!(p.cells.len(), 1);
    assert_eq!(p.cells[0].line, 2);
    assert_eq!(p.run.as_ref().unwrap().line, 5);
    assert_eq!(p.skipped.len(), 2);
    assert_eq!(p.skipped[0].line, 3);
    assert!(p.skipped[1].reason.contains("superseded"));
}

#[test]
fn a_run_line_without_a_required_key_is_skipped_with_the_key_named() {
    let log = "RUN {\"cells\":1,\"status\":\"ok\"}\nRUN {\"cells\":2}\n";
    let p = parse_log(log.as_bytes());
    assert_eq!(
        p.run.as_ref().map(|r| r.line),
        Some(1),
        "the good line stays"
    );
    assert_eq!(p.skipped.len(), 1);
    assert_eq!(p.skipped[0].line, 2);
    assert_eq!(p.skipped[0].reason, "RUN: missing key `status`");
}

/// Ties the parser to `kcore::record`: dropping any key the table calls required makes
/// the line malformed with that key named, and a line carrying only the required keys
/// is a cell (so the parser requires nothing the table does not).
#[test]
fn the_parser_requires_exactly_the_shared_required_keys() {
    let full: Map<String, Value> = serde_json::from_str(GOOD).unwrap();
    let required: Map<String, Value> = full
        .iter()
        .filter(|(name, _)| record::required(record::RESULT_KEYS).any(|k| k.name == *name))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    assert_eq!(
        required.len(),
        record::required(record::RESULT_KEYS).count(),
        "GOOD carries every required key"
    );
    assert!(cell_from_object(1, required.clone()).is_ok());
    for key in record::required(record::RESULT_KEYS) {
        let mut without = required.clone();
        without.remove(key.name);
        let err = cell_from_object(1, without).unwrap_err();
        assert!(
            err.contains(&format!("missing key `{}`", key.name)),
            "{}: {err}",
            key.name
        );
        assert_eq!(
            err.matches("missing key").count(),
            1,
            "reported once: {err}"
        );
    }
}
