//! SDXI driver tests against `sdxi::fake::FakeSdxi`.

mod bringup;
mod channel;
mod desc;

use crate::sdxi::fake::{FakeBar, FakeSdxi};
use crate::sdxi::{ChannelConfig, FunctionConfig, SdxiChannel, SdxiFunction, SharedFunction};
use crate::testing::FakePhys;
use crate::{CopyOp, DmaAddr, SliceMemory};
use alloc::sync::Arc;

/// Fake memory: 4 MiB.
pub const MEM: usize = 4 << 20;
/// Function tables (L2, L1, error log).
pub const TABLES: u64 = 0x1000;
/// Admin context region.
pub const ADMIN: u64 = 0x10000;
/// Client context `id` region.
pub fn client(id: u16) -> u64 {
    0x40000 + 0x20000 * u64::from(id - 1)
}
/// Data area: sources from here, destinations 1 MiB higher.
pub const DATA: u64 = 0x20_0000;

pub type Bar<'a> = FakeBar<'a, 'a>;
pub type Fun<'a> = SharedFunction<Bar<'a>, SliceMemory<'a>>;
pub type Chan<'a> = SdxiChannel<Bar<'a>, SliceMemory<'a>>;

pub fn activate<'a>(mem: &'a FakePhys, dev: &'a FakeSdxi<'a>) -> Fun<'a> {
    activate_with(mem, dev, 0x2000)
}

/// Activates with a doorbell BAR of `db_bytes` (4 KiB per context).
pub fn activate_with<'a>(mem: &'a FakePhys, dev: &'a FakeSdxi<'a>, db_bytes: u64) -> Fun<'a> {
    let f = SdxiFunction::activate(
        dev.bar0(),
        dev.bar2(),
        mem.region(TABLES, 0x3000),
        mem.region(ADMIN, 0x12000),
        FunctionConfig {
            spins: 1000,
            doorbell_bar_bytes: db_bytes,
            ..FunctionConfig::default()
        },
    )
    .unwrap();
    // The fake is single-threaded (RefCell); the kernel's registers and memory are Send.
    #[allow(clippy::arc_with_non_send_sync)]
    Arc::new(spin::Mutex::new(f))
}

pub fn open<'a>(mem: &'a FakePhys, dev: &'a FakeSdxi<'a>, f: &Fun<'a>, id: u16) -> Chan<'a> {
    open_with(mem, dev, f, id, ChannelConfig::default())
}

pub fn open_with<'a>(
    mem: &'a FakePhys,
    dev: &'a FakeSdxi<'a>,
    f: &Fun<'a>,
    id: u16,
    config: ChannelConfig,
) -> Chan<'a> {
    SdxiChannel::open(
        f.clone(),
        id,
        dev.bar0(),
        dev.bar2(),
        mem.region(client(id), 0x12000),
        config,
    )
    .unwrap()
}

/// `n` ops of `len` bytes starting at source offset `first` (in units of the op length rounded up to 64 bytes), sources
/// filled with a pattern.
pub fn ops(mem: &FakePhys, first: u64, n: usize, len: u64) -> Vec<CopyOp> {
    (0..n as u64)
        .map(|i| {
            let src = DATA + (first + i) * len.next_multiple_of(64);
            mem.fill(src, len, (first + i) as u8 ^ 0x5A);
            CopyOp {
                src: DmaAddr::new(src),
                dst: DmaAddr::new(src + 0x10_0000),
                len,
            }
        })
        .collect()
}

pub fn copied(mem: &FakePhys, op: &CopyOp) -> bool {
    mem.equal(op.src.as_u64(), op.dst.as_u64(), op.len)
}
