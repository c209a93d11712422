//! The seed's published numbers, as data.
//!
//! Source: Shivank Garg et al., "[RFC,V2,0/9] Enhancements to Page Migration with
//! Multi-threading and Batch Offloading to DMA", cover letter, linux-mm, 2025-03-19
//! (Message-ID 20250319192211.10092-1-shivankg@amd.com), section "PERFORMANCE RESULTS";
//! copied from shared/reference/seed-rfc-v2.txt. System: AMD Zen 3 EPYC, 2 sockets, 32 cores,
//! SMT on, 1 NUMA node per socket, Linux 6.14.0-rc7+, PTDMA hardware. Throughput in GB/s,
//! mean ± standard deviation.
//!
//! Tables: 1a multi-threaded CPU and 1b DMA by thread/channel count × folio size (1 GB total);
//! 2a CPU and 2b DMA by folio count (2 MB folios, one thread/channel); 3a threads spread across
//! CCDs and 3b filling one CCD first.

use kcore::bench::Bench;

/// A seed number: (mean, standard deviation) in GB/s.
pub type Stat = (f64, f64);

/// Folio sizes of table 1, KiB (columns in the seed, rows in our report).
pub const T1_SIZES_KIB: [u64; 9] = [4, 16, 32, 64, 128, 256, 512, 1024, 2048];
/// Thread / channel counts of tables 1 and 3.
pub const WIDTHS: [u64; 5] = [1, 2, 4, 8, 16];
/// Folio counts of table 2.
pub const T2_COUNTS: [u64; 8] = [1, 8, 64, 256, 512, 1024, 2048, 8192];

/// Table 1a, multi-threaded CPU: `[thread row][folio size column]`.
#[rustfmt::skip]
pub const T1A: [[Stat; 9]; 5] = [
    [(1.72, 0.05), (3.55, 0.14), (4.44, 0.07), (5.19, 0.37), (5.57, 0.47), (6.27, 0.02), (6.43, 0.09), (6.59, 0.05), (10.73, 0.07)],
    [(1.93, 0.06), (3.91, 0.24), (5.22, 0.03), (5.76, 0.62), (7.42, 0.16), (7.30, 0.93), (8.08, 0.85), (8.67, 0.09), (17.21, 0.28)],
    [(2.00, 0.03), (4.30, 0.22), (6.02, 0.10), (7.61, 0.26), (8.60, 0.92), (9.54, 1.11), (10.03, 1.12), (10.98, 0.14), (29.61, 0.43)],
    [(2.07, 0.08), (4.60, 0.32), (6.06, 0.85), (7.52, 0.96), (7.98, 1.83), (8.66, 1.94), (10.99, 1.40), (11.22, 1.49), (37.42, 0.70)],
    [(2.04, 0.04), (4.74, 0.31), (6.20, 0.39), (7.51, 0.86), (8.26, 1.47), (10.99, 0.11), (9.72, 1.51), (12.07, 0.02), (37.08, 0.53)],
];

/// Table 1b, DMA offload: `[channel row][folio size column]`.
#[rustfmt::skip]
pub const T1B: [[Stat; 9]; 5] = [
    [(0.46, 0.01), (1.35, 0.02), (1.99, 0.02), (2.76, 0.02), (3.44, 0.17), (3.87, 0.20), (3.98, 0.29), (4.36, 0.01), (11.79, 0.05)],
    [(0.66, 0.02), (1.84, 0.07), (2.89, 0.10), (4.02, 0.30), (4.27, 0.53), (5.98, 0.05), (6.15, 0.50), (5.83, 0.64), (13.39, 0.08)],
    [(0.91, 0.01), (2.62, 0.13), (3.98, 0.17), (5.57, 0.41), (6.55, 0.70), (8.32, 0.04), (8.91, 0.05), (8.82, 0.96), (24.52, 0.22)],
    [(1.14, 0.00), (3.21, 0.07), (4.21, 1.09), (6.07, 0.81), (8.80, 0.08), (8.91, 1.38), (11.03, 0.02), (10.68, 1.38), (39.17, 0.58)],
    [(1.19, 0.11), (3.33, 0.20), (4.98, 0.33), (7.65, 0.10), (7.85, 1.50), (8.38, 1.35), (8.94, 3.23), (12.85, 0.06), (55.45, 1.20)],
];

/// Table 2a, CPU, 2 MB folios, one thread: by folio count ([`T2_COUNTS`]).
#[rustfmt::skip]
pub const T2A: [Stat; 8] = [
    (7.56, 3.23), (9.54, 1.34), (9.57, 0.39), (10.09, 0.17),
    (10.61, 0.17), (10.77, 0.07), (10.81, 0.08), (10.84, 0.05),
];

