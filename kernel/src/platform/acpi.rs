//! Reads the ACPI tables with the `acpi` crate (5.x: the last line that builds on
//! stable Rust; 6.x needs `#![feature(allocator_api)]`). The crate finds and checksums
//! every table and decodes MADT, MCFG, HPET, FADT and SPCR; SRAT and SLIT, which 5.x
//! does not decode, are handed as bytes to `kcore::acpi`.
//!
//! Runs while the boot identity map covers the first 4 GiB, where firmware puts the
//! tables on PCs; a table above that is reported as an error, not read.

use super::{EcamWindow, Hpet, IoApic, MadtCpu, Platform};
use crate::arch;
use acpi::madt::{Madt, MadtEntry};
use acpi::mcfg::Mcfg;
use acpi::sdt::{SdtHeader, Signature};
use acpi::{AcpiHandler, AcpiTable, AcpiTables, PhysicalMapping};
use alloc::vec::Vec;
use core::ptr::NonNull;
use kcore::bootinfo::MemoryMap;
use kcore::numa::NumaLayout;

/// Maps ACPI tables through the identity map (virtual = physical).
#[derive(Clone, Copy, Debug)]
struct IdentityHandler;

impl AcpiHandler for IdentityHandler {
    unsafe fn map_physical_region<T>(&self, phys: usize, size: usize) -> PhysicalMapping<Self, T> {
        assert!(
            (phys as u64).saturating_add(size as u64) <= arch::BOOT_IDENTITY_LIMIT,
            "ACPI table at {phys:#x} lies above the identity-mapped 4 GiB"
        );
        let ptr = NonNull::new(phys as *mut T).expect("ACPI never maps physical address 0");
        // SAFETY: the region is identity mapped (checked) and the crate only reads
        // firmware tables through it.
        unsafe { PhysicalMapping::new(phys, ptr, size, size, *self) }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}

/// A table this crate version does not decode: only its header is typed; the body is
/// read as bytes by `kcore::acpi`.
#[repr(C, packed)]
struct RawTable<const SIG: u32> {
    header: SdtHeader,
}

// SAFETY: the struct is exactly the standard header, valid for any table, and the
// signature is checked by the crate against SIGNATURE.
unsafe impl AcpiTable for RawTable<{ u32::from_le_bytes(*b"SRAT") }> {
    const SIGNATURE: Signature = Signature::SRAT;
    fn header(&self) -> &SdtHeader {
        &self.header
    }
}

// SAFETY: as above.
unsafe impl AcpiTable for RawTable<{ u32::from_le_bytes(*b"SLIT") }> {
    const SIGNATURE: Signature = Signature::SLIT;
    fn header(&self) -> &SdtHeader {
        &self.header
    }
}

/// The whole table, header included, as bytes.
fn raw_bytes<T: AcpiTable>(tables: &AcpiTables<IdentityHandler>) -> Option<&'static [u8]> {
    let mapping = tables.find_table::<T>().ok()?;
    let len = mapping.get().header().length as usize;
    let phys = mapping.physical_start() as u64;
    // SAFETY: the crate validated the table (signature, checksum over `length`) at
    // this identity-mapped address; firmware tables are never written.
    Some(unsafe { arch::phys_slice(phys, len) })
}

/// Why the platform could not be discovered.
#[derive(Debug)]
pub enum PlatformError {
    /// The RSDP does not lead to readable tables.
    Tables {
        /// The RSDP's physical address.
        rsdp: u64,
        /// What the `acpi` crate said.
        error: acpi::AcpiError,
    },
    /// No MADT, or one the crate cannot read: the CPUs cannot be found.
    Madt(acpi::AcpiError),
    /// The MADT lists no enabled CPU.
    NoCpus,
    /// The SRAT is malformed.
    Srat(kcore::acpi::TableError),
    /// The SLIT is malformed.
    Slit(kcore::acpi::TableError),
}

impl core::fmt::Display for PlatformError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PlatformError::Tables { rsdp, error } => {
                write!(f, "ACPI tables unreadable from RSDP {rsdp:#x}: {error:?}")
            }
            PlatformError::Madt(e) => write!(f, "no usable MADT ({e:?}): cannot find the CPUs"),
            PlatformError::NoCpus => write!(f, "MADT lists no enabled CPU"),
            PlatformError::Srat(e) => write!(f, "SRAT: {e}"),
            PlatformError::Slit(e) => write!(f, "SLIT: {e}"),
        }
    }
}

