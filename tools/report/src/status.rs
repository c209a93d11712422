//! What a cell's figure is worth: its [`Status`] and who really copied its bytes ([`Copied`]).
//!
//! A `RESULT` line names an engine (`dma`, `cpu-mt`, `hybrid`, ...). Since the engine byte
//! accounting (issue 15) it also says how many bytes the DMA engines copied (`bytes_dma`), how
//! many the CPU copied by design (`bytes_cpu`: CPU engines, hybrid's CPU share, auto's CPU
//! choices, batches DMA declined) and how many the CPU copied because DMA failed
//! (`bytes_fallback`), summed over the warm-up and the measured repetitions, plus
//! `fallback_share` = fallback / (dma + fallback) and `fallback_bytes_per_rep` (warm-up first).
//! A cell with `0 < share <= 1 %` is `degraded` (still a figure of its engine, marked); above
//! 1 % it is `invalid`: not a figure of that engine. Logs from before the accounting carry no
//! `status`; theirs is derived from `verified`.

use kcore::record::result as k;
use serde_json::Value;

/// The statuses and the 1 % rule are the kernel's own (`kcore::honesty`), so the report
/// and the kernel can never disagree on what a cell is worth.
pub use kcore::honesty::{Status, DEGRADED_MAX_SHARE as INVALID_SHARE};

/// Who copied a cell's bytes, summed over the warm-up and the measured repetitions.
#[derive(Debug, Clone, PartialEq)]
pub struct Copied {
    /// Bytes the DMA engines copied.
    pub dma: u64,
    /// Bytes the CPU copied by design.
    pub cpu: u64,
    /// Bytes the CPU copied because DMA failed.
    pub fallback: u64,
    /// `fallback / (dma + fallback)`, 0 when no DMA was involved (the logged value when
    /// present, else computed from the bytes).
    pub share: f64,
    /// Fallback bytes of the warm-up, then of each measured repetition, when logged.
    pub fallback_per_rep: Option<Vec<u64>>,
}

impl Copied {
    /// `fallback / (dma + fallback)`, 0 when both are 0.
    pub fn share_of(dma: u64, fallback: u64) -> f64 {
        let meant = dma as f64 + fallback as f64;
        if meant > 0.0 {
            fallback as f64 / meant
        } else {
            0.0
        }
    }
}

/// A share as a percentage with enough digits to tell 0.4 % from 1 %.
pub fn percent(share: f64) -> String {
    let p = 100.0 * share;
    if p > 0.0 && p < 0.1 {
        format!("{p:.3} %")
    } else {
        format!("{p:.1} %")
    }
}

/// A problem with one key, for the parser's error list.
pub type KeyError = String;

fn uint(
    obj: &serde_json::Map<String, Value>,
    key: &str,
    errors: &mut Vec<KeyError>,
) -> Option<u64> {
    match obj.get(key)? {
        Value::Null => None,
        v => match v.as_u64() {
            Some(n) => Some(n),
            None => {
                errors.push(format!("`{key}` must be a non-negative integer"));
                None
            }
        },
    }
}

/// Reads `status` and the byte-accounting keys of a `RESULT` object. Each key is optional
/// (old logs have none), but present keys are type-checked, and the three byte counts come
/// together. Problems are appended to `errors`.
pub fn read(
    obj: &serde_json::Map<String, Value>,
    errors: &mut Vec<KeyError>,
) -> (Option<Status>, Option<Copied>) {
    let status = match obj.get(k::STATUS.name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Status::parse(s).or_else(|| {
            let known: Vec<&str> = Status::ALL.iter().map(|s| s.name()).collect();
            errors.push(format!(
                "`status` must be one of {}, got \"{s}\"",
                known.join(", ")
            ));
            None
        }),
        Some(_) => {
            errors.push("`status` must be a string".to_string());
            None
        }
    };
    let keys = [k::BYTES_DMA.name, k::BYTES_CPU.name, k::BYTES_FALLBACK.name];
    let present = keys
        .iter()
        .filter(|k| obj.get(**k).is_some_and(|v| !v.is_null()))
        .count();
    let share = match obj.get(k::FALLBACK_SHARE.name) {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_f64() {
            Some(x) if (0.0..=1.0).contains(&x) => Some(x),
            _ => {
                errors.push("`fallback_share` must be a number from 0 to 1".to_string());
                None
            }
        },
    };
    let per_rep = match obj.get(k::FALLBACK_BYTES_PER_REP.name) {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let v: Option<Vec<u64>> = items.iter().map(Value::as_u64).collect();
            if v.is_none() {
                errors.push(
                    "`fallback_bytes_per_rep` must be an array of non-negative integers"
                        .to_string(),
                );
            }
            v
        }
        Some(_) => {
            errors.push("`fallback_bytes_per_rep` must be an array".to_string());
            None
        }
    };
    if present == 0 {
        if share.is_some() || per_rep.is_some() {
            errors.push("`fallback_share`/`fallback_bytes_per_rep` without the byte counts `bytes_dma`, `bytes_cpu`, `bytes_fallback`".to_string());
        }
        return (status, None);
    }
    if present < keys.len() {
        for k in keys
            .iter()
            .filter(|k| obj.get(**k).is_none_or(Value::is_null))
        {
            errors.push(format!("missing key `{k}` (the byte counts come together)"));
        }
        return (status, None);
    }
    let (Some(dma), Some(cpu), Some(fallback)) = (
        uint(obj, k::BYTES_DMA.name, errors),
        uint(obj, k::BYTES_CPU.name, errors),
        uint(obj, k::BYTES_FALLBACK.name, errors),
    ) else {
        return (status, None);
    };
    let copied = Copied {
        dma,
        cpu,
        fallback,
        share: share.unwrap_or_else(|| Copied::share_of(dma, fallback)),
        fallback_per_rep: per_rep,
    };
    (status, Some(copied))
}

