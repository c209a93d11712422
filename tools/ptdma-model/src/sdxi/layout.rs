//! In-memory structures of an SDXI function (sdxi-facts §4), decoded from their little-endian
//! bytes. Bit numbers are absolute within each structure, as the facts' tables give them.
//! Decoding is pure; whether a pointer lies in guest RAM is checked by the caller (`walk.rs`).

/// Bits `lo..=hi` (absolute, at most 64 wide) of a little-endian byte structure.
pub fn bits(raw: &[u8], lo: usize, hi: usize) -> u64 {
    debug_assert!(hi >= lo && hi - lo < 64 && hi / 8 < raw.len());
    let mut v: u128 = 0;
    for (i, b) in raw[lo / 8..=hi / 8].iter().enumerate() {
        v |= u128::from(*b) << (8 * i);
    }
    let width = hi - lo + 1;
    ((v >> (lo % 8)) & ((1u128 << width) - 1)) as u64
}

/// Sets bits `lo..=hi` of `raw` to `val` (truncated to the field width).
pub fn set_bits(raw: &mut [u8], lo: usize, hi: usize, val: u64) {
    for bit in lo..=hi {
        let on = (val >> (bit - lo)) & 1 != 0;
        let (byte, mask) = (bit / 8, 1u8 << (bit % 8));
        if on {
            raw[byte] |= mask;
        } else {
            raw[byte] &= !mask;
        }
    }
}

/// True when every bit in `lo..=hi` is zero (any width).
pub fn zero(raw: &[u8], lo: usize, hi: usize) -> bool {
    (lo..=hi)
        .step_by(1)
        .all(|b| raw[b / 8] & (1 << (b % 8)) == 0)
}

/// Little-endian u64 at byte offset `off`.
pub fn le64(raw: &[u8], off: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&raw[off..off + 8]);
    u64::from_le_bytes(b)
}

/// Context L2 table: 512 entries of 8 bytes, 4 KiB (Table 3-2).
pub const L2_ENTRIES: u64 = 512;
/// Context L1 table: 128 entries of 32 bytes, 4 KiB (Table 3-3).
pub const L1_ENTRIES: u64 = 128;
/// Size of one context table, bytes.
pub const TABLE_BYTES: u64 = 4096;

/// CXT_L2_ENT (8 B): bit 0 vl, 11:1 reserved, 63:12 L1 table address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L2Ent {
    pub vl: bool,
    pub reserved_ok: bool,
    pub l1_ptr: u64,
}

impl L2Ent {
    pub fn decode(raw: &[u8; 8]) -> L2Ent {
        L2Ent {
            vl: bits(raw, 0, 0) != 0,
            reserved_ok: zero(raw, 1, 11),
            l1_ptr: bits(raw, 12, 63) << 12,
        }
    }
}

/// CXT_L1_ENT (32 B, Table 3-3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L1Ent {
    pub vl: bool,
    pub ka: bool,
    pub pv: bool,
    pub cxt_ctl_ptr: u64,
    /// The AKey table has 2^(akey_sz+8) entries of 16 bytes.
    pub akey_sz: u8,
    pub akey_ptr: u64,
    pub cxt_pasid: u32,
    /// Largest data buffer per descriptor: 2^(max_buffer+21) bytes.
    pub max_buffer: u8,
    pub opb_000_enb: u32,
    /// Bits 5:3, 75:68, 159:152 and bytes 24..32 are zero.
    pub reserved_ok: bool,
}

impl L1Ent {
    pub const BYTES: u64 = 32;

    pub fn decode(raw: &[u8; 32]) -> L1Ent {
        L1Ent {
            vl: bits(raw, 0, 0) != 0,
            ka: bits(raw, 1, 1) != 0,
            pv: bits(raw, 2, 2) != 0,
            cxt_ctl_ptr: bits(raw, 6, 63) << 6,
            akey_sz: bits(raw, 64, 67) as u8,
            akey_ptr: bits(raw, 76, 127) << 12,
            cxt_pasid: bits(raw, 128, 147) as u32,
            max_buffer: bits(raw, 148, 151) as u8,
            opb_000_enb: bits(raw, 160, 191) as u32,
            reserved_ok: zero(raw, 3, 5)
                && zero(raw, 68, 75)
                && zero(raw, 152, 159)
                && zero(raw, 192, 255),
        }
    }

    /// AKey table entries.
    pub fn akey_entries(&self) -> u64 {
        1u64 << (u32::from(self.akey_sz) + 8)
    }
}

/// CXT_CTL (64 B, Table 3-4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CxtCtl {
    pub vl: bool,
    pub qos: u8,
    pub se: bool,
    pub csa: bool,
    pub ds_ring_ptr: u64,
    /// Ring size in 64-byte entries.
    pub ds_ring_sz: u32,
    /// CXT_STS address as written, including bits 3:0 (must be zero: 16-byte alignment).
    pub cxt_sts_ptr: u64,
    /// Write_Index address as written, including bits 2:0 (must be zero: 8-byte alignment).
    pub write_index_ptr: u64,
    /// Bit 1, bytes 12..16 and 32..64 are zero.
    pub reserved_ok: bool,
}

