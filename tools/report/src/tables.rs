//! Markdown tables: formatting helpers, the seed-layout experiment tables (ours beside the
//! seed's numbers and our raw-copy ceiling), the 3a/3b spread/fill ratio, and a generic table
//! for experiments the seed has no table for.
//!
//! Neighbours: `markdown.rs` assembles the document; `seed.rs` supplies the seed's numbers;
//! `breakdown.rs` has the per-folio, phase and MMIO tables.

use crate::model::{size_label, Cell, Family, Parsed};
use crate::seed;
use crate::status::{percent, Status, INVALID_SHARE};
use std::collections::BTreeSet;
use std::fmt::Write;

/// A throughput with enough digits for emulator-scale numbers.
pub fn gbps(x: f64) -> String {
    if x.abs() < 1.0 {
        format!("{x:.3}")
    } else {
        format!("{x:.2}")
    }
}

/// `mean ± sd`, both with the decimals [`gbps`] picks for the mean.
pub fn mean_sd(mean: f64, sd: f64) -> String {
    if mean.abs() < 1.0 {
        format!("{mean:.3} ± {sd:.3}")
    } else {
        format!("{mean:.2} ± {sd:.2}")
    }
}

/// `mean ± sd` of a cell, with `†` and the fallback share for a degraded cell.
pub fn figure(c: &Cell) -> String {
    let text = mean_sd(c.gbps_mean, c.gbps_stdev);
    match (c.status, &c.copied) {
        (Status::Degraded, Some(copied)) => format!("{text} † {}", percent(copied.share)),
        (Status::Degraded, None) => format!("{text} †"),
        _ => text,
    }
}

/// The footnote for tables with degraded cells (`None` if `cells` has none).
pub fn degraded_note<'a>(cells: impl IntoIterator<Item = &'a Cell>) -> Option<String> {
    cells
        .into_iter()
        .any(|c| c.status == Status::Degraded)
        .then(|| {
            format!(
                "\n† degraded: the CPU copied this share of the bytes meant for DMA because DMA \
                 failed (at most {}; above that a cell is not a figure of its engine and is \
                 listed apart).\n",
                percent(INVALID_SHARE)
            )
        })
}

/// Renders rows as a markdown table.
pub fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| c.replace('|', "\\|")).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

/// What an experiment's rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKey {
    /// Folio size (tables 1a/1b).
    FolioSize,
    /// Folio count (tables 2a/2b).
    FolioCount,
    /// Thread count (tables 3a/3b).
    Threads,
}

/// Row key of a seed-layout experiment.
pub fn row_key(exp: &str) -> RowKey {
    match exp {
        "2a" | "2b" => RowKey::FolioCount,
        "3a" | "3b" => RowKey::Threads,
        _ => RowKey::FolioSize,
    }
}

fn row_value(key: RowKey, c: &Cell) -> u64 {
    match key {
        RowKey::FolioSize => c.folio_kib,
        RowKey::FolioCount => c.folios,
        RowKey::Threads => c.width(),
    }
}

fn row_label(key: RowKey, v: u64) -> String {
    match key {
        RowKey::FolioSize => size_label(v),
        _ => v.to_string(),
    }
}

/// The cells of a seed-layout table: experiment `exp`, not raw-copy, not per-folio.
pub fn main_cells<'a>(parsed: &'a Parsed, exp: &str) -> Vec<&'a Cell> {
    parsed
        .cells
        .iter()
        .filter(|c| c.exp == exp && !c.is_raw() && c.mode != "per-folio")
        .collect()
}

/// A set of cells shown as one seed-layout table.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    /// Engines in the group (e.g. `cpu` for one thread and `cpu-mt` for more).
    pub engines: Vec<String>,
    /// Placement of the multi-threaded cells, if any.
    pub placement: Option<String>,
    /// The cells.
    pub cells: Vec<&'a Cell>,
}

/// Distinct placements of the cells wider than one thread/channel, in order of appearance.
pub fn wide_placements<'a>(cells: &[&'a Cell]) -> Vec<Option<&'a str>> {
    let mut out = Vec::new();
    for c in cells.iter().filter(|c| c.width() > 1) {
        if !out.contains(&c.placement.as_deref()) {
            out.push(c.placement.as_deref());
        }
    }
    out
}

