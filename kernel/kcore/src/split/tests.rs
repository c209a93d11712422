//! Host tests of the byte splitter: every byte once, chunk bounds, folio boundaries.

use super::*;
use proptest::prelude::*;

const K: u64 = 1024;
const M: u64 = 1024 * 1024;

/// The key table's `dma-chunk=` default, 256 KiB..2 MiB.
const BOUNDS: ChunkBounds = ChunkBounds {
    min: 256 << 10,
    max: 2 << 20,
};

/// Checks the invariants and returns the chunks sorted by (op, offset).
fn check(lens: &[u64], channels: usize, b: ChunkBounds) -> Vec<Chunk> {
    let out = split_bytes(lens, channels, b);
    assert_eq!(out.len(), channels);
    let mut all: Vec<Chunk> = out.iter().flatten().copied().collect();
    all.sort_by_key(|c| (c.op, c.offset));
    // Every byte of every op exactly once: chunks of an op tile [0, len).
    for (op, &len) in lens.iter().enumerate() {
        let mut at = 0;
        for c in all.iter().filter(|c| c.op == op) {
            assert_eq!(c.offset, at, "op {op}: gap or overlap at {at}");
            assert!(c.len > 0);
            assert!(
                c.offset + c.len <= len,
                "op {op}: chunk crosses the folio end"
            );
            assert_eq!(c.offset % CUT_ALIGN, 0, "cut inside a page");
            assert!(c.len <= b.max, "chunk {} above max {}", c.len, b.max);
            // Below min only when the op is, or when no count of pieces fits both bounds.
            if len >= b.min && len.div_ceil(b.max) <= len / b.min {
                assert!(c.len >= b.min, "op {op} ({len}): chunk {} below min", c.len);
            }
            at += c.len;
        }
        assert_eq!(at, len, "op {op} not fully covered");
    }
    all
}

#[test]
fn one_2m_folio_over_n_channels_is_n_equal_chunks() {
    for n in [1usize, 2, 4, 8] {
        let out = split_bytes(&[2 * M], n, BOUNDS);
        for (c, chunks) in out.iter().enumerate() {
            assert_eq!(chunks.len(), 1, "{n} channels: channel {c}");
            assert_eq!(chunks[0].len, 2 * M / n as u64);
        }
        check(&[2 * M], n, BOUNDS);
    }
}

#[test]
fn min_bound_keeps_chunks_from_getting_small() {
    // 16 channels, one 2 MiB folio: 128 KiB chunks would be below the 256 KiB floor.
    let out = split_bytes(&[2 * M], 16, BOUNDS);
    let used = out.iter().filter(|c| !c.is_empty()).count();
    assert_eq!(used, 8);
    check(&[2 * M], 16, BOUNDS);
}

#[test]
fn max_bound_cuts_large_batches() {
    let b = ChunkBounds {
        min: 64 * K,
        max: 512 * K,
    };
    // 8 folios of 2 MiB over 2 channels: target 8 MiB clamps to 512 KiB.
    let all = check(&[2 * M; 8], 2, b);
    assert_eq!(all.len(), 32);
    assert!(all.iter().all(|c| c.len == 512 * K));
}

#[test]
fn small_folios_are_never_cut() {
    let lens = [4 * K; 100];
    let all = check(&lens, 4, BOUNDS);
    assert_eq!(all.len(), 100);
    let out = split_bytes(&lens, 4, BOUNDS);
    assert!(out.iter().all(|c| c.len() == 25), "balanced by bytes");
}

#[test]
fn bounds_parse() {
    assert_eq!(parse_bounds("256k..2m"), Ok(BOUNDS));
    assert_eq!(
        parse_bounds("4k..4k"),
        Ok(ChunkBounds {
            min: 4 * K,
            max: 4 * K
        })
    );
    assert_eq!(parse_bounds("2m..256k"), Err(ChunkError::MinAboveMax));
    assert_eq!(parse_bounds("1000..2m"), Err(ChunkError::NotPages));
    assert_eq!(parse_bounds("256k"), Err(ChunkError::Syntax));
    assert_eq!(parse_bounds("x..2m"), Err(ChunkError::Syntax));
}

proptest! {
    #[test]
    fn every_byte_once_within_bounds(
        orders in proptest::collection::vec(0u32..=9, 1..40),
        channels in 1usize..=16,
        min_pages in 1u64..=128,
        extra_pages in 0u64..=512,
    ) {
        let lens: Vec<u64> = orders.iter().map(|&o| 4096u64 << o).collect();
        let b = ChunkBounds { min: min_pages * 4096, max: (min_pages + extra_pages) * 4096 };
        check(&lens, channels, b);
        // Balance: no channel has more than the lightest plus one largest chunk.
        let out = split_bytes(&lens, channels, b);
        let loads: Vec<u64> = out.iter().map(|c| c.iter().map(|x| x.len).sum()).collect();
        let biggest = out.iter().flatten().map(|c| c.len).max().unwrap_or(0);
        let (lo, hi) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
        prop_assert!(hi - lo <= biggest);
    }
}

#[test]
fn hybrid_split_gives_the_cpu_its_share_in_whole_ops() {
    let four = [4096u64; 4];
    assert_eq!(hybrid_cpu_ops(&four, 0), 0);
    assert_eq!(hybrid_cpu_ops(&four, 50), 2);
    assert_eq!(hybrid_cpu_ops(&four, 100), 4);
    assert_eq!(hybrid_cpu_ops(&four, 250), 4);
    // 30 % of 4 equal ops: a second op would pass the target by more than half of it.
    assert_eq!(hybrid_cpu_ops(&four, 30), 1);
    // One big op first: alone it is more than the CPU's 25 %.
    assert_eq!(hybrid_cpu_ops(&[2 << 20, 4096, 4096], 25), 0);
    assert_eq!(hybrid_cpu_ops(&[], 50), 0);
}
