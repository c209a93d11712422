//! Cache sizes from CPUID's deterministic cache parameters (Intel leaf 4, AMD leaf
//! 0x8000001D — same layout): subleaf after subleaf until a null type; else AMD's legacy
//! leaf 0x80000006 (L2 in KiB, L3 in 512 KiB units), which QEMU's TCG CPUs report.

/// One decoded subleaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheLeaf {
    /// Type 0: no more caches.
    End,
    /// An instruction cache (of no use to data experiments).
    Instruction,
    /// A data or unified cache.
    Data {
        /// 1 = L1, 2 = L2, 3 = L3.
        level: u8,
        /// Size in bytes: ways × partitions × line size × sets.
        bytes: u64,
    },
}

/// Decodes the EAX, EBX, ECX of one subleaf.
pub fn decode(eax: u32, ebx: u32, ecx: u32) -> CacheLeaf {
    match eax & 0x1f {
        0 => CacheLeaf::End,
        2 => CacheLeaf::Instruction,
        _ => {
            let ways = u64::from(ebx >> 22) + 1;
            let partitions = u64::from((ebx >> 12) & 0x3ff) + 1;
            let line = u64::from(ebx & 0xfff) + 1;
            let sets = u64::from(ecx) + 1;
            CacheLeaf::Data {
                level: ((eax >> 5) & 7) as u8,
                bytes: ways * partitions * line * sets,
            }
        }
    }
}

/// The size of the data/unified cache of `level`, reading subleaves through `subleaf`
/// (returns EAX, EBX, ECX); at most 16 subleaves are read.
pub fn data_cache_bytes(level: u8, mut subleaf: impl FnMut(u32) -> (u32, u32, u32)) -> Option<u64> {
    for i in 0..16 {
        let (a, b, c) = subleaf(i);
        match decode(a, b, c) {
            CacheLeaf::End => return None,
            CacheLeaf::Data { level: l, bytes } if l == level => return Some(bytes),
            _ => {}
        }
    }
    None
}

/// L2 or L3 size from leaf 0x80000006's ECX (L2: bits 31..16, KiB) and EDX (L3: bits
/// 31..18, 512 KiB units); `None` when zero or another level.
pub fn legacy_amd_bytes(level: u8, ecx: u32, edx: u32) -> Option<u64> {
    let bytes = match level {
        2 => u64::from(ecx >> 16) << 10,
        3 => u64::from(edx >> 18) << 19,
        _ => 0,
    };
    (bytes > 0).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 16-way, 64-byte-line cache of `bytes` at `level`, type `ty`.
    fn leaf(ty: u32, level: u32, bytes: u64) -> (u32, u32, u32) {
        let sets = bytes / (16 * 64);
        (ty | level << 5, 15 << 22 | 63, (sets - 1) as u32)
    }

    #[test]
    fn finds_each_level() {
        let leaves = [
            leaf(1, 1, 32 << 10),
            leaf(2, 1, 32 << 10),
            leaf(3, 2, 1 << 20),
            leaf(3, 3, 32 << 20),
            (0, 0, 0),
        ];
        let get = |i: u32| leaves.get(i as usize).copied().unwrap_or((0, 0, 0));
        assert_eq!(data_cache_bytes(1, get), Some(32 << 10));
        assert_eq!(data_cache_bytes(2, get), Some(1 << 20));
        assert_eq!(data_cache_bytes(3, get), Some(32 << 20));
        assert_eq!(data_cache_bytes(4, get), None);
        assert_eq!(
            decode(leaves[1].0, leaves[1].1, leaves[1].2),
            CacheLeaf::Instruction
        );
    }

    #[test]
    fn legacy_leaf() {
        // 512 KiB L2, 16 MiB L3 (32 units of 512 KiB).
        let (ecx, edx) = (512 << 16 | 0x40, 32 << 18);
        assert_eq!(legacy_amd_bytes(2, ecx, edx), Some(512 << 10));
        assert_eq!(legacy_amd_bytes(3, ecx, edx), Some(16 << 20));
        assert_eq!(legacy_amd_bytes(3, ecx, 0), None);
        assert_eq!(legacy_amd_bytes(1, ecx, edx), None);
    }

    #[test]
    fn partitions_multiply() {
        // 8 ways, 2 partitions, 64-byte lines, 512 sets = 512 KiB.
        assert_eq!(
            decode(3 | 2 << 5, 7 << 22 | 1 << 12 | 63, 511),
            CacheLeaf::Data {
                level: 2,
                bytes: 512 << 10
            }
        );
    }

    #[test]
    fn stops_at_a_null_type_and_after_16_subleaves() {
        assert_eq!(data_cache_bytes(2, |_| (0, 0, 0)), None);
        let mut calls = 0;
        assert_eq!(
            data_cache_bytes(2, |_| {
                calls += 1;
                leaf(3, 1, 64 << 10)
            }),
            None
        );
        assert_eq!(calls, 16);
    }
}
