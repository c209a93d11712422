//! Serial log -> [`Parsed`]: finds `RESULT {json}` and `RUN {json}` lines among console text,
//! checks each cell's required keys and their types, and records every line it cannot use
//! (line number + reason) instead of panicking or dropping it silently.
//!
//! Format: DESIGN.md §6. Lines may end in `\r\n`, carry a console prefix before the marker
//! (`[cpu3] RESULT {...}`), be truncated, or be plain garbage. A marker is `RESULT`/`RUN` at the
//! start of a line (after whitespace), or anywhere after a non-alphanumeric character when
//! followed by `{`. Anything after the JSON object makes the line malformed.

use crate::model::{Cell, Mmio, Parsed, Phases, RunInfo, Skipped};
use crate::status;
use kcore::record::{
    self, result as k, Bool, Key, Label, Num, Object, Str, UInt, RESULT_MARKER, RUN_MARKER,
};
use serde_json::{Map, Value};

/// What kind of machine-readable line this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A `RESULT` cell.
    Result,
    /// The closing `RUN` summary.
    Run,
}

/// If `line` carries a marker, its kind and the text after the marker (trimmed).
pub fn classify(line: &str) -> Option<(Kind, &str)> {
    let trimmed = line.trim_start();
    for (kind, word) in [(Kind::Result, RESULT_MARKER), (Kind::Run, RUN_MARKER)] {
        // At the start of the line: any text after it counts (so "RESULT" alone is malformed).
        if let Some(rest) = trimmed.strip_prefix(word) {
            if rest.is_empty() || rest.starts_with(char::is_whitespace) {
                return Some((kind, rest.trim()));
            }
        }
        // After a console prefix: only when a JSON object follows.
        let mut from = 0;
        while let Some(pos) = trimmed[from..].find(word) {
            let at = from + pos;
            let boundary = trimmed[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric() && c != '_' && c != '-');
            let rest = &trimmed[at + word.len()..];
            if boundary
                && rest.starts_with(char::is_whitespace)
                && rest.trim_start().starts_with('{')
            {
                return Some((kind, rest.trim()));
            }
            from = at + word.len();
        }
    }
    None
}

/// Parses a whole log (lossily decoded; serial logs can carry stray bytes).
pub fn parse_log(bytes: &[u8]) -> Parsed {
    let text = String::from_utf8_lossy(bytes);
    let mut parsed = Parsed::default();
    for (idx, raw_line) in text.split('\n').enumerate() {
        let line_no = idx + 1;
        parsed.lines = line_no;
        let line = raw_line.trim_end_matches('\r');
        let Some((kind, json)) = classify(line) else {
            continue;
        };
        let obj = match parse_object(json) {
            Ok(obj) => obj,
            Err(reason) => {
                let what = if kind == Kind::Result {
                    RESULT_MARKER
                } else {
                    RUN_MARKER
                };
                parsed.skipped.push(Skipped {
                    line: line_no,
                    reason: format!("{what}: {reason}"),
                });
                continue;
            }
        };
        match kind {
            Kind::Result => match cell_from_object(line_no, obj) {
                Ok(cell) if cell.status.is_figure() => parsed.cells.push(cell),
                Ok(cell) => parsed.apart.push(cell),
                Err(reason) => parsed.skipped.push(Skipped {
                    line: line_no,
                    reason: format!("RESULT: {reason}"),
                }),
            },
            Kind::Run => {
                let missing: Vec<String> = record::required(record::RUN_KEYS)
                    .filter(|k| !obj.contains_key(k.name))
                    .map(|k| format!("missing key `{}`", k.name))
                    .collect();
                if !missing.is_empty() {
                    parsed.skipped.push(Skipped {
                        line: line_no,
                        reason: format!("{RUN_MARKER}: {}", missing.join("; ")),
                    });
                    continue;
                }
                if let Some(prev) = &parsed.run {
                    parsed.skipped.push(Skipped {
                        line: prev.line,
                        reason: format!("RUN: superseded by a later RUN line ({line_no})"),
                    });
                }
                parsed.run = Some(RunInfo {
                    line: line_no,
                    raw: obj,
                });
            }
        }
    }
    // A log ending in '\n' has an empty last "line"; don't count it.
    if text.ends_with('\n') {
        parsed.lines -= 1;
    }
    parsed
}

