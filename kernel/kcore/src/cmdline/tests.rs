use super::parse::edit_distance;
use super::*;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

#[test]
fn empty_line_gives_the_key_tables_defaults() {
    let c = parse("").unwrap();
    assert_eq!(parse("   ").unwrap(), c);
    assert!(c.given.is_empty() && !c.help && !c.migrate_job);
    assert_eq!(
        (c.test.as_ref(), c.bench.as_ref(), c.soak_s),
        (None, None, None)
    );
    let m = &c.migrate;
    assert_eq!((m.engine, m.mode), (Engine::Cpu, Mode::Batched));
    assert_eq!((m.sizes.as_slice(), m.total), (&[9u8][..], 32 << 20));
    assert!(!m.size_given && !m.total_given && m.mix.is_none());
    assert_eq!(m.widths, [1, 2, 4, 8, 16]);
    assert_eq!(m.counts, [1, 8, 64, 256, 512, 1024, 2048, 8192]);
    assert_eq!(
        (m.batch_pages, m.batch_auto_us, m.channels),
        (512, None, None)
    );
    assert_eq!(m.placement, crate::placement::Policy::Spread);
    assert_eq!(
        (m.threads, m.hybrid_cpu_percent, m.from, m.to, m.reps),
        (1, 50, 0, 1, 5)
    );
    assert_eq!(
        (c.copy, c.dma_split),
        (CopyRoutine::Auto, DmaSplit::RoundRobin)
    );
    assert_eq!(
        c.dma_chunk,
        crate::split::ChunkBounds {
            min: 256 << 10,
            max: 2 << 20
        }
    );
    assert_eq!(c.dma_min_batch, MinBatch::Off);
    assert_eq!((c.dma_timeout_ms, c.watchdog_s), (2000, 120));
    assert!(c.dma_marker && c.debug_exit && !c.dma_force && !c.reboot && !c.verbose);
    assert_eq!(c.dma_profile, "none");
    assert_eq!(c.ap_start, ApStart::Parallel);
    assert_eq!(c.features.pcid, crate::features::Force::Auto);
    assert_eq!(
        (c.host_binding, c.console, c.expect_topo),
        (None, None, None)
    );
}

#[test]
fn every_default_in_the_key_table_is_a_value_its_key_accepts() {
    // parse("") builds every field from the table; this also names the key whose
    // default is wrong.
    for k in KEYS.iter().filter(|k| k.default != "-") {
        let token = alloc::format!("{}={}", k.name, k.default);
        assert_eq!(
            parse(&token).map(|mut c| {
                // Only the record of what was given differs.
                c.given.clear();
                c.migrate.size_given = false;
                c.migrate.total_given = false;
                c
            }),
            parse(""),
            "{token}"
        );
    }
}

#[test]
fn every_choice_parses_to_its_enum_and_back() {
    fn round_trip<T>(key: &str, all: &[T], get: impl Fn(&Config) -> T)
    where
        T: Copy + PartialEq + core::fmt::Debug + core::fmt::Display,
    {
        for &v in all {
            let c = parse(&alloc::format!("{key}={v}")).unwrap();
            assert_eq!(get(&c), v, "{key}={v}");
            assert_eq!(c.given, [KEYS.iter().find(|k| k.name == key).unwrap().name]);
        }
        let spec = KEYS.iter().find(|k| k.name == key).unwrap();
        let ValueKind::Choice(words) = spec.kind else {
            panic!("{key} is not a choice")
        };
        let names: Vec<String> = all.iter().map(|v| v.to_string()).collect();
        assert_eq!(
            words,
            names.as_slice(),
            "{key}: the key table lists the enum's words"
        );
    }
    round_trip("engine", Engine::ALL, |c| c.migrate.engine);
    round_trip("mode", Mode::ALL, |c| c.migrate.mode);
    round_trip("copy", CopyRoutine::ALL, |c| c.copy);
    round_trip("dma-split", DmaSplit::ALL, |c| c.dma_split);
    round_trip("dma-kind", DmaKind::ALL, |c| c.dma_kind.unwrap());
    assert_eq!(parse("").unwrap().dma_kind, None, "default: every kind");
    round_trip("ap-start", ApStart::ALL, |c| c.ap_start);
    round_trip("pcid", crate::features::Force::ALL, |c| c.features.pcid);
    round_trip("invpcid", crate::features::Force::ALL, |c| {
        c.features.invpcid
    });
    round_trip("avx512", crate::features::Force::ALL, |c| c.features.avx512);
    assert_eq!(Engine::CpuMt.name(), "cpu-mt");
    assert_eq!(Mode::PerFolio.name(), "per-folio");
    assert_eq!(DmaSplit::RoundRobin.name(), "rr");
    assert_eq!(CopyRoutine::NonTemporal.name(), "nt");
}

