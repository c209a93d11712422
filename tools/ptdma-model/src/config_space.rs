//! PCI type-0 configuration space (256 bytes) of one emulated function.
//!
//! Follows `qemu-proxy-protocol.md` §4 (the remote's config space is what the guest sees; QEMU
//! sizes BARs 0x10..0x28 by write ~0 / read back; only 32-bit non-prefetchable memory BARs work)
//! and `ptdma-facts.md` §1.1 (IDs, class 0x1080). Standard semantics: per-byte write masks,
//! write-1-to-clear STATUS bits, BAR address bits = `!(size - 1)`, read-only type bits.

/// COMMAND register bits.
pub const CMD_IO: u16 = 1 << 0;
pub const CMD_MEM: u16 = 1 << 1;
pub const CMD_MASTER: u16 = 1 << 2;
pub const CMD_INTX_DISABLE: u16 = 1 << 10;
const CMD_WRITABLE: u16 = CMD_IO | CMD_MEM | CMD_MASTER | (1 << 6) | (1 << 8) | CMD_INTX_DISABLE;
/// STATUS bits that are write-1-to-clear (parity, signalled/received aborts, SERR).
const STATUS_W1C: u16 = 0xf900;

/// Identity and BAR layout of a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    pub vendor: u16,
    pub device: u16,
    pub class: u8,
    pub subclass: u8,
    pub prog_if: u8,
    pub revision: u8,
    pub subsys_vendor: u16,
    pub subsys_id: u16,
    /// BAR index 0..=5 of the register window (PTDMA: 2, AE4DMA: 0).
    pub bar: usize,
    /// BAR size in bytes (power of two, >= 16).
    pub bar_size: u32,
    /// MSI-X vectors (table entries); the table and PBA live in their own BAR.
    pub msix_vectors: u16,
    /// BAR index of the MSI-X table and PBA (must differ from `bar`; unused without MSI-X).
    pub msix_bar: usize,
    /// BAR index of a second memory window (SDXI doorbells, BAR2), unused when its size is 0.
    pub doorbell_bar: usize,
    /// Size of that window in bytes (power of two, >= 16), or 0 for none.
    pub doorbell_bar_size: u32,
    /// Interrupt Pin register (1 = INTA, 0 = no INTx).
    pub intx_pin: u8,
}

/// Size of the MSI-X BAR: table at offset 0, PBA at [`crate::caps::PBA_OFFSET`] (8 KiB, the
/// size of the second memory window lshw shows on a Milan PTDMA function, ptdma-facts §1.2).
pub const MSIX_BAR_SIZE: u32 = 8 << 10;

/// The config space bytes plus write masks.
pub struct ConfigSpace {
    id: Identity,
    bytes: [u8; 256],
    wmask: [u8; 256],
    w1c: [u8; 256],
}

impl ConfigSpace {
    pub fn new(id: Identity) -> ConfigSpace {
        let mut c = ConfigSpace {
            id,
            bytes: [0; 256],
            wmask: [0; 256],
            w1c: [0; 256],
        };
        c.reset();
        c
    }

    pub fn identity(&self) -> Identity {
        self.id
    }

