//! Protocol-level tests through a real socketpair: config space, BAR sizing, COMMAND gating,
//! SYNC_SYSMEM with real memfds, DEVICE_RESET, access sizes, and the one-RET-per-request rule.

mod common;

use std::os::fd::AsRawFd;

use common::*;
use nix::sys::socket::{recv, MsgFlags};
use ptdma_model::device::Kind;
use ptdma_model::engine::Timing;
use ptdma_model::proto::{cmd, encode_sysmem, SysmemEntry};
use ptdma_model::transport::send_msg;

#[test]
fn config_ids_and_class() {
    let h = Harness::start(Kind::Ptdma, Timing::default(), vec![]);
    // The exact probe sequence of proxy.c's probe_pci_info, then SeaBIOS-style dword reads.
    assert_eq!(h.cfg_read(0x00, 2), 0x1022);
    assert_eq!(h.cfg_read(0x02, 2), 0x1498);
    assert_eq!(h.cfg_read(0x0a, 2), 0x1080);
    assert_eq!(h.cfg_read(0x2e, 2), 0x1498);
    assert_eq!(h.cfg_read(0x2c, 2), 0x1022);
    assert_eq!(h.cfg_read(0x00, 4), 0x1498_1022);
    assert_eq!(h.cfg_read(0x08, 4), 0x1080_0000);
    assert_eq!(h.cfg_read(0x0e, 1), 0);
    assert_eq!(h.cfg_read(0x3d, 1), 1);
    assert_eq!(h.cfg_read(0x30, 4), 0, "no expansion ROM");
    let c = h.counters.to_json();
    assert_eq!(c["config"]["reads"], 10);
    assert_eq!(c["config"]["id_reads"], 3);
    h.finish().unwrap();
}

#[test]
fn bar_sizing_like_qemu_probe() {
    let h = Harness::start(Kind::Ptdma, Timing::default(), vec![]);
    for i in 0..7u32 {
        let off = 0x10 + 4 * i;
        let orig = h.cfg_read(off, 4);
        h.cfg_write(off, 0xffff_ffff, 4);
        let new = h.cfg_read(off, 4);
        h.cfg_write(off, orig, 4);
        if i == 2 {
            assert_eq!(
                new, 0xfff0_0000,
                "BAR2: 1 MiB, 32-bit, non-prefetchable memory"
            );
            let size = !(new & 0xffff_fff0) + 1;
            assert_eq!(size, 1 << 20);
        } else if i == 5 {
            assert_eq!(new, 0xffff_e000, "BAR5: 8 KiB MSI-X table and PBA");
        } else {
            assert_eq!(new, 0, "BAR{i} unimplemented");
        }
        assert_eq!(h.cfg_read(off, 4), orig);
    }
    h.cfg_write(0x18, 0xfea0_0000, 4);
    assert_eq!(h.cfg_read(0x18, 4), 0xfea0_0000);
    h.cfg_write(0x18, 0xfea1_2345, 4);
    assert_eq!(
        h.cfg_read(0x18, 4),
        0xfea0_0000,
        "low bits of a 1 MiB BAR are read-only"
    );
    assert_eq!(
        h.counters.to_json()["config"]["bar_assigned"],
        0xfea0_0000u64
    );
    h.finish().unwrap();
}

#[test]
fn command_mem_gates_mmio() {
    let h = Harness::start(Kind::Ptdma, Timing::default(), vec![]);
    h.cfg_write(0x18, BAR as u32, 4);
    assert_eq!(h.r32(BAR + 0x10), 0xffff_ffff, "MEM off: reads float");
    h.cfg_write(0x04, 0x0002, 2);
    assert_eq!(h.cfg_read(0x04, 2), 0x0002);
    assert_eq!(h.r32(BAR + 0x10), 0x8001, "VERSION");
    h.w32(BAR + 0x10, 0x1234);
    assert_eq!(h.r32(BAR + 0x10), 0x8001, "VERSION is read-only");
    assert_eq!(h.r32(BAR + 0x10_0000), 0xffff_ffff, "beyond the BAR");
    h.cfg_write(0x04, 0, 2);
    h.w32(BAR, 0x6);
    h.cfg_write(0x04, 0x0002, 2);
    assert_eq!(h.r32(BAR), 0, "writes with MEM off are dropped");
    assert_eq!(h.counters.to_json()["messages"]["bar_unclaimed"], 3);
    h.finish().unwrap();
}

