//! The foreground application of `bench=appcost`: on CPUs that do not migrate, a job
//! that runs until stopped, cycling through four kinds of work in short rounds — a dependent
//! load chase over a random cycle of 64-byte lines in working sets sized to L2, L3 and
//! well beyond (ns per access: each load's address is the previous load's value, so
//! nothing overlaps), and a streaming read of 256 KiB slices of the largest set (GB/s). A round counts only
//! when the gate held for all of it (always, or only while a stream is migrating), so
//! "under migration" never includes set-up, verification or idle time.

use crate::arch::tsc;
use crate::bench::error::{BenchError, LoadError};
use crate::mm::frames::{self, Block};
use crate::smp::dispatch;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kcore::rng::XorShift;
use spin::Mutex;

/// Lines of 64 bytes in a 2 MiB block.
const LINES_PER_BLOCK: u64 = (2 << 20) / 64;
/// Loads per chase round.
const CHASE_ROUND: u64 = 1 << 11;
/// Bytes per read round (a slice of the largest chase's blocks, in turn).
const READ_ROUND: usize = 256 << 10;

/// The kinds of foreground work, in the order rounds cycle through them.
pub const KINDS: [&str; 4] = ["chase-l2", "chase-l3", "chase-mem", "read"];

/// A random cycle through `lines` 64-byte lines of `blocks` (each line's first word is
/// the index of the next line).
struct Chase {
    blocks: Vec<Block>,
    lines: u64,
    at: u64,
}

impl Chase {
    fn build(node: &dyn Fn(usize) -> u32, bytes: u64, seed: u64) -> Result<Self, BenchError> {
        let lines = (bytes / 64).max(2);
        let mut blocks = Vec::new();
        for i in 0..lines.div_ceil(LINES_PER_BLOCK) as usize {
            let node = node(i);
            match frames::alloc_data(node, 9) {
                Ok(b) => blocks.push(b),
                Err(e) => {
                    free_all(&mut blocks);
                    return Err(BenchError::Frames {
                        what: "appcost foreground buffer",
                        node,
                        error: e,
                    });
                }
            }
        }
        // Sattolo's algorithm: one cycle through every line.
        let mut order: Vec<u32> = (0..lines as u32).collect();
        let mut rng = XorShift::new(seed | 1);
        for i in (1..order.len()).rev() {
            let j = rng.below(i as u64) as usize;
            order.swap(i, j);
        }
        let mut c = Self {
            blocks,
            lines,
            at: 0,
        };
        for (i, &next) in order.iter().enumerate() {
            c.write(i as u64, u64::from(next));
        }
        Ok(c)
    }

    fn write(&mut self, line: u64, v: u64) {
        let b = &mut self.blocks[(line / LINES_PER_BLOCK) as usize];
        let off = ((line % LINES_PER_BLOCK) * 64) as usize;
        b.as_mut_slice()[off..off + 8].copy_from_slice(&v.to_le_bytes());
    }

    fn next(&self, line: u64) -> u64 {
        let b = &self.blocks[(line / LINES_PER_BLOCK) as usize];
        let off = ((line % LINES_PER_BLOCK) * 64) as usize;
        let w: [u8; 8] = b.as_slice()[off..off + 8].try_into().expect("8-byte word");
        u64::from_le_bytes(w)
    }

    /// `n` dependent loads from where the last round stopped.
    fn run(&mut self, n: u64) {
        let mut at = self.at;
        for _ in 0..n {
            at = self.next(at);
        }
        self.at = core::hint::black_box(at) % self.lines;
    }
}

fn free_all(blocks: &mut Vec<Block>) {
    for b in blocks.drain(..) {
        // Freeing a block this module allocated cannot fail but for a kernel bug,
        // which the caller's frame check reports.
        let _ = frames::free(b);
    }
}

/// Sums the words of `bytes` (a streaming read).
fn read_words(bytes: &[u8]) -> u64 {
    bytes.chunks_exact(8).fold(0u64, |s, c| {
        s.wrapping_add(u64::from_le_bytes(c.try_into().expect("8")))
    })
}

/// One CPU's buffers.
struct Buffers {
    chases: [Chase; 3],
    read_next: usize,
}

/// Counts per kind: (accesses or bytes, ns).
static COUNTS: [[AtomicU64; 2]; 4] = [const { [const { AtomicU64::new(0) }; 2] }; 4];
static STOP: AtomicBool = AtomicBool::new(false);
/// Count rounds only while a stream is migrating.
static GATED: AtomicBool = AtomicBool::new(false);
static BUFFERS: Mutex<Vec<(usize, Buffers)>> = Mutex::new(Vec::new());

fn open() -> bool {
    !GATED.load(Ordering::Acquire) || super::super::streams::run::migrating() > 0
}

