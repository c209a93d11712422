//! SDXI in-memory formats as 64-bit little-endian words: the 64-byte descriptors (`sdxi-facts.md`
//! §5, bit offsets as AMD's KUnit test has them from the spec tables), the context-table
//! entries, CXT_CTL and AKey entries (§4.2), and the CST_BLK (§6.4).

/// Bytes per descriptor.
pub const DESC_BYTES: usize = 64;

/// Descriptor bit 0: valid (the publish bit, written last).
pub const VL: u64 = 1 << 0;
/// Descriptor bit 1: sequential hint.
pub const SE: u64 = 1 << 1;
/// Descriptor bit 2: fence (start only after every earlier descriptor of the context completed).
pub const FE: u64 = 1 << 2;
/// Descriptor bit 448 (qword 7 bit 0): no CST_BLK pointer.
pub const NP: u64 = 1 << 0;

/// Operation group DmaBaseGrp (type 26:16).
pub const TYPE_DMAB: u64 = 0x001;
/// Operation group AdminGrp.
pub const TYPE_ADMIN: u64 = 0x002;
/// DSC_DMAB_NOP subtype.
pub const SUB_NOP: u64 = 0x01;
/// DSC_DMAB_COPY subtype.
pub const SUB_COPY: u64 = 0x03;
/// DSC_CXT_START ("NM") subtype.
pub const SUB_CXT_START: u64 = 0x03;
/// DSC_CXT_STOP subtype.
pub const SUB_CXT_STOP: u64 = 0x04;
/// DSC_SYNC subtype.
pub const SUB_SYNC: u64 = 0x06;

/// DSC_SYNC filter (bits 34:32): what to synchronize with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum SyncFilter {
    /// 0: context structures.
    Context = 0,
    /// 1: context stops.
    Stop = 1,
}

/// One 64-byte descriptor as eight little-endian qwords (qword 0 holds vl and is written last).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Descriptor(pub [u64; 8]);

fn opcode(ty: u64, subtype: u64, flags: u64) -> u64 {
    (ty << 16) | (subtype << 8) | flags | VL
}

/// Qword 7 for an optional CST_BLK: `np` = 1 without one, else the 32-byte aligned address
/// (csb_ptr = address >> 5 at bits 511:453, i.e. the address itself with bits 4:0 clear).
fn csb_qword(csb: Option<u64>) -> u64 {
    match csb {
        None => NP,
        Some(a) => a & !0x1F,
    }
}

impl Descriptor {
    /// DSC_DMAB_COPY of `len` bytes (1 ..= 2^32) from `src` to `dst` with AKey 0 on both sides
    /// (facts §5.3): size = len − 1 at 63:32, akey0 111:96, akey1 127:112, addr0 191:128,
    /// addr1 255:192, attrs 0, no CST_BLK unless given.
    ///
    /// # Panics
    /// If `len` is 0 or above 2^32 (the callers split ops first).
    pub fn copy(src: u64, dst: u64, len: u64, csb: Option<u64>) -> Self {
        assert!((1..=1 << 32).contains(&len), "SDXI copy size {len}");
        let mut q = [0u64; 8];
        q[0] = opcode(TYPE_DMAB, SUB_COPY, 0) | ((len - 1) << 32);
        q[2] = src;
        q[3] = dst;
        q[7] = csb_qword(csb);
        Self(q)
    }

    /// DSC_DMAB_NOP, optionally fenced, optionally carrying a CST_BLK (the batch-end marker).
    pub fn nop(fence: bool, csb: Option<u64>) -> Self {
        let mut q = [0u64; 8];
        q[0] = opcode(TYPE_DMAB, SUB_NOP, if fence { FE } else { 0 });
        q[7] = csb_qword(csb);
        Self(q)
    }

    /// DSC_CXT_START (admin, fe = 1 mandatory, dv = 0) for contexts `first..=last`
    /// (cxt_start 79:64, cxt_end 95:80).
    pub fn cxt_start(first: u16, last: u16, csb: Option<u64>) -> Self {
        let mut q = [0u64; 8];
        q[0] = opcode(TYPE_ADMIN, SUB_CXT_START, FE);
        q[1] = u64::from(first) | (u64::from(last) << 16);
        q[7] = csb_qword(csb);
        Self(q)
    }

