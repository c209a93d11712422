//! The kernel command line (`-append` in QEMU, the GRUB `multiboot2` line on hardware),
//! parsed into a typed [`Config`].
//!
//! Grammar: tokens separated by spaces; each is `key=value` or a bare flag (`help`).
//! Every key is declared once in [`KEYS`] with its default and what it accepts, so
//! `help` can list them all and a mistake is answered with the key, what was given and
//! what is accepted. Nothing is silently ignored: an unknown key, a bad value or a key
//! given twice is a [`CmdlineError`], which the kernel reports before exiting with the
//! "bad input" code.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// What kind of value a key takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A bare word with no value (`help`).
    Flag,
    /// `0|1|yes|no|on|off|true|false`.
    Bool,
    /// A free-form word (checked later by whoever uses it).
    Word,
    /// A non-negative integer within bounds (decimal or `0x` hex).
    Int {
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
}

/// One key the kernel understands.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    /// The key as typed on the command line.
    pub name: &'static str,
    /// The value kind.
    pub kind: ValueKind,
    /// The default, as it would be typed (`-` for none).
    pub default: &'static str,
    /// One line saying what the key does and what it accepts.
    pub help: &'static str,
}

/// Every key of the kernel command line. Add new keys here and in [`Config`].
pub const KEYS: &[KeySpec] = &[
    KeySpec {
        name: "help",
        kind: ValueKind::Flag,
        default: "-",
        help: "print every key with its default and exit",
    },
    KeySpec {
        name: "test",
        kind: ValueKind::Word,
        default: "-",
        help: "run in-kernel self-tests: 'all', or a comma list of names (a trailing * matches a prefix)",
    },
    KeySpec {
        name: "reboot",
        kind: ValueKind::Bool,
        default: "0",
        help: "on bare metal, reboot instead of halting when the run ends (0|1)",
    },
    KeySpec {
        name: "console",
        kind: ValueKind::Word,
        default: "-",
        help: "serial console: ttyS0..ttyS3, an I/O port (0x2f8) or none, optionally ,BAUD; default: the ACPI SPCR port, else ttyS0",
    },
    KeySpec {
        name: "debug-exit",
        kind: ValueKind::Bool,
        default: "1",
        help: "report the exit code through QEMU's isa-debug-exit (only under TCG/KVM; 0 = halt as on bare metal)",
    },
    KeySpec {
        name: "expect-cpus",
        kind: ValueKind::Int { min: 1, max: 4096 },
        default: "-",
        help: "self-test: the number of CPUs the runner gave the machine",
    },
    KeySpec {
        name: "expect-nodes",
        kind: ValueKind::Int { min: 1, max: 64 },
        default: "-",
        help: "self-test: the number of NUMA nodes the runner gave the machine",
    },
    KeySpec {
        name: "expect-node-mib",
        kind: ValueKind::Int { min: 1, max: 1 << 24 },
        default: "-",
        help: "self-test: MiB of RAM per NUMA node the runner gave the machine",
    },
    KeySpec {
        name: "expect-ptdma",
        kind: ValueKind::Int { min: 0, max: 256 },
        default: "-",
        help: "self-test: the number of PTDMA engines the runner attached",
    },
    KeySpec {
        name: "dma-force",
        kind: ValueKind::Bool,
        default: "0",
        help: "take DMA engines whose queue is already running (owned by firmware/another OS)",
    },
    KeySpec {
        name: "dma-marker",
        kind: ValueKind::Bool,
        default: "1",
        help: "end each DMA batch with a memory completion marker (poll RAM, not MMIO)",
    },
    KeySpec {
        name: "dma-timeout-ms",
        kind: ValueKind::Int { min: 1, max: 600_000 },
        default: "2000",
        help: "how long a DMA batch may take before its queue is reset and the CPU copies the rest",
    },
    KeySpec {
        name: "verbose",
        kind: ValueKind::Bool,
        default: "0",
        help: "print more detail while booting (0|1)",
    },
];

/// The typed configuration of one boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `help` was given.
    pub help: bool,
    /// Self-test selection, if the boot should run self-tests instead of the main job.
    pub test: Option<TestFilter>,
    /// Reboot instead of halting at the end (bare metal only).
    pub reboot: bool,
    /// Extra boot detail.
    pub verbose: bool,
    /// What the runner built, for the platform self-test.
    pub expect: Expectations,
    /// Take DMA engines that are already running.
    pub dma_force: bool,
    /// End DMA batches with a memory completion marker.
    pub dma_marker: bool,
    /// DMA batch timeout in milliseconds.
    pub dma_timeout_ms: u64,
    /// `console=`: the serial console asked for (absent: SPCR, else COM1).
    pub console: Option<crate::serialspec::SerialSpec>,
    /// Report the exit code through QEMU's debug-exit port (under a QEMU hypervisor).
    pub debug_exit: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            help: false,
            test: None,
            reboot: false,
            verbose: false,
            expect: Expectations::default(),
            dma_force: false,
            dma_marker: true,
            dma_timeout_ms: 2000,
            console: None,
            debug_exit: true,
        }
    }
}

/// The machine shape the runner asked QEMU for (all optional).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expectations {
    /// CPUs.
    pub cpus: Option<u32>,
    /// NUMA nodes.
    pub nodes: Option<u32>,
    /// MiB of RAM per node.
    pub node_mib: Option<u64>,
    /// PTDMA engines attached.
    pub ptdma: Option<u32>,
}

/// Which self-tests to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestFilter {
    /// Every test that is part of the default suite.
    All,
    /// Tests named explicitly (exact names, or prefixes ending in `*`).
    Names(Vec<String>),
}

