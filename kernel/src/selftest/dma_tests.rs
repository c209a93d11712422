//! Self-tests of the PTDMA driver against real engines (the emulated ones in QEMU):
//! copies of many sizes and alignments between nodes, batches of many descriptors
//! with ring wrap-around, all queues at once, and MMIO per batch.

use super::{check, check_eq, Test};
use crate::dma;
use crate::mm::frames::{self, Block};
use alloc::string::String;
use alloc::vec::Vec;
use ptdma::{CopyOp, DmaAddr, DmaChannel, PtdmaError};

pub static TESTS: &[Test] = &[
    Test {
        name: "dma_engines_match_runner",
        in_default_suite: true,
        run: engines_match_runner,
    },
    Test {
        name: "dma_copy_sizes_and_alignments",
        in_default_suite: true,
        run: sizes_and_alignments,
    },
    Test {
        name: "dma_batches_wrap_the_ring",
        in_default_suite: true,
        run: batches_wrap_ring,
    },
    Test {
        name: "dma_all_queues_at_once",
        in_default_suite: true,
        run: all_queues_at_once,
    },
    Test {
        name: "dma_one_doorbell_and_read_per_batch",
        in_default_suite: true,
        run: mmio_per_batch,
    },
    Test {
        name: "dma_refuses_ops_outside_what_is_held",
        in_default_suite: true,
        run: refuses_ops_outside_what_is_held,
    },
    Test {
        name: "dma_fault_recovery",
        in_default_suite: false,
        run: dma_fault_recovery,
    },
];

fn timeout_ns() -> u64 {
    crate::config().dma_timeout_ms * 1_000_000
}

fn pattern(seed: u64, i: usize) -> u8 {
    ((seed as usize).wrapping_mul(131) ^ i.wrapping_mul(7) ^ (i >> 9)) as u8
}

/// A 2 MiB source on node 0 filled with a pattern and a 2 MiB destination on the last
/// node filled with 0xEE; freed by `release`.
fn buffers(seed: u64) -> Result<(Block, Block), String> {
    let last = *frames::nodes().last().ok_or("no memory nodes")?;
    let mut src = frames::alloc_data(0, 9).map_err(|e| alloc::format!("{e}"))?;
    let mut dst = frames::alloc_data(last, 9).map_err(|e| alloc::format!("{e}"))?;
    src.as_mut_slice()
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = pattern(seed, i));
    dst.as_mut_slice().fill(0xee);
    Ok((src, dst))
}

/// Copies `ops` (inside `src` and `dst`, which the test holds) on `c` and waits.
fn copy_own(
    c: &mut dma::Channel,
    src: &Block,
    dst: &mut Block,
    ops: &[CopyOp],
) -> Result<(ptdma::Ticket, ptdma::Completed), PtdmaError> {
    c.held(&dma::Held::blocks(src, dst))
        .copy_sync(ops, timeout_ns())
}

fn release(a: Block, b: Block) -> Result<(), String> {
    frames::free(a)
        .and(frames::free(b))
        .map_err(|e| alloc::format!("{e}"))
}

/// `dst[doff..doff+len] == src[soff..soff+len]` and every other dst byte still 0xEE.
fn verify(
    src: &mut Block,
    dst: &mut Block,
    soff: usize,
    doff: usize,
    len: usize,
) -> Result<(), String> {
    let s = &src.as_mut_slice()[soff..soff + len].to_vec();
    let d = dst.as_mut_slice();
    if let Some(i) = (0..len).find(|&i| d[doff + i] != s[i]) {
        return Err(alloc::format!("byte {i} of a {len}-byte copy differs"));
    }
    let outside = d[..doff]
        .iter()
        .chain(&d[doff + len..])
        .position(|&b| b != 0xee);
    check(outside.is_none(), || {
        alloc::format!("DMA wrote outside [{doff}, {})", doff + len)
    })
}

fn engines_match_runner() -> Result<(), String> {
    match crate::config().expect.ptdma {
        Some(n) => check_eq(
            "DMA engines (PCI functions) started",
            dma::engine_count() as u32,
            n,
        ),
        None => {
            crate::print!("(no expect-ptdma key) ");
            Ok(())
        }
    }
}

fn no_channels() -> bool {
    if dma::channel_count() == 0 {
        crate::print!("(no DMA engine attached) ");
        return true;
    }
    false
}

