//! `bench=load`: migration throughput and per-batch latency while the machine is busy.
//!
//! Two kinds of load, at several levels, each against the `cpu` engine and DMA on channel 0:
//! - memory bandwidth: every other online CPU copies 2 MiB blocks round a 8 MiB ring on the
//!   source node (the boot-chosen copy routine), at a duty cycle of 50 % or 100 % (after each 2 MiB copy it
//!   idles for the matching time), until a stop flag — a pinned job started with
//!   `smp::dispatch::run_static_within` and a zero timeout;
//! - I/O-like DMA: the other DMA channels copy a background stream (64 KiB ops) as large as
//!   each migration batch, submitted just before the batch and waited for just before the
//!   next one (the CPU running the migration drives every channel: QEMU's proxy must not
//!   be entered by two vCPUs at once), so the batch shares the engines and the model's
//!   memory bandwidth with it. Any wait for the background left over is in the migration's
//!   time — an I/O load the migration must live with, not one it can ignore.

use super::cell;
use super::error::{BenchError, LoadError};
use super::spec::{size_name, Spec};
use super::totals::Totals;
use crate::arch::tsc;
use crate::dma;
use crate::migrate::engine::cpu::{self, CpuEngine};
use crate::migrate::engine::dma::DmaEngine;
use crate::migrate::engine::{CopyEngine, CopyOutcome};
use crate::mm::copy::{CopyBatch, CopyList};
use crate::mm::frames::{self, Block};
use crate::println;
use crate::smp::dispatch;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kcore::cmdline::Config;
use kcore::migrate::{batches, folio_bytes};
use kcore::stats::Summary;
use ptdma::DmaChannel;
use ptdma::{CopyOp, DmaAddr};
use spin::Mutex;

static STOP: AtomicBool = AtomicBool::new(false);
static DUTY: AtomicU32 = AtomicU32::new(100);
static LOAD_BYTES: AtomicU64 = AtomicU64::new(0);
/// Each load CPU's ring of blocks, taken by its job while it runs.
static RINGS: Mutex<Vec<(usize, Vec<Block>)>> = Mutex::new(Vec::new());

/// The memory-bandwidth job: copies its ring block to block until [`STOP`].
fn load_job(cpu: usize) {
    let taken = {
        let mut rings = RINGS.lock();
        rings
            .iter()
            .position(|(c, _)| *c == cpu)
            .map(|i| rings.swap_remove(i))
    };
    let Some((_, mut ring)) = taken else { return };
    let mut i = 0;
    let mut buf = Vec::with_capacity(1);
    while !STOP.load(Ordering::Acquire) && ring.len() >= 2 {
        // Block i to block i+1 of the ring (the last one wraps to the first).
        let k = i % (ring.len() - 1);
        let (head, tail) = ring.split_at_mut(k + 1);
        let (src, dst) = (&head[k], &mut tail[0]);
        let bytes = src.bytes();
        let mut list = CopyList::new(&mut buf);
        if list.push(src, dst).is_err() {
            break; // ring blocks are all 2 MiB: cannot happen
        }
        let t0 = tsc::now_ns();
        // The boot-chosen copy routine (Rust's memcpy is `rep movsb`, very slow under TCG).
        if cpu::copy_batch(&mut list.batch()).is_err() {
            break;
        }
        let busy = tsc::now_ns() - t0;
        LOAD_BYTES.fetch_add(bytes, Ordering::Relaxed);
        let duty = u64::from(DUTY.load(Ordering::Relaxed).clamp(1, 100));
        tsc::delay_ns(busy * (100 - duty) / duty);
        i += 1;
    }
    RINGS.lock().push((cpu, ring));
}

/// The memory load on `cpus`, running until dropped (then stopped and waited for).
struct MemLoad {
    cpus: Vec<usize>,
}

impl MemLoad {
    fn start(cpus: &[usize], node: u32, duty: u32) -> Result<Self, BenchError> {
        for &c in cpus {
            let mut ring = Vec::new();
            for _ in 0..4 {
                match frames::alloc(node, 9) {
                    Ok(b) => ring.push(b),
                    Err(e) => {
                        RINGS.lock().push((c, ring));
                        free_rings()?;
                        return Err(BenchError::Frames {
                            what: "load ring",
                            node,
                            error: e,
                        });
                    }
                }
            }
            RINGS.lock().push((c, ring));
        }
        STOP.store(false, Ordering::Release);
        DUTY.store(duty, Ordering::Relaxed);
        LOAD_BYTES.store(0, Ordering::Relaxed);
        match dispatch::run_static_within(cpus, &load_job, 0) {
            Err(Ok(_)) => {}
            Ok(()) => return Err(LoadError::FinishedAtOnce.into()),
            Err(Err(e)) => return Err(LoadError::Start(e).into()),
        }
        Ok(Self {
            cpus: cpus.to_vec(),
        })
    }