/// Groups cells by engine family (so `cpu` at one thread and `cpu-mt` at more share a table);
/// when the wider cells of a family use several placements, one group per placement, each
/// also holding the family's one-thread/one-channel cells (placement does not matter there).
pub fn groups<'a>(cells: &[&'a Cell]) -> Vec<Group<'a>> {
    let mut families: Vec<Family> = Vec::new();
    for c in cells {
        if !families.contains(&c.family()) {
            families.push(c.family());
        }
    }
    let mut out = Vec::new();
    for fam in families {
        let fam_cells: Vec<&Cell> = cells
            .iter()
            .copied()
            .filter(|c| c.family() == fam)
            .collect();
        let mut placements = wide_placements(&fam_cells);
        if placements.len() <= 1 {
            placements = vec![placements
                .first()
                .copied()
                .unwrap_or_else(|| fam_cells[0].placement.as_deref())];
        }
        let multi = placements.len() > 1;
        for p in placements {
            let members: Vec<&Cell> = fam_cells
                .iter()
                .copied()
                .filter(|c| !multi || c.width() <= 1 || c.placement.as_deref() == p)
                .collect();
            let mut engines: Vec<String> = Vec::new();
            for c in &members {
                if !engines.contains(&c.engine) {
                    engines.push(c.engine.clone());
                }
            }
            out.push(Group {
                engines,
                placement: p.map(str::to_string),
                cells: members,
            });
        }
    }
    out
}

/// One seed-layout table for `exp` and a group of its cells.
pub fn experiment_table(parsed: &Parsed, exp: &str, cells: &[&Cell]) -> String {
    let bare = parsed.is_bare_metal();
    let key = row_key(exp);
    let rows: BTreeSet<u64> = cells.iter().map(|c| row_value(key, c)).collect();
    let cols: BTreeSet<u64> = if key == RowKey::Threads {
        BTreeSet::from([0])
    } else {
        cells.iter().map(|c| c.width()).collect()
    };
    let dma = cells.first().is_some_and(|c| c.family() == Family::Dma);
    let wname = if dma { "ch" } else { "T" };
    let mut header = vec![match key {
        RowKey::FolioSize => "folio".to_string(),
        RowKey::FolioCount => "folios".to_string(),
        RowKey::Threads => (if dma { "channels" } else { "threads" }).to_string(),
    }];
    for &w in &cols {
        let p = if key == RowKey::Threads {
            String::new()
        } else {
            format!("{wname}={w} ")
        };
        header.push(format!("{p}ours"));
        header.push(format!("{p}seed"));
        header.push(format!("{p}% of raw"));
        if bare {
            header.push(format!("{p}ours/seed"));
        }
    }
    let mut duplicates = 0;
    let mut fallback = false;
    let mut body = Vec::new();
    for &r in &rows {
        let mut line = vec![row_label(key, r)];
        for &w in &cols {
            let matching: Vec<&&Cell> = cells
                .iter()
                .filter(|c| row_value(key, c) == r && (key == RowKey::Threads || c.width() == w))
                .collect();
            duplicates += matching.len().saturating_sub(1);
            let Some(c) = matching.first() else {
                line.extend(std::iter::repeat_n(
                    "".to_string(),
                    if bare { 4 } else { 3 },
                ));
                continue;
            };
            let s = seed::lookup(exp, c.folio_kib, c.folios, c.width());
            line.push(figure(c));
            line.push(s.map_or("—".into(), |(m, sd)| mean_sd(m, sd)));
            line.push(match parsed.ceiling(c) {
                Some(ceil) if ceil.gbps > 0.0 => {
                    fallback |= !ceil.exact;
                    let star = if ceil.exact { "" } else { "*" };
                    format!("{:.0}%{star}", 100.0 * c.gbps_mean / ceil.gbps)
                }
                _ => "—".into(),
            });
            if bare {
                line.push(s.map_or("—".into(), |(m, _)| format!("{:.2}×", c.gbps_mean / m)));
            }
        }
        body.push(line);
    }
    let mut out = table(&header, &body);
    out.extend(degraded_note(cells.iter().copied()));
    if fallback {
        out.push_str(
            "\n\\* no raw-copy cell with the same folio size and width: ratio to the best \
             raw-copy number of this engine family at this width (or in the whole run if \
             there is none at this width).\n",
        );
    }
    if duplicates > 0 {
        let _ = writeln!(
            out,
            "\nNote: {duplicates} duplicate cell(s) for the same coordinates; the first is shown."
        );
    }
    out
}

