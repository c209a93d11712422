//! Self-tests of PCI configuration access.

use super::{check, check_eq, Test};
use crate::pcicfg;
use ::pci::PciAddress;
use alloc::string::String;

pub static TESTS: &[Test] = &[Test {
    name: "pci_ecam_agrees_with_port_io",
    in_default_suite: true,
    run: ecam_agrees_with_port_io,
}];

/// Every function the scan found reads the same ID/class dwords through the legacy
/// ports as through the access the scan used (ECAM on q35), and an absent device
/// reads as all-ones both ways.
fn ecam_agrees_with_port_io() -> Result<(), String> {
    let ports = pcicfg::PortIo::new();
    let functions = pcicfg::functions();
    check(!functions.is_empty(), || {
        "the scan found no PCI function".into()
    })?;
    for f in functions.iter().filter(|f| f.address.segment() == 0) {
        for off in [0x00u16, 0x08, 0x2c] {
            let a = ::pci::access::read32(pcicfg::access(), f.address, off);
            let b = ::pci::access::read32(&ports, f.address, off);
            check_eq(&alloc::format!("{:?} offset {off:#x}", f.address), a, b)?;
        }
    }
    let absent = PciAddress::new(0, 0, 31, 7);
    if functions.iter().all(|f| f.address != absent) {
        check_eq(
            "absent via ports",
            ::pci::access::read32(&ports, absent, 0),
            u32::MAX,
        )?;
        check_eq(
            "absent via scan access",
            ::pci::access::read32(pcicfg::access(), absent, 0),
            u32::MAX,
        )?;
    }
    Ok(())
}
