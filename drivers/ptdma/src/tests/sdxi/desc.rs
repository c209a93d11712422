//! Descriptor and table encodings, field by field at the absolute bit offsets of
//! `sdxi-facts.md` §4.2 and §5 (the spec tables as AMD's KUnit test has them).

use crate::sdxi::desc::{self, ContextState, Descriptor, SyncFilter};
use crate::sdxi::error::{ErrStep, ErrorLogEntry, Reaction, SubStep};
use crate::sdxi::regs::{self, Cap0, Cap1, FunctionState};

/// Field `lo..lo+width` of little-endian qwords `q` (may span two qwords).
fn field(q: &[u64], lo: usize, width: usize) -> u64 {
    if width > 64 {
        // Wide reserved ranges: 0 when every bit is clear, 1 otherwise.
        return u64::from((lo..lo + width).any(|b| (q[b / 64] >> (b % 64)) & 1 == 1));
    }
    let mut v = 0u64;
    for i in 0..width {
        let b = lo + i;
        v |= ((q[b / 64] >> (b % 64)) & 1) << i;
    }
    v
}

#[test]
fn copy_fields_at_spec_bit_offsets() {
    let d = Descriptor::copy(0x1234_5678_9ABC_DEF0, 0x0FED_CBA9_8765_4320, 4097, None);
    let q = &d.0;
    assert_eq!(field(q, 0, 1), 1, "vl");
    assert_eq!(field(q, 1, 1), 0, "se");
    assert_eq!(field(q, 2, 1), 0, "fe");
    assert_eq!(field(q, 3, 1), 0, "ch");
    assert_eq!(field(q, 4, 1), 0, "csr");
    assert_eq!(field(q, 5, 1), 0, "rb");
    assert_eq!(field(q, 8, 8), 0x03, "subtype DSC_DMAB_COPY");
    assert_eq!(field(q, 16, 11), 0x001, "type DmaBaseGrp");
    assert_eq!(q[0] as u32, 0x0001_0301, "opcode word");
    assert_eq!(field(q, 32, 32), 4096, "size = bytes - 1");
    assert_eq!(field(q, 64, 4), 0, "attr_src");
    assert_eq!(field(q, 68, 4), 0, "attr_dst");
    assert_eq!(field(q, 72, 24), 0, "reserved bytes 9-11");
    assert_eq!(field(q, 96, 16), 0, "akey0");
    assert_eq!(field(q, 112, 16), 0, "akey1");
    assert_eq!(field(q, 128, 64), 0x1234_5678_9ABC_DEF0, "addr0 = source");
    assert_eq!(
        field(q, 192, 64),
        0x0FED_CBA9_8765_4320,
        "addr1 = destination"
    );
    for (lo, w) in [(256, 64), (320, 64), (384, 64)] {
        assert_eq!(field(q, lo, w), 0, "reserved bytes 32-55");
    }
    assert_eq!(field(q, 448, 1), 1, "np: no CST_BLK");
    assert_eq!(field(q, 449, 4), 0, "reserved 452:449");
    assert_eq!(field(q, 453, 59), 0, "csb_ptr");
    assert_eq!(d.bits(448, 1), 1);
}

#[test]
fn copy_size_encoding_limits() {
    assert_eq!(field(&Descriptor::copy(0, 64, 1, None).0, 32, 32), 0);
    assert_eq!(
        field(&Descriptor::copy(0, 1 << 33, 1 << 32, None).0, 32, 32),
        0xFFFF_FFFF
    );
}

#[test]
#[should_panic(expected = "SDXI copy size 0")]
fn copy_of_zero_bytes_is_not_encodable() {
    let _ = Descriptor::copy(0, 64, 0, None);
}

#[test]
fn fenced_nop_carries_the_completion_block() {
    let d = Descriptor::nop(true, Some(0xABCD_E0E0));
    let q = &d.0;
    assert_eq!(q[0] as u32, 0x0001_0105, "opcode word: NOP + fe + vl");
    assert_eq!(field(q, 2, 1), 1, "fe");
    assert_eq!(field(q, 8, 8), 0x01);
    assert_eq!(field(q, 16, 11), 0x001);
    assert_eq!(field(q, 32, 416), 0, "body reserved");
    assert_eq!(field(q, 448, 1), 0, "np = 0: a CST_BLK follows");
    assert_eq!(
        field(q, 453, 59),
        0xABCD_E0E0 >> 5,
        "csb_ptr = address >> 5"
    );
}