/// The status a cell is treated with: the worst of what it logged (or, in old logs, what
/// `verified` implies), what its fallback share implies, and `verified: false`.
pub fn effective(logged: Option<Status>, verified: bool, copied: Option<&Copied>) -> Status {
    let from_verified = if verified {
        Status::Ok
    } else {
        Status::VerificationFailed
    };
    let from_share = copied.map_or(Status::Ok, |c| Status::from_share(c.share));
    logged
        .unwrap_or(from_verified)
        .max(from_verified)
        .max(from_share)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn share_thresholds() {
        assert_eq!(Status::from_share(0.0), Status::Ok);
        assert_eq!(Status::from_share(0.004), Status::Degraded);
        assert_eq!(Status::from_share(0.01), Status::Degraded);
        assert_eq!(Status::from_share(0.0101), Status::Invalid);
        assert_eq!(Copied::share_of(0, 0), 0.0);
        assert_eq!(Copied::share_of(99, 1), 0.01);
    }

    #[test]
    fn reads_the_accounting_and_computes_a_missing_share() {
        let mut errors = Vec::new();
        let (s, c) = read(
            &obj(
                json!({"status":"degraded","bytes_dma":995,"bytes_cpu":7,"bytes_fallback":5,
                        "fallback_bytes_per_rep":[5,0,0]}),
            ),
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(s, Some(Status::Degraded));
        let c = c.unwrap();
        assert_eq!((c.dma, c.cpu, c.fallback), (995, 7, 5));
        assert_eq!(c.share, 0.005);
        assert_eq!(c.fallback_per_rep, Some(vec![5, 0, 0]));
    }

    #[test]
    fn old_logs_have_no_accounting_and_bad_keys_are_named() {
        let mut errors = Vec::new();
        assert_eq!(
            read(&obj(json!({"verified":true})), &mut errors),
            (None, None)
        );
        assert!(errors.is_empty());
        let (s, c) = read(
            &obj(json!({"status":"fine","bytes_dma":1,"fallback_share":2.0})),
            &mut errors,
        );
        assert_eq!((s, c), (None, None));
        let all = errors.join("; ");
        assert!(
            all.contains("`status` must be one of ok, degraded"),
            "{all}"
        );
        assert!(all.contains("missing key `bytes_cpu`"), "{all}");
        assert!(all.contains("missing key `bytes_fallback`"), "{all}");
        assert!(
            all.contains("`fallback_share` must be a number from 0 to 1"),
            "{all}"
        );
    }

    #[test]
    fn effective_status_is_the_worst_claim() {
        let c = |share| Copied {
            dma: 0,
            cpu: 0,
            fallback: 0,
            share,
            fallback_per_rep: None,
        };
        assert_eq!(effective(None, true, None), Status::Ok);
        assert_eq!(effective(None, false, None), Status::VerificationFailed);
        assert_eq!(
            effective(Some(Status::Ok), true, Some(&c(0.5))),
            Status::Invalid,
            "a share above 1 % is invalid whatever the line says"
        );
        assert_eq!(
            effective(Some(Status::OutOfMemory), true, Some(&c(0.0))),
            Status::OutOfMemory
        );
        assert_eq!(
            effective(Some(Status::Ok), false, None),
            Status::VerificationFailed
        );
    }
}
