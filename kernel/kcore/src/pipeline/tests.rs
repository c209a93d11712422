//! The pipeline against fakes: a frame allocator that hands out numbered blocks, a page
//! table as a map, memory as one tag per block, and a copier that moves tags. Checks the
//! phase order, that a finished migration moved everything and freed the sources, and
//! that a failure in each phase leaves every folio mapped to a block holding its data
//! with every frame accounted for.

use super::*;
use crate::pagetable::PtError;
use alloc::collections::BTreeSet;
use alloc::vec;
use proptest::prelude::*;

use super::fakes::*;

#[test]
fn batches_run_the_four_phases_in_order_and_move_everything() {
    let (world, mut folios) = setup(&[0; 10], Faults::default());
    let reports = migrate(&world, &mut folios, 4, None).unwrap();
    assert_eq!(check_whole(&world, &folios), Ok(10));
    let per_batch = ["alloc", "unmap", "flush", "copy", "remap", "remap", "free"];
    let want: Vec<&str> = per_batch
        .iter()
        .copied()
        .cycle()
        .take(3 * per_batch.len())
        .collect();
    assert_eq!(world.borrow().log, want);
    assert_eq!(
        reports.iter().map(|r| r.folios).collect::<Vec<_>>(),
        vec![4, 4, 2]
    );
    for r in &reports {
        let c = r.clock;
        let order = [
            c.start,
            c.unmap_start,
            c.unmap_end,
            c.copy_start,
            c.remap_start,
            c.remap_first,
            c.remap_last,
            c.end,
        ];
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{c:?}");
    }
}

#[test]
fn per_folio_mode_is_one_batch_per_folio() {
    let (world, mut folios) = setup(&[2; 5], Faults::default());
    let reports = migrate(&world, &mut folios, 1, None).unwrap();
    assert_eq!(reports.len(), 5);
    assert_eq!(check_whole(&world, &folios), Ok(5));
    assert_eq!(
        world.borrow().log.iter().filter(|s| **s == "copy").count(),
        5
    );
}

#[test]
fn mixed_sizes_take_one_allocation_and_one_free_per_size() {
    let (world, mut folios) = setup(&[0, 4, 0, 9, 4, 0], Faults::default());
    migrate(&world, &mut folios, 6, None).unwrap();
    assert_eq!(check_whole(&world, &folios), Ok(6));
    let log = world.borrow().log.clone();
    assert_eq!(log.iter().filter(|s| **s == "alloc").count(), 3);
    assert_eq!(log.iter().filter(|s| **s == "free").count(), 3);
}

#[test]
fn an_injected_failure_in_each_phase_rolls_the_batch_back() {
    for per in [1, 4] {
        for phase in Phase::ALL {
            let (world, mut folios) = setup(&[0; 10], Faults::default());
            let at = Injection { phase, folio: 5 };
            let r = migrate(&world, &mut folios, per, Some(at));
            assert_eq!(r.err(), Some(BatchError::Injected { phase, folio: 5 }));
            // Batches before the failed one moved; in remap, the failed batch's folios
            // before the failure too.
            let moved = if phase == Phase::Remap {
                5
            } else {
                5 / per * per
            };
            assert_eq!(
                check_whole(&world, &folios),
                Ok(moved),
                "{phase:?} per {per}"
            );
        }
    }
}

#[test]
fn out_of_memory_in_prepare_changes_nothing_in_its_batch() {
    let faults = Faults {
        alloc_call: Some(1),
        ..Faults::default()
    };
    let (world, mut folios) = setup(&[3; 8], faults);
    let r = migrate(&world, &mut folios, 4, None);
    assert!(matches!(
        r,
        Err(BatchError::OutOfMemory {
            node: 1,
            order: 3,
            folio: 4,
            ..
        })
    ));
    assert_eq!(check_whole(&world, &folios), Ok(4));
}

#[test]
fn a_refused_unmap_puts_back_the_ptes_already_cleared() {
    let (world, mut folios) = setup(&[0; 6], Faults::default());
    world.borrow_mut().faults.unmap_va = Some(folios[3].va);
    let r = migrate(&world, &mut folios, 6, None);
    assert!(matches!(r, Err(BatchError::Unmap { folio: 3, .. })));
    assert_eq!(check_whole(&world, &folios), Ok(0));
}

