//! How a check case's log is judged: structured lines (`RESULT`/`RUN` through tools/report's
//! parser, the self-tests' closing line) and console text by regular expression; the doorbell
//! count against the model's counters; a report made from the log.

use kcore::record::run;
use std::path::Path;

use regex::Regex;

use crate::boot::test_summary;
use crate::check_cases::{Expect, ReportCheck};

/// A log's bytes and its text (lossy: serial logs can carry stray bytes).
pub fn read_log(path: &Path) -> (Vec<u8>, String) {
    let bytes = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (bytes, text)
}

/// Checks one expectation against a log; `Err` says what is missing.
pub fn holds(e: &Expect, bytes: &[u8], text: &str) -> Result<(), String> {
    match *e {
        Expect::Tests { passed, failed } => {
            let ok = text
                .lines()
                .filter_map(test_summary)
                .any(|(p, f)| f == failed && passed.is_none_or(|want| want == p));
            ok.then_some(()).ok_or_else(|| match passed {
                Some(p) => format!("no '{p} passed, {failed} failed' line"),
                None => format!("no 'N passed, {failed} failed' line"),
            })
        }
        Expect::Cell { engine, status } => {
            let parsed = report::parse::parse_log(bytes);
            let found = parsed
                .all_cells()
                .iter()
                .any(|c| c.logged_status == Some(status) && engine.is_none_or(|e| c.engine == e));
            found.then_some(()).ok_or_else(|| {
                format!(
                    "no RESULT cell{} with status {} ({} cells parsed)",
                    engine
                        .map(|e| format!(" of engine {e}"))
                        .unwrap_or_default(),
                    status.name(),
                    parsed.all_cells().len()
                )
            })
        }
        Expect::Run(status) => {
            let parsed = report::parse::parse_log(bytes);
            let ok = parsed.run.as_ref().is_some_and(|r| {
                r.raw.get(run::STATUS.name).and_then(|v| v.as_str()) == Some(status.name())
                    && run::count_of(status).is_none_or(|k| {
                        r.raw.get(k.name).and_then(|v| v.as_u64()).unwrap_or(0) >= 1
                    })
            });
            ok.then_some(())
                .ok_or_else(|| format!("RUN line lacks status {} with a count", status.name()))
        }
        Expect::Text(re) | Expect::NoText(re) => {
            let r = Regex::new(re).map_err(|e| format!("bad pattern /{re}/: {e}"))?;
            let found = text.lines().any(|l| r.is_match(l.trim_end_matches('\r')));
            match (e, found) {
                (Expect::Text(_), true) | (Expect::NoText(_), false) => Ok(()),
                (Expect::Text(_), false) => Err(format!("log lacks /{re}/")),
                _ => Err(format!("log has /{re}/")),
            }
        }
    }
}

/// Every `RESULT` line of the log parses and its string `key` matches `pattern`.
pub fn every_cell(bytes: &[u8], key: &str, pattern: &str) -> Result<(), String> {
    let re = Regex::new(pattern).map_err(|e| format!("bad pattern /{pattern}/: {e}"))?;
    let parsed = report::parse::parse_log(bytes);
    let cells = parsed.all_cells();
    let with = cells
        .iter()
        .filter(|c| {
            c.raw
                .get(key)
                .and_then(|v| v.as_str())
                .is_some_and(|v| re.is_match(v))
        })
        .count();
    if !cells.is_empty() && with == cells.len() && parsed.skipped.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{with} of {} RESULT lines carry {key} /{pattern}/ ({} skipped)",
            cells.len(),
            parsed.skipped.len()
        ))
    }
}

/// The driver's doorbell and descriptor counts (the self-tests' `dma: total mmio ...` line in
/// `log`) equal the sums the device model wrote to out/ptdma-counters.json.
pub fn doorbells(out: &Path, log: &Path) -> Result<(), String> {
    let (_, text) = read_log(log);
    let re = Regex::new(
        r"dma: total mmio reads [0-9]+ writes [0-9]+ doorbells ([0-9]+) descriptors ([0-9]+)",
    )
    .map_err(|e| e.to_string())?;
    let kernel: Option<(u64, u64)> = text.lines().find_map(|l| {
        let c = re.captures(l)?;
        Some((c[1].parse().ok()?, c[2].parse().ok()?))
    });
    let counters = std::fs::read_to_string(out.join("ptdma-counters.json")).unwrap_or_default();
    let model = model_ring_traffic(&counters);
    let show = |v: Option<(u64, u64)>| {
        v.map_or("none".to_string(), |(d, n)| {
            format!("{d} doorbells, {n} descriptors")
        })
    };
    match (kernel, model) {
        (Some(k), Some(m)) if k == m => Ok(()),
        _ => Err(format!(
            "kernel counted {}, model counted {}",
            show(kernel),
            show(model)
        )),
    }
}

/// (doorbells, descriptors) the model's counters file (one JSON line per function) counts
/// over every queue; `None` when a line is not counters.
pub fn model_ring_traffic(counters: &str) -> Option<(u64, u64)> {
    counters
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            let queues = v["queues"].as_array()?;
            let sum = |k: &str| queues.iter().filter_map(|q| q[k].as_u64()).sum::<u64>();
            Some((sum("doorbells"), sum("descriptors")))
        })
        .try_fold((0, 0), |(d, n), q| q.map(|(a, b)| (d + a, n + b)))
}

