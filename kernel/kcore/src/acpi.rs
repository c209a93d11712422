//! NUMA tables the `acpi` crate (5.x, the last release that builds on stable Rust) does
//! not decode: SRAT (CPU and memory affinity) and SLIT (distances). The crate finds and
//! checksums the tables; this module reads their bodies from bytes, so it is
//! host-tested. Layouts: ACPI 6.5 §5.2.16 (SRAT) and §5.2.17 (SLIT).
//!
//! Untrusted input: every length is checked; a malformed table gives a [`TableError`]
//! naming the table, the offset and what was wrong, never a panic or a loop.

use alloc::vec::Vec;
use core::fmt;

/// Size of the standard ACPI table header.
pub const SDT_HEADER_LEN: usize = 36;

/// A CPU's NUMA affinity from SRAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuAffinity {
    /// Local APIC or x2APIC ID.
    pub apic_id: u32,
    /// Proximity domain (NUMA node).
    pub domain: u32,
}

/// A memory range's NUMA affinity from SRAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemAffinity {
    /// First byte.
    pub base: u64,
    /// Length in bytes.
    pub len: u64,
    /// Proximity domain (NUMA node).
    pub domain: u32,
    /// Hot-pluggable (may be absent now).
    pub hotplug: bool,
    /// Non-volatile memory.
    pub nonvolatile: bool,
}

/// Decoded SRAT: enabled entries only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Srat {
    /// Enabled CPU affinity entries.
    pub cpus: Vec<CpuAffinity>,
    /// Enabled memory affinity entries.
    pub memory: Vec<MemAffinity>,
}

/// Decoded SLIT: an n × n matrix of relative distances (10 = local).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slit {
    /// Number of localities.
    pub n: usize,
    /// Row-major distances.
    pub distances: Vec<u8>,
}

impl Slit {
    /// Distance from locality `a` to `b`, if both exist.
    pub fn distance(&self, a: usize, b: usize) -> Option<u8> {
        (a < self.n && b < self.n).then(|| self.distances[a * self.n + b])
    }

    /// The distances ACPI implies when there is no SLIT: 10 local, 20 remote.
    pub fn default_for(n: usize) -> Self {
        let distances = (0..n * n)
            .map(|i| if i / n == i % n { 10 } else { 20 })
            .collect();
        Self { n, distances }
    }
}

/// What was wrong with a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableError {
    /// Table signature.
    pub table: &'static str,
    /// Byte offset of the problem.
    pub offset: usize,
    /// What was wrong.
    pub problem: &'static str,
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed {} at byte {}: {}",
            self.table, self.offset, self.problem
        )
    }
}

fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// Length field of the table header, checked against the bytes available.
fn table_len(table: &'static str, b: &[u8]) -> Result<usize, TableError> {
    if b.len() < SDT_HEADER_LEN {
        return Err(TableError {
            table,
            offset: 0,
            problem: "shorter than the ACPI header",
        });
    }
    let len = le32(b, 4) as usize;
    if len < SDT_HEADER_LEN || len > b.len() {
        return Err(TableError {
            table,
            offset: 4,
            problem: "length field out of range",
        });
    }
    Ok(len)
}

/// Parses a whole SRAT (header included).
///
/// # Errors
/// A [`TableError`] for `SRAT` with the byte offset and the problem: the slice is shorter
/// than the 36-byte header, or the header's length field is below 36 or beyond the slice;
/// an entry header or entry runs past the table ("truncated entry header", "entry length
/// out of range"); or a type 0/1/2 entry is shorter than its type's layout (16/40/24
/// bytes, ACPI 6.5 §5.2.16). Entries of other types are skipped, not refused.
pub fn parse_srat(b: &[u8]) -> Result<Srat, TableError> {
    const T: &str = "SRAT";
    let len = table_len(T, b)?;
    let mut srat = Srat::default();
    // 36-byte header, then 4 reserved (must be 1) + 8 reserved bytes.
    let mut off = SDT_HEADER_LEN + 12;
    while off < len {
        if off + 2 > len {
            return Err(TableError {
                table: T,
                offset: off,
                problem: "truncated entry header",
            });
        }
        let (kind, elen) = (b[off], b[off + 1] as usize);
        if elen < 2 || off + elen > len {
            return Err(TableError {
                table: T,
                offset: off,
                problem: "entry length out of range",
            });
        }
        let e = &b[off..off + elen];
        match (kind, elen) {
            (0, 16..) => push_lapic_affinity(e, &mut srat),
            (1, 40..) => push_memory_affinity(e, &mut srat),
            (2, 24..) => push_x2apic_affinity(e, &mut srat),
            (0..=2, _) => {
                return Err(TableError {
                    table: T,
                    offset: off,
                    problem: "entry shorter than its type",
                })
            }
            _ => {} // GICC, ITS, generic initiators: not used on x86 migration targets.
        }
        off += elen;
    }
    Ok(srat)
}

