//! Decoding one CPU's CPUID answers into raw topology ids.
//!
//! Order of preference: leaf 0x1F, then 0xB (x2APIC id and level shifts), then the legacy leaf 1
//! APIC id with 0x80000008 / leaf 4 widths. AMD leaves 0x8000001D/0x8000001E are used when the
//! vendor is AMD (or Hygon) and the max extended leaf reaches 0x8000001E; the TOPOEXT bit is
//! ignored because QEMU TCG masks it while still answering those leaves.

use super::{log2ceil, CpuidRegs, CpuidSource, L3Source};

/// CPU vendor from leaf 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    /// "AuthenticAMD".
    Amd,
    /// "HygonGenuine" (AMD-compatible topology leaves).
    Hygon,
    /// "GenuineIntel".
    Intel,
    /// Anything else.
    Other,
}

impl Vendor {
    fn amd_like(self) -> bool {
        matches!(self, Self::Amd | Self::Hygon)
    }
}

/// Which leaf gave the APIC id and level widths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelSource {
    /// Leaf 0x1F (V2 extended topology, knows dies).
    Leaf1F,
    /// Leaf 0xB (extended topology: SMT and core levels).
    LeafB,
    /// Leaf 1 APIC id with counts from leaf 1 / 0x80000008 / leaf 4.
    Legacy,
}

/// One CPU's raw topology ids, as CPUID reports them on that CPU. Raw ids are only meaningful
/// relative to other CPUs of the same machine; [`super::Topology::from_idents`] densifies them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuIdent {
    /// Vendor.
    pub vendor: Vendor,
    /// x2APIC id (leaf 0x1F/0xB EDX) or xAPIC id (leaf 1 `EBX[31:24]`).
    pub apic_id: u32,
    /// Raw package id.
    pub package: u32,
    /// Raw die id (the package's when no die is reported).
    pub die: u32,
    /// Raw L3 domain id (the package's when no cache leaf is usable).
    pub l3: u32,
    /// Raw core id (APIC id without the SMT bits).
    pub core: u32,
    /// Logical processors sharing the L3 as CPUID states it (0 when unknown).
    pub l3_sharing: u32,
    /// Where the L3 domain came from.
    pub l3_source: L3Source,
    /// Where the APIC id and level widths came from.
    pub levels: LevelSource,
}

/// Shifts that turn an APIC id into the id of an enclosing level.
struct Shifts {
    apic_id: u32,
    core: u32,
    die: Option<u32>,
    pkg: u32,
    source: LevelSource,
}

/// Decodes the CPU that `src` answers for (run on each CPU in turn).
pub fn decode(src: &impl CpuidSource) -> CpuIdent {
    let l0 = src.cpuid(0, 0);
    let (max_std, vendor) = (l0.eax, vendor_of(l0));
    let max_ext = match src.cpuid(0x8000_0000, 0).eax {
        e if e >= 0x8000_0000 => e,
        _ => 0,
    };
    let amd_ext = vendor.amd_like() && max_ext >= 0x8000_001E;
    let s = extended_levels(src, max_std).unwrap_or_else(|| legacy(src, vendor, max_std, max_ext));
    let apic = s.apic_id;
    let package = shr(apic, s.pkg);
    let die = match s.die {
        Some(d) => shr(apic, d),
        // 0x8000001E NodeId numbers dies machine-wide when a package has more than one.
        None if amd_ext => {
            let ecx = src.cpuid(0x8000_001E, 0).ecx;
            if (ecx >> 8) & 7 > 0 {
                ecx & 0xff
            } else {
                package
            }
        }
        None => package,
    };
    let (l3_sharing, l3_source) = l3_sharing(src, vendor, max_std, amd_ext);
    let l3 = match l3_source {
        // An L3 never spans packages; clamping guards against a nonsense sharing count.
        L3Source::Amd8000001D | L3Source::IntelLeaf4 => shr(apic, log2ceil(l3_sharing).min(s.pkg)),
        _ => package,
    };
    CpuIdent {
        vendor,
        apic_id: apic,
        package,
        die,
        l3,
        core: shr(apic, s.core),
        l3_sharing,
        l3_source,
        levels: s.source,
    }
}