/// Discovers the platform from the RSDP.
///
/// # Errors
/// A [`PlatformError`] for unreadable tables, a missing or empty MADT, or a malformed
/// SRAT/SLIT (ACPI 6.5 §5.2.12, §5.2.16, §5.2.17).
pub fn discover(rsdp: u64, memory: &MemoryMap) -> Result<Platform, PlatformError> {
    // SAFETY: `rsdp` came from the loader or the BIOS scan and its checksum was checked
    // by `bootinfo`; the handler maps tables through the identity map.
    let tables = unsafe { AcpiTables::from_rsdp(IdentityHandler, rsdp as usize) }
        .map_err(|error| PlatformError::Tables { rsdp, error })?;
    let sigs: Vec<[u8; 4]> = tables.headers().map(|h| sig_bytes(h.signature)).collect();

    let (cpus, lapic_base, ioapics) = read_madt(&tables)?;
    let srat = match raw_bytes::<RawTable<{ u32::from_le_bytes(*b"SRAT") }>>(&tables) {
        Some(b) => Some(kcore::acpi::parse_srat(b).map_err(PlatformError::Srat)?),
        None => None,
    };
    let slit = match raw_bytes::<RawTable<{ u32::from_le_bytes(*b"SLIT") }>>(&tables) {
        Some(b) => Some(kcore::acpi::parse_slit(b).map_err(PlatformError::Slit)?),
        None => None,
    };
    let apic_ids: Vec<u32> = cpus.iter().map(|c| c.apic_id).collect();
    let numa = NumaLayout::build(memory, &apic_ids, srat.as_ref(), slit.as_ref());

    let ecam = match tables.find_table::<Mcfg>() {
        Ok(m) => m
            .get()
            .entries()
            .iter()
            .map(|e| EcamWindow {
                base: e.base_address,
                segment: e.pci_segment_group,
                bus_start: e.bus_number_start,
                bus_end: e.bus_number_end,
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    let hpet = acpi::HpetInfo::new(&tables).ok().map(|h| Hpet {
        base: h.base_address as u64,
    });
    let fadt_revision = tables
        .find_table::<acpi::fadt::Fadt>()
        .ok()
        .map(|f| f.get().header().revision);
    let spcr_port = tables.find_table::<acpi::spcr::Spcr>().ok().and_then(|s| {
        let addr = s.get().base_address()?.ok()?;
        // Address space 1 = system I/O.
        (addr.address_space == acpi::address::AddressSpace::SystemIo).then_some(addr.address as u16)
    });
    Ok(Platform {
        tables: sigs,
        cpus,
        lapic_base,
        ioapics,
        numa,
        ecam,
        hpet,
        spcr_port,
        fadt_revision,
    })
}

type MadtInfo = (Vec<MadtCpu>, u64, Vec<IoApic>);

fn read_madt(tables: &AcpiTables<IdentityHandler>) -> Result<MadtInfo, PlatformError> {
    let madt = tables.find_table::<Madt>().map_err(PlatformError::Madt)?;
    let mut lapic_base = madt.get().local_apic_address as u64;
    let (mut cpus, mut ioapics) = (Vec::new(), Vec::new());
    for entry in madt.get().entries() {
        match entry {
            MadtEntry::LocalApic(e) if e.flags & 1 != 0 => cpus.push(MadtCpu {
                apic_id: u32::from(e.apic_id),
                uid: u32::from(e.processor_id),
                x2apic: false,
            }),
            MadtEntry::LocalX2Apic(e) if e.flags & 1 != 0 => {
                let (apic_id, uid) = (e.x2apic_id, e.processor_uid);
                if !cpus.iter().any(|c: &MadtCpu| c.apic_id == apic_id) {
                    cpus.push(MadtCpu {
                        apic_id,
                        uid,
                        x2apic: true,
                    });
                }
            }
            MadtEntry::IoApic(e) => ioapics.push(IoApic {
                id: e.io_apic_id,
                address: u64::from(e.io_apic_address),
                gsi_base: e.global_system_interrupt_base,
            }),
            MadtEntry::LocalApicAddressOverride(e) => lapic_base = e.local_apic_address,
            _ => {}
        }
    }
    if cpus.is_empty() {
        return Err(PlatformError::NoCpus);
    }
    Ok((cpus, lapic_base, ioapics))
}

/// The four signature bytes. `Signature::as_str` panics on non-UTF-8 firmware junk and
/// the field is private, so take the bytes of the value itself.
fn sig_bytes(sig: Signature) -> [u8; 4] {
    // SAFETY: `Signature` is `#[repr(transparent)]` over `[u8; 4]` (acpi 5.2 sdt.rs).
    unsafe { core::mem::transmute::<Signature, [u8; 4]>(sig) }
}
