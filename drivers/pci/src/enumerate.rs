//! Bus scan, [`PciFunction`] records, and COMMAND-register helpers.
//!
//! [`enumerate`] brute-forces every device of every bus in a range. This is the default on
//! purpose: on AMD EPYC each root complex has its own root bus (e.g. 0x00, 0x40, 0x80, 0xC0 on
//! Rome; ptdma-facts §1.2), and those root buses are *not* behind any PCI-PCI bridge reachable
//! from bus 0, so a recursive walk from bus 0 misses most PTDMA functions. The bus range comes
//! from ACPI MCFG (ECAM) or is 0..=255 (port I/O); 256 × 32 vendor-ID reads are cheap.
//! [`enumerate_recursive`] walks bridges' secondary bus numbers from given root buses, for
//! firmware-assigned topologies where the root buses are known (e.g. from ACPI `_BBN`).
//!
//! Multi-function devices are detected from bit 7 of function 0's header type; functions 1..=7 are
//! probed only then. A vendor ID of 0xFFFF means "no function here".

use crate::access::{offset, read32, write32};
use crate::bar::{read_bars, size_bars, BarInfo};
use alloc::vec::Vec;
use core::ops::RangeInclusive;
use pci_types::{ConfigRegionAccess, PciAddress};

/// Header layout (header type bits 6:0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderKind {
    /// Type 0: endpoint, 6 BARs.
    Endpoint,
    /// Type 1: PCI-PCI bridge, 2 BARs, secondary bus number.
    PciBridge,
    /// Type 2: CardBus bridge (BARs not decoded).
    CardBus,
    /// Any other value.
    Unknown(u8),
}

impl HeaderKind {
    /// Decodes header type bits 6:0.
    pub fn from_header_type(header_type: u8) -> Self {
        match header_type & 0x7F {
            0 => Self::Endpoint,
            1 => Self::PciBridge,
            2 => Self::CardBus,
            other => Self::Unknown(other),
        }
    }

    /// Number of BAR slots this header layout has.
    pub fn bar_count(self) -> usize {
        match self {
            Self::Endpoint => 6,
            Self::PciBridge => 2,
            _ => 0,
        }
    }
}

/// One present PCI function as found by the scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciFunction {
    /// Segment, bus, device, function.
    pub address: PciAddress,
    /// Vendor ID (never 0xFFFF).
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// Base class code.
    pub class: u8,
    /// Subclass code.
    pub subclass: u8,
    /// Programming interface.
    pub prog_if: u8,
    /// Revision ID.
    pub revision: u8,
    /// Raw header type byte (bit 7 = multi-function device).
    pub header_type: u8,
    /// Decoded and sized BARs; the upper slot of a 64-bit BAR is `None`.
    pub bars: [Option<BarInfo>; 6],
    /// For PCI-PCI bridges: the secondary bus number.
    pub secondary_bus: Option<u8>,
}

impl PciFunction {
    /// Header layout of this function.
    pub fn kind(&self) -> HeaderKind {
        HeaderKind::from_header_type(self.header_type)
    }

    /// The BAR with index `index`, if implemented.
    pub fn bar(&self, index: usize) -> Option<BarInfo> {
        self.bars.get(index).copied().flatten()
    }
}

/// Which functions have their BARs sized during a scan. Sizing writes all-ones into
/// the BARs with decode off: harmless in QEMU, but on a real server another agent (BMC,
/// firmware, SMM) may be using a device, so the kernel sizes only what it will drive.
#[derive(Clone, Copy, Debug)]
pub enum BarSizing<'a> {
    /// Size every function's BARs.
    All,
    /// Size only functions with these (vendor, device) IDs; the others' BARs are read
    /// without any write ([`crate::bar::read_bars`]: size 0).
    Only(&'a [(u16, u16)]),
    /// Size functions with these (vendor, device) IDs or these 24-bit class codes (base,
    /// sub-class, prog-if: a standard interface such as SDXI 0x120100 has no architected ID).
    OnlyIdsOrClasses(&'a [(u16, u16)], &'a [u32]),
}

impl BarSizing<'_> {
    fn sizes(&self, vendor: u16, device: u16, class_code: u32) -> bool {
        match self {
            BarSizing::All => true,
            BarSizing::Only(ids) => ids.contains(&(vendor, device)),
            BarSizing::OnlyIdsOrClasses(ids, classes) => {
                ids.contains(&(vendor, device)) || classes.contains(&class_code)
            }
        }
    }
}

/// Reads one function; `None` if absent. BARs are sized (decode is briefly disabled).
pub fn probe_function<A: ConfigRegionAccess + ?Sized>(
    access: &A,
    address: PciAddress,
) -> Option<PciFunction> {
    probe_function_with(access, address, BarSizing::All)
}