/// Table 2b, DMA, 2 MB folios, one channel: by folio count ([`T2_COUNTS`]).
#[rustfmt::skip]
pub const T2B: [Stat; 8] = [
    (8.21, 3.68), (9.92, 2.12), (9.90, 0.31), (11.51, 0.32),
    (11.67, 0.11), (11.89, 0.06), (11.92, 0.08), (12.03, 0.05),
];

/// Table 3a, threads spread across CCDs: by thread count ([`WIDTHS`]).
#[rustfmt::skip]
pub const T3A: [Stat; 5] = [(10.60, 0.06), (17.21, 0.12), (29.94, 0.16), (37.07, 1.62), (36.19, 0.97)];

/// Table 3b, fill one CCD before the next: by thread count ([`WIDTHS`]).
#[rustfmt::skip]
pub const T3B: [Stat; 5] = [(10.44, 0.47), (10.93, 0.11), (10.99, 0.04), (11.08, 0.03), (17.91, 0.12)];

fn index_of(list: &[u64], v: u64) -> Option<usize> {
    list.iter().position(|&x| x == v)
}

/// True for the experiments the seed published a table for (kcore's benchmark registry).
pub fn has_table(exp: &str) -> bool {
    exp.parse::<Bench>().is_ok_and(|b| b.info().seed_table)
}

/// The seed's number for an experiment cell, if the seed measured it.
///
/// `folio_kib`, `folios` and `width` (threads for CPU tables, channels for DMA tables) are
/// the cell's coordinates; only the ones the table varies are looked at. Table 2 holds for
/// 2 MB folios and width 1 only; table 3 for 2 MB folios (the seed's mtcopy default).
pub fn lookup(exp: &str, folio_kib: u64, folios: u64, width: u64) -> Option<Stat> {
    let bench: Bench = exp.parse().ok()?;
    match bench {
        Bench::Seed1a | Bench::Seed1b => {
            let row = index_of(&WIDTHS, width)?;
            let col = index_of(&T1_SIZES_KIB, folio_kib)?;
            Some(if bench == Bench::Seed1a { T1A } else { T1B }[row][col])
        }
        Bench::Seed2a | Bench::Seed2b if folio_kib == 2048 && width == 1 => {
            let i = index_of(&T2_COUNTS, folios)?;
            Some(if bench == Bench::Seed2a { T2A } else { T2B }[i])
        }
        Bench::Seed3a | Bench::Seed3b => {
            let i = index_of(&WIDTHS, width)?;
            Some(if bench == Bench::Seed3a { T3A } else { T3B }[i])
        }
        _ => None,
    }
}

/// One-line description of an experiment (a benchmark or one of its parts, such as
/// `frontier-latency`), for headings: kcore's benchmark registry, else `experiment`.
pub fn describe(exp: &str) -> &'static str {
    kcore::bench::describe(exp).unwrap_or("experiment")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corners_of_each_table() {
        assert_eq!(lookup("1a", 4, 0, 1), Some((1.72, 0.05)));
        assert_eq!(lookup("1a", 2048, 0, 16), Some((37.08, 0.53)));
        assert_eq!(lookup("1b", 4, 0, 1), Some((0.46, 0.01)));
        assert_eq!(lookup("1b", 2048, 0, 16), Some((55.45, 1.20)));
        assert_eq!(lookup("2a", 2048, 1, 1), Some((7.56, 3.23)));
        assert_eq!(lookup("2b", 2048, 8192, 1), Some((12.03, 0.05)));
        assert_eq!(lookup("3a", 2048, 512, 8), Some((37.07, 1.62)));
        assert_eq!(lookup("3b", 2048, 512, 16), Some((17.91, 0.12)));
    }

    #[test]
    fn outside_the_tables() {
        assert_eq!(lookup("1a", 8, 0, 1), None);
        assert_eq!(lookup("1a", 4, 0, 3), None);
        assert_eq!(lookup("2a", 4, 1, 1), None);
        assert_eq!(lookup("2a", 2048, 1, 2), None);
        assert_eq!(lookup("efficiency", 4, 1, 1), None);
        assert_eq!(lookup("nosuch", 4, 1, 1), None);
    }

    #[test]
    fn tables_and_headings_come_from_the_registry() {
        let seed: Vec<&str> = Bench::ALL
            .iter()
            .map(|b| b.name())
            .filter(|e| has_table(e))
            .collect();
        assert_eq!(seed, ["1a", "1b", "2a", "2b", "3a", "3b"]);
        assert!(!has_table("frontier-split") && !has_table("migrate"));
        assert_eq!(
            describe("1b"),
            "DMA offload by folio size and channel count"
        );
        assert!(describe("frontier-ceiling").starts_with("the copy ceiling"));
        assert_eq!(describe("migrate"), "experiment");
    }
}
