//! Which plots a log supports, and their data: throughput vs folio size (1a/1b), vs folio
//! count (2a/2b), vs threads for 3a and 3b on one chart, and phase-breakdown stacked bars per
//! folio size for each engine/mode. Only plots whose experiment is present are made.
//! Drawing (PNG and SVG) is in `draw.rs`.

use crate::model::{size_label, Cell, Family, Parsed};
use kcore::bench::Bench;
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
    /// Folios per batch (bench=setup).
    PerBatch,
    /// Victim working set in KiB (bench=pollution).
    VictimSize,
    /// Migrations running at once (bench=streams, bench=appcost).
    Streams,
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
        /// Y axis description.
        y_desc: String,
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
    // bench=placement compares policies at one width: one series per policy.
    let by_policy = exps == ["placement"];
    let mut out: Vec<Series> = Vec::new();
    for c in cells {
        let name = match x {
            XKind::Threads => format!("{} {}", c.exp, c.placement.as_deref().unwrap_or("")),
            _ if by_policy => format!("T={} {}", c.width(), c.placement.as_deref().unwrap_or("-")),
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
            XKind::FolioCount | XKind::PerBatch => c.folios,
            XKind::Threads => c.width(),
            XKind::VictimSize | XKind::Streams => 0,
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

pub(crate) const GBPS: &str = "throughput (GB/s)";

/// One series per `name(cell)` of the cells of `exp`, with point `(x, y)` from `point(cell)`
/// (cells without it skipped).
pub(crate) fn key_series(
    parsed: &Parsed,
    exp: &str,
    name: impl Fn(&Cell) -> String,
    point: impl Fn(&Cell) -> Option<(u64, f64)>,
) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    for c in parsed.cells.iter().filter(|c| c.exp == exp && c.verified) {
        let Some((x, y)) = point(c).filter(|p| p.0 > 0 && p.1.is_finite()) else {
            continue;
        };
        let n = name(c);
        let i = match out.iter().position(|s| s.name == n) {
            Some(i) => i,
            None => {
                out.push(Series {
                    name: n,
                    rank: out.len() as u64,
                    points: Vec::new(),
                });
                out.len() - 1
            }
        };
        if !out[i].points.iter().any(|p| p.0 == x) {
            out[i].points.push((x, y, 0.0));
        }
    }
    for s in &mut out {
        s.points.sort_by_key(|p| p.0);
    }
    out
}

pub(crate) fn num(c: &Cell, k: &str) -> Option<f64> {
    c.raw.get(k).and_then(|v| v.as_f64())
}

/// setup: time per KiB vs folios per batch (the per-batch cost amortised), per engine and
/// folio size; pollution: victim re-read slowdown vs victim size, per engine; load:
/// throughput vs folio size per engine and load level.
fn question_plots(parsed: &Parsed, sfx: &str) -> Vec<Plot> {
    let mut out = Vec::new();
    let setup = key_series(
        parsed,
        Bench::Setup.name(),
        |c| format!("{} x{} {}", c.engine, c.width(), size_label(c.folio_kib)),
        |c| {
            let (b, d, ns) = (
                num(c, "batches_per_rep")?,
                num(c, "descs_per_rep")?,
                num(c, "ns_per_rep")?,
            );
            (b > 0.0 && d > 0.0).then(|| {
                (
                    (c.folios as f64 / b).round() as u64,
                    ns / (c.bytes as f64 / 1024.0),
                )
            })
        },
    );
    if !setup.is_empty() {
        out.push(Plot {
            stem: "expsetup".into(),
            caption: "setup: copy time per KiB vs folios per batch (per-batch cost amortised)"
                .into(),
            chart: Chart::Line {
                title: format!("setup: copy time per KiB vs batch size{sfx}"),
                x: XKind::PerBatch,
                y_desc: "copy time per KiB (ns)".into(),
                series: setup,
            },
        });
    }
    let pollution = key_series(
        parsed,
        Bench::Pollution.name(),
        |c| c.engine.clone(),
        |c| {
            Some((
                (num(c, "victim_bytes")? as u64) >> 10,
                num(c, "victim_slowdown")?,
            ))
        },
    );
    let load = key_series(
        parsed,
        Bench::Load.name(),
        |c| {
            let l = c
                .get(kcore::record::result::LOAD)
                .and_then(|v| v.as_str())
                .unwrap_or("?");
            format!("{} {l}", c.engine)
        },
        |c| Some((c.folio_kib, c.gbps_mean)),
    );
    if !load.is_empty() {
        out.push(Plot {
            stem: "expload".into(),
            caption: "load: migration throughput under memory-bandwidth and background DMA load"
                .into(),
            chart: Chart::Line {
                title: format!("load: throughput vs folio size per load level{sfx}"),
                x: XKind::FolioSize,
                y_desc: GBPS.into(),
                series: load,
            },
        });
    }
    if !pollution.is_empty() {
        out.push(Plot {
            stem: "exppollution".into(),
            caption:
                "pollution: victim re-read time after a migration / without (1 = no pollution)"
                    .into(),
            chart: Chart::Line {
                title: format!("pollution: victim re-read slowdown{sfx}"),
                x: XKind::VictimSize,
                y_desc: "victim re-read slowdown (x)".into(),
                series: pollution,
            },
        });
    }
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
            Bench::Seed1a.name(),
            XKind::FolioSize,
            "multi-threaded CPU, throughput vs folio size",
        ),
        (
            Bench::Seed1b.name(),
            XKind::FolioSize,
            "DMA, throughput vs folio size",
        ),
        (
            Bench::Seed2a.name(),
            XKind::FolioCount,
            "CPU, 2M folios, throughput vs folio count",
        ),
        (
            Bench::Seed2b.name(),
            XKind::FolioCount,
            "DMA, 2M folios, throughput vs folio count",
        ),
        (
            Bench::Auto.name(),
            XKind::FolioSize,
            "auto engine vs always-CPU and always-DMA, throughput vs folio size",
        ),
        (
            Bench::Placement.name(),
            XKind::FolioSize,
            "workers on source vs destination node vs spread",
        ),
        (
            Bench::Cycles.name(),
            XKind::FolioSize,
            "throughput of the engines whose CPU cycles are counted",
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
                    y_desc: GBPS.into(),
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
                y_desc: GBPS.into(),
                series,
            },
        });
    }
    out.extend(question_plots(parsed, &sfx));
    out.extend(crate::frontier::plots(parsed, &sfx));
    out.extend(crate::streams::plots(parsed, &sfx));
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
mod tests;
