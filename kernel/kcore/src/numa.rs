//! The machine's NUMA layout: which CPUs and which usable RAM belong to which node,
//! built from the memory map, the MADT's CPU list and (when present) SRAT and SLIT.
//!
//! Node numbers are dense (0..n) in ascending proximity-domain order, so a sparse
//! firmware numbering still gives `from=0 to=1`. Without SRAT everything is one node
//! (said so through [`NumaLayout::from_srat`] being false). Usable RAM that no SRAT
//! memory range covers is given to node 0 and counted in `unaffined_bytes`.

use crate::acpi::{Slit, Srat};
use crate::bootinfo::{MemKind, MemoryMap};
use alloc::vec::Vec;

/// One NUMA node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Dense node number.
    pub id: u32,
    /// The firmware's proximity domain.
    pub domain: u32,
    /// APIC IDs of the node's enabled CPUs.
    pub apic_ids: Vec<u32>,
    /// Usable RAM ranges `[start, end)`, sorted.
    pub ranges: Vec<(u64, u64)>,
}

impl Node {
    /// Usable bytes of the node.
    pub fn bytes(&self) -> u64 {
        self.ranges.iter().map(|(s, e)| e - s).sum()
    }
}

/// Nodes plus distances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumaLayout {
    /// The nodes, by dense id.
    pub nodes: Vec<Node>,
    /// Distances between dense node ids.
    pub distances: Slit,
    /// True if SRAT described the layout; false means "one node, no SRAT".
    pub from_srat: bool,
    /// True if the distances came from a SLIT (else 10/20 defaults).
    pub from_slit: bool,
    /// Usable RAM not covered by any SRAT memory range (given to node 0).
    pub unaffined_bytes: u64,
    /// CPUs (APIC IDs) the MADT lists but SRAT does not place (given to node 0).
    pub unaffined_cpus: Vec<u32>,
}

impl NumaLayout {
    /// Builds the layout. `cpus` are the enabled APIC IDs from the MADT.
    pub fn build(
        memory: &MemoryMap,
        cpus: &[u32],
        srat: Option<&Srat>,
        slit: Option<&Slit>,
    ) -> Self {
        let usable: Vec<(u64, u64)> = memory
            .regions()
            .iter()
            .filter(|r| r.kind == MemKind::Usable)
            .map(|r| (r.start, r.end()))
            .collect();
        let Some(srat) = srat.filter(|s| !s.memory.is_empty()) else {
            return Self::single_node(usable, cpus);
        };
        let mut domains: Vec<u32> = srat
            .memory
            .iter()
            .map(|m| m.domain)
            .chain(srat.cpus.iter().map(|c| c.domain))
            .collect();
        domains.sort_unstable();
        domains.dedup();
        let dense = |domain: u32| domains.iter().position(|&d| d == domain).unwrap_or(0) as u32;
        let mut nodes: Vec<Node> = domains
            .iter()
            .enumerate()
            .map(|(i, &domain)| Node {
                id: i as u32,
                domain,
                apic_ids: Vec::new(),
                ranges: Vec::new(),
            })
            .collect();
        let mut unaffined_cpus = Vec::new();
        for &apic in cpus {
            match srat.cpus.iter().find(|c| c.apic_id == apic) {
                Some(c) => nodes[dense(c.domain) as usize].apic_ids.push(apic),
                None => {
                    unaffined_cpus.push(apic);
                    nodes[0].apic_ids.push(apic);
                }
            }
        }
        let mut unaffined_bytes = 0;
        for &(start, end) in &usable {
            let mut covered: Vec<(u64, u64)> = Vec::new();
            for m in &srat.memory {
                let (s, e) = (start.max(m.base), end.min(m.base.saturating_add(m.len)));
                if s < e {
                    nodes[dense(m.domain) as usize].ranges.push((s, e));
                    covered.push((s, e));
                }
            }
            unaffined_bytes += uncovered(start, end, &mut covered, &mut nodes[0].ranges);
        }
        for n in &mut nodes {
            n.ranges.sort_unstable();
        }
        let (distances, from_slit) = match slit {
            Some(s) if s.n >= domains.len() => (remap_slit(s, &domains), true),
            _ => (Slit::default_for(nodes.len()), false),
        };
        Self {
            nodes,
            distances,
            from_srat: true,
            from_slit,
            unaffined_bytes,
            unaffined_cpus,
        }
    }

    fn single_node(mut usable: Vec<(u64, u64)>, cpus: &[u32]) -> Self {
        usable.sort_unstable();
        Self {
            nodes: alloc::vec![Node {
                id: 0,
                domain: 0,
                apic_ids: cpus.to_vec(),
                ranges: usable
            }],
            distances: Slit::default_for(1),
            from_srat: false,
            from_slit: false,
            unaffined_bytes: 0,
            unaffined_cpus: Vec::new(),
        }
    }

    /// The dense node of a CPU, if known.
    pub fn node_of_apic(&self, apic: u32) -> Option<u32> {
        self.nodes
            .iter()
            .find(|n| n.apic_ids.contains(&apic))
            .map(|n| n.id)
    }

    /// The node owning physical address `addr`, if it is usable RAM.
    pub fn node_of_addr(&self, addr: u64) -> Option<u32> {
        self.nodes
            .iter()
            .find(|n| n.ranges.iter().any(|&(s, e)| s <= addr && addr < e))
            .map(|n| n.id)
    }
}

