//! Buddy allocator of physical frames for one NUMA node (DESIGN.md §3).
//!
//! Blocks are naturally aligned in *physical* frame numbers and have orders 0..=[`MAX_ORDER`]
//! (4 KiB..2 MiB), so every Linux mTHP folio size exists as a real aligned physical block.
//!
//! - [`FrameMeta`]: 12 bytes per 4 KiB frame, in a slice the caller provides (the kernel carves
//!   it from early memory, tests use a `Vec`); size it with [`meta_len_for`].
//! - [`BuddyZone`]: one node's PFN range `[base_pfn, base_pfn + meta.len())`, holes allowed.
//!   Free lists are intrusive, doubly linked through the metadata by `u32` index, so allocation
//!   and free touch O(1) entries per order.
//!
//! Every frame of the zone is in exactly one state: *reserved* (a hole, firmware, or never
//! given to the zone), *head* of a free or allocated block (which records the block's order), or
//! *tail* (inside a block whose head is elsewhere). Merging turns the buddy's head into a tail;
//! splitting turns the new half's first frame into a head. Because heads are always exact,
//! [`BuddyZone::free`] can reject double frees, wrong orders and foreign frames before it
//! changes anything.

mod bulk;
mod error;

pub use error::{AllocError, FreeError, InitError, InvariantError, RangeError};

/// Largest block order: 2^9 frames = 2 MiB.
pub const MAX_ORDER: usize = 9;
/// Number of orders, 0..=MAX_ORDER.
pub const ORDERS: usize = MAX_ORDER + 1;
/// End-of-list marker for the intrusive lists.
const NIL: u32 = u32::MAX;

/// What a frame currently is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Not managed: a hole, or memory never handed to the zone.
    Reserved,
    /// Inside a free or allocated block, not its first frame.
    Tail,
    /// First frame of a free block on the free list of `order`.
    FreeHead,
    /// First frame of an allocated block of `order`.
    AllocHead,
}

/// Per-frame metadata (12 bytes): free-list links plus state and block order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameMeta {
    next: u32,
    prev: u32,
    state: State,
    order: u8,
    /// What the owner said the block is for (on an allocated head; see
    /// [`BuddyZone::alloc_tagged`]).
    tag: u8,
}

impl FrameMeta {
    /// A reserved frame: the state every zone starts in.
    pub const FREE_INIT: Self = Self {
        next: NIL,
        prev: NIL,
        state: State::Reserved,
        order: 0,
        tag: 0,
    };
}

impl Default for FrameMeta {
    fn default() -> Self {
        Self::FREE_INIT
    }
}

/// Metadata bytes per frame (the budget is 16).
pub const META_BYTES_PER_FRAME: usize = core::mem::size_of::<FrameMeta>();
const _: () = assert!(META_BYTES_PER_FRAME <= 16, "frame metadata over budget");

/// Whether `pfn` is a multiple of 2^`order` (natural alignment of a block of that order).
fn aligned(pfn: u64, order: usize) -> bool {
    pfn & ((1u64 << order) - 1) == 0
}

/// Number of [`FrameMeta`] entries a zone of `nframes` frames needs (one per frame, holes
/// included), or `None` if that many frames cannot be indexed by `u32`.
pub fn meta_len_for(nframes: u64) -> Option<usize> {
    if nframes >= u64::from(NIL) {
        return None;
    }
    usize::try_from(nframes).ok()
}

/// The buddy allocator of one NUMA node's frames.
pub struct BuddyZone<'a> {
    node: u32,
    base_pfn: u64,
    meta: &'a mut [FrameMeta],
    free_head: [u32; ORDERS],
    free_blocks: [u64; ORDERS],
    live_blocks: [u64; ORDERS],
    alloc_total: [u64; ORDERS],
    free_frames: u64,
    used_frames: u64,
}

impl<'a> BuddyZone<'a> {
    /// A zone for `node` over `[base_pfn, base_pfn + meta.len())`; every frame starts reserved
    /// (the caller's slice is reset), so add usable memory with [`Self::add_free_range`].
    ///
    /// # Errors
    /// [`InitError::TooManyFrames`] when `meta` has 2^32 − 1 entries or more (links are `u32`
    /// indices); [`InitError::PfnOverflow`] when `base_pfn + meta.len()` overflows `u64`. The
    /// slice is untouched then.
    pub fn new(node: u32, base_pfn: u64, meta: &'a mut [FrameMeta]) -> Result<Self, InitError> {
        if meta_len_for(meta.len() as u64).is_none() {
            return Err(InitError::TooManyFrames(meta.len()));
        }
        if base_pfn.checked_add(meta.len() as u64).is_none() {
            return Err(InitError::PfnOverflow);
        }
        meta.fill(FrameMeta::FREE_INIT);
        Ok(Self {
            node,
            base_pfn,
            meta,
            free_head: [NIL; ORDERS],
            free_blocks: [0; ORDERS],
            live_blocks: [0; ORDERS],
            alloc_total: [0; ORDERS],
            free_frames: 0,
            used_frames: 0,
        })
    }