    /// Power-on state: IDs, class, interrupt pin A, BAR unassigned, COMMAND = 0.
    pub fn reset(&mut self) {
        let id = self.id;
        self.bytes = [0; 256];
        self.wmask = [0; 256];
        self.w1c = [0; 256];
        self.put16(0x00, id.vendor);
        self.put16(0x02, id.device);
        self.bytes[0x08] = id.revision;
        self.bytes[0x09] = id.prog_if;
        self.bytes[0x0a] = id.subclass;
        self.bytes[0x0b] = id.class;
        self.put16(0x2c, id.subsys_vendor);
        self.put16(0x2e, id.subsys_id);
        self.bytes[0x3d] = id.intx_pin;
        self.wmask[0x04..0x06].copy_from_slice(&CMD_WRITABLE.to_le_bytes());
        self.w1c[0x06..0x08].copy_from_slice(&STATUS_W1C.to_le_bytes());
        self.wmask[0x0c] = 0xff; // cache line size
        self.wmask[0x0d] = 0xff; // latency timer
        self.wmask[0x3c] = 0xff; // interrupt line
        let bar_off = 0x10 + 4 * id.bar;
        let addr_mask = !(id.bar_size.max(16) - 1);
        // Type bits (0: memory, 32-bit, non-prefetchable) stay read-only zero.
        self.wmask[bar_off..bar_off + 4].copy_from_slice(&addr_mask.to_le_bytes());
        if id.msix_vectors > 0 {
            let msix_off = 0x10 + 4 * id.msix_bar;
            let msix_mask = !(MSIX_BAR_SIZE - 1);
            self.wmask[msix_off..msix_off + 4].copy_from_slice(&msix_mask.to_le_bytes());
        }
        if id.doorbell_bar_size > 0 {
            let db_off = 0x10 + 4 * id.doorbell_bar;
            let db_mask = !(id.doorbell_bar_size.max(16) - 1);
            self.wmask[db_off..db_off + 4].copy_from_slice(&db_mask.to_le_bytes());
        }
        crate::caps::build(self);
    }

    /// Sets read-only bytes at `off` (capability builder).
    pub(crate) fn set_ro(&mut self, off: usize, bytes: &[u8]) {
        self.bytes[off..off + bytes.len()].copy_from_slice(bytes);
    }

    /// Marks bits of the 16/32-bit register at `off` as writable (`mask`, little-endian).
    pub(crate) fn set_wmask(&mut self, off: usize, mask: &[u8]) {
        self.wmask[off..off + mask.len()].copy_from_slice(mask);
    }

    /// Marks bits of the register at `off` as write-1-to-clear.
    pub(crate) fn set_w1c(&mut self, off: usize, mask: &[u8]) {
        self.w1c[off..off + mask.len()].copy_from_slice(mask);
    }

    fn put16(&mut self, off: usize, v: u16) {
        self.bytes[off..off + 2].copy_from_slice(&v.to_le_bytes());
    }

    fn get16(&self, off: usize) -> u16 {
        u16::from_le_bytes([self.bytes[off], self.bytes[off + 1]])
    }

    /// Reads `len` (1, 2 or 4) bytes. Out-of-range or odd lengths read as all-ones.
    pub fn read(&self, addr: u32, len: u32) -> u32 {
        let (a, l) = (addr as usize, len as usize);
        if !matches!(l, 1 | 2 | 4) || a + l > 256 {
            return u32::MAX;
        }
        let mut b = [0u8; 4];
        b[..l].copy_from_slice(&self.bytes[a..a + l]);
        u32::from_le_bytes(b)
    }

    /// Writes `len` (1, 2 or 4) bytes through the masks. Returns false if the access was invalid.
    pub fn write(&mut self, addr: u32, val: u32, len: u32) -> bool {
        let (a, l) = (addr as usize, len as usize);
        if !matches!(l, 1 | 2 | 4) || a + l > 256 {
            return false;
        }
        for (i, v) in val.to_le_bytes().iter().take(l).enumerate() {
            let o = a + i;
            let m = self.wmask[o];
            self.bytes[o] = (self.bytes[o] & !m) | (v & m);
            self.bytes[o] &= !(v & self.w1c[o]);
        }
        true
    }

    pub fn command(&self) -> u16 {
        self.get16(0x04)
    }

    pub fn mem_enabled(&self) -> bool {
        self.command() & CMD_MEM != 0
    }

    pub fn master_enabled(&self) -> bool {
        self.command() & CMD_MASTER != 0
    }

    /// Current base address of BAR `index` (0 = unassigned).
    fn base_of(&self, index: usize) -> u64 {
        let off = 0x10 + 4 * index;
        u64::from(self.read(off as u32, 4) & !0xf)
    }

    /// Current register BAR base address (0 = unassigned).
    pub fn bar_base(&self) -> u64 {
        self.base_of(self.id.bar)
    }

    fn offset_in(&self, index: usize, size_of_bar: u32, gpa: u64, size: u32) -> Option<u64> {
        let base = self.base_of(index);
        if base == 0 || !self.mem_enabled() {
            return None;
        }
        let off = gpa.checked_sub(base)?;
        let end = off.checked_add(u64::from(size))?;
        (end <= u64::from(size_of_bar)).then_some(off)
    }