impl CxtCtl {
    pub const BYTES: u64 = 64;

    pub fn decode(raw: &[u8; 64]) -> CxtCtl {
        CxtCtl {
            vl: bits(raw, 0, 0) != 0,
            qos: bits(raw, 2, 3) as u8,
            se: bits(raw, 4, 4) != 0,
            csa: bits(raw, 5, 5) != 0,
            ds_ring_ptr: bits(raw, 6, 63) << 6,
            ds_ring_sz: bits(raw, 64, 95) as u32,
            cxt_sts_ptr: le64(raw, 16),
            write_index_ptr: le64(raw, 24),
            reserved_ok: zero(raw, 1, 1) && zero(raw, 96, 127) && zero(raw, 256, 511),
        }
    }
}

/// CXT_STS (16 B, Table 3-5): state in byte 0 bits 3:0, read_index at bytes 8..16.
pub mod cxt_sts {
    pub const BYTES: u64 = 16;
    pub const READ_INDEX: u64 = 8;
    /// Table 3-6 state values.
    pub const STOP_SW: u8 = 0x0;
    pub const RUN: u8 = 0x1;
    pub const STOPG_SW: u8 = 0x2;
    pub const STOP_FN: u8 = 0x4;
    pub const STOPG_FN: u8 = 0x6;
    pub const ERR_FN: u8 = 0xF;
}

/// AKEY_ENT (16 B, Table 3-7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AkeyEnt {
    pub vl: bool,
    pub iv: bool,
    pub pv: bool,
    pub intr_num: u16,
    pub tgt_sfunc: u16,
    pub pasid: u32,
    pub stag: u16,
    pub rkey: u16,
    /// Bits 3, 15, 31:29 of bytes 4..8 (pr/ph), bytes 10..12 and 14..16 are zero.
    pub reserved_ok: bool,
}

impl AkeyEnt {
    pub const BYTES: u64 = 16;

    pub fn decode(raw: &[u8; 16]) -> AkeyEnt {
        AkeyEnt {
            vl: bits(raw, 0, 0) != 0,
            iv: bits(raw, 1, 1) != 0,
            pv: bits(raw, 2, 2) != 0,
            intr_num: bits(raw, 4, 14) as u16,
            tgt_sfunc: bits(raw, 16, 31) as u16,
            pasid: bits(raw, 32, 51) as u32,
            stag: bits(raw, 64, 79) as u16,
            rkey: bits(raw, 96, 111) as u16,
            reserved_ok: zero(raw, 3, 3)
                && zero(raw, 15, 15)
                && zero(raw, 52, 63)
                && zero(raw, 80, 95)
                && zero(raw, 112, 127),
        }
    }
}

/// CST_BLK (32 B): signal u64 at 0, flags u32 at 8 with bit 31 = er.
pub mod cst_blk {
    pub const BYTES: u64 = 32;
    pub const FLAGS: u64 = 8;
    pub const ER: u32 = 1 << 31;
}

/// Error-log entry size (ERRLOG_HD_ENT), bytes.
pub const ERRLOG_ENTRY_BYTES: u64 = 64;
/// ERRLOG_HD_ENT type field value.
pub const ERRLOG_TYPE: u64 = 0x7F7;

/// One ERRLOG_HD_ENT (§4.2): what failed, where, and how the function reacted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErrLogEntry {
    /// Processing step (1 internal, 2 CXT_L2, 3 CXT_L1, 4 CXT_CTL, 5 CXT_STS, 6 Write_Index,
    /// 7 descriptor, 8 CST_BLK, 10 data buffer, 11 AKey).
    pub step: u8,
    /// 0 other, 1 address translation, 2 data access, 3 data validation.
    pub sub_step: u8,
    /// Reaction: 0 informative, 1 context stopped, 2 function stopped.
    pub re: u8,
    pub cxt_num: Option<u16>,
    pub dsc_index: Option<u64>,
    /// Which buffer of the descriptor (model: 0 = addr0/source, 1 = addr1/destination).
    pub buf: Option<u8>,
    pub err_class: u16,
    /// vendor\[0\]: the model's check number ([`crate::sdxi::errlog::Check`]).
    pub vendor0: u32,
}

impl ErrLogEntry {
    /// The 64 bytes with vl = 1.
    pub fn encode(&self) -> [u8; 64] {
        let mut r = [0u8; 64];
        set_bits(&mut r, 0, 0, 1);
        set_bits(&mut r, 8, 13, u64::from(self.step));
        set_bits(&mut r, 16, 26, ERRLOG_TYPE);
        set_bits(&mut r, 32, 32, u64::from(self.cxt_num.is_some()));
        set_bits(&mut r, 33, 33, u64::from(self.dsc_index.is_some()));
        set_bits(&mut r, 34, 34, u64::from(self.buf.is_some()));
        set_bits(&mut r, 36, 38, u64::from(self.buf.unwrap_or(0)));
        set_bits(&mut r, 40, 43, u64::from(self.sub_step));
        set_bits(&mut r, 44, 46, u64::from(self.re));
        set_bits(&mut r, 48, 63, u64::from(self.cxt_num.unwrap_or(0)));
        set_bits(&mut r, 64, 127, self.dsc_index.unwrap_or(0));
        set_bits(&mut r, 352, 367, u64::from(self.err_class));
        set_bits(&mut r, 384, 415, u64::from(self.vendor0));
        r
    }