    fn stop(self) -> Result<(), BenchError> {
        STOP.store(true, Ordering::Release);
        for &c in &self.cpus {
            if !dispatch::wait_idle(c, 5_000_000_000) {
                return Err(LoadError::DidNotStop(c).into());
            }
        }
        free_rings()
    }
}

fn free_rings() -> Result<(), BenchError> {
    let rings: Vec<_> = RINGS.lock().drain(..).collect();
    for (_, ring) in rings {
        for b in ring {
            frames::free(b)?;
        }
    }
    Ok(())
}

/// An engine whose batches share the DMA engines with a background stream.
struct WithDmaLoad<'a> {
    inner: &'a mut dyn CopyEngine,
    /// The background channels (never the migration engine's own).
    channels: &'a mut dma::Lease,
    src: Block,
    dst: Block,
    next: u64,
    pending: Vec<usize>,
    bytes: u64,
    errors: usize,
}

impl WithDmaLoad<'_> {
    fn drain(&mut self) {
        let deadline = tsc::now_ns() + 2_000_000_000;
        for k in core::mem::take(&mut self.pending) {
            let c = &mut self.channels[k];
            if let Err(e) = c.wait_until(&mut || tsc::now_ns() > deadline) {
                println!("load: background DMA on channel {}: {e}", c.name());
                self.errors += 1;
            }
        }
    }
}

impl CopyEngine for WithDmaLoad<'_> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn width(&self) -> usize {
        self.inner.width()
    }
    fn threads(&self) -> usize {
        self.inner.threads()
    }
    fn channels(&self) -> usize {
        self.inner.channels()
    }
    fn copy(
        &mut self,
        batch: &mut CopyBatch<'_>,
    ) -> Result<CopyOutcome, crate::migrate::error::EngineError> {
        self.drain();
        let want = batch.bytes();
        let chunk = 64 << 10;
        let n = self.channels.len().max(1) as u64;
        for k in 0..self.channels.len() {
            let mut bg = Vec::new();
            let mut left = (want / n).max(chunk);
            while left > 0 && bg.len() < 256 {
                let off = self.next % self.src.bytes();
                bg.push(CopyOp {
                    src: DmaAddr::new(self.src.addr().as_u64() + off),
                    dst: DmaAddr::new(self.dst.addr().as_u64() + off),
                    len: chunk,
                });
                self.next += chunk;
                left = left.saturating_sub(chunk);
            }
            // The background buffers are this engine's own; it drains every channel
            // before they are freed (`drain`, then the caller frees them).
            let held = dma::Held::blocks(&self.src, &mut self.dst);
            match DmaChannel::submit(&mut self.channels[k].held(&held), &bg) {
                Ok(_) => {
                    self.pending.push(k);
                    self.bytes += bg.len() as u64 * chunk;
                }
                Err(e) => {
                    println!(
                        "load: background DMA on channel {} refused: {e}",
                        self.channels[k].name()
                    );
                    self.errors += 1;
                }
            }
        }
        self.inner.copy(batch)
    }
}

/// Load levels: (name, memory duty % or 0 for none, background DMA).
const LEVELS: [(&str, u32, bool); 5] = [
    ("none", 0, false),
    ("mem 50%", 50, false),
    ("mem 100%", 100, false),
    ("dma-bg", 0, true),
    ("mem 100% + dma-bg", 100, true),
];

