//! Randomized map/unmap/remap sequences checked against a simple model after every step.

use std::collections::HashSet;

use super::*;

/// 2 MiB regions folios are placed in: neighbours, other GiBs, other PML4 slots, the top.
const REGIONS: [u64; 11] = [
    0x0020_0000,
    0x0040_0000,
    0x4000_0000,
    0x8000_0000,
    0x0000_0080_0000_0000,
    0x0000_0100_0000_0000,
    0x0000_3000_0000_0000,
    0x0000_3000_0020_0000,
    0x0000_3000_4000_0000,
    0x0000_5555_5540_0000,
    0x0000_7FFF_FFE0_0000,
];

#[derive(Clone, Copy, Debug)]
struct Folio {
    va: u64,
    order: u8,
    pa: u64,
}

impl Folio {
    fn end(&self) -> u64 {
        self.va + folio_size(self.order).unwrap()
    }
}

/// What the tree should contain: mapped folios and which tables exist.
#[derive(Default)]
struct Model {
    mapped: Vec<Folio>,
    unmapped: Vec<Folio>,
    /// 2 MiB regions whose PDE references a page table.
    pts: HashSet<u64>,
    /// 1 GiB regions with a PD; 512 GiB regions with a PDPT (never freed).
    pds: HashSet<u64>,
    pdpts: HashSet<u64>,
}

impl Model {
    fn overlaps(&self, f: &Folio) -> bool {
        self.mapped.iter().any(|m| m.va < f.end() && f.va < m.end())
    }

    /// Tables a map of `f` must allocate.
    fn missing_tables(&self, f: &Folio) -> usize {
        let small = f.order < HUGE_ORDER;
        usize::from(!self.pdpts.contains(&(f.va >> 39)))
            + usize::from(!self.pds.contains(&(f.va >> 30)))
            + usize::from(small && !self.pts.contains(&(f.va >> 21)))
    }

    /// Records a successful map; returns whether a page table was replaced.
    fn install(&mut self, f: Folio) -> bool {
        self.pdpts.insert(f.va >> 39);
        self.pds.insert(f.va >> 30);
        let replaced = if f.order == HUGE_ORDER {
            self.pts.remove(&(f.va >> 21))
        } else {
            self.pts.insert(f.va >> 21);
            false
        };
        self.mapped.push(f);
        replaced
    }

    fn lookup(&self, va: u64) -> Option<(u64, u64)> {
        let f = self.mapped.iter().find(|f| f.va <= va && va < f.end())?;
        let leaf = if f.order == HUGE_ORDER {
            HUGE_PAGE_SIZE
        } else {
            PAGE_SIZE
        };
        Some((f.pa + (va - f.va), leaf))
    }
}

fn random_folio(rng: &mut crate::rng::XorShift, next_pa: &mut u64) -> Folio {
    // 2 MiB folios fill a whole region, so keep them rarer than each small order together.
    let order = if rng.below(6) == 0 {
        9
    } else {
        rng.below(9) as u8
    };
    let size = folio_size(order).unwrap();
    let region = REGIONS[rng.below(REGIONS.len() as u64) as usize];
    let va = region + rng.below(HUGE_PAGE_SIZE / size) * size;
    // Folios 4 MiB apart physically, so two folios never look like one contiguous folio.
    *next_pa += 4 << 20;
    Folio {
        va,
        order,
        pa: *next_pa,
    }
}

fn check(mem: &FakeMemory, space: &AddressSpace, model: &Model, rng: &mut crate::rng::XorShift) {
    assert_eq!(mem.live(), space.table_frames(), "table accounting");
    let mut probes: Vec<u64> = model
        .mapped
        .iter()
        .flat_map(|f| [f.va, f.end() - 1])
        .collect();
    probes.extend(model.unmapped.iter().map(|f| f.va));
    for _ in 0..8 {
        let region = REGIONS[rng.below(REGIONS.len() as u64) as usize];
        probes.push(region + rng.below(HUGE_PAGE_SIZE));
    }
    for va in probes {
        let got = space.translate(mem, va).map(|t| (t.pa, t.leaf_size));
        assert_eq!(got, model.lookup(va), "translate {va:#x}");
    }
}