/// Every channel (`None`) or the first `n`, lent to this test until it returns.
fn lease(n: Option<usize>) -> Result<dma::Lease, String> {
    dma::take(n).map_err(|e| alloc::format!("{e}"))
}

fn sizes_and_alignments() -> Result<(), String> {
    if no_channels() {
        return Ok(());
    }
    let cases = [
        (1usize, 0usize, 0usize),
        (31, 3, 5),
        (4096, 0, 0),
        (4097, 4095, 1),
        (65536, 128, 64),
        (2 << 20, 0, 0),
    ];
    let mut chans = lease(None)?;
    for (ch, c) in chans.iter_mut().enumerate() {
        for (k, &(len, soff, doff)) in cases.iter().enumerate() {
            let (mut src, mut dst) = buffers((ch * 16 + k) as u64)?;
            let op = CopyOp {
                src: DmaAddr::new(src.addr().as_u64() + soff as u64),
                dst: DmaAddr::new(dst.addr().as_u64() + doff as u64),
                len: len as u64,
            };
            let ae4 = c.is_ae4();
            let r = copy_own(c, &src, &mut dst, &[op]);
            if ae4 && (len | soff | doff) % 4 != 0 {
                // AE4DMA moves only 4-byte aligned data: the driver must refuse, not corrupt.
                release(src, dst)?;
                match r {
                    Err(PtdmaError::Misaligned(_)) => continue,
                    other => {
                        return Err(alloc::format!(
                            "AE4 channel {ch}: unaligned copy gave {other:?}"
                        ))
                    }
                }
            }
            let res = r
                .map_err(|e| alloc::format!("channel {ch}, {len} bytes: {e}"))
                .and_then(|_| {
                    verify(&mut src, &mut dst, soff, doff, len).map_err(|e| {
                        alloc::format!("channel {ch}, {len} bytes at +{soff}->+{doff}: {e}")
                    })
                });
            release(src, dst)?;
            res?;
        }
    }
    Ok(())
}

/// Batches of 1 up to a full ring of 2 KiB descriptors (512 and more on PTDMA), one
/// doorbell each, enough to wrap the ring several times; every chunk lands where it
/// should.
fn batches_wrap_ring() -> Result<(), String> {
    if no_channels() {
        return Ok(());
    }
    let mut chans = lease(Some(1))?;
    let c = &mut chans[0];
    let (mut src, mut dst) = buffers(99)?;
    let before = c.counters();
    let (mut batches, mut descs) = (0u64, 0usize);
    let mut result = Ok(());
    // The largest batch one doorbell can carry on this channel (ring minus the empty
    // slot and the marker): 1022 on a PTDMA ring of 1024, 31 on an AE4DMA ring of 32.
    let cap = c.free_slots();
    let ring = cap + 1;
    const CHUNK: usize = 2048;
    for n in [
        1usize, 2, 7, 31, 64, 100, 3, 120, 50, 90, 126, 30, 29, 31, 512, 1000, 1022, 700,
    ] {
        let n = n.min(cap);
        dst.as_mut_slice().fill(0xee);
        // Chunk i of the source goes to chunk (n - 1 - i) of the destination: a shifted
        // or reordered descriptor is caught.
        let ops: Vec<CopyOp> = (0..n)
            .map(|i| CopyOp {
                src: DmaAddr::new(src.addr().as_u64() + (i * CHUNK) as u64),
                dst: DmaAddr::new(dst.addr().as_u64() + ((n - 1 - i) * CHUNK) as u64),
                len: CHUNK as u64,
            })
            .collect();
        if let Err(e) = copy_own(c, &src, &mut dst, &ops) {
            result = Err(alloc::format!("batch of {n}: {e}"));
            break;
        }
        batches += 1;
        descs += n;
        let (s, d) = (src.as_mut_slice().to_vec(), dst.as_mut_slice());
        if let Some(i) = (0..n)
            .find(|&i| d[(n - 1 - i) * CHUNK..(n - i) * CHUNK] != s[i * CHUNK..(i + 1) * CHUNK])
        {
            result = Err(alloc::format!("batch of {n}: chunk {i} misplaced"));
            break;
        }
    }
    release(src, dst)?;
    result?;
    let after = c.counters();
    check_eq(
        "doorbells (one per batch)",
        after.doorbells - before.doorbells,
        batches,
    )?;
    check(descs > 3 * ring, || {
        alloc::format!("only {descs} descriptors: ring not wrapped")
    })
}

