//! Pure parts of the migration engine: folio sizes, the verification pattern, folio
//! metadata, how a workload is cut into batches, and the size syntax of the command
//! line. The kernel's `migrate` module does the memory work around these.
//!
//! The pattern follows Linux dmatest's idea: every byte depends on the folio's id and
//! its offset, so a copy that is shifted, partial, swapped between folios or written
//! to the wrong place is caught, not only a wrong constant.

use core::fmt;
use core::ops::Range;

/// Folio orders the experiments use: 4K, 16K, 32K, 64K, 128K, 256K, 512K, 1M, 2M
/// (the Linux mTHP sizes; order 1 = 8K is not an mTHP size).
pub const MTHP_ORDERS: [u8; 9] = [0, 2, 3, 4, 5, 6, 7, 8, 9];

/// Linux's batch limit: `NR_MAX_BATCHED_MIGRATION` = 512 base pages.
pub const LINUX_BATCH_PAGES: u64 = 512;

/// Bytes of a folio of `order`.
pub const fn folio_bytes(order: u8) -> u64 {
    4096 << order
}

/// The verification byte at `offset` of folio `id` (with a per-run `seed`).
#[inline]
pub fn pattern_byte(seed: u64, id: u64, offset: u64) -> u8 {
    let x = seed ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ((x >> 24) as u8)
        ^ (offset as u8).wrapping_mul(29)
        ^ ((offset >> 8) as u8).wrapping_add(x as u8)
}

/// The pattern as 8-byte words (what fills and checks use: 8× fewer iterations).
#[inline]
pub fn pattern_word(seed: u64, id: u64, word_index: u64) -> u64 {
    let base = word_index * 8;
    let mut w = 0u64;
    for i in 0..8 {
        w |= (pattern_byte(seed, id, base + i) as u64) << (8 * i);
    }
    w
}

/// Metadata a kernel keeps per folio and migration copies (Linux `struct folio`'s
/// flags, mapping, index, refcount), plus where the folio lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolioMeta {
    /// Page flags (uptodate, dirty, lru, … as bits).
    pub flags: u64,
    /// The owning mapping (an opaque id here).
    pub mapping: u64,
    /// Index of the folio in its mapping.
    pub index: u64,
    /// References held.
    pub refcount: u32,
    /// NUMA node of the physical folio.
    pub node: u32,
}

/// Flag bits carried across migration (a subset of Linux's page flags).
pub mod flags {
    /// Contents valid.
    pub const UPTODATE: u64 = 1 << 0;
    /// Modified since last written back.
    pub const DIRTY: u64 = 1 << 1;
    /// On an LRU list.
    pub const LRU: u64 = 1 << 2;
    /// Being migrated (set on the source during the move, never copied).
    pub const MIGRATING: u64 = 1 << 3;
}

impl FolioMeta {
    /// The destination's metadata: everything copied except the node and the
    /// transient MIGRATING bit (what Linux's `folio_migrate_flags` does in spirit).
    pub fn migrated_to(&self, node: u32) -> Self {
        Self {
            flags: self.flags & !flags::MIGRATING,
            node,
            ..*self
        }
    }
}

/// Cuts `count` folios of `2^order` pages into batches of at most `limit_pages` base
/// pages (at least one folio per batch, so a 2M folio fills a 512-page batch alone),
/// as Linux's `migrate_pages()` does.
pub fn batches(count: usize, order: u8, limit_pages: u64) -> impl Iterator<Item = Range<usize>> {
    let per = (limit_pages >> order).max(1) as usize;
    (0..count)
        .step_by(per)
        .map(move |s| s..(s + per).min(count))
}

/// A piece of one copy op for one worker: bytes `[offset, offset+len)` of op `op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Index of the op in the batch.
    pub op: usize,
    /// Byte offset inside the op.
    pub offset: u64,
    /// Bytes.
    pub len: u64,
}

/// How the multi-threaded copy splits a batch over `workers` (the RFC's mtcopy rule):
/// with fewer ops than workers every op is cut into `workers` pieces (each worker copies
/// its share of every folio, pieces aligned to 64 bytes where possible); otherwise whole
/// ops are dealt out in contiguous blocks, the remainder going to the first workers.
pub fn mt_split(lens: &[u64], workers: usize) -> alloc::vec::Vec<alloc::vec::Vec<Piece>> {
    let n = workers.max(1);
    let mut out = alloc::vec![alloc::vec::Vec::new(); n];
    if lens.len() < n {
        for (op, &len) in lens.iter().enumerate() {
            let mut start = 0;
            for (w, share) in out.iter_mut().enumerate() {
                let mut end = len * (w as u64 + 1) / n as u64;
                if w + 1 < n {
                    end = (end & !63).max(start);
                }
                if end > start {
                    share.push(Piece {
                        op,
                        offset: start,
                        len: end - start,
                    });
                }
                start = end;
            }
        }
    } else {
        let (per, extra) = (lens.len() / n, lens.len() % n);
        let mut op = 0;
        for (w, share) in out.iter_mut().enumerate() {
            let take = per + usize::from(w < extra);
            for (i, &len) in lens.iter().enumerate().skip(op).take(take) {
                share.push(Piece {
                    op: i,
                    offset: 0,
                    len,
                });
            }
            op += take;
        }
    }
    out
}

/// Parses a size like `4k`, `2m`, `1g`, `512` (bytes) or `16K`.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, shift) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 10),
        'm' | 'M' => (&s[..s.len() - 1], 20),
        'g' | 'G' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    let n: u64 = crate::cmdline::parse_u64(num)?;
    n.checked_mul(1 << shift)
}