/// Adds the parts of `[start, end)` not in `covered` to `sink`; returns their bytes.
fn uncovered(start: u64, end: u64, covered: &mut [(u64, u64)], sink: &mut Vec<(u64, u64)>) -> u64 {
    covered.sort_unstable();
    let (mut cursor, mut bytes) = (start, 0);
    for &(s, e) in covered.iter() {
        if s > cursor {
            sink.push((cursor, s));
            bytes += s - cursor;
        }
        cursor = cursor.max(e);
    }
    if cursor < end {
        sink.push((cursor, end));
        bytes += end - cursor;
    }
    bytes
}

/// SLIT rows are indexed by proximity domain; re-index them by dense node id.
fn remap_slit(s: &Slit, domains: &[u32]) -> Slit {
    let n = domains.len();
    let mut distances = Vec::with_capacity(n * n);
    for &a in domains {
        for &b in domains {
            distances.push(s.distance(a as usize, b as usize).unwrap_or(if a == b {
                10
            } else {
                20
            }));
        }
    }
    Slit { n, distances }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acpi::{CpuAffinity, MemAffinity};
    use crate::bootinfo::MemRegion;

    fn qemu_map() -> MemoryMap {
        let mut m = MemoryMap::new();
        m.push(MemRegion {
            start: 0,
            len: 0x9fc00,
            kind: MemKind::Usable,
        });
        m.push(MemRegion {
            start: 0xf0000,
            len: 0x10000,
            kind: MemKind::Reserved,
        });
        m.push(MemRegion {
            start: 0x100000,
            len: 0x3fee_0000,
            kind: MemKind::Usable,
        });
        m
    }

    fn mem(base: u64, len: u64, domain: u32) -> MemAffinity {
        MemAffinity {
            base,
            len,
            domain,
            hotplug: false,
            nonvolatile: false,
        }
    }

    #[test]
    fn no_srat_is_one_node_with_everything() {
        let l = NumaLayout::build(&qemu_map(), &[0, 1], None, None);
        assert!(!l.from_srat);
        assert_eq!(l.nodes.len(), 1);
        assert_eq!(l.nodes[0].apic_ids, [0, 1]);
        assert_eq!(l.nodes[0].bytes(), 0x9fc00 + 0x3fee_0000);
    }

    #[test]
    fn two_nodes_split_usable_ram() {
        let srat = Srat {
            cpus: alloc::vec![
                CpuAffinity {
                    apic_id: 0,
                    domain: 0
                },
                CpuAffinity {
                    apic_id: 1,
                    domain: 1
                }
            ],
            memory: alloc::vec![
                mem(0, 0xa0000, 0),
                mem(0x100000, 0x1ff0_0000, 0),
                mem(0x2000_0000, 0x2000_0000, 1)
            ],
        };
        let l = NumaLayout::build(&qemu_map(), &[0, 1], Some(&srat), None);
        assert!(l.from_srat && !l.from_slit);
        assert_eq!(l.nodes.len(), 2);
        assert_eq!(l.nodes[1].ranges, [(0x2000_0000, 0x3ffe_0000)]);
        assert_eq!(l.node_of_apic(1), Some(1));
        assert_eq!(l.node_of_addr(0x2000_0000), Some(1));
        assert_eq!(l.node_of_addr(0x1fff_ffff), Some(0));
        assert_eq!(l.unaffined_bytes, 0);
        assert_eq!(l.distances.distance(0, 1), Some(20));
    }

    #[test]
    fn sparse_domains_become_dense_and_slit_follows() {
        let srat = Srat {
            cpus: alloc::vec![
                CpuAffinity {
                    apic_id: 0,
                    domain: 2
                },
                CpuAffinity {
                    apic_id: 1,
                    domain: 5
                }
            ],
            memory: alloc::vec![mem(0, 0x2000_0000, 2), mem(0x2000_0000, 0x2000_0000, 5)],
        };
        let mut d = alloc::vec![10u8; 36];
        d[2 * 6 + 5] = 32;
        d[5 * 6 + 2] = 32;
        let slit = Slit { n: 6, distances: d };
        let l = NumaLayout::build(&qemu_map(), &[0, 1, 7], Some(&srat), Some(&slit));
        assert_eq!(l.nodes.iter().map(|n| n.domain).collect::<Vec<_>>(), [2, 5]);
        assert_eq!(l.distances.distance(0, 1), Some(32));
        assert!(l.from_slit);
        // APIC 7 is unknown to SRAT: node 0, and reported.
        assert_eq!(l.unaffined_cpus, [7]);
    }

    #[test]
    fn ram_outside_srat_goes_to_node0_and_is_counted() {
        let srat = Srat {
            cpus: alloc::vec![],
            memory: alloc::vec![mem(0x100000, 0x1000_0000, 1)],
        };
        let l = NumaLayout::build(&qemu_map(), &[0], Some(&srat), None);
        assert_eq!(l.unaffined_bytes, 0x9fc00 + (0x3fee_0000 - 0x1000_0000));
        // The only SRAT domain (1) is dense node 0; it also receives the unaffined RAM.
        assert_eq!(l.nodes.len(), 1);
        assert_eq!(l.nodes[0].bytes(), l.unaffined_bytes + 0x1000_0000);
    }
}
