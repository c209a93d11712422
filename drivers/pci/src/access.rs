//! Safe dword access to configuration space through [`ConfigRegionAccess`].
//!
//! `pci_types` declares `read`/`write` as `unsafe fn` ("address and offset must be valid for PCI
//! reads/writes"). This module is the one place in the crate that calls them. Every caller in this
//! crate passes a dword-aligned offset inside the 256-byte PCI-compatible header and an address
//! either being probed (a read of the vendor ID of an absent function returns all-ones, which is
//! the defined "no device" answer) or already found present.
#![allow(unsafe_code)]

use pci_types::{ConfigRegionAccess, PciAddress};

/// Reads the dword at `offset` (dword aligned, `< 0x1000`) of function `address`.
///
/// # Panics
/// If `offset` is not dword aligned or is outside the 4 KiB extended configuration space.
pub fn read32<A: ConfigRegionAccess + ?Sized>(access: &A, address: PciAddress, offset: u16) -> u32 {
    assert!(
        offset & 3 == 0 && offset < 0x1000,
        "bad config offset {offset:#x}"
    );
    // SAFETY: the offset is dword aligned and inside configuration space (checked above), and a
    // configuration read has no side effects on PCI-compatible header registers; reads of absent
    // functions are answered with all-ones by the host bridge.
    unsafe { access.read(address, offset) }
}

/// Writes the dword at `offset` (dword aligned, `< 0x1000`) of function `address`.
///
/// # Panics
/// If `offset` is not dword aligned or is outside the 4 KiB extended configuration space.
pub fn write32<A: ConfigRegionAccess + ?Sized>(
    access: &A,
    address: PciAddress,
    offset: u16,
    value: u32,
) {
    assert!(
        offset & 3 == 0 && offset < 0x1000,
        "bad config offset {offset:#x}"
    );
    // SAFETY: the offset is dword aligned and inside configuration space (checked above). The
    // callers in this crate only write COMMAND (with the W1C status half zero) and BAR registers of
    // functions they found present, and restore BARs after sizing.
    unsafe { access.write(address, offset, value) }
}

/// Configuration register offsets of the type 0/1 header used by this crate.
pub mod offset {
    /// Vendor ID (15:0), Device ID (31:16).
    pub const ID: u16 = 0x00;
    /// Command (15:0), Status (31:16, write-1-to-clear).
    pub const COMMAND: u16 = 0x04;
    /// Revision (7:0), Prog IF (15:8), Subclass (23:16), Class (31:24).
    pub const CLASS: u16 = 0x08;
    /// Cache line, latency timer, header type (23:16; bit 23 = multi-function), BIST.
    pub const HEADER: u16 = 0x0C;
    /// BAR 0; BAR n is at `BAR0 + 4 * n`.
    pub const BAR0: u16 = 0x10;
    /// Type 1 only: primary (7:0), secondary (15:8), subordinate (23:16) bus numbers.
    pub const BRIDGE_BUSES: u16 = 0x18;
}
