use crate::desc::*;
use crate::error::{error_name, RingPlacement};
use crate::regs::{control_value, QueueStatus};
use crate::{DmaAddr, PtdmaError};

#[test]
fn memcpy_descriptor_is_bit_exact() {
    let d = Descriptor::memcpy(
        DmaAddr::new(0x1234_5678_9abc),
        DmaAddr::new(0xffff_0000_1000),
        4096,
        true,
    );
    assert_eq!(
        d.to_words(),
        [
            0x0050_0012,
            4096,
            0x5678_9abc,
            0x1234,
            0x0000_1000,
            0xffff,
            0,
            0
        ]
    );
    let d = Descriptor::memcpy(DmaAddr::new(0x10), DmaAddr::new(0x20), 2 << 20, false);
    assert_eq!(d.dw0, 0x0050_0010);
    assert_eq!(d.length, 0x20_0000);
    assert_eq!(core::mem::size_of::<Descriptor>(), 32);
}

#[test]
fn address_bits_above_47_are_not_encoded() {
    let d = Descriptor::memcpy(
        DmaAddr::new(0xabcd_1234_0000_0000),
        DmaAddr::new(0),
        1,
        false,
    );
    assert_eq!(d.src_hi, 0x1234);
}

#[test]
fn decode_round_trips() {
    let src = DmaAddr::new(0x7fff_dead_beef);
    let dst = DmaAddr::new(0x0001_0000_0040);
    for ioc in [false, true] {
        let d = Descriptor::memcpy(src, dst, 12345, ioc);
        let f = d.decode();
        assert_eq!(
            (f.engine, f.function, f.ioc, f.eom, f.soc),
            (ENGINE_PASSTHRU, 0, ioc, true, false)
        );
        assert_eq!(
            (f.src, f.dst, f.len, f.src_mem, f.dst_mem),
            (src, dst, 12345, 0, 0)
        );
        assert_eq!(Descriptor::from_words(d.to_words()), d);
    }
}

#[test]
fn ring_keeps_one_slot_empty_and_wraps() {
    let r = Ring::new(DmaAddr::new(0x1_0000_0100), 8).unwrap();
    assert_eq!((r.entries(), r.capacity(), r.order()), (8, 7, 3));
    assert_eq!(r.free(0, 0), 7);
    assert_eq!(r.used(0, 7), 7);
    assert_eq!(r.free(0, 7), 0);
    // head 6, tail 2: slots 6, 7, 0, 1 in use across the end.
    assert_eq!((r.used(6, 2), r.free(6, 2)), (4, 3));
    assert_eq!(r.advance(7, 1), 0);
    assert_eq!(r.advance(5, 6), 3);
}

#[test]
fn ring_address_index_conversion() {
    let r = Ring::new(DmaAddr::new(0x1_0000_0100), 8).unwrap();
    assert_eq!(r.addr_lo(0), 0x100);
    assert_eq!(r.addr_lo(7), 0x1e0);
    assert_eq!(r.index_of(0x1e0), Some(7));
    assert_eq!(r.index_of(0x100), Some(0));
    assert_eq!(r.index_of(0x200), None);
    assert_eq!(r.index_of(0x110), None);
    assert_eq!(r.index_of(0xe0), None);
}

#[test]
fn ring_placement_is_validated() {
    let err = |base: u64, n| Ring::new(DmaAddr::new(base), n).unwrap_err();
    assert_eq!(
        err(0x1000, 24),
        PtdmaError::RingPlacement(RingPlacement::NotPowerOfTwo)
    );
    assert_eq!(
        err(0x1000, 1),
        PtdmaError::RingPlacement(RingPlacement::BadSize)
    );
    assert_eq!(
        err(0x1000, 1 << 17),
        PtdmaError::RingPlacement(RingPlacement::BadSize)
    );
    assert_eq!(
        err(0x1200, 32),
        PtdmaError::RingPlacement(RingPlacement::Misaligned)
    );
    assert_eq!(
        err(1 << 48, 32),
        PtdmaError::RingPlacement(RingPlacement::Above48Bits)
    );
    assert!(Ring::new(DmaAddr::new((1 << 48) - 1024), 32).is_ok());
    assert!(Ring::new(DmaAddr::new(0xffff_fc00), 32).is_ok());
}

#[test]
fn control_value_encodes_size_and_high_bits() {
    // 32 entries -> QUEUE_SIZE 4; ring bits 47:32 = 0x1234.
    assert_eq!(
        control_value(5, DmaAddr::new(0x1234_0000_1000)),
        0x1234_0020
    );
    assert_eq!(control_value(13, DmaAddr::new(0x1000)), 12 << 3);
}

#[test]
fn status_and_error_names() {
    let s = QueueStatus(0x26 | (2 << 7) | (1 << 10));
    assert_eq!(
        (s.error_code(), s.job_status(), s.error_source()),
        (0x26, 2, 1)
    );
    assert_eq!(error_name(0x26), "ODMA0_AXI_SLVERR");
    assert_eq!(error_name(0x14), "IDMA0_AXI_DECERR");
    assert_eq!(error_name(0x09), "ILLEGAL_BUFFER_LENGTH");
    assert_eq!(error_name(0x3f), "UNKNOWN");
}
