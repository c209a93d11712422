//! SDXI MMIO register map of BAR 0 and the field codecs (`sdxi-facts.md` §2, spec §9.1–§9.3).
//! Every register is 64-bit and accessed with one 8-byte access.

/// MMIO_CTL0: function state request and function-level PASID / error-interrupt enables.
pub const CTL0: usize = 0x00000;
/// MMIO_CTL2: limits software chooses (copies of CAP1).
pub const CTL2: usize = 0x00010;
/// MMIO_STS0: function state value.
pub const STS0: usize = 0x00100;
/// MMIO_CAP0: doorbell stride, maximum ring size, function id.
pub const CAP0: usize = 0x00200;
/// MMIO_CAP1: maximum context, buffer, AKey sizes and the operation groups supported.
pub const CAP1: usize = 0x00208;
/// MMIO_VERSION: minor 7:0, major 23:16.
pub const VERSION: usize = 0x00210;
/// MMIO_CXT_L2: 4 KiB-aligned address of the context L2 table.
pub const CXT_L2: usize = 0x10000;
/// MMIO_ERR_CTL: bit 0 enables the error-log interrupt (vector 0).
pub const ERR_CTL: usize = 0x20000;
/// MMIO_ERR_STS: sts 0 / ovf 1 / err 3, write 1 to clear.
pub const ERR_STS: usize = 0x20008;
/// MMIO_ERR_CFG: en 0, sz 5:1, ptr 63:12.
pub const ERR_CFG: usize = 0x20010;
/// MMIO_ERR_WRT: free-running producer index of the error log (the function advances it).
pub const ERR_WRT: usize = 0x20020;
/// MMIO_ERR_RD: free-running consumer index of the error log (software advances it).
pub const ERR_RD: usize = 0x20028;
/// Smallest BAR 0 that holds every register above.
pub const BAR0_MIN: u64 = 0x20030;

/// CTL0 bits 1:0 / CTL0.fn_gsr: the function state software requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum StateRequest {
    /// 0: reset (leaves ERROR).
    Reset = 0,
    /// 1: soft stop (finish in-flight work).
    StopSoft = 1,
    /// 2: hard stop.
    StopHard = 2,
    /// 3: activate.
    Active = 3,
}

/// CTL0 bits 1:0.
pub const CTL0_GSR_MASK: u64 = 0b11;
/// CTL0 bits 31:2: fn_pasid_vl, fn_err_intr_en, fn_pasid, pr — cleared at bring-up (fn_grp_id
/// 63:32 is kept, as AMD's v3 driver does).
pub const CTL0_CLEAR_AT_INIT: u64 = 0xFFFF_FFFC;

/// STS0 bits 2:0 / STS0.fn_gsv: the function state the function reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunctionState {
    /// 0: stopped.
    Stop,
    /// 1: initializing (transitional).
    Init,
    /// 2: active.
    Active,
    /// 3: soft-stopping (transitional).
    StoppingSoft,
    /// 4: hard-stopping (transitional).
    StoppingHard,
    /// 5: error.
    Error,
    /// 6, 7: unarchitected.
    Other(u8),
}

impl FunctionState {
    /// Decodes STS0.
    pub fn from_sts0(sts0: u64) -> Self {
        match (sts0 & 7) as u8 {
            0 => Self::Stop,
            1 => Self::Init,
            2 => Self::Active,
            3 => Self::StoppingSoft,
            4 => Self::StoppingHard,
            5 => Self::Error,
            v => Self::Other(v),
        }
    }
}

/// Decoded CAP0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cap0 {
    /// This function's id in its group (15:0).
    pub sfunc: u16,
    /// Doorbell stride in bytes: 4 KiB << field 22:20.
    pub db_stride: u64,
    /// Largest ring in 64-byte entries: 1024 << field 28:24.
    pub max_ring_entries: u64,
}

impl Cap0 {
    /// Decodes CAP0.
    pub fn decode(v: u64) -> Self {
        Self {
            sfunc: v as u16,
            db_stride: 4096 << ((v >> 20) & 7),
            max_ring_entries: 1024 << ((v >> 24) & 0x1F),
        }
    }
}

/// Decoded CAP1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cap1 {
    /// max_buffer code (3:0): 2^(code + 21) bytes per descriptor (encoding UNSURE).
    pub max_buffer: u8,
    /// max_akey_sz code (15:12): 256 << code AKey entries.
    pub max_akey_sz: u8,
    /// Highest context id (31:16).
    pub max_cxt: u16,
    /// Operation groups supported (63:32).
    pub opb_000_cap: u32,
}

impl Cap1 {
    /// Decodes CAP1.
    pub fn decode(v: u64) -> Self {
        Self {
            max_buffer: (v & 0xF) as u8,
            max_akey_sz: ((v >> 12) & 0xF) as u8,
            max_cxt: (v >> 16) as u16,
            opb_000_cap: (v >> 32) as u32,
        }
    }

    /// CTL2 with every limit copied from CAP1 (what Linux writes): max_buffer 3:0,
    /// max_akey_sz 15:12, max_cxt 31:16, opb_000_avl 63:32.
    pub fn ctl2(&self) -> u64 {
        u64::from(self.max_buffer)
            | (u64::from(self.max_akey_sz) << 12)
            | (u64::from(self.max_cxt) << 16)
            | (u64::from(self.opb_000_cap) << 32)
    }
}

/// ERR_STS.sts: an error was logged.
pub const ERR_STS_STS: u64 = 1 << 0;
/// ERR_STS.ovf: the log overflowed (entries lost).
pub const ERR_STS_OVF: u64 = 1 << 1;
/// ERR_STS.err: logging itself failed (the log is unusable).
pub const ERR_STS_ERR: u64 = 1 << 3;

/// ERR_CFG for a log at `ptr` (4 KiB aligned) of `entries` (a multiple of 64) entries:
/// en = 1, sz = entries / 64 (Linux writes 1 for the 64-entry minimum; the general
/// encoding is UNSURE, facts §2.1).
pub fn err_cfg(ptr: u64, entries: u64) -> u64 {
    (ptr & !0xFFF) | ((entries / 64) << 1) | 1
}

/// VERSION major (23:16) and minor (7:0).
pub fn version(v: u64) -> (u8, u8) {
    ((v >> 16) as u8, v as u8)
}
