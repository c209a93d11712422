//! Host tests against the register models in `testing`.

mod ae4;
mod channel;
mod desc;
mod queue;
mod sdxi;

use crate::testing::FakePhys;
use crate::{CopyOp, DmaAddr};

/// Ring at 0x1000 (up to 64 entries), marker area at 0x2000, data from 0x10000.
pub const RING: u64 = 0x1000;
pub const MARKER: u64 = 0x2000;
pub const DATA: u64 = 0x1_0000;
pub const MEM: usize = 1 << 20;

/// `n` ops of `len` bytes from DATA.. to DATA + 0x40000.., each source filled with a pattern.
pub fn ops(mem: &FakePhys, n: usize, len: u64) -> Vec<CopyOp> {
    (0..n as u64)
        .map(|i| {
            let src = DATA + i * len.next_multiple_of(64);
            mem.fill(src, len, i as u8 + 1);
            CopyOp {
                src: DmaAddr::new(src),
                dst: DmaAddr::new(src + 0x4_0000),
                len,
            }
        })
        .collect()
}

pub fn copied(mem: &FakePhys, op: &CopyOp) -> bool {
    mem.equal(op.src.as_u64(), op.dst.as_u64(), op.len)
}
