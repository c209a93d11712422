use super::*;
use crate::ae4dma::*;
use crate::error::PtdmaError;
use crate::regs::ae4::Ae4QueueReg;
use crate::testing::{Access, FakeAe4, FakePhys, Faults};
use crate::SliceMemory;

fn queue<'a>(
    mem: &'a FakePhys,
    dev: &'a FakeAe4<'a>,
    qid: usize,
) -> Ae4Queue<&'a FakeAe4<'a>, SliceMemory<'a>> {
    let granted = init_common(dev, 16).unwrap();
    let ring = mem.region(RING + 0x400 * qid as u64, 32 * AE4_DEFAULT_ENTRIES);
    Ae4Queue::init(dev, qid, granted, ring, Ae4Config::default()).unwrap()
}

#[test]
fn descriptor_layout() {
    let d = Ae4Descriptor::memcpy(
        DmaAddr::new(0x1_2345_6780),
        DmaAddr::new(0xab_0000_0040),
        4096,
        true,
    );
    assert_eq!(d.to_words(), [2, 0, 4096, 0, 0x2345_6780, 1, 0x40, 0xab]);
    assert_eq!(core::mem::size_of::<Ae4Descriptor>(), 32);
    let d = Ae4Descriptor::from_words([0, 0x0005_0304, 0, 0, 0, 0, 0, 0]);
    assert_eq!((d.status(), d.error()), (4, 3));
}

#[test]
fn common_config_reads_back_granted_queues() {
    let mem = FakePhys::new(MEM);
    let dev = FakeAe4::new(&mem, 4);
    assert_eq!(init_common(&dev, 16), Ok(4));
    assert_eq!(dev.log(), [Access::Write(0, 16), Access::Read(0, 4)]);
    let r = Ae4Queue::init(&dev, 4, 4, mem.region(RING, 1024), Ae4Config::default());
    assert_eq!(r.unwrap_err(), PtdmaError::NoSuchQueue(4));
}

#[test]
fn queue_init_programs_its_own_block() {
    let mem = FakePhys::new(MEM);
    let dev = FakeAe4::new(&mem, 16);
    queue(&mem, &dev, 2);
    let base = 0x20 * 3;
    let ring = (RING + 0x800) as u32;
    use Access::{Read as R, Write as W};
    assert_eq!(
        dev.log()[2..],
        [
            W(base + 8, 32),
            W(base + 0x18, ring),
            W(base + 0x1c, 0),
            R(base + 0x10, 0),
            R(base + 0xc, 0),
            W(base, 1)
        ]
    );
}

#[test]
fn one_write_idx_doorbell_per_batch_and_index_wraps() {
    let mem = FakePhys::new(MEM);
    let dev = FakeAe4::new(&mem, 16);
    let mut q = queue(&mem, &dev, 0);
    let all = ops(&mem, 40, 256);
    q.submit(&all[..20]).unwrap();
    q.wait(10).unwrap();
    q.submit(&all[20..]).unwrap();
    assert_eq!(q.write_index(), 8);
    q.wait(10).unwrap();
    let doorbells: Vec<_> = dev
        .log()
        .into_iter()
        .filter(|a| matches!(a, Access::Write(0x30, _)))
        .collect();
    assert_eq!(doorbells, [Access::Write(0x30, 20), Access::Write(0x30, 8)]);
    assert_eq!(q.counters().doorbells, 2);
    assert_eq!(dev.peek(0, Ae4QueueReg::ReadIdx), 8);
    assert!(all.iter().all(|op| copied(&mem, op)));
    // Status written back as "completed" in the ring.
    assert_eq!(mem.read32(RING + 4) & 0xff, u32::from(AE4_STATUS_COMPLETED));
}

