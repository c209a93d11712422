//! `bench=streams` and `bench=appcost` in the report. Each stream of a set prints its own
//! RESULT line (`stream` 0..n-1 in order, the set's figures repeated on each), so a set is
//! a run of lines starting at `stream` 0. Tables: one row per set (set GB/s, Jain's index,
//! per-stream GB/s, admission counts summed over streams) and, for appcost, the
//! foreground's latency and bandwidth under each set next to its value alone. Plots: set
//! throughput and Jain's index vs streams, and the foreground's slowdown vs streams.

use crate::model::{Cell, Parsed};
use crate::plots::{key_series, num, Chart, Plot, XKind, GBPS};
use kcore::record::result::streams as ks;
use serde_json::Value;
use std::fmt::Write as _;

/// Foreground kinds of appcost, as in the RESULT lines' `fg` object.
const KINDS: [&str; 4] = ["chase-l2", "chase-l3", "chase-mem", "read"];

/// The cells of `exp` in log order, split into sets (a set starts at `stream` 0).
fn sets<'a>(parsed: &'a Parsed, exp: &str) -> Vec<Vec<&'a Cell>> {
    let mut out: Vec<Vec<&Cell>> = Vec::new();
    for c in parsed.all_cells().into_iter().filter(|c| c.exp == exp) {
        if num(c, "stream") == Some(0.0) || out.is_empty() {
            out.push(Vec::new());
        }
        if let Some(last) = out.last_mut() {
            last.push(c);
        }
    }
    out
}

fn text(c: &Cell, k: &str) -> String {
    match c.raw.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => "—".into(),
    }
}

fn f(v: Option<f64>, digits: usize) -> String {
    v.filter(|x| x.is_finite())
        .map_or("—".into(), |x| format!("{x:.digits$}"))
}

fn admission(set: &[&Cell]) -> String {
    let [asked, full, partial, waited, _, refused, _] = ks::ADMISSION_FIELDS;
    let keys = [asked, full, partial, waited, refused];
    let sums: Vec<String> = keys
        .iter()
        .map(|k| {
            set.iter()
                .filter_map(|c| c.get(ks::ADMISSION)?.get(*k)?.as_u64())
                .sum::<u64>()
                .to_string()
        })
        .collect();
    sums.join("/")
}

