//! PCI configuration access for the `pci` driver crate: ECAM windows from MCFG (mapped
//! uncached), or the legacy 0xCF8/0xCFC ports when there is no MCFG. The scan result is
//! kept for the drivers and printed like `lspci`.

use crate::arch::{cpu, mmio::Mmio};
use crate::mm::paging;
use crate::platform::{EcamWindow, Platform};
use crate::println;
use alloc::vec::Vec;
use pci::{BarSizing, ConfigRegionAccess, PciAddress, PciFunction};
use spin::{Mutex, Once};

/// Legacy configuration mechanism #1 (ports 0xCF8 address, 0xCFC data). The two
/// accesses must not interleave between CPUs, hence the lock.
pub struct PortIo {
    lock: Mutex<()>,
}

impl PortIo {
    /// The legacy mechanism (present on every PC chipset).
    pub fn new() -> Self {
        Self {
            lock: Mutex::new(()),
        }
    }
}

impl Default for PortIo {
    fn default() -> Self {
        Self::new()
    }
}

impl ConfigRegionAccess for PortIo {
    unsafe fn read(&self, address: PciAddress, offset: u16) -> u32 {
        let _g = self.lock.lock();
        // SAFETY: mechanism #1 on a PC; the offset is dword aligned below 256 (caller).
        unsafe {
            cpu::outl(0xcf8, port_address(address, offset));
            cpu::inl(0xcfc)
        }
    }

    unsafe fn write(&self, address: PciAddress, offset: u16, value: u32) {
        let _g = self.lock.lock();
        // SAFETY: as for read; the caller vouches for the register written.
        unsafe {
            cpu::outl(0xcf8, port_address(address, offset));
            cpu::outl(0xcfc, value);
        }
    }
}

fn port_address(a: PciAddress, offset: u16) -> u32 {
    0x8000_0000
        | (u32::from(a.bus()) << 16)
        | (u32::from(a.device()) << 11)
        | (u32::from(a.function()) << 8)
        | u32::from(offset & 0xfc)
}

/// Enhanced configuration access through the MCFG windows.
pub struct Ecam {
    windows: Vec<(EcamWindow, Mmio)>,
}

impl Ecam {
    fn window(&self, a: PciAddress) -> Option<&(EcamWindow, Mmio)> {
        self.windows
            .iter()
            .find(|(w, _)| w.segment == a.segment() && (w.bus_start..=w.bus_end).contains(&a.bus()))
    }

    fn offset(w: &EcamWindow, a: PciAddress, offset: u16) -> u64 {
        (u64::from(a.bus() - w.bus_start) << 20)
            | (u64::from(a.device()) << 15)
            | (u64::from(a.function()) << 12)
            | u64::from(offset & 0xffc)
    }
}

impl ConfigRegionAccess for Ecam {
    unsafe fn read(&self, address: PciAddress, offset: u16) -> u32 {
        match self.window(address) {
            Some((w, m)) => m.read32(Self::offset(w, address, offset)),
            None => u32::MAX, // no such bus: reads as an absent device
        }
    }

    unsafe fn write(&self, address: PciAddress, offset: u16, value: u32) {
        if let Some((w, m)) = self.window(address) {
            m.write32(Self::offset(w, address, offset), value);
        }
    }
}

/// The configuration access in use.
pub enum Access {
    /// ECAM.
    Ecam(Ecam),
    /// Ports.
    PortIo(PortIo),
}

impl Access {
    /// The access as the driver crates take it.
    pub fn get(&self) -> &dyn ConfigRegionAccess {
        match self {
            Access::Ecam(e) => e,
            Access::PortIo(p) => p,
        }
    }
}

static ACCESS: Once<Access> = Once::new();
static FUNCTIONS: Once<Vec<PciFunction>> = Once::new();

/// Configuration access (after [`scan`]).
pub fn access() -> &'static dyn ConfigRegionAccess {
    ACCESS.get().expect("pci::scan ran in kmain").get()
}

/// Functions found by [`scan`].
pub fn functions() -> &'static [PciFunction] {
    FUNCTIONS.get().map_or(&[], |f| f.as_slice())
}

fn build_access(p: &Platform) -> Result<Access, crate::mm::MmError> {
    if p.ecam.is_empty() {
        return Ok(Access::PortIo(PortIo::new()));
    }
    let mut windows = Vec::new();
    for w in &p.ecam {
        let start = w.base + (u64::from(w.bus_start) << 20);
        let len = (u64::from(w.bus_end - w.bus_start) + 1) << 20;
        paging::map_mmio(start, len)?;
        // SAFETY: MCFG names this range as the segment's ECAM window, now mapped uncached.
        windows.push((*w, unsafe { Mmio::new(start, len) }));
    }
    Ok(Access::Ecam(Ecam { windows }))
}

/// (vendor, device) of the functions the kernel drives: AMD PTDMA and AE4DMA; SDXI
/// functions are found by class code ([`ptdma::sdxi::CLASS_CODE`]).
const DRIVEN: [(u16, u16); 2] = [
    (ptdma::AMD_VENDOR_ID, ptdma::PTDMA_DEVICE_ID),
    (ptdma::AMD_VENDOR_ID, ptdma::AE4DMA_DEVICE_ID),
];

/// Enumerates every bus of every segment and prints the listing (BAR sizes only for
/// the functions in [`DRIVEN`]). An ECAM window that cannot be mapped falls back to port
/// I/O (said on the console), so the scan itself cannot fail.
pub fn scan(p: &Platform) -> &'static [PciFunction] {
    let access = ACCESS.call_once(|| match build_access(p) {
        Ok(a) => a,
        Err(e) => {
            println!("pci: ECAM unusable ({e}); falling back to port I/O");
            Access::PortIo(PortIo::new())
        }
    });
    // Only the DMA engines the kernel drives get their BARs sized (a write); every other
    // function is only read, so devices in use by firmware or a BMC are left alone.
    let sizing = BarSizing::OnlyIdsOrClasses(&DRIVEN, &[ptdma::sdxi::CLASS_CODE]);
    let mut found = Vec::new();
    match access {
        Access::Ecam(e) => {
            for (w, _) in &e.windows {
                let buses = w.bus_start..=w.bus_end;
                found.extend(pci::enumerate_with(e, w.segment, buses, sizing));
            }
        }
        Access::PortIo(io) => found.extend(pci::enumerate_with(io, 0, 0..=255, sizing)),
    }
    let kind = if matches!(access, Access::Ecam(_)) {
        "ECAM"
    } else {
        "port I/O"
    };
    println!("pci: {} function(s) via {kind}", found.len());
    for f in &found {
        println!("  {}", pci::lspci_line(f));
    }
    FUNCTIONS.call_once(|| found)
}