fn job(cpu: usize) {
    let taken = {
        let mut b = BUFFERS.lock();
        b.iter()
            .position(|(c, _)| *c == cpu)
            .map(|i| b.swap_remove(i))
    };
    let Some((_, mut buf)) = taken else { return };
    while !STOP.load(Ordering::Acquire) {
        for (kind, counts) in COUNTS.iter().enumerate() {
            let was_open = open();
            let t0 = tsc::now_ns();
            let amount = if kind < 3 {
                buf.chases[kind].run(CHASE_ROUND);
                CHASE_ROUND
            } else {
                let blocks = &buf.chases[2].blocks;
                let per_block = (2 << 20) / READ_ROUND;
                let b = &blocks[(buf.read_next / per_block) % blocks.len()];
                let off = (buf.read_next % per_block) * READ_ROUND;
                buf.read_next += 1;
                core::hint::black_box(read_words(&b.as_slice()[off..off + READ_ROUND]));
                READ_ROUND as u64
            };
            let ns = tsc::now_ns() - t0;
            if was_open && open() {
                counts[0].fetch_add(amount, Ordering::Relaxed);
                counts[1].fetch_add(ns, Ordering::Relaxed);
            }
        }
    }
    BUFFERS.lock().push((cpu, buf));
}

/// What the foreground measured over one window, per kind of [`KINDS`]: ns per access
/// for the chases, GB/s for the read; `None` where no round fit in the window.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Per kind.
    pub value: [Option<f64>; 4],
    /// Rounds' worth of accesses or bytes behind each value.
    pub amount: [u64; 4],
}

/// The foreground running on its CPUs until [`Foreground::stop`].
pub struct Foreground {
    cpus: Vec<usize>,
}

impl Foreground {
    /// Builds the buffers for every CPU of `cpus` (block i of each on `node(i)`) and
    /// starts the job there.
    ///
    /// # Errors
    /// [`BenchError::Frames`]: memory for the buffers; [`BenchError::Foreground`]: a CPU
    /// that cannot take the job, or that returned at once.
    pub fn start(
        cpus: &[usize],
        node: &dyn Fn(usize) -> u32,
        sets: [u64; 3],
    ) -> Result<Self, BenchError> {
        for (k, &c) in cpus.iter().enumerate() {
            let build =
                |i: usize| Chase::build(node, sets[i], tsc::rdtsc() ^ ((k * 3 + i) as u64) << 32);
            // On a failure the chases built so far are dropped, which frees their blocks.
            let chases = match (|| Ok::<_, BenchError>([build(0)?, build(1)?, build(2)?]))() {
                Ok(chases) => chases,
                Err(e) => {
                    free_buffers();
                    return Err(e);
                }
            };
            BUFFERS.lock().push((
                c,
                Buffers {
                    chases,
                    read_next: 0,
                },
            ));
        }
        STOP.store(false, Ordering::Release);
        reset(false);
        match dispatch::run_static_within(cpus, &job, 0) {
            Err(Ok(_)) => {}
            Ok(()) => {
                free_buffers();
                return Err(BenchError::Foreground(LoadError::FinishedAtOnce));
            }
            Err(Err(e)) => {
                free_buffers();
                return Err(BenchError::Foreground(LoadError::Start(e)));
            }
        }
        Ok(Self {
            cpus: cpus.to_vec(),
        })
    }

    /// Stops the job, waits for it and frees the buffers.
    ///
    /// # Errors
    /// [`BenchError::Foreground`]: a CPU that did not stop within 10 s.
    pub fn stop(self) -> Result<(), BenchError> {
        STOP.store(true, Ordering::Release);
        for &c in &self.cpus {
            if !dispatch::wait_idle(c, 10_000_000_000) {
                return Err(BenchError::Foreground(LoadError::DidNotStop(c)));
            }
        }
        free_buffers();
        Ok(())
    }
}

fn free_buffers() {
    let all: Vec<_> = BUFFERS.lock().drain(..).collect();
    for (_, b) in all {
        for mut ch in b.chases {
            free_all(&mut ch.blocks);
        }
    }
}

/// Starts a new window: counts cleared; `gated`: only rounds while a stream migrates.
pub fn reset(gated: bool) {
    GATED.store(gated, Ordering::Release);
    for k in &COUNTS {
        k[0].store(0, Ordering::Relaxed);
        k[1].store(0, Ordering::Relaxed);
    }
}

/// What the window since [`reset`] measured.
pub fn sample() -> Sample {
    let mut s = Sample::default();
    for (i, k) in COUNTS.iter().enumerate() {
        let (amount, ns) = (k[0].load(Ordering::Relaxed), k[1].load(Ordering::Relaxed));
        s.amount[i] = amount;
        if amount > 0 && ns > 0 {
            s.value[i] = Some(if i < 3 {
                ns as f64 / amount as f64
            } else {
                amount as f64 / ns as f64
            });
        }
    }
    s
}
