//! Test harness: plays QEMU's side of the proxy protocol over a real socketpair against a
//! `Server` running on a thread, with guest RAM in real memfds sent by SCM_RIGHTS.
#![allow(dead_code)]

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use ptdma_model::counters::Counters;
use ptdma_model::device::{DeviceOptions, Kind};
use ptdma_model::engine::Timing;
use ptdma_model::faults::{Fault, FaultPlan};
use ptdma_model::proto::{cmd, encode_sysmem, BarAccess, PciConf, SysmemEntry};
use ptdma_model::transport::{recv_ret, send_msg, Server};

/// Node 0 RAM: GPA [0, 8 MiB) in memfd A; node 1: GPA [8 MiB, 16 MiB) in memfd B.
pub const NODE_SIZE: u64 = 8 << 20;
pub const BAR: u64 = 0xfea0_0000;
pub const Q: u64 = BAR + 0x1000;

pub struct Harness {
    pub sock: OwnedFd,
    pub counters: Arc<Counters>,
    pub thread: Option<JoinHandle<Result<(), String>>>,
    pub node0: File,
    pub node1: File,
}

pub fn memfd(name: &str, size: u64) -> File {
    let fd = memfd_create(name, MFdFlags::MFD_CLOEXEC).expect("memfd_create");
    let f = File::from(fd);
    f.set_len(size).expect("ftruncate");
    f
}

impl Harness {
    pub fn start(kind: Kind, timing: Timing, faults: Vec<Fault>) -> Harness {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .expect("socketpair");
        let opts = DeviceOptions {
            kind,
            timing,
            faults: FaultPlan::new(faults),
            function: 0,
            sdxi: Default::default(),
        };
        let mut server = Server::new(&opts);
        let counters = server.device.counters();
        let thread = std::thread::spawn(move || {
            let r = server.run(&ours);
            server.device.stop();
            r
        });
        Harness {
            sock: theirs,
            counters,
            thread: Some(thread),
            node0: memfd("node0", NODE_SIZE),
            node1: memfd("node1", NODE_SIZE),
        }
    }

    /// A PTDMA function with RAM synced, BAR assigned at `BAR`, MEM|MASTER enabled.
    pub fn ready(kind: Kind, faults: Vec<Fault>) -> Harness {
        let h = Harness::start(kind, Timing::default(), faults);
        h.sync_ram();
        let bar = if kind == Kind::Ptdma { 0x18 } else { 0x10 };
        h.cfg_write(bar, BAR as u32, 4);
        h.cfg_write(0x04, 0x0006, 2);
        h
    }

    pub fn fd(&self) -> i32 {
        self.sock.as_raw_fd()
    }

    pub fn sync_ram(&self) {
        let t = [
            SysmemEntry {
                gpa: 0,
                size: NODE_SIZE,
                offset: 0,
            },
            SysmemEntry {
                gpa: NODE_SIZE,
                size: NODE_SIZE,
                offset: 0,
            },
        ];
        let fds = [self.node0.as_raw_fd(), self.node1.as_raw_fd()];
        send_msg(self.fd(), cmd::SYNC_SYSMEM, &encode_sysmem(&t), &fds).expect("send sync");
    }

    pub fn cfg_read(&self, addr: u32, len: u32) -> u32 {
        let p = PciConf { addr, val: 0, len }.encode();
        send_msg(self.fd(), cmd::PCI_CFGREAD, &p, &[]).expect("send");
        recv_ret(self.fd()).expect("ret") as u32
    }

    pub fn cfg_write(&self, addr: u32, val: u32, len: u32) {
        let p = PciConf { addr, val, len }.encode();
        send_msg(self.fd(), cmd::PCI_CFGWRITE, &p, &[]).expect("send");
        recv_ret(self.fd()).expect("ret");
    }

    pub fn read(&self, addr: u64, size: u32) -> u64 {
        let p = BarAccess {
            addr,
            val: 0,
            size,
            memory: true,
        }
        .encode();
        send_msg(self.fd(), cmd::BAR_READ, &p, &[]).expect("send");
        recv_ret(self.fd()).expect("ret")
    }

    pub fn r32(&self, addr: u64) -> u32 {
        self.read(addr, 4) as u32
    }

    pub fn write(&self, addr: u64, val: u64, size: u32) {
        let p = BarAccess {
            addr,
            val,
            size,
            memory: true,
        }
        .encode();
        send_msg(self.fd(), cmd::BAR_WRITE, &p, &[]).expect("send");
        recv_ret(self.fd()).expect("ret");
    }

    pub fn w32(&self, addr: u64, val: u32) {
        self.write(addr, u64::from(val), 4)
    }

    pub fn reset(&self) {
        send_msg(self.fd(), cmd::DEVICE_RESET, &[], &[]).expect("send");
        recv_ret(self.fd()).expect("ret");
    }

    fn node(&self, gpa: u64) -> (&File, u64) {
        if gpa < NODE_SIZE {
            (&self.node0, gpa)
        } else {
            (&self.node1, gpa - NODE_SIZE)
        }
    }

    /// Writes guest RAM directly through the memfds (what the guest CPU would do).
    pub fn poke(&self, gpa: u64, data: &[u8]) {
        let (f, off) = self.node(gpa);
        f.write_all_at(data, off).expect("poke");
    }

    pub fn peek(&self, gpa: u64, len: usize) -> Vec<u8> {
        let (f, off) = self.node(gpa);
        let mut v = vec![0u8; len];
        f.read_exact_at(&mut v, off).expect("peek");
        v
    }

    /// Closes the socket and returns the server's result.
    pub fn finish(mut self) -> Result<(), String> {
        let t = self.thread.take().expect("thread");
        drop(self.sock);
        t.join().expect("server thread panicked")
    }
}

/// A recognisable pattern.
pub fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Polls `f` until it returns true or `ms` elapse.
pub fn wait_for(ms: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    f()
}

/// PTDMA queue helpers (ptdma-facts §4.1/§4.2 sequence).
pub struct PtRing {
    pub base: u64,
    pub entries: u32,
    pub tail_idx: u32,
}

impl PtRing {
    /// Initialises queue 0 with a ring of 2^order entries at `base` (aligned to its size).
    pub fn init(h: &Harness, base: u64, order: u32) -> PtRing {
        h.w32(Q, 0); // CONTROL: stopped
        h.w32(Q + 0x10, 0xf); // clear INTERRUPT_STATUS
        h.w32(Q + 0x4, base as u32);
        h.w32(Q + 0x8, base as u32);
        h.w32(Q, ((order - 1) << 3) | (((base >> 32) as u32) << 16) | 1);
        PtRing {
            base,
            entries: 1 << order,
            tail_idx: 0,
        }
    }

    pub fn slot(&self, i: u32) -> u64 {
        self.base + u64::from(i % self.entries) * 32
    }

    /// Writes descriptors at the tail, then rings the doorbell once.
    pub fn submit(&mut self, h: &Harness, descs: &[[u8; 32]]) {
        for d in descs {
            h.poke(self.slot(self.tail_idx), d);
            self.tail_idx = (self.tail_idx + 1) % self.entries;
        }
        h.w32(Q + 0x4, self.slot(self.tail_idx) as u32);
    }

    /// Waits until HEAD_LO == TAIL_LO.
    pub fn drain(&self, h: &Harness) -> bool {
        let tail = self.slot(self.tail_idx) as u32;
        wait_for(5000, || h.r32(Q + 0x8) == tail)
    }
}