#[test]
fn a_bad_choice_names_the_key_and_lists_every_word() {
    for (token, key, accepted) in [
        ("engine=gpu", "engine", "cpu|cpu-mt|dma|hybrid"),
        ("mode=lazy", "mode", "batched|per-folio"),
        ("copy=avx", "copy", "auto|movsb|sse2|avx2|avx512|nt"),
        ("dma-split=random", "dma-split", "rr|contiguous|bytes"),
        ("dma-kind=ioat", "dma-kind", "ptdma|ae4dma|sdxi"),
        ("ap-start=later", "ap-start", "parallel|serial"),
        ("pcid=maybe", "pcid", "auto|on|off"),
    ] {
        let err = parse(token).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(&err, CmdlineError::BadValue { key: k, accepted: a, .. } if *k == key && a == accepted),
            "{token}: {err:?}"
        );
        assert!(msg.contains(key) && msg.contains(accepted), "{msg}");
    }
}

#[test]
fn placement_is_a_typed_policy() {
    use crate::placement::Policy;
    for (v, p) in [
        ("spread", Policy::Spread),
        ("fill", Policy::Fill),
        ("src", Policy::Src),
        ("dst", Policy::Dst),
        ("list:0,2,3", Policy::List(alloc::vec![0, 2, 3])),
    ] {
        let c = parse(&alloc::format!("placement={v}")).unwrap();
        assert_eq!(c.migrate.placement, p);
        assert_eq!(c.migrate.placement.to_string(), v);
    }
    let msg = parse("placement=near").unwrap_err().to_string();
    assert!(msg.contains("spread|fill|src|dst|list:CPUS"), "{msg}");
}

#[test]
fn bench_is_a_typed_selection() {
    use crate::bench::{Bench, Selection};
    let c = parse("bench=1b,2a").unwrap();
    assert_eq!(
        c.bench,
        Some(Selection::of(&[Bench::Seed1b, Bench::Seed2a]))
    );
    let all = parse("bench=all").unwrap().bench.unwrap();
    assert!(all.all && all.named.is_empty());
    for b in Bench::ALL {
        let c = parse(&alloc::format!("bench={b}")).unwrap();
        assert_eq!(c.bench, Some(Selection::of(&[*b])));
    }
    assert!(matches!(
        parse("bench=1a,"),
        Err(CmdlineError::BadValue { key: "bench", .. })
    ));
}

#[test]
fn every_key_is_applied() {
    // Catches a key added to KEYS but not to `apply` (which would hit unreachable!).
    for k in KEYS {
        let token = match k.kind {
            ValueKind::Flag => k.name.to_string(),
            ValueKind::Bool => alloc::format!("{}=1", k.name),
            ValueKind::Word if k.name == "console" => "console=ttyS1".to_string(),
            ValueKind::Word if k.name == "expect-topo" => alloc::format!("{}=2s2d2c1t", k.name),
            ValueKind::Word => alloc::format!("{}={}", k.name, word_example(k.name)),
            ValueKind::Choice(w) => alloc::format!("{}={}", k.name, w[w.len() - 1]),
            ValueKind::Int { min, .. } => alloc::format!("{}={min}", k.name),
        };
        parse(&token).unwrap_or_else(|e| panic!("{token}: {e}"));
    }
}

fn word_example(key: &str) -> &'static str {
    match key {
        "size" => "4k,2m",
        "placement" => "fill",
        "bench" => "1b,2a",
        "widths" => "1,2",
        "counts" => "1,8",
        "total" => "8m",
        "batch" | "channels" => "all",
        "host-binding" => "kvm:0-1/1-0:2:huge",
        "dma-chunk" => "64k..1m",
        "dma-min-batch" => "32k",
        "streams" => "0>1,1>0",
        _ => "all",
    }
}