    /// Offset into the register BAR for an absolute guest-physical address, if the BAR is
    /// assigned, memory decoding is on and the address falls inside it.
    pub fn bar_offset(&self, gpa: u64, size: u32) -> Option<u64> {
        self.offset_in(self.id.bar, self.id.bar_size, gpa, size)
    }

    /// Offset into the MSI-X BAR (table + PBA), under the same rules as [`Self::bar_offset`].
    pub fn msix_bar_offset(&self, gpa: u64, size: u32) -> Option<u64> {
        if self.id.msix_vectors == 0 {
            return None;
        }
        self.offset_in(self.id.msix_bar, MSIX_BAR_SIZE, gpa, size)
    }

    /// Offset into the doorbell BAR, under the same rules as [`Self::bar_offset`].
    pub fn doorbell_bar_offset(&self, gpa: u64, size: u32) -> Option<u64> {
        if self.id.doorbell_bar_size == 0 {
            return None;
        }
        self.offset_in(self.id.doorbell_bar, self.id.doorbell_bar_size, gpa, size)
    }

    /// MSI-X Enable (Message Control bit 15) and Function Mask (bit 14).
    pub fn msix_control(&self) -> (bool, bool) {
        let mc = self.get16(crate::caps::MSIX + 2);
        (mc & 0x8000 != 0, mc & 0x4000 != 0)
    }