/// Parses the text after a marker as exactly one JSON object.
pub fn parse_object(json: &str) -> Result<Map<String, Value>, String> {
    if json.is_empty() {
        return Err("no JSON after the marker".to_string());
    }
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!("expected a JSON object, got {}", type_name(&other))),
        Err(e) if e.is_eof() => Err(format!("truncated JSON ({e})")),
        Err(e) => Err(format!("bad JSON ({e})")),
    }
}

/// JSON type name for messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Collects typed fields from an object, accumulating every problem.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    errors: Vec<String>,
}

impl<'a> Fields<'a> {
    /// The value of `key`; a missing key is `None` (the shared table's required keys are
    /// checked once, up front), and so is `null` for an optional key.
    fn get(&mut self, key: &str, required: bool) -> Option<&'a Value> {
        match self.obj.get(key) {
            Some(Value::Null) if !required => None,
            v => v,
        }
    }

    fn wrong(&mut self, key: &str, want: &str, got: &Value) {
        self.errors
            .push(format!("`{key}` must be {want}, got {}", type_name(got)));
    }

    fn string(&mut self, key: Key<Str>) -> String {
        debug_assert!(key.required, "`{}` is optional in kcore::record", key.name);
        let key = key.name;
        match self.get(key, true) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => {
                self.wrong(key, "a string", v);
                String::new()
            }
            None => String::new(),
        }
    }

    /// A string or integer label (nodes, placement), optional.
    fn label(&mut self, key: Key<Label>) -> Option<String> {
        debug_assert!(!key.required, "`{}` is required in kcore::record", key.name);
        let key = key.name;
        match self.get(key, false)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
            v => {
                self.wrong(key, "a string or an integer", v);
                None
            }
        }
    }

    fn uint_of(&mut self, key: &str, v: &Value) -> u64 {
        match v.as_u64() {
            Some(n) => n,
            None => {
                self.wrong(key, "a non-negative integer", v);
                0
            }
        }
    }

    fn uint(&mut self, key: Key<UInt>) -> u64 {
        debug_assert!(key.required, "`{}` is optional in kcore::record", key.name);
        let key = key.name;
        match self.get(key, true) {
            Some(v) => self.uint_of(key, v),
            None => 0,
        }
    }

    fn float_of(&mut self, key: &str, v: &Value) -> f64 {
        match v.as_f64() {
            Some(x) if x.is_finite() => x,
            _ => {
                self.wrong(key, "a finite number", v);
                0.0
            }
        }
    }

    fn float(&mut self, key: Key<Num>) -> f64 {
        debug_assert!(key.required, "`{}` is optional in kcore::record", key.name);
        let key = key.name;
        match self.get(key, true) {
            Some(v) => self.float_of(key, v),
            None => 0.0,
        }
    }

    fn opt_float(&mut self, key: Key<Num>) -> Option<f64> {
        debug_assert!(!key.required, "`{}` is required in kcore::record", key.name);
        let key = key.name;
        let v = self.get(key, false)?;
        Some(self.float_of(key, v))
    }

    fn boolean(&mut self, key: Key<Bool>) -> bool {
        debug_assert!(key.required, "`{}` is optional in kcore::record", key.name);
        let key = key.name;
        match self.get(key, true) {
            Some(Value::Bool(b)) => *b,
            Some(v) => {
                self.wrong(key, "a boolean", v);
                false
            }
            None => false,
        }
    }

    /// An optional object whose listed keys are all required numbers.
    fn sub_object(&mut self, key: Key<Object>, keys: &[&str]) -> Option<Vec<f64>> {
        debug_assert!(!key.required, "`{}` is required in kcore::record", key.name);
        let key = key.name;
        let v = self.get(key, false)?;
        let Value::Object(map) = v else {
            self.wrong(key, "an object", v);
            return None;
        };
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            let full = format!("{key}.{k}");
            match map.get(*k) {
                None => self.errors.push(format!("missing key `{full}`")),
                Some(x) => out.push(self.float_of(&full, x)),
            }
        }
        (out.len() == keys.len()).then_some(out)
    }
}

