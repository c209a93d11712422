//! `report.md`: where the run executed (with a loud warning for emulated runs), verification,
//! one section per experiment with our numbers beside the seed's, per-folio vs batched, phase
//! breakdown, DMA register traffic, plots, and the skipped lines.
//!
//! Rule: an emulator's absolute numbers are never compared with the seed's hardware numbers;
//! the seed column is for shape only and the `ours/seed` column exists only on bare metal.

use crate::breakdown;
use crate::model::{accel_label, Parsed};
use crate::seed;
use crate::tables::{self, gbps};
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
    let _ = writeln!(
        out,
        "Source: `{}` — {} lines, {} RESULT cells, {} skipped line(s).\n",
        ctx.source,
        parsed.lines,
        parsed.cells.len(),
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
        text("topology").unwrap_or_else(|| "not reported".into())
    );
    if let Some(f) = text("features") {
        let _ = writeln!(out, "- Hardware paths: {f}");
    }
    if let Some(h) = text("host").filter(|h| h != "none") {
        let _ = writeln!(out, "- Host: {h}");
    }
    let has_dma = parsed.cells.iter().any(|c| c.engine.contains("dma"));
    match text("ptdma_profile") {
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
    match run {
        Some(_) => {
            let parts: Vec<String> = ["cells", "failures", "elapsed_s", "status"]
                .iter()
                .filter_map(|k| text(k).map(|v| format!("{k} {v}")))
                .collect();
            let _ = writeln!(out, "- Run summary (RUN line): {}", parts.join(", "));
        }
        None => out.push_str("- Run summary: **no RUN line** (the run may not have finished)\n"),
    }
    if let Some(r) = run {
        let failures = r.raw.get("failures").and_then(|v| v.as_u64()).unwrap_or(0);
        let status = text("status");
        if failures > 0 || status.as_deref().is_some_and(|s| s != "ok") {
            let _ = writeln!(
                out,
                "- **The run did not finish cleanly: status {}, {failures} failure(s).**",
                status.as_deref().unwrap_or("not reported")
            );
        }
        if let Some(n) = r.raw.get("cells").and_then(|v| v.as_u64()) {
            if n != parsed.cells.len() as u64 {
                let _ = writeln!(
                    out,
                    "- **The RUN line counts {n} cells but the log has {} valid RESULT lines.**",
                    parsed.cells.len()
                );
            }
        }
    }
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

fn verification(out: &mut String, parsed: &Parsed) {
    let bad = parsed.unverified();
    if bad.is_empty() {
        if !parsed.cells.is_empty() {
            let _ = writeln!(
                out,
                "All {} cells verified their data.\n",
                parsed.cells.len()
            );
        } else {
            out.push_str("**No RESULT lines were found in the log.**\n\n");
        }
        return;
    }
    let _ = writeln!(out, "## ✗ Verification failures\n");
    for c in bad {
        let _ = writeln!(
            out,
            "- line {}: exp {} engine {} mode {} folio {} KiB × {} (threads {}, channels {}) — \
             `verified: false`",
            c.line, c.exp, c.engine, c.mode, c.folio_kib, c.folios, c.threads, c.channels
        );
    }
    out.push('\n');
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