fn per_stream(set: &[&Cell]) -> String {
    set.iter()
        .map(|c| {
            if c.verified && c.status.is_figure() {
                format!("{:.3}", c.gbps_mean)
            } else {
                c.status.name().to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn fg(c: &Cell, kind: &str, k: &str) -> Option<f64> {
    c.get(ks::FG)?.get(kind)?.get(k)?.as_f64()
}

/// The markdown sections of both experiments (empty when the log has neither).
pub fn tables(parsed: &Parsed) -> String {
    let mut out = String::new();
    let streams = sets(parsed, "streams");
    if !streams.is_empty() {
        out.push_str("## Streams: several migrations at once\n\n");
        out.push_str(
            "One row per set of streams started together, each on its own CPU and address space. \
             Set GB/s: all bytes over first start to last end. Jain: fairness of the streams' GB/s \
             (1 = equal). Admission (summed over streams): batches asked/full/partial/waited/refused \
             (refused = copied by the CPU by policy).\n\n",
        );
        out.push_str("| streams | engine | admit | set GB/s | Jain | batch p50/p99 µs (stream 0) | admission | all verified | per-stream GB/s |\n|---|---|---|---|---|---|---|---|---|\n");
        for set in &streams {
            let c = set[0];
            let lat = c
                .get(ks::BATCH_US)
                .map(|o| {
                    format!(
                        "{}/{}",
                        f(o.get("p50").and_then(Value::as_f64), 0),
                        f(o.get("p99").and_then(Value::as_f64), 0)
                    )
                })
                .unwrap_or_else(|| "—".into());
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {lat} | {} | {} | {} |",
                set.len(),
                c.engine,
                text(c, "admit"),
                f(num(c, "set_gbps_mean"), 3),
                f(num(c, "jain"), 3),
                admission(set),
                if set.iter().all(|c| c.verified) {
                    "yes"
                } else {
                    "**no**"
                },
                per_stream(set)
            );
        }
        out.push('\n');
    }
    let app = sets(parsed, "appcost");
    if let Some(first) = app.first().map(|s| s[0]) {
        out.push_str("## Appcost: what a running application pays\n\n");
        out.push_str(
            "A foreground job on a CPU that does not migrate: ns per dependent load over three \
             working sets and a streaming read (GB/s), counted only while a stream migrates; \
             in brackets the slowdown against the same job alone (>1 = slower).",
        );
        let _ = writeln!(
            out,
            " Foreground buffers: `fg-node={}`.\n",
            text(first, "fg_node")
        );
        let _ = write!(out, "| streams | engine | migration GB/s |");
        for k in KINDS {
            let _ = write!(out, " {k} |");
        }
        out.push_str(" all verified |\n|---|---|---|---|---|---|---|---|\n");
        let _ = write!(out, "| 0 | alone | — |");
        for k in KINDS {
            let _ = write!(out, " {} |", f(fg(first, k, "alone"), 2));
        }
        out.push_str(" — |\n");
        for set in &app {
            let c = set[0];
            let _ = write!(
                out,
                "| {} | {} | {} |",
                set.len(),
                c.engine,
                f(num(c, "set_gbps_mean"), 3)
            );
            for k in KINDS {
                let _ = write!(
                    out,
                    " {} ({}×) |",
                    f(fg(c, k, "under"), 2),
                    f(fg(c, k, "slowdown"), 2)
                );
            }
            let _ = writeln!(
                out,
                " {} |",
                if set.iter().all(|c| c.verified) {
                    "yes"
                } else {
                    "**no**"
                }
            );
        }
        out.push('\n');
    }
    out
}

/// `engine` or `engine admit=policy`.
fn series_name(c: &Cell) -> String {
    match c.get(ks::ADMIT).and_then(Value::as_str) {
        Some(a) if a != "-" => format!("{} admit={a}", c.engine),
        _ => c.engine.clone(),
    }
}

fn first_of_set(c: &Cell) -> bool {
    num(c, "stream") == Some(0.0)
}

fn streams_x(c: &Cell) -> Option<u64> {
    num(c, "streams").map(|n| n as u64)
}

/// The plots of both experiments this log supports.
pub fn plots(parsed: &Parsed, sfx: &str) -> Vec<Plot> {
    let mut out = Vec::new();
    let line = |stem: &str, caption: &str, title: String, y: &str, series| Plot {
        stem: stem.into(),
        caption: caption.into(),
        chart: Chart::Line {
            title,
            x: XKind::Streams,
            y_desc: y.into(),
            series,
        },
    };
    let set_gbps = key_series(parsed, "streams", series_name, |c| {
        first_of_set(c).then_some(())?;
        Some((streams_x(c)?, num(c, "set_gbps_mean")?))
    });
    if !set_gbps.is_empty() {
        out.push(line(
            "streams-gbps",
            "streams: throughput of the whole set vs streams at once, per engine and admission policy",
            format!("streams: set throughput vs concurrent streams{sfx}"),
            GBPS,
            set_gbps,
        ));
    }
    let jain = key_series(parsed, "streams", series_name, |c| {
        first_of_set(c).then_some(())?;
        Some((streams_x(c)?, num(c, "jain")?))
    });
    if !jain.is_empty() {
        out.push(line(
            "streams-jain",
            "streams: Jain's fairness index of the streams' throughput (1 = equal shares)",
            format!("streams: fairness vs concurrent streams{sfx}"),
            "Jain's index",
            jain,
        ));
    }
    for (kind, stem) in [("chase-mem", "appcost-chase"), ("read", "appcost-read")] {
        let s = key_series(
            parsed,
            "appcost",
            |c| c.engine.clone(),
            |c| {
                first_of_set(c).then_some(())?;
                Some((streams_x(c)?, fg(c, kind, "slowdown")?))
            },
        );
        if !s.is_empty() {
            out.push(line(
                stem,
                &format!("appcost: slowdown of the foreground's {kind} while streams migrate (1 = unaffected)"),
                format!("appcost: {kind} slowdown vs concurrent streams{sfx}"),
                "slowdown vs alone (×)",
                s,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"RESULT {"exp":"streams","engine":"dma","mode":"batched","folio_kib":64,"folios":64,"threads":0,"channels":2,"placement":"-","from":0,"to":1,"bytes":4194304,"batch_pages":64,"reps":1,"gbps_mean":G,"gbps_stdev":0.0,"verified":true,"status":"ok","bytes_dma":1,"bytes_cpu":0,"bytes_fallback":0,"stream":S,"streams":2,"admit":"wait","admission":{"asked":4,"full":3,"partial":0,"waited":1,"refused":1},"set_gbps_mean":1.5,"jain":0.9,"accel":"tcg","cpu":"x"}"#;

    #[test]
    fn a_set_is_a_run_of_lines_from_stream_zero() {
        let log: String = [("0", "1.0"), ("1", "2.0"), ("0", "1.1"), ("1", "2.1")]
            .iter()
            .map(|(s, g)| {
                LINE.replace("\"stream\":S", &format!("\"stream\":{s}"))
                    .replace("G", g)
                    + "\n"
            })
            .collect();
        let parsed = crate::parse::parse_log(log.as_bytes());
        assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
        let s = sets(&parsed, "streams");
        assert_eq!(s.len(), 2);
        assert_eq!(admission(&s[0]), "8/6/0/2/2");
        let t = tables(&parsed);
        assert!(t.contains("| 2 | dma | wait | 1.500 | 0.900 |"), "{t}");
        assert!(t.contains("1.000, 2.000"), "{t}");
        let p = plots(&parsed, "");
        assert_eq!(p.len(), 2);
    }
}
