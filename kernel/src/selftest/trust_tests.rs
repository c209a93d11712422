//! Self-tests of what makes a number trustworthy: a failure in any phase of a migration
//! leaves every folio mapped and intact with every frame accounted for; running out of
//! destination frames is its own outcome; a DMA op naming memory the run does not hold
//! is refused and nothing there changes; the heap grows with RAM; the limits check
//! refuses what does not fit.

use super::{check, check_eq, Test};
use crate::bench;
use crate::migrate::engine::CopyEngine;
use crate::migrate::error::{EngineError, MigrateError, Phase};
use crate::migrate::pipeline::{self, Injection};
use crate::migrate::workload::Workload;
use crate::migrate::Mode;
use crate::mm::copy::CopyList;
use crate::mm::frames::{self, Block, RangeError};
use alloc::string::String;
use alloc::vec::Vec;
use kcore::cmdline::Engine;
use kcore::pipeline::BatchError;
use ptdma::{CopyOp, DmaAddr};

pub static TESTS: &[Test] = &[
    Test {
        name: "trust_rollback_in_every_phase",
        in_default_suite: true,
        run: rollback_every_phase,
    },
    Test {
        name: "trust_out_of_memory_mid_run_keeps_folios",
        in_default_suite: true,
        run: out_of_memory_mid_run,
    },
    Test {
        name: "trust_dma_refuses_frames_not_held",
        in_default_suite: true,
        run: dma_refuses_frames_not_held,
    },
    Test {
        name: "trust_heap_sized_from_ram",
        in_default_suite: true,
        run: heap_sized_from_ram,
    },
    Test {
        name: "trust_plan_refuses_what_does_not_fit",
        in_default_suite: true,
        run: plan_refuses,
    },
];

fn two_nodes() -> Result<(u32, u32), String> {
    let nodes = frames::nodes();
    Ok((nodes[0], *nodes.last().ok_or("no memory node")?))
}

/// Folios 200 of 4K in batches of 64; a failure injected at folio 100 (the second
/// batch). Every phase, both modes, on the `cpu` engine and (when present) `dma`.
fn rollback_every_phase() -> Result<(), String> {
    let (a, b) = two_nodes()?;
    let config = crate::config();
    let mut engines: Vec<alloc::boxed::Box<dyn CopyEngine>> =
        alloc::vec![bench::engine(Engine::Cpu, config)?];
    if crate::dma::channel_count() > 0 {
        engines.push(bench::engine(Engine::Dma, config)?);
    }
    let before = frames::frames_in_use();
    for engine in engines.iter_mut() {
        for mode in [Mode::Batched, Mode::PerFolio] {
            for phase in Phase::ALL {
                let what = alloc::format!("{} {} {}", engine.name(), mode.name(), phase.name());
                let mut w = Workload::create(a, 0, 200, 0x5eed + phase as u64)?;
                let held = frames::frames_in_use();
                let inject = Injection { phase, folio: 100 };
                let r =
                    pipeline::migrate_injecting(&mut w, b, engine.as_mut(), mode, 64, Some(inject));
                let intact = w.verify_intact(a, b);
                let held_after = frames::frames_in_use();
                w.destroy()?;
                let want = MigrateError::Batch(BatchError::Injected { phase, folio: 100 });
                check(r.as_ref().err() == Some(&want), || {
                    alloc::format!("{what}: expected {want}, got {:?}", r.as_ref().err())
                })?;
                let moved = intact.map_err(|e| alloc::format!("{what}: {e}"))?;
                // Batches before the failed one moved; in remap, the failed batch's
                // folios before the failure moved too; nothing else did.
                let want_moved = match (mode, phase) {
                    (_, Phase::Remap) => 100,
                    (Mode::Batched, _) => 64,
                    (Mode::PerFolio, _) => 100,
                };
                check_eq(&alloc::format!("{what}: folios moved"), moved, want_moved)?;
                check_eq(
                    &alloc::format!("{what}: frames held after the failure"),
                    held_after,
                    held,
                )?;
            }
        }
    }
    check_eq(
        "frames in use after every rollback",
        frames::frames_in_use(),
        before,
    )
}

/// Takes every free block of `order` or larger on `node`, as blocks of `order` (a real
/// shortage, not an injected one), then gives `keep` of them back.
fn hog(node: u32, order: usize, keep: usize) -> Vec<Block> {
    let mut taken = Vec::new();
    while let Ok(b) = frames::alloc_data(node, order) {
        taken.push(b);
    }
    for _ in 0..keep {
        if let Some(b) = taken.pop() {
            let _ = frames::free(b);
        }
    }
    taken
}

