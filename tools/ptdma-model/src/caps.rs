//! PCI capability list of an emulated function: power management, PCI Express, MSI and
//! MSI-X, in that order, as lshw lists them on a Milan PTDMA function ("pm pciexpress msi
//! msix", ptdma-facts §1.2). Register layouts follow the PCI Local Bus 3.0 and PCI Express
//! Base specifications. The offsets inside config space (0x50, 0x64, 0xA0, 0xC0) and the
//! link speed/width are the model's choice: no source read shows a PTDMA config dump.
//!
//! QEMU's `x-pci-proxy-dev` forwards every config access here (qemu-proxy-protocol §4.1), so
//! the guest sees exactly these bytes. It cannot deliver MSI or MSI-X messages (§1): enabling
//! them works register-wise (bits stick, the MSI-X table is read/write), but no message is
//! ever sent. The proxy is a conventional PCI device (256-byte config space), so there are no
//! extended capabilities (AER, ACS) at 0x100 and above.

use crate::config_space::ConfigSpace;

/// Capabilities Pointer register.
const CAP_PTR: usize = 0x34;
/// Power-management capability (8 bytes).
pub const PM: usize = 0x50;
/// PCI Express capability, version 2 (0x3C bytes).
pub const PCIE: usize = 0x64;
/// MSI capability, 64-bit address, one vector (0x0E bytes).
pub const MSI: usize = 0xa0;
/// MSI-X capability (12 bytes).
pub const MSIX: usize = 0xc0;
/// PBA offset inside the MSI-X BAR (the table starts at 0).
pub const PBA_OFFSET: u32 = 0x1000;

/// Writes the capability list into `c` (called from its power-on reset).
pub(crate) fn build(c: &mut ConfigSpace) {
    let id = c.identity();
    // STATUS bit 4: capabilities list present.
    c.set_ro(0x06, &0x0010u16.to_le_bytes());
    c.set_ro(CAP_PTR, &[PM as u8]);

    // Power management: PMC version 3, no PME, D1/D2 unsupported; PMCSR power state (1:0)
    // writable, No_Soft_Reset (bit 3) set: D3hot → D0 keeps the function's state.
    c.set_ro(PM, &[0x01, PCIE as u8]);
    c.set_ro(PM + 2, &0x0003u16.to_le_bytes());
    c.set_ro(PM + 4, &0x0008u16.to_le_bytes());
    c.set_wmask(PM + 4, &0x0003u16.to_le_bytes());

    // PCI Express v2, endpoint. DevCap: 512 B max payload, extended tags, role-based errors.
    c.set_ro(PCIE, &[0x10, MSI as u8]);
    c.set_ro(PCIE + 0x02, &0x0002u16.to_le_bytes());
    c.set_ro(PCIE + 0x04, &0x0000_8022u32.to_le_bytes());
    // DevCtl: relaxed ordering, no snoop, 512 B max read request; all control bits writable.
    c.set_ro(PCIE + 0x08, &0x2810u16.to_le_bytes());
    c.set_wmask(PCIE + 0x08, &0x7fffu16.to_le_bytes());
    // DevSta: error-detected bits are write-1-to-clear.
    c.set_w1c(PCIE + 0x0a, &0x000fu16.to_le_bytes());
    // Link: 8 GT/s x16 capable and trained (model choice).
    c.set_ro(PCIE + 0x0c, &0x0000_0103u32.to_le_bytes());
    c.set_wmask(PCIE + 0x10, &0x01cbu16.to_le_bytes());
    c.set_ro(PCIE + 0x12, &0x0103u16.to_le_bytes());
    // DevCap2: completion-timeout disable supported; DevCtl2 timeout value/disable writable.
    c.set_ro(PCIE + 0x24, &0x0000_0010u32.to_le_bytes());
    c.set_wmask(PCIE + 0x28, &0x001fu16.to_le_bytes());
    // LinkCap2: 2.5, 5 and 8 GT/s; LinkCtl2 target speed 8 GT/s, writable.
    c.set_ro(PCIE + 0x2c, &0x0000_000eu32.to_le_bytes());
    c.set_ro(PCIE + 0x30, &0x0003u16.to_le_bytes());
    c.set_wmask(PCIE + 0x30, &0x000fu16.to_le_bytes());

    // MSI: 64-bit address, one vector requested (MMC 0); Enable and MME writable. A function
    // without MSI-X vectors ends the list here.
    let next = if id.msix_vectors > 0 { MSIX as u8 } else { 0 };
    c.set_ro(MSI, &[0x05, next]);
    c.set_ro(MSI + 2, &0x0080u16.to_le_bytes());
    c.set_wmask(MSI + 2, &0x0071u16.to_le_bytes());
    c.set_wmask(MSI + 4, &0xffff_fffcu32.to_le_bytes());
    c.set_wmask(MSI + 8, &u32::MAX.to_le_bytes());
    c.set_wmask(MSI + 12, &0xffffu16.to_le_bytes());

    // MSI-X: N vectors, table at offset 0 and PBA at PBA_OFFSET of the MSI-X BAR; Enable
    // (bit 15) and Function Mask (bit 14) writable.
    if id.msix_vectors == 0 {
        return;
    }
    let bir = id.msix_bar as u32;
    c.set_ro(MSIX, &[0x11, 0x00]);
    c.set_ro(MSIX + 2, &(id.msix_vectors - 1).to_le_bytes());
    c.set_wmask(MSIX + 2, &0xc000u16.to_le_bytes());
    c.set_ro(MSIX + 4, &bir.to_le_bytes());
    c.set_ro(MSIX + 8, &(PBA_OFFSET | bir).to_le_bytes());
}

/// Walks the capability list of `c`: (offset, capability ID) in list order. Stops at a loop
/// or a pointer outside 0x40..0xFF (host tests and diagnostics).
pub fn walk(c: &ConfigSpace) -> Vec<(u8, u8)> {
    let mut out = Vec::new();
    if c.read(0x06, 2) & 0x10 == 0 {
        return out;
    }
    let mut ptr = c.read(CAP_PTR as u32, 1) as u8 & !3;
    while ptr >= 0x40 && out.len() < 48 && !out.iter().any(|&(o, _)| o == ptr) {
        out.push((ptr, c.read(u32::from(ptr), 1) as u8));
        ptr = c.read(u32::from(ptr) + 1, 1) as u8 & !3;
    }
    out
}
