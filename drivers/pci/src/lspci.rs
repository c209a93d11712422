//! One-line `lspci`-style summaries of [`PciFunction`]s for the boot log.
//!
//! Format: `BB:DD.F VVVV:DDDD class CC.SS.PP` followed by every implemented BAR as
//! `BARn kind[ pref] 0xADDR [size S]`, e.g.
//! `00:03.0 1022:1498 class 10.80.00 BAR2 mem32 0xfea00000 [size 1M]`.
//! A non-zero segment is printed as a `SSSS:` prefix.

use crate::bar::BarKind;
use crate::enumerate::PciFunction;
use core::fmt;

/// Returns a value whose `Display` is the one-line summary of `function`.
pub fn lspci_line(function: &PciFunction) -> impl fmt::Display + '_ {
    LspciLine(function)
}

struct LspciLine<'a>(&'a PciFunction);

/// Size with a binary suffix when it is an exact multiple (1K, 16M, 4G), else in bytes.
struct Size(u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 4] = [
            (1 << 40, "T"),
            (1 << 30, "G"),
            (1 << 20, "M"),
            (1 << 10, "K"),
        ];
        for (unit, suffix) in UNITS {
            if self.0 >= unit && self.0 & (unit - 1) == 0 {
                return write!(f, "{}{}", self.0 / unit, suffix);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for LspciLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let func = self.0;
        let a = func.address;
        if a.segment() != 0 {
            write!(f, "{:04x}:", a.segment())?;
        }
        write!(
            f,
            "{:02x}:{:02x}.{} {:04x}:{:04x} class {:02x}.{:02x}.{:02x}",
            a.bus(),
            a.device(),
            a.function(),
            func.vendor,
            func.device,
            func.class,
            func.subclass,
            func.prog_if
        )?;
        for bar in func.bars.iter().flatten() {
            let kind = match bar.kind {
                BarKind::Mem32 => "mem32",
                BarKind::Mem64 => "mem64",
                BarKind::Io => "io",
            };
            let pref = if bar.prefetchable { " pref" } else { "" };
            write!(f, " BAR{} {}{} {:#x}", bar.index, kind, pref, bar.address)?;
            if bar.size != 0 {
                write!(f, " [size {}]", Size(bar.size))?;
            }
        }
        Ok(())
    }
}
