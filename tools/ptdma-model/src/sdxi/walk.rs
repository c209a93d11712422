//! The context-table walk (sdxi-facts §4.1, §9.2 step 1): MMIO_CXT_L2 → L2\[id >> 7\] →
//! L1[id & 127] → CXT_CTL → ring, CXT_STS, Write_Index, AKey table. Every pointer must be
//! aligned, every structure inside guest RAM, reserved bits zero and sizes within limits;
//! the first failed check is returned.

use super::errlog::Check;
use super::layout::{cxt_sts, AkeyEnt, CxtCtl, L1Ent, L2Ent, TABLE_BYTES};
use super::regs::{Regs, MAX_RING_ENTRIES, MIN_RING_ENTRIES};
use crate::guestmem::GuestMemory;

/// Everything the function needs to run one context, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Env {
    pub id: u16,
    pub l1: L1Ent,
    pub ctl: CxtCtl,
    /// Ring entries (64 bytes each).
    pub entries: u64,
    /// Largest copy in bytes: 2^(min(L1, CTL2 max_buffer) + 21).
    pub max_len: u64,
    /// Operation groups usable: L1.opb_000_enb ∩ CTL2.opb_000_avl.
    pub groups: u32,
}

impl Env {
    /// Address of ring slot `index` (free-running index, slot = index mod entries).
    pub fn slot(&self, index: u64) -> u64 {
        self.ctl.ds_ring_ptr + (index % self.entries) * 64
    }
    pub fn sts(&self) -> u64 {
        self.ctl.cxt_sts_ptr
    }
    pub fn read_index_ptr(&self) -> u64 {
        self.ctl.cxt_sts_ptr + cxt_sts::READ_INDEX
    }
    pub fn write_index_ptr(&self) -> u64 {
        self.ctl.write_index_ptr
    }
}

fn read<const N: usize>(mem: &dyn GuestMemory, gpa: u64, fail: Check) -> Result<[u8; N], Check> {
    let mut b = [0u8; N];
    mem.read(gpa, &mut b).map_err(|_| fail)?;
    Ok(b)
}

fn inside(mem: &dyn GuestMemory, gpa: u64, len: u64, fail: Check) -> Result<(), Check> {
    if mem.contains(gpa, len) {
        Ok(())
    } else {
        Err(fail)
    }
}

/// Walks the tables for context `id` (the caller has checked id ≤ CTL2.max_cxt).
pub fn walk(mem: &dyn GuestMemory, regs: &Regs, id: u16) -> Result<Env, Check> {
    let ctl2 = regs.ctl2();
    let l2 = regs.cxt_l2;
    if l2 == 0 || l2 & 0xfff != 0 {
        return Err(Check::L2Register);
    }
    inside(mem, l2, TABLE_BYTES, Check::L2TableOutsideRam)?;
    let l2e = L2Ent::decode(&read(
        mem,
        l2 + u64::from(id >> 7) * 8,
        Check::L2TableOutsideRam,
    )?);
    if !l2e.vl {
        return Err(Check::L2EntryInvalid);
    }
    if !l2e.reserved_ok {
        return Err(Check::L2EntryReserved);
    }
    inside(mem, l2e.l1_ptr, TABLE_BYTES, Check::L1TableOutsideRam)?;
    let at = l2e.l1_ptr + u64::from(id & 127) * L1Ent::BYTES;
    let l1 = L1Ent::decode(&read(mem, at, Check::L1TableOutsideRam)?);
    if !l1.vl {
        return Err(Check::L1EntryInvalid);
    }
    if !l1.reserved_ok {
        return Err(Check::L1EntryReserved);
    }
    if l1.pv {
        return Err(Check::L1PasidUnsupported);
    }
    if l1.akey_sz > ctl2.max_akey_sz {
        return Err(Check::L1AkeySize);
    }
    inside(mem, l1.cxt_ctl_ptr, CxtCtl::BYTES, Check::CxtCtlOutsideRam)?;
    inside(
        mem,
        l1.akey_ptr,
        l1.akey_entries() * AkeyEnt::BYTES,
        Check::AkeyTableOutsideRam,
    )?;
    let ctl = CxtCtl::decode(&read(mem, l1.cxt_ctl_ptr, Check::CxtCtlOutsideRam)?);
    if !ctl.vl {
        return Err(Check::CxtCtlInvalid);
    }
    if !ctl.reserved_ok {
        return Err(Check::CxtCtlReserved);
    }
    let entries = u64::from(ctl.ds_ring_sz);
    if !(MIN_RING_ENTRIES..=MAX_RING_ENTRIES).contains(&entries) {
        return Err(Check::RingSize);
    }
    inside(mem, ctl.ds_ring_ptr, entries * 64, Check::RingOutsideRam)?;
    if !ctl.cxt_sts_ptr.is_multiple_of(cxt_sts::BYTES) {
        return Err(Check::CxtStsMisaligned);
    }
    inside(
        mem,
        ctl.cxt_sts_ptr,
        cxt_sts::BYTES,
        Check::CxtStsOutsideRam,
    )?;
    if !ctl.write_index_ptr.is_multiple_of(8) {
        return Err(Check::WriteIndexMisaligned);
    }
    inside(mem, ctl.write_index_ptr, 8, Check::WriteIndexOutsideRam)?;
    let max_buffer = l1.max_buffer.min(ctl2.max_buffer);
    Ok(Env {
        id,
        l1,
        ctl,
        entries,
        max_len: 1u64 << (u32::from(max_buffer) + 21),
        groups: l1.opb_000_enb & ctl2.opb_000_avl,
    })
}

/// Looks up AKey `index` of the context's table: it must exist and be a valid local key
/// (vl = 1, pv = 0, tgt_sfunc = 0, reserved bits zero).
pub fn akey(mem: &dyn GuestMemory, env: &Env, index: u16) -> Result<AkeyEnt, Check> {
    if u64::from(index) >= env.l1.akey_entries() {
        return Err(Check::AkeyIndexRange);
    }
    let at = env.l1.akey_ptr + u64::from(index) * AkeyEnt::BYTES;
    let k = AkeyEnt::decode(&read(mem, at, Check::AkeyTableOutsideRam)?);
    if !k.vl || k.pv || k.tgt_sfunc != 0 || !k.reserved_ok {
        return Err(Check::AkeyInvalid);
    }
    Ok(k)
}