#[test]
fn admin_start_stop_sync_fields() {
    let s = Descriptor::cxt_start(3, 7, Some(0x4000));
    assert_eq!(field(&s.0, 0, 1), 1);
    assert_eq!(field(&s.0, 1, 1), 0, "se must be 0");
    assert_eq!(field(&s.0, 2, 1), 1, "fe mandatory");
    assert_eq!(field(&s.0, 8, 8), 0x03, "DSC_CXT_START NM");
    assert_eq!(field(&s.0, 16, 11), 0x002, "AdminGrp");
    assert_eq!(field(&s.0, 46, 1), 0, "dv");
    assert_eq!(field(&s.0, 47, 1), 0, "vf");
    assert_eq!(field(&s.0, 48, 16), 0, "vf_num");
    assert_eq!(field(&s.0, 64, 16), 3, "cxt_start");
    assert_eq!(field(&s.0, 80, 16), 7, "cxt_end");
    assert_eq!(field(&s.0, 128, 64), 0, "db_value");
    assert_eq!(field(&s.0, 453, 59), 0x4000 >> 5);
    let t = Descriptor::cxt_stop(2, 2, None);
    assert_eq!(field(&t.0, 2, 1), 1, "fe mandatory");
    assert_eq!(field(&t.0, 8, 8), 0x04);
    assert_eq!(field(&t.0, 16, 11), 0x002);
    assert_eq!(field(&t.0, 46, 1), 0, "hs: soft stop");
    assert_eq!((field(&t.0, 64, 16), field(&t.0, 80, 16)), (2, 2));
    assert_eq!(field(&t.0, 448, 1), 1);
    let y = Descriptor::sync(SyncFilter::Stop, 5, 6, None);
    assert_eq!(field(&y.0, 8, 8), 0x06);
    assert_eq!(field(&y.0, 32, 3), 1, "flt STOP");
    assert_eq!((field(&y.0, 64, 16), field(&y.0, 80, 16)), (5, 6));
    assert_eq!(field(&y.0, 96, 32), 0, "key range");
    assert_eq!(
        field(&Descriptor::sync(SyncFilter::Context, 1, 1, None).0, 32, 3),
        0
    );
}

#[test]
fn context_table_entries_layout() {
    assert_eq!(desc::l2_entry(0x7000), 0x7001, "L1 address | vl");
    let l1 = desc::l1_entry(0x12_3440, 0x45_6000, 11, 0b11);
    assert_eq!(field(&l1, 0, 1), 1, "vl");
    assert_eq!(field(&l1, 1, 1), 1, "ka");
    assert_eq!(field(&l1, 2, 1), 0, "pv");
    assert_eq!(field(&l1, 3, 3), 0, "reserved");
    assert_eq!(field(&l1, 6, 58) << 6, 0x12_3440, "cxt_ctl_ptr");
    assert_eq!(field(&l1, 64, 4), 0, "akey_sz: 256 entries");
    assert_eq!(field(&l1, 68, 8), 0, "reserved");
    assert_eq!(field(&l1, 76, 52) << 12, 0x45_6000, "akey_ptr");
    assert_eq!(field(&l1, 128, 20), 0, "cxt_pasid");
    assert_eq!(field(&l1, 148, 4), 11, "max_buffer");
    assert_eq!(field(&l1, 160, 32), 0b11, "opb_000_enb");
    assert_eq!(field(&l1, 192, 64), 0, "reserved bytes 24-31");
    let c = desc::cxt_ctl(0x10_0000, 1024, 0x11_0040, 0x11_0080);
    assert_eq!(field(&c, 0, 1), 1, "vl");
    assert_eq!(field(&c, 1, 1), 0);
    assert_eq!(field(&c, 2, 2), 0, "qos");
    assert_eq!(field(&c, 4, 1), 1, "se");
    assert_eq!(field(&c, 5, 1), 1, "csa");
    assert_eq!(field(&c, 6, 58) << 6, 0x10_0000, "ds_ring_ptr");
    assert_eq!(field(&c, 64, 32), 1024, "ds_ring_sz in 64-byte entries");
    assert_eq!(field(&c, 96, 32), 0);
    assert_eq!(field(&c, 128, 64), 0x11_0040, "cxt_sts_ptr");
    assert_eq!(field(&c, 192, 64), 0x11_0080, "write_index_ptr");
    assert_eq!(field(&c, 256, 256), 0);
    assert_eq!(desc::AKEY_LOCAL, [1, 0], "AKey: vl only, tgt_sfunc 0");
    assert_eq!(ContextState::decode(0xF), ContextState::ErrFn);
    assert_eq!(
        ContextState::decode(0x101),
        ContextState::Run,
        "state is bits 3:0"
    );
}