/// Every queue gets its own copy, all submitted before any is waited for.
fn all_queues_at_once() -> Result<(), String> {
    if no_channels() {
        return Ok(());
    }
    let mut chans = lease(None)?;
    let n = chans.len();
    let mut bufs = Vec::new();
    for ch in 0..n {
        bufs.push(buffers(500 + ch as u64)?);
    }
    let mut result = Ok(());
    for (ch, (src, dst)) in bufs.iter_mut().enumerate() {
        let op = CopyOp {
            src: DmaAddr::new(src.addr().as_u64()),
            dst: DmaAddr::new(dst.addr().as_u64()),
            len: 1 << 20,
        };
        let held = dma::Held::blocks(src, dst);
        if let Err(e) = chans[ch].held(&held).submit(&[op]) {
            result = Err(alloc::format!("submit on {ch}: {e}"));
        }
    }
    for (ch, c) in chans.iter_mut().enumerate() {
        let deadline = crate::arch::tsc::now_ns() + timeout_ns();
        if let Err(e) = c.wait_until(&mut || crate::arch::tsc::now_ns() > deadline) {
            result = Err(alloc::format!("wait on {ch}: {e}"));
        }
    }
    for (mut src, mut dst) in bufs {
        if result.is_ok() {
            result = verify(&mut src, &mut dst, 0, 0, 1 << 20);
        }
        release(src, dst)?;
    }
    result
}

/// A channel lent for some held memory refuses, before any descriptor or doorbell, an op
/// whose destination is another block (one this test also holds, so the older check that
/// it is some allocated data block passes), and, lent for a batch, a piece at different
/// offsets into its op's source and destination; the batch's own op passes.
fn refuses_ops_outside_what_is_held() -> Result<(), String> {
    if no_channels() {
        return Ok(());
    }
    let mut chans = lease(Some(1))?;
    let c = &mut chans[0];
    let (src, mut dst) = buffers(11)?;
    let (other_src, mut other) = buffers(12)?;
    let op = |d: &Block, off: u64| CopyOp {
        src: DmaAddr::new(src.addr().as_u64()),
        dst: DmaAddr::new(d.addr().as_u64() + off),
        len: 4096,
    };
    let stray = op(&other, 0);
    let before = c.counters();
    let untouched = other.as_mut_slice()[..4096].to_vec();
    let outside = {
        let held = dma::Held::blocks(&src, &mut dst);
        c.held(&held).submit(&[stray])
    };
    let mut buf = Vec::new();
    let mut list = crate::mm::copy::CopyList::new(&mut buf);
    // (A refused push drops the blocks, which frees them.)
    list.push_range(&src, 0, &mut dst, 0, 8192)
        .map_err(|e| alloc::format!("{e}"))?;
    let (shifted, whole) = {
        let batch = list.batch();
        let op0 = batch.ops()[0];
        let held = dma::Held::batch(&batch);
        let mut lent = c.held(&held);
        let shifted = lent
            .submit(&[CopyOp {
                dst: DmaAddr::new(op0.dst.as_u64() + 4096),
                len: 4096,
                ..op0
            }])
            .map(|_| ());
        let whole = lent.copy_sync(&[op0], timeout_ns()).map(|_| ());
        (shifted, whole)
    };
    let after_refusals = other.as_mut_slice()[..4096].to_vec() == untouched;
    release(src, dst)?;
    release(other_src, other)?;
    check(
        matches!(outside, Err(PtdmaError::Refused(a)) if a.as_u64() == stray.dst.as_u64()),
        || alloc::format!("an op into another block: {outside:?}"),
    )?;
    check(after_refusals, || String::from("the other block changed"))?;
    check(matches!(shifted, Err(PtdmaError::Refused(_))), || {
        alloc::format!("a piece at different offsets: {shifted:?}")
    })?;
    whole.map_err(|e| alloc::format!("the batch's own op: {e}"))?;
    let doorbells = c.counters().doorbells - before.doorbells;
    check_eq("doorbells (only the batch's own op rang)", doorbells, 1)
}

