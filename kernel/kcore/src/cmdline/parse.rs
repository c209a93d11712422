//! Parsing: tokens to a [`Config`], each value checked against its key's kind, with the
//! closest known key suggested for a typo.

use super::*;
use crate::bench::Selection;
use crate::placement::Policy;
use crate::words::UnknownWord;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

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
    Values { given }.config()
}

/// The checked values of one command line, and the key table for the rest.
struct Values {
    given: Vec<(&'static KeySpec, String)>,
}

impl Values {
    fn spec(key: &'static str) -> Result<&'static KeySpec, CmdlineError> {
        KEYS.iter()
            .find(|s| s.name == key)
            .ok_or(CmdlineError::UnknownKey {
                key: key.to_string(),
                suggestion: None,
            })
    }

    fn is_given(&self, key: &str) -> bool {
        self.given.iter().any(|(s, _)| s.name == key)
    }

    /// The key's default from the key table, checked like a given value (`None` for `-`).
    fn default_of(key: &'static str) -> Result<Option<(&'static KeySpec, String)>, CmdlineError> {
        let spec = Self::spec(key)?;
        if spec.default == "-" {
            return Ok(None);
        }
        Ok(Some((spec, check_value(spec, Some(spec.default))?)))
    }

    /// The key's value as given, else its default (`None` when it has none).
    fn value(&self, key: &'static str) -> Result<Option<(&'static KeySpec, String)>, CmdlineError> {
        match self.given.iter().find(|(s, _)| s.name == key) {
            Some((s, v)) => Ok(Some((s, v.clone()))),
            None => Self::default_of(key),
        }
    }

    /// The key's value turned into `T` by `f`, if it has one.
    fn opt<T>(
        &self,
        key: &'static str,
        f: impl FnOnce(&'static KeySpec, &str) -> Result<T, CmdlineError>,
    ) -> Result<Option<T>, CmdlineError> {
        self.value(key)?.map(|(spec, v)| f(spec, &v)).transpose()
    }

    /// The value of a key that has a default, turned into `T` by `f`.
    fn req<T>(
        &self,
        key: &'static str,
        f: impl FnOnce(&'static KeySpec, &str) -> Result<T, CmdlineError>,
    ) -> Result<T, CmdlineError> {
        let (spec, v) = self.value(key)?.ok_or(CmdlineError::BadValue {
            key,
            given: String::new(),
            accepted: "key=value (the key has no default)".to_string(),
        })?;
        f(spec, &v)
    }

    fn flag(&self, key: &'static str) -> bool {
        self.is_given(key)
    }

    fn boolean(&self, key: &'static str) -> Result<bool, CmdlineError> {
        self.req(key, |_, v| Ok(v == "1"))
    }

    /// An `Int` key (checked against its bounds, normalized to decimal).
    fn int<T: TryFrom<u64>>(&self, key: &'static str) -> Result<T, CmdlineError> {
        self.req(key, int_value)
    }

    fn opt_int<T: TryFrom<u64>>(&self, key: &'static str) -> Result<Option<T>, CmdlineError> {
        self.opt(key, int_value)
    }

    /// A key whose value is a closed set of words.
    fn word<T: FromStr<Err = UnknownWord>>(&self, key: &'static str) -> Result<T, CmdlineError> {
        self.req(key, |spec, v| {
            v.parse()
                .map_err(|e: UnknownWord| bad_value(spec, v, &e.accepted_list()))
        })
    }

    fn config(self) -> Result<Config, CmdlineError> {
        let size = self.req("size", parse_size_key)?;
        let batch = self.req("batch", parse_batch)?;
        let default_batch = Self::default_of("batch")?
            .map(|(spec, v)| parse_batch(spec, &v))
            .transpose()?;
        let (sizes, mix) = match size {
            SizeValue::Sizes(sizes) => (sizes, None),
            SizeValue::Mix(mix) => {
                let sizes = match Self::default_of("size")? {
                    Some((spec, v)) => parse_sizes(spec, &v)?,
                    None => Vec::new(),
                };
                (sizes, Some(mix))
            }
        };
        let (batch_pages, batch_auto_us) = match (batch, default_batch) {
            (Batch::Pages(n), _) => (n, None),
            (Batch::AutoUnmappedUs(us), Some(Batch::Pages(n))) => (n, Some(us)),
            (Batch::AutoUnmappedUs(us), _) => (u64::MAX, Some(us)),
        };
        let migrate = MigrateArgs {
            engine: self.word("engine")?,
            mode: self.word("mode")?,
            size_given: self.is_given("size") && mix.is_none(),
            sizes,
            mix,
            total_given: self.is_given("total"),
            widths: self.req("widths", |spec, v| {
                Ok(parse_list(spec, v, 1, 256)?
                    .into_iter()
                    .map(|n| n as u32)
                    .collect())
            })?,
            counts: self.req("counts", |spec, v| parse_list(spec, v, 1, 1 << 20))?,
            total: self.req("total", |spec, v| {
                crate::migrate::parse_size(v)
                    .filter(|&t| t >= 4096)
                    .ok_or_else(|| bad_value(spec, v, "a size >= 4k like 64m or 1g"))
            })?,
            batch_pages,
            batch_auto_us,
            channels: self.req("channels", |spec, v| match v {
                "all" => Ok(None),
                v => parse_u64(v)
                    .filter(|&n| (1..=256).contains(&n))
                    .map(|n| Some(n as u32))
                    .ok_or_else(|| bad_value(spec, v, "1..256 or 'all'")),
            })?,
            threads: self.int("threads")?,
            placement: self.req("placement", |spec, v| {
                Policy::parse(v).map_err(|e| {
                    bad_value(
                        spec,
                        v,
                        &alloc::format!("spread|fill|src|dst|list:CPUS ({e})"),
                    )
                })
            })?,
            hybrid_cpu_percent: self.int("hybrid-cpu")?,
            from: self.int("from")?,
            to: self.int("to")?,
            reps: self.int("reps")?,
        };
        Ok(Config {
            help: self.flag("help"),
            test: self.opt("test", parse_test_filter)?,
            reboot: self.boolean("reboot")?,
            verbose: self.boolean("verbose")?,
            expect: Expectations {
                cpus: self.opt_int("expect-cpus")?,
                nodes: self.opt_int("expect-nodes")?,
                node_mib: self.opt_int("expect-node-mib")?,
                ptdma: self.opt_int("expect-ptdma")?,
            },
            dma_force: self.boolean("dma-force")?,
            dma_marker: self.boolean("dma-marker")?,
            dma_timeout_ms: self.int("dma-timeout-ms")?,
            migrate_job: self.flag("migrate"),
            bench: self.opt("bench", |spec, v| {
                Selection::parse(v).map_err(|e| {
                    bad_value(
                        spec,
                        v,
                        &alloc::format!(
                            "a comma list of {},{}",
                            e.0.accepted.join(","),
                            crate::bench::ALL_WORD
                        ),
                    )
                })
            })?,
            migrate,
            copy: self.word("copy")?,
            dma_profile: self.req("dma-profile", |_, v| Ok(v.to_string()))?,
            dma_split: self.word("dma-split")?,
            dma_chunk: self.req("dma-chunk", |spec, v| {
                crate::split::parse_bounds(v)
                    .map_err(|e| bad_value(spec, v, &alloc::format!("{e}")))
            })?,
            dma_min_batch: self.req("dma-min-batch", |spec, v| match v {
                "auto" => Ok(MinBatch::Auto),
                v => match crate::migrate::parse_size(v) {
                    Some(0) => Ok(MinBatch::Off),
                    Some(n) => Ok(MinBatch::Bytes(n)),
                    None => Err(bad_value(spec, v, "0, a size like 32k, or auto")),
                },
            })?,
            soak_s: self.opt_int("soak")?,
            expect_topo: self.opt("expect-topo", |spec, v| {
                crate::topology::parse_shape(v).map_err(|e| bad_value(spec, v, &e.to_string()))
            })?,
            watchdog_s: self.int("watchdog-s")?,
            console: self.opt("console", |spec, v| {
                crate::serialspec::parse(v)
                    .ok_or_else(|| bad_value(spec, v, crate::serialspec::ACCEPTED))
            })?,
            debug_exit: self.boolean("debug-exit")?,
            features: crate::features::Forced {
                pcid: self.word("pcid")?,
                invpcid: self.word("invpcid")?,
                avx512: self.word("avx512")?,
            },
            ap_start: self.word("ap-start")?,
            host_binding: self.req("host-binding", |spec, v| {
                crate::hostbind::parse(v).map_err(|e| bad_value(spec, v, &e.to_string()))
            })?,
            given: self.given.iter().map(|(s, _)| s.name).collect(),
        })
    }
}

/// `size=`: a list of mTHP sizes, or `mix:…`.
enum SizeValue {
    Sizes(Vec<u8>),
    Mix(crate::mix::Mix),
}

fn parse_size_key(spec: &KeySpec, value: &str) -> Result<SizeValue, CmdlineError> {
    if value.starts_with("mix:") {
        return crate::mix::parse(value)
            .map(SizeValue::Mix)
            .map_err(|e| bad_value(spec, value, &alloc::format!("{e}")));
    }
    parse_sizes(spec, value).map(SizeValue::Sizes)
}

/// `batch=`: a page count (`all` = the whole workload) or `auto:unmapped-us=N`.
enum Batch {
    Pages(u64),
    AutoUnmappedUs(u64),
}

fn parse_batch(spec: &KeySpec, value: &str) -> Result<Batch, CmdlineError> {
    if let Some(us) = value.strip_prefix("auto:unmapped-us=") {
        return parse_u64(us)
            .filter(|&n| n > 0)
            .map(Batch::AutoUnmappedUs)
            .ok_or_else(|| bad_value(spec, value, "auto:unmapped-us=N with N >= 1"));
    }
    match value {
        "all" => Ok(Batch::Pages(u64::MAX)),
        v => parse_u64(v)
            .filter(|&n| n > 0)
            .map(Batch::Pages)
            .ok_or_else(|| {
                bad_value(
                    spec,
                    v,
                    "a page count >= 1, 'all', or auto:unmapped-us=N (bench=frontier)",
                )
            }),
    }
}

/// An `Int` key's checked, decimal value as `T`.
fn int_value<T: TryFrom<u64>>(spec: &KeySpec, value: &str) -> Result<T, CmdlineError> {
    value
        .parse::<u64>()
        .ok()
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| bad_value(spec, value, "an integer that fits the field"))
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
