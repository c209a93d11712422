//! The benchmark registry: every experiment `bench=` accepts, written once with its
//! one-line summary, whether it needs a DMA engine and which RESULT `exp` names it
//! prints. The kernel's dispatcher and `help`, `run-qemu.sh` (through
//! `report --list-benches`) and `tools/report`'s headings all read [`BENCHES`].

use crate::words::{words, UnknownWord};
use alloc::vec::Vec;
use core::fmt;

words! {
    /// One benchmark, named as in `bench=` and in RESULT lines' `exp`.
    pub enum Bench {
        /// Batched vs per-folio migration vs the same engine's raw copy.
        Efficiency = "efficiency",
        /// The seed's table 1a: multi-threaded CPU copy by folio size and threads.
        Seed1a = "1a",
        /// The seed's table 1b: DMA by folio size and channels.
        Seed1b = "1b",
        /// The seed's table 2a: CPU copy of 2 MiB folios by folio count.
        Seed2a = "2a",
        /// The seed's table 2b: DMA of 2 MiB folios by folio count.
        Seed2b = "2b",
        /// The seed's table 3a: CPU threads spread across CCDs.
        Seed3a = "3a",
        /// The seed's table 3b: CPU threads filling one CCD first.
        Seed3b = "3b",
        /// DMA and CPU cost per batch, descriptor and byte, and their crossover.
        Setup = "setup",
        /// An engine choosing per batch vs the fixed engines.
        Auto = "auto",
        /// CPU workers on the source node, the destination node or spread.
        Placement = "placement",
        /// Cache pollution of a victim working set.
        Pollution = "pollution",
        /// Migration under memory-bandwidth and DMA background load.
        Load = "load",
        /// CPU cycles per GiB migrated by each engine.
        Cycles = "cycles",
        /// The frontier: copy ceiling, DMA split by bytes, declined batches, mixed sizes,
        /// latency by batch size.
        Frontier = "frontier",
        /// Several migrations at once sharing CPUs and DMA channels (admission, fairness).
        Streams = "streams",
        /// A foreground application's latency and bandwidth under migration.
        Appcost = "appcost",
    }
}

/// The word `bench=` takes for every benchmark.
pub const ALL_WORD: &str = "all";

/// How a benchmark uses DMA engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmaUse {
    /// It measures CPU copies only.
    None,
    /// It measures DMA where there is an engine and says which parts it skipped.
    Optional,
    /// It measures DMA: named without a DMA engine, the run stops with bad input
    /// (`bench=all` skips it and says so).
    Required,
}

impl DmaUse {
    /// `-`, `optional` or `required`, as `report --list-benches` prints it.
    pub fn name(self) -> &'static str {
        match self {
            DmaUse::None => "-",
            DmaUse::Optional => "optional",
            DmaUse::Required => "required",
        }
    }
}

/// A RESULT `exp` name a benchmark prints besides its own (the frontier's parts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// The `exp` value.
    pub exp: &'static str,
    /// One line saying what it measures.
    pub summary: &'static str,
}

/// One entry of the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchInfo {
    /// The benchmark.
    pub bench: Bench,
    /// One line saying what it measures (kernel `help`, runner help, report headings).
    pub summary: &'static str,
    /// Whether it needs a DMA engine.
    pub dma: DmaUse,
    /// The seed RFC published a table for it (the report puts every cell beside it).
    pub seed_table: bool,
    /// RESULT `exp` names it prints besides its own name.
    pub parts: &'static [Part],
}

const fn entry(bench: Bench, summary: &'static str, dma: DmaUse) -> BenchInfo {
    BenchInfo {
        bench,
        summary,
        dma,
        seed_table: false,
        parts: &[],
    }
}

const fn seed(bench: Bench, summary: &'static str, dma: DmaUse) -> BenchInfo {
    BenchInfo {
        seed_table: true,
        ..entry(bench, summary, dma)
    }
}

