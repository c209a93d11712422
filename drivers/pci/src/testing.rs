//! `FakeConfigSpace`: an in-memory configuration space for host tests.
//!
//! It models what enumeration and BAR sizing depend on: absent functions read all-ones, BAR
//! registers keep their read-only type bits and only the bits of their size mask are writable,
//! COMMAND is writable, and every write is logged. It also counts BAR writes made while the
//! function's matching decode bit (memory or I/O) was enabled, so tests can check that sizing
//! turned decode off.
#![allow(unsafe_code)] // only for implementing the `unsafe fn`s of `ConfigRegionAccess`

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use pci_types::{ConfigRegionAccess, PciAddress};

/// A BAR to place in the fake.
#[derive(Clone, Copy, Debug)]
pub enum FakeBar {
    /// 32-bit memory BAR at `address` of `size` bytes (power of two, ≥ 16).
    Mem32 {
        /// Base address.
        address: u32,
        /// Size in bytes.
        size: u32,
        /// Prefetchable bit.
        prefetchable: bool,
    },
    /// 64-bit memory BAR (uses two slots).
    Mem64 {
        /// Base address.
        address: u64,
        /// Size in bytes.
        size: u64,
        /// Prefetchable bit.
        prefetchable: bool,
    },
    /// I/O BAR with the upper 16 bits hardwired to 0.
    Io {
        /// Port.
        port: u16,
        /// Size in bytes (power of two, ≥ 4).
        size: u16,
    },
}

#[derive(Clone, Copy, Debug, Default)]
struct Reg {
    value: u32,
    /// Bits that writes may change.
    writable: u32,
    /// 1 = memory BAR, 2 = I/O BAR (for the decode-violation check).
    bar_space: u8,
}

/// One logged configuration write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigWrite {
    /// Function written.
    pub address: PciAddress,
    /// Register offset.
    pub offset: u16,
    /// Value written (before masking).
    pub value: u32,
}

/// In-memory configuration space. Register state is behind `RefCell` because the trait takes `&self`.
#[derive(Debug, Default)]
pub struct FakeConfigSpace {
    regs: RefCell<BTreeMap<(PciAddress, u16), Reg>>,
    log: RefCell<Vec<ConfigWrite>>,
    decode_violations: Cell<usize>,
}

impl FakeConfigSpace {
    /// Empty configuration space (every read returns all-ones).
    pub fn new() -> Self {
        Self::default()
    }

    fn set(&self, address: PciAddress, offset: u16, value: u32, writable: u32, bar_space: u8) {
        let reg = Reg {
            value,
            writable,
            bar_space,
        };
        self.regs.borrow_mut().insert((address, offset), reg);
    }

    /// Adds a function. `class` is `(class, subclass, prog_if, revision)`; `header_type` includes
    /// bit 7 for multi-function devices.
    pub fn add_function(
        &self,
        address: PciAddress,
        vendor: u16,
        device: u16,
        class: (u8, u8, u8, u8),
        header_type: u8,
    ) {
        let id = u32::from(vendor) | (u32::from(device) << 16);
        let (c, s, p, r) = class;
        let class = u32::from_be_bytes([c, s, p, r]);
        self.set(address, 0x00, id, 0, 0);
        self.set(address, 0x04, 0, 0x0000_07FF, 0);
        self.set(address, 0x08, class, 0, 0);
        self.set(address, 0x0C, u32::from(header_type) << 16, 0, 0);
        let bars = if header_type & 0x7F == 1 { 2 } else { 6 };
        for slot in 0..bars {
            self.set(address, 0x10 + 4 * slot, 0, 0, 0);
        }
    }

    /// Adds a PCI-PCI bridge (header type 1) whose secondary/subordinate bus is `secondary`.
    pub fn add_bridge(&self, address: PciAddress, vendor: u16, device: u16, secondary: u8) {
        self.add_function(address, vendor, device, (0x06, 0x04, 0, 0), 0x01);
        let buses =
            u32::from(address.bus()) | (u32::from(secondary) << 8) | (u32::from(secondary) << 16);
        self.set(address, 0x18, buses, 0x00FF_FFFF, 0);
    }

    /// Places `bar` in `slot` of an existing function.
    pub fn set_bar(&self, address: PciAddress, slot: u16, bar: FakeBar) {
        let off = 0x10 + 4 * slot;
        match bar {
            FakeBar::Mem32 {
                address: base,
                size,
                prefetchable,
            } => {
                let ro = u32::from(prefetchable) << 3;
                self.set(address, off, base | ro, !(size - 1) & !0xF, 1);
            }
            FakeBar::Mem64 {
                address: base,
                size,
                prefetchable,
            } => {
                let ro = (u32::from(prefetchable) << 3) | 0b100;
                let mask = !(size - 1);
                self.set(address, off, base as u32 | ro, mask as u32 & !0xF, 1);
                self.set(
                    address,
                    off + 4,
                    (base >> 32) as u32,
                    (mask >> 32) as u32,
                    1,
                );
            }
            FakeBar::Io { port, size } => {
                let mask = u32::from(!(size - 1)) & 0xFFFC;
                self.set(address, off, u32::from(port) | 1, mask, 2);
            }
        }
    }

    /// Current value of a register (all-ones if absent).
    pub fn peek(&self, address: PciAddress, offset: u16) -> u32 {
        self.regs
            .borrow()
            .get(&(address, offset))
            .map_or(u32::MAX, |r| r.value)
    }

    /// Every write so far, in order.
    pub fn writes(&self) -> Vec<ConfigWrite> {
        self.log.borrow().clone()
    }

    /// BAR writes made while the matching decode bit was on.
    pub fn decode_violations(&self) -> usize {
        self.decode_violations.get()
    }
}

impl ConfigRegionAccess for FakeConfigSpace {
    unsafe fn read(&self, address: PciAddress, offset: u16) -> u32 {
        self.peek(address, offset)
    }

    unsafe fn write(&self, address: PciAddress, offset: u16, value: u32) {
        self.log.borrow_mut().push(ConfigWrite {
            address,
            offset,
            value,
        });
        let command = self.peek(address, 0x04);
        let mut regs = self.regs.borrow_mut();
        if let Some(reg) = regs.get_mut(&(address, offset)) {
            let decoding = match reg.bar_space {
                1 => command & 0b10 != 0,
                2 => command & 0b01 != 0,
                _ => false,
            };
            if decoding {
                self.decode_violations.set(self.decode_violations.get() + 1);
            }
            reg.value = (reg.value & !reg.writable) | (value & reg.writable);
        }
    }
}
