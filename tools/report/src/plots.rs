//! Which plots a log supports, and their data: throughput vs folio size (1a/1b), vs folio
//! count (2a/2b), vs threads for 3a and 3b on one chart, and phase-breakdown stacked bars per
//! folio size for each engine/mode. Only plots whose experiment is present are made.
//! Drawing (PNG and SVG) is in `draw.rs`.

use crate::model::{Cell, Family, Parsed};
use std::collections::BTreeSet;

pub use crate::draw::{render_png, write_svg, SIZE};

/// What the x axis shows; every kind is drawn on a log2 scale with ticks at the data's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XKind {
    /// Folio size in KiB, labelled 4K..2M.
    FolioSize,
    /// Folio count.
    FolioCount,
    /// Thread count.
    Threads,
}

/// One line of a line chart: `(x, mean, sd)` points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Sort rank: the thread/channel count, or order of appearance for 3a/3b.
    pub rank: u64,
    /// Points sorted by x.
    pub points: Vec<(u64, f64, f64)>,
}

/// A chart to draw.
#[derive(Debug, Clone)]
pub enum Chart {
    /// Throughput lines with ±stdev error bars.
    Line {
        /// Title.
        title: String,
        /// X axis meaning.
        x: XKind,
        /// Lines.
        series: Vec<Series>,
    },
    /// Phase shares as stacked bars, one bar per folio size.
    Phases {
        /// Title.
        title: String,
        /// `(folio KiB, [prepare, unmap, copy, remap] in %)`.
        bars: Vec<(u64, [f64; 4])>,
    },
}

/// A chart with the file stem it is written under.
#[derive(Debug, Clone)]
pub struct Plot {
    /// File name without extension.
    pub stem: String,
    /// Caption for the report.
    pub caption: String,
    /// The chart.
    pub chart: Chart,
}

fn emulated_suffix(parsed: &Parsed) -> String {
    match parsed.accel() {
        Some(a) if a == "bare-metal" => String::new(),
        Some(a) => format!(" [{a}: emulator speed]"),
        None => " [accel unknown]".into(),
    }
}

/// Series per width (and family / placement when several) for the non-raw, non-per-folio
/// cells of `exps`.
fn series_for(parsed: &Parsed, exps: &[&str], x: XKind) -> Vec<Series> {
    let cells: Vec<&Cell> = parsed
        .cells
        .iter()
        .filter(|c| exps.contains(&c.exp.as_str()) && !c.is_raw() && c.mode != "per-folio")
        .collect();
    let families: BTreeSet<Family> = cells.iter().map(|c| c.family()).collect();
    let placements = crate::tables::wide_placements(&cells);
    let mut out: Vec<Series> = Vec::new();
    for c in cells {
        let name = match x {
            XKind::Threads => format!("{} {}", c.exp, c.placement.as_deref().unwrap_or("")),
            _ => {
                let w = if c.family() == Family::Dma { "ch" } else { "T" };
                let mut n = format!("{w}={}", c.width());
                if families.len() > 1 {
                    n.push_str(&format!(" {}", c.engine));
                }
                if placements.len() > 1 && c.width() > 1 {
                    n.push_str(&format!(" {}", c.placement.as_deref().unwrap_or("-")));
                }
                n
            }
        };
        let xv = match x {
            XKind::FolioSize => c.folio_kib,
            XKind::FolioCount => c.folios,
            XKind::Threads => c.width(),
        };
        if xv == 0 {
            continue; // not on a log axis
        }
        let rank = match x {
            XKind::Threads => out.len() as u64,
            _ => c.width(),
        };
        let s = match out.iter_mut().find(|s| s.name == name) {
            Some(s) => s,
            None => {
                out.push(Series {
                    name,
                    rank,
                    points: Vec::new(),
                });
                out.last_mut().expect("just pushed")
            }
        };
        if !s.points.iter().any(|p| p.0 == xv) {
            s.points.push((xv, c.gbps_mean, c.gbps_stdev));
        }
    }
    for s in &mut out {
        s.points.sort_by_key(|p| p.0);
    }
    out.sort_by(|a, b| a.rank.cmp(&b.rank).then(a.name.cmp(&b.name)));
    out
}

