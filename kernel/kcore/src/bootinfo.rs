//! What the loader tells the kernel, in loader-independent form, and the pure parts
//! of reading it: the PVH `hvm_start_info` layout (QEMU `-kernel`), E820 memory types,
//! a fixed-capacity [`MemoryMap`] usable before the heap exists, and the ACPI RSDP
//! signature/checksum scan used when no loader passed the RSDP.
//!
//! PVH layout: Xen `include/public/arch-x86/hvm/start_info.h` (version 1 adds the
//! memory map). Multiboot2 tags are read with the `multiboot2` crate by the kernel.

use core::fmt;

/// Magic value at offset 0 of `hvm_start_info`.
pub const PVH_MAGIC: u32 = 0x336e_c578;
/// Size of `hvm_start_info` version 1.
pub const PVH_START_INFO_LEN: usize = 56;
/// Size of one `hvm_memmap_table_entry`.
pub const PVH_MEMMAP_ENTRY_LEN: usize = 24;

/// The kind of a physical memory range (E820 numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemKind {
    /// Free RAM the kernel may use.
    Usable,
    /// Reserved by firmware or devices.
    Reserved,
    /// ACPI tables; reclaimable once parsed (the kernel keeps them).
    AcpiReclaimable,
    /// ACPI non-volatile storage.
    AcpiNvs,
    /// Defective RAM.
    Bad,
    /// A type this kernel does not know; treated as reserved.
    Other(u32),
}

impl MemKind {
    /// Maps an E820 / multiboot2 memory type number.
    pub fn from_e820(t: u32) -> Self {
        match t {
            1 => MemKind::Usable,
            2 => MemKind::Reserved,
            3 => MemKind::AcpiReclaimable,
            4 => MemKind::AcpiNvs,
            5 => MemKind::Bad,
            other => MemKind::Other(other),
        }
    }
}

impl fmt::Display for MemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemKind::Usable => write!(f, "usable"),
            MemKind::Reserved => write!(f, "reserved"),
            MemKind::AcpiReclaimable => write!(f, "acpi"),
            MemKind::AcpiNvs => write!(f, "acpi-nvs"),
            MemKind::Bad => write!(f, "bad"),
            MemKind::Other(t) => write!(f, "type-{t}"),
        }
    }
}

/// One physical memory range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemRegion {
    /// First byte.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
    /// What the range is.
    pub kind: MemKind,
}

impl MemRegion {
    /// One past the last byte (saturating).
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }
}

/// Maximum number of ranges a [`MemoryMap`] holds. Real firmware maps have tens.
pub const MAX_REGIONS: usize = 256;

/// A memory map with fixed capacity, so it can be filled before the heap exists.
#[derive(Debug, Clone)]
pub struct MemoryMap {
    regions: [MemRegion; MAX_REGIONS],
    len: usize,
    overflowed: usize,
}

impl Default for MemoryMap {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryMap {
    /// An empty map.
    pub const fn new() -> Self {
        Self {
            regions: [MemRegion {
                start: 0,
                len: 0,
                kind: MemKind::Reserved,
            }; MAX_REGIONS],
            len: 0,
            overflowed: 0,
        }
    }

    /// Adds a range (empty ranges are dropped). Ranges past capacity are counted in
    /// [`MemoryMap::overflowed`] rather than silently lost.
    pub fn push(&mut self, region: MemRegion) {
        if region.len == 0 {
            return;
        }
        if self.len == MAX_REGIONS {
            self.overflowed += 1;
            return;
        }
        self.regions[self.len] = region;
        self.len += 1;
    }

    /// The ranges, in the order given.
    pub fn regions(&self) -> &[MemRegion] {
        &self.regions[..self.len]
    }

    /// How many ranges did not fit.
    pub fn overflowed(&self) -> usize {
        self.overflowed
    }

    /// Total bytes of usable RAM.
    pub fn usable_bytes(&self) -> u64 {
        self.regions()
            .iter()
            .filter(|r| r.kind == MemKind::Usable)
            .map(|r| r.len)
            .sum()
    }
}

/// The fields of PVH `hvm_start_info` the kernel uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PvhStartInfo {
    /// Structure version (0 has no memory map).
    pub version: u32,
    /// Physical address of the NUL-terminated command line (0 = none).
    pub cmdline_paddr: u64,
    /// Physical address of the ACPI RSDP (0 = none).
    pub rsdp_paddr: u64,
    /// Physical address of the memory map table (version ≥ 1).
    pub memmap_paddr: u64,
    /// Entries in the memory map table.
    pub memmap_entries: u32,
}