#[test]
fn a_pte_pointing_elsewhere_is_reported_and_left_as_found() {
    let (world, mut folios) = setup(&[0; 4], Faults::default());
    let stray = 0xabc000;
    world.borrow_mut().ptes.insert(folios[2].va, stray);
    let r = migrate(&world, &mut folios, 4, None);
    assert_eq!(
        r.err(),
        Some(BatchError::WrongMapping {
            folio: 2,
            found: stray,
            expected: folios[2].block.addr
        })
    );
    let w = world.borrow();
    assert_eq!(w.ptes[&folios[2].va], stray);
    for i in [0, 1, 3] {
        assert_eq!(w.ptes[&folios[i].va], folios[i].block.addr);
    }
    assert_eq!(w.held.len(), 4, "destinations freed");
}

#[test]
fn an_engine_refusal_maps_the_sources_back() {
    let faults = Faults {
        copy_call: Some(1),
        ..Faults::default()
    };
    let (world, mut folios) = setup(&[0; 8], faults);
    let r = migrate(&world, &mut folios, 4, None);
    assert_eq!(r.err(), Some(BatchError::Copy("engine refused")));
    assert_eq!(check_whole(&world, &folios), Ok(4));
}

#[test]
fn a_refused_remap_keeps_earlier_folios_moved_and_restores_the_rest() {
    let (world, mut folios) = setup(&[0; 6], Faults::default());
    world.borrow_mut().faults.remap_va = Some(folios[4].va);
    let r = migrate(&world, &mut folios, 6, None);
    assert!(matches!(r, Err(BatchError::Remap { folio: 4, .. })));
    assert_eq!(check_whole(&world, &folios), Ok(4));
}

#[test]
fn a_failed_restore_names_the_folio_left_unmapped_and_the_cause() {
    let faults = Faults {
        copy_call: Some(0),
        ..Faults::default()
    };
    let (world, mut folios) = setup(&[0; 4], faults);
    world.borrow_mut().faults.restore_va = Some(folios[1].va);
    let r = migrate(&world, &mut folios, 4, None).unwrap_err();
    assert_eq!(
        r,
        BatchError::Rollback {
            folio: 1,
            error: PtError::AlreadyMapped(folios[1].va),
            cause: alloc::boxed::Box::new(BatchError::Copy("engine refused")),
        }
    );
    assert_eq!(r.phase(), Phase::Copy);
    let w = world.borrow();
    assert!(!w.ptes.contains_key(&folios[1].va));
    assert_eq!(w.held.len(), 4, "destinations freed, sources kept");
}

#[test]
fn a_refused_remap_in_a_mixed_batch_keeps_earlier_folios_moved() {
    let (world, mut folios) = setup(&[0, 4, 0, 9, 4, 0], Faults::default());
    world.borrow_mut().faults.remap_va = Some(folios[3].va);
    let r = migrate(&world, &mut folios, 6, None);
    assert!(matches!(r, Err(BatchError::Remap { folio: 3, .. })));
    assert_eq!(check_whole(&world, &folios), Ok(3));
    // The moved folios' sources: one free per size among them (orders 0 and 4).
    let frees = world.borrow().log.iter().filter(|s| **s == "free").count();
    assert_eq!(frees, 2);
}

#[test]
fn a_refused_unmap_at_the_first_folio_changes_nothing() {
    let (world, mut folios) = setup(&[2; 4], Faults::default());
    world.borrow_mut().faults.unmap_va = Some(folios[0].va);
    let r = migrate(&world, &mut folios, 4, None);
    assert!(matches!(r, Err(BatchError::Unmap { folio: 0, .. })));
    assert_eq!(check_whole(&world, &folios), Ok(0));
}

#[test]
fn a_pte_elsewhere_before_a_refused_unmap_restores_the_others() {
    let (world, mut folios) = setup(&[0; 6], Faults::default());
    let stray = 0xabc000;
    world.borrow_mut().ptes.insert(folios[1].va, stray);
    world.borrow_mut().faults.unmap_va = Some(folios[4].va);
    let r = migrate(&world, &mut folios, 6, None);
    assert!(matches!(r, Err(BatchError::WrongMapping { folio: 1, .. })));
    let w = world.borrow();
    assert_eq!(w.ptes[&folios[1].va], stray);
    for i in [0, 2, 3, 4, 5] {
        assert_eq!(w.ptes[&folios[i].va], folios[i].block.addr, "folio {i}");
    }
    assert_eq!(w.held.len(), 6, "destinations freed");
}