/// A migration of 64 x 64K folios to a node left with room for 10: prepare runs out of
/// frames mid-batch; the error is out-of-memory, every folio is still on the source,
/// mapped and intact, and no frame is lost.
fn out_of_memory_mid_run() -> Result<(), String> {
    let (a, b) = two_nodes()?;
    if a == b {
        crate::print!("(one memory node) ");
        return Ok(());
    }
    let mut engine = bench::engine(Engine::Cpu, crate::config())?;
    let before = frames::frames_in_use();
    let mut w = Workload::create(a, 4, 64, 0x00f)?;
    let held = frames::frames_in_use();
    let taken = hog(b, 4, 10);
    let left = bench::limits::room()
        .nodes
        .iter()
        .find(|r| r.node == b)
        .map_or(0, |r| r.frames_at_or_above(4));
    check_eq(
        "64K-or-larger frames left on the destination",
        left,
        10 * 16,
    )?;
    let r = pipeline::migrate(&mut w, b, engine.as_mut(), Mode::Batched, u64::MAX);
    let held_after = frames::frames_in_use() - taken.iter().map(|b| 1u64 << b.order()).sum::<u64>();
    for blk in taken {
        frames::free(blk).map_err(|e| alloc::format!("{e}"))?;
    }
    let intact = w.verify_intact(a, b);
    w.destroy()?;
    match &r {
        Err(e) if e.is_out_of_memory() => crate::print!("({e}) "),
        other => return Err(alloc::format!("expected out of memory, got {other:?}")),
    }
    check_eq("folios moved", intact?, 0)?;
    check_eq("frames held after the failure", held_after, held)?;
    check_eq("frames in use at the end", frames::frames_in_use(), before)
}

