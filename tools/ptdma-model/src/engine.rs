//! Copy machinery shared by the PTDMA and AE4DMA personalities: the per-function `Shared`
//! context (guest RAM, bus-master gate, faults, counters, INTx), the timing model, and the paced
//! copy. Each queue runs on its own worker thread (see `ptdma.rs`/`ae4dma.rs`), so a doorbell
//! BAR write only wakes the worker and returns: the QEMU vCPU never waits for a copy.
//! Timing follows the task brief item 4; the named `seed` profile is an ASSUMPTION derived from
//! the migration RFC's single-channel numbers (ptdma-facts §6.1).

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::counters::Counters;
use crate::desc::Copy;
use crate::faults::FaultPlan;
use crate::guestmem::GuestMemory;

/// Timing model of one queue. All zero / `None` = copy as fast as possible.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Timing {
    /// Bandwidth cap per queue in bytes per second.
    pub bytes_per_sec: Option<f64>,
    /// Fixed latency added to every descriptor.
    pub desc_ns: u64,
    /// Fixed latency added once per doorbell (before the first descriptor it releases).
    pub doorbell_ns: u64,
}

impl Timing {
    /// `--profile seed`. ASSUMPTION: the RFC measured one PTDMA channel through Linux dmaengine
    /// at t(folio) ≈ 8.6 µs + bytes / 12.4 GB/s. Most of the 8.6 µs is Linux's dmaengine path
    /// (descriptor prep, interrupt, callback), not the engine, so the model splits it into
    /// 2 µs per doorbell + 1 µs per descriptor at 12.4 GB/s (1 GB = 1e9 bytes). Not measured.
    pub fn seed() -> Timing {
        Timing {
            bytes_per_sec: Some(12.4e9),
            desc_ns: 1_000,
            doorbell_ns: 2_000,
        }
    }

    /// Modelled duration of moving `bytes` (excluding the doorbell latency).
    pub fn desc_duration(&self, bytes: u64) -> Duration {
        let data = self.bytes_per_sec.map_or(0.0, |bw| bytes as f64 / bw);
        clamp(Duration::from_nanos(self.desc_ns).saturating_add(secs(data)))
    }
}

/// Longest modelled delay (keeps `Instant` arithmetic far from overflow).
pub const MAX_DELAY: Duration = Duration::from_secs(3600);

fn clamp(d: Duration) -> Duration {
    d.min(MAX_DELAY)
}

/// Seconds as a `Duration`; NaN, negative or huge values are clamped instead of panicking.
pub fn secs(x: f64) -> Duration {
    clamp(Duration::try_from_secs_f64(x).unwrap_or(if x > 0.0 {
        MAX_DELAY
    } else {
        Duration::ZERO
    }))
}

/// `now + d` for a (clamped) delay.
pub fn after(start: Instant, d: Duration) -> Instant {
    start.checked_add(clamp(d)).unwrap_or(start)
}

impl Timing {
    /// Fixed per-doorbell latency as a `Duration`.
    pub fn doorbell(&self) -> Duration {
        clamp(Duration::from_nanos(self.doorbell_ns))
    }
}

/// Waits until `deadline`: sleeps while far away, then spins (with `yield_now`) for accuracy.
/// Only worker threads call this, never the thread answering QEMU.
pub fn wait_until(deadline: Instant) {
    const SPIN: Duration = Duration::from_micros(150);
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        let left = deadline - now;
        if left > SPIN * 2 {
            std::thread::sleep(left - SPIN);
        } else {
            std::thread::yield_now();
        }
    }
}

