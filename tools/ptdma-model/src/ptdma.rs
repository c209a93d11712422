//! PTDMA (1022:1498) register file and its single queue (ptdma-facts §2 register map, §3 ring
//! facts, §4 sequences, §4.4/§4.5 error behaviour).
//!
//! Global registers at BAR2+0x0000, queue 0 block at BAR2+0x1000. TAIL_LO is the doorbell: the
//! write stores the value and wakes the worker; the worker consumes descriptors from HEAD_LO to
//! TAIL_LO while CONTROL.RUN is set, advancing HEAD_LO after each one. On a bad descriptor it
//! stops with HEAD_LO pointing at it, ERROR|QUEUE_STOPPED status, STATUS = code, RUN cleared.
//! The code stays in STATUS, and the queue stays stopped (a RUN write does not stick), until
//! the driver clears INTERRUPT_STATUS.ERROR; then RUN resumes at HEAD_LO, so a driver skips the
//! failed descriptor by writing HEAD_LO first (Linux 6.12 `pt_check_status_trans` reads
//! INTERRUPT_STATUS, then STATUS, then writes the value back; `pt_do_cmd_complete` moves HEAD).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::desc::{decode_ptdma, err_src, pt_err};
use crate::device::Personality;
use crate::engine::{begin_descriptor, lock, run_copy, BadSide, QueueCell, Shared};

/// Queue-block base inside BAR2.
pub const QBASE: u64 = 0x1000;

/// Queue register offsets (relative to `QBASE`).
pub mod reg {
    pub const CONTROL: u64 = 0x000;
    pub const TAIL_LO: u64 = 0x004;
    pub const HEAD_LO: u64 = 0x008;
    pub const INT_ENABLE: u64 = 0x00c;
    pub const INTERRUPT_STATUS: u64 = 0x010;
    pub const STATUS: u64 = 0x100;
    pub const INT_STATUS: u64 = 0x104;
}

/// Global register offsets.
pub mod greg {
    pub const VERSION: u64 = 0x10;
    pub const CMD_CONFIG: u64 = 0x1120;
}

/// CONTROL bits.
pub const CTL_RUN: u32 = 1 << 0;
pub const CTL_HALTED: u32 = 1 << 1;

/// INT_ENABLE / INTERRUPT_STATUS bits (ptdma-facts §2.4).
pub mod int {
    pub const COMPLETION: u32 = 1 << 0;
    pub const ERROR: u32 = 1 << 1;
    pub const QUEUE_STOPPED: u32 = 1 << 2;
    pub const QUEUE_EMPTY: u32 = 1 << 3;
    pub const ALL: u32 = 0xf;
}

/// VERSION (0x10) as the model reports it: version 1 in \[5:0\], one virtual queue in \[18:15\].
/// The real value is unknown (model choice).
pub const VERSION_VALUE: u32 = (1 << 15) | 1;

/// Writable global registers: (offset, name).
const GLOBALS: [(u64, &str); 8] = [
    (0x0000, "QUEUE_PRIO"),
    (0x0004, "REQID_CONFIG"),
    (0x0008, "TIMEOUT"),
    (0x000c, "TIMEOUT_GRANULARITY"),
    (0x0040, "IRQ_MASK"),
    (0x0200, "IRQ_STATUS"),
    (greg::CMD_CONFIG, "CMD_CONFIG"),
    (0x6004, "CLK_GATE_CTL"),
];

/// Plain read/write queue registers without behaviour: (offset, name).
const QUEUE_PLAIN: [(u64, &str); 5] = [
    (0x108, "DMA_STATUS"),
    (0x10c, "DMA_READ_STATUS"),
    (0x110, "DMA_WRITE_STATUS"),
    (0x114, "ABORT"),
    (0x118, "AX_CACHE"),
];