/// Every benchmark, in the order of [`Bench::ALL`], which is the order `bench=` runs them.
pub const BENCHES: &[BenchInfo] = &[
    entry(
        Bench::Efficiency,
        "batched vs per-folio migration vs the same engine's raw copy",
        DmaUse::Optional,
    ),
    seed(
        Bench::Seed1a,
        "multi-threaded CPU copy by folio size and thread count",
        DmaUse::None,
    ),
    seed(
        Bench::Seed1b,
        "DMA offload by folio size and channel count",
        DmaUse::Required,
    ),
    seed(
        Bench::Seed2a,
        "CPU copy of 2 MB folios by folio count, one thread",
        DmaUse::None,
    ),
    seed(
        Bench::Seed2b,
        "DMA offload of 2 MB folios by folio count, one channel",
        DmaUse::Required,
    ),
    seed(
        Bench::Seed3a,
        "CPU threads spread across CCDs",
        DmaUse::None,
    ),
    seed(
        Bench::Seed3b,
        "CPU threads filling one CCD before the next",
        DmaUse::None,
    ),
    entry(
        Bench::Setup,
        "DMA setup cost: DMA and CPU cost per batch, descriptor and byte; their crossover",
        DmaUse::Optional,
    ),
    entry(
        Bench::Auto,
        "per-batch engine choice (auto) vs fixed engines",
        DmaUse::Required,
    ),
    entry(
        Bench::Placement,
        "CPU workers on the source vs destination node vs spread",
        DmaUse::None,
    ),
    entry(
        Bench::Pollution,
        "cache pollution: victim re-read and first touch after a migration",
        DmaUse::Optional,
    ),
    entry(
        Bench::Load,
        "migration under memory-bandwidth and DMA background load",
        DmaUse::Optional,
    ),
    entry(
        Bench::Cycles,
        "CPU cycles per GiB migrated by each engine",
        DmaUse::Optional,
    ),
    BenchInfo {
        parts: FRONTIER_PARTS,
        ..entry(
            Bench::Frontier,
            "the frontier: copy ceiling, DMA split by bytes, declined small batches, mixed folio sizes, latency by batch size",
            DmaUse::Optional,
        )
    },
    entry(
        Bench::Streams,
        "several migrations at once: streams sharing CPUs and DMA channels, admission (dma-admit), fairness",
        DmaUse::Optional,
    ),
    entry(
        Bench::Appcost,
        "the application's cost: a foreground pointer chase and streaming read alone and under 1.. streams of each engine",
        DmaUse::Optional,
    ),
];

const FRONTIER_PARTS: &[Part] = &[
    Part {
        exp: "frontier-ceiling",
        summary: "the copy ceiling of this boot: verified raw copies of 2M folios by one CPU (temporal and non-temporal stores), all CPUs of the two nodes, each DMA channel alone and all together; every later cell's % of ceiling is its GB/s over the best CPU figure (and, for DMA cells, the best DMA figure)",
    },
    Part {
        exp: "frontier-split",
        summary: "DMA split by bytes vs whole folios round-robin, one 2M folio per batch, 1..N channels",
    },
    Part {
        exp: "frontier-minbatch",
        summary: "4K batches by size: DMA, DMA declining batches below the floor to the CPU (declined_batches), one CPU",
    },
    Part {
        exp: "frontier-mix",
        summary: "one workload of several folio sizes (size=mix) beside uniform workloads of each size",
    },
    Part {
        exp: "frontier-latency",
        summary: "latency by batch size: first folio mapped again and each folio's unmapped window (µs, p50/p99/max)",
    },
];

impl Bench {
    /// Its registry entry.
    pub fn info(self) -> &'static BenchInfo {
        // BENCHES is in the order of Bench::ALL (test `registry_is_in_enum_order`).
        &BENCHES[self as usize]
    }
}

/// The one-line summary of a RESULT `exp` name (a benchmark or one of its parts), if
/// the registry has it.
pub fn describe(exp: &str) -> Option<&'static str> {
    BENCHES.iter().find_map(|b| {
        if b.bench.name() == exp {
            Some(b.summary)
        } else {
            b.parts.iter().find(|p| p.exp == exp).map(|p| p.summary)
        }
    })
}

/// What `bench=` selected: `all`, or benchmarks named in a comma list (both may be
/// given: `all,1b` runs everything and insists on 1b).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    /// `all` was in the list.
    pub all: bool,
    /// The benchmarks named, in the order given (repeats dropped).
    pub named: Vec<Bench>,
}

/// A `bench=` list with a word that is neither a benchmark nor `all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownBench(pub UnknownWord);

impl fmt::Display for UnknownBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown benchmark '{}' (a comma list of {},{})",
            self.0.given,
            self.0.accepted.join(","),
            ALL_WORD
        )
    }
}

impl Selection {
    /// Parses a comma list of benchmark names and `all`.
    ///
    /// # Errors
    /// [`UnknownBench`] for an empty item or a word that is no benchmark.
    pub fn parse(list: &str) -> Result<Self, UnknownBench> {
        let mut s = Selection::default();
        for word in list.split(',') {
            if word == ALL_WORD {
                s.all = true;
                continue;
            }
            let b: Bench = word.parse().map_err(UnknownBench)?;
            if !s.named.contains(&b) {
                s.named.push(b);
            }
        }
        Ok(s)
    }

