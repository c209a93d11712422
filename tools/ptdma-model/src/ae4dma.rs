//! AE4DMA (1022:149B) personality: BAR0, common config at 0x00, 16 queues with 32-byte register
//! blocks at 0x20 × (q+1) (ptdma-facts §5.1), index-based rings (§5.3), descriptors per §5.2
//! with status/error written back into DW1 (§5.4).
//!
//! Model choices where the facts are UNSURE: the status register's queue-state field is reported
//! in bits \[3:1\] (0 empty, 1 full, 2 stopped, 3 error, 4 not-empty); interrupt status is a plain
//! read/write register whose bit 0 the engine sets on an IOC completion or an error; a failed
//! descriptor is marked (status 4 + code), read_idx advances past it and the queue goes on
//! (DPDK treats read_idx as the truth and checks each descriptor's error byte).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::desc::{ae4_err, ae4_status, decode_ae4};
use crate::device::Personality;
use crate::engine::{begin_descriptor, run_copy, BadSide, QueueCell, Shared};

pub const NUM_QUEUES: usize = 16;
/// Default ring depth after reset (Linux/SPDK write 32).
pub const DEFAULT_MAX_IDX: u32 = 32;

/// Per-queue register offsets (relative to the queue block).
pub mod reg {
    pub const CONTROL: u64 = 0x00;
    pub const STATUS: u64 = 0x04;
    pub const MAX_IDX: u64 = 0x08;
    pub const READ_IDX: u64 = 0x0c;
    pub const WRITE_IDX: u64 = 0x10;
    pub const INTR_STATUS: u64 = 0x14;
    pub const BASE_LO: u64 = 0x18;
    pub const BASE_HI: u64 = 0x1c;
}

const NAMES: [&str; 8] = [
    "CONTROL",
    "STATUS",
    "MAX_IDX",
    "READ_IDX",
    "WRITE_IDX",
    "INTR_STATUS",
    "BASE_LO",
    "BASE_HI",
];

/// Queue block base of queue `q`.
pub fn qbase(q: usize) -> u64 {
    0x20 * (q as u64 + 1)
}

/// (queue, register name) for counters.
pub fn reg_name(off: u64) -> (Option<usize>, &'static str) {
    if off < 4 {
        return (None, "COMMON_CONFIG");
    }
    if off >= 0x20 && off < qbase(NUM_QUEUES) {
        let q = (off / 0x20 - 1) as usize;
        return (Some(q), NAMES[((off % 0x20) / 4) as usize]);
    }
    (None, "OTHER")
}

#[derive(Debug)]
struct Ae4Q {
    control: u32,
    max_idx: u32,
    read_idx: u32,
    write_idx: u32,
    intr_status: u32,
    base_lo: u32,
    base_hi: u32,
    error: bool,
    busy: bool,
    stuck: bool,
    epoch: u64,
    doorbells: u64,
    seen_doorbells: u64,
}

impl Default for Ae4Q {
    fn default() -> Ae4Q {
        Ae4Q {
            control: 0,
            max_idx: DEFAULT_MAX_IDX,
            read_idx: 0,
            write_idx: 0,
            intr_status: 0,
            base_lo: 0,
            base_hi: 0,
            error: false,
            busy: false,
            stuck: false,
            epoch: 0,
            doorbells: 0,
            seen_doorbells: 0,
        }
    }
}

impl Ae4Q {
    fn enabled(&self) -> bool {
        self.control & 1 != 0
    }
    fn pending(&self) -> bool {
        self.write_idx < self.max_idx
            && self.read_idx < self.max_idx
            && self.read_idx != self.write_idx
    }
    fn status(&self) -> u32 {
        let s = if !self.enabled() {
            2
        } else if self.error {
            3
        } else if !self.pending() {
            0
        } else if self.max_idx > 0 && (self.write_idx + 1) % self.max_idx == self.read_idx {
            1
        } else {
            4
        };
        s << 1
    }
}

struct Job {
    q: usize,
    desc: u64,
    epoch: u64,
    doorbell: bool,
}

