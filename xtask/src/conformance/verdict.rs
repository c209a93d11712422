//! One conformance boot judged: its serial log (the `CONF` lines of
//! tools/conformance-init.sh, Linux's dmatest summaries and ptdma errors) against the model's
//! counters (one JSON object per function).

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::Value;

/// What a boot must show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want<'a> {
    /// The case's name.
    pub name: &'a str,
    /// PTDMA functions attached.
    pub engines: u32,
    /// dmatest buffer sizes, bytes.
    pub sizes: &'a [u64],
    /// dmatest iterations per channel and size.
    pub iterations: u64,
    /// dmatest failures (and PTDMA errors Linux logs, and errors the model counts).
    pub failures: u64,
}

/// The verdict: the summary line and what was wrong (empty: passed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// `conformance: NAME: ... ok|FAILED: ...`.
    pub line: String,
    /// Each problem found.
    pub bad: Vec<String>,
}

fn re(p: &str) -> Regex {
    Regex::new(p).expect("valid pattern")
}

/// Judges one boot from its log text and its counters file's text.
pub fn judge(w: &Want, log: &str, counters: &str) -> Verdict {
    let mut bad = Vec::new();
    let engines = w.engines as usize;
    let bound_re = re(r"^CONF function ([^ \t]+) driver=([^ \t]+)");
    let bound: Vec<String> = log
        .lines()
        .filter_map(|l| bound_re.captures(l).map(|c| c[2].to_string()))
        .collect();
    let probed = bound.iter().filter(|d| *d == "ptdma").count();
    if bound.len() != engines || probed != engines {
        bad.push(format!(
            "{probed}/{engines} functions bound to ptdma ({} seen)",
            bound.len()
        ));
    }
    if log.contains("initialization failed") {
        bad.push("ptdma probe failed".into());
    }
    let start_re = re(r"CONF dmatest size=([0-9]+) iterations=[0-9]+ start");
    let sum_re = re(r"dmatest: ([^ \t]+): summary ([0-9]+) tests, ([0-9]+) failures");
    let mut runs: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
    let mut size = None;
    for l in log.lines() {
        if let Some(c) = start_re.captures(l) {
            size = c[1].parse::<u64>().ok();
        }
        if let (Some(c), Some(s)) = (sum_re.captures(l), size) {
            let n = |i: usize| c[i].parse::<u64>().unwrap_or(0);
            runs.entry(s).or_default().push((n(2), n(3)));
        }
    }
    let (mut tests, mut fails) = (0, 0);
    for s in w.sizes {
        let got = runs.get(s).map(Vec::as_slice).unwrap_or_default();
        if got.len() != engines || got.iter().any(|(t, _)| *t != w.iterations) {
            bad.push(format!(
                "size {s}: {} channel summaries, want {engines} x {} tests",
                got.len(),
                w.iterations
            ));
        }
        tests += got.iter().map(|(t, _)| t).sum::<u64>();
        fails += got.iter().map(|(_, f)| f).sum::<u64>();
    }
    if fails != w.failures {
        bad.push(format!("{fails} dmatest failures, want {}", w.failures));
    }
    let err_re = re(r"PTDMA error: .*\(0x([0-9a-f]+)\)");
    let logged = log.lines().filter(|l| err_re.is_match(l)).count() as u64;
    if logged != w.failures {
        bad.push(format!(
            "Linux logged {logged} PTDMA errors, want {}",
            w.failures
        ));
    }
    let stats_re = re(r"^CONF stats [^ \t]+ bar2=0x([0-9a-f]+) passthru=([0-9]+)");
    let stats: BTreeMap<u64, u64> = log
        .lines()
        .filter_map(|l| {
            let c = stats_re.captures(l)?;
            Some((u64::from_str_radix(&c[1], 16).ok()?, c[2].parse().ok()?))
        })
        .collect();
    let model: Vec<Value> = counters
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let (mut ran, mut errors) = (0, 0);
    for f in &model {
        let q = &f["queues"][0];
        let (d, e) = (
            q["descriptors"].as_u64().unwrap_or(0),
            q["errors"].as_u64().unwrap_or(0),
        );
        ran += d + e;
        errors += e;
        let func = &f["function"];
        if f["interrupts"]["msix_enabled"].as_bool() != Some(true) {
            bad.push(format!("function {func}: Linux did not enable MSI-X"));
        }
        let linux = f["config"]["bar_assigned"]
            .as_u64()
            .and_then(|b| stats.get(&b));
        if linux != Some(&(d + e)) {
            let shown = linux.map_or("None".to_string(), u64::to_string);
            bad.push(format!(
                "function {func}: model ran {d}+{e} descriptors, Linux issued {shown}"
            ));
        }
    }
    if model.len() != engines || stats.len() != engines {
        bad.push(format!(
            "{} model counter lines, {} Linux q/stats, want {engines}",
            model.len(),
            stats.len()
        ));
    }
    if errors != w.failures {
        bad.push(format!(
            "model counted {errors} descriptor errors, want {}",
            w.failures
        ));
    }
    if !log.contains("CONF end") {
        bad.push("no CONF end (Linux did not finish)".into());
    }
    let end = if bad.is_empty() {
        "ok".to_string()
    } else {
        format!("FAILED: {}", bad.join("; "))
    };
    let line = format!(
        "conformance: {}: {} engine(s), {probed} probed, dmatest {tests} tests {fails} failures, model ran {ran} descriptors ({errors} failed) = Linux pass-through {} ... {end}",
        w.name,
        w.engines,
        stats.values().sum::<u64>()
    );
    Verdict { line, bad }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "CONF function 0000:00:01.0 driver=ptdma\nCONF dmatest size=4096 iterations=200 start\n[    1.5] ptdma 0000:00:01.0: PTDMA error: ERR 27: 0x1B Reserved (0x13)\n[    1.5] dmatest: dma0chan0-copy0: summary 200 tests, 1 failures 5098.00 iops\nCONF dmatest size=4096 done\nCONF stats 0000:00:01.0 bar2=0x00000000fea00000 passthru=200 interrupts=0\nCONF end\n";
    const COUNTERS: &str = "{\"function\":0,\"config\":{\"bar_assigned\":4271898624},\"interrupts\":{\"msix_enabled\":true},\"queues\":[{\"descriptors\":199,\"errors\":1}]}\n";

    fn want(failures: u64) -> Want<'static> {
        Want {
            name: "descriptor-error",
            engines: 1,
            sizes: &[4096],
            iterations: 200,
            failures,
        }
    }

    #[test]
    fn an_injected_error_seen_by_linux_and_the_model() {
        let v = judge(&want(1), LOG, COUNTERS);
        assert_eq!(v.bad, Vec::<String>::new());
        assert_eq!(v.line, "conformance: descriptor-error: 1 engine(s), 1 probed, dmatest 200 tests 1 failures, model ran 200 descriptors (1 failed) = Linux pass-through 200 ... ok");
    }

    #[test]
    fn every_mismatch_is_named() {
        let v = judge(&want(0), LOG, COUNTERS);
        assert_eq!(
            v.bad,
            [
                "1 dmatest failures, want 0",
                "Linux logged 1 PTDMA errors, want 0",
                "model counted 1 descriptor errors, want 0"
            ]
        );
        let short = LOG
            .replace("CONF end\n", "")
            .replace("passthru=200", "passthru=150");
        let v = judge(&want(1), &short, COUNTERS);
        assert!(v
            .bad
            .contains(&"function 0: model ran 199+1 descriptors, Linux issued 150".to_string()));
        assert!(v
            .bad
            .contains(&"no CONF end (Linux did not finish)".to_string()));
        assert!(v.line.ends_with("; no CONF end (Linux did not finish)"));
        let v = judge(&want(1), LOG, "");
        assert!(v
            .bad
            .contains(&"0 model counter lines, 1 Linux q/stats, want 1".to_string()));
    }
}
