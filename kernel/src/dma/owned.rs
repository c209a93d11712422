//! DMA only on frames the run holds: every op's source and destination must lie inside
//! one allocated data block of the frame allocator (`mm::frames::check_data_range`),
//! checked before any descriptor is written. On bare metal this is what stands between
//! a bug and a DMA engine writing over memory the kernel or firmware keeps.

use crate::mm::frames::{self, RangeError};
use ptdma::CopyOp;

/// A copy op whose range is not a frame the caller holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotOwned {
    /// Which side of the op: `"source"` or `"destination"`.
    pub side: &'static str,
    /// First byte of the refused range.
    pub addr: u64,
    /// Bytes.
    pub len: u64,
    /// What the range hits instead.
    pub error: RangeError,
}

impl core::fmt::Display for NotOwned {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "DMA refused: {} {:#x}+{:#x} is not a data frame this run holds ({})",
            self.side, self.addr, self.len, self.error
        )
    }
}

/// Checks every op's source and destination against the data frames the caller holds
/// (never the kernel image, page tables, descriptor rings, the heap, free frames or
/// firmware ranges).
///
/// # Errors
/// The first range that is not a held data frame.
pub fn check_owned(ops: &[CopyOp]) -> Result<(), NotOwned> {
    for op in ops {
        for (side, addr) in [
            ("source", op.src.as_u64()),
            ("destination", op.dst.as_u64()),
        ] {
            frames::check_data_range(addr, op.len).map_err(|error| NotOwned {
                side,
                addr,
                len: op.len,
                error,
            })?;
        }
    }
    Ok(())
}
