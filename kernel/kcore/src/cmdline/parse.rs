//! Parsing: tokens to a [`Config`], each value checked against its key's kind, with the
//! closest known key suggested for a typo.

use super::*;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// What was wrong with the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdlineError {
    /// A key that no part of the kernel understands.
    UnknownKey {
        /// The key as given.
        key: String,
        /// The closest known key, when one is close.
        suggestion: Option<&'static str>,
    },
    /// A known key with a value it does not accept.
    BadValue {
        /// The key.
        key: &'static str,
        /// The value as given.
        given: String,
        /// What the key accepts.
        accepted: String,
    },
    /// The same key twice (which one should win is not obvious, so neither does).
    Repeated {
        /// The key.
        key: &'static str,
    },
}

impl fmt::Display for CmdlineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdlineError::UnknownKey { key, suggestion } => {
                write!(f, "unknown key '{key}'")?;
                if let Some(s) = suggestion {
                    write!(f, " (did you mean '{s}'?)")?;
                }
                write!(f, "; known keys: ")?;
                for (i, k) in KEYS.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{}", k.name)?;
                }
                Ok(())
            }
            CmdlineError::BadValue {
                key,
                given,
                accepted,
            } => write!(
                f,
                "bad value for '{key}': got '{given}', accepted: {accepted}"
            ),
            CmdlineError::Repeated { key } => write!(f, "key '{key}' is given more than once"),
        }
    }
}

/// Parses a whole command line.
pub fn parse(line: &str) -> Result<Config, CmdlineError> {
    let mut config = Config::default();
    let mut seen: Vec<&'static str> = Vec::new();
    for token in line.split_ascii_whitespace() {
        let (key, value) = match token.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (token, None),
        };
        let spec = KEYS
            .iter()
            .find(|s| s.name == key)
            .ok_or_else(|| CmdlineError::UnknownKey {
                key: key.to_string(),
                suggestion: closest_key(key),
            })?;
        if seen.contains(&spec.name) {
            return Err(CmdlineError::Repeated { key: spec.name });
        }
        seen.push(spec.name);
        apply(&mut config, spec, value)?;
    }
    config.given = seen;
    Ok(config)
}