/// Type 0, Processor Local APIC/SAPIC affinity: domain bits 7:0 at byte 2, 31:8 at 9..12.
fn push_lapic_affinity(e: &[u8], srat: &mut Srat) {
    if le32(e, 4) & 1 != 0 {
        let domain = u32::from(e[2])
            | (u32::from(e[9]) << 8)
            | (u32::from(e[10]) << 16)
            | (u32::from(e[11]) << 24);
        srat.cpus.push(CpuAffinity {
            apic_id: u32::from(e[3]),
            domain,
        });
    }
}

/// Type 1, Memory affinity.
fn push_memory_affinity(e: &[u8], srat: &mut Srat) {
    let flags = le32(e, 28);
    if flags & 1 != 0 {
        srat.memory.push(MemAffinity {
            base: u64::from(le32(e, 8)) | (u64::from(le32(e, 12)) << 32),
            len: u64::from(le32(e, 16)) | (u64::from(le32(e, 20)) << 32),
            domain: le32(e, 2),
            hotplug: flags & 2 != 0,
            nonvolatile: flags & 4 != 0,
        });
    }
}

/// Type 2, Processor Local x2APIC affinity.
fn push_x2apic_affinity(e: &[u8], srat: &mut Srat) {
    if le32(e, 12) & 1 != 0 {
        srat.cpus.push(CpuAffinity {
            apic_id: le32(e, 8),
            domain: le32(e, 4),
        });
    }
}