/// The folio order of a size in bytes, if it is one of the mTHP sizes.
pub fn order_of(bytes: u64) -> Option<u8> {
    MTHP_ORDERS
        .iter()
        .copied()
        .find(|&o| folio_bytes(o) == bytes)
}

/// Human form of a folio size: `4K` … `2M`.
pub struct SizeName(pub u64);

impl fmt::Display for SizeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        if b >= 1 << 30 && b.is_multiple_of(1 << 30) {
            write!(f, "{}G", b >> 30)
        } else if b >= 1 << 20 && b.is_multiple_of(1 << 20) {
            write!(f, "{}M", b >> 20)
        } else if b >= 1 << 10 && b.is_multiple_of(1 << 10) {
            write!(f, "{}K", b >> 10)
        } else {
            write!(f, "{b}B")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn pattern_depends_on_id_and_offset() {
        let a: Vec<u8> = (0..4096).map(|o| pattern_byte(1, 7, o)).collect();
        let b: Vec<u8> = (0..4096).map(|o| pattern_byte(1, 8, o)).collect();
        assert_ne!(a, b, "two folios must differ");
        // A copy shifted by one byte would match in almost no position.
        let same = (0..4095).filter(|&i| a[i] == a[i + 1]).count();
        assert!(same < 64, "pattern too regular: {same}");
        // Not constant within a page, and differs between pages of one folio.
        assert_ne!(pattern_byte(1, 7, 0), pattern_byte(1, 7, 256));
        let p0: Vec<u8> = (0..256).map(|o| pattern_byte(1, 7, o)).collect();
        let p1: Vec<u8> = (4096..4096 + 256).map(|o| pattern_byte(1, 7, o)).collect();
        assert_ne!(p0, p1);
    }

    #[test]
    fn pattern_word_matches_bytes() {
        for w in [0u64, 1, 511, 262_143] {
            let word = pattern_word(3, 9, w);
            for i in 0..8 {
                assert_eq!((word >> (8 * i)) as u8, pattern_byte(3, 9, w * 8 + i));
            }
        }
    }

    #[test]
    fn metadata_is_copied_but_node_and_migrating_bit() {
        let m = FolioMeta {
            flags: flags::UPTODATE | flags::DIRTY | flags::MIGRATING,
            mapping: 42,
            index: 7,
            refcount: 2,
            node: 0,
        };
        let d = m.migrated_to(1);
        assert_eq!(d.flags, flags::UPTODATE | flags::DIRTY);
        assert_eq!((d.mapping, d.index, d.refcount, d.node), (42, 7, 2, 1));
    }

    #[test]
    fn batches_follow_linux_limit() {
        let b: Vec<_> = batches(1024, 0, 512).collect();
        assert_eq!(b, [0..512, 512..1024]);
        // 2M folios: one per 512-page batch.
        assert_eq!(batches(3, 9, 512).count(), 3);
        // 64K folios (16 pages): 32 per batch; a ragged tail.
        let b: Vec<_> = batches(70, 4, 512).collect();
        assert_eq!(b, [0..32, 32..64, 64..70]);
        // Limit below one folio still moves one at a time; the whole workload in one.
        assert_eq!(batches(4, 9, 1).count(), 4);
        assert_eq!(batches(100, 2, u64::MAX).count(), 1);
        assert_eq!(batches(0, 0, 512).count(), 0);
    }

    #[test]
    fn mt_split_chunks_folios_when_fewer_than_workers() {
        let parts = mt_split(&[2 << 20, 2 << 20], 4);
        assert_eq!(parts.len(), 4);
        for op in 0..2 {
            let mut covered: Vec<(u64, u64)> = parts
                .iter()
                .flatten()
                .filter(|p| p.op == op)
                .map(|p| (p.offset, p.offset + p.len))
                .collect();
            covered.sort_unstable();
            assert_eq!(covered.len(), 4);
            assert_eq!(covered[0].0, 0);
            assert_eq!(covered.last().unwrap().1, 2 << 20);
            assert!(
                covered.windows(2).all(|w| w[0].1 == w[1].0),
                "gaps or overlaps: {covered:?}"
            );
        }
    }

    #[test]
    fn mt_split_deals_whole_folios_in_blocks() {
        let lens = alloc::vec![4096u64; 10];
        let parts = mt_split(&lens, 3);
        let counts: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        assert_eq!(counts, [4, 3, 3]);
        let ops: Vec<usize> = parts.iter().flatten().map(|p| p.op).collect();
        assert_eq!(ops, (0..10).collect::<Vec<_>>());
        assert!(parts
            .iter()
            .flatten()
            .all(|p| p.offset == 0 && p.len == 4096));
        // Odd sizes and more workers than bytes still cover everything exactly once.
        let parts = mt_split(&[100], 8);
        let total: u64 = parts.iter().flatten().map(|p| p.len).sum();
        assert_eq!(total, 100);
    }

    #[test]
    fn sizes_parse_and_name() {
        assert_eq!(parse_size("4k"), Some(4096));
        assert_eq!(parse_size("2M"), Some(2 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("k"), None);
        assert_eq!(order_of(64 << 10), Some(4));
        assert_eq!(order_of(8 << 10), None);
        assert_eq!(alloc::format!("{}", SizeName(4096)), "4K");
        assert_eq!(alloc::format!("{}", SizeName(2 << 20)), "2M");
    }
}
