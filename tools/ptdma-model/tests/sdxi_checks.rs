//! Every validity check of sdxi-facts §9.2, one test each: the failing structure is reported
//! through the error log with the step/sub_step of §7.3, the reaction (context or function
//! stopped) and the model's check number in vendor[0].

mod sdxi_fixture;

use ptdma_model::sdxi::desc::{
    encode_copy, encode_cxt_start, encode_cxt_stop, encode_nop, CxtRange,
};
use ptdma_model::sdxi::errlog::Check;
use ptdma_model::sdxi::layout::ErrLogEntry;
use ptdma_model::sdxi::options::SdxiOptions;
use ptdma_model::sdxi::regs::{off, Gsv};
use ptdma_model::sdxi::ring::Outcome;
use sdxi_fixture::*;

/// Beyond the 16 MiB of guest RAM.
const FAR: u64 = 0x1_0000_0000;

fn one(fx: &Fx) -> ErrLogEntry {
    let e = fx.errlog();
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(fx.reg(off::ERR_STS) & 1, 1, "ERR_STS.sts");
    e[0]
}

fn expect(e: ErrLogEntry, check: Check, step: u8, sub_step: u8, re: u8, cxt: u16) {
    assert_eq!(e.vendor0, check as u32, "{e:?}");
    assert_eq!((e.step, e.sub_step, e.re), (step, sub_step, re), "{e:?}");
    assert_eq!(e.cxt_num, Some(cxt), "{e:?}");
}

/// Activation after `mutate` must end in ERROR with one function-stopped entry.
fn activation_fails(mutate: impl FnOnce(&Fx)) -> ErrLogEntry {
    let fx = Fx::new(SdxiOptions::default(), vec![]);
    fx.prepare();
    mutate(&fx);
    fx.set_reg(off::CTL0, 3);
    assert_eq!(fx.gsv(), Gsv::Error as u64);
    one(&fx)
}

/// Client context 2 built, then `mutate`d, then DSC_CXT_START: the admin descriptor completes
/// with er = 1, the target gets one context-stopped entry, the admin context goes on.
fn start_fails(mutate: impl FnOnce(&Fx)) -> ErrLogEntry {
    let fx = Fx::new(SdxiOptions::default(), vec![]);
    fx.bring_up();
    fx.build_context(2);
    mutate(&fx);
    let c = fx.arm(0, 1);
    fx.submit(
        0,
        &[encode_cxt_start(
            CxtRange { start: 2, end: 2 },
            None,
            Some(c),
        )],
    );
    assert_eq!(fx.core.service(0, true), Outcome::Idle);
    assert_eq!((fx.signal(0), fx.er(0)), (0, true));
    assert!(fx.core.cxt(0).running, "admin context still running");
    let e = one(&fx);
    assert_eq!(e.re, 1);
    e
}

/// Context 1 running; `desc` submitted: it must fail, stopping context 1 (CXTV_ERR_FN) with
/// read_index left on it and an entry naming its ring index.
fn desc_fails(fx: &Fx, desc: [u8; 64]) -> ErrLogEntry {
    fx.submit(1, &[encode_nop(false, None), desc, encode_nop(false, None)]);
    assert_eq!(fx.core.service(1, true), Outcome::Error);
    assert_eq!(fx.state(1), 0xf, "CXTV_ERR_FN");
    assert_eq!(fx.read_index(1), 1);
    let e = one(fx);
    assert_eq!(e.dsc_index, Some(1));
    e
}

fn ready() -> Fx {
    Fx::ready(SdxiOptions::default())
}

fn copy(src: u64, dst: u64, len: u64) -> [u8; 64] {
    encode_copy(src, dst, len, (0, 0), None)
}

fn good_copy() -> [u8; 64] {
    copy(DATA, DATA + 0x10_0000, 256)
}

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

// ---- descriptors ----

#[test]
fn descriptor_reserved_opcode_bits() {
    let fx = ready();
    let e = desc_fails(&fx, with_bits(good_copy(), 6, 6, 1));
    expect(e, Check::DescReserved, 7, 3, 1, 1);
}

#[test]
fn descriptor_reserved_body_bytes() {
    let fx = ready();
    let e = desc_fails(&fx, with_bits(good_copy(), 300, 300, 1));
    expect(e, Check::DescReserved, 7, 3, 1, 1);
}

#[test]
fn descriptor_reserved_bits_before_csb_ptr() {
    let fx = ready();
    let e = desc_fails(&fx, with_bits(encode_nop(false, None), 450, 450, 1));
    expect(e, Check::DescReserved, 7, 3, 1, 1);
}