#[derive(Debug, Default)]
struct PtQ {
    control: u32,
    tail: u32,
    head: u32,
    int_enable: u32,
    int_status: u32,
    err_code: u8,
    err_src: u8,
    busy: bool,
    stuck: bool,
    epoch: u64,
    doorbells: u64,
    seen_doorbells: u64,
    plain: [u32; QUEUE_PLAIN.len()],
}

impl PtQ {
    /// Byte mask of the ring window: ring = 32 B × 2^(QUEUE_SIZE+1), aligned to its size.
    fn ring_mask(&self) -> u32 {
        let bits = ((self.control >> 3) & 0x1f) + 1 + 5;
        if bits >= 32 {
            u32::MAX
        } else {
            (1u32 << bits) - 1
        }
    }
    fn pending(&self) -> bool {
        let m = self.ring_mask() & !31;
        self.head & m != self.tail & m
    }
    fn next_head(&self) -> u32 {
        let m = self.ring_mask();
        (self.head & !m) | (self.head.wrapping_add(32) & m & !31)
    }
    fn halted(&self) -> bool {
        (self.control & CTL_RUN == 0 || self.error_pending()) && !self.busy
    }
    /// An unacknowledged descriptor error stops the queue: HEAD stays at the failed
    /// descriptor and nothing runs until INTERRUPT_STATUS.ERROR is cleared (W1C).
    fn error_pending(&self) -> bool {
        self.int_status & int::ERROR != 0
    }
    fn status(&self) -> u32 {
        // A stuck engine looks like a transfer that never finishes.
        let job = if self.busy || self.stuck {
            2
        } else if self.control & CTL_RUN != 0 && self.pending() && !self.stuck {
            1
        } else {
            0
        };
        u32::from(self.err_code & 0x3f) | (job << 7) | (u32::from(self.err_src & 3) << 10)
    }
    /// Sets status bits and returns those that are enabled as interrupts.
    fn latch(&mut self, bits: u32) -> u32 {
        self.int_status |= bits;
        bits & self.int_enable
    }
}

struct Job {
    desc: u64,
    epoch: u64,
    doorbell: bool,
}

/// The PTDMA personality: registers plus one worker thread.
pub struct Ptdma {
    shared: Arc<Shared>,
    globals: std::sync::Mutex<[u32; GLOBALS.len()]>,
    q: Arc<QueueCell<PtQ>>,
    worker: Option<JoinHandle<()>>,
}

impl Ptdma {
    pub fn new(shared: Arc<Shared>) -> Ptdma {
        let q = Arc::new(QueueCell::new(PtQ::default()));
        let (wq, ws) = (q.clone(), shared.clone());
        let worker = std::thread::Builder::new()
            .name("ptdma-q0".into())
            .spawn(move || worker(&wq, &ws))
            .map_err(|e| tracing::error!("cannot start PTDMA worker: {e}"))
            .ok();
        Ptdma {
            shared,
            globals: std::sync::Mutex::new([0; GLOBALS.len()]),
            q,
            worker,
        }
    }
}

/// Register name for counters.
pub fn reg_name(off: u64) -> (Option<usize>, &'static str) {
    if off == greg::VERSION {
        return (None, "VERSION");
    }
    if let Some((_, n)) = GLOBALS.iter().find(|(o, _)| *o == off) {
        return (None, n);
    }
    let name = match off.checked_sub(QBASE) {
        Some(reg::CONTROL) => "CONTROL",
        Some(reg::TAIL_LO) => "TAIL_LO",
        Some(reg::HEAD_LO) => "HEAD_LO",
        Some(reg::INT_ENABLE) => "INT_ENABLE",
        Some(reg::INTERRUPT_STATUS) => "INTERRUPT_STATUS",
        Some(reg::STATUS) => "STATUS",
        Some(reg::INT_STATUS) => "INT_STATUS",
        Some(o) => match QUEUE_PLAIN.iter().find(|(p, _)| *p == o) {
            Some((_, n)) => n,
            None => return (None, "OTHER"),
        },
        None => return (None, "OTHER"),
    };
    (Some(0), name)
}