/// Reads one function; `None` if absent. BARs are sized if `sizing` selects it, else
/// only read.
pub fn probe_function_with<A: ConfigRegionAccess + ?Sized>(
    access: &A,
    address: PciAddress,
    sizing: BarSizing<'_>,
) -> Option<PciFunction> {
    let id = read32(access, address, offset::ID);
    let vendor = id as u16;
    if vendor == 0xFFFF {
        return None;
    }
    let class = read32(access, address, offset::CLASS);
    let header_type = (read32(access, address, offset::HEADER) >> 16) as u8;
    let kind = HeaderKind::from_header_type(header_type);
    let secondary_bus = (kind == HeaderKind::PciBridge)
        .then(|| (read32(access, address, offset::BRIDGE_BUSES) >> 8) as u8);
    let device = (id >> 16) as u16;
    let bars = if sizing.sizes(vendor, device, class >> 8) {
        size_bars(access, address, kind.bar_count())
    } else {
        read_bars(access, address, kind.bar_count())
    };
    Some(PciFunction {
        address,
        vendor,
        device,
        class: (class >> 24) as u8,
        subclass: (class >> 16) as u8,
        prog_if: (class >> 8) as u8,
        revision: class as u8,
        header_type,
        bars,
        secondary_bus,
    })
}

/// Appends every present function of one bus to `out`.
fn scan_bus<A: ConfigRegionAccess + ?Sized>(
    access: &A,
    segment: u16,
    bus: u8,
    sizing: BarSizing<'_>,
    out: &mut Vec<PciFunction>,
) {
    for device in 0..32 {
        let address = PciAddress::new(segment, bus, device, 0);
        let Some(f0) = probe_function_with(access, address, sizing) else {
            continue;
        };
        let multi = f0.header_type & 0x80 != 0;
        out.push(f0);
        if multi {
            for function in 1..8 {
                let address = PciAddress::new(segment, bus, device, function);
                if let Some(f) = probe_function_with(access, address, sizing) {
                    out.push(f);
                }
            }
        }
    }
}

/// Brute-force scan of `buses` in `segment`, in address order, sizing every BAR. See
/// the module docs for why.
pub fn enumerate<A: ConfigRegionAccess + ?Sized>(
    access: &A,
    segment: u16,
    buses: RangeInclusive<u8>,
) -> Vec<PciFunction> {
    enumerate_with(access, segment, buses, BarSizing::All)
}

/// [`enumerate`] with a choice of which functions get their BARs sized.
pub fn enumerate_with<A: ConfigRegionAccess + ?Sized>(
    access: &A,
    segment: u16,
    buses: RangeInclusive<u8>,
    sizing: BarSizing<'_>,
) -> Vec<PciFunction> {
    let mut out = Vec::new();
    for bus in buses {
        scan_bus(access, segment, bus, sizing, &mut out);
    }
    out
}

/// Recursive scan from `root_buses` through PCI-PCI bridges' secondary bus numbers.
///
/// Each bus is scanned at most once (a bridge pointing back at a scanned bus, or at bus 0, is
/// ignored), so a misprogrammed topology cannot loop. Result is sorted by address.
pub fn enumerate_recursive<A: ConfigRegionAccess + ?Sized>(
    access: &A,
    segment: u16,
    root_buses: &[u8],
) -> Vec<PciFunction> {
    let mut out = Vec::new();
    let mut seen = [false; 256];
    let mut pending: Vec<u8> = root_buses.to_vec();
    while let Some(bus) = pending.pop() {
        if core::mem::replace(&mut seen[usize::from(bus)], true) {
            continue;
        }
        let first = out.len();
        scan_bus(access, segment, bus, BarSizing::All, &mut out);
        for f in &out[first..] {
            match f.secondary_bus {
                Some(secondary) if secondary != 0 && !seen[usize::from(secondary)] => {
                    pending.push(secondary);
                }
                _ => {}
            }
        }
    }
    out.sort_by_key(|f| f.address);
    out
}

/// First function with the given vendor and device ID.
pub fn find(functions: &[PciFunction], vendor: u16, device: u16) -> Option<&PciFunction> {
    functions
        .iter()
        .find(|f| f.vendor == vendor && f.device == device)
}

/// What [`enable`] turns on in COMMAND.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Command {
    /// Bus master enable (bit 2): the function may issue DMA.
    pub bus_master: bool,
    /// Memory space enable (bit 1).
    pub memory: bool,
    /// I/O space enable (bit 0).
    pub io: bool,
}

/// Sets the requested COMMAND bits of `address` (never clears any); returns the new COMMAND value.
///
/// The status half of the dword is written as 0 so its write-1-to-clear bits are not disturbed.
pub fn enable<A: ConfigRegionAccess + ?Sized>(
    access: &A,
    address: PciAddress,
    command: Command,
) -> u16 {
    let old = read32(access, address, offset::COMMAND) & 0xFFFF;
    let new = old
        | u32::from(command.io)
        | (u32::from(command.memory) << 1)
        | (u32::from(command.bus_master) << 2);
    if new != old {
        write32(access, address, offset::COMMAND, new);
    }
    new as u16
}
