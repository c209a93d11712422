//! SDXI descriptors (sdxi-facts §5): the 64-byte DSC_GENERIC frame, DSC_DMAB_COPY, DSC_DMAB_NOP
//! and the admin descriptors the minimal subset needs (§9.1). Decoding is pure and checks
//! everything that needs no guest memory: reserved bits and bytes, known operation, mandatory
//! flags. Bit numbers are absolute within the 64 bytes, from the facts' §5 (spec tables as
//! encoded by AMD's KUnit test). Encoders exist for tests and for host-side drivers of the model.

use super::errlog::Check;
use super::layout::{bits, set_bits, zero};

/// Operation groups (type, bits 26:16).
pub mod group {
    pub const DMAB: u16 = 0x001;
    pub const ADMIN: u16 = 0x002;
}

/// Subtypes (bits 15:8).
pub mod subtype {
    pub const DMAB_NOP: u8 = 0x01;
    pub const DMAB_COPY: u8 = 0x03;
    pub const CXT_UPD: u8 = 0x01;
    pub const CXT_START_NM: u8 = 0x03;
    pub const CXT_STOP: u8 = 0x04;
    pub const SYNC: u8 = 0x06;
}

/// DSC_SYNC filter values (bits 34:32).
pub mod sync_flt {
    pub const CXT: u8 = 0;
    pub const STOP: u8 = 1;
    pub const FN: u8 = 4;
}

/// Flag bits of the opcode word.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub vl: bool,
    pub se: bool,
    pub fe: bool,
    pub ch: bool,
    pub csr: bool,
    pub rb: bool,
}

/// An inclusive context-id range of an admin descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CxtRange {
    pub start: u16,
    pub end: u16,
}

/// The decoded operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Nop,
    /// DSC_DMAB_COPY: `len` bytes (1..=2^32) from `src` (AKey `akey0`) to `dst` (AKey `akey1`).
    Copy {
        len: u64,
        attr_src: u8,
        attr_dst: u8,
        akey0: u16,
        akey1: u16,
        src: u64,
        dst: u64,
    },
    /// DSC_CXT_START "NM"; `db_value` is Some when dv = 1.
    CxtStart {
        range: CxtRange,
        db_value: Option<u64>,
    },
    CxtStop {
        range: CxtRange,
        hard: bool,
    },
    Sync {
        flt: u8,
        range: CxtRange,
    },
    /// DSC_CXT_UPD: the model caches nothing, so it only validates the opcode word.
    CxtUpd,
}

/// A validated descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Desc {
    pub flags: Flags,
    pub ty: u16,
    pub subtype: u8,
    pub op: Op,
    /// CST_BLK address (32-byte aligned) when np = 0.
    pub csb: Option<u64>,
}

/// Flags, subtype and type of the opcode word (bits 0..31).
pub fn opcode(raw: &[u8; 64]) -> (Flags, u8, u16) {
    let f = |b| bits(raw, b, b) != 0;
    (
        Flags {
            vl: f(0),
            se: f(1),
            fe: f(2),
            ch: f(3),
            csr: f(4),
            rb: f(5),
        },
        bits(raw, 8, 15) as u8,
        bits(raw, 16, 26) as u16,
    )
}

/// True when the opcode word names DSC_DMAB_COPY (whatever else is wrong with it).
pub fn is_copy(raw: &[u8; 64]) -> bool {
    let (_, sub, ty) = opcode(raw);
    (ty, sub) == (group::DMAB, subtype::DMAB_COPY)
}

/// Reserved ranges (absolute bits) of each operation body (bytes 4..56), per §5.3/§5.4.
fn reserved_body(ty: u16, sub: u8) -> Option<&'static [(usize, usize)]> {
    match (ty, sub) {
        (group::DMAB, subtype::DMAB_NOP) => Some(&[(32, 447)]),
        (group::DMAB, subtype::DMAB_COPY) => Some(&[(72, 95), (256, 447)]),
        (group::ADMIN, subtype::CXT_START_NM) => Some(&[(32, 45), (96, 127), (192, 447)]),
        (group::ADMIN, subtype::CXT_STOP) => Some(&[(32, 45), (96, 447)]),
        (group::ADMIN, subtype::SYNC) => Some(&[(35, 46), (128, 447)]),
        // The body layout of DSC_CXT_UPD is not in the facts: nothing to check.
        (group::ADMIN, subtype::CXT_UPD) => Some(&[]),
        _ => None,
    }
}