/// Spread (3a) / fill (3b) ratio per thread count, ours and the seed's.
pub fn spread_fill_table(parsed: &Parsed) -> Option<String> {
    let a = main_cells(parsed, "3a");
    let b = main_cells(parsed, "3b");
    let threads: BTreeSet<u64> = a.iter().map(|c| c.width()).collect();
    let mut body = Vec::new();
    for t in threads {
        let (Some(x), Some(y)) = (
            a.iter().find(|c| c.width() == t),
            b.iter().find(|c| c.width() == t),
        ) else {
            continue;
        };
        let ours = if y.gbps_mean > 0.0 {
            format!("{:.2}×", x.gbps_mean / y.gbps_mean)
        } else {
            "—".into()
        };
        let sd = match (
            seed::lookup("3a", 2048, 0, t),
            seed::lookup("3b", 2048, 0, t),
        ) {
            (Some((m1, _)), Some((m2, _))) => format!("{:.2}×", m1 / m2),
            _ => "—".into(),
        };
        body.push(vec![t.to_string(), ours, sd]);
    }
    (!body.is_empty()).then(|| {
        let h = ["threads", "ours spread/fill", "seed spread/fill"].map(String::from);
        table(&h, &body)
    })
}

/// Keys the question experiments (setup, auto, placement, pollution, load, cycles) add to their
/// RESULT lines, shown in the generic table's last column when present.
pub const EXTRA_KEYS: &[&str] = &[
    "batch_pages",
    "batches_per_rep",
    "descs_per_rep",
    "ns_per_rep",
    "model_ns",
    "auto_choice",
    "auto_vs_best",
    "cpus",
    "cache_level",
    "victim_slowdown",
    "touch_slowdown",
    "cpu_cycles_per_gib",
    "wait_cycles_per_gib",
    "cpu_cycles_vs_cpu_engine",
    "load",
    "batch_latency_us",
    "load_mem_gbps",
    "load_dma_gbps",
    "dma_split",
    "dma_min_batch",
    "declined_batches",
];

/// `key=value` for each of [`EXTRA_KEYS`] the cell has (numbers to 4 significant digits).
pub fn extra_text(c: &Cell) -> String {
    let parts: Vec<String> = EXTRA_KEYS
        .iter()
        .filter_map(|&k| {
            let v = c.raw.get(k)?;
            let text = match (v.as_f64(), v.as_str()) {
                (_, Some(s)) => s.to_string(),
                (Some(x), _) if x == x.trunc() && x.abs() < 1e15 => format!("{x:.0}"),
                (Some(x), _) if x.abs() >= 1000.0 => format!("{x:.0}"),
                (Some(x), _) => format!("{x:.3}"),
                _ => return None,
            };
            Some(format!("{k}={text}"))
        })
        .chain(
            c.exp
                .starts_with("frontier")
                .then(|| crate::frontier::latency_text(c))
                .flatten(),
        )
        .collect();
    parts.join("; ")
}