/// The AE4DMA personality: common config, 16 queues, one worker per queue.
pub struct Ae4dma {
    shared: Arc<Shared>,
    /// Number of queues granted by the last write to common config (0..=16).
    granted: Arc<std::sync::atomic::AtomicU32>,
    qs: Vec<Arc<QueueCell<Ae4Q>>>,
    workers: Vec<JoinHandle<()>>,
}

impl Ae4dma {
    pub fn new(shared: Arc<Shared>) -> Ae4dma {
        let granted = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let qs: Vec<_> = (0..NUM_QUEUES)
            .map(|_| Arc::new(QueueCell::new(Ae4Q::default())))
            .collect();
        let mut workers = Vec::new();
        for (i, q) in qs.iter().enumerate() {
            let (q, s, g) = (q.clone(), shared.clone(), granted.clone());
            match std::thread::Builder::new()
                .name(format!("ae4-q{i}"))
                .spawn(move || worker(i, &q, &s, &g))
            {
                Ok(h) => workers.push(h),
                Err(e) => tracing::error!("cannot start AE4DMA worker {i}: {e}"),
            }
        }
        Ae4dma {
            shared,
            granted,
            qs,
            workers,
        }
    }
}

impl Personality for Ae4dma {
    fn queues(&self) -> usize {
        NUM_QUEUES
    }

    fn read32(&self, off: u64) -> u32 {
        if off == 0 {
            return self.granted.load(Ordering::SeqCst);
        }
        let (Some(q), _) = reg_name(off) else {
            return 0;
        };
        let st = self.qs[q].lock();
        match off % 0x20 {
            reg::CONTROL => st.control,
            reg::STATUS => st.status(),
            reg::MAX_IDX => st.max_idx,
            reg::READ_IDX => st.read_idx,
            reg::WRITE_IDX => st.write_idx,
            reg::INTR_STATUS => st.intr_status,
            reg::BASE_LO => st.base_lo,
            _ => st.base_hi,
        }
    }

    fn write32(&self, off: u64, val: u32, mask: u32) {
        let merge = |old: u32| (old & !mask) | (val & mask);
        if off == 0 {
            let n = merge(self.granted.load(Ordering::SeqCst)).min(NUM_QUEUES as u32);
            self.granted.store(n, Ordering::SeqCst);
            self.qs.iter().for_each(|q| q.kick());
            return;
        }
        let (Some(q), _) = reg_name(off) else { return };
        let mut st = self.qs[q].lock();
        match off % 0x20 {
            reg::CONTROL => {
                let was = st.enabled();
                st.control = merge(st.control) & 1;
                if !was && st.enabled() {
                    st.error = false;
                }
                if was && !st.enabled() {
                    st.stuck = false; // disabling abandons a wedged descriptor
                }
            }
            reg::STATUS => {}
            reg::MAX_IDX => st.max_idx = merge(st.max_idx),
            reg::READ_IDX => {
                st.read_idx = merge(st.read_idx);
                st.epoch += 1;
            }
            reg::WRITE_IDX => {
                st.write_idx = merge(st.write_idx);
                st.doorbells += 1;
                self.shared.counters.queue(q, |c| c.doorbells += 1);
            }
            reg::INTR_STATUS => st.intr_status = merge(st.intr_status),
            reg::BASE_LO => st.base_lo = merge(st.base_lo),
            _ => st.base_hi = merge(st.base_hi),
        }
        drop(st);
        self.qs[q].kick();
    }

    fn reset(&self) {
        self.granted.store(0, Ordering::SeqCst);
        for q in &self.qs {
            let mut st = q.lock();
            let epoch = st.epoch + 1;
            *st = Ae4Q {
                epoch,
                ..Ae4Q::default()
            };
            drop(st);
            q.kick();
        }
    }

    fn kick(&self) {
        self.qs.iter().for_each(|q| q.kick());
    }

    fn healthy(&self) -> bool {
        self.workers.len() == NUM_QUEUES && self.workers.iter().all(|h| !h.is_finished())
    }

