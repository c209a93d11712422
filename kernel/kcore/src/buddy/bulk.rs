//! Batch operations of [`BuddyZone`]: a migration batch takes all its destinations in one
//! call and gives all its sources back in one call.
//!
//! [`BuddyZone::alloc_bulk`] carves the blocks out of free blocks directly (a free 2 MiB block
//! becomes 512 allocated 4 KiB blocks by writing their heads, instead of 512 split-and-pop
//! rounds): the smallest free block that holds all that is left, else the largest, so a
//! single block costs what [`BuddyZone::alloc`] costs; only the remainder of the last block
//! goes back to the free lists.
//! [`BuddyZone::free_bulk`] checks every block before it changes anything and returns runs of
//! blocks that together form an aligned larger block as that block, so 512 consecutive 4 KiB
//! sources of a 2 MiB range are one release instead of 511 merges.

use super::{aligned, AllocError, BuddyZone, FreeError, State, MAX_ORDER, NIL};

impl BuddyZone<'_> {
    /// Free blocks of `order` the zone could hand out right now (free blocks of that order
    /// and the ones larger blocks split into), saturating at `u64::MAX`.
    pub fn available(&self, order: usize) -> u64 {
        if order > MAX_ORDER {
            return 0;
        }
        (order..=MAX_ORDER).fold(0u64, |n, o| {
            n.saturating_add(self.free_blocks[o].saturating_mul(1 << (o - order)))
        })
    }

    /// Allocates `count` blocks of 2^`order` frames with `tag` and hands each first PFN to
    /// `each` (in increasing address order within each carved block). All or nothing: when
    /// the zone cannot give `count` blocks, nothing changes and `each` is not called.
    ///
    /// # Errors
    /// [`AllocError::BadOrder`] above [`MAX_ORDER`], [`AllocError::OutOfMemory`] when fewer
    /// than `count` blocks of `order` are available (see [`Self::available`]).
    pub fn alloc_bulk(
        &mut self,
        order: usize,
        tag: u8,
        count: usize,
        mut each: impl FnMut(u64),
    ) -> Result<(), AllocError> {
        if order > MAX_ORDER {
            return Err(AllocError::BadOrder(order));
        }
        if self.available(order) < count as u64 {
            return Err(AllocError::OutOfMemory(order));
        }
        let mut left = count;
        while left > 0 {
            // The smallest free block that holds everything left (no split remainder for a
            // whole 2 MiB batch, an exact block for a single one), else the largest.
            let fits = (order..=MAX_ORDER)
                .find(|&o| self.free_head[o] != NIL && (1usize << (o - order)) >= left);
            let o = fits
                .or_else(|| {
                    (order..=MAX_ORDER)
                        .rev()
                        .find(|&o| self.free_head[o] != NIL)
                })
                .expect("available() counted enough free blocks");
            let idx = self.free_head[o];
            self.unlink(idx, o);
            let per = 1usize << (o - order);
            let take = left.min(per);
            for k in 0..take {
                let head = idx as usize + (k << order);
                let m = &mut self.meta[head];
                m.state = State::AllocHead;
                m.order = order as u8;
                m.tag = tag;
                each(self.base_pfn + head as u64);
            }
            // The rest of the carved block goes back as maximal aligned free blocks.
            let block_end = self.base_pfn + u64::from(idx) + (1u64 << o);
            let mut pfn = self.base_pfn + u64::from(idx) + ((take as u64) << order);
            while pfn < block_end {
                let piece = (order..o)
                    .rev()
                    .find(|&p| aligned(pfn, p) && pfn + (1 << p) <= block_end)
                    .unwrap_or(order);
                self.release(pfn, piece);
                pfn += 1 << piece;
            }
            left -= take;
        }
        let frames = (count as u64) << order;
        self.free_frames -= frames;
        self.used_frames += frames;
        self.live_blocks[order] += count as u64;
        self.alloc_total[order] += count as u64;
        Ok(())
    }

    /// Returns every block of 2^`order` frames headed by `pfns`. All or nothing: every PFN is
    /// checked (as [`Self::free`] does, duplicates included) before anything is freed.
    /// Consecutive PFNs that together form an aligned block of a larger order are released
    /// as that block.
    ///
    /// # Errors
    /// `(i, error)` for the first refused PFN `pfns[i]`; the zone is then unchanged.
    pub fn free_bulk(&mut self, pfns: &[u64], order: usize) -> Result<(), (usize, FreeError)> {
        self.free_bulk_by(pfns.len(), |i| pfns[i], order)
    }

    /// [`Self::free_bulk`] of `n` PFNs given by `pfn(i)` (no list needs building).
    ///
    /// # Errors
    /// As [`Self::free_bulk`].
    pub fn free_bulk_by(
        &mut self,
        n: usize,
        pfn: impl Fn(usize) -> u64,
        order: usize,
    ) -> Result<(), (usize, FreeError)> {
        // Claim: each head becomes a tail, so a duplicate is refused and a released
        // neighbour never merges with a block that is not freed yet.
        for i in 0..n {
            let p = pfn(i);
            let checked = match self.check_free(p, order) {
                // A head claimed earlier in this call reads as a tail now.
                Err(_) if (0..i).any(|k| pfn(k) == p) => Err(FreeError::DoubleFree(p)),
                other => other,
            };
            if let Err(e) = checked {
                for k in 0..i {
                    let idx = (pfn(k) - self.base_pfn) as usize;
                    self.meta[idx].state = State::AllocHead;
                }
                return Err((i, e));
            }
            let idx = (p - self.base_pfn) as usize;
            self.meta[idx].state = State::Tail;
        }
        let frames = (n as u64) << order;
        self.used_frames -= frames;
        self.free_frames += frames;
        self.live_blocks[order] -= n as u64;
        let mut i = 0;
        while i < n {
            // The largest aligned run of consecutive blocks starting at pfns[i].
            // Each doubling checks only the new half: the first half was checked before.
            let mut run = order;
            while run < MAX_ORDER {
                let span = 1usize << (run + 1 - order);
                let head = pfn(i);
                let fits = aligned(head, run + 1)
                    && i + span <= n
                    && (span / 2..span).all(|k| pfn(i + k) == head + ((k as u64) << order));
                if !fits {
                    break;
                }
                run += 1;
            }
            self.release(pfn(i), run);
            i += 1 << (run - order);
        }
        Ok(())
    }

    /// The checks of [`Self::free`], without changing anything.
    pub(super) fn check_free(&self, pfn: u64, order: usize) -> Result<(), FreeError> {
        if order > MAX_ORDER {
            return Err(FreeError::BadOrder(order));
        }
        if !aligned(pfn, order) {
            return Err(FreeError::Misaligned { pfn, order });
        }
        let idx = match self.index(pfn) {
            Some(i) if self.contains(pfn + (1 << order) - 1) => i,
            _ => return Err(FreeError::OutOfZone(pfn)),
        };
        let m = self.meta[idx];
        match m.state {
            State::Reserved => Err(FreeError::NotAllocated(pfn)),
            State::FreeHead => Err(FreeError::DoubleFree(pfn)),
            State::Tail => Err(self.classify_tail(pfn)),
            State::AllocHead if usize::from(m.order) != order => Err(FreeError::WrongOrder {
                pfn,
                order,
                allocated: usize::from(m.order),
            }),
            State::AllocHead => Ok(()),
        }
    }
}
