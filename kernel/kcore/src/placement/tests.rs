//! Placement on the seed's machine and on the QEMU shapes.

use super::*;
use crate::topology::{parse_shape, NodeMap};
use alloc::vec;

/// The seed's machine as the brief gives it: 2 sockets x 4 CCDs x 4 cores x SMT2, one node per
/// socket. CPUs numbered QEMU-style: CCD k holds CPUs 8k..8k+7, siblings adjacent.
fn seed() -> Topology {
    parse_shape("2s4d4c2t")
        .unwrap()
        .build(&NodeMap::PerSocket)
        .unwrap()
}

fn qemu(shape: &str, nodes: NodeMap) -> Topology {
    parse_shape(shape).unwrap().build(&nodes).unwrap()
}

fn l3s(t: &Topology, cpus: &[usize]) -> Vec<u32> {
    cpus.iter().map(|&c| t.cpu(c).unwrap().l3).collect()
}

fn has_siblings(t: &Topology, cpus: &[usize]) -> bool {
    let mut cores: Vec<u32> = cpus.iter().map(|&c| t.cpu(c).unwrap().core).collect();
    cores.sort_unstable();
    cores.windows(2).any(|w| w[0] == w[1])
}

#[test]
fn spread_puts_four_threads_on_four_ccds() {
    let t = seed();
    let p = place(&t, &Policy::Spread, 4, 0, 1, &[]).unwrap();
    assert_eq!(p, [0, 8, 16, 24]);
    assert_eq!(l3s(&t, &p), [0, 1, 2, 3]);
}

#[test]
fn spread_one_per_ccd_like_rfc_cpuselect0() {
    let t = seed();
    let p = place(&t, &Policy::Spread, 8, 0, 1, &[]).unwrap();
    assert_eq!(l3s(&t, &p), [0, 1, 2, 3, 4, 5, 6, 7]);
    // 16 threads: two per CCD, still no SMT siblings.
    let p = place(&t, &Policy::Spread, 16, 0, 1, &[]).unwrap();
    let mut per_ccd = [0; 8];
    for l in l3s(&t, &p) {
        per_ccd[l as usize] += 1;
    }
    assert_eq!(per_ccd, [2; 8]);
    assert!(!has_siblings(&t, &p));
}

#[test]
fn spread_uses_all_physical_cores_before_siblings() {
    let t = seed();
    let p = place(&t, &Policy::Spread, 32, 0, 1, &[]).unwrap();
    assert!(!has_siblings(&t, &p));
    let p = place(&t, &Policy::Spread, 33, 0, 1, &[]).unwrap();
    assert!(has_siblings(&t, &p));
    assert_eq!(place(&t, &Policy::Spread, 64, 0, 1, &[]).unwrap().len(), 64);
}

#[test]
fn fill_stays_in_one_ccd() {
    let t = seed();
    let p = place(&t, &Policy::Fill, 4, 0, 1, &[]).unwrap();
    assert_eq!(p, [0, 2, 4, 6]);
    assert_eq!(l3s(&t, &p), [0; 4]);
    // Fifth thread: a sibling in the same CCD before moving on.
    let p = place(&t, &Policy::Fill, 8, 0, 1, &[]).unwrap();
    assert_eq!(l3s(&t, &p), [0; 8]);
    assert_eq!(place(&t, &Policy::Fill, 9, 0, 1, &[]).unwrap()[8], 8);
}

#[test]
fn src_and_dst_use_their_node_spread_over_its_ccds() {
    let t = seed();
    let p = place(&t, &Policy::Src, 4, 1, 0, &[]).unwrap();
    assert_eq!(p, [32, 40, 48, 56]);
    let p = place(&t, &Policy::Dst, 4, 1, 0, &[]).unwrap();
    assert_eq!(p, [0, 8, 16, 24]);
    let err = place(&t, &Policy::Src, 33, 0, 1, &[]).unwrap_err();
    assert_eq!(
        err,
        PlacementError::NotEnoughCpus {
            requested: 33,
            available: 32,
            policy: "src"
        }
    );
    assert!(err.to_string().contains("only 32 eligible"));
    assert_eq!(
        place(&t, &Policy::Dst, 1, 0, 5, &[]),
        Err(PlacementError::EmptyNode(5))
    );
}

#[test]
fn exclude_skips_cpu_and_treats_its_sibling_as_busy() {
    let t = seed();
    let p = place(&t, &Policy::Spread, 8, 0, 1, &[0]).unwrap();
    assert!(!p.contains(&0));
    assert_eq!(p[0], 2); // CCD 0's next free core, not CPU 0's sibling 1
    assert_eq!(l3s(&t, &p), [0, 1, 2, 3, 4, 5, 6, 7]);
    let p = place(&t, &Policy::Fill, 4, 0, 1, &[0]).unwrap();
    assert_eq!(p, [2, 4, 6, 1]);
    let e = place(&t, &Policy::Spread, 64, 0, 1, &[0]).unwrap_err();
    assert!(matches!(
        e,
        PlacementError::NotEnoughCpus { available: 63, .. }
    ));
}