/// (what, address, the refusal expected).
type RefusalCase = (&'static str, u64, fn(&RangeError) -> bool);

/// A page of the kernel image (in `.data`): RAM no allocator manages.
#[repr(C, align(4096))]
struct ImagePage([u8; 4096]);
static IMAGE_PAGE: spin::Mutex<ImagePage> = spin::Mutex::new(ImagePage([0x1d; 4096]));

/// Ops naming a kernel structure, the kernel image, the heap or a free frame are
/// refused before any descriptor is written, and nothing there changes; an op on two
/// data frames passes the same check, and one running past its block does not.
fn dma_refuses_frames_not_held() -> Result<(), String> {
    let (a, b) = two_nodes()?;
    let mut src = frames::alloc_data(a, 0).map_err(|e| alloc::format!("{e}"))?;
    src.as_mut_slice().fill(0xa5);
    let mut kernel_page = frames::alloc(b, 0).map_err(|e| alloc::format!("{e}"))?;
    let free_page = frames::alloc_data(b, 0).map_err(|e| alloc::format!("{e}"))?;
    let free_addr = free_page.addr().as_u64();
    frames::free(free_page).map_err(|e| alloc::format!("{e}"))?;
    let heap_obj = alloc::boxed::Box::new([0x5au8; 8192]);
    let image = IMAGE_PAGE.lock();
    let image_addr = image.0.as_ptr() as u64;
    let heap_addr = (heap_obj.as_ptr() as u64 + 4095) & !4095;
    let op = |dst: u64| CopyOp {
        src: DmaAddr::new(src.addr().as_u64()),
        dst: DmaAddr::new(dst),
        len: 4096,
    };
    // What each target holds, read through its owner's view (the free frame has none:
    // the check alone must stop it).
    let view = |which: usize| -> Vec<u8> {
        match which {
            0 => kernel_page.as_slice().to_vec(),
            1 => image.0.to_vec(),
            2 => heap_obj.to_vec(),
            _ => Vec::new(),
        }
    };
    let cases: [RefusalCase; 4] = [
        ("a page-table frame", kernel_page.addr().as_u64(), |e| {
            matches!(e, RangeError::KernelUse(_))
        }),
        // Reserved inside a node's span, or outside every zone: refused either way.
        ("the kernel image", image_addr, |e| {
            matches!(e, RangeError::Unmanaged(_) | RangeError::NotHeld(_))
        }),
        ("the heap", heap_addr, |e| {
            matches!(e, RangeError::Unmanaged(_) | RangeError::NotHeld(_))
        }),
        ("a free frame", free_addr, |e| {
            matches!(e, RangeError::NotHeld(_))
        }),
    ];
    let mut engine = if crate::dma::channel_count() > 0 {
        Some(bench::engine(Engine::Dma, crate::config())?)
    } else {
        None
    };
    let mut result = Ok(());
    for (k, (name, addr, want)) in cases.into_iter().enumerate() {
        let before = view(k);
        let checked = crate::dma::check_owned(&[op(addr)]);
        if !checked.as_ref().err().is_some_and(|e| want(&e.error)) {
            result = Err(alloc::format!("{name}: check gave {checked:?}"));
            break;
        }
        if view(k) != before {
            result = Err(alloc::format!("{name}: its memory changed"));
            break;
        }
    }
    drop(image);
    // Through the engine: a batch can only be built from held blocks, so the one case
    // safe code can express is a held kernel structure as a destination.
    if let (Ok(()), Some(e)) = (&result, engine.as_mut()) {
        let before = kernel_page.as_slice().to_vec();
        let mut buf = Vec::new();
        let mut list = CopyList::new(&mut buf);
        list.push(&src, &mut kernel_page)
            .map_err(|e| alloc::format!("{e}"))?;
        let copied = e.copy(&mut list.batch());
        if !matches!(copied, Err(EngineError::NotOwned(_))) {
            result = Err(alloc::format!(
                "a page-table frame: the DMA engine did not refuse it ({copied:?})"
            ));
        } else if kernel_page.as_slice() != before.as_slice() {
            result = Err(String::from("a page-table frame: its memory changed"));
        }
    }
    let good = frames::alloc_data(b, 0).map_err(|e| alloc::format!("{e}"))?;
    let pass = crate::dma::check_owned(&[op(good.addr().as_u64())]);
    let past_end = crate::dma::check_owned(&[CopyOp {
        len: 8192,
        ..op(good.addr().as_u64())
    }]);
    drop(heap_obj);
    for blk in [src, kernel_page, good] {
        frames::free(blk).map_err(|e| alloc::format!("{e}"))?;
    }
    result?;
    check(pass.is_ok(), || {
        alloc::format!("two data frames refused: {pass:?}")
    })?;
    check(
        matches!(past_end, Err(e) if matches!(e.error, RangeError::CrossesBlock { .. })),
        || alloc::format!("a range past its block passed: {past_end:?}"),
    )
}

/// The heap has an arena sized from RAM besides the early one, and holds a 24 MiB
/// table (the bookkeeping of ~330 000 folios), which the early arena alone cannot.
fn heap_sized_from_ram() -> Result<(), String> {
    let usable: u64 = frames::node_counts().iter().map(|c| c.3 * 4096).sum();
    let extra = (crate::heap::size() - crate::heap::EARLY_HEAP_BYTES) as u64;
    check(extra > 0, || "no heap arena sized from RAM".into())?;
    check(extra >= crate::heap::main_arena_bytes(usable) / 2, || {
        alloc::format!("main arena {extra} bytes for {usable} bytes of RAM")
    })?;
    if extra < 32 << 20 {
        crate::print!("(small machine: {} MiB arena) ", extra >> 20);
        return Ok(());
    }
    let mut v: Vec<u64> = Vec::new();
    v.try_reserve_exact(3 << 20)
        .map_err(|e| alloc::format!("24 MiB table: {e}"))?;
    v.resize(3 << 20, 7);
    check_eq("sum of the table", v.iter().sum::<u64>(), 7 * (3 << 20))
}

/// A cell twice the size of a node's free memory is refused with the node's numbers.
fn plan_refuses() -> Result<(), String> {
    let (a, b) = two_nodes()?;
    let room = bench::limits::room();
    let free = room
        .nodes
        .iter()
        .find(|r| r.node == a)
        .map_or(0, |r| r.frames_at_or_above(0));
    let cell = kcore::plan::CellNeed {
        from: a,
        to: b,
        order: 0,
        folios: free * 2,
        batch_folios: 512,
        raw_copy: false,
    };
    match bench::limits::check(&[cell]) {
        Err(kcore::plan::PlanError::NodeMemory { node, .. }) if node == a => Ok(()),
        other => Err(alloc::format!(
            "expected a refusal naming node {a}, got {other:?}"
        )),
    }
}