    /// NUMA node this zone belongs to.
    pub fn node(&self) -> u32 {
        self.node
    }

    /// First PFN covered by the zone.
    pub fn base_pfn(&self) -> u64 {
        self.base_pfn
    }

    /// Number of frames covered, holes included.
    pub fn span(&self) -> u64 {
        self.meta.len() as u64
    }

    /// Whether `pfn` lies in the zone's span (it may still be a reserved hole).
    pub fn contains(&self, pfn: u64) -> bool {
        pfn >= self.base_pfn && pfn - self.base_pfn < self.span()
    }

    /// Frames currently free.
    pub fn free_frames(&self) -> u64 {
        self.free_frames
    }

    /// Frames currently allocated.
    pub fn frames_in_use(&self) -> u64 {
        self.used_frames
    }

    /// Frames the zone manages (free + allocated).
    pub fn managed_frames(&self) -> u64 {
        self.free_frames + self.used_frames
    }

    /// Free blocks on the list of `order` (0 for orders above [`MAX_ORDER`]).
    pub fn free_blocks(&self, order: usize) -> u64 {
        self.free_blocks.get(order).copied().unwrap_or(0)
    }

    /// Blocks of `order` currently allocated.
    pub fn live_blocks(&self, order: usize) -> u64 {
        self.live_blocks.get(order).copied().unwrap_or(0)
    }

    /// Successful allocations of `order` since the zone was created.
    pub fn alloc_total(&self, order: usize) -> u64 {
        self.alloc_total.get(order).copied().unwrap_or(0)
    }

    /// Order of the allocated block headed by `pfn`, if `pfn` heads one.
    pub fn allocated_order(&self, pfn: u64) -> Option<usize> {
        let m = self.meta.get(self.index(pfn)?)?;
        (m.state == State::AllocHead).then_some(usize::from(m.order))
    }

    /// The allocated block containing `pfn`: `(head pfn, order, tag)`, or `None` when
    /// `pfn` is free, reserved or outside the zone.
    pub fn block_of(&self, pfn: u64) -> Option<(u64, usize, u8)> {
        (0..=MAX_ORDER).find_map(|o| {
            let head = pfn & !((1u64 << o) - 1);
            let m = self.meta.get(self.index(head)?)?;
            (m.state == State::AllocHead && pfn - head < (1u64 << m.order)).then_some((
                head,
                usize::from(m.order),
                m.tag,
            ))
        })
    }

    /// Hands the reserved frames `[start_pfn, end_pfn)` to the allocator as maximal naturally
    /// aligned blocks, merging with free neighbours. Returns the number of frames added.
    ///
    /// # Errors
    /// Nothing changes on error: [`RangeError::Empty`] when `start_pfn >= end_pfn`;
    /// [`RangeError::OutOfZone`] when the first or last PFN is outside the zone;
    /// [`RangeError::AlreadyManaged`] with the first PFN of the range that is already free or
    /// allocated.
    pub fn add_free_range(&mut self, start_pfn: u64, end_pfn: u64) -> Result<u64, RangeError> {
        if start_pfn >= end_pfn {
            return Err(RangeError::Empty {
                start: start_pfn,
                end: end_pfn,
            });
        }
        if !self.contains(start_pfn) || !self.contains(end_pfn - 1) {
            return Err(RangeError::OutOfZone {
                start: start_pfn,
                end: end_pfn,
            });
        }
        let (lo, hi) = (
            (start_pfn - self.base_pfn) as usize,
            (end_pfn - self.base_pfn) as usize,
        );
        // Check everything first so a refused range changes nothing.
        if let Some(i) = self.meta[lo..hi]
            .iter()
            .position(|m| m.state != State::Reserved)
        {
            return Err(RangeError::AlreadyManaged(start_pfn + i as u64));
        }
        for m in &mut self.meta[lo..hi] {
            m.state = State::Tail;
        }
        let mut pfn = start_pfn;
        while pfn < end_pfn {
            let order = (0..=MAX_ORDER)
                .rev()
                .find(|&o| aligned(pfn, o) && pfn.checked_add(1 << o).is_some_and(|e| e <= end_pfn))
                .unwrap_or(0);
            self.free_frames += 1 << order;
            self.release(pfn, order);
            pfn += 1 << order;
        }
        Ok(end_pfn - start_pfn)
    }

