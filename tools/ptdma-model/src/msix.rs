//! MSI-X table and Pending Bit Array of one function, in their own BAR (PCI Local Bus 3.0
//! §6.8.2): entry k at table offset 16·k = Message Address low, high, Message Data, Vector
//! Control (bit 0 = mask, set at reset). The PBA at `caps::PBA_OFFSET` is read-only.
//!
//! QEMU's proxy cannot deliver MSI-X messages, so no message is ever sent and no pending bit
//! is ever set: the table only behaves as registers (what Linux programs reads back).

use crate::caps::PBA_OFFSET;

/// Vector Control bit 0: the vector is masked.
const VECTOR_MASKED: u32 = 1;

/// Table entries of one function.
#[derive(Debug)]
pub struct MsixTable {
    entries: Vec<[u32; 4]>,
}

impl MsixTable {
    /// A table of `vectors` entries in the reset state (all masked, addresses and data 0).
    pub fn new(vectors: u16) -> MsixTable {
        let mut t = MsixTable {
            entries: vec![[0; 4]; usize::from(vectors)],
        };
        t.reset();
        t
    }

    /// Power-on state: every entry zero and masked.
    pub fn reset(&mut self) {
        for e in &mut self.entries {
            *e = [0, 0, 0, VECTOR_MASKED];
        }
    }

    fn entry(&self, off: u64) -> Option<(usize, usize)> {
        let (k, dw) = ((off / 16) as usize, ((off % 16) / 4) as usize);
        (k < self.entries.len()).then_some((k, dw))
    }

    /// Reads the dword at 4-byte-aligned BAR offset `off` (PBA and unused space read 0).
    pub fn read32(&self, off: u64) -> u32 {
        if off >= u64::from(PBA_OFFSET) {
            return 0; // no vector is ever pending: the proxy delivers no message
        }
        self.entry(off).map_or(0, |(k, dw)| self.entries[k][dw])
    }

    /// Writes the bytes of `val` selected by `mask` to the dword at `off`; the PBA and the
    /// reserved bits of Vector Control are read-only.
    pub fn write32(&mut self, off: u64, val: u32, mask: u32) {
        if off >= u64::from(PBA_OFFSET) {
            return;
        }
        if let Some((k, dw)) = self.entry(off) {
            let mask = match dw {
                0 => mask & !3, // Message Address is dword aligned
                3 => mask & VECTOR_MASKED,
                _ => mask,
            };
            let e = &mut self.entries[k][dw];
            *e = (*e & !mask) | (val & mask);
        }
    }

    /// Entries whose Vector Control mask bit is clear.
    pub fn unmasked(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| e[3] & VECTOR_MASKED == 0)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_entries_read_back_and_pba_is_read_only() {
        let mut t = MsixTable::new(16);
        assert_eq!(t.read32(15 * 16 + 12), VECTOR_MASKED);
        t.write32(16, 0xfee0_100f, u32::MAX);
        t.write32(20, 0x1, u32::MAX);
        t.write32(24, 0x4041, u32::MAX);
        t.write32(28, 0xffff_fffe, u32::MAX);
        assert_eq!(t.read32(16), 0xfee0_100c, "address bits 1:0 are read-only");
        assert_eq!(t.read32(20), 1);
        assert_eq!(t.read32(24), 0x4041);
        assert_eq!(
            t.read32(28),
            0,
            "only the mask bit of Vector Control is writable"
        );
        assert_eq!(t.unmasked(), 1);
        t.write32(u64::from(PBA_OFFSET), u32::MAX, u32::MAX);
        assert_eq!(t.read32(u64::from(PBA_OFFSET)), 0);
        assert_eq!(t.read32(16 * 16), 0, "past the table");
        t.reset();
        assert_eq!(t.unmasked(), 0);
    }
}
