//! The `help` text: every key with its default and what it accepts.

use super::KEYS;
use core::fmt;

/// Writes the `help` text: one line per key with its default and what it accepts.
pub fn write_help(out: &mut impl fmt::Write) -> fmt::Result {
    writeln!(
        out,
        "foliomove kernel command line: key=value tokens separated by spaces"
    )?;
    for k in KEYS {
        writeln!(out, "  {:<10} default {:<4} {}", k.name, k.default, k.help)?;
    }
    Ok(())
}
