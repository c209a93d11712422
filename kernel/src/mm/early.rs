//! A bump allocator of 4 KiB frames for the kernel's page tables, carved from usable
//! RAM below 4 GiB before the buddy allocator exists. Its whole region stays reserved
//! afterwards (the tables live for ever).

use super::error::MmError;
use kcore::numa::NumaLayout;
use x86_64::structures::paging::{FrameAllocator, PhysFrame, Size4KiB};
use x86_64::PhysAddr;

/// Bytes set aside: with 2 MiB pages one table per GiB of RAM plus the image's 4 KiB
/// tables fits many times over for a 1 TiB machine with 1 GiB pages.
const EARLY_BYTES: u64 = 2 << 20;

/// The early frame region and its cursor.
#[derive(Debug)]
pub struct EarlyFrames {
    start: u64,
    end: u64,
    next: u64,
}

impl EarlyFrames {
    /// Finds `EARLY_BYTES` of usable RAM below 4 GiB, clear of `reserved`.
    ///
    /// # Errors
    /// [`MmError::NoEarlyRegion`] when no node has a 2 MiB-aligned run of `EARLY_BYTES`
    /// (2 MiB) of usable RAM below `arch::BOOT_IDENTITY_LIMIT` that avoids every `reserved` range.
    pub fn carve(numa: &NumaLayout, reserved: &[(u64, u64)]) -> Result<Self, MmError> {
        let limit = crate::arch::BOOT_IDENTITY_LIMIT;
        for node in &numa.nodes {
            for &(s, e) in &node.ranges {
                let (s, e) = (align_up(s, 2 << 20), e.min(limit) & !0xfff);
                let mut cand = s;
                while cand + EARLY_BYTES <= e {
                    let hit = reserved
                        .iter()
                        .find(|&&(rs, re)| rs < cand + EARLY_BYTES && cand < re);
                    match hit {
                        None => {
                            return Ok(Self {
                                start: cand,
                                end: cand + EARLY_BYTES,
                                next: cand,
                            })
                        }
                        Some(&(_, re)) => cand = align_up(re, 2 << 20),
                    }
                }
            }
        }
        Err(MmError::NoEarlyRegion)
    }

    /// The whole region, used or not.
    pub fn range(&self) -> (u64, u64) {
        (self.start, self.end)
    }

    /// Frames handed out so far.
    pub fn used(&self) -> u64 {
        (self.next - self.start) / 4096
    }
}

// SAFETY: each frame is handed out once, lies in usable RAM reserved from every other
// allocator, and is zeroed before it is returned.
unsafe impl FrameAllocator<Size4KiB> for EarlyFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        if self.next + 4096 > self.end {
            return None;
        }
        let frame = self.next;
        self.next += 4096;
        // SAFETY: the frame is RAM below 4 GiB (identity mapped) owned by this allocator.
        unsafe { core::ptr::write_bytes(frame as *mut u8, 0, 4096) };
        Some(PhysFrame::containing_address(PhysAddr::new(frame)))
    }
}

/// Rounds `x` up to a multiple of the power of two `a`.
pub fn align_up(x: u64, a: u64) -> u64 {
    (x + a - 1) & !(a - 1)
}
