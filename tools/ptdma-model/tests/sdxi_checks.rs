//! Every validity check of sdxi-facts §9.2 on the function and its context tables, one test
//! each: the failing structure is reported through the error log with the step/sub_step of
//! §7.3, the reaction (context or function stopped) and the model's check number in vendor[0].
//! Descriptor checks are in `sdxi_checks_desc.rs`.

mod sdxi_fixture;

use ptdma_model::sdxi::desc::encode_nop;
use ptdma_model::sdxi::errlog::Check;
use ptdma_model::sdxi::regs::off;
use ptdma_model::sdxi::ring::Outcome;
use sdxi_fixture::*;

// ---- function level (activation) ----

#[test]
fn ctl2_above_cap1() {
    let e = activation_fails(|fx| {
        let ctl2 = fx.reg(off::CTL2);
        fx.set_reg(off::CTL2, ctl2 + (1 << 16)); // max_cxt + 1
    });
    expect(e, Check::Ctl2ExceedsCap, 1, 0, 2, 0);
}

#[test]
fn bus_master_off_at_activation() {
    let e = activation_fails(|fx| {
        fx.core
            .shared
            .master
            .store(false, std::sync::atomic::Ordering::SeqCst);
    });
    expect(e, Check::NoBusMaster, 2, 2, 2, 0);
}

#[test]
fn l2_pointer_misaligned() {
    let e = activation_fails(|fx| fx.set_reg(off::CXT_L2, L2 | 0x40));
    expect(e, Check::L2Register, 2, 1, 2, 0);
}

#[test]
fn l2_table_outside_ram() {
    let e = activation_fails(|fx| fx.set_reg(off::CXT_L2, FAR));
    expect(e, Check::L2TableOutsideRam, 2, 1, 2, 0);
}

#[test]
fn l2_entry_not_valid() {
    let e = activation_fails(|fx| fx.w64(L2, L1));
    expect(e, Check::L2EntryInvalid, 2, 3, 2, 0);
}

#[test]
fn l2_entry_reserved_bits() {
    let e = activation_fails(|fx| fx.w64(L2, L1 | 0x101));
    expect(e, Check::L2EntryReserved, 2, 3, 2, 0);
}

#[test]
fn l1_table_outside_ram() {
    let e = activation_fails(|fx| fx.w64(L2, FAR | 1));
    expect(e, Check::L1TableOutsideRam, 3, 1, 2, 0);
}

#[test]
fn admin_cxt_ctl_not_valid_at_activation() {
    let e = activation_fails(|fx| fx.poke(cxt_ctl(0), &[0x30]));
    expect(e, Check::CxtCtlInvalid, 4, 3, 2, 0);
}

// ---- context tables (walked when a client context starts) ----

fn l1(id: u16) -> u64 {
    L1 + u64::from(id) * 32
}

#[test]
fn l1_entry_not_valid() {
    let e = start_fails(|fx| fx.poke(l1(2), &[0x02]));
    expect(e, Check::L1EntryInvalid, 3, 3, 1, 2);
}

#[test]
fn l1_entry_reserved_bytes() {
    let e = start_fails(|fx| fx.poke(l1(2) + 24, &[1]));
    expect(e, Check::L1EntryReserved, 3, 3, 1, 2);
}

#[test]
fn l1_entry_reserved_bits_5_3() {
    let e = start_fails(|fx| {
        let v = fx.r64(l1(2));
        fx.w64(l1(2), v | 0x08);
    });
    expect(e, Check::L1EntryReserved, 3, 3, 1, 2);
}

#[test]
fn l1_pasid_valid_unsupported() {
    let e = start_fails(|fx| {
        let v = fx.r64(l1(2));
        fx.w64(l1(2), v | 0x04);
    });
    expect(e, Check::L1PasidUnsupported, 3, 3, 1, 2);
}

#[test]
fn l1_akey_table_larger_than_ctl2_allows() {
    let e = start_fails(|fx| fx.w64(l1(2) + 8, AKEYS | 1));
    expect(e, Check::L1AkeySize, 3, 3, 1, 2);
}

#[test]
fn akey_table_outside_ram() {
    let e = start_fails(|fx| fx.w64(l1(2) + 8, RAM as u64));
    expect(e, Check::AkeyTableOutsideRam, 11, 1, 1, 2);
}

