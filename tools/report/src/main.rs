//! `report [OPTIONS] <LOG|->`: the command-line front of the `report` library.
//! `report --list-benches` and `report --exit-codes` print kcore's benchmark registry and
//! exit-code table for `run-qemu.sh` (tab-separated, one entry a line).
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
    #[arg(required_unless_present_any = ["list_benches", "exit_codes"])]
    log: Option<String>,
    /// Print every benchmark `bench=` accepts and exit: name, DMA need (`-`, `optional`,
    /// `required`), `seed` when the seed RFC has a table for it, summary; tab-separated.
    #[arg(long, conflicts_with = "exit_codes")]
    list_benches: bool,
    /// Print the exit-code table and exit: QEMU status (`-` for runner-only codes),
    /// run-qemu.sh exit code, name, meaning; tab-separated.
    #[arg(long)]
    exit_codes: bool,
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
    if args.list_benches {
        print!("{}", report::registry::benches());
        return ExitCode::SUCCESS;
    }
    if args.exit_codes {
        print!("{}", report::registry::exit_codes());
        return ExitCode::SUCCESS;
    }
    let Some(log) = args.log else {
        eprintln!("report: a log file (or -) is required");
        return ExitCode::from(2);
    };
    let bytes = if log == "-" {
        let mut buf = Vec::new();
        if let Err(e) = std::io::stdin().read_to_end(&mut buf) {
            eprintln!("report: cannot read standard input: {e}");
            return ExitCode::from(2);
        }
        buf
    } else {
        match std::fs::read(&log) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("report: cannot read {}: {e}", log);
                return ExitCode::from(2);
            }
        }
    };
    let source = if log == "-" { "<stdin>" } else { &log };
    let formats: Vec<Format> = args.formats.iter().map(|&f| f.into()).collect();
    ExitCode::from(report::generate_and_tell(
        &bytes,
        source,
        &args.out,
        &formats,
        &args.title,
    ))
}
