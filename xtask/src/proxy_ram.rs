//! Which QEMU machine shapes leave guest RAM reachable by the emulated PTDMA engines.
//!
//! QEMU's device proxy (`x-pci-proxy-dev`) gives the device model guest RAM in SYNC_SYSMEM
//! messages with one fd per RAM section, at most REMOTE_MAX_FDS = 8; with more sections it
//! sends nothing ("Number of fds is more than 8", hw/remote/proxy-memory-listener.c), so the
//! engines see no guest RAM and every descriptor fails. Each NUMA node is its own
//! memory-backend-memfd, so at least one section. q35 splits RAM at the below-4G boundary
//! (hw/i386/pc_q35.c, the same in QEMU 7.2 and 10.x): 2 GiB below 4 GiB when the total is
//! at least 0xB0000000 (2816 MiB), else all of it below (no split); a node across that boundary is
//! two sections. Booted with the model at --log-level=debug: 8 x 256 and 8 x 512 MiB get 8
//! sections, 7 x 448 gets 8 (node 4 twice), 8 x 384 gets 9 and the model no RAM at all.
//! (While SeaBIOS runs, node 0 is briefly split around the legacy VGA hole too; QEMU drops
//! those messages and sends the final table, so that does not count.)

use std::fmt;

/// RAM sections QEMU's device proxy shares with the model at most.
pub const PROXY_MAX_SECTIONS: u32 = 8;
/// Guest RAM (MiB) from which q35 puts only [`Q35_LOWMEM_MIB`] below the 4 GiB hole.
pub const Q35_SPLIT_FROM_MIB: u64 = 2816;
/// RAM (MiB) below the 4 GiB hole when q35 splits.
pub const Q35_LOWMEM_MIB: u64 = 2048;

/// Shapes booted by hand with the model at --log-level=debug and what QEMU's proxy sent
/// for them: (nodes, MiB per node, sections, straddling node, MiB below 4 GiB).
pub const OBSERVED: [(u32, u64, u32, Option<u32>, u64); 8] = [
    (8, 256, 8, None, 2048),
    (8, 512, 8, None, 2048),
    (7, 448, 8, Some(4), 2048),
    (8, 384, 9, Some(5), 2048),
    (8, 351, 8, None, 2808),
    (8, 352, 9, Some(5), 2048),
    (2, 3072, 3, Some(0), 2048),
    (1, 64, 1, None, 64),
];

/// Shapes of [`OBSERVED`] whose computed layout differs, as `NODESxMIB -> got (want)`.
pub fn observed_mismatches() -> Vec<String> {
    OBSERVED
        .iter()
        .filter_map(|&(nodes, mib, sections, straddle, lowmem_mib)| {
            let want = RamLayout {
                sections,
                straddle,
                lowmem_mib,
            };
            let got = RamLayout::of(nodes, mib);
            (got != want).then(|| format!("{nodes}x{mib} -> {got:?} (want {want:?})"))
        })
        .collect()
}

/// How q35 lays out `nodes` nodes of `mib` MiB each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamLayout {
    /// RAM sections the proxy has to share.
    pub sections: u32,
    /// The node that straddles the below-4G boundary, if one does.
    pub straddle: Option<u32>,
    /// MiB of RAM below 4 GiB.
    pub lowmem_mib: u64,
}

impl RamLayout {
    /// The layout of `nodes` nodes of `mib` MiB each on q35.
    pub fn of(nodes: u32, mib: u64) -> RamLayout {
        let total = u64::from(nodes) * mib;
        let lowmem_mib = if total >= Q35_SPLIT_FROM_MIB {
            Q35_LOWMEM_MIB
        } else {
            total
        };
        let straddle = (lowmem_mib < total && lowmem_mib % mib != 0)
            .then(|| u32::try_from(lowmem_mib / mib).unwrap_or(u32::MAX));
        RamLayout {
            sections: nodes + u32::from(straddle.is_some()),
            straddle,
            lowmem_mib,
        }
    }

    /// True when the proxy shares every section.
    pub fn fits(&self) -> bool {
        self.sections <= PROXY_MAX_SECTIONS
    }
}

/// A shape whose guest RAM the engines cannot reach: the message names why and shapes that work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRamError {
    nodes: u32,
    mib: u64,
    layout: RamLayout,
}

/// Checks `nodes` x `mib` MiB against the proxy's limit (only matters with engines attached).
///
/// # Errors
/// [`ProxyRamError`] when the guest RAM is more sections than the proxy shares.
pub fn check(nodes: u32, mib: u64) -> Result<(), ProxyRamError> {
    let layout = RamLayout::of(nodes, mib);
    if layout.fits() {
        Ok(())
    } else {
        Err(ProxyRamError { nodes, mib, layout })
    }
}

