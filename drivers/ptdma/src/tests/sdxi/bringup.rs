//! Function activation (facts §6.1) and client context start (§6.2) against the fake.

use super::*;
use crate::sdxi::context::{CXT_CTL_OFF, CXT_STS_OFF};
use crate::sdxi::desc::ContextState;
use crate::sdxi::fake::SdxiAccess;
use crate::sdxi::regs::{self, FunctionState};
use crate::sdxi::{BringUpError, SdxiError};
use crate::PtdmaError;

fn writes(log: &[SdxiAccess]) -> Vec<(u8, usize, u64)> {
    log.iter()
        .filter(|a| a.write)
        .map(|a| (a.bar, a.offset, a.value))
        .collect()
}

#[test]
fn activation_writes_registers_in_spec_order() {
    let mem = FakePhys::new(MEM);
    let dev = FakeSdxi::new(&mem);
    let f = activate(&mem, &dev);
    let log = dev.log();
    assert!(
        log.iter().all(|a| a.size == 8),
        "every access is one 8-byte access"
    );
    let l1 = TABLES + 0x1000;
    let w = writes(&log);
    // CTL0 reads 0 = RESET request in a fresh function: no PASID bits to clear, so the
    // first write is CTL2, after VERSION, CAP0 and CAP1 were read.
    assert_eq!(
        w,
        vec![
            (
                0,
                regs::CTL2,
                crate::sdxi::fake::FAKE_CAP1 & 0xFFFF_FFFF_FFFF_F00F
            ),
            (0, regs::CXT_L2, TABLES),
            (0, regs::ERR_CFG, 0),
            (0, regs::ERR_STS, 0b1011),
            (0, regs::ERR_CTL, 0),
            (0, regs::ERR_WRT, 0),
            (0, regs::ERR_RD, 0),
            (0, regs::ERR_CFG, (TABLES + 0x2000) | 2 | 1),
            (0, regs::CTL0, 3),
            (2, 0, 0),
        ],
        "CTL2, L2 pointer, error log (§7.1), ACTIVE, admin jump start"
    );
    let reads: Vec<usize> = log.iter().filter(|a| !a.write).map(|a| a.offset).collect();
    let first_write = log.iter().position(|a| a.write).unwrap();
    assert_eq!(
        &reads[..first_write],
        [
            regs::STS0,
            regs::CTL0,
            regs::VERSION,
            regs::CAP0,
            regs::CAP1
        ],
        "state, CTL0, then identity before CTL2"
    );
    assert_eq!(dev.state(), FunctionState::Active);
    // Tables: L2[0] → L1 | vl; L1[0] → admin CXT_CTL | ka | vl; admin CXT_STS = RUN by SW.
    assert_eq!(mem.read64(TABLES), l1 | 1);
    assert_eq!(mem.read64(l1), (ADMIN + CXT_CTL_OFF as u64) | 0b11);
    assert_eq!(mem.read64(l1 + 8), ADMIN + 0x11000, "admin AKey table");
    assert_eq!(mem.read64(ADMIN + CXT_STS_OFF as u64) & 0xF, 1);
    assert_eq!(
        mem.read64(ADMIN + CXT_CTL_OFF as u64),
        ADMIN | 0x31,
        "ring | csa | se | vl"
    );
    assert_eq!(mem.read64(ADMIN + CXT_CTL_OFF as u64 + 8), 1024);
    assert_eq!(f.lock().version(), (1, 0));
}

#[test]
fn activation_stops_an_active_function_first_and_resets_an_errored_one() {
    let mem = FakePhys::new(MEM);
    let dev = FakeSdxi::new(&mem);
    let _f = activate(&mem, &dev);
    dev.clear_log();
    let _g = activate(&mem, &dev);
    let w = writes(&dev.log());
    assert_eq!(w[0], (0, regs::CTL0, 1), "soft stop requested first");
    assert_eq!(dev.state(), FunctionState::Active);
    dev.force_function_error();
    dev.clear_log();
    let _h = activate(&mem, &dev);
    assert_eq!(
        writes(&dev.log())[0],
        (0, regs::CTL0, 0),
        "RESET out of ERROR first"
    );
    assert_eq!(dev.state(), FunctionState::Active);
}

#[test]
fn activation_clears_pasid_fields_but_keeps_the_group_id() {
    let mem = FakePhys::new(MEM);
    let dev = FakeSdxi::new(&mem);
    dev.set_reg(regs::CTL0, (7 << 32) | (0x55 << 8) | 0b10100);
    let _f = activate(&mem, &dev);
    assert_eq!(dev.reg(regs::CTL0), (7 << 32) | 3);
}