    /// Allocates a naturally aligned block of 2^`order` frames with tag 0; returns its
    /// first PFN.
    ///
    /// # Errors
    /// [`AllocError::BadOrder`] above [`MAX_ORDER`], [`AllocError::OutOfMemory`] when no
    /// free block of that order or larger is left.
    pub fn alloc(&mut self, order: usize) -> Result<u64, AllocError> {
        self.alloc_tagged(order, 0)
    }

    /// Allocates like [`Self::alloc`] and records `tag` (what the block is for, e.g. data a
    /// DMA engine may touch vs kernel structures), readable with [`Self::block_of`].
    ///
    /// # Errors
    /// As [`Self::alloc`].
    pub fn alloc_tagged(&mut self, order: usize, tag: u8) -> Result<u64, AllocError> {
        if order > MAX_ORDER {
            return Err(AllocError::BadOrder(order));
        }
        let mut o = (order..=MAX_ORDER)
            .find(|&o| self.free_head[o] != NIL)
            .ok_or(AllocError::OutOfMemory(order))?;
        let idx = self.free_head[o];
        self.unlink(idx, o);
        // Split: keep the lower half, return the upper half to the next list down.
        while o > order {
            o -= 1;
            let upper = idx + (1u32 << o);
            self.push(upper, o);
        }
        let m = &mut self.meta[idx as usize];
        m.state = State::AllocHead;
        m.order = order as u8;
        m.tag = tag;
        self.free_frames -= 1 << order;
        self.used_frames += 1 << order;
        self.live_blocks[order] += 1;
        self.alloc_total[order] += 1;
        Ok(self.base_pfn + u64::from(idx))
    }

    /// Returns the block of 2^`order` frames at `pfn`, merging it with free buddies. Refuses
    /// (without changing anything) unless `pfn` heads a block allocated with exactly `order`.
    ///
    /// # Errors
    /// Nothing changes on error: [`FreeError::BadOrder`] above [`MAX_ORDER`];
    /// [`FreeError::Misaligned`] when `pfn` is not a multiple of 2^`order`;
    /// [`FreeError::OutOfZone`] when the block is not wholly inside the zone;
    /// [`FreeError::NotAllocated`] for a reserved frame; [`FreeError::DoubleFree`] for a free
    /// block's head or a frame inside one; [`FreeError::WrongOrder`] for an allocated head of
    /// another order; [`FreeError::NotBlockHead`] for a frame inside an allocated block.
    pub fn free(&mut self, pfn: u64, order: usize) -> Result<(), FreeError> {
        self.check_free(pfn, order)?;
        self.used_frames -= 1 << order;
        self.free_frames += 1 << order;
        self.live_blocks[order] -= 1;
        self.release(pfn, order);
        Ok(())
    }