/// Fixture for the fault boots (`run-qemu.sh check` runs it with the model injecting
/// an error, a stuck queue or a halted queue): the first batch must fail with a report
/// of which copies completed; the CPU copies the rest; all data verifies; the queue is
/// usable for the next batch.
pub fn dma_fault_recovery() -> Result<(), String> {
    if no_channels() {
        return Err("no DMA engine attached".into());
    }
    let mut chans = lease(Some(1))?;
    let c = &mut chans[0];
    let (mut src, mut dst) = buffers(7)?;
    let ops: Vec<CopyOp> = (0..8u64)
        .map(|i| CopyOp {
            src: DmaAddr::new(src.addr().as_u64() + i * 4096),
            dst: DmaAddr::new(dst.addr().as_u64() + i * 4096),
            len: 4096,
        })
        .collect();
    let first = copy_own(c, &src, &mut dst, &ops);
    let result = match first {
        Ok(_) => Err("the injected fault was not reported".into()),
        Err(e) => {
            crate::println!("dma fault reported: {e}");
            let done = e.progress().map_or(0, |p| p.ops_completed);
            crate::println!(
                "dma fault: {done} of {} copies completed by DMA, CPU copies the rest",
                ops.len()
            );
            for op in &ops[done..] {
                let (s, d) = (
                    op.src.as_u64() - src.addr().as_u64(),
                    op.dst.as_u64() - dst.addr().as_u64(),
                );
                let bytes = src.as_mut_slice()[s as usize..(s + op.len) as usize].to_vec();
                dst.as_mut_slice()[d as usize..(d + op.len) as usize].copy_from_slice(&bytes);
            }
            verify(&mut src, &mut dst, 0, 0, 8 * 4096)
        }
    };
    // Afterwards the queue works again, or, for a device that is gone, the channel is
    // retired and refuses work without touching the device.
    let retired = c.retired().is_some();
    let second = if result.is_ok() {
        dst.as_mut_slice().fill(0xee);
        match copy_own(c, &src, &mut dst, &ops) {
            Ok(_) => verify(&mut src, &mut dst, 0, 0, 8 * 4096)
                .map(|_| crate::println!("dma fault: queue usable again")),
            Err(PtdmaError::DeviceGone) if retired => {
                crate::println!(
                    "dma fault: channel retired (device gone), refused without touching it"
                );
                Ok(())
            }
            Err(e) => Err(alloc::format!("queue not usable after recovery: {e}")),
        }
    } else {
        Ok(())
    };
    release(src, dst)?;
    result.and(second)
}

/// With the memory completion marker, a batch costs exactly one doorbell and at most one
/// MMIO read (PTDMA); the model's own counters are compared by `run-qemu.sh check`.
fn mmio_per_batch() -> Result<(), String> {
    if no_channels() {
        return Ok(());
    }
    let mut chans = lease(Some(1))?;
    let c = &mut chans[0];
    let marker = crate::config().dma_marker && !c.is_ae4();
    let (mut src, mut dst) = buffers(31)?;
    let before = c.counters();
    let checks0 = c.safety_checks();
    const BATCHES: u64 = 20;
    let mut result = Ok(());
    for b in 0..BATCHES {
        let ops: Vec<CopyOp> = (0..8u64)
            .map(|i| CopyOp {
                src: DmaAddr::new(src.addr().as_u64() + (b * 8 + i) * 4096),
                dst: DmaAddr::new(dst.addr().as_u64() + (b * 8 + i) * 4096),
                len: 4096,
            })
            .collect();
        if let Err(e) = copy_own(c, &src, &mut dst, &ops) {
            result = Err(alloc::format!("batch {b}: {e}"));
            break;
        }
    }
    if result.is_ok() {
        result = verify(&mut src, &mut dst, 0, 0, (BATCHES * 8 * 4096) as usize);
    }
    release(src, dst)?;
    result?;
    let after = c.counters();
    let checks = c.safety_checks() - checks0;
    let (reads, doorbells) = (
        after.reads - before.reads,
        after.doorbells - before.doorbells,
    );
    crate::print!(
        "({reads} reads, {doorbells} doorbells, {checks} safety checks for {BATCHES} batches) "
    );
    check_eq("doorbells", doorbells, BATCHES)?;
    if marker {
        // One HEAD read per batch; a periodic safety check (every 2^16 polls of RAM, to
        // notice an error that stops the marker) reads two more registers.
        check(reads <= BATCHES + 2 * checks, || {
            alloc::format!("{reads} MMIO reads for {BATCHES} batches and {checks} safety checks")
        })?;
    }
    Ok(())
}
