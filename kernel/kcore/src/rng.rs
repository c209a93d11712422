//! A tiny deterministic generator (xorshift64*) for test parameters and soak runs: no
//! crates, no_std, good enough to pick sizes and nodes — not for anything secret.

/// xorshift64* state.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed` (0 is replaced: xorshift needs a non-zero state).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_nonzero_and_bounded() {
        let (mut a, mut b) = (XorShift::new(42), XorShift::new(42));
        let xs: alloc::vec::Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        assert!(xs
            .iter()
            .zip((0..100).map(|_| b.next_u64()))
            .all(|(x, y)| *x == y));
        assert!(xs.iter().all(|&x| x != 0));
        let mut z = XorShift::new(0);
        assert_ne!(z.next_u64(), 0);
        assert!((0..1000).all(|_| z.below(7) < 7));
        assert_eq!(z.below(0), 0);
    }
}
