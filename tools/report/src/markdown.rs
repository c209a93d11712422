//! `report.md`: where the run executed (with a loud warning for emulated runs) and how the
//! engine labels were checked, the cells that are not figures of their named engine (listed
//! apart, never in a table or plot), one section per experiment with our numbers beside the
//! seed's, per-folio vs batched, phase breakdown, DMA register traffic, plots, and the
//! skipped lines.
//!
//! Rule: an emulator's absolute numbers are never compared with the seed's hardware numbers;
//! the seed column is for shape only and the `ours/seed` column exists only on bare metal.

use crate::breakdown;
use crate::model::{accel_label, size_label, Cell, Parsed};
use crate::seed;
use crate::status::{percent, Status, INVALID_SHARE};
use crate::tables::{self, gbps, mean_sd};
use kcore::record::{result, run as rk};
use std::fmt::Write;

/// Inputs of the document besides the parsed log.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Document title.
    pub title: String,
    /// Where the log came from.
    pub source: String,
    /// Plot files written, relative to the report (PNG preferred), with captions.
    pub plots: Vec<(String, String)>,
}

/// Renders `report.md`.
pub fn render(parsed: &Parsed, ctx: &Context) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", ctx.title);
    let apart = if parsed.apart.is_empty() {
        String::new()
    } else {
        format!(
            " ({} of them not figures of their engine, listed apart)",
            parsed.apart.len()
        )
    };
    let _ = writeln!(
        out,
        "Source: `{}` — {} lines, {} RESULT cells{apart}, {} skipped line(s).\n",
        ctx.source,
        parsed.lines,
        parsed.all_cells().len(),
        parsed.skipped.len()
    );
    header(&mut out, parsed);
    verification(&mut out, parsed);
    experiments(&mut out, parsed);
    extras(&mut out, parsed);
    if !ctx.plots.is_empty() {
        out.push_str("## Plots\n\n");
        for (file, caption) in &ctx.plots {
            let _ = writeln!(out, "![{caption}]({file})\n");
        }
    }
    skipped(&mut out, parsed);
    out
}

fn header(out: &mut String, parsed: &Parsed) {
    out.push_str("## Where it ran\n\n");
    let accel = parsed.accel();
    let run = parsed.run.as_ref();
    let text = |k: &str| run.and_then(|r| r.text(k));
    let _ = writeln!(
        out,
        "- Accelerator: **{}**",
        accel
            .as_deref()
            .map_or("unknown (no accel key)".into(), accel_label)
    );
    let _ = writeln!(
        out,
        "- CPU: {}",
        parsed.cpu().unwrap_or_else(|| "unknown".into())
    );
    let _ = writeln!(
        out,
        "- Topology: {}",
        text(rk::TOPOLOGY.name).unwrap_or_else(|| "not reported".into())
    );
    if let Some(f) = text(rk::FEATURES.name) {
        let _ = writeln!(out, "- Hardware paths: {f}");
    }
    if let Some(h) = text(rk::HOST.name).filter(|h| h != "none") {
        let _ = writeln!(out, "- Host: {h}");
    }
    let has_dma = parsed.all_cells().iter().any(|c| c.engine.contains("dma"));
    match text(rk::PTDMA_PROFILE.name) {
        Some(p) => {
            let _ = writeln!(
                out,
                "- DMA timing profile (an assumption of the emulated engine): {p}"
            );
        }
        None if has_dma && !parsed.is_bare_metal() => {
            out.push_str("- DMA timing profile: not reported (DMA numbers are the emulator's)\n");
        }
        None => {}
    }
    if let Some(kinds) = dma_kinds(parsed) {
        let _ = writeln!(out, "- DMA engine kind: {kinds}");
    }
    match run {
        Some(_) => {
            let parts: Vec<String> = [
                rk::CELLS.name,
                rk::FAILURES.name,
                rk::DEGRADED.name,
                rk::INVALID.name,
                rk::ELAPSED_S.name,
                rk::STATUS.name,
            ]
            .iter()
            .filter_map(|k| text(k).map(|v| format!("{k} {v}")))
            .collect();
            let _ = writeln!(out, "- Run summary (RUN line): {}", parts.join(", "));
        }
        None => out.push_str("- Run summary: **no RUN line** (the run may not have finished)\n"),
    }
    if let Some(r) = run {
        run_status(out, parsed, r);
    }
    engine_labels(out, parsed);
    let accels = parsed.cell_accels();
    if accels.len() > 1 || accels.first().is_some_and(|a| Some(a) != accel.as_ref()) {
        let _ = writeln!(
            out,
            "- Note: cells report accel {:?}, the run reports {:?}",
            accels,
            accel.as_deref().unwrap_or("nothing")
        );
    }
    out.push('\n');
    if !parsed.is_bare_metal() {
        let _ = writeln!(
            out,
            "> **⚠ NOT BARE METAL — {}.**\n\
             > Absolute throughput is emulator speed, not hardware speed: only ratios within this \
             run (batched vs per-folio, scaling with threads/channels, share of each phase, \
             fraction of the raw-copy ceiling) mean anything. The seed's numbers are shown for \
             the shape of the curves only; no speed-up versus the seed is computed.\n",
            accel.as_deref().map_or(
                "the log does not say where it ran, so it is not taken as bare metal".into(),
                |a| format!("this run executed under {}", accel_label(a))
            )
        );
    }
}

