//! kcore's benchmark registry and exit-code table as text, one entry a line with
//! tab-separated fields, for `run-qemu.sh` (`report --list-benches`, `report --exit-codes`):
//! the runner validates and lists benchmark names and maps QEMU statuses from these
//! instead of keeping its own copies.

use kcore::bench::BENCHES;
use kcore::exit::{ExitCode, RunnerCode};
use std::fmt::Write;

/// One line per benchmark, in run order: `name<TAB>dma<TAB>seed|-<TAB>summary`, where
/// `dma` is `-`, `optional` or `required`.
pub fn benches() -> String {
    let mut out = String::new();
    for b in BENCHES {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}",
            b.bench.name(),
            b.dma.name(),
            if b.seed_table { "seed" } else { "-" },
            b.summary
        );
    }
    out
}

/// One line per exit code: `qemu-status<TAB>runner-code<TAB>name<TAB>meaning`; the kernel's
/// codes first (by QEMU status), then the runner's own (QEMU status `-`).
pub fn exit_codes() -> String {
    let mut out = String::new();
    for c in ExitCode::ALL {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}",
            c.qemu_status(),
            c.runner_code(),
            c.name(),
            c.summary()
        );
    }
    for c in RunnerCode::ALL {
        let _ = writeln!(out, "-\t{}\t{}\t{}", c.code(), c.name(), c.summary());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_benchmark_is_one_line_of_four_fields() {
        let text = benches();
        let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
        assert_eq!(lines.len(), BENCHES.len());
        assert!(lines.iter().all(|f| f.len() == 4));
        assert_eq!(lines[0][0], "efficiency");
        let b1 = lines.iter().find(|f| f[0] == "1b").unwrap();
        assert_eq!(&b1[1..3], ["required", "seed"]);
        assert_eq!(lines.last().unwrap()[0], "appcost");
    }

    #[test]
    fn exit_codes_map_qemu_statuses_to_the_runners_codes() {
        let text = exit_codes();
        let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
        let map: Vec<(&str, &str)> = rows.iter().map(|r| (r[0], r[1])).collect();
        assert_eq!(
            map,
            [
                ("33", "0"),
                ("35", "1"),
                ("37", "3"),
                ("39", "4"),
                ("41", "5"),
                ("43", "6"),
                ("45", "9"),
                ("47", "10"),
                ("-", "2"),
                ("-", "7"),
                ("-", "8"),
                ("-", "124"),
            ]
        );
        assert!(rows.iter().all(|r| r.len() == 4 && !r[3].is_empty()));
    }
}
