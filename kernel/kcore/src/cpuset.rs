//! Sets of kernel CPU indices (0..[`CPUSET_CPUS`]) as fixed bitmaps: which CPUs have an
//! address space loaded, which CPUs a shootdown round waits for. Fixed size so the kernel
//! can keep one per address space without allocating; 512 covers two-socket servers with
//! 384 hardware threads.

/// How many CPUs a set can name (kernel indices 0..512).
pub const CPUSET_CPUS: usize = 512;
/// 64-bit words in a set.
pub const CPUSET_WORDS: usize = CPUSET_CPUS / 64;

/// A set of kernel CPU indices.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuSet {
    words: [u64; CPUSET_WORDS],
}

/// Word index and bit mask of `cpu`, or `None` past [`CPUSET_CPUS`].
pub fn word_bit(cpu: usize) -> Option<(usize, u64)> {
    (cpu < CPUSET_CPUS).then(|| (cpu / 64, 1u64 << (cpu % 64)))
}

impl CpuSet {
    /// The empty set.
    pub const fn new() -> Self {
        Self {
            words: [0; CPUSET_WORDS],
        }
    }

    /// The set of the given words (word `i` holds CPUs `64*i..64*i+64`).
    pub const fn from_words(words: [u64; CPUSET_WORDS]) -> Self {
        Self { words }
    }

    /// The raw words.
    pub const fn words(&self) -> &[u64; CPUSET_WORDS] {
        &self.words
    }

    /// Adds `cpu`; false (and no change) when it is past [`CPUSET_CPUS`].
    pub fn insert(&mut self, cpu: usize) -> bool {
        match word_bit(cpu) {
            Some((w, b)) => {
                self.words[w] |= b;
                true
            }
            None => false,
        }
    }

    /// Removes `cpu` (no effect past [`CPUSET_CPUS`]).
    pub fn remove(&mut self, cpu: usize) {
        if let Some((w, b)) = word_bit(cpu) {
            self.words[w] &= !b;
        }
    }

    /// Whether `cpu` is in the set.
    pub fn contains(&self, cpu: usize) -> bool {
        word_bit(cpu).is_some_and(|(w, b)| self.words[w] & b != 0)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// Number of CPUs in the set.
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether every CPU of `other` is in `self`.
    pub fn is_superset(&self, other: &CpuSet) -> bool {
        self.words
            .iter()
            .zip(other.words.iter())
            .all(|(a, b)| a & b == *b)
    }

    /// The CPUs of `self` that are not in `other`.
    pub fn difference(&self, other: &CpuSet) -> CpuSet {
        let mut out = *self;
        for (o, b) in out.words.iter_mut().zip(other.words.iter()) {
            *o &= !b;
        }
        out
    }

    /// The CPUs in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..CPUSET_CPUS).filter(move |&c| self.contains(c))
    }
}

impl FromIterator<usize> for CpuSet {
    /// Indices past [`CPUSET_CPUS`] are dropped.
    fn from_iter<I: IntoIterator<Item = usize>>(iter: I) -> Self {
        let mut s = CpuSet::new();
        for c in iter {
            s.insert(c);
        }
        s
    }
}

/// Lists the CPUs with ranges, as Linux's cpulist: `0-3,8,70-71`.
impl core::fmt::Display for CpuSet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut first = true;
        let mut run: Option<(usize, usize)> = None;
        let mut emit = |f: &mut core::fmt::Formatter<'_>, (a, b): (usize, usize)| {
            let sep = if first { "" } else { "," };
            first = false;
            if a == b {
                write!(f, "{sep}{a}")
            } else {
                write!(f, "{sep}{a}-{b}")
            }
        };
        for c in self.iter() {
            run = match run {
                Some((a, b)) if b + 1 == c => Some((a, c)),
                Some(r) => {
                    emit(f, r)?;
                    Some((c, c))
                }
                None => Some((c, c)),
            };
        }
        match run {
            Some(r) => emit(f, r),
            None => write!(f, "none"),
        }
    }
}

impl core::fmt::Debug for CpuSet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "CpuSet({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn cpus_above_63_are_kept_apart() {
        // A u64 mask cannot tell CPU 64 from CPU 0; the set must.
        let mut s = CpuSet::new();
        assert!(s.insert(64));
        assert!(s.insert(300));
        assert!(s.insert(511));
        assert!(!s.contains(0));
        assert!(s.contains(64) && s.contains(300) && s.contains(511));
        assert_eq!(s.len(), 3);
        assert_eq!(s.iter().collect::<alloc::vec::Vec<_>>(), [64, 300, 511]);
    }

    #[test]
    fn past_the_end_is_refused() {
        let mut s = CpuSet::new();
        assert!(!s.insert(CPUSET_CPUS));
        assert!(s.is_empty());
        assert!(!s.contains(CPUSET_CPUS));
        s.remove(CPUSET_CPUS);
        assert!(s.is_empty());
    }

    #[test]
    fn superset_and_difference() {
        let all: CpuSet = (0..300).collect();
        let some: CpuSet = [1, 65, 299].into_iter().collect();
        assert!(all.is_superset(&some));
        assert!(!some.is_superset(&all));
        let left = all.difference(&some);
        assert_eq!(left.len(), 297);
        assert!(!left.contains(65) && left.contains(64));
        let mut s = some;
        s.remove(65);
        assert_eq!(s.to_string(), "1,299");
    }

    #[test]
    fn display_as_cpulist() {
        let s: CpuSet = [0, 1, 2, 3, 8, 70, 71].into_iter().collect();
        assert_eq!(s.to_string(), "0-3,8,70-71");
        assert_eq!(CpuSet::new().to_string(), "none");
        let w = CpuSet::from_words([1, 0, 0, 0, 0, 0, 0, 1 << 63]);
        assert_eq!(w.to_string(), "0,511");
    }
}