/// The RUN line's status and counts, checked against the cells.
fn run_status(out: &mut String, parsed: &Parsed, r: &crate::model::RunInfo) {
    let failures = r
        .raw
        .get(rk::FAILURES.name)
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    let status = r.text(rk::STATUS.name);
    match status.as_deref() {
        Some("ok") if failures == 0 => {}
        Some("degraded") if failures == 0 => {
            let _ = writeln!(
                out,
                "- The run is **degraded**: some cells had a little CPU fallback (marked † \
                 with their share)."
            );
        }
        Some("invalid") if failures == 0 => {
            out.push_str(
                "- **Status invalid: the run measured cells whose named engine did not do the \
                 work; they are listed apart, not as figures of that engine.**\n",
            );
        }
        Some("out-of-memory") if failures == 0 => {
            out.push_str(
                "- **Status out-of-memory: a migration could not get destination frames \
                 mid-run; its folios stayed where they were.**\n",
            );
        }
        other => {
            let _ = writeln!(
                out,
                "- **The run did not finish cleanly: status {}, {failures} failure(s).**",
                other.unwrap_or("not reported")
            );
        }
    }
    let all = parsed.all_cells().len() as u64;
    if let Some(n) = r.raw.get(rk::CELLS.name).and_then(|v| v.as_u64()) {
        if n != all {
            let _ = writeln!(
                out,
                "- **The RUN line counts {n} cells but the log has {all} valid RESULT lines.**"
            );
        }
    }
    for s in [Status::Degraded, Status::Invalid] {
        let Some(n) = rk::count_of(s)
            .and_then(|k| r.raw.get(k.name))
            .and_then(|v| v.as_u64())
        else {
            continue;
        };
        let have = parsed.with_status(s).len();
        if n != have as u64 {
            let _ = writeln!(
                out,
                "- **The RUN line counts {n} {} cell(s) but the log has {have}.**",
                s.name()
            );
        }
    }
}