impl Personality for Ptdma {
    fn queues(&self) -> usize {
        1
    }

    fn read32(&self, off: u64) -> u32 {
        if off == greg::VERSION {
            return VERSION_VALUE;
        }
        if let Some(i) = GLOBALS.iter().position(|(o, _)| *o == off) {
            return lock(&self.globals)[i];
        }
        let st = self.q.lock();
        match off.wrapping_sub(QBASE) {
            reg::CONTROL => (st.control & !CTL_HALTED) | (u32::from(st.halted()) << 1),
            reg::TAIL_LO => st.tail,
            reg::HEAD_LO => st.head,
            reg::INT_ENABLE => st.int_enable,
            reg::INTERRUPT_STATUS => st.int_status,
            reg::STATUS => st.status(),
            o => QUEUE_PLAIN
                .iter()
                .position(|(p, _)| *p == o)
                .map_or(0, |i| st.plain[i]),
        }
    }

    fn write32(&self, off: u64, val: u32, mask: u32) {
        let merge = |old: u32| (old & !mask) | (val & mask);
        if let Some(i) = GLOBALS.iter().position(|(o, _)| *o == off) {
            let mut g = lock(&self.globals);
            g[i] = merge(g[i]);
            return;
        }
        let mut st = self.q.lock();
        match off.wrapping_sub(QBASE) {
            reg::CONTROL => {
                let was_running = st.control & CTL_RUN != 0;
                // RUN neither clears the error code nor restarts the queue while an error is
                // unacknowledged: the bit does not stick then, so the failed descriptor is not
                // re-run behind the driver's back. STATUS keeps the code until
                // INTERRUPT_STATUS.ERROR is cleared.
                st.control = merge(st.control) & !CTL_HALTED;
                if st.error_pending() {
                    st.control &= !CTL_RUN;
                }
                if was_running && st.control & CTL_RUN == 0 && st.stuck {
                    // Stopping the queue abandons the wedged descriptor (it never completes).
                    st.stuck = false;
                }
            }
            reg::TAIL_LO => {
                st.tail = merge(st.tail);
                // A doorbell is a TAIL_LO write while the queue runs (init writes don't count).
                if st.control & CTL_RUN != 0 {
                    st.doorbells += 1;
                    self.shared.counters.queue(0, |c| c.doorbells += 1);
                }
            }
            reg::HEAD_LO => {
                st.head = merge(st.head);
                st.epoch += 1;
            }
            reg::INT_ENABLE => st.int_enable = merge(st.int_enable) & int::ALL,
            reg::INTERRUPT_STATUS => {
                let cleared = st.int_status & val & mask;
                st.int_status &= !(val & mask);
                if cleared & int::ERROR != 0 {
                    // The driver has seen the error (Linux reads STATUS before this W1C).
                    st.err_code = 0;
                    st.err_src = 0;
                }
            }
            o => {
                if let Some(i) = QUEUE_PLAIN.iter().position(|(p, _)| *p == o) {
                    st.plain[i] = merge(st.plain[i]);
                }
            }
        }
        self.shared
            .irq_level
            .store(st.int_status & st.int_enable != 0, Ordering::SeqCst);
        drop(st);
        self.q.kick();
    }

    fn reset(&self) {
        *lock(&self.globals) = [0; GLOBALS.len()];
        let mut st = self.q.lock();
        let epoch = st.epoch + 1;
        *st = PtQ {
            epoch,
            ..PtQ::default()
        };
        self.shared.irq_level.store(false, Ordering::SeqCst);
        drop(st);
        self.q.kick();
    }

    fn kick(&self) {
        self.q.kick();
    }

    fn healthy(&self) -> bool {
        self.worker.as_ref().is_some_and(|h| !h.is_finished())
    }