    /// DSC_CXT_STOP (admin, fe = 1, soft: hs 46 = 0) for contexts `first..=last`.
    pub fn cxt_stop(first: u16, last: u16, csb: Option<u64>) -> Self {
        let mut q = [0u64; 8];
        q[0] = opcode(TYPE_ADMIN, SUB_CXT_STOP, FE);
        q[1] = u64::from(first) | (u64::from(last) << 16);
        q[7] = csb_qword(csb);
        Self(q)
    }

    /// DSC_SYNC (admin, fenced) with filter `flt` (34:32) over contexts `first..=last`.
    pub fn sync(flt: SyncFilter, first: u16, last: u16, csb: Option<u64>) -> Self {
        let mut q = [0u64; 8];
        q[0] = opcode(TYPE_ADMIN, SUB_SYNC, FE) | ((flt as u64) << 32);
        q[1] = u64::from(first) | (u64::from(last) << 16);
        q[7] = csb_qword(csb);
        Self(q)
    }

    /// The field at absolute bits `lo..lo+width` (width ≤ 64, not crossing a qword).
    pub fn bits(&self, lo: usize, width: usize) -> u64 {
        let v = self.0[lo / 64] >> (lo % 64);
        if width == 64 {
            v
        } else {
            v & ((1u64 << width) - 1)
        }
    }
}

/// CXT_L2_ENT: `l1` (4 KiB aligned) | vl.
pub fn l2_entry(l1: u64) -> u64 {
    (l1 & !0xFFF) | 1
}

/// CXT_L1_ENT (32 bytes, qwords 0..4) for a context whose CXT_CTL is at `cxt_ctl` (64-B
/// aligned) and AKey table at `akey` (4 KiB, 256 entries: akey_sz 0), ka = 1, pv = 0,
/// max_buffer 23:20 of dword 4, opb_000_enb in dword 5. Qword 0 carries vl: write it last.
pub fn l1_entry(cxt_ctl: u64, akey: u64, max_buffer: u8, opb: u32) -> [u64; 4] {
    [
        (cxt_ctl & !0x3F) | (1 << 1) | 1,
        akey & !0xFFF,
        (u64::from(max_buffer & 0xF) << 20) | (u64::from(opb) << 32),
        0,
    ]
}

/// CXT_CTL (64 bytes, qwords 0..8): ring at `ring` (64-B aligned) of `entries` 64-byte
/// entries, se = 1, csa = 1, qos 0, CXT_STS at `sts` (16-B aligned), Write_Index at
/// `write_index` (8-B aligned). Qword 0 carries vl: write it last.
pub fn cxt_ctl(ring: u64, entries: u32, sts: u64, write_index: u64) -> [u64; 8] {
    [
        (ring & !0x3F) | (1 << 5) | (1 << 4) | 1,
        u64::from(entries),
        sts & !0xF,
        write_index & !0x7,
        0,
        0,
        0,
        0,
    ]
}

/// AKey entry 0 used by every copy: vl = 1, iv = 0, pv = 0, tgt_sfunc = 0 ("context-default
/// translation": addresses are bus addresses of this function).
pub const AKEY_LOCAL: [u64; 2] = [1, 0];

/// CXT_STS.state (byte 0, bits 3:0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContextState {
    /// 0: stopped by software.
    StopSw,
    /// 1: running.
    Run,
    /// 2: stopping at software's request.
    StoppingSw,
    /// 4: stopped by the function.
    StopFn,
    /// 6: stopping at the function's initiative.
    StoppingFn,
    /// 0xF: error.
    ErrFn,
    /// Anything else.
    Other(u8),
}

impl ContextState {
    /// Decodes CXT_STS qword 0.
    pub fn decode(q0: u64) -> Self {
        match (q0 & 0xF) as u8 {
            0 => Self::StopSw,
            1 => Self::Run,
            2 => Self::StoppingSw,
            4 => Self::StopFn,
            6 => Self::StoppingFn,
            0xF => Self::ErrFn,
            v => Self::Other(v),
        }
    }
    /// The value software writes for [`ContextState::Run`] (admin context at bring-up).
    pub const RUN: u64 = 1;
}

/// CST_BLK flags.er (bit 31 of the dword at byte 8): the descriptor failed.
pub const CSB_ER: u32 = 1 << 31;
/// Bytes per CST_BLK.
pub const CSB_BYTES: usize = 32;