/// The DMA engine kinds the DMA cells name (`dma_kind`), spelled out; `None` when no cell
/// used DMA channels or the log predates the key.
fn dma_kinds(parsed: &Parsed) -> Option<String> {
    let mut kinds: Vec<String> = Vec::new();
    for c in parsed.all_cells().iter().filter(|c| c.channels > 0) {
        if let Some(k) = c.get(result::DMA_KIND).and_then(|v| v.as_str()) {
            for k in k.split('+').filter(|k| *k != "-") {
                if !kinds.iter().any(|x| x == k) {
                    kinds.push(k.to_string());
                }
            }
        }
    }
    let label = |k: &str| match k {
        "ptdma" => "AMD PTDMA".to_string(),
        "ae4dma" => "AMD AE4DMA".to_string(),
        "sdxi" => "SNIA SDXI 1.0 (class 0x120100; no SDXI silicon has run this code)".to_string(),
        other => other.to_string(),
    };
    (!kinds.is_empty()).then(|| {
        kinds
            .iter()
            .map(|k| format!("**{}**", label(k)))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// How the engine labels were checked: by the byte accounting, or not at all in old logs.
fn engine_labels(out: &mut String, parsed: &Parsed) {
    let all = parsed.all_cells();
    if all.is_empty() {
        return;
    }
    let counted = all.iter().filter(|c| c.copied.is_some()).count();
    if counted == all.len() {
        let _ = writeln!(
            out,
            "- Engine labels: every cell reports the bytes the DMA engines copied, the CPU \
             copied by design and the CPU copied because DMA failed (warm-up included). A cell \
             whose fallback share is above {} is not a figure of its engine (listed apart); \
             above 0 it is marked † with its share.",
            percent(INVALID_SHARE)
        );
    } else if counted == 0 {
        out.push_str(
            "- Engine labels: **not checked** — this log does not say which engine copied the \
             bytes (it predates the byte accounting), so a DMA cell may include CPU fallback \
             copies.\n",
        );
    } else {
        let _ = writeln!(
            out,
            "- Engine labels: {counted} of {} cells report which engine copied the bytes; the \
             others are **not checked**.",
            all.len()
        );
    }
    // Logs from before the byte accounting still count the ops the CPU finished after DMA
    // failed; say so, even though their status can only be derived from `verified`.
    let lines: Vec<String> = all
        .iter()
        .filter(|c| {
            c.copied.is_none()
                && c.get(result::FALLBACK_OPS)
                    .and_then(|v| v.as_u64())
                    .is_some_and(|n| n > 0)
        })
        .map(|c| c.line.to_string())
        .collect();
    if !lines.is_empty() {
        let _ = writeln!(
            out,
            "- **Unchecked cells with `fallback_ops` > 0 (the CPU finished ops meant for DMA), \
             lines {}: their figures include CPU copies.**",
            lines.join(", ")
        );
    }
}

fn verification(out: &mut String, parsed: &Parsed) {
    if parsed.all_cells().is_empty() {
        out.push_str("**No RESULT lines were found in the log.**\n\n");
        return;
    }
    if parsed.apart.is_empty() {
        let degraded = parsed.with_status(Status::Degraded).len();
        let _ = writeln!(
            out,
            "All {} cells verified their data and are figures of their engine{}.\n",
            parsed.cells.len(),
            if degraded > 0 {
                format!(" ({degraded} degraded, marked †)")
            } else {
                String::new()
            }
        );
        return;
    }
    let _ = writeln!(
        out,
        "## ✗ Not figures of the named engine ({})\n",
        parsed.apart.len()
    );
    out.push_str(
        "These cells measured something other than their label says, or could not measure \
         it. They are not in the tables or plots below; the throughput is what the mix of \
         engines did, shown only to locate the problem.\n\n",
    );
    let body: Vec<Vec<String>> = parsed.apart.iter().map(apart_row).collect();
    let h = [
        "line",
        "exp",
        "engine",
        "mode",
        "folio",
        "folios",
        "T/ch",
        "nodes",
        "status",
        "fallback share",
        "bytes DMA / CPU / CPU after DMA failed",
        "measured GB/s",
        "why",
    ]
    .map(String::from);
    out.push_str(&tables::table(&h, &body));
    out.push('\n');
}

/// One row of the cells-apart table.
fn apart_row(c: &Cell) -> Vec<String> {
    let (share, bytes) = match &c.copied {
        Some(k) => (
            percent(k.share),
            format!("{} / {} / {}", k.dma, k.cpu, k.fallback),
        ),
        None => ("—".into(), "not reported".into()),
    };
    let mut why = match c.status {
        Status::VerificationFailed => {
            "`verified: false`: the data or the frame accounting did not check out".to_string()
        }
        Status::OutOfMemory => {
            "out of destination frames mid-run; every folio stayed where it was".to_string()
        }
        _ => format!(
            "the CPU copied {} of the bytes meant for DMA because DMA failed (limit {})",
            c.copied.as_ref().map_or("—".into(), |k| percent(k.share)),
            percent(INVALID_SHARE)
        ),
    };
    if let Some(logged) = c.logged_status.filter(|&s| s != c.status) {
        why.push_str(&format!(" (the line says `{}`)", logged.name()));
    }
    vec![
        c.line.to_string(),
        c.exp.clone(),
        c.engine.clone(),
        c.mode.clone(),
        size_label(c.folio_kib),
        c.folios.to_string(),
        c.width().to_string(),
        format!(
            "{}→{}",
            c.from.as_deref().unwrap_or("?"),
            c.to.as_deref().unwrap_or("?")
        ),
        c.status.name().to_string(),
        share,
        bytes,
        mean_sd(c.gbps_mean, c.gbps_stdev),
        why,
    ]
}

fn experiments(out: &mut String, parsed: &Parsed) {
    for exp in parsed.experiments() {
        let _ = writeln!(out, "## Experiment {exp}: {}\n", seed::describe(&exp));
        if seed::has_table(&exp) {
            let cells = tables::main_cells(parsed, &exp);
            if cells.is_empty() {
                out.push_str("Only raw-copy or per-folio cells; see the tables below.\n\n");
            }
            for group in tables::groups(&cells) {
                let place = group
                    .placement
                    .map(|p| format!(", placement {p}"))
                    .unwrap_or_default();
                let engines = group.engines.join("`, `");
                let _ = writeln!(out, "### {exp} — engine `{engines}`{place}\n");
                let _ = writeln!(
                    out,
                    "Each cell: ours mean ± sd | seed mean ± sd (GB/s) | ours as % of our \
                     raw-copy ceiling{}.\n",
                    if parsed.is_bare_metal() {
                        " | ours / seed"
                    } else {
                        ""
                    }
                );
                out.push_str(&tables::experiment_table(parsed, &exp, &group.cells));
                out.push('\n');
            }
            if exp == "3b" {
                if let Some(t) = tables::spread_fill_table(parsed) {
                    out.push_str("### 3a vs 3b: spread / fill throughput ratio\n\n");
                    out.push_str(&t);
                    out.push('\n');
                }
            }
        } else {
            let cells: Vec<_> = parsed.cells.iter().filter(|c| c.exp == exp).collect();
            out.push_str("The seed has no table for this experiment.\n\n");
            out.push_str(&tables::generic_table(parsed, &cells));
            out.push('\n');
        }
    }
}

fn extras(out: &mut String, parsed: &Parsed) {
    let raws: Vec<_> = parsed.cells.iter().filter(|c| c.is_raw()).collect();
    if !raws.is_empty() {
        out.push_str("## Raw-copy ceilings\n\n");
        out.push_str(
            "Plain copies of the same bytes by the same engine, with no migration around them: \
             the most a migration engine can reach in this run.\n\n",
        );
        out.push_str(&tables::generic_table(parsed, &raws));
        if let Some(best) = raws.iter().map(|c| c.gbps_mean).reduce(f64::max) {
            let _ = writeln!(out, "\nBest raw-copy throughput: {} GB/s.", gbps(best));
        }
        out.push('\n');
    }
    out.push_str(&crate::streams::tables(parsed));
    if let Some(t) = breakdown::per_folio_table(parsed) {
        out.push_str("## Per-folio vs batched\n\n");
        out.push_str("Same engine and coordinates, stock Linux order vs the RFC's batching.\n\n");
        out.push_str(&t);
        out.push('\n');
    }
    if let Some(t) = breakdown::phase_table(parsed) {
        out.push_str("## Phase breakdown\n\n");
        out.push_str("Share of the per-repetition time spent in each pipeline phase.\n\n");
        out.push_str(&t);
        out.push('\n');
    }
    if let Some(t) = breakdown::mmio_table(parsed) {
        out.push_str("## DMA register traffic\n\n");
        out.push_str(&t);
        out.push('\n');
    }
}

fn skipped(out: &mut String, parsed: &Parsed) {
    if parsed.skipped.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Skipped lines ({})\n", parsed.skipped.len());
    for s in &parsed.skipped {
        let _ = writeln!(out, "- line {}: {}", s.line, s.reason);
    }
    out.push('\n');
}