/// Why a shape fits, in words.
fn fit_reason(nodes: u32, mib: u64) -> String {
    let l = RamLayout::of(nodes, mib);
    let total = u64::from(nodes) * mib;
    match l.straddle {
        _ if l.lowmem_mib == total => {
            format!(
                "all {total} MiB below the 4 GiB hole, {} sections",
                l.sections
            )
        }
        None => format!(
            "a node boundary at the hole ({} MiB), {} sections",
            l.lowmem_mib, l.sections
        ),
        Some(st) => format!("node {st} straddles the hole, {} sections", l.sections),
    }
}

impl ProxyRamError {
    /// Shapes that work: the nearest multiples of 64 MiB per node below and above, then
    /// fewer nodes, then no engines.
    pub fn alternatives(&self) -> Vec<String> {
        let (nodes, mib) = (self.nodes, self.mib);
        let mut alts = Vec::new();
        let below = (64..=(mib.saturating_sub(1)) / 64 * 64)
            .rev()
            .step_by(64)
            .find(|&m| RamLayout::of(nodes, m).fits());
        if let Some(m) = below {
            alts.push(format!("--mem-per-node {m} ({})", fit_reason(nodes, m)));
        }
        let above = (mib / 64 * 64 + 64..=16384)
            .step_by(64)
            .find(|&m| RamLayout::of(nodes, m).fits());
        if let Some(m) = above {
            alts.push(format!("--mem-per-node {m} ({})", fit_reason(nodes, m)));
        }
        if let Some(n) = (1..nodes).rev().find(|&n| RamLayout::of(n, mib).fits()) {
            alts.push(format!("--nodes {n} ({})", fit_reason(n, mib)));
        }
        // `--sdxi N` functions go through the same proxy: "--ptdma 0" alone leaves them.
        alts.push("--ptdma 0 without --sdxi (CPU engines only)".to_string());
        alts
    }
}

impl fmt::Display for ProxyRamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (nodes, mib, l) = (self.nodes, self.mib, self.layout);
        let total = u64::from(nodes) * mib;
        let why = match l.straddle {
            None => format!("{nodes} nodes are {nodes} RAM sections"),
            Some(st) => format!(
                "q35 maps {} of the {total} MiB below the 4 GiB hole and the rest above it, so \
                 node {st} ({}-{} MiB) straddles the hole and is 2 RAM sections: {} sections in all",
                l.lowmem_mib,
                u64::from(st) * mib,
                (u64::from(st) + 1) * mib,
                l.sections
            ),
        };
        let alts: Vec<String> = self
            .alternatives()
            .into_iter()
            .map(|a| format!(" {a}"))
            .collect();
        write!(
            f,
            "{nodes} NUMA nodes x {mib} MiB cannot work with emulated DMA engines (PTDMA or SDXI): {why}, but QEMU's \
             device proxy (x-pci-proxy-dev) shares at most {PROXY_MAX_SECTIONS} RAM sections \
             with the device model and none when there are more, so every DMA would fail and \
             the CPU would copy everything. Shapes that work:{}",
            alts.join(";")
        )
    }
}

impl std::error::Error for ProxyRamError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shapes booted by hand with the model at --log-level=debug (see the module doc).
    #[test]
    fn sections_per_shape() {
        assert_eq!(observed_mismatches(), Vec::<String>::new());
        // The check suite's 68 GiB guest: node 0 straddles the hole, 5 sections.
        let big = RamLayout {
            sections: 5,
            straddle: Some(0),
            lowmem_mib: 2048,
        };
        assert_eq!(RamLayout::of(4, 17408), big);
    }

    #[test]
    fn refusal_names_the_straddling_node_and_shapes_that_work() {
        let err = check(8, 384).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(
            "node 5 (1920-2304 MiB) straddles the hole and is 2 RAM sections: 9 sections in all"
        ));
        assert_eq!(
            err.alternatives(),
            [
                "--mem-per-node 320 (all 2560 MiB below the 4 GiB hole, 8 sections)",
                "--mem-per-node 512 (a node boundary at the hole (2048 MiB), 8 sections)",
                "--nodes 7 (all 2688 MiB below the 4 GiB hole, 7 sections)",
                "--ptdma 0 without --sdxi (CPU engines only)",
            ]
        );
        assert!(text.ends_with("Shapes that work: --mem-per-node 320 (all 2560 MiB below the 4 GiB hole, 8 sections); --mem-per-node 512 (a node boundary at the hole (2048 MiB), 8 sections); --nodes 7 (all 2688 MiB below the 4 GiB hole, 7 sections); --ptdma 0 without --sdxi (CPU engines only)"));
        assert!(text.starts_with(
            "8 NUMA nodes x 384 MiB cannot work with emulated DMA engines (PTDMA or SDXI): "
        ));
    }

    #[test]
    fn shapes_the_check_suite_boots_with_engines_fit() {
        for (nodes, mib) in [(2, 512), (4, 256), (7, 448), (8, 256), (4, 17408)] {
            let fits = check(nodes, mib).is_ok();
            // 4 x 17 GiB straddles at node 0 but is 5 sections: fits.
            assert!(fits, "{nodes} x {mib}");
        }
        assert!(check(8, 352).is_err());
    }
}
