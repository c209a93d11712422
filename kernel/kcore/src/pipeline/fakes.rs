//! Fakes of the pipeline's seams for the host tests: a frame allocator that hands out
//! numbered blocks, a page table as a map, memory as one tag per block, a copier that
//! moves tags, and failures to inject into each.

use super::*;
use crate::migrate::flags;
use crate::pagetable::PtError;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::rc::Rc;
use alloc::string::String;
use core::cell::RefCell;

pub(super) const FRAME: u64 = 4096;

#[derive(Debug, PartialEq, Eq)]
pub(super) struct FakeBlock {
    pub(super) addr: u64,
    pub(super) order: u8,
    pub(super) node: u32,
}

impl FrameBlock for FakeBlock {
    fn addr(&self) -> u64 {
        self.addr
    }
    fn order(&self) -> u8 {
        self.order
    }
    fn node(&self) -> u32 {
        self.node
    }
}

/// Failures to make happen.
#[derive(Default, Clone)]
pub(super) struct Faults {
    /// The alloc_bulk call (0-based) that fails.
    pub(super) alloc_call: Option<usize>,
    /// The copy call (0-based) that fails.
    pub(super) copy_call: Option<usize>,
    /// Unmapping this va fails.
    pub(super) unmap_va: Option<u64>,
    /// Remapping this va to a destination fails (remap_batch).
    pub(super) remap_va: Option<u64>,
    /// Mapping this va back (restore) fails.
    pub(super) restore_va: Option<u64>,
    /// The free_bulk call (0-based) that fails (the allocator refuses its first block).
    pub(super) free_call: Option<usize>,
}

#[derive(Default)]
pub(super) struct World {
    pub(super) log: Vec<&'static str>,
    /// Blocks handed out and not freed: addr -> (order, node).
    pub(super) held: BTreeMap<u64, (u8, u32)>,
    /// Data tag of each block (by address).
    pub(super) mem: BTreeMap<u64, u64>,
    /// va -> pa.
    pub(super) ptes: BTreeMap<u64, u64>,
    pub(super) next: u64,
    pub(super) alloc_calls: usize,
    pub(super) copy_calls: usize,
    pub(super) free_calls: usize,
    pub(super) faults: Faults,
}

pub(super) type Shared = Rc<RefCell<World>>;

pub(super) struct FakeFrames(pub(super) Shared);
pub(super) struct FakeMapper(pub(super) Shared);
pub(super) struct FakeCopier(pub(super) Shared);
pub(super) struct Ticks(pub(super) u64);

impl Frames for FakeFrames {
    type Block = FakeBlock;
    type Error = &'static str;

    fn alloc_bulk(
        &mut self,
        node: u32,
        order: u8,
        count: usize,
        out: &mut Vec<FakeBlock>,
    ) -> Result<(), &'static str> {
        let mut w = self.0.borrow_mut();
        w.log.push("alloc");
        let call = w.alloc_calls;
        w.alloc_calls += 1;
        if w.faults.alloc_call == Some(call) {
            return Err("no memory");
        }
        for _ in 0..count {
            let size = FRAME << order;
            let addr = w.next.div_ceil(size) * size + (u64::from(node) << 40);
            w.next = (addr & ((1 << 40) - 1)) + size;
            w.held.insert(addr, (order, node));
            w.mem.insert(addr, 0xdead);
            out.push(FakeBlock { addr, order, node });
        }
        Ok(())
    }

    fn free_bulk(&mut self, blocks: &mut Vec<FakeBlock>) -> Result<(), (usize, &'static str)> {
        let mut w = self.0.borrow_mut();
        w.log.push("free");
        let call = w.free_calls;
        w.free_calls += 1;
        if w.faults.free_call == Some(call) {
            return Err((0, "refused"));
        }
        if let Some(i) = blocks.iter().position(|b| !w.held.contains_key(&b.addr)) {
            return Err((i, "double free"));
        }
        for b in blocks.drain(..) {
            w.held.remove(&b.addr);
        }
        Ok(())
    }

    fn free(&mut self, block: FakeBlock) -> Result<(), &'static str> {
        let mut w = self.0.borrow_mut();
        w.held.remove(&block.addr).map(|_| ()).ok_or("double free")
    }
}

impl Mapper for FakeMapper {
    fn unmap_batch(
        &mut self,
        folios: &[(u64, u8)],
        found: &mut Vec<u64>,
    ) -> Result<(), (usize, PtError)> {
        let mut w = self.0.borrow_mut();
        w.log.push("unmap");
        for (i, &(va, _)) in folios.iter().enumerate() {
            if w.faults.unmap_va == Some(va) {
                return Err((i, PtError::NotMapped(va)));
            }
            found.push(w.ptes.remove(&va).ok_or((i, PtError::NotMapped(va)))?);
        }
        Ok(())
    }

    fn flush(&mut self, unmapped: &[(u64, u8)]) -> bool {
        self.0.borrow_mut().log.push("flush");
        unmapped.len() > 8
    }