/// Why a boot structure could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootInfoError {
    /// The structure is shorter than its layout.
    Truncated,
    /// The magic number is wrong: not a PVH start (e.g. another loader).
    BadMagic(u32),
}

impl fmt::Display for BootInfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootInfoError::Truncated => write!(f, "boot structure truncated"),
            BootInfoError::BadMagic(m) => write!(f, "bad PVH start_info magic {m:#x}"),
        }
    }
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

/// Parses `hvm_start_info` from its bytes.
///
/// # Errors
/// [`BootInfoError::BadMagic`] with the value read when the first word is not
/// [`PVH_MAGIC`]; [`BootInfoError::Truncated`] when `b` ends before a field the version
/// has (the magic, then 40 bytes for version 0, 56 for version 1 which adds the memory
/// map).
pub fn parse_pvh_start_info(b: &[u8]) -> Result<PvhStartInfo, BootInfoError> {
    let magic = u32_at(b, 0).ok_or(BootInfoError::Truncated)?;
    if magic != PVH_MAGIC {
        return Err(BootInfoError::BadMagic(magic));
    }
    let version = u32_at(b, 4).ok_or(BootInfoError::Truncated)?;
    let cmdline_paddr = u64_at(b, 24).ok_or(BootInfoError::Truncated)?;
    let rsdp_paddr = u64_at(b, 32).ok_or(BootInfoError::Truncated)?;
    let (memmap_paddr, memmap_entries) = if version >= 1 {
        (
            u64_at(b, 40).ok_or(BootInfoError::Truncated)?,
            u32_at(b, 48).ok_or(BootInfoError::Truncated)?,
        )
    } else {
        (0, 0)
    };
    Ok(PvhStartInfo {
        version,
        cmdline_paddr,
        rsdp_paddr,
        memmap_paddr,
        memmap_entries,
    })
}

/// Parses a PVH memory map table (`entries` × 24 bytes) into `map`.
///
/// # Errors
/// [`BootInfoError::Truncated`] when `b` is shorter than `entries` × 24 bytes; the
/// entries before the short one are already in `map`.
pub fn parse_pvh_memmap(b: &[u8], entries: u32, map: &mut MemoryMap) -> Result<(), BootInfoError> {
    for i in 0..entries as usize {
        let off = i * PVH_MEMMAP_ENTRY_LEN;
        let start = u64_at(b, off).ok_or(BootInfoError::Truncated)?;
        let len = u64_at(b, off + 8).ok_or(BootInfoError::Truncated)?;
        let kind = MemKind::from_e820(u32_at(b, off + 16).ok_or(BootInfoError::Truncated)?);
        map.push(MemRegion { start, len, kind });
    }
    Ok(())
}

/// True if `b` starts with a valid ACPI RSDP: signature `"RSD PTR "`, the ACPI 1.0
/// checksum over 20 bytes, and for revision ≥ 2 the extended checksum over `length`.
pub fn rsdp_is_valid(b: &[u8]) -> bool {
    if b.len() < 20 || &b[..8] != b"RSD PTR " || !sums_to_zero(&b[..20]) {
        return false;
    }
    if b[15] < 2 {
        return true;
    }
    match u32_at(b, 20) {
        Some(len) if (36..=4096).contains(&len) && b.len() >= len as usize => {
            sums_to_zero(&b[..len as usize])
        }
        _ => false,
    }
}

fn sums_to_zero(b: &[u8]) -> bool {
    b.iter().fold(0u8, |s, &x| s.wrapping_add(x)) == 0
}

