//! Choice of TLB invalidation after a batch of unmaps (SDM Vol. 3A §4.10.4.1).
//!
//! `invlpg` removes the TLB entry of the page containing an address whatever that page's size,
//! so one per 2 MiB leaf is enough, while a small folio needs one per 4 KiB PTE. `invlpg` also
//! drops every paging-structure-cache entry of the current PCID. Past some count, reloading
//! CR3 (a full flush of non-global entries; leaves here are never global) is cheaper; Linux uses
//! the same cut-off idea (`tlb_single_page_flush_ceiling`, 33 pages).

use alloc::vec::Vec;

use super::{HUGE_ORDER, MAX_ORDER, PAGE_SIZE};

/// Default largest number of `invlpg`s before a full flush is preferred.
pub const DEFAULT_FLUSH_THRESHOLD: usize = 32;

/// How to invalidate the TLB after a batch of unmaps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlushPlan {
    /// Execute `invlpg` on each address (empty: nothing to flush).
    Pages(Vec<u64>),
    /// Reload CR3.
    Full,
}

impl FlushPlan {
    /// Plans the flush for folios `(va, order)` just unmapped: per-page `invlpg` while the
    /// number of invalidations is at most `threshold`, else a full flush. An order above
    /// [`MAX_ORDER`] cannot be planned per page, so it forces a full flush.
    pub fn for_unmapped(unmapped: &[(u64, u8)], threshold: usize) -> Self {
        let mut count = 0usize;
        for &(_, order) in unmapped {
            match invalidations(order) {
                Some(n) => count = count.saturating_add(n),
                None => return Self::Full,
            }
            // Stop early so a huge batch does not have to be walked twice.
            if count > threshold {
                return Self::Full;
            }
        }
        let mut pages = Vec::with_capacity(count);
        for &(va, order) in unmapped {
            let base = va & !(PAGE_SIZE - 1);
            if order == HUGE_ORDER {
                pages.push(base);
            } else {
                pages.extend((0..1u64 << order).map(|i| base.wrapping_add(i * PAGE_SIZE)));
            }
        }
        Self::Pages(pages)
    }

    /// Number of `invlpg`s this plan executes (0 for a full flush).
    pub fn invlpg_count(&self) -> usize {
        match self {
            Self::Pages(pages) => pages.len(),
            Self::Full => 0,
        }
    }
}

/// `invlpg`s needed for a folio of `order`: one per 4 KiB PTE, one for a 2 MiB leaf.
fn invalidations(order: u8) -> Option<usize> {
    match order {
        HUGE_ORDER => Some(1),
        o if o < MAX_ORDER => Some(1 << o),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn empty_batch_flushes_nothing() {
        assert_eq!(FlushPlan::for_unmapped(&[], 32), FlushPlan::Pages(vec![]));
    }

    #[test]
    fn small_folio_gets_one_invlpg_per_page() {
        let plan = FlushPlan::for_unmapped(&[(0x40_0000, 2)], 32);
        assert_eq!(
            plan,
            FlushPlan::Pages(vec![0x40_0000, 0x40_1000, 0x40_2000, 0x40_3000])
        );
    }

    #[test]
    fn huge_folio_gets_one_invlpg() {
        let batch = [(0x20_0000, 9), (0x40_0000, 9), (0x60_0000, 0)];
        let plan = FlushPlan::for_unmapped(&batch, 32);
        assert_eq!(
            plan,
            FlushPlan::Pages(vec![0x20_0000, 0x40_0000, 0x60_0000])
        );
        assert_eq!(plan.invlpg_count(), 3);
    }

    #[test]
    fn threshold_is_inclusive() {
        // 32 pages exactly: still per page; 33: full.
        let at = [(0x10_0000, 5)];
        assert_eq!(FlushPlan::for_unmapped(&at, 32).invlpg_count(), 32);
        let over = [(0x10_0000, 5), (0x20_0000, 0)];
        assert_eq!(FlushPlan::for_unmapped(&over, 32), FlushPlan::Full);
    }

    #[test]
    fn order_8_exceeds_default_threshold() {
        assert_eq!(
            FlushPlan::for_unmapped(&[(0, 8)], DEFAULT_FLUSH_THRESHOLD),
            FlushPlan::Full
        );
    }

    #[test]
    fn many_huge_leaves_force_full_flush() {
        let batch: Vec<(u64, u8)> = (0..40).map(|i| (i << 21, 9)).collect();
        assert_eq!(FlushPlan::for_unmapped(&batch, 32), FlushPlan::Full);
        assert_eq!(FlushPlan::for_unmapped(&batch, 40).invlpg_count(), 40);
    }

    #[test]
    fn bad_order_forces_full_flush() {
        assert_eq!(FlushPlan::for_unmapped(&[(0, 10)], 1000), FlushPlan::Full);
        assert_eq!(
            FlushPlan::for_unmapped(&[(0, 255)], usize::MAX),
            FlushPlan::Full
        );
    }

    #[test]
    fn zero_threshold_always_full_unless_empty() {
        assert_eq!(FlushPlan::for_unmapped(&[(0x1000, 0)], 0), FlushPlan::Full);
        assert_eq!(FlushPlan::for_unmapped(&[], 0), FlushPlan::Pages(vec![]));
    }

    #[test]
    fn unaligned_address_is_rounded_down_to_its_page() {
        let plan = FlushPlan::for_unmapped(&[(0x5123, 0)], 32);
        assert_eq!(plan, FlushPlan::Pages(vec![0x5000]));
    }
}