#[test]
fn dma_split_keys() {
    let c = parse("dma-split=bytes dma-chunk=64k..1m dma-min-batch=32k").unwrap();
    assert_eq!(c.dma_split, DmaSplit::Bytes);
    assert_eq!(
        c.dma_chunk,
        crate::split::ChunkBounds {
            min: 64 << 10,
            max: 1 << 20
        }
    );
    assert_eq!(c.dma_min_batch, MinBatch::Bytes(32 << 10));
    let a = parse("batch=auto:unmapped-us=250").unwrap();
    assert_eq!(
        (a.migrate.batch_auto_us, a.migrate.batch_pages),
        (Some(250), 512)
    );
    assert!(parse("batch=auto:unmapped-us=0").is_err());
    assert!(parse("batch=auto").is_err());
    let m = parse("size=mix:2m=50%,64k=25%,4k=25%").unwrap();
    assert_eq!(m.migrate.mix.unwrap().parts(), &[(9, 50), (4, 25), (0, 25)]);
    assert!(!m.migrate.size_given);
    assert!(parse("size=mix:2m=50%").is_err());
    assert_eq!(
        parse("dma-min-batch=auto").unwrap().dma_min_batch,
        MinBatch::Auto
    );
    assert_eq!(
        parse("dma-min-batch=0").unwrap().dma_min_batch,
        MinBatch::Off
    );
    assert!(parse("dma-chunk=1m..64k").is_err());
    assert!(parse("dma-min-batch=lots").is_err());
}

#[test]
fn migration_keys_are_typed() {
    let c = parse("migrate engine=dma mode=per-folio size=4k,64k total=16m batch=all channels=2 from=1 to=0 reps=3 copy=nt").unwrap();
    let m = &c.migrate;
    assert!(c.migrate_job);
    assert_eq!(m.engine, Engine::Dma);
    assert_eq!(m.mode, Mode::PerFolio);
    assert_eq!(m.sizes, [0, 4]);
    assert_eq!(m.total, 16 << 20);
    assert_eq!(m.batch_pages, u64::MAX);
    assert_eq!(m.channels, Some(2));
    assert_eq!((m.from, m.to, m.reps), (1, 0, 3));
    assert_eq!(c.copy, CopyRoutine::NonTemporal);
    let d = parse("").unwrap().migrate;
    assert_eq!((d.batch_pages, d.channels, d.reps), (512, None, 5));
    assert!(matches!(
        parse("size=8k"),
        Err(CmdlineError::BadValue { key: "size", .. })
    ));
    assert!(matches!(
        parse("engine=gpu"),
        Err(CmdlineError::BadValue { key: "engine", .. })
    ));
    assert!(matches!(
        parse("total=3x"),
        Err(CmdlineError::BadValue { key: "total", .. })
    ));
    assert!(matches!(
        parse("batch=0"),
        Err(CmdlineError::BadValue { key: "batch", .. })
    ));
    assert!(matches!(
        parse("bench=1z"),
        Err(CmdlineError::BadValue { key: "bench", .. })
    ));
}