    /// MSI Enable (Message Control bit 0).
    pub fn msi_enabled(&self) -> bool {
        self.get16(crate::caps::MSI + 2) & 1 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ptdma() -> ConfigSpace {
        ConfigSpace::new(Identity {
            vendor: 0x1022,
            device: 0x1498,
            class: 0x10,
            subclass: 0x80,
            prog_if: 0,
            revision: 0,
            subsys_vendor: 0x1022,
            subsys_id: 0x1498,
            bar: 2,
            bar_size: 1 << 20,
            msix_vectors: 1,
            msix_bar: 5,
            doorbell_bar: 0,
            doorbell_bar_size: 0,
            intx_pin: 1,
        })
    }

    #[test]
    fn ids_and_class() {
        let c = ptdma();
        assert_eq!(c.read(0, 4), 0x1498_1022);
        assert_eq!(c.read(0x08, 4), 0x1080_0000);
        assert_eq!(c.read(0x0a, 2), 0x1080);
        assert_eq!(c.read(0x2e, 2), 0x1498);
        assert_eq!(c.read(0x3d, 1), 1);
    }

    #[test]
    fn bar_sizing() {
        let mut c = ptdma();
        for bar in 0..7u32 {
            let off = 0x10 + 4 * bar;
            assert!(c.write(off, u32::MAX, 4));
            let expect = match bar {
                2 => 0xfff0_0000,
                5 => !(MSIX_BAR_SIZE - 1),
                _ => 0,
            };
            assert_eq!(c.read(off, 4), expect, "BAR{bar}");
            c.write(off, 0, 4);
        }
        c.write(0x18, 0xfea0_0000, 4);
        c.write(0x24, 0xfeb0_0000, 4);
        assert_eq!(c.bar_base(), 0xfea0_0000);
        assert_eq!(c.bar_offset(0xfea0_1000, 4), None, "MEM off");
        c.write(0x04, u32::from(CMD_MEM), 2);
        assert_eq!(c.bar_offset(0xfea0_1000, 4), Some(0x1000));
        assert_eq!(c.bar_offset(0xfeb0_0000, 4), None);
        assert_eq!(c.msix_bar_offset(0xfeb0_1000, 4), Some(0x1000));
        assert_eq!(c.msix_bar_offset(0xfeb0_2000, 4), None, "past 8 KiB");
        assert_eq!(c.msix_bar_offset(0xfea0_0000, 4), None);
    }

    #[test]
    fn read_only_and_bad_access() {
        let mut c = ptdma();
        c.write(0, 0xffff_ffff, 4);
        assert_eq!(c.read(0, 4), 0x1498_1022);
        assert_eq!(c.read(0xff, 2), u32::MAX);
        assert!(!c.write(0xfe, 0, 4));
        c.write(0x04, 0xffff, 2);
        assert_eq!(c.command(), CMD_WRITABLE);
        assert_eq!(
            c.read(0x06, 2),
            0x0010,
            "STATUS: only the capability-list bit"
        );
        c.reset();
        assert_eq!(c.command(), 0);
    }

    #[test]
    fn capability_chain_pm_pcie_msi_msix() {
        use crate::caps::{self, MSI, MSIX, PCIE, PM};
        let c = ptdma();
        assert_eq!(c.read(0x06, 2) & 0x10, 0x10, "capabilities list bit");
        let ids: Vec<(u8, u8)> = caps::walk(&c);
        assert_eq!(
            ids,
            vec![
                (PM as u8, 0x01),
                (PCIE as u8, 0x10),
                (MSI as u8, 0x05),
                (MSIX as u8, 0x11)
            ]
        );
        assert_eq!(
            c.read(PCIE as u32 + 2, 2) & 0xf0,
            0,
            "PCIe device type: endpoint"
        );
        // MSI-X: 1 vector (table size N-1 = 0), table BAR 5 at 0, PBA BAR 5 at 0x1000.
        assert_eq!(c.read(MSIX as u32 + 2, 2), 0);
        assert_eq!(c.read(MSIX as u32 + 4, 4), 5);
        assert_eq!(c.read(MSIX as u32 + 8, 4), 0x1000 | 5);
    }

    #[test]
    fn msi_and_msix_enables_stick_and_read_only_fields_do_not_move() {
        use crate::caps::{MSI, MSIX, PM};
        let mut c = ptdma();
        assert_eq!(c.msix_control(), (false, false));
        c.write(MSIX as u32 + 2, 0xffff, 2);
        assert_eq!(
            c.read(MSIX as u32 + 2, 2),
            0xc000,
            "Enable + Function Mask stick, size RO"
        );
        assert_eq!(c.msix_control(), (true, true));
        c.write(MSIX as u32 + 4, 0xffff_ffff, 4);
        assert_eq!(c.read(MSIX as u32 + 4, 4), 5, "table offset/BIR read-only");
        c.write(MSIX as u32, 0xffff, 2);
        assert_eq!(
            c.read(MSIX as u32, 2),
            0x0011,
            "ID and next pointer read-only"
        );

        assert!(!c.msi_enabled());
        c.write(MSI as u32 + 2, 0xffff, 2);
        assert_eq!(
            c.read(MSI as u32 + 2, 2),
            0x00f1,
            "64-bit RO, MME + Enable writable"
        );
        assert!(c.msi_enabled());
        c.write(MSI as u32 + 4, 0xfee0_1003, 4);
        c.write(MSI as u32 + 8, 0x1, 4);
        c.write(MSI as u32 + 12, 0x4025, 2);
        assert_eq!(c.read(MSI as u32 + 4, 4), 0xfee0_1000);
        assert_eq!(c.read(MSI as u32 + 8, 4), 1);
        assert_eq!(c.read(MSI as u32 + 12, 2), 0x4025);

        c.write(PM as u32 + 4, 0xffff, 2);
        assert_eq!(
            c.read(PM as u32 + 4, 2),
            0x000b,
            "power state writable, No_Soft_Reset set"
        );
        c.reset();
        assert_eq!(c.msix_control(), (false, false));
        assert!(!c.msi_enabled());
    }

    #[test]
    fn ae4dma_has_sixteen_msix_vectors_in_bar2() {
        let c = ConfigSpace::new(crate::device::Kind::Ae4dma.identity());
        let msix = crate::caps::MSIX as u32;
        assert_eq!(c.read(msix + 2, 2) & 0x7ff, 15, "table size N-1");
        assert_eq!(c.read(msix + 4, 4), 2);
        assert_eq!(c.read(msix + 8, 4), 0x1000 | 2);
        assert_eq!(crate::caps::walk(&c).len(), 4);
    }
}