    /// Decodes an entry; None unless vl = 1 and type = 0x7F7 (what a driver accepts, §7.2).
    pub fn decode(r: &[u8; 64]) -> Option<ErrLogEntry> {
        if bits(r, 0, 0) == 0 || bits(r, 16, 26) != ERRLOG_TYPE {
            return None;
        }
        let flag = |b| bits(r, b, b) != 0;
        Some(ErrLogEntry {
            step: bits(r, 8, 13) as u8,
            sub_step: bits(r, 40, 43) as u8,
            re: bits(r, 44, 46) as u8,
            cxt_num: flag(32).then(|| bits(r, 48, 63) as u16),
            dsc_index: flag(33).then(|| bits(r, 64, 127)),
            buf: flag(34).then(|| bits(r, 36, 38) as u8),
            err_class: bits(r, 352, 367) as u16,
            vendor0: bits(r, 384, 415) as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_helpers() {
        let mut r = [0u8; 16];
        set_bits(&mut r, 4, 11, 0xab);
        assert_eq!(r[0], 0xb0);
        assert_eq!(r[1], 0x0a);
        assert_eq!(bits(&r, 4, 11), 0xab);
        set_bits(&mut r, 64, 127, u64::MAX);
        assert_eq!(bits(&r, 64, 127), u64::MAX);
        assert!(zero(&r, 12, 63) && !zero(&r, 11, 63));
    }

    #[test]
    fn l2_entry_fields() {
        let e = L2Ent::decode(&0x0012_3000_0000_1001u64.to_le_bytes());
        assert!(e.vl && e.reserved_ok);
        assert_eq!(e.l1_ptr, 0x0012_3000_0000_1000);
        assert!(!L2Ent::decode(&0x1003u64.to_le_bytes()).reserved_ok);
    }

    #[test]
    fn l1_entry_fields_at_table_3_3_offsets() {
        let mut r = [0u8; 32];
        r[0..8].copy_from_slice(&(0x4_0040u64 | 0b011).to_le_bytes()); // vl, ka, ptr
        r[8..16].copy_from_slice(&(0x9_0000u64 | 2).to_le_bytes()); // akey_ptr, akey_sz 2
        r[16..20].copy_from_slice(&((11u32 << 20) | 0x12345).to_le_bytes());
        r[20..24].copy_from_slice(&6u32.to_le_bytes());
        let e = L1Ent::decode(&r);
        assert!(e.vl && e.ka && !e.pv && e.reserved_ok);
        assert_eq!(
            (e.cxt_ctl_ptr, e.akey_ptr, e.akey_sz, e.akey_entries()),
            (0x4_0040, 0x9_0000, 2, 1024)
        );
        assert_eq!((e.cxt_pasid, e.max_buffer, e.opb_000_enb), (0x12345, 11, 6));
        r[24] = 1;
        assert!(!L1Ent::decode(&r).reserved_ok);
    }

    #[test]
    fn cxt_ctl_fields_at_table_3_4_offsets() {
        let mut r = [0u8; 64];
        r[0..8].copy_from_slice(&(0x20_0000u64 | 0b11_0001).to_le_bytes());
        r[8..12].copy_from_slice(&1024u32.to_le_bytes());
        r[16..24].copy_from_slice(&0x3000u64.to_le_bytes());
        r[24..32].copy_from_slice(&0x3010u64.to_le_bytes());
        let c = CxtCtl::decode(&r);
        assert!(c.vl && c.se && c.csa && c.reserved_ok);
        assert_eq!(
            (
                c.ds_ring_ptr,
                c.ds_ring_sz,
                c.cxt_sts_ptr,
                c.write_index_ptr
            ),
            (0x20_0000, 1024, 0x3000, 0x3010)
        );
        r[40] = 0x80;
        assert!(!CxtCtl::decode(&r).reserved_ok);
    }

    #[test]
    fn errlog_entry_round_trip_and_bit_positions() {
        let e = ErrLogEntry {
            step: 10,
            sub_step: 1,
            re: 1,
            cxt_num: Some(3),
            dsc_index: Some(0x1_0000_0005),
            buf: Some(1),
            err_class: 0x13,
            vendor0: 31,
        };
        let r = e.encode();
        assert_eq!(bits(&r, 16, 26), 0x7F7);
        assert_eq!(bits(&r, 8, 13), 10);
        assert_eq!(bits(&r, 48, 63), 3);
        assert_eq!(bits(&r, 32, 34), 0b111);
        assert_eq!(bits(&r, 44, 46), 1);
        assert_eq!(ErrLogEntry::decode(&r), Some(e));
        assert_eq!(ErrLogEntry::decode(&[0; 64]), None);
    }
}