#[test]
fn command_master_gates_dma() {
    let h = Harness::start(Kind::Ptdma, Timing::default(), vec![]);
    h.sync_ram();
    h.cfg_write(0x18, BAR as u32, 4);
    h.cfg_write(0x04, 0x0002, 2); // MEM only
    let src = pattern(7, 512);
    h.poke(0x10_0000, &src);
    let mut ring = PtRing::init(&h, 0x8000, 5);
    ring.submit(
        &h,
        &[ptdma_model::desc::encode_ptdma(
            0x10_0000, 0x20_0000, 512, true, false,
        )],
    );
    std::thread::sleep(std::time::Duration::from_millis(150));
    assert_eq!(h.r32(Q + 0x8), 0x8000, "no bus mastering, no progress");
    assert_eq!(h.peek(0x20_0000, 512), vec![0; 512]);
    h.cfg_write(0x04, 0x0006, 2);
    assert!(ring.drain(&h));
    assert_eq!(h.peek(0x20_0000, 512), src);
    h.finish().unwrap();
}

#[test]
fn access_sizes_1_2_4_8() {
    let h = Harness::ready(Kind::Ptdma, vec![]);
    h.write(BAR, 0x1122_3344_5566_7788, 8); // QUEUE_PRIO + REQID_CONFIG
    assert_eq!(h.r32(BAR), 0x5566_7788);
    assert_eq!(h.r32(BAR + 4), 0x1122_3344);
    assert_eq!(h.read(BAR, 8), 0x1122_3344_5566_7788);
    h.write(BAR + 1, 0xab, 1);
    assert_eq!(h.r32(BAR), 0x5566_ab88);
    h.write(BAR + 2, 0xcdef, 2);
    assert_eq!(h.r32(BAR), 0xcdef_ab88);
    assert_eq!(h.read(BAR + 3, 1), 0xcd);
    assert_eq!(h.read(BAR + 2, 2), 0xcdef);
    let c = h.counters.to_json();
    assert_eq!(c["global"]["mmio_writes"]["QUEUE_PRIO"], 3);
    assert_eq!(c["global"]["mmio_writes"]["REQID_CONFIG"], 1);
    h.finish().unwrap();
}

#[test]
fn sync_sysmem_memfd_and_copy_across_nodes() {
    let h = Harness::ready(Kind::Ptdma, vec![]);
    let c = h.counters.to_json();
    assert_eq!(c["messages"]["sync_sysmem"], 1);
    assert_eq!(
        c["ram_windows"],
        serde_json::json!([[0, NODE_SIZE], [NODE_SIZE, NODE_SIZE]])
    );
    assert_eq!(c["ram_files"], 2);
    // Node 0 -> node 1 and a copy that straddles the node boundary.
    let src = pattern(1, 64 << 10);
    h.poke(0x10_0000, &src);
    let mut ring = PtRing::init(&h, 0x1000, 5);
    ring.submit(
        &h,
        &[
            ptdma_model::desc::encode_ptdma(0x10_0000, NODE_SIZE + 0x4000, 64 << 10, true, false),
            ptdma_model::desc::encode_ptdma(0x10_0000, NODE_SIZE - 0x100, 0x200, true, false),
        ],
    );
    assert!(ring.drain(&h));
    assert_eq!(h.peek(NODE_SIZE + 0x4000, 64 << 10), src);
    let mut straddle = h.peek(NODE_SIZE - 0x100, 0x100);
    straddle.extend(h.peek(NODE_SIZE, 0x100));
    assert_eq!(straddle, src[..0x200]);
    // A later sync with only node 0 removes node 1 from the DMA window.
    let t = [SysmemEntry {
        gpa: 0,
        size: NODE_SIZE,
        offset: 0,
    }];
    send_msg(
        h.fd(),
        cmd::SYNC_SYSMEM,
        &encode_sysmem(&t),
        &[h.node0.as_raw_fd()],
    )
    .unwrap();
    ring.submit(
        &h,
        &[ptdma_model::desc::encode_ptdma(
            0x10_0000, NODE_SIZE, 16, true, false,
        )],
    );
    assert!(
        wait_for(2000, || h.r32(Q + 0x100) & 0x3f == 0x27),
        "dst now outside RAM"
    );
    h.finish().unwrap();
}