    /// Only these benchmarks, named.
    pub fn of(benches: &[Bench]) -> Self {
        Selection {
            all: false,
            named: benches.to_vec(),
        }
    }

    /// Whether `b` runs (named, or `all`).
    pub fn runs(&self, b: Bench) -> bool {
        self.all || self.named.contains(&b)
    }

    /// Whether `b` was named explicitly (so it runs as asked or the run stops).
    pub fn names(&self, b: Bench) -> bool {
        self.named.contains(&b)
    }

    /// Whether `b` is the only benchmark that runs.
    pub fn only(&self, b: Bench) -> bool {
        !self.all && !self.named.is_empty() && self.named.iter().all(|&n| n == b)
    }

    /// The benchmarks that run, in registry order.
    pub fn running(&self) -> impl Iterator<Item = Bench> + '_ {
        Bench::ALL.iter().copied().filter(|&b| self.runs(b))
    }
}

impl fmt::Display for Selection {
    /// The comma list as it would be typed (`all` first when given).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if self.all {
            f.write_str(ALL_WORD)?;
            sep = ",";
        }
        for b in &self.named {
            write!(f, "{sep}{b}")?;
            sep = ",";
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn registry_is_in_enum_order() {
        assert_eq!(BENCHES.len(), Bench::ALL.len());
        for (info, &b) in BENCHES.iter().zip(Bench::ALL) {
            assert_eq!(info.bench, b);
            assert_eq!(b.info().bench, b);
            assert!(!info.summary.is_empty());
        }
    }

    #[test]
    fn every_bench_name_round_trips() {
        for &b in Bench::ALL {
            assert_eq!(b.name().parse::<Bench>(), Ok(b));
            assert_eq!(Selection::parse(b.name()), Ok(Selection::of(&[b])));
        }
        assert_eq!(Bench::Seed1a.name(), "1a");
    }

    #[test]
    fn selections_parse_and_print_as_typed() {
        let s = Selection::parse("1b,2a,1b").unwrap();
        assert_eq!(s.named, [Bench::Seed1b, Bench::Seed2a]);
        assert!(s.runs(Bench::Seed2a) && !s.runs(Bench::Seed1a));
        assert_eq!(s.to_string(), "1b,2a");
        let all = Selection::parse("all,1b").unwrap();
        assert!(all.all && all.names(Bench::Seed1b) && !all.names(Bench::Seed2b));
        assert!(all.runs(Bench::Cycles));
        assert_eq!(all.to_string(), "all,1b");
        assert_eq!(all.running().count(), Bench::ALL.len());
        assert!(Selection::parse("frontier").unwrap().only(Bench::Frontier));
        assert!(!Selection::parse("frontier,1a")
            .unwrap()
            .only(Bench::Frontier));
        assert!(!Selection::parse("all").unwrap().only(Bench::Frontier));
    }

    #[test]
    fn a_bad_name_lists_every_benchmark() {
        let e = Selection::parse("setup,crossover").unwrap_err();
        assert_eq!(e.0.given, "crossover");
        let msg = e.to_string();
        assert!(
            msg.contains("'crossover'")
                && msg.contains("efficiency,1a,1b")
                && msg.ends_with("frontier,streams,appcost,all)"),
            "{msg}"
        );
        assert!(Selection::parse("1a,").is_err(), "empty item");
        assert!(Selection::parse("").is_err());
    }

    #[test]
    fn describe_knows_benchmarks_and_parts() {
        assert_eq!(
            describe("1a"),
            Some("multi-threaded CPU copy by folio size and thread count")
        );
        assert!(describe("frontier-latency").unwrap().starts_with("latency"));
        assert_eq!(describe("migrate"), None);
    }

    #[test]
    fn dma_needs_match_the_dispatcher() {
        let required: Vec<&str> = BENCHES
            .iter()
            .filter(|b| b.dma == DmaUse::Required)
            .map(|b| b.bench.name())
            .collect();
        assert_eq!(required, ["1b", "2b", "auto"]);
        let seed: Vec<&str> = BENCHES
            .iter()
            .filter(|b| b.seed_table)
            .map(|b| b.bench.name())
            .collect();
        assert_eq!(seed, ["1a", "1b", "2a", "2b", "3a", "3b"]);
    }
}
