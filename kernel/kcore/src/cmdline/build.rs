//! Building the [`Config`] from the checked tokens of one command line: every field
//! once, from the value given or else its key's default in [`KEYS`].

use super::parse::{bad_value, check_value, parse_list, parse_sizes, parse_test_filter, parse_u64};
use super::*;
use crate::bench::Selection;
use crate::placement::Policy;
use crate::words::UnknownWord;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::str::FromStr;

/// The checked values of one command line, and the key table for the rest.
pub(super) struct Values {
    pub(super) given: Vec<(&'static KeySpec, String)>,
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

    pub(super) fn config(self) -> Result<Config, CmdlineError> {
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
            dma_kind: self.opt("dma-kind", |spec, v| {
                v.parse()
                    .map_err(|e: UnknownWord| bad_value(spec, v, &e.accepted_list()))
            })?,
            dma_marker: self.boolean("dma-marker")?,
            dma_timeout_ms: self.int("dma-timeout-ms")?,
            streams: self.opt("streams", |spec, v| {
                crate::streams::parse_streams(v)
                    .map_err(|e| bad_value(spec, v, &alloc::format!("{e}")))
            })?,
            dma_admit: self.req("dma-admit", |spec, v| {
                crate::streams::AdmitPolicy::parse(v)
                    .ok_or_else(|| bad_value(spec, v, "wait|cpu|mixed"))
            })?,
            dma_wait_us: self.int("dma-wait-us")?,
            fg_node: self.req("fg-node", |spec, v| {
                crate::streams::FgNode::parse(v).ok_or_else(|| bad_value(spec, v, "src|dst|both"))
            })?,
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