#[test]
fn question_benchmarks_are_accepted_and_named_in_the_error() {
    let c = parse("bench=setup,auto,placement,pollution,load,cycles").unwrap();
    assert_eq!(
        c.bench.unwrap().to_string(),
        "setup,auto,placement,pollution,load,cycles"
    );
    match parse("bench=setup,crossover") {
        Err(CmdlineError::BadValue {
            key: "bench",
            accepted,
            ..
        }) => {
            assert_eq!(
                accepted,
                "a comma list of efficiency,1a,1b,2a,2b,3a,3b,setup,auto,placement,pollution,load,cycles,frontier,streams,appcost,all"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_key_is_named_with_a_suggestion() {
    let err = parse("bogus=1").unwrap_err();
    assert_eq!(
        err,
        CmdlineError::UnknownKey {
            key: "bogus".into(),
            suggestion: None
        }
    );
    let msg = err.to_string();
    assert!(msg.contains("'bogus'") && msg.contains("test"), "{msg}");
    match parse("tset=all").unwrap_err() {
        CmdlineError::UnknownKey { suggestion, .. } => assert_eq!(suggestion, Some("test")),
        e => panic!("{e:?}"),
    }
}

#[test]
fn bad_values_say_what_is_accepted() {
    let err = parse("reboot=maybe").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("reboot") && msg.contains("maybe") && msg.contains("0|1"),
        "{msg}"
    );
    assert!(matches!(
        parse("help=1"),
        Err(CmdlineError::BadValue { key: "help", .. })
    ));
    assert!(matches!(
        parse("test"),
        Err(CmdlineError::BadValue { key: "test", .. })
    ));
    assert!(matches!(
        parse("test="),
        Err(CmdlineError::BadValue { key: "test", .. })
    ));
    assert!(matches!(
        parse("test=a,,b"),
        Err(CmdlineError::BadValue { .. })
    ));
}

#[test]
fn expectations_are_bounded_integers() {
    let c = parse("expect-cpus=4 expect-nodes=2 expect-node-mib=0x200").unwrap();
    assert_eq!(
        c.expect,
        Expectations {
            cpus: Some(4),
            nodes: Some(2),
            node_mib: Some(512),
            ptdma: None
        }
    );
    assert!(matches!(
        parse("expect-cpus=0"),
        Err(CmdlineError::BadValue {
            key: "expect-cpus",
            ..
        })
    ));
    assert!(matches!(
        parse("expect-nodes=two"),
        Err(CmdlineError::BadValue { .. })
    ));
}

#[test]
fn topology_shape_and_watchdog_are_typed() {
    let c = parse("expect-topo=2s2d2c1t2n watchdog-s=5").unwrap();
    let shape = c.expect_topo.unwrap();
    assert_eq!(
        (
            shape.sockets,
            shape.dies,
            shape.cores,
            shape.threads,
            shape.nodes
        ),
        (2, 2, 2, 1, Some(2))
    );
    assert_eq!(c.watchdog_s, 5);
    let err = parse("expect-topo=2x").unwrap_err().to_string();
    assert!(err.contains("expect-topo") && err.contains("2x"), "{err}");
    assert!(matches!(
        parse("watchdog-s=0"),
        Err(CmdlineError::BadValue {
            key: "watchdog-s",
            ..
        })
    ));
}

#[test]
fn repeated_key_is_refused() {
    assert_eq!(
        parse("test=all test=x").unwrap_err(),
        CmdlineError::Repeated { key: "test" }
    );
}

#[test]
fn values_are_typed() {
    let c = parse("help reboot=yes verbose=off test=cmdline_parse,console*").unwrap();
    assert!(c.help && c.reboot && !c.verbose);
    let f = c.test.unwrap();
    assert!(f.selects("cmdline_parse", true));
    assert!(f.selects("console_loopback", true));
    assert!(!f.selects("cmdline", true));
    assert_eq!(parse("test=all").unwrap().test, Some(TestFilter::All));
}

#[test]
fn fixtures_run_only_when_named() {
    assert!(!TestFilter::All.selects("selftest_must_fail", false));
    let named = TestFilter::Names(alloc::vec!["selftest_must_fail".into()]);
    assert!(named.selects("selftest_must_fail", false));
    let prefix = TestFilter::Names(alloc::vec!["selftest_*".into()]);
    assert!(prefix.selects("selftest_must_fail", false));
}

#[test]
fn integers_parse_in_decimal_and_hex() {
    assert_eq!(parse_u64("0"), Some(0));
    assert_eq!(parse_u64("1_000"), Some(1000));
    assert_eq!(parse_u64("0x3f8"), Some(0x3f8));
    assert_eq!(parse_u64("0x"), None);
    assert_eq!(parse_u64("12a"), None);
    assert_eq!(parse_u64("18446744073709551616"), None);
}

#[test]
fn help_lists_every_key() {
    let mut s = String::new();
    write_help(&mut s).unwrap();
    for k in KEYS {
        assert!(s.contains(k.name), "{}", k.name);
    }
    for b in crate::bench::BENCHES {
        assert!(
            s.contains(&alloc::format!("  {:<10} {}", b.bench.name(), b.summary)),
            "{}",
            b.bench
        );
    }
    assert!(s.contains("  1b         DMA offload by folio size and channel count [needs DMA]"));
    assert!(
        s.contains("or a forced one [auto|movsb|sse2|avx2|avx512|nt]\n"),
        "every choice key lists its words: {s}"
    );
}

#[test]
fn edit_distance_is_levenshtein() {
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("test", "test"), 0);
}

#[test]
fn streams_and_admission_keys() {
    let c = parse("streams=3:alt dma-admit=mixed dma-wait-us=500 bench=streams,appcost").unwrap();
    assert_eq!(
        c.streams,
        Some(crate::streams::StreamsArg::Count {
            n: 3,
            alternate: true
        })
    );
    assert_eq!(c.dma_admit, crate::streams::AdmitPolicy::Mixed);
    assert_eq!(c.dma_wait_us, 500);
    assert_eq!(
        parse("fg-node=both").unwrap().fg_node,
        crate::streams::FgNode::Both
    );
    assert!(parse("streams=1>1").is_err());
    assert!(parse("dma-admit=later").is_err());
    let d = parse("").unwrap();
    assert_eq!(d.dma_admit, crate::streams::AdmitPolicy::Wait);
    assert_eq!(d.dma_wait_us, 20_000);
}