#[test]
fn capability_and_config_registers() {
    let c0 = Cap0::decode(0x0210_0007);
    assert_eq!(
        (c0.sfunc, c0.db_stride, c0.max_ring_entries),
        (7, 8192, 4096)
    );
    let c1 = Cap1::decode(11 | (2 << 12) | (0x7F << 16) | (0x1F << 32) | (1 << 4));
    assert_eq!(
        (c1.max_buffer, c1.max_akey_sz, c1.max_cxt, c1.opb_000_cap),
        (11, 2, 0x7F, 0x1F)
    );
    assert_eq!(
        c1.ctl2(),
        11 | (2 << 12) | (0x7F << 16) | (0x1F << 32),
        "no rkey bit"
    );
    assert_eq!(regs::err_cfg(0x5000, 64), 0x5000 | 2 | 1);
    assert_eq!(regs::version(0x01_0000), (1, 0));
    assert_eq!(FunctionState::from_sts0(0xFA), FunctionState::Active, "2:0");
    assert_eq!(FunctionState::from_sts0(5), FunctionState::Error);
}

#[test]
fn error_log_entry_decode() {
    let q0 = 1
        | (10 << 8)
        | (0x7F7 << 16)
        | (1 << 32)
        | (1 << 33)
        | (1 << 34)
        | (1 << 36)
        | (2 << 40)
        | (1 << 44)
        | (3 << 48);
    let mut q = [q0, 1234, 0, 0, 0, 0x55 << 32, 0xFFFF_FFFF_0000_001F, 0];
    let e = ErrorLogEntry::decode(&q).unwrap();
    assert_eq!(e.step, ErrStep::DataBuffer);
    assert_eq!(e.sub_step, SubStep::Access);
    assert_eq!(e.reaction, Reaction::ContextStopped);
    assert_eq!(e.context, Some(3));
    assert_eq!(e.desc_index, Some(1234));
    assert_eq!(e.buffer, Some(1));
    assert_eq!(e.class, 0x55, "err_class 367:352");
    assert_eq!(e.vendor0, 0x1F, "vendor[0] 415:384");
    assert_eq!(
        e.to_string(),
        "error log: step DataBuffer/Access context 3 descriptor 1234 buffer 1, ContextStopped, class 0x55, vendor[0] 31"
    );
    q[0] = q0 & !(7 << 32);
    let e = ErrorLogEntry::decode(&q).unwrap();
    assert_eq!(
        (e.context, e.desc_index, e.buffer),
        (None, None, None),
        "cv/div/bv clear"
    );
    q[0] = q0 & !1;
    assert_eq!(ErrorLogEntry::decode(&q), None, "vl = 0");
    q[0] = (q0 & !(0x7FF << 16)) | (0x001 << 16);
    assert_eq!(ErrorLogEntry::decode(&q), None, "not an error-log type");
    q[0] = 1 | (7 << 8) | (0x7F7 << 16) | (3 << 40) | (2 << 44);
    let e = ErrorLogEntry::decode(&q).unwrap();
    assert_eq!(
        (e.step, e.sub_step, e.reaction),
        (
            ErrStep::Descriptor,
            SubStep::Validation,
            Reaction::FunctionStopped
        )
    );
}