/// Builds a [`Cell`] from a `RESULT` object, or says everything wrong with it.
///
/// Required: `exp`, `engine`, `mode`, `accel`, `cpu` (strings); `folio_kib`, `folios`,
/// `threads`, `channels`, `bytes`, `reps` (non-negative integers); `gbps_mean`, `gbps_stdev`
/// (numbers); `verified` (boolean). Optional but type-checked when present and not null:
/// `placement`, `from`, `to` (string or integer), `gbps_cv`, `gbps_min`, `gbps_max` (numbers),
/// `phase_ns` {prepare, unmap, copy, remap} and `mmio` {reads, writes, doorbells} (objects of
/// numbers, all four/three keys required), and `status`, `bytes_dma`, `bytes_cpu`,
/// `bytes_fallback`, `fallback_share`, `fallback_bytes_per_rep` (see `status.rs`). Unknown
/// keys are kept in [`Cell::raw`].
pub fn cell_from_object(line: usize, obj: Map<String, Value>) -> Result<Cell, String> {
    let mut f = Fields {
        obj: &obj,
        errors: Vec::new(),
    };
    // The shared table decides what a cell must carry; the typed reads below check types.
    for key in record::required(record::RESULT_KEYS) {
        if !obj.contains_key(key.name) {
            f.errors.push(format!("missing key `{}`", key.name));
        }
    }
    let exp = f.string(k::EXP);
    let engine = f.string(k::ENGINE);
    let mode = f.string(k::MODE);
    let folio_kib = f.uint(k::FOLIO_KIB);
    let folios = f.uint(k::FOLIOS);
    let threads = f.uint(k::THREADS);
    let channels = f.uint(k::CHANNELS);
    let placement = f.label(k::PLACEMENT);
    let from = f.label(k::FROM);
    let to = f.label(k::TO);
    let bytes = f.uint(k::BYTES);
    let reps = f.uint(k::REPS);
    let gbps_mean = f.float(k::GBPS_MEAN);
    let gbps_stdev = f.float(k::GBPS_STDEV);
    let gbps_cv = f.opt_float(k::GBPS_CV);
    let gbps_min = f.opt_float(k::GBPS_MIN);
    let gbps_max = f.opt_float(k::GBPS_MAX);
    let phase_ns = f
        .sub_object(k::PHASE_NS, &k::PHASE_NS_FIELDS)
        .map(|v| Phases {
            prepare: v[0],
            unmap: v[1],
            copy: v[2],
            remap: v[3],
        });
    let mmio = f.sub_object(k::MMIO, &k::MMIO_FIELDS).map(|v| Mmio {
        reads: v[0] as u64,
        writes: v[1] as u64,
        doorbells: v[2] as u64,
    });
    let verified = f.boolean(k::VERIFIED);
    let accel = f.string(k::ACCEL);
    let cpu = f.string(k::CPU);
    let (logged_status, copied) = status::read(&obj, &mut f.errors);
    if !f.errors.is_empty() {
        return Err(f.errors.join("; "));
    }
    Ok(Cell {
        line,
        exp,
        engine,
        mode,
        folio_kib,
        folios,
        threads,
        channels,
        placement,
        from,
        to,
        bytes,
        reps,
        gbps_mean,
        gbps_stdev,
        gbps_cv,
        gbps_min,
        gbps_max,
        phase_ns,
        verified,
        status: status::effective(logged_status, verified, copied.as_ref()),
        logged_status,
        copied,
        mmio,
        accel,
        cpu,
        raw: obj,
    })
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