/// The plots this log supports.
pub fn plots(parsed: &Parsed) -> Vec<Plot> {
    let sfx = emulated_suffix(parsed);
    let exps = parsed.experiments();
    let has = |e: &str| exps.iter().any(|x| x == e);
    let mut out = Vec::new();
    let lines = [
        (
            "1a",
            XKind::FolioSize,
            "multi-threaded CPU, throughput vs folio size",
        ),
        ("1b", XKind::FolioSize, "DMA, throughput vs folio size"),
        (
            "2a",
            XKind::FolioCount,
            "CPU, 2M folios, throughput vs folio count",
        ),
        (
            "2b",
            XKind::FolioCount,
            "DMA, 2M folios, throughput vs folio count",
        ),
    ];
    for (exp, x, what) in lines {
        let series = series_for(parsed, &[exp], x);
        if has(exp) && !series.is_empty() {
            out.push(Plot {
                stem: format!("exp{exp}"),
                caption: format!("{exp}: {what}"),
                chart: Chart::Line {
                    title: format!("{exp}: {what}{sfx}"),
                    x,
                    series,
                },
            });
        }
    }
    let series = series_for(parsed, &["3a", "3b"], XKind::Threads);
    if (has("3a") || has("3b")) && !series.is_empty() {
        out.push(Plot {
            stem: "exp3".into(),
            caption: "3a vs 3b: threads spread across CCDs vs filling one CCD".into(),
            chart: Chart::Line {
                title: format!("3a spread vs 3b fill: throughput vs threads{sfx}"),
                x: XKind::Threads,
                series,
            },
        });
    }
    out.extend(phase_plots(parsed, &sfx));
    out
}

/// One stacked-bar plot per `(engine, mode)`; per folio size the cell with the fewest
/// threads/channels, preferring experiments 1a/1b.
fn phase_plots(parsed: &Parsed, sfx: &str) -> Vec<Plot> {
    let cells: Vec<&Cell> = parsed
        .cells
        .iter()
        .filter(|c| !c.is_raw() && c.phase_ns.is_some_and(|p| p.total() > 0.0))
        .collect();
    let keys: BTreeSet<(&str, &str)> = cells
        .iter()
        .map(|c| (c.engine.as_str(), c.mode.as_str()))
        .collect();
    let mut out = Vec::new();
    for (engine, mode) in keys {
        let mut group: Vec<&Cell> = cells
            .iter()
            .copied()
            .filter(|c| c.engine == engine && c.mode == mode)
            .collect();
        group.sort_by_key(|c| (c.folio_kib, c.width(), !c.exp.starts_with('1'), c.line));
        let mut bars: Vec<(u64, [f64; 4])> = Vec::new();
        for c in group {
            if bars.iter().any(|b| b.0 == c.folio_kib) || c.folio_kib == 0 {
                continue;
            }
            let p = c.phase_ns.expect("filtered");
            let t = p.total();
            let share = p.named().map(|(_, ns)| 100.0 * ns / t);
            bars.push((c.folio_kib, share));
        }
        let safe = |s: &str| s.replace(|c: char| !c.is_ascii_alphanumeric(), "_");
        out.push(Plot {
            stem: format!("phases-{}-{}", safe(engine), safe(mode)),
            caption: format!("phase breakdown, {engine} {mode}"),
            chart: Chart::Phases {
                title: format!("Phase breakdown: {engine}, {mode}{sfx}"),
                bars,
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixtures::result;
    use crate::parse::parse_log;

    #[test]
    fn only_present_experiments_are_plotted() {
        let log = [
            result("1b", "dma", "batched", 4, 8, 0, 2, 1.0, "kvm"),
            result("1b", "dma", "batched", 2048, 8, 0, 1, 3.0, "kvm"),
            result("1b", "dma", "batched", 4, 8, 0, 1, 0.5, "kvm"),
            result("3b", "cpu-mt", "batched", 2048, 8, 2, 0, 2.0, "kvm"),
        ]
        .join("\n");
        let p = parse_log(log.as_bytes());
        let stems: Vec<String> = plots(&p).into_iter().map(|p| p.stem).collect();
        assert_eq!(
            stems,
            [
                "exp1b",
                "exp3",
                "phases-cpu_mt-batched",
                "phases-dma-batched"
            ]
        );
    }

    #[test]
    fn series_are_ranked_by_width_with_sorted_points() {
        let log = [
            result("1a", "cpu-mt", "batched", 2048, 8, 4, 0, 3.0, "tcg"),
            result("1a", "cpu-mt", "batched", 4, 8, 4, 0, 1.0, "tcg"),
            result("1a", "cpu-mt", "batched", 4, 8, 1, 0, 0.5, "tcg"),
            result("1a", "raw-cpu", "raw-copy", 4, 8, 1, 0, 9.0, "tcg"),
        ]
        .join("\n");
        let p = parse_log(log.as_bytes());
        let s = series_for(&p, &["1a"], XKind::FolioSize);
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["T=1", "T=4"], "raw-copy cells are not plotted");
        assert_eq!(s[1].points, [(4, 1.0, 0.1), (2048, 3.0, 0.1)]);
        match &plots(&p)[0].chart {
            Chart::Line { title, .. } => assert!(title.contains("[tcg: emulator speed]")),
            other => panic!("{other:?}"),
        }
    }
}