#[test]
fn an_injection_at_the_last_folio_moves_all_before_it() {
    let n = 7;
    for phase in Phase::ALL {
        let (world, mut folios) = setup(&[0, 2, 0, 2, 0, 2, 9], Faults::default());
        let at = Injection {
            phase,
            folio: n - 1,
        };
        let r = migrate(&world, &mut folios, n, Some(at));
        assert_eq!(r.err(), Some(BatchError::Injected { phase, folio: 6 }));
        let moved = if phase == Phase::Remap { n - 1 } else { 0 };
        assert_eq!(check_whole(&world, &folios), Ok(moved), "{phase:?}");
    }
}

/// The sources the allocator refused stay held; every other source is freed.
fn check_refused_sources(world: &Shared, folios: &[Folio<FakeBlock>], refused: &[u64]) {
    let w = world.borrow();
    let held: BTreeSet<u64> = w.held.keys().copied().collect();
    let mut want: BTreeSet<u64> = folios.iter().map(|f| f.block.addr).collect();
    want.extend(refused.iter().copied());
    assert_eq!(held, want);
    for f in folios {
        assert_eq!(w.ptes.get(&f.va), Some(&f.block.addr), "folio {}", f.id);
        assert_eq!(w.mem.get(&f.block.addr), Some(&f.id), "folio {}", f.id);
        assert_eq!(f.meta.node, 1);
        assert_eq!(f.meta.flags & flags::MIGRATING, 0);
    }
}

#[test]
fn a_refused_source_free_names_its_folio_and_leaves_everything_moved() {
    let faults = Faults {
        free_call: Some(0),
        ..Faults::default()
    };
    let (world, mut folios) = setup(&[0; 4], faults);
    let sources: Vec<u64> = folios.iter().map(|f| f.block.addr).collect();
    let r = migrate(&world, &mut folios, 4, None);
    assert_eq!(
        r.err(),
        Some(BatchError::FreeSource {
            folio: 0,
            error: "refused"
        })
    );
    check_refused_sources(&world, &folios, &sources);
}

#[test]
fn a_refused_source_free_in_a_mixed_batch_still_frees_the_other_sizes() {
    let faults = Faults {
        free_call: Some(0),
        ..Faults::default()
    };
    // Sources are freed per size, smallest first: the order-0 group is refused.
    let (world, mut folios) = setup(&[4, 0, 9, 0, 4], faults);
    let refused: Vec<u64> = folios
        .iter()
        .filter(|f| f.order() == 0)
        .map(|f| f.block.addr)
        .collect();
    let r = migrate(&world, &mut folios, 5, None);
    assert_eq!(
        r.err(),
        Some(BatchError::FreeSource {
            folio: 1,
            error: "refused"
        })
    );
    assert_eq!(
        world.borrow().log.iter().filter(|s| **s == "free").count(),
        3,
        "one free per size, the refused one included"
    );
    check_refused_sources(&world, &folios, &refused);
}

fn phase_strategy() -> impl Strategy<Value = Phase> {
    prop::sample::select(Phase::ALL.to_vec())
}

proptest! {
    /// Any size mix, batch size and injected failure: the workload stays whole, and
    /// exactly the batches before the failure moved.
    #[test]
    fn any_run_leaves_the_workload_whole(
        orders in prop::collection::vec(prop::sample::select(vec![0u8, 2, 4, 9]), 1..24),
        per in 1usize..9,
        inject in prop::option::of((phase_strategy(), 0usize..24)),
    ) {
        let (world, mut folios) = setup(&orders, Faults::default());
        let n = folios.len();
        let at = inject.map(|(phase, f)| Injection { phase, folio: f % n });
        let r = migrate(&world, &mut folios, per, at);
        let moved = check_whole(&world, &folios).map_err(TestCaseError::fail)?;
        match at {
            None => {
                prop_assert!(r.is_ok());
                prop_assert_eq!(moved, n);
            }
            Some(a) => {
                prop_assert_eq!(r.err(), Some(BatchError::Injected { phase: a.phase, folio: a.folio as u64 }));
                let want = if a.phase == Phase::Remap { a.folio } else { a.folio / per * per };
                prop_assert_eq!(moved, want);
            }
        }
    }
}
