//! The function's error log (sdxi-facts §2.1 ERR_*, §4.2 ERRLOG_HD_ENT, §7): every failed
//! validity check of §9.2 becomes one entry, with the step/sub_step the facts' §7.3 suggests
//! and the model's check number in vendor\[0\] so a reader can tell the checks apart.

use super::layout::{ErrLogEntry, ERRLOG_ENTRY_BYTES};
use super::regs::{err_sts, Regs};
use crate::guestmem::GuestMemory;

/// Every check the model makes. The discriminant is written to vendor\[0\] of the entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Check {
    /// CTL2 asks for more than CAP1 offers (max_buffer, max_akey_sz, max_cxt, groups).
    Ctl2ExceedsCap = 1,
    /// MMIO_CXT_L2 is zero or has reserved bits 11:0 set (not 4 KiB aligned).
    L2Register = 2,
    L2TableOutsideRam = 3,
    L2EntryInvalid = 4,
    L2EntryReserved = 5,
    L1TableOutsideRam = 6,
    L1EntryInvalid = 7,
    L1EntryReserved = 8,
    /// L1.pv = 1: PASIDs are not supported by the model.
    L1PasidUnsupported = 9,
    /// L1.akey_sz larger than CTL2.max_akey_sz.
    L1AkeySize = 10,
    CxtCtlOutsideRam = 11,
    CxtCtlInvalid = 12,
    CxtCtlReserved = 13,
    /// ds_ring_sz below 1024 or above 1024 << CAP0.max_ds_ring_sz.
    RingSize = 14,
    RingOutsideRam = 15,
    /// cxt_sts_ptr not 16-byte aligned.
    CxtStsMisaligned = 16,
    CxtStsOutsideRam = 17,
    /// write_index_ptr not 8-byte aligned.
    WriteIndexMisaligned = 18,
    WriteIndexOutsideRam = 19,
    AkeyTableOutsideRam = 20,
    /// read_index > Write_Index, or Write_Index − read_index > ring size.
    IndexCorrupt = 21,
    /// A ring slot could not be read.
    DescFetch = 22,
    DescReserved = 23,
    /// Unknown type/subtype, or an admin operation outside context 0.
    DescUnknownOp = 24,
    /// Operation group not enabled in L1.opb_000_enb and CTL2.opb_000_avl.
    DescGroupDisabled = 25,
    /// CXT_START/CXT_STOP without fe = 1 and se = 0.
    DescMandatoryFlags = 26,
    /// Copy larger than 2^(max_buffer+21) bytes.
    DescSizeTooLarge = 27,
    /// AKey index beyond the AKey table.
    AkeyIndexRange = 28,
    /// AKey entry with vl = 0, pv = 1, tgt_sfunc ≠ 0 or reserved bits set.
    AkeyInvalid = 29,
    SrcOutsideRam = 30,
    DstOutsideRam = 31,
    /// Source and destination overlap.
    Overlap = 32,
    /// The CST_BLK overlaps the source or destination.
    CsbOverlap = 33,
    CsbOutsideRam = 34,
    /// A context id above CTL2.max_cxt (doorbell or admin range).
    CxtIdRange = 35,
    /// Admin range with end < start, or naming context 0.
    AdminRange = 36,
    /// Admin descriptor with vf = 1 or vf_num ≠ 0 (no SR-IOV).
    AdminVf = 37,
    /// `--fault error-at=N`.
    InjectedError = 38,
    /// `--fault halt-at=N`: the function goes to ERROR.
    InjectedFunctionError = 39,
    /// Guest RAM vanished while the data moved (SYNC_SYSMEM in between).
    DataAccess = 40,
    /// Bus mastering was off when the function had to read its tables.
    NoBusMaster = 41,
}