#[test]
fn sysmem_offsets_are_file_offsets() {
    // Like QEMU's [0xc0000, +size) off 0xc0000 entries: GPA window start != file start.
    let h = Harness::start(Kind::Ptdma, Timing::default(), vec![]);
    let t = [
        SysmemEntry {
            gpa: 0,
            size: 0xa0000,
            offset: 0,
        },
        SysmemEntry {
            gpa: 0xc0000,
            size: NODE_SIZE - 0xc0000,
            offset: 0xc0000,
        },
        SysmemEntry {
            gpa: 0x1000_0000,
            size: 0x10_0000,
            offset: 0x20_0000,
        },
    ];
    let fds = [
        h.node0.as_raw_fd(),
        h.node0.as_raw_fd(),
        h.node1.as_raw_fd(),
    ];
    send_msg(h.fd(), cmd::SYNC_SYSMEM, &encode_sysmem(&t), &fds).unwrap();
    h.cfg_write(0x18, BAR as u32, 4);
    h.cfg_write(0x04, 6, 2);
    let data = pattern(9, 256);
    h.node1.write_all_at_helper(0x20_0000 + 0x40, &data);
    let mut ring = PtRing::init(&h, 0x1000, 5);
    ring.submit(
        &h,
        &[ptdma_model::desc::encode_ptdma(
            0x1000_0040,
            0xc0100,
            256,
            true,
            false,
        )],
    );
    assert!(ring.drain(&h));
    assert_eq!(h.peek(0xc0100, 256), data);
    // The hole [0xa0000, 0xc0000) is not RAM.
    ring.submit(
        &h,
        &[ptdma_model::desc::encode_ptdma(
            0xa0000, 0x1000, 16, true, false,
        )],
    );
    assert!(wait_for(2000, || h.r32(Q + 0x100) & 0x3f == 0x14));
    let c = h.counters.to_json();
    assert_eq!(
        c["ram_files"], 2,
        "node0's fd came twice but is mapped once"
    );
    // Resending the same table many times (QEMU does ~30x per boot) keeps one mapping per file.
    for _ in 0..20 {
        send_msg(h.fd(), cmd::SYNC_SYSMEM, &encode_sysmem(&t), &fds).unwrap();
    }
    assert_eq!(h.cfg_read(0, 2), 0x1022);
    assert_eq!(h.counters.to_json()["ram_files"], 2);
    assert_eq!(h.counters.to_json()["messages"]["sync_sysmem"], 21);
    h.finish().unwrap();
}

trait WriteAt {
    fn write_all_at_helper(&self, off: u64, d: &[u8]);
}
impl WriteAt for std::fs::File {
    fn write_all_at_helper(&self, off: u64, d: &[u8]) {
        std::os::unix::fs::FileExt::write_all_at(self, d, off).unwrap();
    }
}