#[test]
fn qemu_one_socket_two_dies() {
    let t = qemu("1s2d2c1t", NodeMap::Contiguous(2));
    assert_eq!(place(&t, &Policy::Spread, 2, 0, 1, &[]).unwrap(), [0, 2]);
    assert_eq!(
        place(&t, &Policy::Spread, 4, 0, 1, &[]).unwrap(),
        [0, 2, 1, 3]
    );
    assert_eq!(place(&t, &Policy::Fill, 2, 0, 1, &[]).unwrap(), [0, 1]);
    assert_eq!(
        place(&t, &Policy::Spread, 3, 0, 1, &[0]).unwrap(),
        [1, 2, 3]
    );
    assert_eq!(place(&t, &Policy::Dst, 2, 0, 1, &[]).unwrap(), [2, 3]);
    assert_eq!(
        place(&t, &Policy::Src, 1, 0, 1, &[0, 1]),
        Err(PlacementError::EmptyNode(0))
    );
}

#[test]
fn qemu_two_sockets_two_dies() {
    let t = qemu("2s2d2c1t", NodeMap::PerSocket);
    assert_eq!(
        place(&t, &Policy::Spread, 4, 0, 1, &[]).unwrap(),
        [0, 2, 4, 6]
    );
    assert_eq!(place(&t, &Policy::Src, 2, 1, 0, &[]).unwrap(), [4, 6]);
    assert_eq!(place(&t, &Policy::Dst, 3, 1, 0, &[]).unwrap(), [0, 2, 1]);
    assert_eq!(place(&t, &Policy::Fill, 3, 0, 1, &[]).unwrap(), [0, 1, 2]);
}

#[test]
fn explicit_lists_are_validated() {
    let t = qemu("2s2d2c1t", NodeMap::PerSocket);
    let list = |v: &[usize]| Policy::List(v.to_vec());
    assert_eq!(place(&t, &list(&[5, 1, 7]), 2, 0, 1, &[]).unwrap(), [5, 1]);
    assert_eq!(
        place(&t, &list(&[5, 8]), 2, 0, 1, &[]),
        Err(PlacementError::UnknownCpu(8))
    );
    assert_eq!(
        place(&t, &list(&[5, 5]), 1, 0, 1, &[]),
        Err(PlacementError::DuplicateCpu(5))
    );
    assert_eq!(
        place(&t, &list(&[0, 1]), 1, 0, 1, &[0]),
        Err(PlacementError::ExcludedCpu(0))
    );
    assert!(matches!(
        place(&t, &list(&[1, 2]), 3, 0, 1, &[]),
        Err(PlacementError::NotEnoughCpus {
            requested: 3,
            available: 2,
            ..
        })
    ));
    assert_eq!(
        place(&t, &Policy::Spread, 0, 0, 1, &[]),
        Err(PlacementError::ZeroThreads)
    );
}

#[test]
fn prefixes_are_stable() {
    // Asking for fewer threads gives a prefix of a larger placement (sweeps stay comparable).
    let t = seed();
    for pol in [Policy::Spread, Policy::Fill, Policy::Src, Policy::Dst] {
        let all = place(&t, &pol, 31, 0, 1, &[0]).unwrap(); // node 0 minus CPU 0
        for k in 1..31 {
            assert_eq!(
                place(&t, &pol, k, 0, 1, &[0]).unwrap(),
                all[..k],
                "{pol} {k}"
            );
        }
    }
}

#[test]
fn parse_policies() {
    assert_eq!(Policy::parse("spread"), Ok(Policy::Spread));
    assert_eq!(Policy::parse(" fill "), Ok(Policy::Fill));
    assert_eq!(Policy::parse("src"), Ok(Policy::Src));
    assert_eq!(Policy::parse("dst"), Ok(Policy::Dst));
    assert_eq!(Policy::parse("list:0,2,5"), Ok(Policy::List(vec![0, 2, 5])));
    assert_eq!(
        Policy::parse("list:4-6, 1"),
        Ok(Policy::List(vec![4, 5, 6, 1]))
    );
    assert_eq!(Policy::parse("list:"), Err(PolicyParseError::EmptyList));
    assert_eq!(
        Policy::parse("list:1,x"),
        Err(PolicyParseError::BadCpu("x".into()))
    );
    assert_eq!(
        Policy::parse("list:3-1"),
        Err(PolicyParseError::BadCpu("3-1".into()))
    );
    assert_eq!(
        Policy::parse("list:0-99999"),
        Err(PolicyParseError::BadCpu("0-99999".into()))
    );
    assert_eq!(
        Policy::parse("list:1,,2"),
        Err(PolicyParseError::BadCpu("".into()))
    );
    let e = Policy::parse("spraed").unwrap_err();
    assert_eq!(e, PolicyParseError::Unknown("spraed".into()));
    assert!(e.to_string().contains("spread, fill, src, dst"));
    assert_eq!(Policy::List(vec![0, 2, 5]).to_string(), "list:0,2,5");
    assert_eq!(Policy::Spread.to_string(), "spread");
}