    fn stop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.q.kick();
        if let Some(h) = self.worker.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Ptdma {
    fn drop(&mut self) {
        self.stop();
    }
}

fn worker(q: &QueueCell<PtQ>, shared: &Shared) {
    loop {
        let job = q.wait_for(shared, |st| {
            if st.control & CTL_RUN == 0
                || st.error_pending()
                || st.stuck
                || !st.pending()
                || !shared.dma_allowed()
            {
                return None;
            }
            st.busy = true;
            let doorbell = st.doorbells != st.seen_doorbells;
            st.seen_doorbells = st.doorbells;
            let hi = u64::from(st.control >> 16) << 32;
            Some(Job {
                desc: hi | u64::from(st.head & !31),
                epoch: st.epoch,
                doorbell,
            })
        });
        let Some(job) = job else { return };
        let (start, hits) = begin_descriptor(shared, job.doorbell);
        let outcome = if hits.stuck || hits.halt {
            None
        } else {
            Some(execute(shared, job.desc, hits.error, hits.corrupt, start))
        };
        let mut st = q.lock();
        st.busy = false;
        if st.epoch != job.epoch {
            continue; // reset or HEAD_LO rewritten meanwhile: drop the result
        }
        let irq = match outcome {
            None if hits.stuck => {
                tracing::warn!(
                    "fault: queue stuck at descriptor #{} ({:#x})",
                    hits.number,
                    job.desc
                );
                st.stuck = true;
                0
            }
            None => {
                tracing::warn!("fault: queue halted at descriptor #{}", hits.number);
                st.control &= !CTL_RUN;
                st.latch(int::QUEUE_STOPPED)
            }
            Some(Ok((len, ioc, soc))) => {
                st.head = st.next_head();
                shared.counters.queue(0, |c| {
                    c.descriptors += 1;
                    c.bytes += u64::from(len);
                });
                let mut bits = if ioc { int::COMPLETION } else { 0 };
                if soc {
                    st.control &= !CTL_RUN;
                    bits |= int::QUEUE_STOPPED;
                }
                if !st.pending() {
                    bits |= int::QUEUE_EMPTY;
                }
                st.latch(bits)
            }
            Some(Err((code, src))) => {
                tracing::info!("descriptor {:#x} failed: STATUS code {code:#04x}", job.desc);
                st.err_code = code;
                st.err_src = src;
                st.control &= !CTL_RUN;
                shared.counters.queue(0, |c| c.errors += 1);
                st.latch(int::ERROR | int::QUEUE_STOPPED)
            }
        };
        shared
            .irq_level
            .store(st.int_status & st.int_enable != 0, Ordering::SeqCst);
        if hits.vanish && matches!(outcome, Some(Ok(_))) {
            tracing::warn!("fault: device vanishes after descriptor #{}", hits.number);
            shared.vanished.store(true, Ordering::SeqCst);
            shared.counters.with(|c| c.vanished = true);
        }
        drop(st);
        if irq != 0 {
            shared.raise_intx();
        }
    }
}

/// Fetches, validates and runs one descriptor. Ok = (len, ioc, soc); Err = (code, source).
fn execute(
    shared: &Shared,
    desc: u64,
    inject: Option<u8>,
    corrupt: bool,
    start: Instant,
) -> Result<(u32, bool, bool), (u8, u8)> {
    let mut raw = [0u8; 32];
    shared
        .mem
        .read(desc, &mut raw)
        .map_err(|_| (pt_err::IDMA0_AXI_DECERR, err_src::COMMAND_DESCRIPTOR))?;
    let c = decode_ptdma(&raw).map_err(|e| (e.code, e.source))?;
    if let Some(code) = inject {
        return Err((code, err_src::INPUT_MEMORY));
    }
    run_copy(shared, &c, corrupt, start).map_err(|side| match side {
        BadSide::Src => (pt_err::IDMA0_AXI_DECERR, err_src::INPUT_MEMORY),
        BadSide::Dst => (pt_err::ODMA0_AXI_DECERR, err_src::INPUT_MEMORY),
    })?;
    Ok((c.len, c.ioc, c.soc))
}