#[test]
fn nop_body_must_be_zero() {
    let fx = ready();
    let e = desc_fails(&fx, with_bits(encode_nop(false, None), 40, 40, 1));
    expect(e, Check::DescReserved, 7, 3, 1, 1);
}

#[test]
fn unknown_operation_group() {
    let fx = ready();
    let e = desc_fails(&fx, with_bits(encode_nop(false, None), 16, 26, 0x003));
    expect(e, Check::DescUnknownOp, 7, 3, 1, 1);
}

#[test]
fn admin_operation_on_a_client_ring() {
    let fx = ready();
    let d = encode_cxt_start(CxtRange { start: 1, end: 1 }, None, None);
    expect(desc_fails(&fx, d), Check::DescUnknownOp, 7, 3, 1, 1);
}

#[test]
fn operation_group_not_enabled_for_the_context() {
    let fx = Fx::new(SdxiOptions::default(), vec![]);
    fx.bring_up();
    fx.build_context(1);
    fx.poke(L1 + 32 + 20, &(1u32 << 2).to_le_bytes()); // AdminGrp only
    let c = fx.arm(100, 1);
    fx.submit(
        0,
        &[encode_cxt_start(
            CxtRange { start: 1, end: 1 },
            None,
            Some(c),
        )],
    );
    fx.core.service(0, true);
    // Even the no-op is refused: DmaBaseGrp is not enabled.
    fx.submit(1, &[encode_nop(false, None)]);
    assert_eq!(fx.core.service(1, true), Outcome::Error);
    let e = one(&fx);
    expect(e, Check::DescGroupDisabled, 7, 3, 1, 1);
    assert_eq!(e.dsc_index, Some(0));
}

#[test]
fn admin_start_without_fence_stops_the_admin_context() {
    let fx = ready();
    let d = with_bits(
        encode_cxt_stop(CxtRange { start: 1, end: 1 }, false, None),
        2,
        2,
        0,
    );
    fx.submit(0, &[d]);
    assert_eq!(fx.core.service(0, true), Outcome::Error);
    expect(one(&fx), Check::DescMandatoryFlags, 7, 3, 1, 0);
    assert_eq!(fx.state(0), 0xf);
    assert_eq!(fx.state(1), 1, "the stop did not happen");
}

#[test]
fn copy_larger_than_max_buffer() {
    let fx = Fx::new(SdxiOptions::default(), vec![]);
    fx.bring_up();
    fx.build_context(1);
    fx.poke(L1 + 32 + 16, &0u32.to_le_bytes()); // max_buffer 0: 2 MiB
    fx.submit(
        0,
        &[encode_cxt_start(CxtRange { start: 1, end: 1 }, None, None)],
    );
    fx.core.service(0, true);
    let e = desc_fails(&fx, copy(DATA, DATA + 0x40_0000, (2 << 20) + 1));
    expect(e, Check::DescSizeTooLarge, 7, 3, 1, 1);
}

#[test]
fn akey_index_beyond_table() {
    let fx = ready();
    let d = encode_copy(DATA, DATA + 0x10_0000, 64, (256, 0), None);
    expect(desc_fails(&fx, d), Check::AkeyIndexRange, 11, 3, 1, 1);
}

#[test]
fn akey_entry_not_valid() {
    let fx = ready();
    let d = encode_copy(DATA, DATA + 0x10_0000, 64, (0, 1), None);
    expect(desc_fails(&fx, d), Check::AkeyInvalid, 11, 3, 1, 1);
}

#[test]
fn akey_entry_remote_function() {
    let fx = ready();
    fx.poke(AKEYS + 16, &[1, 0, 3, 0]); // vl, tgt_sfunc 3
    let d = encode_copy(DATA, DATA + 0x10_0000, 64, (1, 0), None);
    expect(desc_fails(&fx, d), Check::AkeyInvalid, 11, 3, 1, 1);
}

#[test]
fn source_outside_ram() {
    let fx = ready();
    let e = desc_fails(&fx, copy(RAM as u64 - 16, DATA, 64));
    expect(e, Check::SrcOutsideRam, 10, 1, 1, 1);
    assert_eq!(e.buf, Some(0));
}

#[test]
fn destination_outside_ram() {
    let fx = ready();
    let e = desc_fails(&fx, copy(DATA, FAR, 64));
    expect(e, Check::DstOutsideRam, 10, 1, 1, 1);
    assert_eq!(e.buf, Some(1));
}