/// Every cell of an experiment the seed has no table for (and raw-copy cells), one per row.
pub fn generic_table(parsed: &Parsed, cells: &[&Cell]) -> String {
    let body: Vec<Vec<String>> = cells
        .iter()
        .map(|c| {
            let raw = match parsed.ceiling(c) {
                Some(ceil) if ceil.gbps > 0.0 && !c.is_raw() => {
                    let star = if ceil.exact { "" } else { "*" };
                    format!("{:.0}%{star}", 100.0 * c.gbps_mean / ceil.gbps)
                }
                _ => "—".into(),
            };
            vec![
                c.line.to_string(),
                c.engine.clone(),
                c.mode.clone(),
                size_label(c.folio_kib),
                c.folios.to_string(),
                c.threads.to_string(),
                c.channels.to_string(),
                c.placement.clone().unwrap_or_default(),
                format!(
                    "{}→{}",
                    c.from.as_deref().unwrap_or("?"),
                    c.to.as_deref().unwrap_or("?")
                ),
                figure(c),
                raw,
                crate::frontier::ceiling_text(c),
                c.status.name().into(),
                extra_text(c),
            ]
        })
        .collect();
    let h = [
        "line",
        "engine",
        "mode",
        "folio",
        "folios",
        "threads",
        "ch",
        "placement",
        "nodes",
        "GB/s",
        "% of raw",
        "% of ceiling",
        "status",
        "details",
    ]
    .map(String::from);
    let mut out = table(&h, &body);
    out.extend(degraded_note(cells.iter().copied()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixtures::{one_1a_log as log, result};
    use crate::parse::parse_log;

    #[test]
    fn emulated_table_shows_seed_and_ceiling_but_no_seed_ratio() {
        let p = log("tcg");
        let cells = main_cells(&p, "1a");
        assert_eq!(
            cells.len(),
            2,
            "raw-copy and per-folio cells are not in the main table"
        );
        let t = experiment_table(&p, "1a", &cells);
        assert!(t.starts_with("| folio | T=1 ours | T=1 seed | T=1 % of raw | T=2 ours |"));
        assert!(
            t.contains(
                "| 4K | 0.860 ± 0.100 | 1.72 ± 0.05 | 50% | 1.50 ± 0.10 | 1.93 ± 0.06 | 87%* |"
            ),
            "{t}"
        );
        assert!(!t.contains("ours/seed"));
    }

    #[test]
    fn one_thread_cpu_joins_cpu_mt_and_placements_split() {
        let lines = [
            result("1a", "cpu", "batched", 4, 8, 1, 0, 1.0, "tcg"),
            result("1a", "cpu-mt", "batched", 4, 8, 2, 0, 1.5, "tcg")
                .replace("\"verified\"", "\"placement\":\"spread\",\"verified\""),
            result("1a", "cpu-mt", "batched", 4, 8, 2, 0, 1.2, "tcg")
                .replace("\"verified\"", "\"placement\":\"fill\",\"verified\""),
            result("1a", "dma", "batched", 4, 8, 0, 1, 0.7, "tcg"),
        ];
        let p = parse_log(lines.join("\n").as_bytes());
        let g = groups(&main_cells(&p, "1a"));
        let summary: Vec<(Vec<String>, Option<String>, usize)> = g
            .into_iter()
            .map(|g| (g.engines, g.placement, g.cells.len()))
            .collect();
        let v = |e: &[&str]| e.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            summary,
            [
                (v(&["cpu", "cpu-mt"]), Some("spread".to_string()), 2),
                (v(&["cpu", "cpu-mt"]), Some("fill".to_string()), 2),
                (v(&["dma"]), None, 1),
            ]
        );
    }

    #[test]
    fn generic_table_shows_the_question_keys() {
        let line = result("pollution", "cpu-nt", "batched", 2048, 4, 1, 0, 1.0, "tcg").replace(
            "\"verified\":true",
            "\"verified\":true,\"victim_slowdown\":2.5,\"cache_level\":2,\"auto_choice\":\"cpu:1,dma:3\"",
        );
        let p = parse_log(line.as_bytes());
        let cells: Vec<_> = p.cells.iter().collect();
        assert_eq!(
            extra_text(cells[0]),
            "auto_choice=cpu:1,dma:3; cache_level=2; victim_slowdown=2.500"
        );
        let t = generic_table(&p, &cells);
        assert!(t.contains("| details |"), "{t}");
        assert!(t.contains("victim_slowdown=2.500"), "{t}");
    }

    #[test]
    fn bare_metal_table_adds_seed_ratio() {
        let p = log("bare-metal");
        let t = experiment_table(&p, "1a", &main_cells(&p, "1a"));
        assert!(t.contains("T=1 ours/seed"));
        assert!(t.contains("| 0.50× |"), "{t}");
    }
}
