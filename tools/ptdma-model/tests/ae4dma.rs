//! AE4DMA personality through the socket: identity, BAR0, common config, index-based queues,
//! descriptor status write-back, errors and faults.

mod common;

use common::*;
use ptdma_model::desc::encode_ae4;
use ptdma_model::device::Kind;

fn qreg(q: u64, off: u64) -> u64 {
    BAR + 0x20 * (q + 1) + off
}

/// Sets up queue `q` with a 32-entry ring at `ring` like SPDK's ae4dma_channel_start.
fn init_queue(h: &Harness, q: u64, ring: u64) {
    h.w32(qreg(q, 0x08), 32);
    h.w32(qreg(q, 0x00), 1);
    h.w32(qreg(q, 0x14), 0);
    h.w32(qreg(q, 0x18), ring as u32);
    h.w32(qreg(q, 0x1c), (ring >> 32) as u32);
}

fn dw1(h: &Harness, desc: u64) -> (u8, u8) {
    let b = h.peek(desc + 4, 2);
    (b[0], b[1])
}

#[test]
fn identity_and_bar0() {
    let h = Harness::start(Kind::Ae4dma, Default::default(), vec![]);
    assert_eq!(h.cfg_read(0, 4), 0x149b_1022);
    assert_eq!(h.cfg_read(0x0a, 2), 0x1080);
    assert_eq!(h.cfg_read(0x2e, 2), 0x149b);
    h.cfg_write(0x10, 0xffff_ffff, 4);
    assert_eq!(h.cfg_read(0x10, 4), 0xfff0_0000);
    h.cfg_write(0x14, 0xffff_ffff, 4);
    assert_eq!(h.cfg_read(0x14, 4), 0, "no BAR1 on AE4DMA");
    h.cfg_write(0x18, 0xffff_ffff, 4);
    assert_eq!(
        h.cfg_read(0x18, 4),
        0xffff_e000,
        "BAR2: the 8 KiB MSI-X table and PBA"
    );
    h.finish().unwrap();
}

#[test]
fn common_config_grants_up_to_16() {
    let h = Harness::ready(Kind::Ae4dma, vec![]);
    h.w32(BAR, 64);
    assert_eq!(h.r32(BAR), 16);
    h.w32(BAR, 4);
    assert_eq!(h.r32(BAR), 4);
    assert_eq!(h.r32(qreg(0, 0x08)), 32, "max_idx defaults to 32");
    h.finish().unwrap();
}

#[test]
fn copies_on_two_queues_with_wrap_and_status_writeback() {
    let h = Harness::ready(Kind::Ae4dma, vec![]);
    h.w32(BAR, 16);
    for q in [0u64, 5] {
        let ring = 0x1_0000 + q * 0x1000;
        init_queue(&h, q, ring);
        let mut w = 0u32;
        // 40 descriptors through a 32-entry ring, in batches of 10 (wraps once).
        for batch in 0..4u64 {
            for i in 0..10u64 {
                let n = batch * 10 + i;
                let src = 0x10_0000 + n * 256;
                h.poke(src, &pattern((n + q) as u8, 256));
                let d = encode_ae4(src, NODE_SIZE + q * 0x10_0000 + n * 256, 256, i == 9, false);
                h.poke(ring + u64::from(w) * 32, &d);
                w = (w + 1) % 32;
            }
            h.w32(qreg(q, 0x10), w);
            assert!(
                wait_for(3000, || h.r32(qreg(q, 0x0c)) == w),
                "read_idx reaches {w}"
            );
            assert_eq!(h.r32(qreg(q, 0x04)) >> 1 & 7, 0, "status: empty");
        }
        for n in 0..40u64 {
            let got = h.peek(NODE_SIZE + q * 0x10_0000 + n * 256, 256);
            assert_eq!(got, pattern((n + q) as u8, 256), "queue {q} copy {n}");
        }
        assert_eq!(dw1(&h, ring), (3, 0), "descriptor marked completed");
        assert_eq!(h.r32(qreg(q, 0x14)) & 1, 1, "interrupt status");
    }
    let c = h.counters.to_json();
    let qs = c["queues"].as_array().unwrap();
    let q5 = qs.iter().find(|q| q["queue"] == 5).unwrap();
    assert_eq!(q5["descriptors"], 40);
    assert_eq!(q5["doorbells"], 4);
    assert_eq!(q5["bytes"], 40 * 256);
    h.finish().unwrap();
}