fn vendor_of(l0: CpuidRegs) -> Vendor {
    match (l0.ebx, l0.edx, l0.ecx) {
        (0x6874_7541, 0x6974_6e65, 0x444d_4163) => Vendor::Amd, // "Auth" "enti" "cAMD"
        (0x6f67_7948, 0x6e65_476e, 0x656e_6975) => Vendor::Hygon, // "Hygo" "nGen" "uine"
        (0x756e_6547, 0x4965_6e69, 0x6c65_746e) => Vendor::Intel, // "Genu" "ineI" "ntel"
        _ => Vendor::Other,
    }
}

/// Right shift that tolerates shifts of 32 or more (a one-package machine may report them).
fn shr(x: u32, s: u32) -> u32 {
    x.checked_shr(s).unwrap_or(0)
}

/// Level shifts from leaf 0x1F (preferred, knows dies) or 0xB.
fn extended_levels(src: &impl CpuidSource, max_std: u32) -> Option<Shifts> {
    for (leaf, source) in [(0x1F, LevelSource::Leaf1F), (0xB, LevelSource::LeafB)] {
        if max_std < leaf {
            continue;
        }
        let r0 = src.cpuid(leaf, 0);
        // EBX[15:0] = 0 at subleaf 0 means the leaf is not implemented.
        if r0.ebx & 0xffff == 0 {
            continue;
        }
        let (mut core, mut pkg, mut die, mut below) = (0, 0, None, 0);
        for sub in 0..8 {
            let r = src.cpuid(leaf, sub);
            let (ty, shift) = ((r.ecx >> 8) & 0xff, r.eax & 0x1f);
            match ty {
                0 => break,
                1 => core = shift,
                5 => die = Some(below),
                _ => {}
            }
            below = shift;
            pkg = shift;
        }
        return Some(Shifts {
            apic_id: r0.edx,
            core,
            die,
            pkg,
            source,
        });
    }
    None
}

/// Widths without leaf 0xB: leaf 1 counts, AMD 0x80000008 ApicIdSize (which, unlike the leaf 1
/// count, covers the die bits under QEMU), threads per core from 0x8000001E or leaf 4.
fn legacy(src: &impl CpuidSource, vendor: Vendor, max_std: u32, max_ext: u32) -> Shifts {
    let l1 = if max_std >= 1 {
        src.cpuid(1, 0)
    } else {
        CpuidRegs::default()
    };
    let htt = l1.edx & (1 << 28) != 0;
    let count = if htt { (l1.ebx >> 16) & 0xff } else { 1 };
    let mut pkg = log2ceil(count);
    if vendor.amd_like() && max_ext >= 0x8000_0008 {
        let size = (src.cpuid(0x8000_0008, 0).ecx >> 12) & 0xf;
        if size > 0 {
            pkg = size;
        }
    }
    let threads = if vendor.amd_like() && max_ext >= 0x8000_001E {
        ((src.cpuid(0x8000_001E, 0).ebx >> 8) & 0xff) + 1
    } else if vendor == Vendor::Intel && max_std >= 4 {
        let cores = (src.cpuid(4, 0).eax >> 26) + 1;
        (count / cores).max(1)
    } else {
        1
    };
    Shifts {
        apic_id: l1.ebx >> 24,
        core: log2ceil(threads).min(pkg),
        die: None,
        pkg,
        source: LevelSource::Legacy,
    }
}

/// L3 sharing count from the vendor's deterministic cache leaf.
fn l3_sharing(src: &impl CpuidSource, v: Vendor, max_std: u32, amd_ext: bool) -> (u32, L3Source) {
    let (leaf, source) = if amd_ext {
        (0x8000_001D, L3Source::Amd8000001D)
    } else if v == Vendor::Intel && max_std >= 4 {
        (4, L3Source::IntelLeaf4)
    } else {
        return (0, L3Source::Unknown);
    };
    // Walk the cache list rather than trusting subleaf 3 to be the L3.
    for sub in 0..8 {
        let eax = src.cpuid(leaf, sub).eax;
        if eax & 0x1f == 0 {
            break;
        }
        if (eax >> 5) & 7 == 3 {
            return (((eax >> 14) & 0xfff) + 1, source);
        }
    }
    (0, L3Source::Unknown)
}
