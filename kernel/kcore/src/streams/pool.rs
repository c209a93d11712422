//! Slots lent by value: a value is either in the pool or held by exactly one borrower,
//! never both and never two borrowers at once (the owner of a DMA channel is the only
//! CPU that touches its registers). The kernel wraps this in a lock.

use alloc::vec::Vec;

/// Why values could not be lent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolError {
    /// The pool has no slot at all.
    Empty,
    /// Fewer values are free than asked for (or the slot asked for is lent or absent).
    TooFew {
        /// Values asked for.
        asked: usize,
        /// Values free now.
        free: usize,
        /// Slots in all.
        slots: usize,
    },
}

/// Values in numbered slots; `None` while lent.
#[derive(Debug)]
pub struct SlotPool<T> {
    slots: Vec<Option<T>>,
}

impl<T> Default for SlotPool<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> SlotPool<T> {
    /// An empty pool.
    pub const fn new() -> Self {
        Self { slots: Vec::new() }
    }

    /// Replaces the contents with `values`, slot `i` holding `values[i]`.
    pub fn install(&mut self, values: Vec<T>) {
        self.slots = values.into_iter().map(Some).collect();
    }

    /// Slots in all (lent or not).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the pool has no slot.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Values free now.
    pub fn free(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// Values in the pool (not lent), with their slot numbers.
    pub fn iter_free(&self) -> impl Iterator<Item = (usize, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|v| (i, v)))
    }

    fn too_few(&self, asked: usize) -> PoolError {
        if self.slots.is_empty() {
            PoolError::Empty
        } else {
            PoolError::TooFew {
                asked,
                free: self.free(),
                slots: self.slots.len(),
            }
        }
    }

    /// Lends exactly `n` values (all free ones when `None`), lowest slots first, with
    /// their slot numbers.
    ///
    /// # Errors
    /// [`PoolError::Empty`] without slots; [`PoolError::TooFew`] when fewer than `n` are
    /// free, or none at all for `None`, or `n` is 0.
    pub fn take(&mut self, n: Option<usize>) -> Result<Vec<(usize, T)>, PoolError> {
        let free = self.free();
        let want = n.unwrap_or(free);
        if self.slots.is_empty() || want == 0 || want > free {
            return Err(self.too_few(want));
        }
        Ok(self.take_lowest(want))
    }

    /// Lends at least one and at most `n` values: as many as are free, up to `n`.
    ///
    /// # Errors
    /// [`PoolError::Empty`] without slots; [`PoolError::TooFew`] when none is free or `n`
    /// is 0.
    pub fn take_up_to(&mut self, n: usize) -> Result<Vec<(usize, T)>, PoolError> {
        let got = self.free().min(n);
        if self.slots.is_empty() || got == 0 {
            return Err(self.too_few(n.max(1)));
        }
        Ok(self.take_lowest(got))
    }

    fn take_lowest(&mut self, n: usize) -> Vec<(usize, T)> {
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(i, s)| s.take().map(|v| (i, v)))
            .take(n)
            .collect()
    }

    /// Lends the value of slot `id` alone.
    ///
    /// # Errors
    /// [`PoolError::Empty`] without slots; [`PoolError::TooFew`] when that slot does not
    /// exist or is lent.
    pub fn take_id(&mut self, id: usize) -> Result<T, PoolError> {
        if let Some(v) = self.slots.get_mut(id).and_then(Option::take) {
            return Ok(v);
        }
        Err(self.too_few(1))
    }

    /// Gives `value` back into slot `id`. Returns it when that slot does not exist or is
    /// occupied (a value lent twice: a caller bug the pool refuses to hide).
    ///
    /// # Errors
    /// The value itself, when slot `id` is absent or not empty.
    pub fn put(&mut self, id: usize, value: T) -> Result<(), T> {
        match self.slots.get_mut(id) {
            Some(slot @ None) => {
                *slot = Some(value);
                Ok(())
            }
            _ => Err(value),
        }
    }
}
