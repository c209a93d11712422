//! Topology decoding against CPUID as QEMU 7.2 TCG presents it (shared/reference/qemu-topology.md).

use super::*;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

#[derive(Clone, Copy, PartialEq)]
enum Model {
    /// `-cpu EPYC-Milan`: max std leaf 0xD, xlevel 0x8000001E, TOPOEXT masked.
    Milan,
    /// `-cpu EPYC-Milan,level=0x1f`: adds leaf 0x1F with a die level.
    Milan1F,
    /// `-cpu max`: AMD vendor, max ext leaf 0x8000000A (no 0x8000001D/1E).
    Max,
    /// `-cpu Skylake-Server`: Intel, leaf 4 caches, leaf 0x1F dies.
    Skylake,
}

/// One vCPU of a QEMU machine `-smp sockets=s,dies=d,cores=c,threads=t`.
struct Qemu {
    model: Model,
    d: u32,
    c: u32,
    t: u32,
    /// (socket, die, core, thread) of this vCPU.
    pos: (u32, u32, u32, u32),
}

fn regs(eax: u32, ebx: u32, ecx: u32, edx: u32) -> CpuidRegs {
    CpuidRegs { eax, ebx, ecx, edx }
}

impl Qemu {
    fn widths(&self) -> (u32, u32, u32) {
        let smt = log2ceil(self.t);
        let die_off = smt + log2ceil(self.c);
        (smt, die_off, die_off + log2ceil(self.d))
    }

    fn apic(&self) -> u32 {
        let (smt, die_off, pkg_off) = self.widths();
        let (s, d, c, t) = self.pos;
        s << pkg_off | d << die_off | c << smt | t
    }
}

impl CpuidSource for Qemu {
    fn cpuid(&self, leaf: u32, sub: u32) -> CpuidRegs {
        let amd = self.model != Model::Skylake;
        let max_std = match self.model {
            Model::Milan | Model::Max => 0xd,
            Model::Milan1F | Model::Skylake => 0x1f,
        };
        let max_ext = match self.model {
            Model::Milan | Model::Milan1F => 0x8000_001e,
            Model::Max => 0x8000_000a,
            Model::Skylake => 0x8000_0008,
        };
        if (leaf < 0x8000_0000 && leaf > max_std) || leaf > max_ext {
            return CpuidRegs::default();
        }
        let (smt_w, die_off, pkg_off) = self.widths();
        let (apic, per_die) = (self.apic(), self.c * self.t);
        let (s, d, c, _) = self.pos;
        // Cache descriptor EAX: type, level, sharing-1 at [25:14].
        let cache = |ty: u32, level: u32, share: u32| ty | level << 5 | 1 << 8 | (share - 1) << 14;
        match (leaf, sub) {
            (0, _) if amd => regs(max_std, 0x6874_7541, 0x444d_4163, 0x6974_6e65),
            (0, _) => regs(max_std, 0x756e_6547, 0x6c65_746e, 0x4965_6e69),
            // Leaf 1 counts logical CPUs per die (observed), HTT set when that exceeds 1.
            (1, _) => regs(
                0x00a0_0f11,
                apic << 24 | per_die << 16 | 8 << 8,
                0,
                u32::from(per_die > 1) << 28,
            ),
            (4, 0) => regs(cache(1, 1, self.t) | (self.c - 1) << 26, 0, 0, 0),
            (4, 1) => regs(cache(2, 1, self.t) | (self.c - 1) << 26, 0, 0, 0),
            (4, 2) => regs(cache(3, 2, self.t) | (self.c - 1) << 26, 0, 0, 0),
            (4, 3) => regs(cache(3, 3, 1 << die_off) | (self.c - 1) << 26, 0, 0, 0),
            (0xb, 0) | (0x1f, 0) => regs(smt_w, self.t, 1 << 8, apic),
            (0xb, 1) => regs(pkg_off, per_die, 1 | 2 << 8, apic),
            (0x1f, 1) => regs(die_off, per_die, 1 | 2 << 8, apic),
            (0x1f, 2) => regs(pkg_off, self.d * per_die, 2 | 5 << 8, apic),
            (0xb | 0x1f, n) => regs(0, 0, n, apic),
            (0x8000_0000, _) => regs(max_ext, 0, 0, 0),
            (0x8000_0008, _) if amd => regs(0x3030, 0, pkg_off << 12 | (per_die - 1), 0),
            (0x8000_001d, 0) => regs(cache(1, 1, self.t), 0, 0, 0),
            (0x8000_001d, 1) => regs(cache(2, 1, self.t), 0, 0, 0),
            (0x8000_001d, 2) => regs(cache(3, 2, self.t), 0, 0, 0),
            (0x8000_001d, 3) => regs(cache(3, 3, per_die), 0, 0, 0),
            (0x8000_001e, _) => {
                let node = s * self.d + d;
                regs(
                    apic,
                    (self.t - 1) << 8 | (d * self.c + c),
                    (self.d - 1) << 8 | node,
                    0,
                )
            }
            _ => CpuidRegs::default(),
        }
    }
}