/// Outcomes seen, to prove every branch of the model was exercised.
#[derive(Default)]
struct Tally {
    fresh: usize,
    replaced: usize,
    already: usize,
    oom: usize,
    no_table: usize,
    unmapped: usize,
    not_mapped: usize,
}

/// Checks a map (`allocate`) or remap of `f` against the model, then updates the model.
fn expect_install(
    model: &mut Model,
    tally: &mut Tally,
    f: Folio,
    got: Result<MapOutcome, PtError>,
    allocate: bool,
    allowed: Option<usize>,
) {
    let missing = model.missing_tables(&f);
    if model.overlaps(&f) {
        assert!(matches!(got, Err(PtError::AlreadyMapped(_))), "{f:?}");
        tally.already += 1;
    } else if !allocate && missing > 0 {
        assert_eq!(got, Err(PtError::NoTable(f.va)), "{f:?}");
        tally.no_table += 1;
    } else if allowed.is_some_and(|n| n < missing) {
        assert_eq!(got, Err(PtError::OutOfMemory), "{f:?}");
        tally.oom += 1;
    } else if model.install(f) {
        assert_eq!(got, Ok(MapOutcome::ReplacedTable), "{f:?}");
        tally.replaced += 1;
    } else {
        assert_eq!(got, Ok(MapOutcome::Fresh), "{f:?}");
        tally.fresh += 1;
    }
}

fn run(seed: u64, steps: usize, tally: &mut Tally) {
    let mut rng = crate::rng::XorShift::new(seed);
    let (mut mem, mut space) = setup();
    let mut model = Model::default();
    let mut next_pa = 0x1_0000_0000u64;
    let flags = LeafFlags::DATA;
    for _ in 0..steps {
        match rng.below(10) {
            0..=3 => {
                let f = random_folio(&mut rng, &mut next_pa);
                let allowed = (rng.below(4) == 0).then(|| rng.below(3) as usize);
                mem.fail_after = allowed;
                let got = space.map(&mut mem, f.va, f.pa, f.order, flags);
                mem.fail_after = None;
                expect_install(&mut model, tally, f, got, true, allowed);
            }
            4..=6 if !model.mapped.is_empty() => {
                let i = rng.below(model.mapped.len() as u64) as usize;
                let f = model.mapped.swap_remove(i);
                assert_eq!(space.unmap(&mut mem, f.va, f.order), Ok(f.pa), "{f:?}");
                model.unmapped.push(f);
                tally.unmapped += 1;
            }
            7 | 8 => {
                // Mostly a folio unmapped before, sometimes one never mapped.
                let f = if !model.unmapped.is_empty() && rng.below(4) != 0 {
                    let i = rng.below(model.unmapped.len() as u64) as usize;
                    let mut f = model.unmapped.swap_remove(i);
                    next_pa += 4 << 20;
                    f.pa = next_pa;
                    f
                } else {
                    random_folio(&mut rng, &mut next_pa)
                };
                let got = space.remap(&mut mem, f.va, f.pa, f.order, flags);
                expect_install(&mut model, tally, f, got, false, None);
            }
            _ => {
                // Unmap of a random range that overlaps nothing.
                let f = random_folio(&mut rng, &mut next_pa);
                if !model.overlaps(&f) {
                    let got = space.unmap(&mut mem, f.va, f.order);
                    assert_eq!(got, Err(PtError::NotMapped(f.va)));
                    tally.not_mapped += 1;
                }
            }
        }
        check(&mem, &space, &model, &mut rng);
    }
    let frames = space.table_frames();
    assert_eq!(space.destroy(&mut mem), frames);
    assert_eq!(mem.live(), 0, "seed {seed:#x}");
}

#[test]
fn random_sequences_match_the_model() {
    let mut tally = Tally::default();
    for seed in [0x9E37_79B9_7F4A_7C15, 1, 0xDEAD_BEEF, 0x1234_5678_9ABC_DEF0] {
        run(seed, 3000, &mut tally);
    }
    let t = &tally;
    let counts = [
        t.fresh,
        t.replaced,
        t.already,
        t.oom,
        t.no_table,
        t.unmapped,
        t.not_mapped,
    ];
    assert!(
        counts.iter().all(|&n| n > 0),
        "branch not exercised: {counts:?}"
    );
}
