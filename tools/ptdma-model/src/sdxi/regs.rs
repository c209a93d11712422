//! SDXI MMIO register file in BAR0 (sdxi-facts §2, §9.1) and the doorbell layout of BAR2 (§3).
//! All registers are 64-bit; 4-byte accesses reach either half. This file holds storage and
//! write masks only; the state machine that reacts to MMIO_CTL0 lives in `core.rs`.

/// BAR0 size: the registers reach 0x2002F.
pub const BAR0_SIZE: u32 = 256 << 10;
/// Doorbell stride (CAP0.db_stride = 0 → 4 KiB).
pub const DB_STRIDE: u64 = 4096;

/// Register offsets in BAR0.
pub mod off {
    pub const CTL0: u64 = 0x00000;
    pub const CTL2: u64 = 0x00010;
    pub const STS0: u64 = 0x00100;
    pub const CAP0: u64 = 0x00200;
    pub const CAP1: u64 = 0x00208;
    pub const VERSION: u64 = 0x00210;
    pub const CXT_L2: u64 = 0x10000;
    pub const RKEY: u64 = 0x10100;
    pub const ERR_CTL: u64 = 0x20000;
    pub const ERR_STS: u64 = 0x20008;
    pub const ERR_CFG: u64 = 0x20010;
    pub const ERR_WRT: u64 = 0x20020;
    pub const ERR_RD: u64 = 0x20028;
}

/// Name of the register at a 4-byte-aligned offset (for the MMIO counters).
pub fn name(o: u64) -> &'static str {
    match o & !7 {
        off::CTL0 => "CTL0",
        off::CTL2 => "CTL2",
        off::STS0 => "STS0",
        off::CAP0 => "CAP0",
        off::CAP1 => "CAP1",
        off::VERSION => "VERSION",
        off::CXT_L2 => "CXT_L2",
        off::RKEY => "RKEY",
        off::ERR_CTL => "ERR_CTL",
        off::ERR_STS => "ERR_STS",
        off::ERR_CFG => "ERR_CFG",
        off::ERR_WRT => "ERR_WRT",
        off::ERR_RD => "ERR_RD",
        _ => "OTHER",
    }
}

/// MMIO_CTL0.fn_gsr: the requested function state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gsr {
    Reset = 0,
    StopSoft = 1,
    StopHard = 2,
    Active = 3,
}

impl Gsr {
    pub fn of(ctl0: u64) -> Gsr {
        match ctl0 & 3 {
            0 => Gsr::Reset,
            1 => Gsr::StopSoft,
            2 => Gsr::StopHard,
            _ => Gsr::Active,
        }
    }
}

/// MMIO_STS0.fn_gsv: the function state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gsv {
    Stop = 0,
    Init = 1,
    Active = 2,
    StoppingSoft = 3,
    StoppingHard = 4,
    Error = 5,
}

/// CTL0 bits software may set: gsr 1:0, fn_pasid_vl 2, fn_err_intr_en 4, fn_pasid 27:8,
/// fn_grp_id 63:32. Bits 3, 7:5 and 31:28 are reserved and read 0.
pub const CTL0_WRITABLE: u64 = 0xffff_ffff_0fff_ff17;
/// CTL2 fields: max_buffer 3:0, max_akey_sz 15:12, max_cxt 31:16, opb_000_avl 63:32.
pub const CTL2_WRITABLE: u64 = 0xffff_ffff_ffff_f00f;
/// ERR_CTL.en.
pub const ERR_CTL_WRITABLE: u64 = 1;
/// ERR_STS bits (RW1C): sts 0, ovf 1, err 3.
pub mod err_sts {
    pub const STS: u64 = 1 << 0;
    pub const OVF: u64 = 1 << 1;
    pub const ERR: u64 = 1 << 3;
    pub const ALL: u64 = STS | OVF | ERR;
}

/// CAP0.max_ds_ring_sz: rings up to 1024 << 2 = 4096 entries (model choice).
pub const CAP0_MAX_DS_RING_SZ: u64 = 2;
/// Largest ring the function accepts, 64-byte entries.
pub const MAX_RING_ENTRIES: u64 = 1024 << CAP0_MAX_DS_RING_SZ;
/// Smallest ring (Table 3-1: 64 KiB).
pub const MIN_RING_ENTRIES: u64 = 1024;
/// CAP1.max_buffer: 2^(11+21) = 4 GiB per descriptor.
pub const CAP1_MAX_BUFFER: u64 = 11;
/// CAP1.max_akey_sz: 256 AKey entries (4 KiB table).
pub const CAP1_MAX_AKEY_SZ: u64 = 0;
/// Operation groups offered (CAP1.opb_000_cap). Bit n = group type n is the facts' plausible
/// mapping (UNSURE, §9.3 item 6): DmaBaseGrp (1) and AdminGrp (2).
pub const OPB_CAP: u32 = (1 << super::desc::group::DMAB) | (1 << super::desc::group::ADMIN);
/// MMIO_VERSION: 1.0 (major in 23:16, minor in 7:0).
pub const VERSION_1_0: u64 = 1 << 16;

/// CAP0: sfunc 0, db_stride 0 (4 KiB), max_ds_ring_sz.
pub fn cap0() -> u64 {
    CAP0_MAX_DS_RING_SZ << 24
}

/// CAP1 for a function offering contexts 0..=`max_cxt` (rkey_cap 0, error-log size code 0).
pub fn cap1(max_cxt: u16) -> u64 {
    CAP1_MAX_BUFFER
        | (CAP1_MAX_AKEY_SZ << 12)
        | (u64::from(max_cxt) << 16)
        | (u64::from(OPB_CAP) << 32)
}