#[test]
fn source_and_destination_overlap() {
    let fx = ready();
    fx.poke(DATA, &pattern(5, 128));
    let e = desc_fails(&fx, copy(DATA, DATA + 32, 64));
    expect(e, Check::Overlap, 7, 3, 1, 1);
    assert_eq!(fx.peek(DATA, 128), pattern(5, 128), "nothing moved");
}

#[test]
fn completion_block_overlaps_destination() {
    let fx = ready();
    let d = encode_copy(DATA, DATA + 0x10_0000, 64, (0, 0), Some(DATA + 0x10_0020));
    expect(desc_fails(&fx, d), Check::CsbOverlap, 7, 3, 1, 1);
}

#[test]
fn completion_block_outside_ram() {
    let fx = ready();
    let d = encode_nop(false, Some(FAR));
    expect(desc_fails(&fx, d), Check::CsbOutsideRam, 8, 1, 1, 1);
}

#[test]
fn failed_descriptor_sets_er_on_its_completion_block() {
    let fx = ready();
    let c = fx.arm(3, 1);
    desc_fails(&fx, encode_copy(DATA, FAR, 64, (0, 0), Some(c)));
    assert_eq!((fx.signal(3), fx.er(3)), (0, true));
}

// ---- admin ranges and context ids ----

#[test]
fn doorbell_above_ctl2_max_cxt_is_logged_and_ignored() {
    let fx = ready();
    let ctl2 = fx.reg(off::CTL2) & !(0xffff << 16);
    fx.set_reg(off::CTL2, ctl2 | (1 << 16)); // software allows contexts 0..=1 only
    fx.core.doorbell(3, 1);
    let e = one(&fx);
    expect(e, Check::CxtIdRange, 2, 3, 0, 3);
}

#[test]
fn start_range_above_max_cxt() {
    let fx = ready();
    fx.submit(
        0,
        &[encode_cxt_start(
            CxtRange { start: 1, end: 200 },
            None,
            None,
        )],
    );
    assert_eq!(fx.core.service(0, true), Outcome::Error);
    expect(one(&fx), Check::CxtIdRange, 2, 3, 1, 0);
}

#[test]
fn start_range_reversed_or_naming_the_admin_context() {
    for range in [CxtRange { start: 2, end: 1 }, CxtRange { start: 0, end: 1 }] {
        let fx = ready();
        fx.submit(0, &[encode_cxt_start(range, None, None)]);
        assert_eq!(fx.core.service(0, true), Outcome::Error);
        expect(one(&fx), Check::AdminRange, 7, 3, 1, 0);
    }
}

#[test]
fn admin_descriptor_naming_a_virtual_function() {
    let fx = ready();
    let d = with_bits(
        encode_cxt_start(CxtRange { start: 1, end: 1 }, None, None),
        47,
        47,
        1,
    );
    fx.submit(0, &[d]);
    assert_eq!(fx.core.service(0, true), Outcome::Error);
    expect(one(&fx), Check::AdminVf, 7, 3, 1, 0);
}

// ---- the error log itself ----

#[test]
fn full_log_sets_overflow_and_keeps_entries() {
    let fx = ready();
    let ctl2 = fx.reg(off::CTL2) & !(0xffff << 16);
    fx.set_reg(off::CTL2, ctl2 | (1 << 16));
    for _ in 0..70 {
        fx.core.doorbell(5, 0);
    }
    assert_eq!(fx.reg(off::ERR_WRT), 64);
    assert_eq!(fx.reg(off::ERR_STS) & 0b1011, 0b0011, "sts | ovf");
    fx.set_reg(off::ERR_RD, 64);
    fx.set_reg(off::ERR_STS, 0b11);
    fx.core.doorbell(5, 0);
    assert_eq!(fx.reg(off::ERR_WRT), 65);
    assert_eq!(fx.errlog().len(), 1);
}

#[test]
fn unusable_log_sets_err() {
    let fx = ready();
    fx.set_reg(off::ERR_CFG, ERRLOG | 1); // sz = 0
    let ctl2 = fx.reg(off::CTL2) & !(0xffff << 16);
    fx.set_reg(off::CTL2, ctl2 | (1 << 16));
    fx.core.doorbell(5, 0);
    assert_eq!(fx.reg(off::ERR_STS) & 0b1001, 0b1001, "sts | err");
    assert_eq!(fx.reg(off::ERR_WRT), 0);
}