    fn remap_batch(&mut self, folios: &[(u64, u64, u8)]) -> Result<(), (usize, PtError)> {
        let mut w = self.0.borrow_mut();
        w.log.push("remap");
        for (i, &(va, pa, _)) in folios.iter().enumerate() {
            if w.faults.remap_va == Some(va) {
                return Err((i, PtError::AlreadyMapped(va)));
            }
            if w.ptes.insert(va, pa).is_some() {
                return Err((i, PtError::AlreadyMapped(va)));
            }
        }
        Ok(())
    }

    fn remap(&mut self, va: u64, pa: u64, _order: u8) -> Result<(), PtError> {
        let mut w = self.0.borrow_mut();
        if w.faults.restore_va == Some(va) || w.ptes.contains_key(&va) {
            return Err(PtError::AlreadyMapped(va));
        }
        w.ptes.insert(va, pa);
        Ok(())
    }
}

impl Copier<FakeBlock> for FakeCopier {
    type Outcome = usize;
    type Error = &'static str;

    fn copy(
        &mut self,
        batch: &[Folio<FakeBlock>],
        dst: &mut [(FakeBlock, FolioMeta)],
    ) -> Result<usize, &'static str> {
        let mut w = self.0.borrow_mut();
        w.log.push("copy");
        let call = w.copy_calls;
        w.copy_calls += 1;
        if w.faults.copy_call == Some(call) {
            return Err("engine refused");
        }
        for (f, (d, _)) in batch.iter().zip(dst.iter()) {
            // Every folio is unmapped while it is copied.
            assert!(
                !w.ptes.contains_key(&f.va),
                "folio {} copied while mapped",
                f.id
            );
            let tag = w.mem[&f.block.addr];
            w.mem.insert(d.addr, tag);
        }
        Ok(batch.len())
    }
}

impl Clock for Ticks {
    fn now_ns(&mut self) -> u64 {
        self.0 += 10;
        self.0
    }
}

/// `orders.len()` folios on node 0, mapped, each holding its id as data.
pub(super) fn setup(orders: &[u8], faults: Faults) -> (Shared, Vec<Folio<FakeBlock>>) {
    let world: Shared = Rc::new(RefCell::new(World::default()));
    let mut frames = FakeFrames(world.clone());
    let mut folios = Vec::new();
    for (id, &order) in orders.iter().enumerate() {
        let mut v = Vec::new();
        frames.alloc_bulk(0, order, 1, &mut v).unwrap();
        let block = v.pop().unwrap();
        let va = 0x7000_0000_0000 + id as u64 * (2 << 20);
        let mut w = world.borrow_mut();
        w.mem.insert(block.addr, id as u64);
        w.ptes.insert(va, block.addr);
        folios.push(Folio {
            id: id as u64,
            va,
            block,
            meta: FolioMeta {
                flags: flags::UPTODATE,
                mapping: 7,
                index: id as u64,
                refcount: 1,
                node: 0,
            },
        });
    }
    {
        let mut w = world.borrow_mut();
        w.log.clear();
        w.alloc_calls = 0;
        w.free_calls = 0;
        w.faults = faults;
    }
    (world, folios)
}

pub(super) fn ranges(n: usize, per: usize) -> Vec<Range<usize>> {
    (0..n).step_by(per).map(|s| s..(s + per).min(n)).collect()
}

pub(super) type Res = Result<Vec<BatchReport<usize>>, BatchError<&'static str, &'static str>>;

pub(super) fn migrate(
    world: &Shared,
    folios: &mut [Folio<FakeBlock>],
    per: usize,
    at: Option<Injection>,
) -> Res {
    let (mut fr, mut mp, mut cp, mut ck) = (
        FakeFrames(world.clone()),
        FakeMapper(world.clone()),
        FakeCopier(world.clone()),
        Ticks(0),
    );
    let mut ports = Ports {
        frames: &mut fr,
        mapper: &mut mp,
        copier: &mut cp,
        clock: &mut ck,
    };
    let mut reports = Vec::new();
    run(&mut ports, folios, ranges(folios.len(), per), 1, at, |r| {
        reports.push(r)
    })?;
    Ok(reports)
}

/// What must hold after any run, finished or rolled back: every folio mapped to its own
/// block, which holds its data and is on `from` or `to` as its metadata says, no
/// MIGRATING bit, and exactly the folios' blocks held. Returns how many are on node 1.
pub(super) fn check_whole(world: &Shared, folios: &[Folio<FakeBlock>]) -> Result<usize, String> {
    let w = world.borrow();
    for f in folios {
        if w.ptes.get(&f.va) != Some(&f.block.addr) {
            return Err(alloc::format!(
                "folio {} mapped to {:?}",
                f.id,
                w.ptes.get(&f.va)
            ));
        }
        if w.mem.get(&f.block.addr) != Some(&f.id) {
            return Err(alloc::format!("folio {} lost its data", f.id));
        }
        if f.meta.node != f.block.node || f.meta.flags & flags::MIGRATING != 0 {
            return Err(alloc::format!("folio {} metadata {:?}", f.id, f.meta));
        }
    }
    let held: BTreeSet<u64> = w.held.keys().copied().collect();
    let owned: BTreeSet<u64> = folios.iter().map(|f| f.block.addr).collect();
    if held != owned {
        return Err(alloc::format!(
            "frames held {held:x?}, folios own {owned:x?}"
        ));
    }
    Ok(folios.iter().filter(|f| f.block.node == 1).count())
}
