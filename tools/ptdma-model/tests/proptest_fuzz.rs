//! Property tests: random register writes, random descriptors and random config writes must
//! never panic the model or kill a queue worker, and reads must keep answering.

use std::sync::Arc;

use proptest::prelude::*;
use ptdma_model::device::{Device, DeviceOptions, Kind};
use ptdma_model::engine::Timing;
use ptdma_model::faults::FaultPlan;
use ptdma_model::guestmem::{GuestMemory, VecMemory};

const BAR: u64 = 0xfea0_0000;
const RAM: usize = 256 << 10;

#[derive(Debug, Clone)]
enum Op {
    Cfg(u32, u32, u32),
    BarWrite(u64, u64, u32),
    BarRead(u64, u32),
    Desc(u64, [u8; 32]),
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    let size = prop_oneof![Just(1u32), Just(2), Just(4), Just(8), 0u32..16];
    let reg_off = prop_oneof![
        0u64..0x40,
        0x1000u64..0x1120,
        0u64..0x10_0010,
        Just(0x1004u64),
        any::<u64>()
    ];
    prop_oneof![
        (
            prop_oneof![0u32..0x110, any::<u32>()],
            any::<u32>(),
            0u32..6
        )
            .prop_map(|(a, v, l)| Op::Cfg(a, v, l)),
        (reg_off.clone(), any::<u64>(), size.clone()).prop_map(|(o, v, s)| Op::BarWrite(o, v, s)),
        (reg_off, size).prop_map(|(o, s)| Op::BarRead(o, s)),
        (0u64..RAM as u64, any::<[u8; 32]>()).prop_map(|(a, d)| Op::Desc(a & !31, d)),
        Just(Op::Reset),
    ]
}

fn run(kind: Kind, ops: &[Op], small_pointers: bool) {
    let mem = Arc::new(VecMemory::new(0, RAM));
    let opts = DeviceOptions {
        kind,
        timing: Timing::default(),
        faults: FaultPlan::new(vec![
            "halt-at=5".parse().unwrap(),
            "corrupt-at=7".parse().unwrap(),
        ]),
        function: 0,
        sdxi: Default::default(),
    };
    let mut dev = Device::new(&opts, mem.clone());
    let bar = if kind == Kind::Ptdma { 0x18 } else { 0x10 };
    dev.cfg_write(bar, BAR as u32, 4);
    dev.cfg_write(4, 6, 2);
    for op in ops {
        match *op {
            Op::Cfg(a, v, l) => {
                dev.cfg_write(a, v, l);
                dev.cfg_read(a, l);
            }
            Op::BarWrite(o, v, s) => {
                // Keep ring pointers mostly inside RAM so descriptors actually run.
                let v = if small_pointers { v % RAM as u64 } else { v };
                dev.bar_write(BAR.wrapping_add(o), v, s)
            }
            Op::BarRead(o, s) => {
                dev.bar_read(BAR.wrapping_add(o), s);
            }
            Op::Desc(a, d) => {
                let _ = mem.write(a, &d);
            }
            Op::Reset => {
                dev.reset();
                dev.cfg_write(bar, BAR as u32, 4);
                dev.cfg_write(4, 6, 2);
            }
        }
        dev.cfg_read(0, 4);
    }
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert!(dev.healthy(), "a queue worker died");
    let _ = dev.bar_read(BAR + 0x1008, 4);
    dev.stop();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn ptdma_survives_random_input(ops in prop::collection::vec(op(), 1..60), small in any::<bool>()) {
        run(Kind::Ptdma, &ops, small);
    }

    #[test]
    fn ae4dma_survives_random_input(ops in prop::collection::vec(op(), 1..60), small in any::<bool>()) {
        run(Kind::Ae4dma, &ops, small);
    }

    #[test]
    fn ptdma_descriptor_decode_never_panics(raw in any::<[u8; 32]>()) {
        let _ = ptdma_model::desc::decode_ptdma(&raw);
        let _ = ptdma_model::desc::decode_ae4(&raw);
    }
}

#[test]
fn running_queue_with_random_ring_content() {
    // A valid running PTDMA queue over a ring full of random bytes: must process or stop,
    // never panic; HEAD stays inside the ring.
    let mem = Arc::new(VecMemory::new(0, RAM));
    let mut seed = 0x1234_5678u64;
    let mut junk = vec![0u8; 4096];
    for b in junk.iter_mut() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        *b = seed as u8;
    }
    mem.write(0x1000, &junk).unwrap();
    let opts = DeviceOptions {
        kind: Kind::Ptdma,
        timing: Timing::default(),
        faults: FaultPlan::new(vec![]),
        function: 0,
        sdxi: Default::default(),
    };
    let mut dev = Device::new(&opts, mem);
    dev.cfg_write(0x18, BAR as u32, 4);
    dev.cfg_write(4, 6, 2);
    dev.bar_write(BAR + 0x1004, 0x1000, 4);
    dev.bar_write(BAR + 0x1008, 0x1000, 4);
    dev.bar_write(BAR + 0x1000, (6 << 3) | 1, 4); // 128 entries = 4 KiB
    for _ in 0..50 {
        dev.bar_write(BAR + 0x1004, 0x1fe0, 4);
        std::thread::sleep(std::time::Duration::from_millis(1));
        let head = dev.bar_read(BAR + 0x1008, 4);
        assert!((0x1000..0x2000).contains(&head), "HEAD {head:#x}");
        // Skip the failing descriptor and restart, like a driver would.
        if dev.bar_read(BAR + 0x1010, 4) & 2 != 0 {
            dev.bar_write(BAR + 0x1008, (head + 32) & 0x1fff | 0x1000, 4);
            dev.bar_write(BAR + 0x1010, 0xf, 4);
            dev.bar_write(BAR + 0x1000, (6 << 3) | 1, 4);
        }
    }
    assert!(dev.healthy());
    dev.stop();
}