#[test]
fn cxt_ctl_outside_ram() {
    let e = start_fails(|fx| fx.w64(l1(2), FAR | 0b11));
    expect(e, Check::CxtCtlOutsideRam, 4, 1, 1, 2);
}

#[test]
fn cxt_ctl_not_valid() {
    let e = start_fails(|fx| {
        let v = fx.r64(cxt_ctl(2));
        fx.w64(cxt_ctl(2), v & !1);
    });
    expect(e, Check::CxtCtlInvalid, 4, 3, 1, 2);
}

#[test]
fn cxt_ctl_reserved_bytes() {
    let e = start_fails(|fx| fx.poke(cxt_ctl(2) + 40, &[0x80]));
    expect(e, Check::CxtCtlReserved, 4, 3, 1, 2);
}

#[test]
fn ring_smaller_than_1024_entries() {
    let e = start_fails(|fx| fx.poke(cxt_ctl(2) + 8, &512u32.to_le_bytes()));
    expect(e, Check::RingSize, 4, 3, 1, 2);
}

#[test]
fn ring_larger_than_cap0_allows() {
    let e = start_fails(|fx| fx.poke(cxt_ctl(2) + 8, &8192u32.to_le_bytes()));
    expect(e, Check::RingSize, 4, 3, 1, 2);
}

#[test]
fn ring_outside_ram() {
    let e = start_fails(|fx| fx.w64(cxt_ctl(2), (RAM as u64 - 0x8000) | 1));
    expect(e, Check::RingOutsideRam, 4, 1, 1, 2);
}

#[test]
fn cxt_sts_misaligned() {
    let e = start_fails(|fx| fx.w64(cxt_ctl(2) + 16, cxt_sts(2) + 8));
    expect(e, Check::CxtStsMisaligned, 5, 3, 1, 2);
}

#[test]
fn cxt_sts_outside_ram() {
    let e = start_fails(|fx| fx.w64(cxt_ctl(2) + 16, FAR));
    expect(e, Check::CxtStsOutsideRam, 5, 1, 1, 2);
}

#[test]
fn write_index_misaligned() {
    let e = start_fails(|fx| fx.w64(cxt_ctl(2) + 24, write_index(2) + 4));
    expect(e, Check::WriteIndexMisaligned, 6, 3, 1, 2);
}

#[test]
fn write_index_outside_ram() {
    let e = start_fails(|fx| fx.w64(cxt_ctl(2) + 24, FAR));
    expect(e, Check::WriteIndexOutsideRam, 6, 1, 1, 2);
}

#[test]
fn tables_broken_after_start_stop_the_context_on_its_doorbell() {
    let fx = ready();
    fx.w64(L2, L1 | 0x201);
    fx.submit(1, &[encode_nop(false, None)]);
    assert_eq!(fx.core.service(1, true), Outcome::Error);
    expect(one(&fx), Check::L2EntryReserved, 2, 3, 1, 1);
    assert_eq!(fx.state(1), 0xf);
}

// ---- indexes ----

#[test]
fn read_index_above_write_index() {
    let fx = ready();
    fx.w64(cxt_sts(1) + 8, 5);
    fx.w64(write_index(1), 3);
    fx.core.doorbell(1, 3);
    assert_eq!(fx.core.service(1, true), Outcome::Error);
    expect(one(&fx), Check::IndexCorrupt, 6, 3, 1, 1);
}

#[test]
fn write_index_more_than_a_ring_ahead() {
    let fx = ready();
    fx.w64(write_index(1), u64::from(RING_ENTRIES) + 1);
    fx.core.doorbell(1, 0);
    assert_eq!(fx.core.service(1, true), Outcome::Error);
    expect(one(&fx), Check::IndexCorrupt, 6, 3, 1, 1);
}

#[test]
fn full_ring_is_not_an_error() {
    let fx = ready();
    let nops: Vec<_> = (0..RING_ENTRIES).map(|_| encode_nop(false, None)).collect();
    fx.submit(1, &nops);
    assert_eq!(fx.core.service(1, true), Outcome::Idle);
    assert_eq!(fx.read_index(1), u64::from(RING_ENTRIES));
    assert!(fx.errlog().is_empty());
}