impl TestFilter {
    /// Whether the test `name` is selected. `in_default_suite` is false for fixtures
    /// (tests that must fail or crash on purpose), which only run when named.
    pub fn selects(&self, name: &str, in_default_suite: bool) -> bool {
        match self {
            TestFilter::All => in_default_suite,
            TestFilter::Names(names) => names.iter().any(|pat| match pat.strip_suffix('*') {
                Some(prefix) => {
                    name.starts_with(prefix) && (in_default_suite || !prefix.is_empty())
                }
                None => pat == name,
            }),
        }
    }
}

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
        // KEYS and this match are kept in step by the `every_key_is_applied` test.
        _ => unreachable!("key {} declared but not applied", spec.name),
    }
    Ok(())
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

fn edit_distance(a: &str, b: &str) -> usize {
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

/// Writes the `help` text: one line per key with its default and what it accepts.
pub fn write_help(out: &mut impl fmt::Write) -> fmt::Result {
    writeln!(
        out,
        "foliomove kernel command line: key=value tokens separated by spaces"
    )?;
    for k in KEYS {
        writeln!(out, "  {:<10} default {:<4} {}", k.name, k.default, k.help)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_line_gives_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
        assert_eq!(parse("   ").unwrap(), Config::default());
    }

    #[test]
    fn every_key_is_applied() {
        // Catches a key added to KEYS but not to `apply` (which would hit unreachable!).
        for k in KEYS {
            let token = match k.kind {
                ValueKind::Flag => k.name.to_string(),
                ValueKind::Bool => alloc::format!("{}=1", k.name),
                ValueKind::Word if k.name == "console" => "console=ttyS1".to_string(),
                ValueKind::Word => alloc::format!("{}=all", k.name),
                ValueKind::Int { min, .. } => alloc::format!("{}={min}", k.name),
            };
            parse(&token).unwrap_or_else(|e| panic!("{token}: {e}"));
        }
    }

    #[test]
    fn unknown_key_is_named_with_a_suggestion() {
        let err = parse("bogus=1").unwrap_err();
        assert_eq!(
            err,
            CmdlineError::UnknownKey {
                key: "bogus".into(),
                suggestion: None
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("'bogus'") && msg.contains("test"), "{msg}");
        match parse("tset=all").unwrap_err() {
            CmdlineError::UnknownKey { suggestion, .. } => assert_eq!(suggestion, Some("test")),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn bad_values_say_what_is_accepted() {
        let err = parse("reboot=maybe").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("reboot") && msg.contains("maybe") && msg.contains("0|1"),
            "{msg}"
        );
        assert!(matches!(
            parse("help=1"),
            Err(CmdlineError::BadValue { key: "help", .. })
        ));
        assert!(matches!(
            parse("test"),
            Err(CmdlineError::BadValue { key: "test", .. })
        ));
        assert!(matches!(
            parse("test="),
            Err(CmdlineError::BadValue { key: "test", .. })
        ));
        assert!(matches!(
            parse("test=a,,b"),
            Err(CmdlineError::BadValue { .. })
        ));
    }

    #[test]
    fn expectations_are_bounded_integers() {
        let c = parse("expect-cpus=4 expect-nodes=2 expect-node-mib=0x200").unwrap();
        assert_eq!(
            c.expect,
            Expectations {
                cpus: Some(4),
                nodes: Some(2),
                node_mib: Some(512),
                ptdma: None
            }
        );
        assert!(matches!(
            parse("expect-cpus=0"),
            Err(CmdlineError::BadValue {
                key: "expect-cpus",
                ..
            })
        ));
        assert!(matches!(
            parse("expect-nodes=two"),
            Err(CmdlineError::BadValue { .. })
        ));
    }

    #[test]
    fn repeated_key_is_refused() {
        assert_eq!(
            parse("test=all test=x").unwrap_err(),
            CmdlineError::Repeated { key: "test" }
        );
    }

    #[test]
    fn values_are_typed() {
        let c = parse("help reboot=yes verbose=off test=cmdline_parse,console*").unwrap();
        assert!(c.help && c.reboot && !c.verbose);
        let f = c.test.unwrap();
        assert!(f.selects("cmdline_parse", true));
        assert!(f.selects("console_loopback", true));
        assert!(!f.selects("cmdline", true));
        assert_eq!(parse("test=all").unwrap().test, Some(TestFilter::All));
    }

    #[test]
    fn fixtures_run_only_when_named() {
        assert!(!TestFilter::All.selects("selftest_must_fail", false));
        let named = TestFilter::Names(alloc::vec!["selftest_must_fail".into()]);
        assert!(named.selects("selftest_must_fail", false));
        let prefix = TestFilter::Names(alloc::vec!["selftest_*".into()]);
        assert!(prefix.selects("selftest_must_fail", false));
    }

    #[test]
    fn integers_parse_in_decimal_and_hex() {
        assert_eq!(parse_u64("0"), Some(0));
        assert_eq!(parse_u64("1_000"), Some(1000));
        assert_eq!(parse_u64("0x3f8"), Some(0x3f8));
        assert_eq!(parse_u64("0x"), None);
        assert_eq!(parse_u64("12a"), None);
        assert_eq!(parse_u64("18446744073709551616"), None);
    }

    #[test]
    fn help_lists_every_key() {
        let mut s = String::new();
        write_help(&mut s).unwrap();
        for k in KEYS {
            assert!(s.contains(k.name), "{}", k.name);
        }
    }

    #[test]
    fn edit_distance_is_levenshtein() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("test", "test"), 0);
    }
}
