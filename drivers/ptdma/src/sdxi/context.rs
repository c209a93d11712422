//! One context's memory ([`ContextMem`]): ring, CXT_CTL, CXT_STS, Write_Index, CST_BLKs and
//! AKey table carved out of one DMA region, plus the ring protocol both the admin and the
//! client contexts use (`sdxi-facts.md` §4.1, §6.3 ENQ): descriptors written while outside
//! [read, write), every body before any valid bit, then Write_Index, then one doorbell.
//!
//! Region layout (the base must be 4 KiB aligned):
//! `0x00000` ring (1024 × 64 B), `0x10000` CXT_CTL (64 B), `0x10040` CXT_STS (16 B),
//! `0x10080` Write_Index (8 B), `0x10100` 64 CST_BLKs (32 B each), `0x11000` AKey table (4 KiB).

use super::desc::{self, ContextState, Descriptor, CSB_BYTES, CSB_ER, DESC_BYTES};
use crate::DmaMemory;
use core::sync::atomic::{fence, Ordering};

/// Ring entries per context (the spec minimum, 64 KiB).
pub const RING_ENTRIES: u64 = 1024;
/// Byte offset of CXT_CTL.
pub const CXT_CTL_OFF: usize = 0x10000;
/// Byte offset of CXT_STS.
pub const CXT_STS_OFF: usize = 0x10040;
/// Byte offset of Write_Index.
pub const WRITE_INDEX_OFF: usize = 0x10080;
/// Byte offset of CST_BLK 0.
pub const CSB_OFF: usize = 0x10100;
/// CST_BLKs per context (at most this many batches outstanding).
pub const CSB_SLOTS: usize = 64;
/// Byte offset of the AKey table.
pub const AKEY_OFF: usize = 0x11000;
/// Bytes a context region needs.
pub const CONTEXT_BYTES: usize = 0x12000;

/// Reads a little-endian u64 as two dwords (low first).
pub fn read64<M: DmaMemory>(m: &M, off: usize) -> u64 {
    u64::from(m.read32(off)) | (u64::from(m.read32(off + 4)) << 32)
}

/// Writes a little-endian u64 as two dwords, high first (so a reader that sees the new low
/// half also sees the high half).
pub fn write64<M: DmaMemory>(m: &M, off: usize, v: u64) {
    m.write32(off + 4, (v >> 32) as u32);
    m.write32(off, v as u32);
}

/// Writes qwords 1.. of `words`, a release fence, then qword 0 (which holds vl) high dword
/// first, low dword (with vl) last.
pub fn publish<M: DmaMemory>(m: &M, off: usize, words: &[u64]) {
    for (i, w) in words.iter().enumerate().skip(1) {
        write64(m, off + 8 * i, *w);
    }
    fence(Ordering::Release);
    write64(m, off, words[0]);
}

/// The memory of one context.
#[derive(Debug)]
pub struct ContextMem<M: DmaMemory> {
    mem: M,
}

impl<M: DmaMemory> ContextMem<M> {
    /// Wraps `mem`; `None` when it is smaller than [`CONTEXT_BYTES`] or not 4 KiB aligned.
    /// The memory is zeroed here.
    pub fn new(mem: M) -> Option<Self> {
        if mem.len_bytes() < CONTEXT_BYTES || mem.bus_addr().as_u64() & 0xFFF != 0 {
            return None;
        }
        for off in (0..CONTEXT_BYTES).step_by(4) {
            mem.write32(off, 0);
        }
        Some(Self { mem })
    }

    /// Bus address of byte `off`.
    pub fn bus(&self, off: usize) -> u64 {
        self.mem.bus_addr().as_u64() + off as u64
    }

    /// Writes CXT_CTL (vl last) and AKey entry 0 (local transfer key).
    pub fn write_control(&self) {
        let akey = desc::AKEY_LOCAL;
        write64(&self.mem, AKEY_OFF + 8, akey[1]);
        write64(&self.mem, AKEY_OFF, akey[0]);
        let ctl = desc::cxt_ctl(
            self.bus(0),
            RING_ENTRIES as u32,
            self.bus(CXT_STS_OFF),
            self.bus(WRITE_INDEX_OFF),
        );
        publish(&self.mem, CXT_CTL_OFF, &ctl);
    }

    /// Resets the ring for a (re)start: every valid bit cleared, Write_Index = 0, CXT_STS =
    /// STOP_SW with read_index 0, CST_BLKs zeroed. Only while the context is stopped.
    pub fn reset_ring(&self) {
        for slot in 0..RING_ENTRIES as usize {
            self.mem.write32(slot * DESC_BYTES, 0);
        }
        for off in (CSB_OFF..CSB_OFF + CSB_SLOTS * CSB_BYTES).step_by(4) {
            self.mem.write32(off, 0);
        }
        write64(&self.mem, WRITE_INDEX_OFF, 0);
        write64(&self.mem, CXT_STS_OFF + 8, 0);
        write64(&self.mem, CXT_STS_OFF, 0);
        fence(Ordering::Release);
    }

    /// Writes the CXT_STS state byte (software does this only for the admin context).
    pub fn set_state(&self, state: u64) {
        write64(&self.mem, CXT_STS_OFF, state);
    }

    /// CXT_STS.state.
    pub fn state(&self) -> ContextState {
        ContextState::decode(read64(&self.mem, CXT_STS_OFF))
    }

    /// CXT_STS.read_index.
    pub fn read_index(&self) -> u64 {
        read64(&self.mem, CXT_STS_OFF + 8)
    }

    /// Writes `d` into the ring slot of free-running index `seq` (body first, vl last).
    pub fn write_desc(&self, seq: u64, d: &Descriptor) {
        publish(&self.mem, (seq % RING_ENTRIES) as usize * DESC_BYTES, &d.0);
    }

    /// The descriptor at ring slot `slot` (tests).
    pub fn desc(&self, slot: usize) -> Descriptor {
        let mut q = [0u64; 8];
        for (i, w) in q.iter_mut().enumerate() {
            *w = read64(&self.mem, slot * DESC_BYTES + 8 * i);
        }
        Descriptor(q)
    }

    /// Stores Write_Index (after a release fence, so the descriptors are visible first).
    pub fn set_write_index(&self, v: u64) {
        fence(Ordering::Release);
        write64(&self.mem, WRITE_INDEX_OFF, v);
    }

    /// Write_Index as stored.
    pub fn write_index(&self) -> u64 {
        read64(&self.mem, WRITE_INDEX_OFF)
    }

    /// Bus address of CST_BLK `i`.
    pub fn csb_bus(&self, i: usize) -> u64 {
        self.bus(CSB_OFF + i * CSB_BYTES)
    }

    /// Arms CST_BLK `i`: flags = 0, signal = 1 (works whether the function clears or
    /// decrements the signal, facts §6.4).
    pub fn arm_csb(&self, i: usize) {
        let off = CSB_OFF + i * CSB_BYTES;
        self.mem.write32(off + 8, 0);
        write64(&self.mem, off, 1);
    }

    /// `None` while CST_BLK `i`'s signal is non-zero; then `Some(er)` (read after an
    /// acquire fence, as spec 5.6 requires).
    pub fn csb_done(&self, i: usize) -> Option<bool> {
        let off = CSB_OFF + i * CSB_BYTES;
        if read64(&self.mem, off) != 0 {
            return None;
        }
        fence(Ordering::Acquire);
        Some(self.mem.read32(off + 8) & CSB_ER != 0)
    }

    /// The region (tests and the fake read it through the bus instead).
    pub fn memory(&self) -> &M {
        &self.mem
    }
}