    /// Walks every free list and frame and checks the counters and states agree (O(frames);
    /// for tests and the in-kernel selftest).
    ///
    /// # Errors
    /// The first broken invariant found, free lists first (orders 0 up): for a list,
    /// [`InvariantError::FreeListIndex`] (a link outside the zone),
    /// [`InvariantError::FreeListEntry`] (entry not a free head of that order, or wrong
    /// back link), [`InvariantError::FreeMisaligned`], [`InvariantError::FreeListCycle`]
    /// (more entries than frames), [`InvariantError::FreeCount`] (length ≠ counter). Then,
    /// walking the frames: [`InvariantError::StrayTail`], [`InvariantError::BlockLeavesZone`],
    /// [`InvariantError::BrokenBody`]; last the totals: [`InvariantError::FrameCounters`]
    /// and [`InvariantError::LiveCounters`] (both in frames).
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        let (mut free, mut used) = (0u64, 0u64);
        for o in 0..ORDERS {
            let (mut n, mut prev, mut i) = (0u64, NIL, self.free_head[o]);
            while i != NIL {
                let m = self
                    .meta
                    .get(i as usize)
                    .ok_or(InvariantError::FreeListIndex { order: o, index: i })?;
                let pfn = self.base_pfn + u64::from(i);
                if m.state != State::FreeHead || usize::from(m.order) != o || m.prev != prev {
                    return Err(InvariantError::FreeListEntry { order: o, pfn });
                }
                if !aligned(pfn, o) {
                    return Err(InvariantError::FreeMisaligned { order: o, pfn });
                }
                n += 1;
                if n > self.span() {
                    return Err(InvariantError::FreeListCycle { order: o });
                }
                (prev, i) = (i, m.next);
            }
            if n != self.free_blocks[o] {
                return Err(InvariantError::FreeCount {
                    order: o,
                    listed: n,
                    counted: self.free_blocks[o],
                });
            }
        }
        let mut i = 0usize;
        while i < self.meta.len() {
            let m = self.meta[i];
            let len = 1usize << m.order;
            let pfn = self.base_pfn + i as u64;
            match m.state {
                State::Reserved => i += 1,
                State::Tail => return Err(InvariantError::StrayTail(pfn)),
                State::FreeHead | State::AllocHead => {
                    let body = self
                        .meta
                        .get(i + 1..i + len)
                        .ok_or(InvariantError::BlockLeavesZone(pfn))?;
                    if body.iter().any(|t| t.state != State::Tail) {
                        return Err(InvariantError::BrokenBody(pfn));
                    }
                    if m.state == State::FreeHead {
                        free += len as u64;
                    } else {
                        used += len as u64;
                    }
                    i += len;
                }
            }
        }
        if free != self.free_frames || used != self.used_frames {
            return Err(InvariantError::FrameCounters);
        }
        let live: u64 = (0..ORDERS).map(|o| self.live_blocks[o] << o).sum();
        if live != used {
            return Err(InvariantError::LiveCounters);
        }
        Ok(())
    }

    fn index(&self, pfn: u64) -> Option<usize> {
        self.contains(pfn).then(|| (pfn - self.base_pfn) as usize)
    }

    /// Turns the (already counted as free) block at `pfn` into a free block, merging upward
    /// while the buddy is a free block of the same order inside the zone.
    fn release(&mut self, pfn: u64, order: usize) {
        let (mut pfn, mut order) = (pfn, order);
        while order < MAX_ORDER {
            let buddy = pfn ^ (1 << order);
            let Some(bi) = self.index(buddy) else { break };
            let b = self.meta[bi];
            if b.state != State::FreeHead || usize::from(b.order) != order {
                break;
            }
            self.unlink(bi as u32, order);
            // The higher of the two heads becomes a tail of the merged block.
            let upper = self.index(pfn.max(buddy)).unwrap_or(bi);
            self.meta[upper].state = State::Tail;
            pfn = pfn.min(buddy);
            order += 1;
        }
        if let Some(i) = self.index(pfn) {
            self.push(i as u32, order);
        }
    }

    /// Explains why freeing tail frame `pfn` is wrong: find the enclosing block's head.
    fn classify_tail(&self, pfn: u64) -> FreeError {
        for o in 1..=MAX_ORDER {
            let head = pfn & !((1u64 << o) - 1);
            let Some(hi) = self.index(head) else { break };
            let h = self.meta[hi];
            let covers = usize::from(h.order) >= o;
            match h.state {
                State::FreeHead if covers => return FreeError::DoubleFree(pfn),
                State::AllocHead if covers => {
                    return FreeError::NotBlockHead {
                        pfn,
                        head,
                        order: usize::from(h.order),
                    }
                }
                _ => {}
            }
        }
        // Unreachable while the invariants hold; still refuse rather than corrupt.
        FreeError::NotAllocated(pfn)
    }

    fn push(&mut self, idx: u32, order: usize) {
        let old = self.free_head[order];
        let m = &mut self.meta[idx as usize];
        *m = FrameMeta {
            next: old,
            prev: NIL,
            state: State::FreeHead,
            order: order as u8,
            tag: 0,
        };
        if old != NIL {
            self.meta[old as usize].prev = idx;
        }
        self.free_head[order] = idx;
        self.free_blocks[order] += 1;
    }

    fn unlink(&mut self, idx: u32, order: usize) {
        let FrameMeta { next, prev, .. } = self.meta[idx as usize];
        if prev == NIL {
            self.free_head[order] = next;
        } else {
            self.meta[prev as usize].next = next;
        }
        if next != NIL {
            self.meta[next as usize].prev = prev;
        }
        let m = &mut self.meta[idx as usize];
        m.next = NIL;
        m.prev = NIL;
        m.state = State::Tail;
        self.free_blocks[order] -= 1;
    }
}

#[cfg(test)]
mod invariant_tests;
#[cfg(test)]
mod tests;
