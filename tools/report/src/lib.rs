//! `report`: turns a foliomove kernel serial log into `results.csv`, `results.json`,
//! `report.md` (our tables beside the seed RFC's numbers) and PNG/SVG plots.
//!
//! Design: parsing never panics and never drops a line silently — every unusable
//! `RESULT`/`RUN` line is returned with its line number and reason. Emulated runs are labelled
//! as such everywhere; their absolute numbers are never compared with the seed's hardware.
//! A cell whose named engine did not do the work (status `invalid`), that ran out of memory or
//! failed verification is not a figure: it is listed apart and never plotted or tabled.
//! Modules: `parse` (log -> model), `model`, `status` (what a figure is worth), `seed` (the
//! RFC's tables), `csv` (CSV + JSON),
//! `tables` + `breakdown` + `markdown` (report.md), `plots` (what to plot) + `draw`,
//! `frontier` (bench=frontier's plots, with the copy ceiling drawn as a line), `streams`
//! (bench=streams and bench=appcost: per-set tables, throughput/fairness/slowdown plots),
//! `registry` (kcore's benchmark registry and exit-code table as text for `run-qemu.sh`).

pub mod breakdown;
pub mod csv;
pub mod draw;
pub mod frontier;
pub mod markdown;
pub mod model;
pub mod parse;
pub mod plots;
pub mod registry;
pub mod seed;
pub mod status;
pub mod streams;
pub mod tables;

use model::Parsed;
use std::path::{Path, PathBuf};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `results.csv`.
    Csv,
    /// `results.json`.
    Json,
    /// `report.md`.
    Md,
    /// Plots as PNG.
    Png,
    /// Plots as SVG.
    Svg,
}

/// Every output format.
pub const ALL_FORMATS: [Format; 5] = [
    Format::Csv,
    Format::Json,
    Format::Md,
    Format::Png,
    Format::Svg,
];

/// The report's default title.
pub const DEFAULT_TITLE: &str = "foliomove: page migration results";

/// What the `report` binary does with a log already read: [`generate`], then print the skipped
/// lines (stderr), one summary line (stdout) and the verdict's problems (stderr). Returns the
/// exit code: 0 when the verdict passes, 1 when it does not, 2 when files cannot be written.
pub fn generate_and_tell(
    log: &[u8],
    source: &str,
    out: &Path,
    formats: &[Format],
    title: &str,
) -> u8 {
    let outcome = match generate(log, source, out, formats, title) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("report: {e}");
            return 2;
        }
    };
    let p = &outcome.parsed;
    for s in &p.skipped {
        eprintln!("report: {source}:{}: skipped: {}", s.line, s.reason);
    }
    println!(
        "report: {} cells ({} not figures of their engine), {} skipped line(s), {} file(s) \
         written to {}",
        p.all_cells().len(),
        p.apart.len(),
        p.skipped.len(),
        outcome.written.len(),
        out.display()
    );
    match verdict(p) {
        Ok(()) => 0,
        Err(problems) => {
            for msg in problems {
                eprintln!("report: {msg}");
            }
            1
        }
    }
}

/// What [`generate`] did.
#[derive(Debug)]
pub struct Outcome {
    /// The parsed log.
    pub parsed: Parsed,
    /// Files written, in order.
    pub written: Vec<PathBuf>,
}

fn write(path: PathBuf, bytes: &[u8], written: &mut Vec<PathBuf>) -> Result<(), String> {
    std::fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    written.push(path);
    Ok(())
}

/// Parses `log` and writes the requested formats into `out`. `Err` only for I/O problems.
pub fn generate(
    log: &[u8],
    source: &str,
    out: &Path,
    formats: &[Format],
    title: &str,
) -> Result<Outcome, String> {
    let parsed = parse::parse_log(log);
    std::fs::create_dir_all(out)
        .map_err(|e| format!("cannot create output directory {}: {e}", out.display()))?;
    let mut written = Vec::new();
    let want = |f: Format| formats.contains(&f);
    if want(Format::Csv) {
        write(
            out.join("results.csv"),
            csv::to_csv(&parsed).as_bytes(),
            &mut written,
        )?;
    }
    if want(Format::Json) {
        let text = csv::to_json(&parsed, source);
        write(out.join("results.json"), text.as_bytes(), &mut written)?;
    }
    let mut captions = Vec::new();
    for plot in plots::plots(&parsed) {
        if want(Format::Png) {
            let bytes = plots::render_png(&plot.chart)?;
            write(out.join(format!("{}.png", plot.stem)), &bytes, &mut written)?;
        }
        if want(Format::Svg) {
            let path = out.join(format!("{}.svg", plot.stem));
            plots::write_svg(&plot.chart, &path)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            written.push(path);
        }
        let ext = if want(Format::Png) { "png" } else { "svg" };
        if want(Format::Png) || want(Format::Svg) {
            captions.push((format!("{}.{ext}", plot.stem), plot.caption));
        }
    }
    if want(Format::Md) {
        let ctx = markdown::Context {
            title: title.to_string(),
            source: source.to_string(),
            plots: captions,
        };
        let text = markdown::render(&parsed, &ctx);
        write(out.join("report.md"), text.as_bytes(), &mut written)?;
    }
    Ok(Outcome { parsed, written })
}

/// Exit status for a parsed log: 1 with the reasons if it has no cells, or cells that are not
/// figures of their engine (unverified, invalid, out of memory). Degraded cells are figures.
pub fn verdict(parsed: &Parsed) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    if parsed.all_cells().is_empty() {
        problems.push("the log has no valid RESULT lines".to_string());
    }
    for c in &parsed.apart {
        let what = match c.status {
            status::Status::VerificationFailed => "has verified: false".to_string(),
            status::Status::OutOfMemory => {
                "ran out of memory mid-run (status out-of-memory)".to_string()
            }
            s => format!(
                "is not a figure of engine {}: status {}, the CPU copied {} of the bytes meant \
                 for DMA because DMA failed",
                c.engine,
                s.name(),
                c.copied
                    .as_ref()
                    .map_or("an unreported share".into(), |k| status::percent(k.share))
            ),
        };
        problems.push(format!(
            "line {}: cell exp {} engine {} mode {} folio {} KiB x {} (threads {}, channels {}) \
             {what}",
            c.line, c.exp, c.engine, c.mode, c.folio_kib, c.folios, c.threads, c.channels
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