#[test]
fn exactly_one_ret_per_request() {
    let h = Harness::start(Kind::Ptdma, Timing::default(), vec![]);
    h.sync_ram(); // no reply
                  // Any fds do for the protocol; under TCG QEMU's eventfds are never signalled anyway.
    let irq = memfd("irqfd", 0);
    let rs = memfd("resamplefd", 0);
    send_msg(
        h.fd(),
        cmd::SET_IRQFD,
        &[],
        &[irq.as_raw_fd(), rs.as_raw_fd()],
    )
    .unwrap();
    // The next reply must be the CFGREAD's, not something for the two messages above.
    assert_eq!(h.cfg_read(0, 2), 0x1022);
    h.cfg_write(0x3c, 11, 1);
    h.reset();
    assert_eq!(h.read(BAR, 4), 0xffff_ffff);
    h.write(BAR, 1, 4);
    // Nothing else may be pending on the socket.
    std::thread::sleep(std::time::Duration::from_millis(50));
    let mut b = [0u8; 64];
    let r = recv(h.fd(), &mut b, MsgFlags::MSG_DONTWAIT);
    assert_eq!(
        r,
        Err(nix::errno::Errno::EAGAIN),
        "unsolicited bytes from the model"
    );
    let c = h.counters.to_json();
    assert_eq!(c["messages"]["set_irqfd"], 1);
    assert_eq!(c["messages"]["device_reset"], 1);
    h.finish().unwrap();
}

#[test]
fn device_reset_clears_config_and_queue() {
    let h = Harness::ready(Kind::Ptdma, vec![]);
    let mut ring = PtRing::init(&h, 0x2000, 5);
    h.w32(Q + 0xc, 3);
    ring.submit(
        &h,
        &[ptdma_model::desc::encode_ptdma(
            0x10_0000, 0x20_0000, 64, true, false,
        )],
    );
    assert!(ring.drain(&h));
    assert_eq!(h.r32(Q + 0x10) & 1, 1);
    h.reset();
    assert_eq!(h.cfg_read(0x04, 2), 0, "COMMAND");
    assert_eq!(h.cfg_read(0x18, 4), 0, "BAR2");
    assert_eq!(h.cfg_read(0x00, 4), 0x1498_1022);
    h.cfg_write(0x18, BAR as u32, 4);
    h.cfg_write(0x04, 6, 2);
    for off in [0x0, 0x4, 0x8, 0xc, 0x10, 0x100] {
        let v = h.r32(Q + off);
        let expect = if off == 0 { 0x2 } else { 0 }; // only HALTED
        assert_eq!(v, expect, "queue reg {off:#x} after reset");
    }
    assert_eq!(h.r32(BAR), 0, "global regs reset");
    h.finish().unwrap();
}

#[test]
fn garbage_message_is_ignored_and_oversize_is_an_error() {
    let h = Harness::start(Kind::Ptdma, Timing::default(), vec![]);
    send_msg(h.fd(), 42, &[1, 2, 3], &[]).unwrap();
    send_msg(h.fd(), cmd::RET, &[0; 8], &[]).unwrap();
    assert_eq!(h.cfg_read(2, 2), 0x1498);
    // size > 192 is a fatal framing error (QEMU would reject it too).
    let mut hdr = ptdma_model::proto::Header {
        cmd: cmd::BAR_READ,
        size: 4096,
    }
    .encode()
    .to_vec();
    hdr.extend_from_slice(&[0; 64]);
    nix::sys::socket::send(h.fd(), &hdr, MsgFlags::empty()).unwrap();
    let r = h.thread.take_result();
    assert!(r.unwrap_err().contains("size"));
}

trait TakeResult {
    fn take_result(self) -> Result<(), String>;
}
impl TakeResult for Option<std::thread::JoinHandle<Result<(), String>>> {
    fn take_result(self) -> Result<(), String> {
        self.expect("thread").join().expect("no panic")
    }
}

