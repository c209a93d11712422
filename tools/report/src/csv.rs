//! `results.csv` and `results.json`.
//!
//! CSV: one row per cell (RFC 4180 quoting), a `line` column first, then the DESIGN.md §6 keys
//! in a fixed order with nested objects flattened to dotted columns (`phase_ns.copy`,
//! `mmio.doorbells`), then any extra keys the kernel added, flattened the same way, in order of
//! first appearance. Every valid cell is a row, figures and the cells apart alike; `status` is
//! the status the report used (derived for old logs; the logged one, when it differs, in
//! `status_logged`) and `figure` says whether the cell counts as its engine's figure.
//! JSON: `{source, run, cells, skipped}` with each cell as logged plus `line`, `status`,
//! `figure` (and `status_logged` when it differs).

use crate::model::{Cell, Parsed};
use kcore::record::result;
use serde_json::{json, Map, Value};

/// The fixed leading columns (after `line`).
pub const COLUMNS: [&str; 36] = [
    "exp",
    "engine",
    "mode",
    "folio_kib",
    "folios",
    "threads",
    "channels",
    "placement",
    "from",
    "to",
    "bytes",
    "reps",
    "gbps_mean",
    "gbps_stdev",
    "gbps_cv",
    "gbps_min",
    "gbps_max",
    "phase_ns.prepare",
    "phase_ns.unmap",
    "phase_ns.copy",
    "phase_ns.remap",
    "verified",
    "status",
    "figure",
    "bytes_dma",
    "bytes_cpu",
    "bytes_fallback",
    "fallback_share",
    "fallback_bytes_per_rep",
    "mmio.reads",
    "mmio.writes",
    "mmio.doorbells",
    "accel",
    "cpu",
    // Present only for some cells; kept fixed so scripts can rely on them.
    "gbps_ceiling",
    "ceiling_exact",
];

/// Flattens a JSON object into `dotted.key -> scalar text` pairs, in key order.
pub fn flatten(prefix: &str, obj: &Map<String, Value>, out: &mut Vec<(String, String)>) {
    for (k, v) in obj {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Object(inner) => flatten(&key, inner, out),
            Value::Null => out.push((key, String::new())),
            Value::String(s) => out.push((key, s.clone())),
            other => out.push((key, other.to_string())),
        }
    }
}

/// Quotes a CSV field when it needs it.
pub fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// The cell's keys as logged, with `status` set to the one the report used, `figure`, and
/// `status_logged` when the logged status differs.
fn with_status(c: &Cell) -> Map<String, Value> {
    let mut m = c.raw.clone();
    m.insert(result::STATUS.name.into(), json!(c.status.name()));
    m.insert("figure".into(), json!(c.status.is_figure()));
    if let Some(logged) = c.logged_status.filter(|&s| s != c.status) {
        m.insert("status_logged".into(), json!(logged.name()));
    }
    if let Some(copied) = c
        .copied
        .as_ref()
        .filter(|_| !c.raw.contains_key(result::FALLBACK_SHARE.name))
    {
        m.insert(result::FALLBACK_SHARE.name.into(), json!(copied.share));
    }
    m
}

/// Renders `results.csv`.
pub fn to_csv(parsed: &Parsed) -> String {
    let cells = parsed.all_cells();
    let rows: Vec<Vec<(String, String)>> = cells
        .iter()
        .map(|c| {
            let mut flat = Vec::new();
            flatten("", &with_status(c), &mut flat);
            if let Some(ceil) = parsed.ceiling(c) {
                flat.push(("gbps_ceiling".into(), format!("{}", ceil.gbps)));
                flat.push(("ceiling_exact".into(), ceil.exact.to_string()));
            }
            flat
        })
        .collect();
    let mut header: Vec<String> = std::iter::once("line".to_string())
        .chain(COLUMNS.iter().map(|s| s.to_string()))
        .collect();
    for row in &rows {
        for (k, _) in row {
            if !header.contains(k) {
                header.push(k.clone());
            }
        }
    }
    let mut out = String::new();
    out.push_str(
        &header
            .iter()
            .map(|h| quote(h))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push('\n');
    for (cell, row) in cells.iter().zip(&rows) {
        let fields: Vec<String> = header
            .iter()
            .map(|h| {
                if h == "line" {
                    return cell.line.to_string();
                }
                row.iter()
                    .find(|(k, _)| k == h)
                    .map(|(_, v)| quote(v))
                    .unwrap_or_default()
            })
            .collect();
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

/// Renders `results.json`.
pub fn to_json(parsed: &Parsed, source: &str) -> String {
    let cells: Vec<Value> = parsed
        .all_cells()
        .into_iter()
        .map(|c| {
            let mut m = Map::new();
            m.insert("line".into(), json!(c.line));
            m.extend(with_status(c));
            Value::Object(m)
        })
        .collect();
    let skipped: Vec<Value> = parsed
        .skipped
        .iter()
        .map(|s| json!({"line": s.line, "reason": s.reason}))
        .collect();
    let doc = json!({
        "source": source,
        "run": parsed.run.as_ref().map(|r| Value::Object(r.raw.clone())),
        "cells": cells,
        "skipped": skipped,
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn flattening() {
        let v: Value = serde_json::from_str(r#"{"a":1,"b":{"c":"x","d":null},"e":[1,2]}"#).unwrap();
        let mut out = Vec::new();
        flatten("", v.as_object().unwrap(), &mut out);
        let keys: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b.c", "b.d", "e"]);
        assert_eq!(out[1].1, "x");
        assert_eq!(out[2].1, "");
        assert_eq!(out[3].1, "[1,2]");
    }
}