fn apply(config: &mut Config, spec: &KeySpec, value: Option<&str>) -> Result<(), CmdlineError> {
    let value = check_value(spec, value)?;
    match spec.name {
        "help" => config.help = true,
        "test" => config.test = Some(parse_test_filter(spec, &value)?),
        "reboot" => config.reboot = value == "1",
        "verbose" => config.verbose = value == "1",
        "expect-cpus" => config.expect.cpus = value.parse().ok(),
        "expect-nodes" => config.expect.nodes = value.parse().ok(),
        "expect-node-mib" => config.expect.node_mib = value.parse().ok(),
        "expect-ptdma" => config.expect.ptdma = value.parse().ok(),
        "dma-force" => config.dma_force = value == "1",
        "dma-marker" => config.dma_marker = value == "1",
        "dma-timeout-ms" => config.dma_timeout_ms = value.parse().unwrap_or(2000),
        "migrate" => config.migrate_job = true,
        "streams" => {
            config.streams = Some(
                crate::streams::parse_streams(&value)
                    .map_err(|e| bad_value(spec, &value, &alloc::format!("{e}")))?,
            )
        }
        "dma-admit" => {
            config.dma_admit = crate::streams::AdmitPolicy::parse(&value)
                .unwrap_or(crate::streams::AdmitPolicy::Wait)
        }
        "dma-wait-us" => config.dma_wait_us = value.parse().unwrap_or(20_000),
        "fg-node" => {
            config.fg_node =
                crate::streams::FgNode::parse(&value).unwrap_or(crate::streams::FgNode::Src)
        }
        "bench" => {
            for b in value.split(',') {
                if !BENCHES.contains(&b) {
                    return Err(bad_value(
                        spec,
                        &value,
                        "a comma list of efficiency,1a,1b,2a,2b,3a,3b,setup,auto,placement,pollution,load,cycles,frontier,streams,appcost,all",
                    ));
                }
            }
            config.bench = Some(value)
        }
        "widths" => {
            config.migrate.widths = parse_list(spec, &value, 1, 256)?
                .into_iter()
                .map(|n| n as u32)
                .collect()
        }
        "counts" => config.migrate.counts = parse_list(spec, &value, 1, 1 << 20)?,
        "engine" => config.migrate.engine = value,
        "mode" => config.migrate.mode = value,
        "size" if value.starts_with("mix:") => {
            config.migrate.mix = Some(
                crate::mix::parse(&value)
                    .map_err(|e| bad_value(spec, &value, &alloc::format!("{e}")))?,
            );
        }
        "size" => {
            config.migrate.sizes = parse_sizes(spec, &value)?;
            config.migrate.size_given = true;
        }
        "total" => {
            config.migrate.total_given = true;
            config.migrate.total = crate::migrate::parse_size(&value)
                .filter(|&t| t >= 4096)
                .ok_or_else(|| bad_value(spec, &value, "a size >= 4k like 64m or 1g"))?
        }
        "batch" => {
            if let Some(us) = value.strip_prefix("auto:unmapped-us=") {
                config.migrate.batch_auto_us =
                    Some(parse_u64(us).filter(|&n| n > 0).ok_or_else(|| {
                        bad_value(spec, &value, "auto:unmapped-us=N with N >= 1")
                    })?);
                return Ok(());
            }
            config.migrate.batch_pages = match value.as_str() {
                "all" => u64::MAX,
                v => parse_u64(v).filter(|&n| n > 0).ok_or_else(|| {
                    bad_value(
                        spec,
                        v,
                        "a page count >= 1, 'all', or auto:unmapped-us=N (bench=frontier)",
                    )
                })?,
            }
        }
        "channels" => {
            config.migrate.channels = match value.as_str() {
                "all" => None,
                v => Some(
                    parse_u64(v)
                        .filter(|&n| (1..=256).contains(&n))
                        .ok_or_else(|| bad_value(spec, v, "1..256 or 'all'"))?
                        as u32,
                ),
            }
        }
        "threads" => config.migrate.threads = value.parse().unwrap_or(1),
        "placement" => {
            crate::placement::Policy::parse(&value).map_err(|e| {
                bad_value(
                    spec,
                    &value,
                    &alloc::format!("spread|fill|src|dst|list:CPUS ({e})"),
                )
            })?;
            config.migrate.placement = value
        }
        "hybrid-cpu" => config.migrate.hybrid_cpu_percent = value.parse().unwrap_or(50),
        "from" => config.migrate.from = value.parse().unwrap_or(0),
        "to" => config.migrate.to = value.parse().unwrap_or(1),
        "reps" => config.migrate.reps = value.parse().unwrap_or(5),
        "copy" => config.copy = value,
        "dma-profile" => config.dma_profile = value,
        "dma-split" => config.dma_split = value,
        "dma-chunk" => {
            config.dma_chunk = crate::split::parse_bounds(&value)
                .map_err(|e| bad_value(spec, &value, &alloc::format!("{e}")))?
        }
        "dma-min-batch" => {
            config.dma_min_batch = match value.as_str() {
                "auto" => MinBatch::Auto,
                v => match crate::migrate::parse_size(v) {
                    Some(0) => MinBatch::Off,
                    Some(n) => MinBatch::Bytes(n),
                    None => return Err(bad_value(spec, v, "0, a size like 32k, or auto")),
                },
            }
        }
        "soak" => config.soak_s = value.parse().ok(),
        "expect-topo" => {
            let shape =
                crate::topology::parse_shape(&value).map_err(|e| CmdlineError::BadValue {
                    key: spec.name,
                    given: value.clone(),
                    accepted: e.to_string(),
                })?;
            config.expect_topo = Some(shape);
        }
        "watchdog-s" => config.watchdog_s = value.parse().unwrap_or(120),
        "console" => {
            config.console =
                Some(
                    crate::serialspec::parse(&value).ok_or_else(|| CmdlineError::BadValue {
                        key: spec.name,
                        given: value.clone(),
                        accepted: crate::serialspec::ACCEPTED.to_string(),
                    })?,
                )
        }
        "debug-exit" => config.debug_exit = value == "1",
        "ap-start" => config.ap_start_serial = value == "serial",
        "host-binding" => {
            config.host_binding = crate::hostbind::parse(&value)
                .map_err(|e| bad_value(spec, &value, &e.to_string()))?
        }
        "pcid" => config.features.pcid = crate::features::Force::parse(&value),
        "invpcid" => config.features.invpcid = crate::features::Force::parse(&value),
        "avx512" => config.features.avx512 = crate::features::Force::parse(&value),
        // KEYS and this match are kept in step by the `every_key_is_applied` test.
        _ => unreachable!("key {} declared but not applied", spec.name),
    }
    Ok(())
}