/// CTL2 fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ctl2 {
    pub max_buffer: u8,
    pub max_akey_sz: u8,
    pub max_cxt: u16,
    pub opb_000_avl: u32,
}

impl Ctl2 {
    pub fn of(v: u64) -> Ctl2 {
        Ctl2 {
            max_buffer: (v & 0xf) as u8,
            max_akey_sz: ((v >> 12) & 0xf) as u8,
            max_cxt: (v >> 16) as u16,
            opb_000_avl: (v >> 32) as u32,
        }
    }
}

/// The software-visible registers of one function.
#[derive(Clone, Debug)]
pub struct Regs {
    pub ctl0: u64,
    pub ctl2: u64,
    pub gsv: Gsv,
    pub cxt_l2: u64,
    pub rkey: u64,
    pub err_ctl: u64,
    pub err_sts: u64,
    pub err_cfg: u64,
    pub err_wrt: u64,
    pub err_rd: u64,
    /// CAP1 (depends on the configured max_cxt).
    pub cap1: u64,
}

impl Regs {
    pub fn new(max_cxt: u16) -> Regs {
        Regs {
            ctl0: 0,
            ctl2: 0,
            gsv: Gsv::Stop,
            cxt_l2: 0,
            rkey: 0,
            err_ctl: 0,
            err_sts: 0,
            err_cfg: 0,
            err_wrt: 0,
            err_rd: 0,
            cap1: cap1(max_cxt),
        }
    }

    /// The 64-bit register at the 8-byte-aligned offset `o` (0 for unknown offsets).
    pub fn read(&self, o: u64) -> u64 {
        match o {
            off::CTL0 => self.ctl0,
            off::CTL2 => self.ctl2,
            off::STS0 => self.gsv as u64,
            off::CAP0 => cap0(),
            off::CAP1 => self.cap1,
            off::VERSION => VERSION_1_0,
            off::CXT_L2 => self.cxt_l2,
            off::RKEY => self.rkey,
            off::ERR_CTL => self.err_ctl,
            off::ERR_STS => self.err_sts,
            off::ERR_CFG => self.err_cfg,
            off::ERR_WRT => self.err_wrt,
            off::ERR_RD => self.err_rd,
            _ => 0,
        }
    }

    /// Stores the bits of `val` selected by `mask` into the register at `o` (8-byte aligned).
    /// CTL0's side effects are the caller's; ERR_STS is write-1-to-clear; RKEY.en cannot be set
    /// (CAP1.rkey_cap = 0); read-only and unknown offsets ignore the write.
    pub fn write(&mut self, o: u64, val: u64, mask: u64) {
        let merge = |old: u64, writable: u64| (old & !(mask & writable)) | (val & mask & writable);
        match o {
            off::CTL0 => self.ctl0 = merge(self.ctl0, CTL0_WRITABLE),
            off::CTL2 => self.ctl2 = merge(self.ctl2, CTL2_WRITABLE),
            off::CXT_L2 => self.cxt_l2 = merge(self.cxt_l2, u64::MAX),
            off::RKEY => self.rkey = merge(self.rkey, !1),
            off::ERR_CTL => self.err_ctl = merge(self.err_ctl, ERR_CTL_WRITABLE),
            off::ERR_STS => self.err_sts &= !(val & mask & err_sts::ALL),
            off::ERR_CFG => self.err_cfg = merge(self.err_cfg, u64::MAX),
            off::ERR_WRT => self.err_wrt = merge(self.err_wrt, u64::MAX),
            off::ERR_RD => self.err_rd = merge(self.err_rd, u64::MAX),
            _ => {}
        }
    }

    pub fn ctl2(&self) -> Ctl2 {
        Ctl2::of(self.ctl2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_and_version() {
        let r = Regs::new(7);
        assert_eq!(r.read(off::VERSION), 0x0001_0000, "1.0");
        assert_eq!((r.read(off::CAP0) >> 20) & 7, 0, "4 KiB doorbell stride");
        assert_eq!(
            (r.read(off::CAP0) >> 24) & 0x1f,
            2,
            "rings up to 4096 entries"
        );
        let c = Ctl2::of(r.read(off::CAP1) & 0xffff_ffff_ffff_f00f);
        assert_eq!((c.max_buffer, c.max_akey_sz, c.max_cxt), (11, 0, 7));
        assert_eq!(c.opb_000_avl, 0b110);
        assert_eq!(r.read(off::CAP1) & (1 << 4), 0, "no RKey table");
    }

    #[test]
    fn masks_rw1c_and_read_only() {
        let mut r = Regs::new(1);
        r.write(off::CTL0, u64::MAX, u64::MAX);
        assert_eq!(
            r.read(off::CTL0),
            CTL0_WRITABLE,
            "reserved CTL0 bits read 0"
        );
        r.write(off::CAP1, 0, u64::MAX);
        assert_eq!(r.read(off::CAP1), cap1(1));
        r.err_sts = err_sts::ALL;
        r.write(off::ERR_STS, err_sts::OVF, 0xffff_ffff);
        assert_eq!(r.read(off::ERR_STS), err_sts::STS | err_sts::ERR);
        r.write(off::CTL2, 0x1234_5678_9abc_def0, 0xffff_ffff_0000_0000);
        assert_eq!(r.read(off::CTL2), 0x1234_5678_0000_0000, "upper half only");
        r.write(off::RKEY, 0x5001, u64::MAX);
        assert_eq!(r.read(off::RKEY), 0x5000, "RKey table cannot be enabled");
    }
}
