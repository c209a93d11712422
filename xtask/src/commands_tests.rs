use super::*;

#[test]
fn bench_names_come_from_the_kernel() {
    assert!(check_bench_names("efficiency").is_ok());
    assert!(check_bench_names("1a,1b,frontier,all").is_ok());
    let e = check_bench_names("1a,1c").unwrap_err();
    assert_eq!(e.exit, Exit::Usage);
    assert_eq!(
        e.lines[0],
        "unknown benchmark '1c' (available: efficiency, 1a, 1b, 2a, 2b, 3a, 3b, setup, auto, placement, pollution, load, cycles, frontier, streams, appcost, all; comma lists allowed)"
    );
    assert!(check_bench_names("").is_err());
    assert!(check_bench_names("1a,,1b").is_err());
    assert!(check_bench_names("streams,appcost").is_ok());
}

/// A run that measured nothing leaves no report of an earlier run beside its log.
#[test]
fn reports_of_an_earlier_run_are_removed_but_the_log_stays() {
    let dir = std::env::temp_dir().join(format!("foliomove-xtask-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("plots")).unwrap();
    for f in [
        "serial.log",
        "report.md",
        "cells.csv",
        "cells.json",
        "1b.png",
        "notes.txt",
    ] {
        std::fs::write(dir.join(f), "x").unwrap();
    }
    assert!(remove_reports(&dir));
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["notes.txt", "plots", "serial.log"]);
    assert!(!remove_reports(&dir), "nothing left to remove");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fault_cases_inject_after_the_probe() {
    let s = Shape::new(&crate::shape::ShapeRequest::default()).unwrap();
    let probe = probe_copies(&s, &[]);
    let at: Vec<u64> = FAULTS.iter().map(|c| probe + c.after_probe).collect();
    assert_eq!(at, [46, 46, 46, 46, 16]);
    // Two SDXI functions of 7 client contexts on 2 nodes: 28 probe copies; one
    // context each: 4; mixed, a PTDMA function (3 descriptors) and an SDXI one (14).
    let kind = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(probe_copies(&s, &kind(&["--kind=sdxi"])), 28);
    assert_eq!(
        probe_copies(&s, &kind(&["--kind=sdxi", "--sdxi-max-cxt=1"])),
        4
    );
    assert_eq!(probe_copies(&s, &kind(&["--kind=ptdma,sdxi"])), 17);
    assert_eq!(probe_copies(&s, &kind(&["--kind=ae4dma"])), 6);
}

/// The fault suite keeps the run's model arguments (before this, `--sdxi N faults` and
/// `--ptdma-arg=--kind=ae4dma faults` booted PTDMA engines).
#[test]
fn fault_boots_keep_the_run_s_model_arguments() {
    let run = ["--kind=sdxi".to_string(), "--sdxi-max-cxt=1".to_string()];
    assert_eq!(
        fault_model_args(&run, "--fault=error-at=46"),
        ["--kind=sdxi", "--sdxi-max-cxt=1", "--fault=error-at=46"]
    );
    assert_eq!(
        fault_model_args(&[], "--fault=stuck-at=6"),
        ["--fault=stuck-at=6"]
    );
}