/// Decodes every vCPU of `-smp n,sockets=s,dies=d,cores=c,threads=t` (first `n` in QEMU order),
/// with NUMA nodes from `node_of(cpu index)` standing in for SRAT.
fn machine(
    model: Model,
    s: u32,
    d: u32,
    c: u32,
    t: u32,
    node_of: impl Fn(usize) -> u32,
) -> Topology {
    let mut entries = Vec::new();
    for si in 0..s {
        for di in 0..d {
            for ci in 0..c {
                for ti in 0..t {
                    let q = Qemu {
                        model,
                        d,
                        c,
                        t,
                        pos: (si, di, ci, ti),
                    };
                    let cpu = entries.len();
                    entries.push(CpuEntry {
                        cpu,
                        ident: decode(&q),
                        node: node_of(cpu),
                    });
                }
            }
        }
    }
    Topology::from_idents(&entries).unwrap()
}

fn apics(t: &Topology) -> Vec<u32> {
    t.cpus().iter().map(|c| c.apic_id).collect()
}

fn l3_groups(t: &Topology) -> Vec<Vec<usize>> {
    t.l3_ids().into_iter().map(|l| t.cpus_of_l3(l)).collect()
}

#[test]
fn milan_4vcpu_two_dies_two_nodes() {
    // Recommended line (i): 1s x 2d x 2c, -numa cpus=0-1 / 2-3. With and without level=0x1f.
    for model in [Model::Milan, Model::Milan1F] {
        let t = machine(model, 1, 2, 2, 1, |cpu| (cpu / 2) as u32);
        assert_eq!(apics(&t), [0, 1, 2, 3]);
        assert_eq!(t.l3_source(), L3Source::Amd8000001D);
        assert_eq!(l3_groups(&t), [vec![0, 1], vec![2, 3]]);
        assert_eq!(
            (t.packages(), t.dies(), t.l3_domains(), t.cores(), t.nodes()),
            (1, 2, 2, 4, 2)
        );
        assert_eq!(t.cpus_of_node(1), [2, 3]);
        parse_shape("1s2d2c1t2n").unwrap().matches(&t).unwrap();
    }
    let q = Qemu {
        model: Model::Milan1F,
        d: 2,
        c: 2,
        t: 1,
        pos: (0, 1, 0, 0),
    };
    assert_eq!(decode(&q).levels, LevelSource::Leaf1F);
    let q = Qemu {
        model: Model::Milan,
        ..q
    };
    assert_eq!(
        (decode(&q).levels, decode(&q).vendor, decode(&q).l3_sharing),
        (LevelSource::LeafB, Vendor::Amd, 2)
    );
}

