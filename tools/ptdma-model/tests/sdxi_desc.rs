//! SDXI descriptor decoding field by field, from bytes built by hand at the absolute bit
//! offsets of sdxi-facts §5 (not with the model's own encoder), plus the encoders' exact bytes
//! and the context-table walk (L2 index = id bits 15:7, L1 index = id bits 6:0).

use ptdma_model::guestmem::{GuestMemory, VecMemory};
use ptdma_model::sdxi::desc::{
    decode, encode_copy, encode_cxt_start, encode_cxt_stop, encode_nop, encode_sync, CxtRange, Op,
};
use ptdma_model::sdxi::errlog::Check;
use ptdma_model::sdxi::regs::Regs;
use ptdma_model::sdxi::walk::walk;

fn put(raw: &mut [u8; 64], byte: usize, bytes: &[u8]) {
    raw[byte..byte + bytes.len()].copy_from_slice(bytes);
}

#[test]
fn copy_fields_at_spec_offsets() {
    let mut r = [0u8; 64];
    put(&mut r, 0, &0x0001_0301u32.to_le_bytes()); // vl, subtype 3 @15:8, type 1 @26:16
    put(&mut r, 4, &4095u32.to_le_bytes()); // size − 1 @63:32
    r[8] = 0x21; // attr_src 67:64 = 1, attr_dst 71:68 = 2
    put(&mut r, 12, &7u16.to_le_bytes()); // akey0 @111:96
    put(&mut r, 14, &9u16.to_le_bytes()); // akey1 @127:112
    put(&mut r, 16, &0x1122_3344_5566_7788u64.to_le_bytes()); // addr0 @191:128
    put(&mut r, 24, &0x0102_0304_0506_0708u64.to_le_bytes()); // addr1 @255:192
    put(&mut r, 56, &0x9000u64.to_le_bytes()); // csb_ptr 511:453 = 0x9000 >> 5 (bits 452:448 = 0: np = 0)
    let d = decode(&r, false).unwrap();
    assert!(d.flags.vl && !d.flags.fe && !d.flags.se);
    assert_eq!((d.ty, d.subtype), (1, 3));
    assert_eq!(
        d.op,
        Op::Copy {
            len: 4096,
            attr_src: 1,
            attr_dst: 2,
            akey0: 7,
            akey1: 9,
            src: 0x1122_3344_5566_7788,
            dst: 0x0102_0304_0506_0708,
        }
    );
    assert_eq!(d.csb, Some(0x9000));
}

#[test]
fn copy_size_encoding_extremes() {
    let mut r = encode_copy(0, 0x1000, 1, (0, 0), None);
    assert_eq!(&r[4..8], &[0, 0, 0, 0], "1 byte encodes as 0");
    put(&mut r, 4, &u32::MAX.to_le_bytes());
    assert!(matches!(decode(&r, false).unwrap().op, Op::Copy { len, .. } if len == 1 << 32));
    let big = encode_copy(0, 0x1000, 1 << 32, (0, 0), None);
    assert_eq!(&big[4..8], &[0xff; 4], "4 GiB encodes as 0xFFFF_FFFF");
}

#[test]
fn flag_bits_0_to_5() {
    for (bit, name) in [(1, "se"), (2, "fe"), (3, "ch"), (4, "csr"), (5, "rb")] {
        let mut r = encode_nop(false, None);
        r[0] |= 1 << bit;
        let f = decode(&r, false).unwrap().flags;
        let got = [f.se, f.fe, f.ch, f.csr, f.rb];
        let want: Vec<bool> = (1..=5).map(|b| b == bit).collect();
        assert_eq!(got.to_vec(), want, "{name}");
    }
}

#[test]
fn np_bit_448_and_csb_pointer() {
    let n = encode_nop(false, None);
    assert_eq!(n[56], 1, "np = bit 448");
    assert_eq!(decode(&n, false).unwrap().csb, None);
    let c = encode_nop(true, Some(0x1234_5660));
    assert_eq!(
        u64::from_le_bytes(c[56..64].try_into().unwrap()),
        0x1234_5660
    );
    assert_eq!(decode(&c, false).unwrap().csb, Some(0x1234_5660));
}

