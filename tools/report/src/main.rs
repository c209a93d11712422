//! `report [OPTIONS] <LOG|->`: the command-line front of the `report` library.
//!
//! Exit codes: 0 all good; 1 the log has no RESULT lines, or a cell is not a figure of its
//! engine (`verified: false`, status `invalid` or `out-of-memory`; outputs are still
//! written); 2 bad usage or an I/O error.

use clap::{Parser, ValueEnum};
use report::Format;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

/// Output formats as spelled on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Fmt {
    Csv,
    Json,
    Md,
    Png,
    Svg,
}

impl From<Fmt> for Format {
    fn from(f: Fmt) -> Self {
        match f {
            Fmt::Csv => Format::Csv,
            Fmt::Json => Format::Json,
            Fmt::Md => Format::Md,
            Fmt::Png => Format::Png,
            Fmt::Svg => Format::Svg,
        }
    }
}

/// Turn a foliomove serial log into CSV, JSON, a markdown report beside the seed RFC's
/// numbers, and plots.
#[derive(Debug, Parser)]
#[command(name = "report", version)]
struct Args {
    /// Kernel serial log, or `-` for standard input.
    log: String,
    /// Output directory (created if missing).
    #[arg(long, default_value = "out/report")]
    out: PathBuf,
    /// Comma-separated formats to write.
    #[arg(long, value_delimiter = ',', default_value = "csv,json,md,png,svg")]
    formats: Vec<Fmt>,
    /// Title of report.md.
    #[arg(long, default_value = report::DEFAULT_TITLE)]
    title: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let bytes = if args.log == "-" {
        let mut buf = Vec::new();
        if let Err(e) = std::io::stdin().read_to_end(&mut buf) {
            eprintln!("report: cannot read standard input: {e}");
            return ExitCode::from(2);
        }
        buf
    } else {
        match std::fs::read(&args.log) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("report: cannot read {}: {e}", args.log);
                return ExitCode::from(2);
            }
        }
    };
    let source = if args.log == "-" {
        "<stdin>"
    } else {
        &args.log
    };
    let formats: Vec<Format> = args.formats.iter().map(|&f| f.into()).collect();
    ExitCode::from(report::generate_and_tell(
        &bytes,
        source,
        &args.out,
        &formats,
        &args.title,
    ))
}