#[test]
fn milan_8vcpu_two_sockets_two_dies() {
    // Recommended line (ii): NodeId 0..3 (dies) but SRAT nodes 0,0,0,0,1,1,1,1.
    for model in [Model::Milan, Model::Milan1F] {
        let t = machine(model, 2, 2, 2, 1, |cpu| (cpu / 4) as u32);
        assert_eq!(apics(&t), [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(
            l3_groups(&t),
            [vec![0, 1], vec![2, 3], vec![4, 5], vec![6, 7]]
        );
        let pk: Vec<u32> = t.cpus().iter().map(|c| c.package).collect();
        assert_eq!(pk, [0, 0, 0, 0, 1, 1, 1, 1]);
        let nodes: Vec<u32> = t.cpus().iter().map(|c| c.node).collect();
        assert_eq!(nodes, [0, 0, 0, 0, 1, 1, 1, 1]);
        assert_eq!((t.dies(), t.nodes()), (4, 2));
        parse_shape("2s2d2c1t2n").unwrap().matches(&t).unwrap();
        let err = parse_shape("1s2d4c").unwrap().matches(&t).unwrap_err();
        assert_eq!(
            err.mismatches[0],
            Mismatch {
                count: Count::Sockets,
                expected: 1,
                found: 2
            }
        );
        assert!(!err.dies_unseen);
        let err = err.to_string();
        assert!(err.contains("expected 1 sockets, found 2"), "{err}");
    }
}

#[test]
fn cpu_max_has_no_amd_leaves() {
    let t = machine(Model::Max, 1, 2, 4, 1, |_| 0);
    assert_eq!(t.l3_source(), L3Source::Unknown);
    assert_eq!((t.l3_domains(), t.dies(), t.cores()), (1, 1, 8));
    let err = parse_shape("1s2d4c1t").unwrap().matches(&t).unwrap_err();
    // One die of 8 cores seen; L3 domains are not compared without a cache leaf.
    assert_eq!(
        err.mismatches,
        [
            Mismatch {
                count: Count::DiesPerSocket,
                expected: 2,
                found: 1
            },
            Mismatch {
                count: Count::CoresPerDie,
                expected: 4,
                found: 8
            }
        ]
    );
    assert!(err.dies_unseen);
    let err = err.to_string();
    assert_eq!(
        err,
        "expected 2 dies per socket, found 1; expected 4 cores per die, found 8 \
         (CPUID has no die/L3 leaves, e.g. -cpu max: dies cannot be seen)"
    );
    assert!(
        err.contains("dies per socket") && err.contains("-cpu max"),
        "{err}"
    );
    parse_shape("1s1d8c1t").unwrap().matches(&t).unwrap();
}

#[test]
fn milan_smt_pairs() {
    let t = machine(Model::Milan, 1, 1, 4, 2, |_| 0);
    assert_eq!(apics(&t), [0, 1, 2, 3, 4, 5, 6, 7]);
    let cores: Vec<(u32, u32)> = t.cpus().iter().map(|c| (c.core, c.smt)).collect();
    assert_eq!(
        cores,
        [
            (0, 0),
            (0, 1),
            (1, 0),
            (1, 1),
            (2, 0),
            (2, 1),
            (3, 0),
            (3, 1)
        ]
    );
    assert_eq!((t.l3_domains(), t.cores()), (1, 4));
    parse_shape("4c2t").unwrap().matches(&t).unwrap();
}

#[test]
fn six_vcpus_leave_apic_gaps() {
    let t = machine(Model::Milan, 1, 2, 3, 1, |_| 0);
    assert_eq!(apics(&t), [0, 1, 2, 4, 5, 6]);
    assert_eq!(l3_groups(&t), [vec![0, 1, 2], vec![3, 4, 5]]);
    assert_eq!(t.cpus().iter().map(|c| c.core).max(), Some(5)); // dense despite the gap
    parse_shape("1s2d3c1t").unwrap().matches(&t).unwrap();
    // The synthetic builder reproduces the same ids.
    let s = parse_shape("1s2d3c1t")
        .unwrap()
        .build(&NodeMap::Single)
        .unwrap();
    assert_eq!(apics(&s), apics(&t));
}

#[test]
fn intel_leaf4_and_die_level() {
    let t = machine(Model::Skylake, 1, 2, 4, 1, |_| 0);
    assert_eq!(t.l3_source(), L3Source::IntelLeaf4);
    assert_eq!(l3_groups(&t), [vec![0, 1, 2, 3], vec![4, 5, 6, 7]]);
    assert_eq!(t.dies(), 2);
    parse_shape("1s2d4c1t").unwrap().matches(&t).unwrap();
}

#[test]
fn closure_source_and_legacy_fallback() {
    // An "Other" vendor with only leaf 1: APIC id 5 in a 4-thread package.
    let f = |leaf: u32, _sub: u32| match leaf {
        0 => regs(1, 0, 0, 0),
        1 => regs(0, 5 << 24 | 4 << 16, 0, 1 << 28),
        _ => CpuidRegs::default(),
    };
    let id = decode(&f);
    assert_eq!(
        (id.vendor, id.levels, id.apic_id, id.package),
        (Vendor::Other, LevelSource::Legacy, 5, 1)
    );
    assert_eq!(id.l3_source, L3Source::Unknown);
}

#[test]
fn from_idents_errors() {
    let q = Qemu {
        model: Model::Milan,
        d: 1,
        c: 2,
        t: 1,
        pos: (0, 0, 0, 0),
    };
    let a = CpuEntry {
        cpu: 0,
        ident: decode(&q),
        node: 0,
    };
    assert_eq!(Topology::from_idents(&[]), Err(TopoError::Empty));
    assert_eq!(
        Topology::from_idents(&[a, a]),
        Err(TopoError::DuplicateCpu(0))
    );
    let b = CpuEntry { cpu: 1, ..a };
    assert_eq!(
        Topology::from_idents(&[a, b]),
        Err(TopoError::DuplicateApic(0))
    );
    let mut c = CpuEntry {
        cpu: 1,
        ident: decode(&Qemu {
            pos: (0, 0, 1, 0),
            ..q
        }),
        node: 0,
    };
    c.ident.l3_source = L3Source::Unknown;
    assert_eq!(
        Topology::from_idents(&[a, c]),
        Err(TopoError::MixedL3Source(1))
    );
}

#[test]
fn render_tree_shows_every_level() {
    let t = machine(Model::Milan, 1, 2, 2, 1, |cpu| (cpu / 2) as u32);
    let mut s = String::new();
    t.render_tree(&mut s).unwrap();
    let want = "package 0\n  die 0\n    l3 0\n      core 0\n        cpu 0 apic 0x0 smt 0 node 0\n      \
                core 1\n        cpu 1 apic 0x1 smt 0 node 0\n  die 1\n    l3 1\n      core 2\n        \
                cpu 2 apic 0x2 smt 0 node 1\n      core 3\n        cpu 3 apic 0x3 smt 0 node 1\n";
    assert_eq!(s, want);
}

#[test]
fn parse_shape_forms_and_errors() {
    let s = parse_shape("2s2d2c1t").unwrap();
    assert_eq!(
        (s.sockets, s.dies, s.cores, s.threads, s.nodes),
        (2, 2, 2, 1, None)
    );
    assert_eq!(parse_shape("8c").unwrap().cpus(), Some(8));
    assert_eq!(parse_shape("2n4c2s").unwrap().nodes, Some(2));
    assert_eq!(parse_shape(""), Err(ShapeError::Empty));
    assert_eq!(parse_shape("2x"), Err(ShapeError::UnknownField('x')));
    assert_eq!(parse_shape("s"), Err(ShapeError::MissingNumber('s')));
    assert_eq!(parse_shape("2s3s"), Err(ShapeError::Repeated('s')));
    assert_eq!(parse_shape("2s4"), Err(ShapeError::TrailingNumber));
    assert_eq!(parse_shape("0c"), Err(ShapeError::BadCount('c')));
    assert_eq!(
        parse_shape("99999999999999c"),
        Err(ShapeError::BadCount('c'))
    );
    assert_eq!(parse_shape("300s300c"), Err(ShapeError::TooLarge));
    assert!(format!("{}", ShapeError::UnknownField('x')).contains("2s2d2c1t"));
}

#[test]
fn synthetic_node_maps() {
    let s = parse_shape("2s4d4c2t").unwrap();
    let t = s.build(&NodeMap::PerSocket).unwrap();
    assert_eq!(
        (t.len(), t.packages(), t.l3_domains(), t.cores(), t.nodes()),
        (64, 2, 8, 32, 2)
    );
    assert_eq!(t.cpus_of_l3(1), (8..16).collect::<Vec<_>>());
    s.matches(&t).unwrap();
    assert_eq!(s.build(&NodeMap::PerDie).unwrap().nodes(), 8);
    assert_eq!(
        s.build(&NodeMap::Contiguous(4)).unwrap().cpus_of_node(3),
        (48..64).collect::<Vec<_>>()
    );
    assert!(s.build(&NodeMap::Contiguous(3)).is_err());
    assert!(s.build(&NodeMap::Explicit(vec![0; 63])).is_err());
    assert_eq!(
        s.build(&NodeMap::Explicit(vec![7; 64])).unwrap().node_ids(),
        [7]
    );
    assert_eq!(
        log2ceil(0) + log2ceil(1) + log2ceil(2) + log2ceil(3) + log2ceil(5),
        1 + 2 + 3
    );
}