/// Scans `area` (whose first byte is at physical `base`) on 16-byte boundaries for a
/// valid RSDP and returns its physical address. This is the BIOS fallback (EBDA first
/// KiB, then 0xE0000..0xFFFFF) when no loader passed the RSDP.
pub fn find_rsdp(area: &[u8], base: u64) -> Option<u64> {
    (0..area.len())
        .step_by(16)
        .find(|&off| rsdp_is_valid(&area[off..]))
        .map(|off| base + off as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn start_info(version: u32) -> Vec<u8> {
        let mut b = alloc::vec![0u8; PVH_START_INFO_LEN];
        b[0..4].copy_from_slice(&PVH_MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&version.to_le_bytes());
        b[24..32].copy_from_slice(&0x1000u64.to_le_bytes());
        b[32..40].copy_from_slice(&0xf5a80u64.to_le_bytes());
        b[40..48].copy_from_slice(&0x2000u64.to_le_bytes());
        b[48..52].copy_from_slice(&3u32.to_le_bytes());
        b
    }

    #[test]
    fn pvh_start_info_fields() {
        let s = parse_pvh_start_info(&start_info(1)).unwrap();
        assert_eq!(s.cmdline_paddr, 0x1000);
        assert_eq!(s.rsdp_paddr, 0xf5a80);
        assert_eq!((s.memmap_paddr, s.memmap_entries), (0x2000, 3));
        // Version 0 has no memory map, whatever the bytes say.
        let s0 = parse_pvh_start_info(&start_info(0)).unwrap();
        assert_eq!((s0.memmap_paddr, s0.memmap_entries), (0, 0));
    }

    #[test]
    fn pvh_bad_magic_and_truncation() {
        let mut b = start_info(1);
        b[0] ^= 1;
        assert!(matches!(
            parse_pvh_start_info(&b),
            Err(BootInfoError::BadMagic(_))
        ));
        assert_eq!(
            parse_pvh_start_info(&start_info(1)[..30]),
            Err(BootInfoError::Truncated)
        );
    }

    #[test]
    fn pvh_memmap_entries() {
        let mut b = Vec::new();
        for (start, len, t) in [
            (0u64, 0x9fc00u64, 1u32),
            (0xf0000, 0x10000, 2),
            (0x100000, 0x7ff00000, 1),
        ] {
            b.extend_from_slice(&start.to_le_bytes());
            b.extend_from_slice(&len.to_le_bytes());
            b.extend_from_slice(&t.to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
        }
        let mut map = MemoryMap::new();
        parse_pvh_memmap(&b, 3, &mut map).unwrap();
        assert_eq!(map.regions().len(), 3);
        assert_eq!(map.regions()[1].kind, MemKind::Reserved);
        assert_eq!(map.usable_bytes(), 0x9fc00 + 0x7ff00000);
        let mut short = MemoryMap::new();
        assert_eq!(
            parse_pvh_memmap(&b, 4, &mut short),
            Err(BootInfoError::Truncated)
        );
    }

    #[test]
    fn memory_map_counts_overflow_and_drops_empty() {
        let mut map = MemoryMap::new();
        map.push(MemRegion {
            start: 0,
            len: 0,
            kind: MemKind::Usable,
        });
        for i in 0..(MAX_REGIONS as u64 + 3) {
            map.push(MemRegion {
                start: i << 12,
                len: 4096,
                kind: MemKind::Usable,
            });
        }
        assert_eq!(map.regions().len(), MAX_REGIONS);
        assert_eq!(map.overflowed(), 3);
    }

    fn rsdp_v1() -> [u8; 20] {
        let mut r = [0u8; 20];
        r[..8].copy_from_slice(b"RSD PTR ");
        r[9..15].copy_from_slice(b"BOCHS ");
        r[16..20].copy_from_slice(&0x7fe1_4a5cu32.to_le_bytes());
        let sum = r.iter().fold(0u8, |s, &x| s.wrapping_add(x));
        r[8] = 0u8.wrapping_sub(sum);
        r
    }

    #[test]
    fn rsdp_checksum_and_scan() {
        let r = rsdp_v1();
        assert!(rsdp_is_valid(&r));
        let mut bad = r;
        bad[12] ^= 0x40;
        assert!(!rsdp_is_valid(&bad));
        let mut area = alloc::vec![0u8; 4096];
        // A signature at an unaligned offset must not be found; the aligned one must.
        area[40..60].copy_from_slice(&r);
        area[0x120..0x134].copy_from_slice(&r);
        assert_eq!(find_rsdp(&area, 0xe0000), Some(0xe0120));
        assert_eq!(find_rsdp(&[0u8; 64], 0), None);
    }

    #[test]
    fn rsdp_v2_needs_extended_checksum() {
        let mut r = [0u8; 36];
        r[..20].copy_from_slice(&rsdp_v1());
        r[15] = 2;
        r[20..24].copy_from_slice(&36u32.to_le_bytes());
        // Fix the v1 checksum after changing the revision.
        r[8] = 0;
        let s1 = r[..20].iter().fold(0u8, |s, &x| s.wrapping_add(x));
        r[8] = 0u8.wrapping_sub(s1);
        // Make the extended checksum wrong on purpose, then right.
        let s2 = r.iter().fold(0u8, |s, &x| s.wrapping_add(x));
        r[32] = 1u8.wrapping_sub(s2);
        assert!(!rsdp_is_valid(&r));
        r[32] = r[32].wrapping_sub(1);
        assert!(rsdp_is_valid(&r));
        assert!(!rsdp_is_valid(&r[..30]));
    }
}