#[test]
fn bring_up_refusals() {
    let mem = FakePhys::new(MEM);
    let dev = FakeSdxi::new(&mem);
    let try_activate = |dev: &FakeSdxi<'_>| {
        SdxiFunction::activate(
            dev.bar0(),
            dev.bar2(),
            mem.region(TABLES, 0x3000),
            mem.region(ADMIN, 0x12000),
            FunctionConfig {
                spins: 100,
                ..FunctionConfig::default()
            },
        )
        .map(|_| ())
    };
    let bring = |e| {
        Err(PtdmaError::Sdxi {
            error: SdxiError::BringUp(e),
            progress: None,
        })
    };
    dev.set_reg(regs::VERSION, 2 << 16 | 1);
    assert_eq!(
        try_activate(&dev),
        bring(BringUpError::Version { major: 2, minor: 1 })
    );
    dev.set_reg(regs::VERSION, 1 << 16);
    dev.set_reg(regs::CAP0, 0);
    assert_eq!(try_activate(&dev), Ok(()), "1024 entries is enough");
    let small = SdxiFunction::activate(
        dev.bar0(),
        dev.bar2(),
        mem.region(TABLES + 4, 0x3000),
        mem.region(ADMIN, 0x12000),
        FunctionConfig::default(),
    );
    assert_eq!(
        small.map(|_| ()),
        bring(BringUpError::Memory),
        "tables not 4 KiB aligned"
    );
    let mut faults = dev.faults.get();
    faults.gone = true;
    dev.faults.set(faults);
    assert_eq!(try_activate(&dev), Err(PtdmaError::DeviceGone));
}

#[test]
fn client_context_is_published_then_started_through_the_admin_ring() {
    let mem = FakePhys::new(MEM);
    let dev = FakeSdxi::new(&mem);
    let f = activate(&mem, &dev);
    dev.clear_log();
    let ch = open(&mem, &dev, &f, 1);
    let l1 = TABLES + 0x1000;
    assert_eq!(mem.read64(l1 + 32), (client(1) + CXT_CTL_OFF as u64) | 0b11);
    assert_eq!(
        mem.read64(l1 + 48) >> 32,
        0b110,
        "opb_000_enb = CAP1 groups"
    );
    assert_eq!((mem.read64(l1 + 48) >> 20) & 0xF, 11, "max_buffer");
    assert_eq!(mem.read64(client(1) + 0x11000), 1, "AKey 0 valid");
    // One admin descriptor (CXT_START [1,1] with the CST_BLK), one admin doorbell.
    let admin_start = Descriptor::cxt_start(1, 1, Some(ADMIN + 0x10100));
    assert_eq!(mem.read64(ADMIN), admin_start.0[0]);
    assert_eq!(mem.read64(ADMIN + 8), admin_start.0[1]);
    assert_eq!(mem.read64(ADMIN + 56), ADMIN + 0x10100);
    assert_eq!(mem.read64(ADMIN + 0x10080), 1, "admin Write_Index");
    assert_eq!(
        writes(&dev.log()),
        vec![(2, 0, 1)],
        "only the admin doorbell"
    );
    assert_eq!(ch.context().state(), ContextState::Run);
    assert_eq!(ch.context_id(), 1);
}

use crate::sdxi::desc::Descriptor;

#[test]
fn context_ids_are_bounded_by_caps_and_the_doorbell_bar() {
    let mem = FakePhys::new(MEM);
    let dev = FakeSdxi::new(&mem);
    let f = activate(&mem, &dev);
    // 8 KiB doorbell BAR at 4 KiB stride: contexts 0 and 1 only.
    assert_eq!(f.lock().max_context(), 1);
    let r = SdxiChannel::open(
        f.clone(),
        2,
        dev.bar0(),
        dev.bar2(),
        mem.region(client(2), 0x12000),
        ChannelConfig::default(),
    );
    assert_eq!(
        r.map(|_| ()),
        Err(PtdmaError::Sdxi {
            error: SdxiError::BringUp(BringUpError::NoSuchContext(2)),
            progress: None
        })
    );
    let r0 = SdxiChannel::open(
        f.clone(),
        0,
        dev.bar0(),
        dev.bar2(),
        mem.region(client(1), 0x12000),
        ChannelConfig::default(),
    );
    assert!(r0.is_err(), "context 0 is the admin context");
}