/// Runs `bench=load`.
///
/// # Errors
/// [`BenchError::Input`] for nodes (`from=`/`to=`) without memory, [`BenchError::Engine`]/[`BenchError::Channels`] for
/// an engine that cannot be built, [`BenchError::Frames`] when the load rings or the
/// background DMA buffers do not fit, [`BenchError::Load`] when the load CPUs do not
/// start or stop, [`BenchError::Free`] when a buffer cannot be given back.
pub fn load(config: &Config, totals: &mut Totals) -> Result<(), BenchError> {
    let (from, to) = super::nodes(config)?;
    let me = crate::arch::percpu::current_index();
    let others: Vec<usize> = crate::smp::online()
        .into_iter()
        .filter(|&c| c != me)
        .collect();
    let sizes = super::sizes_or(config, &[0, 9]);
    let total = super::question_total(config);
    let mut engines: Vec<Box<dyn CopyEngine>> = alloc::vec![Box::new(CpuEngine)];
    if crate::dma::channel_count() > 0 {
        engines.push(Box::new(DmaEngine::new(
            Some(1),
            super::dma_split(config),
            config.dma_timeout_ms,
        )?));
    }
    // The background stream holds every channel but the one the migration engine leases
    // for each batch.
    let channels = crate::dma::channel_count();
    let mut bg = if channels > 1 {
        Some(crate::dma::take(Some(channels - 1))?)
    } else {
        None
    };
    let bg_names: Vec<String> = bg.iter().flat_map(|l| l.iter().map(|c| c.name())).collect();
    println!(
        "load: memory load on CPUs {others:?} (node {from}), background DMA on channels {bg_names:?}; engines cpu, dma x1; sizes {}; {} MiB per repetition, node {from} -> {to}, {} reps + warm-up{}",
        sizes.iter().map(|&o| alloc::format!("{}", size_name(o))).collect::<Vec<_>>().join(","),
        total >> 20,
        config.migrate.reps,
        crate::bench_context().note()
    );
    let mut rows = Vec::new();
    for (level, duty, dma_bg) in LEVELS {
        if duty > 0 && others.is_empty() {
            println!("load: {level}: no other CPU: skipped");
            continue;
        }
        if dma_bg && bg.is_none() {
            println!("load: {level}: no second DMA channel: skipped");
            continue;
        }
        for e in engines.iter_mut() {
            for &order in &sizes {
                let spec = Spec::batched(
                    "load",
                    order,
                    (total / folio_bytes(order)).max(1) as usize,
                    from,
                    to,
                    config,
                );
                let label = alloc::format!("load {level}: {} {}", e.name(), size_name(order));
                let mem = if duty > 0 {
                    Some(MemLoad::start(&others, from, duty)?)
                } else {
                    None
                };
                let t0 = tsc::now_ns();
                let (o, bg_bytes, bg_errors) = if let (true, Some(bg)) = (dma_bg, bg.as_mut()) {
                    let bg_block = |node| {
                        frames::alloc_data(node, 9).map_err(|error| BenchError::Frames {
                            what: "background DMA buffer",
                            node,
                            error,
                        })
                    };
                    let (src, dst) = (bg_block(from)?, bg_block(to)?);
                    let mut w = WithDmaLoad {
                        inner: e.as_mut(),
                        channels: bg,
                        src,
                        dst,
                        next: 0,
                        pending: Vec::new(),
                        bytes: 0,
                        errors: 0,
                    };
                    let o = cell::run(&spec, &mut w, &label);
                    w.drain();
                    let r = (o, w.bytes, w.errors);
                    frames::free(w.src)?;
                    frames::free(w.dst)?;
                    r
                } else {
                    (cell::run(&spec, e.as_mut(), &label), 0, 0)
                };
                let secs = (tsc::now_ns() - t0) as f64 / 1e9;
                let load_bytes = LOAD_BYTES.load(Ordering::Relaxed);
                if let Some(m) = mem {
                    m.stop()?;
                }
                totals.count(&o);
                let nb = batches(spec.folios, order, spec.batch_pages).count().max(1) as f64;
                let gb = Summary::of(&o.gbps)
                    .map(|s| s.mean)
                    .ok()
                    .filter(|_| o.failure.is_none());
                let bytes = (spec.folios as u64 * folio_bytes(order)) as f64;
                let lat_us = gb.map(|g| bytes / g / nb / 1e3);
                let mem_gbps = if duty > 0 {
                    load_bytes as f64 / secs / 1e9
                } else {
                    0.0
                };
                let bg_gbps = bg_bytes as f64 / secs / 1e9;
                let obj = super::result::result_obj(&spec, &o)
                    .str(kcore::record::result::LOAD, level)
                    .int("load_duty_pct", duty as u64)
                    .num("load_mem_gbps", mem_gbps)
                    .num("load_dma_gbps", bg_gbps)
                    .int("load_dma_errors", bg_errors as u64)
                    .num("batch_latency_us", lat_us.unwrap_or(f64::NAN));
                crate::bench::json::print_result(obj);
                rows.push((
                    level,
                    e.name(),
                    order,
                    super::spec::cell_text(&o),
                    lat_us,
                    mem_gbps,
                    bg_gbps,
                ));
            }
        }
    }
    println!();
    println!(
        "load. Migration under memory-bandwidth and background DMA load (batched){}",
        crate::bench_context().note()
    );
    println!(" load              | engine | folio | migration GB/s  | batch latency us | load mem GB/s | load DMA GB/s");
    println!("=========================================================================================================");
    for (level, name, order, text, lat, mem, bg) in rows {
        println!(
            " {level:<17} | {name:<6} | {:>5} | {text:>15} | {:>16} | {mem:>13.3} | {bg:>13.3}",
            alloc::format!("{}", size_name(order)),
            lat.map_or(String::from("-"), |l| alloc::format!("{l:.1}")),
        );
    }
    Ok(())
}