/// Decodes and validates a descriptor whose vl bit is set. `admin` = it sits on context 0's
/// ring: admin operations are accepted only there. Order of checks: reserved opcode bits,
/// known operation, reserved body bits, mandatory flags, VF fields.
pub fn decode(raw: &[u8; 64], admin: bool) -> Result<Desc, Check> {
    let (flags, sub, ty) = opcode(raw);
    if !zero(raw, 6, 7) || !zero(raw, 27, 31) || !zero(raw, 449, 452) {
        return Err(Check::DescReserved);
    }
    let reserved = reserved_body(ty, sub).ok_or(Check::DescUnknownOp)?;
    if ty == group::ADMIN && !admin {
        return Err(Check::DescUnknownOp);
    }
    if reserved.iter().any(|&(lo, hi)| !zero(raw, lo, hi)) {
        return Err(Check::DescReserved);
    }
    let range = CxtRange {
        start: bits(raw, 64, 79) as u16,
        end: bits(raw, 80, 95) as u16,
    };
    let vf = bits(raw, 47, 47) != 0;
    let op = match (ty, sub) {
        (group::DMAB, subtype::DMAB_NOP) => Op::Nop,
        (group::DMAB, subtype::DMAB_COPY) => Op::Copy {
            len: bits(raw, 32, 63) + 1,
            attr_src: bits(raw, 64, 67) as u8,
            attr_dst: bits(raw, 68, 71) as u8,
            akey0: bits(raw, 96, 111) as u16,
            akey1: bits(raw, 112, 127) as u16,
            src: bits(raw, 128, 191),
            dst: bits(raw, 192, 255),
        },
        (group::ADMIN, subtype::CXT_START_NM) => Op::CxtStart {
            range,
            db_value: (bits(raw, 46, 46) != 0).then(|| bits(raw, 128, 191)),
        },
        (group::ADMIN, subtype::CXT_STOP) => Op::CxtStop {
            range,
            hard: bits(raw, 46, 46) != 0,
        },
        (group::ADMIN, subtype::SYNC) => Op::Sync {
            flt: bits(raw, 32, 34) as u8,
            range,
        },
        _ => Op::CxtUpd,
    };
    if matches!(op, Op::CxtStart { .. } | Op::CxtStop { .. }) && (!flags.fe || flags.se) {
        return Err(Check::DescMandatoryFlags);
    }
    if matches!(op, Op::Sync { flt, .. } if flt > sync_flt::FN) {
        return Err(Check::DescReserved);
    }
    if ty == group::ADMIN && (vf || bits(raw, 48, 63) != 0) {
        return Err(Check::AdminVf);
    }
    let np = bits(raw, 448, 448) != 0;
    Ok(Desc {
        flags,
        ty,
        subtype: sub,
        op,
        csb: (!np).then(|| bits(raw, 453, 511) << 5),
    })
}

fn frame(ty: u16, sub: u8, fe: bool, csb: Option<u64>) -> [u8; 64] {
    let mut r = [0u8; 64];
    set_bits(&mut r, 0, 0, 1);
    set_bits(&mut r, 2, 2, u64::from(fe));
    set_bits(&mut r, 8, 15, u64::from(sub));
    set_bits(&mut r, 16, 26, u64::from(ty));
    match csb {
        Some(a) => set_bits(&mut r, 453, 511, a >> 5),
        None => set_bits(&mut r, 448, 448, 1),
    }
    r
}

/// DSC_DMAB_COPY of `len` bytes (1..=2^32), vl = 1.
pub fn encode_copy(src: u64, dst: u64, len: u64, akeys: (u16, u16), csb: Option<u64>) -> [u8; 64] {
    let mut r = frame(group::DMAB, subtype::DMAB_COPY, false, csb);
    set_bits(&mut r, 32, 63, len.wrapping_sub(1));
    set_bits(&mut r, 96, 111, u64::from(akeys.0));
    set_bits(&mut r, 112, 127, u64::from(akeys.1));
    set_bits(&mut r, 128, 191, src);
    set_bits(&mut r, 192, 255, dst);
    r
}

/// DSC_DMAB_NOP, vl = 1.
pub fn encode_nop(fe: bool, csb: Option<u64>) -> [u8; 64] {
    frame(group::DMAB, subtype::DMAB_NOP, fe, csb)
}

fn with_range(mut r: [u8; 64], range: CxtRange) -> [u8; 64] {
    set_bits(&mut r, 64, 79, u64::from(range.start));
    set_bits(&mut r, 80, 95, u64::from(range.end));
    r
}

/// DSC_CXT_START "NM" (fe = 1), with a doorbell value when `db_value` is Some.
pub fn encode_cxt_start(range: CxtRange, db_value: Option<u64>, csb: Option<u64>) -> [u8; 64] {
    let mut r = with_range(frame(group::ADMIN, subtype::CXT_START_NM, true, csb), range);
    if let Some(v) = db_value {
        set_bits(&mut r, 46, 46, 1);
        set_bits(&mut r, 128, 191, v);
    }
    r
}

/// DSC_CXT_STOP (fe = 1).
pub fn encode_cxt_stop(range: CxtRange, hard: bool, csb: Option<u64>) -> [u8; 64] {
    let mut r = with_range(frame(group::ADMIN, subtype::CXT_STOP, true, csb), range);
    set_bits(&mut r, 46, 46, u64::from(hard));
    r
}

/// DSC_SYNC with filter `flt`.
pub fn encode_sync(flt: u8, range: CxtRange, csb: Option<u64>) -> [u8; 64] {
    let mut r = with_range(frame(group::ADMIN, subtype::SYNC, false, csb), range);
    set_bits(&mut r, 32, 34, u64::from(flt));
    r
}
