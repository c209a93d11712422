//! Property tests: whatever bytes or text reach the kernel's parsers — the command line,
//! ACPI SRAT/SLIT, the PVH start_info and memory map, placement requests over random
//! machine shapes — they answer with a value or a clear error, never a panic, and the
//! values they return are consistent.

use kcore::acpi::{parse_slit, parse_srat};
use kcore::bootinfo::{find_rsdp, parse_pvh_memmap, parse_pvh_start_info, MemoryMap};
use kcore::cmdline::{parse, CmdlineError, KEYS};
use kcore::placement::{place, Policy};
use kcore::topology::{NodeMap, Shape};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn cmdline_never_panics(line in "\\PC{0,120}") {
        let _ = parse(&line);
    }

    #[test]
    fn cmdline_errors_name_the_key(
        key in prop::sample::select(KEYS.iter().map(|k| k.name).collect::<Vec<_>>()),
        value in "[a-z0-9,=*.-]{0,12}",
    ) {
        if let Err(e) = parse(&format!("{key}={value}")) {
            let msg = e.to_string();
            match e {
                CmdlineError::BadValue { key: k, .. } => prop_assert_eq!(k, key),
                CmdlineError::UnknownKey { .. } | CmdlineError::Repeated { .. } => {}
            }
            prop_assert!(msg.contains(key), "{}", msg);
        }
    }

    #[test]
    fn cmdline_unknown_keys_are_refused(key in "[a-z]{3,12}") {
        prop_assume!(!KEYS.iter().any(|k| k.name == key));
        let is_unknown = matches!(parse(&format!("{key}=1")), Err(CmdlineError::UnknownKey { .. }));
        prop_assert!(is_unknown);
    }

    #[test]
    fn srat_slit_never_panic(mut bytes in prop::collection::vec(any::<u8>(), 0..300), len in 0u32..400) {
        if bytes.len() >= 8 {
            bytes[4..8].copy_from_slice(&len.to_le_bytes());
        }
        let _ = parse_srat(&bytes);
        if let Ok(s) = parse_slit(&bytes) {
            prop_assert_eq!(s.distances.len(), s.n * s.n);
        }
    }

    #[test]
    fn pvh_and_rsdp_parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200), n in 0u32..20) {
        let _ = parse_pvh_start_info(&bytes);
        let mut map = MemoryMap::new();
        let _ = parse_pvh_memmap(&bytes, n, &mut map);
        prop_assert!(map.regions().len() <= n as usize);
        if let Some(p) = find_rsdp(&bytes, 0xe0000) {
            prop_assert!(p >= 0xe0000 && p < 0xe0000 + bytes.len() as u64);
        }
    }

    #[test]
    fn placement_is_distinct_and_in_range(
        sockets in 1u32..3, dies in 1u32..4, cores in 1u32..5, threads in 1u32..3,
        n in 0usize..40, policy in prop::sample::select(vec!["spread", "fill", "src", "dst"]),
    ) {
        let shape = Shape { sockets, dies, cores, threads, nodes: None };
        let topo = shape.build(&NodeMap::PerSocket).expect("small shapes build");
        let policy = Policy::parse(policy).expect("known policy");
        if let Ok(cpus) = place(&topo, &policy, n, 0, sockets - 1, &[]) {
            prop_assert_eq!(cpus.len(), n);
            let mut sorted = cpus.clone();
            sorted.sort_unstable();
            sorted.dedup();
            prop_assert_eq!(sorted.len(), n, "duplicate CPU in {:?}", cpus);
            prop_assert!(cpus.iter().all(|&c| c < topo.len()));
        }
    }

    #[test]
    fn placement_lists_are_validated(list in prop::collection::vec(0usize..20, 0..10)) {
        let shape = Shape { sockets: 1, dies: 2, cores: 2, threads: 1, nodes: None };
        let topo = shape.build(&NodeMap::Single).expect("builds");
        let text = format!("list:{}", list.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(","));
        if let Ok(policy) = Policy::parse(&text) {
            if let Ok(cpus) = place(&topo, &policy, list.len().max(1), 0, 0, &[]) {
                prop_assert!(cpus.iter().all(|&c| c < 4));
            }
        }
    }
}