impl Check {
    /// (step, sub_step, buf) per sdxi-facts §7.3 (buf: 0 = source, 1 = destination; UNSURE).
    pub fn position(self) -> (u8, u8, Option<u8>) {
        use Check::*;
        match self {
            Ctl2ExceedsCap | InjectedFunctionError => (1, 0, None),
            NoBusMaster => (2, 2, None),
            L2Register | L2TableOutsideRam => (2, 1, None),
            L2EntryInvalid | L2EntryReserved | CxtIdRange => (2, 3, None),
            L1TableOutsideRam => (3, 1, None),
            L1EntryInvalid | L1EntryReserved | L1PasidUnsupported | L1AkeySize => (3, 3, None),
            CxtCtlOutsideRam => (4, 1, None),
            CxtCtlInvalid | CxtCtlReserved | RingSize => (4, 3, None),
            RingOutsideRam => (4, 1, None),
            DescFetch => (7, 2, None),
            CxtStsOutsideRam => (5, 1, None),
            CxtStsMisaligned => (5, 3, None),
            WriteIndexOutsideRam => (6, 1, None),
            WriteIndexMisaligned | IndexCorrupt => (6, 3, None),
            DescReserved | DescUnknownOp | DescGroupDisabled | DescMandatoryFlags
            | DescSizeTooLarge | Overlap | CsbOverlap | AdminRange | AdminVf => (7, 3, None),
            CsbOutsideRam => (8, 1, None),
            SrcOutsideRam => (10, 1, Some(0)),
            DstOutsideRam => (10, 1, Some(1)),
            // An injected copy error is modelled as a failed write of the destination
            // buffer: §7.3 has data-buffer failures carry bv/buf.
            InjectedError => (10, 2, Some(1)),
            DataAccess => (10, 2, None),
            AkeyTableOutsideRam => (11, 1, None),
            AkeyIndexRange | AkeyInvalid => (11, 3, None),
        }
    }
}

/// How the function reacted to an error (ERRLOG re field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reaction {
    Informative = 0,
    ContextStopped = 1,
    FunctionStopped = 2,
}

/// One detected error, before it is logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    pub check: Check,
    pub reaction: Reaction,
    pub cxt: Option<u16>,
    pub dsc_index: Option<u64>,
    /// ERRLOG err_class (values unknown, §9.3 item 8): the injected CODE of error-at, else 0.
    pub err_class: u16,
}

impl Report {
    pub fn entry(&self) -> ErrLogEntry {
        let (step, sub_step, buf) = self.check.position();
        ErrLogEntry {
            step,
            sub_step,
            re: self.reaction as u8,
            cxt_num: self.cxt,
            dsc_index: self.dsc_index,
            buf,
            err_class: self.err_class,
            vendor0: self.check as u32,
        }
    }
}

/// Log geometry from ERR_CFG: (buffer address, entries). Entries = 64 × sz (Linux writes sz = 1
/// for 64 entries; the general encoding is UNSURE). None when sz = 0 or bits 11:6 are set.
pub fn geometry(err_cfg: u64) -> Option<(u64, u64)> {
    let sz = (err_cfg >> 1) & 0x1f;
    if sz == 0 || err_cfg & 0xfc0 != 0 {
        return None;
    }
    Some((err_cfg & !0xfff, sz * 64))
}

/// Records `r`: always sets ERR_STS.sts; when ERR_CFG.en, writes the entry at ERR_WRT mod
/// entries (vl last) and advances ERR_WRT. A full log (WRT − RD ≥ entries) drops the entry
/// and sets ovf; an unusable log (bad ERR_CFG, buffer outside RAM, RD > WRT) sets err.
pub fn record(regs: &mut Regs, mem: &dyn GuestMemory, r: &Report) {
    tracing::info!(
        "SDXI error: {:?} cxt {:?} index {:?} ({:?})",
        r.check,
        r.cxt,
        r.dsc_index,
        r.reaction
    );
    regs.err_sts |= err_sts::STS;
    if regs.err_cfg & 1 == 0 {
        return;
    }
    let Some((base, entries)) = geometry(regs.err_cfg) else {
        regs.err_sts |= err_sts::ERR;
        return;
    };
    if !mem.contains(base, entries * ERRLOG_ENTRY_BYTES) || regs.err_rd > regs.err_wrt {
        regs.err_sts |= err_sts::ERR;
        return;
    }
    if regs.err_wrt - regs.err_rd >= entries {
        regs.err_sts |= err_sts::OVF;
        return;
    }
    let at = base + (regs.err_wrt % entries) * ERRLOG_ENTRY_BYTES;
    let bytes = r.entry().encode();
    let ok = mem.write(at + 8, &bytes[8..]).is_ok() && mem.write(at, &bytes[..8]).is_ok();
    if ok {
        regs.err_wrt += 1;
    } else {
        regs.err_sts |= err_sts::ERR;
    }
}
