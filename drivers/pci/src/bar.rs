//! Base Address Register decoding and sizing (PCI Local Bus 3.0 §6.2.5.1).
//!
//! Sizing writes all-ones to a BAR, reads back the writable mask and restores the original value.
//! While that happens the function must not decode the half-written address, so
//! [`size_bars`] clears I/O and memory decode in COMMAND first and restores COMMAND afterwards.
//! 64-bit BARs take two slots; the upper slot is reported as `None`.
//!
//! Sizing writes the device's registers, so on a real machine it is done only for the
//! functions the kernel drives; [`read_bars`] decodes the others without any write (size
//! unknown, reported as 0).

use crate::access::{offset, read32, write32};
use pci_types::{ConfigRegionAccess, PciAddress};

/// What a BAR decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarKind {
    /// 32-bit memory BAR (also used for the legacy "below 1 MiB" type 01b).
    Mem32,
    /// 64-bit memory BAR (occupies this slot and the next).
    Mem64,
    /// I/O port BAR.
    Io,
}

/// One decoded and sized BAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarInfo {
    /// BAR index 0..=5 (for 64-bit BARs, the lower slot).
    pub index: u8,
    /// Memory 32/64-bit or I/O.
    pub kind: BarKind,
    /// Prefetchable memory (always false for I/O).
    pub prefetchable: bool,
    /// Base address (bus address for memory, port number for I/O).
    pub address: u64,
    /// Size in bytes (a power of two), or 0 when the BAR was only read, not sized
    /// (see [`read_bars`]).
    pub size: u64,
}

const IO_ENABLE: u32 = 1 << 0;
const MEM_ENABLE: u32 = 1 << 1;

/// Decodes and sizes the first `count` BARs (6 for endpoints, 2 for PCI-PCI bridges) of `address`.
///
/// Decode is disabled in COMMAND while sizing and COMMAND is restored afterwards (its status half
/// is written as 0, which leaves the write-1-to-clear status bits untouched). Every BAR register
/// written is restored to the value read before sizing. Unimplemented BARs (reading back 0) and
/// BARs of the reserved memory type 11b are `None`.
pub fn size_bars<A: ConfigRegionAccess + ?Sized>(
    access: &A,
    address: PciAddress,
    count: usize,
) -> [Option<BarInfo>; 6] {
    let mut bars = [None; 6];
    let command = read32(access, address, offset::COMMAND) & 0xFFFF;
    let decode = command & (IO_ENABLE | MEM_ENABLE);
    if decode != 0 {
        write32(access, address, offset::COMMAND, command & !decode);
    }
    let mut slot = 0;
    while slot < count.min(6) {
        let (bar, used) = size_one(access, address, slot, count.min(6));
        bars[slot] = bar;
        slot += used;
    }
    if decode != 0 {
        write32(access, address, offset::COMMAND, command);
    }
    bars
}

/// Sizes BAR `slot`; returns the BAR and how many slots it used (1 or 2).
fn size_one<A: ConfigRegionAccess + ?Sized>(
    access: &A,
    address: PciAddress,
    slot: usize,
    count: usize,
) -> (Option<BarInfo>, usize) {
    let reg = offset::BAR0 + 4 * slot as u16;
    let original = read32(access, address, reg);
    write32(access, address, reg, u32::MAX);
    let probe = read32(access, address, reg);
    write32(access, address, reg, original);
    let index = slot as u8;

    if original & 1 == 1 {
        // I/O BAR: bits 1:0 are type bits. Devices may hardwire the upper 16 bits to zero.
        let mut mask = probe & !0x3;
        if mask == 0 {
            return (None, 1);
        }
        if mask & 0xFFFF_0000 == 0 {
            mask |= 0xFFFF_0000;
        }
        let size = u64::from((!mask).wrapping_add(1));
        let bar = BarInfo {
            index,
            kind: BarKind::Io,
            prefetchable: false,
            address: u64::from(original & !0x3),
            size,
        };
        return (Some(bar), 1);
    }

    let prefetchable = original & (1 << 3) != 0;
    match (original >> 1) & 0x3 {
        0b00 | 0b01 => {
            let mask = probe & !0xF;
            if mask == 0 {
                return (None, 1);
            }
            let bar = BarInfo {
                index,
                kind: BarKind::Mem32,
                prefetchable,
                address: u64::from(original & !0xF),
                size: u64::from((!mask).wrapping_add(1)),
            };
            (Some(bar), 1)
        }
        0b10 if slot + 1 < count => {
            let reg_hi = reg + 4;
            let original_hi = read32(access, address, reg_hi);
            write32(access, address, reg_hi, u32::MAX);
            let probe_hi = read32(access, address, reg_hi);
            write32(access, address, reg_hi, original_hi);
            let mask = (u64::from(probe_hi) << 32) | u64::from(probe & !0xF);
            if mask == 0 {
                return (None, 2);
            }
            let bar = BarInfo {
                index,
                kind: BarKind::Mem64,
                prefetchable,
                address: (u64::from(original_hi) << 32) | u64::from(original & !0xF),
                size: (!mask).wrapping_add(1),
            };
            (Some(bar), 2)
        }
        // Reserved type 11b, or a 64-bit BAR in the last slot: not usable.
        _ => (None, 1),
    }
}

/// Decodes the first `count` BARs of `address` from their current values only: no
/// register is written, so the size is unknown (0). A BAR reading 0 (unimplemented, or
/// not assigned by firmware) is `None`.
pub fn read_bars<A: ConfigRegionAccess + ?Sized>(
    access: &A,
    address: PciAddress,
    count: usize,
) -> [Option<BarInfo>; 6] {
    let mut bars = [None; 6];
    let count = count.min(6);
    let mut slot = 0;
    while slot < count {
        let raw = read32(access, address, offset::BAR0 + 4 * slot as u16);
        let index = slot as u8;
        slot += 1;
        if raw == 0 {
            continue;
        }
        let (kind, address, prefetchable) = if raw & 1 == 1 {
            (BarKind::Io, u64::from(raw & !0x3), false)
        } else {
            let prefetchable = raw & (1 << 3) != 0;
            match (raw >> 1) & 0x3 {
                0b00 | 0b01 => (BarKind::Mem32, u64::from(raw & !0xF), prefetchable),
                0b10 if slot < count => {
                    let hi = read32(access, address, offset::BAR0 + 4 * slot as u16);
                    slot += 1;
                    let base = (u64::from(hi) << 32) | u64::from(raw & !0xF);
                    (BarKind::Mem64, base, prefetchable)
                }
                _ => continue,
            }
        };
        bars[usize::from(index)] = Some(BarInfo {
            index,
            kind,
            prefetchable,
            address,
            size: 0,
        });
    }
    bars
}
