//! Every descriptor-level validity check of sdxi-facts §9.2 (reserved bits, known operation,
//! enabled group, mandatory flags, size, AKeys, buffers inside RAM, no overlap), the admin
//! ranges, and the error log's own overflow/unusable states; one test each, asserting the
//! error-log entry.

mod sdxi_fixture;

use ptdma_model::sdxi::desc::{
    encode_copy, encode_cxt_start, encode_cxt_stop, encode_nop, CxtRange,
};
use ptdma_model::sdxi::errlog::Check;
use ptdma_model::sdxi::options::SdxiOptions;
use ptdma_model::sdxi::regs::off;
use ptdma_model::sdxi::ring::Outcome;
use sdxi_fixture::*;

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
