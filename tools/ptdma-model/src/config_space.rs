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
}

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
        self.bytes[0x3d] = 1; // interrupt pin A
        self.wmask[0x04..0x06].copy_from_slice(&CMD_WRITABLE.to_le_bytes());
        self.w1c[0x06..0x08].copy_from_slice(&STATUS_W1C.to_le_bytes());
        self.wmask[0x0c] = 0xff; // cache line size
        self.wmask[0x0d] = 0xff; // latency timer
        self.wmask[0x3c] = 0xff; // interrupt line
        let bar_off = 0x10 + 4 * id.bar;
        let addr_mask = !(id.bar_size.max(16) - 1);
        // Type bits (0: memory, 32-bit, non-prefetchable) stay read-only zero.
        self.wmask[bar_off..bar_off + 4].copy_from_slice(&addr_mask.to_le_bytes());
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

    /// Current BAR base address (0 = unassigned).
    pub fn bar_base(&self) -> u64 {
        let off = 0x10 + 4 * self.id.bar;
        u64::from(self.read(off as u32, 4) & !0xf)
    }

    /// Offset into the register BAR for an absolute guest-physical address, if the BAR is
    /// assigned, memory decoding is on and the address falls inside it.
    pub fn bar_offset(&self, gpa: u64, size: u32) -> Option<u64> {
        let base = self.bar_base();
        if base == 0 || !self.mem_enabled() {
            return None;
        }
        let off = gpa.checked_sub(base)?;
        let end = off.checked_add(u64::from(size))?;
        (end <= u64::from(self.id.bar_size)).then_some(off)
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
            let expect = if bar == 2 { 0xfff0_0000 } else { 0 };
            assert_eq!(c.read(off, 4), expect, "BAR{bar}");
            c.write(off, 0, 4);
        }
        c.write(0x18, 0xfea0_0000, 4);
        assert_eq!(c.bar_base(), 0xfea0_0000);
        assert_eq!(c.bar_offset(0xfea0_1000, 4), None, "MEM off");
        c.write(0x04, u32::from(CMD_MEM), 2);
        assert_eq!(c.bar_offset(0xfea0_1000, 4), Some(0x1000));
        assert_eq!(c.bar_offset(0xfeb0_0000, 4), None);
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
        c.reset();
        assert_eq!(c.command(), 0);
    }
}