#[test]
fn opcode_words_of_the_encoders() {
    let w = |r: [u8; 64]| u32::from_le_bytes(r[0..4].try_into().unwrap());
    assert_eq!(w(encode_copy(0, 64, 64, (0, 0), None)), 0x0001_0301);
    assert_eq!(w(encode_nop(true, None)), 0x0001_0105);
    let one = CxtRange { start: 1, end: 1 };
    assert_eq!(w(encode_cxt_start(one, None, None)), 0x0002_0305);
    assert_eq!(w(encode_cxt_stop(one, false, None)), 0x0002_0405);
    assert_eq!(w(encode_sync(1, one, None)), 0x0002_0601);
}

#[test]
fn admin_fields_at_spec_offsets() {
    let mut r = [0u8; 64];
    put(&mut r, 0, &0x0002_0305u32.to_le_bytes());
    r[5] = 0x40; // dv = bit 46
    put(&mut r, 8, &3u16.to_le_bytes()); // cxt_start 79:64
    put(&mut r, 10, &5u16.to_le_bytes()); // cxt_end 95:80
    put(&mut r, 16, &77u64.to_le_bytes()); // db_value 191:128
    r[56] = 1;
    let range = CxtRange { start: 3, end: 5 };
    assert_eq!(
        decode(&r, true).unwrap().op,
        Op::CxtStart {
            range,
            db_value: Some(77)
        }
    );
    put(&mut r, 0, &0x0002_0405u32.to_le_bytes());
    put(&mut r, 16, &0u64.to_le_bytes());
    assert_eq!(
        decode(&r, true).unwrap().op,
        Op::CxtStop { range, hard: true }
    );
    let mut s = [0u8; 64];
    put(&mut s, 0, &0x0002_0601u32.to_le_bytes());
    s[4] = 1; // flt 34:32 = STOP
    put(&mut s, 8, &3u16.to_le_bytes());
    put(&mut s, 10, &5u16.to_le_bytes());
    s[56] = 1;
    assert_eq!(decode(&s, true).unwrap().op, Op::Sync { flt: 1, range });
    s[4] = 5;
    assert_eq!(decode(&s, true), Err(Check::DescReserved), "flt > 4");
}

#[test]
fn every_reserved_bit_of_a_copy_is_checked() {
    let good = encode_copy(0x1000, 0x2000, 64, (0, 0), Some(0x3000));
    let reserved = (6..=7)
        .chain(27..=31)
        .chain(72..=95)
        .chain(256..=447)
        .chain(449..=452);
    for bit in reserved {
        let mut r = good;
        r[bit / 8] |= 1 << (bit % 8);
        assert_eq!(decode(&r, false), Err(Check::DescReserved), "bit {bit}");
    }
    assert!(decode(&good, false).is_ok());
}

#[test]
fn start_and_stop_need_fence_and_no_se() {
    let one = CxtRange { start: 1, end: 1 };
    let mut r = encode_cxt_start(one, None, None);
    r[0] &= !4;
    assert_eq!(decode(&r, true), Err(Check::DescMandatoryFlags));
    let mut r = encode_cxt_stop(one, false, None);
    r[0] |= 2;
    assert_eq!(decode(&r, true), Err(Check::DescMandatoryFlags));
}

/// Builds a minimal valid context `id` and walks it.
#[test]
fn walk_indexes_l2_by_id_bits_15_7_and_l1_by_bits_6_0() {
    let mem = VecMemory::new(0, 4 << 20);
    let mut regs = Regs::new(127);
    regs.ctl2 = regs.cap1 & 0xffff_ffff_ffff_f00f;
    regs.cxt_l2 = 0x1000;
    let id: u16 = 130; // L2 entry 1, L1 entry 2
    let w = |gpa: u64, v: u64| mem.write(gpa, &v.to_le_bytes()).unwrap();
    w(0x1000 + 8, 0x3000 | 1);
    let l1e = 0x3000 + 2 * 32;
    w(l1e + 8, 0x5000);
    w(l1e + 16, 11 << 20);
    w(l1e, 0x4000 | 1);
    w(0x4000 + 8, 1024);
    w(0x4000 + 16, 0x6000);
    w(0x4000 + 24, 0x6010);
    w(0x4000, 0x10_0000 | 1);
    let env = walk(&mem, &regs, id).unwrap();
    assert_eq!(
        (env.entries, env.sts(), env.write_index_ptr()),
        (1024, 0x6000, 0x6010)
    );
    assert_eq!(env.slot(1025), 0x10_0000 + 64, "slot = index mod entries");
    assert_eq!(env.max_len, 1 << 32);
    // Context 2 (L2 entry 0) does not exist.
    assert_eq!(walk(&mem, &regs, 2), Err(Check::L2EntryInvalid));
}
