//! PCI enumeration and BAR handling for foliomove, on top of [`pci_types`].
//!
//! Design principles:
//! - All configuration-space access goes through [`pci_types::ConfigRegionAccess`]; the port-I/O
//!   (0xCF8/0xCFC) and ECAM implementations live in the kernel, next to their `unsafe`.
//! - The only `unsafe` in this crate is the call into that trait's `unsafe fn read/write`
//!   (module [`access`]) and the test fake's implementation of it; everything else is safe code
//!   and is tested on the host against `testing::FakeConfigSpace`.
//! - Enumeration is a brute-force scan of a bus range (see [`mod@enumerate`] for why), BAR sizing
//!   turns decode off while it writes all-ones and restores every register it touched.
//!
//! Modules: [`access`] (safe dword read/write wrapper), [`mod@enumerate`] (scan, [`PciFunction`],
//! `enable`), [`bar`] (BAR decoding and sizing), [`lspci`] (one-line summaries).
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]

extern crate alloc;

pub mod access;
pub mod bar;
pub mod enumerate;
pub mod lspci;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use bar::{BarInfo, BarKind};
pub use enumerate::{
    enable, enumerate, enumerate_recursive, enumerate_with, find, BarSizing, Command, HeaderKind,
    PciFunction,
};
pub use lspci::lspci_line;
pub use pci_types::{ConfigRegionAccess, PciAddress};

#[cfg(test)]
mod tests;
