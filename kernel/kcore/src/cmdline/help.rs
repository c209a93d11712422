//! The `help` text: every key with its default and what it accepts, then every
//! benchmark `bench=` accepts (from [`crate::bench::BENCHES`]).

use super::{ValueKind, KEYS};
use crate::bench::{DmaUse, ALL_WORD, BENCHES};
use core::fmt;

/// Writes the `help` text: one line per key with its default and what it accepts, then
/// one line per benchmark.
///
/// # Errors
/// Whatever `out` returns.
pub fn write_help(out: &mut impl fmt::Write) -> fmt::Result {
    writeln!(
        out,
        "foliomove kernel command line: key=value tokens separated by spaces"
    )?;
    for k in KEYS {
        write!(out, "  {:<10} default {:<4} {}", k.name, k.default, k.help)?;
        if let ValueKind::Choice(words) = k.kind {
            write!(out, " [{}]", words.join("|"))?;
        }
        writeln!(out)?;
    }
    writeln!(out, "benchmarks (bench=NAME,NAME,... or bench={ALL_WORD}):")?;
    for b in BENCHES {
        let dma = match b.dma {
            DmaUse::Required => " [needs DMA]",
            DmaUse::Optional | DmaUse::None => "",
        };
        writeln!(out, "  {:<10} {}{dma}", b.bench.name(), b.summary)?;
    }
    Ok(())
}