/// tools/report on `log` into out/DIR: it must pass the report's verdict, and report.md and
/// the files beside it must be as `r` says.
pub fn report_check(root: &Path, out: &Path, log: &Path, r: &ReportCheck) -> Result<(), String> {
    let (bytes, _) = read_log(log);
    let dir = out.join(r.dir);
    let source = log.strip_prefix(root).unwrap_or(log).display().to_string();
    let formats = [
        report::Format::Csv,
        report::Format::Json,
        report::Format::Md,
        report::Format::Png,
        report::Format::Svg,
    ];
    let outcome = report::generate(
        &bytes,
        &source,
        &dir,
        &formats,
        "foliomove: page migration results",
    )
    .map_err(|e| format!("tools/report failed on {source}: {e}"))?;
    report::verdict(&outcome.parsed).map_err(|p| format!("report verdict: {}", p.join("; ")))?;
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap_or_default();
    if let Some(h) = r.has.filter(|h| !md.contains(h)) {
        return Err(format!("report lacks '{h}' ({})", dir.display()));
    }
    if let Some(l) = r.lacks.filter(|l| md.contains(l)) {
        return Err(format!("report has '{l}' ({})", dir.display()));
    }
    for f in r.files {
        if !dir.join(f).is_file() {
            return Err(format!("no {f} in {}", dir.display()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kcore::honesty::Status;

    const LOG: &str = "boot\r\n51 passed, 0 failed\nRESULT {\"exp\":\"migrate\",\"engine\":\"dma\",\"mode\":\"batched\",\"folio_kib\":64,\"folios\":128,\"threads\":1,\"channels\":2,\"bytes\":8388608,\"reps\":2,\"gbps_mean\":1.0,\"gbps_stdev\":0.1,\"verified\":true,\"status\":\"invalid\",\"accel\":\"tcg\",\"cpu\":\"max\"}\nRUN {\"cells\":1,\"invalid\":1,\"status\":\"invalid\"}\n!!! INVALID in migrate\n";

    fn check(e: Expect) -> Result<(), String> {
        holds(&e, LOG.as_bytes(), LOG)
    }

    #[test]
    fn expectations_pass_and_fail() {
        assert_eq!(
            check(Expect::Tests {
                passed: None,
                failed: 0
            }),
            Ok(())
        );
        assert_eq!(
            check(Expect::Tests {
                passed: Some(51),
                failed: 0
            }),
            Ok(())
        );
        assert!(check(Expect::Tests {
            passed: Some(50),
            failed: 0
        })
        .is_err());
        assert!(check(Expect::Tests {
            passed: None,
            failed: 1
        })
        .is_err());
        assert_eq!(check(Expect::Text("^!!! INVALID in migrate")), Ok(()));
        assert_eq!(
            check(Expect::Text("^51 passed, 0 failed$")),
            Ok(()),
            "\\r is not part of a line"
        );
        assert!(check(Expect::Text("queue usable again")).is_err());
        assert_eq!(check(Expect::NoText("FAILED")), Ok(()));
        assert!(check(Expect::NoText("INVALID")).is_err());
        assert_eq!(check(Expect::Run(Status::Invalid)), Ok(()));
        assert!(check(Expect::Run(Status::Ok)).is_err());
    }

    /// The model's counters are summed over every queue of every function, admin queue
    /// included; a line that is not counters makes the sum unknown.
    #[test]
    fn model_ring_traffic_sums_every_queue() {
        let two = "{\"queues\":[{\"queue\":0,\"doorbells\":8,\"descriptors\":7},{\"queue\":1,\"doorbells\":3,\"descriptors\":12}]}\n{\"queues\":[{\"queue\":1,\"doorbells\":1,\"descriptors\":2}]}\n";
        assert_eq!(model_ring_traffic(two), Some((12, 21)));
        assert_eq!(model_ring_traffic(&format!("{two}garbage\n")), None);
    }

    /// The RUN line counts out-of-memory cells under `out_of_memory`, not under the
    /// status's name `out-of-memory`; an `ok` run has no count to look for.
    #[test]
    fn run_status_counts_are_read_under_their_keys() {
        let log = "RUN {\"cells\":2,\"out_of_memory\":1,\"status\":\"out-of-memory\"}\n";
        let oom = Expect::Run(Status::OutOfMemory);
        assert_eq!(holds(&oom, log.as_bytes(), log), Ok(()));
        let zero = log.replace("\"out_of_memory\":1", "\"out_of_memory\":0");
        assert!(holds(&oom, zero.as_bytes(), &zero).is_err());
        let ok = "RUN {\"cells\":2,\"failures\":0,\"status\":\"ok\"}\n";
        assert_eq!(holds(&Expect::Run(Status::Ok), ok.as_bytes(), ok), Ok(()));
    }

    #[test]
    fn cells_through_the_report_parser() {
        let invalid = Expect::Cell {
            engine: Some("dma"),
            status: Status::Invalid,
        };
        assert_eq!(check(invalid), Ok(()));
        let wrong_engine = Expect::Cell {
            engine: Some("cpu"),
            status: Status::Invalid,
        };
        assert!(check(wrong_engine).is_err());
        let ok = Expect::Cell {
            engine: None,
            status: Status::Ok,
        };
        assert!(check(ok).is_err(), "the cell is invalid, not ok");
    }
}
