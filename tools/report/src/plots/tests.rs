use super::*;
use crate::model::fixtures::result;
use crate::parse::parse_log;

#[test]
fn only_present_experiments_are_plotted() {
    let log = [
        result("1b", "dma", "batched", 4, 8, 0, 2, 1.0, "kvm"),
        result("1b", "dma", "batched", 2048, 8, 0, 1, 3.0, "kvm"),
        result("1b", "dma", "batched", 4, 8, 0, 1, 0.5, "kvm"),
        result("3b", "cpu-mt", "batched", 2048, 8, 2, 0, 2.0, "kvm"),
    ]
    .join("\n");
    let p = parse_log(log.as_bytes());
    let stems: Vec<String> = plots(&p).into_iter().map(|p| p.stem).collect();
    assert_eq!(
        stems,
        [
            "exp1b",
            "exp3",
            "phases-cpu_mt-batched",
            "phases-dma-batched"
        ]
    );
}

#[test]
fn placement_series_are_per_policy() {
    let with = |p: &str, kib: u64, g: f64| {
        result("placement", "cpu-mt", "batched", kib, 8, 1, 0, g, "tcg").replace(
            "\"verified\"",
            &format!("\"placement\":\"{p}\",\"verified\""),
        )
    };
    let log = [
        with("src", 4, 1.0),
        with("dst", 4, 0.5),
        with("src", 2048, 2.0),
    ]
    .join("\n");
    let p = parse_log(log.as_bytes());
    let s = series_for(&p, &["placement"], XKind::FolioSize);
    let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["T=1 dst", "T=1 src"]);
    assert_eq!(s[1].points.len(), 2);
    assert!(plots(&p).iter().any(|p| p.stem == "expplacement"));
}

#[test]
fn setup_and_pollution_plot_their_own_keys() {
    let with = |exp: &str, engine: &str, kib: u64, folios: u64, extra: &str| {
        let (t, ch) = if engine == "dma" { (0, 1) } else { (1, 0) };
        result(exp, engine, "batched", kib, folios, t, ch, 1.0, "tcg")
            .replace("\"verified\"", &format!("{extra},\"verified\""))
    };
    let log = [
        with(
            "setup",
            "dma",
            4,
            32,
            "\"batches_per_rep\":32,\"descs_per_rep\":32,\"ns_per_rep\":64000",
        ),
        with(
            "setup",
            "dma",
            4,
            32,
            "\"batches_per_rep\":1,\"descs_per_rep\":32,\"ns_per_rep\":32000",
        ),
        with(
            "pollution",
            "cpu-nt",
            2048,
            4,
            "\"victim_bytes\":524288,\"victim_slowdown\":1.5",
        ),
        with("load", "cpu", 4, 8, "\"load\":\"mem 50%\""),
    ]
    .join("\n");
    let p = parse_log(log.as_bytes());
    let q = question_plots(&p, "");
    assert_eq!(q.len(), 3);
    match &q[0].chart {
        Chart::Line { series, x, .. } => {
            assert_eq!(*x, XKind::PerBatch);
            assert_eq!(series[0].name, "dma x1 4K");
            // 128 KiB: 1 folio per batch 500 ns/KiB; 32 per batch 250 ns/KiB.
            assert_eq!(series[0].points, [(1, 500.0, 0.0), (32, 250.0, 0.0)]);
        }
        other => panic!("{other:?}"),
    }
    match &q[1].chart {
        Chart::Line { series, .. } => assert_eq!(series[0].name, "cpu mem 50%"),
        other => panic!("{other:?}"),
    }
    match &q[2].chart {
        Chart::Line { series, .. } => assert_eq!(series[0].points, [(512, 1.5, 0.0)]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn series_are_ranked_by_width_with_sorted_points() {
    let log = [
        result("1a", "cpu-mt", "batched", 2048, 8, 4, 0, 3.0, "tcg"),
        result("1a", "cpu-mt", "batched", 4, 8, 4, 0, 1.0, "tcg"),
        result("1a", "cpu-mt", "batched", 4, 8, 1, 0, 0.5, "tcg"),
        result("1a", "raw-cpu", "raw-copy", 4, 8, 1, 0, 9.0, "tcg"),
    ]
    .join("\n");
    let p = parse_log(log.as_bytes());
    let s = series_for(&p, &["1a"], XKind::FolioSize);
    let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["T=1", "T=4"], "raw-copy cells are not plotted");
    assert_eq!(s[1].points, [(4, 1.0, 0.1), (2048, 3.0, 0.1)]);
    match &plots(&p)[0].chart {
        Chart::Line { title, .. } => assert!(title.contains("[tcg: emulator speed]")),
        other => panic!("{other:?}"),
    }
}