#[test]
fn full_ring_and_misalignment_are_rejected() {
    let mem = FakePhys::new(MEM);
    let dev = FakeAe4::new(&mem, 16);
    let mut q = queue(&mem, &dev, 0);
    let all = ops(&mem, 32, 64);
    assert_eq!(
        q.submit(&all),
        Err(PtdmaError::QueueFull {
            needed: 32,
            free: 31
        })
    );
    let mut bad = all[0];
    bad.len = 62;
    assert_eq!(
        q.submit(&[bad]),
        Err(PtdmaError::Misaligned(DmaAddr::new(62)))
    );
    bad = all[0];
    bad.dst = bad.dst.add(2);
    assert_eq!(q.submit(&[bad]), Err(PtdmaError::Misaligned(bad.dst)));
    assert_eq!(q.counters().doorbells, 0);
}

#[test]
fn long_ops_are_split() {
    let mem = FakePhys::new(MEM);
    let dev = FakeAe4::new(&mem, 16);
    let granted = init_common(&dev, 16).unwrap();
    let config = Ae4Config {
        max_desc_len: 1026,
        ..Default::default()
    };
    let mut q = Ae4Queue::init(&dev, 0, granted, mem.region(RING, 1024), config).unwrap();
    let batch = ops(&mem, 1, 2560);
    assert_eq!(q.descriptors_for(&batch[0]), 3); // 1024 + 1024 + 512 (limit rounded down to 1024)
    q.submit(&batch).unwrap();
    q.wait(10).unwrap();
    assert!(copied(&mem, &batch[0]));
    assert_eq!(mem.read32(RING + 64 + 8), 512);
}

#[test]
fn descriptor_error_reports_progress_and_queue_keeps_working() {
    let mem = FakePhys::new(MEM);
    let dev = FakeAe4::new(&mem, 16);
    let mut q = queue(&mem, &dev, 1);
    dev.faults.set(Faults {
        error_at: Some((2, 5)),
        ..Default::default()
    });
    let batch = ops(&mem, 4, 128);
    let t = q.submit(&batch).unwrap();
    let err = q.wait(10).unwrap_err();
    let PtdmaError::Ae4Descriptor {
        status,
        code,
        name,
        desc_index,
        progress,
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!((status, code, desc_index), (4, 5, 2));
    assert_eq!(name, "invalid destination address (4-byte alignment)");
    assert_eq!(
        (progress.ticket, progress.ops_completed, progress.ops_total),
        (t.0, 2, 4)
    );
    assert!(!copied(&mem, &batch[2]));
    dev.faults.set(Faults::default());
    let again = ops(&mem, 3, 64);
    q.submit(&again).unwrap();
    q.wait(10).unwrap();
    assert!(again.iter().all(|op| copied(&mem, op)));
}

#[test]
fn stuck_queue_times_out_and_is_reset() {
    let mem = FakePhys::new(MEM);
    let dev = FakeAe4::new(&mem, 16);
    let mut q = queue(&mem, &dev, 0);
    dev.faults.set(Faults {
        stuck: true,
        ..Default::default()
    });
    let batch = ops(&mem, 2, 64);
    q.submit(&batch).unwrap();
    let err = q.wait(50).unwrap_err();
    assert!(
        matches!(err, PtdmaError::Timeout { desc_index: 0, .. }),
        "{err:?}"
    );
    assert_eq!(err.progress().unwrap().ops_completed, 0);
    assert_eq!(
        dev.peek(0, Ae4QueueReg::WriteIdx),
        0,
        "write_idx rewound to read_idx"
    );
    dev.faults.set(Faults::default());
    q.submit(&batch).unwrap();
    q.wait(10).unwrap();
    assert!(batch.iter().all(|op| copied(&mem, op)));
}

#[test]
fn vanished_device() {
    let mem = FakePhys::new(MEM);
    let dev = FakeAe4::new(&mem, 16);
    dev.faults.set(Faults {
        gone: true,
        ..Default::default()
    });
    assert_eq!(init_common(&dev, 16), Err(PtdmaError::DeviceGone));
}