    fn stop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.kick();
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

impl Drop for Ae4dma {
    fn drop(&mut self) {
        self.stop();
    }
}

fn worker(qi: usize, q: &QueueCell<Ae4Q>, shared: &Shared, granted: &std::sync::atomic::AtomicU32) {
    loop {
        let job = q.wait_for(shared, |st| {
            let usable = (qi as u32) < granted.load(Ordering::SeqCst);
            if !usable || !st.enabled() || st.stuck || !st.pending() || !shared.dma_allowed() {
                return None;
            }
            st.busy = true;
            let doorbell = st.doorbells != st.seen_doorbells;
            st.seen_doorbells = st.doorbells;
            let base = u64::from(st.base_lo) | (u64::from(st.base_hi) << 32);
            let desc = base.wrapping_add(u64::from(st.read_idx) * 32);
            Some(Job {
                q: qi,
                desc,
                epoch: st.epoch,
                doorbell,
            })
        });
        let Some(job) = job else { return };
        let (start, hits) = begin_descriptor(shared, job.doorbell);
        let result = if hits.stuck || hits.halt {
            None
        } else {
            Some(execute(
                shared,
                job.desc,
                hits.error.map(|_| ae4_err::FIRMWARE),
                hits.corrupt,
                start,
            ))
        };
        let mut st = q.lock();
        st.busy = false;
        if st.epoch != job.epoch {
            continue;
        }
        let mut irq = false;
        match result {
            None if hits.stuck => {
                tracing::warn!(
                    "fault: AE4 queue {} stuck at descriptor #{}",
                    job.q,
                    hits.number
                );
                st.stuck = true;
            }
            None => {
                tracing::warn!(
                    "fault: AE4 queue {} halted at descriptor #{}",
                    job.q,
                    hits.number
                );
                st.control &= !1;
            }
            Some(r) => {
                let ok = r.is_ok();
                let (status, code, ioc, soc, len) = match r {
                    Ok((len, ioc, soc)) => (ae4_status::COMPLETED, 0, ioc, soc, len),
                    Err(code) => (ae4_status::ERROR, code, true, false, 0),
                };
                let dw1 = [status, code];
                // Write back status + error code (DW1 bytes 0..2); failures are not fatal here.
                let _ = shared.mem.write(job.desc.wrapping_add(4), &dw1);
                if st.max_idx > 0 {
                    st.read_idx = st.read_idx.wrapping_add(1) % st.max_idx;
                }
                shared.counters.queue(job.q, |c| {
                    if ok {
                        c.descriptors += 1;
                        c.bytes += u64::from(len);
                    } else {
                        c.errors += 1;
                    }
                });
                if !ok {
                    st.error = true;
                }
                if soc {
                    st.control &= !1;
                }
                if ioc {
                    st.intr_status |= 1;
                    irq = true;
                }
                if hits.vanish && ok {
                    tracing::warn!("fault: device vanishes after descriptor #{}", hits.number);
                    shared.vanished.store(true, Ordering::SeqCst);
                    shared.counters.with(|c| c.vanished = true);
                }
            }
        }
        drop(st);
        if irq {
            shared.raise_intx();
        }
    }
}

/// Fetches, validates and runs one descriptor. Ok = (len, ioc, soc); Err = AE4 error code.
fn execute(
    shared: &Shared,
    desc: u64,
    inject: Option<u8>,
    corrupt: bool,
    start: Instant,
) -> Result<(u32, bool, bool), u8> {
    let mut raw = [0u8; 32];
    shared.mem.read(desc, &mut raw).map_err(|_| ae4_err::PTE)?;
    let c = decode_ae4(&raw).map_err(|e| e.code)?;
    if let Some(code) = inject {
        return Err(code);
    }
    run_copy(shared, &c, corrupt, start).map_err(|side| match side {
        BadSide::Src | BadSide::Dst => ae4_err::PTE,
    })?;
    Ok((c.len, c.ioc, c.soc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(reg_name(0), (None, "COMMON_CONFIG"));
        assert_eq!(reg_name(0x20), (Some(0), "CONTROL"));
        assert_eq!(reg_name(0x20 * 16 + 0x10), (Some(15), "WRITE_IDX"));
        assert_eq!(reg_name(0x20 * 17), (None, "OTHER"));
    }
}
