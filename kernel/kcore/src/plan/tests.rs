use super::*;
use proptest::prelude::*;

const BOOK: Bookkeeping = Bookkeeping {
    per_folio: 72,
    per_batch_folio: 160,
    per_cell: 4096,
};

/// A node whose free memory is `mib` MiB, all in 2 MiB blocks.
fn node(node: u32, mib: u64) -> NodeRoom {
    let mut free_blocks = [0; crate::buddy::ORDERS];
    free_blocks[9] = mib / 2;
    NodeRoom { node, free_blocks }
}

fn room(mib: u64, heap_mib: u64) -> Room {
    Room {
        nodes: alloc::vec![node(0, mib), node(1, mib)],
        heap_free: heap_mib << 20,
    }
}

fn cell(order: u8, folios: u64, batch: u64) -> CellNeed {
    CellNeed {
        from: 0,
        to: 1,
        order,
        folios,
        batch_folios: batch,
        raw_copy: false,
    }
}

#[test]
fn table_frames_count_every_level() {
    // 512 4K leaves: one PT, one PD, one PDPT, the root.
    assert_eq!(table_frames(0, 512), 4);
    // 513 leaves need a second PT.
    assert_eq!(table_frames(0, 513), 5);
    // 2M folios are PD leaves: no PT.
    assert_eq!(table_frames(9, 512), 3);
    assert_eq!(table_frames(0, 0), 1);
}

#[test]
fn migration_needs_workload_on_source_and_one_batch_on_destination() {
    let n = frames_needed(&cell(0, 1000, 512));
    assert_eq!(n[0].node, 0);
    assert_eq!(n[0].folio_frames, 1000);
    assert_eq!(n[0].table_frames, table_frames(0, 1000));
    assert_eq!(n[1].node, 1);
    assert_eq!(n[1].folio_frames, 512);
}

#[test]
fn raw_copy_holds_every_destination() {
    let c = CellNeed {
        raw_copy: true,
        ..cell(4, 100, 8)
    };
    assert_eq!(frames_needed(&c)[1].folio_frames, 100 * 16);
}

#[test]
fn same_node_adds_source_and_destination() {
    let c = CellNeed {
        to: 0,
        ..cell(9, 10, 10)
    };
    let n = frames_needed(&c);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].folio_frames, 2 * 10 * 512);
}

#[test]
fn a_plan_that_fits_passes() {
    // 256 MiB of 2M folios on 512 MiB nodes with 16 MiB of heap.
    assert_eq!(check(&[cell(9, 128, 1)], &room(512, 16), &BOOK), Ok(()));
}

#[test]
fn too_many_folios_name_the_node_and_the_numbers() {
    let err = check(&[cell(9, 300, 1)], &room(512, 16), &BOOK).unwrap_err();
    match err {
        PlanError::NodeMemory {
            node,
            asked,
            available,
            ..
        } => {
            assert_eq!(node, 0);
            assert_eq!(available, 512 << 20);
            assert!(asked > 600 << 20, "asked {asked}");
        }
        other => panic!("{other:?}"),
    }
    let text = alloc::format!(
        "{}",
        check(&[cell(9, 300, 1)], &room(512, 16), &BOOK).unwrap_err()
    );
    assert!(
        text.contains("node 0") && text.contains("512 MiB free"),
        "{text}"
    );
}

#[test]
fn the_destination_is_checked_too() {
    let r = Room {
        nodes: alloc::vec![node(0, 1024), node(1, 4)],
        heap_free: 64 << 20,
    };
    let err = check(&[cell(9, 8, 8)], &r, &BOOK).unwrap_err();
    assert!(
        matches!(err, PlanError::NodeMemory { node: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn fragmented_memory_does_not_count_for_large_folios() {
    // 64 MiB free on each node, but only as 4K frames: no room for one 2M folio.
    let mut frag = node(0, 0);
    frag.free_blocks[0] = 64 * 256;
    let r = Room {
        nodes: alloc::vec![frag, NodeRoom { node: 1, ..frag }],
        heap_free: 64 << 20,
    };
    assert!(check(&[cell(9, 1, 1)], &r, &BOOK).is_err());
    assert_eq!(check(&[cell(0, 100, 100)], &r, &BOOK), Ok(()));
}

#[test]
fn heap_is_a_limit_of_its_own() {
    // 1M 4K folios (4 GiB) fit 8 GiB nodes but not 16 MiB of heap.
    let err = check(&[cell(0, 1 << 20, 512)], &room(8192, 16), &BOOK).unwrap_err();
    match err {
        PlanError::Heap {
            asked, available, ..
        } => {
            assert_eq!(available, 16 << 20);
            assert_eq!(asked, (1 << 20) * 72 + 512 * 160 + 4096);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_node_without_memory_is_named() {
    let c = CellNeed {
        to: 5,
        ..cell(0, 1, 1)
    };
    assert_eq!(
        check(&[c], &room(64, 16), &BOOK),
        Err(PlanError::NoSuchNode {
            node: 5,
            nodes: alloc::vec![0, 1]
        })
    );
}

#[test]
fn the_most_demanding_cell_decides() {
    let cells = [cell(9, 1, 1), cell(9, 10, 10), cell(9, 400, 1)];
    assert!(check(&cells, &room(512, 16), &BOOK).is_err());
    assert_eq!(check(&cells[..2], &room(512, 16), &BOOK), Ok(()));
}

proptest! {
    /// No value of any field panics or overflows, and a plan is accepted only when the
    /// frames it asks for really are free.
    #[test]
    fn extreme_values_never_panic(
        order in 0u8..=9,
        folios in prop_oneof![Just(0u64), Just(1), Just(u64::MAX), Just(u64::MAX / 2), any::<u64>()],
        batch in prop_oneof![Just(1u64), Just(u64::MAX), any::<u64>()],
        raw in any::<bool>(),
        from in 0u32..4,
        to in 0u32..4,
        free in prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()],
        heap in any::<u64>(),
    ) {
        let c = CellNeed { from, to, order, folios, batch_folios: batch, raw_copy: raw };
        let mut blocks = [0u64; crate::buddy::ORDERS];
        blocks[9] = free;
        let r = Room {
            nodes: (0..3).map(|n| NodeRoom { node: n, free_blocks: blocks }).collect(),
            heap_free: heap,
        };
        let result = check(&[c], &r, &BOOK);
        if result.is_ok() {
            prop_assert!(from < 3 && to < 3);
            let avail = r.nodes[0].frames_at_or_above(order);
            for need in frames_needed(&c) {
                prop_assert!(need.folio_frames.saturating_add(need.table_frames) <= avail);
            }
            prop_assert!(heap_needed(&c, &BOOK) <= heap);
            // A workload that fits has a sane size: its bytes do not overflow.
            prop_assert!(folios.checked_mul(4096 << order).is_some());
        }
        let _ = result.map_err(|e| alloc::format!("{e}"));
    }
}