/// State shared between a function's transport thread and its queue workers.
pub struct Shared {
    pub mem: Arc<dyn GuestMemory>,
    pub timing: Timing,
    pub faults: Arc<FaultPlan>,
    pub counters: Arc<Counters>,
    /// COMMAND.MASTER: no DMA (not even descriptor fetches) while clear.
    pub master: AtomicBool,
    /// COMMAND.INTX_DISABLE.
    pub intx_disabled: AtomicBool,
    /// Set by the vanish fault.
    pub vanished: AtomicBool,
    pub shutdown: AtomicBool,
    /// INTx level the device wants (PTDMA: INTERRUPT_STATUS & INT_ENABLE != 0).
    pub irq_level: AtomicBool,
    irqfd: Mutex<Option<Arc<OwnedFd>>>,
    /// Bumped by every SET_IRQFD so an older resample thread retires.
    irq_generation: std::sync::atomic::AtomicU64,
}

impl Shared {
    pub fn new(
        mem: Arc<dyn GuestMemory>,
        timing: Timing,
        faults: Arc<FaultPlan>,
        counters: Arc<Counters>,
    ) -> Shared {
        Shared {
            mem,
            timing,
            faults,
            counters,
            master: AtomicBool::new(false),
            intx_disabled: AtomicBool::new(false),
            vanished: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            irq_level: AtomicBool::new(false),
            irqfd: Mutex::new(None),
            irq_generation: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn dma_allowed(&self) -> bool {
        self.master.load(Ordering::SeqCst)
            && !self.vanished.load(Ordering::SeqCst)
            && !self.shutdown.load(Ordering::SeqCst)
    }

    /// SET_IRQFD: keeps the irqfd and, if given, starts a thread that re-asserts INTx on every
    /// resample while the level is still high (level-triggered INTx as in qemu-proxy-protocol
    /// §7.1). Only meaningful under KVM; under TCG QEMU never signals these fds.
    pub fn set_irqfd(self: &Arc<Self>, irqfd: Option<OwnedFd>, resample: Option<OwnedFd>) {
        let generation = self.irq_generation.fetch_add(1, Ordering::SeqCst) + 1;
        *lock(&self.irqfd) = irqfd.map(Arc::new);
        let Some(rs) = resample else { return };
        let me = self.clone();
        let r = std::thread::Builder::new()
            .name("intx-resample".into())
            .spawn(move || me.resample_loop(&rs, generation));
        if let Err(e) = r {
            tracing::warn!("cannot start the INTx resample thread: {e}");
        }
    }

    fn resample_loop(&self, rs: &OwnedFd, generation: u64) {
        use nix::poll::{poll, PollFd, PollFlags};
        use std::os::fd::AsFd;
        while !self.shutdown.load(Ordering::SeqCst)
            && self.irq_generation.load(Ordering::SeqCst) == generation
        {
            let mut fds = [PollFd::new(rs.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, 100u16) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!("resamplefd poll failed: {e}");
                    return;
                }
            }
            let mut b = [0u8; 8];
            match nix::unistd::read(rs, &mut b) {
                Ok(0) => return,
                Ok(_) => {
                    if self.irq_level.load(Ordering::SeqCst) {
                        tracing::trace!("resample: level still high, re-asserting INTx");
                        self.raise_intx();
                    }
                }
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                Err(e) => {
                    tracing::warn!("resamplefd read failed: {e}");
                    return;
                }
            }
        }
    }

    /// Asserts INTx (writes 1 to the irqfd) unless COMMAND.INTX_DISABLE is set.
    pub fn raise_intx(&self) {
        if self.intx_disabled.load(Ordering::SeqCst) {
            return;
        }
        let fd = lock(&self.irqfd).clone();
        if let Some(fd) = fd {
            let _ = nix::unistd::write(&*fd, &1u64.to_ne_bytes());
        }
    }
}

/// Locks a mutex, recovering from poisoning (state is plain data; never panic on it).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// A queue's register state with the condition variable its worker sleeps on.
pub struct QueueCell<S> {
    pub state: Mutex<S>,
    pub cv: Condvar,
}

impl<S> QueueCell<S> {
    pub fn new(s: S) -> QueueCell<S> {
        QueueCell {
            state: Mutex::new(s),
            cv: Condvar::new(),
        }
    }
    pub fn lock(&self) -> MutexGuard<'_, S> {
        lock(&self.state)
    }
    pub fn kick(&self) {
        self.cv.notify_all();
    }
    /// Waits (with a timeout so shutdown is never missed) until `ready` returns Some.
    pub fn wait_for<R>(
        &self,
        shared: &Shared,
        mut ready: impl FnMut(&mut S) -> Option<R>,
    ) -> Option<R> {
        let mut g = self.lock();
        loop {
            if shared.shutdown.load(Ordering::SeqCst) {
                return None;
            }
            if let Some(r) = ready(&mut g) {
                return Some(r);
            }
            g = match self.cv.wait_timeout(g, Duration::from_millis(100)) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

/// Which side of a copy was not guest RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadSide {
    Src,
    Dst,
}

/// Chunk size for paced copies.
const CHUNK: u64 = 256 << 10;

/// Starts work on the next descriptor: pays the doorbell latency of the timing profile
/// when this descriptor follows a doorbell, then draws the descriptor's injected faults.
/// Returns the start time (for per-descriptor pacing) and the faults.
pub fn begin_descriptor(shared: &Shared, after_doorbell: bool) -> (Instant, crate::faults::Hits) {
    pay_doorbell(shared, after_doorbell);
    (Instant::now(), shared.faults.next_descriptor())
}

/// Waits the timing profile's per-doorbell latency when the next descriptor follows a doorbell.
pub fn pay_doorbell(shared: &Shared, after_doorbell: bool) {
    if after_doorbell && shared.timing.doorbell_ns > 0 {
        wait_until(after(Instant::now(), shared.timing.doorbell()));
    }
}

/// Performs one validated copy, paced to `shared.timing` from `start`. Addresses are checked
/// against guest RAM before any byte moves. `corrupt` inverts every destination byte afterwards.
pub fn run_copy(shared: &Shared, c: &Copy, corrupt: bool, start: Instant) -> Result<(), BadSide> {
    let len = u64::from(c.len);
    if !shared.mem.contains(c.src, len) {
        return Err(BadSide::Src);
    }
    if !shared.mem.contains(c.dst, len) {
        return Err(BadSide::Dst);
    }
    let t = shared.timing;
    let lat = Duration::from_nanos(t.desc_ns);
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(CHUNK);
        if let Some(bw) = t.bytes_per_sec {
            wait_until(after(start, lat.saturating_add(secs(done as f64 / bw))));
        }
        // RAM may have been remapped by a SYNC_SYSMEM in between; report it as a bus error.
        shared
            .mem
            .copy(c.src + done, c.dst + done, n)
            .map_err(|e| {
                if e.gpa >= c.dst && e.gpa < c.dst + len {
                    BadSide::Dst
                } else {
                    BadSide::Src
                }
            })?;
        done += n;
    }
    if corrupt {
        let mut buf = vec![0u8; len.min(CHUNK) as usize];
        let mut off = 0u64;
        while off < len {
            let n = (len - off).min(CHUNK) as usize;
            let _ = shared.mem.read(c.dst + off, &mut buf[..n]);
            buf[..n].iter_mut().for_each(|b| *b = !*b);
            let _ = shared.mem.write(c.dst + off, &buf[..n]);
            off += n as u64;
        }
    }
    wait_until(after(start, t.desc_duration(len)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_profile_matches_rfc_split() {
        let t = Timing::seed();
        // 2 MiB at 12.4 GB/s ≈ 169 µs + 1 µs per descriptor.
        let d = t.desc_duration(2 << 20);
        assert!((d.as_secs_f64() * 1e6 - 170.1).abs() < 0.5, "{d:?}");
        assert_eq!(Timing::default().desc_duration(1 << 30), Duration::ZERO);
    }

    #[test]
    fn wait_until_is_accurate() {
        let t0 = Instant::now();
        wait_until(t0 + Duration::from_micros(700));
        let e = t0.elapsed();
        assert!(e >= Duration::from_micros(700), "{e:?}");
        assert!(e < Duration::from_millis(200), "{e:?}");
    }
}