#[test]
fn intx_irqfd_written_on_enabled_completion_unless_disabled() {
    let h = Harness::ready(Kind::Ptdma, vec![]);
    let (irq_r, irq_w) = nix::unistd::pipe().unwrap();
    // The "resamplefd" is a pipe: the model reads its end, the test writes the other.
    let (rs_r, rs_w2) = nix::unistd::pipe().unwrap();
    nix::fcntl::fcntl(
        &irq_r,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    send_msg(
        h.fd(),
        cmd::SET_IRQFD,
        &[],
        &[irq_w.as_raw_fd(), rs_r.as_raw_fd()],
    )
    .unwrap();
    let mut ring = PtRing::init(&h, 0x2000, 5);
    let d = ptdma_model::desc::encode_ptdma(0x10_0000, 0x20_0000, 64, true, false);
    let mut buf = [0u8; 8];
    // INT_ENABLE = 0: status latches, no interrupt.
    ring.submit(&h, &[d]);
    assert!(ring.drain(&h));
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(
        nix::unistd::read(&irq_r, &mut buf),
        Err(nix::errno::Errno::EAGAIN)
    );
    // COMPLETION enabled: the irqfd gets an 8-byte 1.
    h.w32(Q + 0xc, 1);
    ring.submit(&h, &[d]);
    assert!(ring.drain(&h));
    assert!(wait_for(1000, || nix::unistd::read(&irq_r, &mut buf) == Ok(8)));
    assert_eq!(u64::from_ne_bytes(buf), 1);
    // Level semantics: a resample while INTERRUPT_STATUS & INT_ENABLE != 0 re-asserts ...
    nix::unistd::write(&rs_w2, &1u64.to_ne_bytes()).unwrap();
    assert!(
        wait_for(1000, || nix::unistd::read(&irq_r, &mut buf) == Ok(8)),
        "re-assert"
    );
    // ... and after the driver clears the status (W1C) a resample finds the line low.
    h.w32(Q + 0x10, 0xf);
    nix::unistd::write(&rs_w2, &1u64.to_ne_bytes()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(
        nix::unistd::read(&irq_r, &mut buf),
        Err(nix::errno::Errno::EAGAIN)
    );
    // COMMAND.INTX_DISABLE suppresses it.
    h.cfg_write(0x04, 0x0406, 2);
    ring.submit(&h, &[d]);
    assert!(ring.drain(&h));
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(
        nix::unistd::read(&irq_r, &mut buf),
        Err(nix::errno::Errno::EAGAIN)
    );
    h.finish().unwrap();
}

/// MSI-X as Linux's pci_enable_msix_range drives it: the table in BAR5 reads back what was
/// programmed, Enable sticks in config space, and the model records it (no message is sent).
#[test]
fn msix_table_in_bar5_and_enable_bits_through_the_socket() {
    let h = Harness::ready(Kind::Ptdma, vec![]);
    const MSIX_BAR: u64 = 0xfeb0_0000;
    h.cfg_write(0x24, MSIX_BAR as u32, 4);
    assert_eq!(h.cfg_read(0x24, 4), MSIX_BAR as u32);
    let cap = 0xc0;
    assert_eq!(h.cfg_read(cap, 1), 0x11, "MSI-X capability");
    assert_eq!(h.r32(MSIX_BAR + 12), 1, "vector 0 masked at reset");
    h.cfg_write(cap + 2, 0xc000, 2); // Enable + Function Mask, as Linux does first
    h.w32(MSIX_BAR, 0xfee0_0000);
    h.w32(MSIX_BAR + 4, 0);
    h.w32(MSIX_BAR + 8, 0x0022);
    h.w32(MSIX_BAR + 12, 0);
    h.cfg_write(cap + 2, 0x8000, 2);
    assert_eq!(h.cfg_read(cap + 2, 2), 0x8000);
    assert_eq!(
        h.read(MSIX_BAR, 8),
        0xfee0_0000,
        "8-byte access to address low/high"
    );
    assert_eq!(h.r32(MSIX_BAR + 8), 0x22);
    assert_eq!(h.r32(MSIX_BAR + 0x1000), 0, "PBA: nothing pending");
    let irq = &h.counters.to_json()["interrupts"];
    assert_eq!(irq["msix_enabled"], true);
    assert_eq!(irq["msix_unmasked"], 1);
    assert_eq!(h.r32(BAR + 0x10), 0x8001, "register BAR unaffected");
    h.finish().unwrap();
}
