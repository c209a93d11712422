//! Host tests of the mix parser, the layout and the mixed batching.

use super::*;
use proptest::prelude::*;

#[test]
fn parses_the_issue_example() {
    let m = parse("mix:2m=50%,64k=25%,4k=25%").unwrap();
    assert_eq!(m.parts(), &[(9, 50), (4, 25), (0, 25)]);
    assert_eq!(m.max_order(), 9);
}

#[test]
fn refuses_bad_mixes() {
    assert_eq!(parse("2m=100%"), Err(MixError::Syntax));
    assert_eq!(parse("mix:2m=50%,4k=40%"), Err(MixError::Shares(90)));
    assert_eq!(parse("mix:2m=50%,2m=50%"), Err(MixError::Duplicate));
    assert_eq!(parse("mix:3k=100%"), Err(MixError::BadSize));
    assert_eq!(parse("mix:2m=100"), Err(MixError::Syntax));
    assert_eq!(parse("mix:2m=0%,4k=100%"), Err(MixError::Shares(0)));
    assert_eq!(parse("mix:"), Err(MixError::Syntax));
}

#[test]
fn counts_are_whole_folios_of_each_share() {
    let m = parse("mix:2m=50%,64k=25%,4k=25%").unwrap();
    assert_eq!(m.counts(8 << 20).unwrap(), vec![(9, 2), (4, 32), (0, 512)]);
    // 25 % of 4 MiB is 1 MiB: not a whole number of 2 MiB folios.
    let m = parse("mix:2m=25%,4k=75%").unwrap();
    assert_eq!(
        m.counts(4 << 20),
        Err(MixError::NotWhole {
            size: 2 << 20,
            bytes: 1 << 20
        })
    );
}

#[test]
fn layout_interleaves_the_sizes() {
    let m = parse("mix:2m=50%,64k=25%,4k=25%").unwrap();
    let orders = m.orders(8 << 20).unwrap();
    assert_eq!(orders.iter().filter(|&&o| o == 9).count(), 2);
    assert_eq!(orders.iter().filter(|&&o| o == 4).count(), 32);
    assert_eq!(orders.iter().filter(|&&o| o == 0).count(), 512);
    // The second 2M folio comes after some small ones, not right behind the first.
    let first_2m = orders.iter().position(|&o| o == 9).unwrap();
    let last_2m = orders.iter().rposition(|&o| o == 9).unwrap();
    let between: u64 = orders[first_2m + 1..last_2m]
        .iter()
        .map(|&o| folio_bytes(o))
        .sum();
    assert!(
        between >= 512 << 10,
        "2M folios spread out: {between} bytes between them"
    );
    // Batches of 512 pages mix sizes.
    let mixed = batch_ranges(&orders, 512)
        .iter()
        .filter(|r| {
            let o = &orders[r.start..r.end];
            o.iter().any(|&x| x != o[0])
        })
        .count();
    assert!(mixed > 0, "some batch holds more than one size");
}

#[test]
fn batch_ranges_limits() {
    let orders = [0, 0, 4, 9, 0, 0, 0];
    let r = batch_ranges(&orders, 16);
    assert_eq!(r, vec![0..2, 2..3, 3..4, 4..7]);
    assert_eq!(batch_ranges(&orders, u64::MAX), vec![0..7]);
    assert_eq!(batch_ranges(&[], 512), vec![]);
}

proptest! {
    #[test]
    fn batches_cover_every_folio_once_within_the_limit(
        orders in proptest::collection::vec(0u8..=9, 0..200),
        limit in 1u64..2048,
    ) {
        let r = batch_ranges(&orders, limit);
        let mut next = 0;
        for b in &r {
            prop_assert_eq!(b.start, next);
            prop_assert!(b.end > b.start);
            let pages: u64 = orders[b.clone()].iter().map(|&o| 1u64 << o).sum();
            prop_assert!(pages <= limit || b.len() == 1);
            next = b.end;
        }
        prop_assert_eq!(next, orders.len());
    }

    #[test]
    fn layout_keeps_counts(a in 1u8..99) {
        let m = parse(&format!("mix:64k={a}%,4k={}%", 100 - a)).unwrap();
        let total = 100u64 << 16; // 100 x 64 KiB: every share whole
        let orders = m.orders(total).unwrap();
        let bytes: u64 = orders.iter().map(|&o| folio_bytes(o)).sum();
        prop_assert_eq!(bytes, total);
    }
}
