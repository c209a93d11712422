//! Which copies a DMA submission may contain: the regions its caller holds (the kernel's
//! `dma::Held`, built from frame handles). Pure arithmetic over bus addresses, so it is
//! host-tested here.

use alloc::vec::Vec;

/// Where copies may read and write (bus = physical addresses, bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// First source byte.
    pub src: u64,
    /// Source bytes.
    pub src_len: u64,
    /// First destination byte.
    pub dst: u64,
    /// Destination bytes.
    pub dst_len: u64,
    /// Source and destination offsets must be equal (a batch op and its pieces).
    pub lockstep: bool,
}

impl Region {
    /// Whether a copy of `len` bytes from `src` to `dst` lies inside, at equal offsets
    /// when `lockstep`. An empty copy is allowed at any position inside.
    pub fn allows(&self, src: u64, dst: u64, len: u64) -> bool {
        let inside =
            |at: u64, base: u64, size: u64| at >= base && len <= size && at - base <= size - len;
        inside(src, self.src, self.src_len)
            && inside(dst, self.dst, self.dst_len)
            && (!self.lockstep || src - self.src == dst - self.dst)
    }
}

/// Regions with destinations that never overlap (each is an exclusive borrow), sorted by
/// destination for a binary search per copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Regions {
    sorted: Vec<Region>,
}

impl Regions {
    /// `regions`, sorted by destination.
    pub fn new(mut regions: Vec<Region>) -> Self {
        regions.sort_unstable_by_key(|r| r.dst);
        Self { sorted: regions }
    }

    /// Whether a copy of `len` bytes from `src` to `dst` lies inside one region.
    pub fn allows(&self, src: u64, dst: u64, len: u64) -> bool {
        // Destinations are disjoint: the last region starting at or below `dst` is the
        // only one that can contain it.
        let i = self.sorted.partition_point(|r| r.dst <= dst);
        i > 0 && self.sorted[i - 1].allows(src, dst, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn op_region(src: u64, dst: u64, len: u64) -> Region {
        Region {
            src,
            src_len: len,
            dst,
            dst_len: len,
            lockstep: true,
        }
    }

    #[test]
    fn a_batch_op_and_its_pieces_are_allowed_nothing_else() {
        let r = Regions::new(alloc::vec![
            op_region(0x10_0000, 0x80_0000, 0x1000),
            op_region(0x20_0000, 0x40_0000, 0x2000),
        ]);
        assert!(r.allows(0x10_0000, 0x80_0000, 0x1000), "the op");
        assert!(
            r.allows(0x20_0800, 0x40_0800, 0x800),
            "a piece at the same offset"
        );
        assert!(!r.allows(0x20_0800, 0x40_0000, 0x800), "offsets differ");
        assert!(
            !r.allows(0x10_0000, 0x80_0000, 0x1001),
            "one byte past the end"
        );
        assert!(
            !r.allows(0x10_0000, 0x7f_ffff, 0x10),
            "below the destination"
        );
        assert!(!r.allows(0x30_0000, 0x60_0000, 0x10), "between regions");
        assert!(
            !r.allows(0x20_0000, 0x80_0000, 0x10),
            "source of another op"
        );
        assert!(!r.allows(u64::MAX - 4, 0x80_0000, 8), "no wrap-around");
    }

    #[test]
    fn blocks_allow_any_offsets_inside() {
        let r = Regions::new(alloc::vec![Region {
            src: 0x1000,
            src_len: 0x2000,
            dst: 0x9000,
            dst_len: 0x1000,
            lockstep: false,
        }]);
        assert!(r.allows(0x2f00, 0x9000, 0x100));
        assert!(r.allows(0x1000, 0x9f00, 0x100));
        assert!(!r.allows(0x1000, 0x9f01, 0x100), "past the destination");
        assert!(!r.allows(0x2f01, 0x9000, 0x100), "past the source");
        assert!(
            !Regions::default().allows(0x1000, 0x9000, 1),
            "nothing held"
        );
    }

    proptest! {
        /// Against a linear scan over the regions: the binary search finds the same answer.
        #[test]
        fn search_matches_a_scan(
            lens in proptest::collection::vec(1u64..0x4000, 1..12),
            probe in (0u64..0x80000, 0u64..0x80000, 0u64..0x5000),
        ) {
            // Disjoint destinations every 0x8000, sources scattered.
            let regions: Vec<Region> = lens
                .iter()
                .enumerate()
                .map(|(i, &len)| op_region(0x4_0000 - (i as u64) * 0x5000, (i as u64) * 0x8000, len))
                .collect();
            let (s, d, len) = probe;
            let scan = regions.iter().any(|r| r.allows(s, d, len));
            prop_assert_eq!(Regions::new(regions).allows(s, d, len), scan);
        }
    }
}