#[test]
fn queue_beyond_grant_or_disabled_does_nothing() {
    let h = Harness::ready(Kind::Ae4dma, vec![]);
    h.w32(BAR, 2);
    init_queue(&h, 3, 0x2_0000);
    h.poke(0x2_0000, &encode_ae4(0x10_0000, 0x20_0000, 64, true, false));
    h.w32(qreg(3, 0x10), 1);
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(h.r32(qreg(3, 0x0c)), 0, "queue 3 not granted");
    h.w32(BAR, 4);
    assert!(wait_for(2000, || h.r32(qreg(3, 0x0c)) == 1));
    h.w32(qreg(3, 0), 0);
    assert_eq!(h.r32(qreg(3, 0x04)) >> 1 & 7, 2, "status: stopped");
    h.finish().unwrap();
}

#[test]
fn bad_descriptors_are_marked_and_queue_continues() {
    let h = Harness::ready(Kind::Ae4dma, vec!["error-at=4".parse().unwrap()]);
    h.w32(BAR, 1);
    let ring = 0x3_0000;
    init_queue(&h, 0, ring);
    let descs = [
        encode_ae4(0x10_0000, 0x20_0000, 6, true, false), // length not multiple of 4
        encode_ae4(0x10_0002, 0x20_0000, 8, true, false), // src misaligned
        encode_ae4(0x7000_0000, 0x20_0000, 8, true, false), // src outside RAM
        encode_ae4(0x10_0000, 0x20_0000, 8, true, false), // injected error (#4)
        encode_ae4(0x10_0000, 0x20_0000, 8, true, false), // fine
    ];
    h.poke(0x10_0000, &pattern(1, 8));
    for (i, d) in descs.iter().enumerate() {
        h.poke(ring + i as u64 * 32, d);
    }
    h.w32(qreg(0, 0x10), 5);
    assert!(wait_for(2000, || h.r32(qreg(0, 0x0c)) == 5));
    assert_eq!(dw1(&h, ring), (4, 3));
    assert_eq!(dw1(&h, ring + 32), (4, 4));
    assert_eq!(dw1(&h, ring + 64), (4, 64));
    assert_eq!(dw1(&h, ring + 96), (4, 16));
    assert_eq!(dw1(&h, ring + 128), (3, 0));
    assert_eq!(h.peek(0x20_0000, 8), pattern(1, 8));
    assert_eq!(h.r32(qreg(0, 0x04)) >> 1 & 7, 3, "status: error");
    assert_eq!(h.counters.to_json()["queues"][0]["errors"], 4);
    h.finish().unwrap();
}

#[test]
fn halt_and_stuck_faults() {
    let h = Harness::ready(
        Kind::Ae4dma,
        vec!["halt-at=2".parse().unwrap(), "stuck-at=4".parse().unwrap()],
    );
    h.w32(BAR, 1);
    let ring = 0x3_0000;
    init_queue(&h, 0, ring);
    for i in 0..5u64 {
        h.poke(
            ring + i * 32,
            &encode_ae4(0x10_0000, 0x20_0000 + i * 8, 8, false, false),
        );
    }
    h.w32(qreg(0, 0x10), 5);
    assert!(
        wait_for(2000, || h.r32(qreg(0, 0)) & 1 == 0),
        "halted: enable cleared"
    );
    assert_eq!(h.r32(qreg(0, 0x0c)), 1);
    h.w32(qreg(0, 0), 1); // resume: #3 ok (idx 1), #4 stuck (idx 2)
    assert!(wait_for(2000, || h.r32(qreg(0, 0x0c)) == 2));
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(h.r32(qreg(0, 0x0c)), 2, "stuck");
    h.w32(qreg(0, 0x10), 5); // another doorbell does not help
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(h.r32(qreg(0, 0x0c)), 2, "still stuck");
    // Driver abort: disable, skip the wedged slot, enable.
    h.w32(qreg(0, 0), 0);
    h.w32(qreg(0, 0x0c), 3);
    h.w32(qreg(0, 0), 1);
    assert!(wait_for(2000, || h.r32(qreg(0, 0x0c)) == 5), "usable again");
    h.finish().unwrap();
}

#[test]
fn reset_restores_defaults() {
    let h = Harness::ready(Kind::Ae4dma, vec![]);
    h.w32(BAR, 16);
    init_queue(&h, 7, 0x4_0000);
    h.reset();
    h.cfg_write(0x10, BAR as u32, 4);
    h.cfg_write(0x04, 6, 2);
    assert_eq!(h.r32(BAR), 0);
    assert_eq!(h.r32(qreg(7, 0x18)), 0);
    assert_eq!(h.r32(qreg(7, 0x08)), 32);
    assert_eq!(h.r32(qreg(7, 0x00)), 0);
    h.finish().unwrap();
}
