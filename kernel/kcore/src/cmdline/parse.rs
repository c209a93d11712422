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

/// Parses a whole command line. Each token is checked against its key's kind in the
/// order given; then every field of the [`Config`] is built once, from the value given
/// or else the key's default in [`KEYS`] (the only place a default is written).
///
/// # Errors
/// The first unknown key, repeated key or bad value, as a [`CmdlineError`].
pub fn parse(line: &str) -> Result<Config, CmdlineError> {
    let mut given: Vec<(&'static KeySpec, String)> = Vec::new();
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
        if given.iter().any(|(s, _)| s.name == spec.name) {
            return Err(CmdlineError::Repeated { key: spec.name });
        }
        given.push((spec, check_value(spec, value)?));
    }
    super::build::Values { given }.config()
}

pub(super) fn bad_value(spec: &KeySpec, given: &str, accepted: &str) -> CmdlineError {
    CmdlineError::BadValue {
        key: spec.name,
        given: given.to_string(),
        accepted: accepted.to_string(),
    }
}

pub(super) fn parse_list(
    spec: &KeySpec,
    value: &str,
    min: u64,
    max: u64,
) -> Result<Vec<u64>, CmdlineError> {
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

pub(super) fn parse_sizes(spec: &KeySpec, value: &str) -> Result<Vec<u8>, CmdlineError> {
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
pub(super) fn check_value(spec: &KeySpec, value: Option<&str>) -> Result<String, CmdlineError> {
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

pub(super) fn parse_test_filter(spec: &KeySpec, value: &str) -> Result<TestFilter, CmdlineError> {
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