/// Parses a whole SLIT (header included).
///
/// # Errors
/// A [`TableError`] for `SLIT` with the byte offset and the problem: the header is short
/// or its length field out of range (as for [`parse_srat`]); the table ends before the
/// 8-byte locality count; the count is 0 or above 256; or the count² distance bytes run
/// past the table (ACPI 6.5 §5.2.17).
pub fn parse_slit(b: &[u8]) -> Result<Slit, TableError> {
    const T: &str = "SLIT";
    let len = table_len(T, b)?;
    if len < SDT_HEADER_LEN + 8 {
        return Err(TableError {
            table: T,
            offset: SDT_HEADER_LEN,
            problem: "no locality count",
        });
    }
    let n64 = u64::from(le32(b, 36)) | (u64::from(le32(b, 40)) << 32);
    let n = usize::try_from(n64)
        .ok()
        .filter(|&n| n > 0 && n <= 256)
        .ok_or(TableError {
            table: T,
            offset: 36,
            problem: "locality count not in 1..=256",
        })?;
    let start = SDT_HEADER_LEN + 8;
    if start + n * n > len {
        return Err(TableError {
            table: T,
            offset: start,
            problem: "matrix longer than the table",
        });
    }
    Ok(Slit {
        n,
        distances: b[start..start + n * n].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn header(sig: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut t = vec![0u8; SDT_HEADER_LEN];
        t[..4].copy_from_slice(sig);
        t.extend_from_slice(body);
        let len = t.len() as u32;
        t[4..8].copy_from_slice(&len.to_le_bytes());
        t
    }

    fn lapic_entry(apic: u8, domain: u32, enabled: bool) -> Vec<u8> {
        let mut e = vec![0u8; 16];
        e[0] = 0;
        e[1] = 16;
        e[2] = domain as u8;
        e[3] = apic;
        e[4] = u8::from(enabled);
        e[9..12].copy_from_slice(&domain.to_le_bytes()[1..4]);
        e
    }

    fn mem_entry(base: u64, len: u64, domain: u32, flags: u32) -> Vec<u8> {
        let mut e = vec![0u8; 40];
        e[0] = 1;
        e[1] = 40;
        e[2..6].copy_from_slice(&domain.to_le_bytes());
        e[8..16].copy_from_slice(&base.to_le_bytes());
        e[16..24].copy_from_slice(&len.to_le_bytes());
        e[28..32].copy_from_slice(&flags.to_le_bytes());
        e
    }

    fn x2apic_entry(apic: u32, domain: u32) -> Vec<u8> {
        let mut e = vec![0u8; 24];
        e[0] = 2;
        e[1] = 24;
        e[4..8].copy_from_slice(&domain.to_le_bytes());
        e[8..12].copy_from_slice(&apic.to_le_bytes());
        e[12] = 1;
        e
    }

    fn srat(entries: &[Vec<u8>]) -> Vec<u8> {
        let mut body = vec![1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        for e in entries {
            body.extend_from_slice(e);
        }
        header(b"SRAT", &body)
    }

    #[test]
    fn srat_like_qemu_two_nodes() {
        // What QEMU 7.2 builds for -numa node,cpus=0-1 / 2-3 with 512M each.
        let t = srat(&[
            lapic_entry(0, 0, true),
            lapic_entry(1, 0, true),
            lapic_entry(2, 1, true),
            lapic_entry(3, 1, true),
            lapic_entry(4, 1, false),
            mem_entry(0, 0xa0000, 0, 1),
            mem_entry(0x100000, 0x1ff0_0000, 0, 1),
            mem_entry(0x2000_0000, 0x2000_0000, 1, 1),
            mem_entry(0x1_0000_0000, 0x4000_0000, 1, 0), // disabled: skipped
            x2apic_entry(300, 1),
        ]);
        let s = parse_srat(&t).unwrap();
        assert_eq!(s.cpus.len(), 5);
        assert_eq!(
            s.cpus[2],
            CpuAffinity {
                apic_id: 2,
                domain: 1
            }
        );
        assert_eq!(
            s.cpus[4],
            CpuAffinity {
                apic_id: 300,
                domain: 1
            }
        );
        assert_eq!(s.memory.len(), 3);
        assert_eq!(s.memory[2].base, 0x2000_0000);
        assert_eq!(s.memory[2].domain, 1);
    }

    #[test]
    fn srat_high_domain_bits_are_read() {
        let s = parse_srat(&srat(&[lapic_entry(7, 0x0102_0304, true)])).unwrap();
        assert_eq!(s.cpus[0].domain, 0x0102_0304);
    }

    #[test]
    fn srat_malformed_entries_are_errors() {
        let mut zero_len = srat(&[lapic_entry(0, 0, true)]);
        zero_len[SDT_HEADER_LEN + 12 + 1] = 0;
        assert_eq!(
            parse_srat(&zero_len).unwrap_err().problem,
            "entry length out of range"
        );
        let mut short = srat(&[lapic_entry(0, 0, true)]);
        short[SDT_HEADER_LEN + 12 + 1] = 8;
        // The length now covers fewer bytes than a type-0 entry needs.
        assert!(parse_srat(&short).is_err());
        let mut long = srat(&[]);
        long[4] = 200;
        assert_eq!(
            parse_srat(&long).unwrap_err().problem,
            "length field out of range"
        );
        assert!(parse_srat(&[0u8; 10]).is_err());
    }

    #[test]
    fn slit_matrix_and_default() {
        let mut body = 2u64.to_le_bytes().to_vec();
        body.extend_from_slice(&[10, 21, 21, 10]);
        let s = parse_slit(&header(b"SLIT", &body)).unwrap();
        assert_eq!(s.distance(0, 1), Some(21));
        assert_eq!(s.distance(1, 1), Some(10));
        assert_eq!(s.distance(2, 0), None);
        let d = Slit::default_for(3);
        assert_eq!(d.distance(0, 0), Some(10));
        assert_eq!(d.distance(2, 1), Some(20));
    }

    #[test]
    fn slit_malformed() {
        let mut body = 3u64.to_le_bytes().to_vec();
        body.extend_from_slice(&[10, 20, 20, 10]);
        assert!(parse_slit(&header(b"SLIT", &body)).is_err());
        let zero = 0u64.to_le_bytes().to_vec();
        assert!(parse_slit(&header(b"SLIT", &zero)).is_err());
    }
}