fn bad_value(spec: &KeySpec, given: &str, accepted: &str) -> CmdlineError {
    CmdlineError::BadValue {
        key: spec.name,
        given: given.to_string(),
        accepted: accepted.to_string(),
    }
}

fn parse_list(spec: &KeySpec, value: &str, min: u64, max: u64) -> Result<Vec<u64>, CmdlineError> {
    value
        .split(',')
        .map(|s| {
            parse_u64(s)
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    bad_value(
                        spec,
                        value,
                        &alloc::format!("a comma list of integers {min}..{max}"),
                    )
                })
        })
        .collect()
}

fn parse_sizes(spec: &KeySpec, value: &str) -> Result<Vec<u8>, CmdlineError> {
    value
        .split(',')
        .map(|s| {
            crate::migrate::parse_size(s)
                .and_then(crate::migrate::order_of)
                .ok_or_else(|| {
                    bad_value(
                        spec,
                        value,
                        "mTHP sizes 4k,16k,32k,64k,128k,256k,512k,1m,2m",
                    )
                })
        })
        .collect()
}

/// Checks a value against its key's kind and returns it normalized
/// (booleans become `0`/`1`, integers decimal).
fn check_value(spec: &KeySpec, value: Option<&str>) -> Result<String, CmdlineError> {
    let bad = |given: &str, accepted: &str| CmdlineError::BadValue {
        key: spec.name,
        given: given.to_string(),
        accepted: accepted.to_string(),
    };
    match (spec.kind, value) {
        (ValueKind::Flag, None) => Ok(String::new()),
        (ValueKind::Flag, Some(v)) => Err(bad(v, "no value (a bare word)")),
        (_, None) => Err(bad("", "key=value")),
        (ValueKind::Bool, Some(v)) => match v {
            "1" | "yes" | "on" | "true" => Ok("1".to_string()),
            "0" | "no" | "off" | "false" => Ok("0".to_string()),
            _ => Err(bad(v, "0|1|yes|no|on|off|true|false")),
        },
        (ValueKind::Choice(words), Some(v)) => {
            if words.contains(&v) {
                Ok(v.to_string())
            } else {
                Err(bad(v, &words.join("|")))
            }
        }
        (ValueKind::Word, Some("")) => Err(bad("", "a non-empty word")),
        (ValueKind::Word, Some(v)) => Ok(v.to_string()),
        (ValueKind::Int { min, max }, Some(v)) => {
            let range = alloc::format!("an integer from {min} to {max}");
            let n = parse_u64(v).ok_or_else(|| bad(v, &range))?;
            if n < min || n > max {
                return Err(bad(v, &range));
            }
            Ok(n.to_string())
        }
    }
}

fn parse_test_filter(spec: &KeySpec, value: &str) -> Result<TestFilter, CmdlineError> {
    if value == "all" {
        return Ok(TestFilter::All);
    }
    let names: Vec<String> = value.split(',').map(|s| s.to_string()).collect();
    if names.iter().any(|n| n.is_empty() || n == "*") {
        return Err(CmdlineError::BadValue {
            key: spec.name,
            given: value.to_string(),
            accepted: "'all' or a comma list of non-empty test names".to_string(),
        });
    }
    Ok(TestFilter::Names(names))
}

/// Parses a decimal or `0x`-prefixed hexadecimal integer; `_` separators allowed.
pub fn parse_u64(s: &str) -> Option<u64> {
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (s, 10),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for c in digits.chars().filter(|&c| c != '_') {
        let d = c.to_digit(radix)? as u64;
        n = n.checked_mul(radix as u64)?.checked_add(d)?;
    }
    Some(n)
}

/// The known key with the smallest edit distance to `key`, if it is close (≤ 2 edits).
fn closest_key(key: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|s| (edit_distance(key, s.name), s.name))
        .filter(|&(d, _)| d <= 2)
        .min_by_key(|&(d, _)| d)
        .map(|(_, name)| name)
}

pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
