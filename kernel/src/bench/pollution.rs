//! `bench=pollution`: what a migration does to the caches of the CPU that runs it.
//!
//! A victim working set sized to the L2 (then the L3) data cache, from CPUID leaf 0x8000001D
//! (AMD), 4 (Intel) or 0x80000006 (legacy AMD), is read once to warm it and read again to time it warm. A migration
//! then runs with one engine — CPU temporal stores (`sse2`, `avx2`), CPU non-temporal stores
//! (`nt`) or DMA — and the victim is re-read: victim slowdown = re-read / warm read. Then the
//! migrated data is touched for the first time at its destination, against a touch of the
//! same data in place before the migration: touch slowdown. Each read touches one byte per
//! 64-byte line. Every migration is verified and its frames accounted for.
//!
//! Under QEMU TCG caches are not modelled: these ratios then measure nothing about caches.

use super::error::BenchError;
use super::spec::{size_name, Outcome, Spec};
use super::totals::Totals;
use crate::arch::copy::Routine;
use crate::arch::cpu::cpuid;
use crate::arch::tsc;
use crate::migrate::engine::cpu::RoutineEngine;
use crate::migrate::engine::dma::DmaEngine;
use crate::migrate::engine::{CopyEngine, CopyOutcome};
use crate::migrate::pipeline::{self, PhaseNs};
use crate::migrate::workload::Workload;
use crate::migrate::Mode;
use crate::mm::frames::{self, Block};
use crate::println;
use alloc::boxed::Box;
use alloc::vec::Vec;
use kcore::cache::{data_cache_bytes, legacy_amd_bytes};
use kcore::cmdline::Config;
use kcore::migrate::folio_bytes;
use kcore::stats::Summary;

/// Data cache of `level` in bytes, from CPUID (AMD leaf first, then Intel's).
pub(crate) fn cache_bytes(level: u8) -> Option<u64> {
    let leaf = |l: u32| {
        move |i: u32| {
            let r = cpuid(l, i);
            (r.eax, r.ebx, r.ecx)
        }
    };
    let amd =
        cpuid(0x8000_0000, 0).eax >= 0x8000_001d && cpuid(0x8000_0001, 0).ecx & (1 << 22) != 0;
    let from_amd = if amd {
        data_cache_bytes(level, leaf(0x8000_001d))
    } else {
        None
    };
    let legacy = || {
        (cpuid(0x8000_0000, 0).eax >= 0x8000_0006)
            .then(|| {
                let r = cpuid(0x8000_0006, 0);
                legacy_amd_bytes(level, r.ecx, r.edx)
            })
            .flatten()
    };
    from_amd
        .or_else(|| {
            (cpuid(0, 0).eax >= 4)
                .then(|| data_cache_bytes(level, leaf(4)))
                .flatten()
        })
        .or_else(legacy)
}

/// Reads one byte of every 64-byte line of `bytes` bytes of `blocks`; returns ns.
fn touch<'a>(blocks: impl IntoIterator<Item = &'a Block>, bytes: u64) -> u64 {
    let t0 = tsc::now_ns();
    let mut left = bytes as usize;
    let mut sum = 0u8;
    for b in blocks {
        let s = b.as_slice();
        let n = s.len().min(left);
        for x in s[..n].iter().step_by(64) {
            sum = sum.wrapping_add(*x);
        }
        left -= n;
    }
    core::hint::black_box(sum);
    tsc::now_ns() - t0
}

/// The victim: 2 MiB blocks (or smaller) on `node` covering `bytes`.
fn victim(node: u32, bytes: u64) -> Result<Vec<Block>, BenchError> {
    let order = if bytes >= 2 << 20 { 9 } else { 0 };
    let n = bytes.div_ceil(4096 << order);
    let mut v = Vec::new();
    for _ in 0..n {
        match frames::alloc(node, order) {
            Ok(b) => v.push(b),
            Err(e) => {
                free_all(v)?;
                return Err(BenchError::Frames {
                    what: "victim working set",
                    node,
                    error: e,
                });
            }
        }
    }
    Ok(v)
}

fn free_all(v: Vec<Block>) -> Result<(), BenchError> {
    for b in v {
        frames::free(b)?;
    }
    Ok(())
}

/// One repetition: (migration ns, phases, outcome, victim slowdown, touch slowdown).
fn one_rep(
    spec: &Spec,
    engine: &mut dyn CopyEngine,
    vict: &mut [Block],
    vbytes: u64,
    rep: u64,
) -> Result<(u64, PhaseNs, CopyOutcome, f64, f64), BenchError> {
    let before = frames::frames_in_use();
    let mut w = Workload::create(spec.from, spec.order, spec.folios, tsc::rdtsc() ^ rep << 48)?;
    let bytes = spec.folios as u64 * folio_bytes(spec.order);
    touch(vict.iter(), vbytes);
    let warm = touch(vict.iter(), vbytes).max(1);
    let in_place = touch(w.folios.iter().map(|f| &f.block), bytes).max(1);
    touch(vict.iter(), vbytes);
    let r = pipeline::migrate(&mut w, spec.to, engine, Mode::Batched, spec.batch_pages);
    let after = touch(vict.iter(), vbytes);
    let first = touch(w.folios.iter().map(|f| &f.block), bytes);
    let r = r
        .map_err(BenchError::from)
        .and_then(|s| w.verify(spec.to).map_err(BenchError::from).map(|()| s));
    let destroyed = w.destroy().map_err(BenchError::from);
    let s = r.and_then(|s| destroyed.map(|()| s))?;
    let after_frames = frames::frames_in_use();
    if after_frames != before {
        return Err(BenchError::Leak {
            what: "the pollution cell",
            before,
            after: after_frames,
        });
    }
    Ok((
        s.phases.total(),
        s.phases,
        s.engine,
        after as f64 / warm as f64,
        first as f64 / in_place as f64,
    ))
}

/// Runs `bench=pollution`.
///
/// # Errors
/// [`BenchError::Input`] for nodes (`from=`/`to=`) without memory, [`BenchError::Engine`]/[`BenchError::Channels`] for
/// an engine that cannot be built, [`BenchError::Frames`] when the victim working set
/// does not fit, [`BenchError::Free`] when it cannot be given back.
pub fn pollution(config: &Config, totals: &mut Totals) -> Result<(), BenchError> {
    let (from, to) = super::nodes(config)?;
    let levels: Vec<(u8, u64)> = [2u8, 3]
        .into_iter()
        .filter_map(|l| cache_bytes(l).map(|b| (l, b.min(64 << 20))))
        .collect();
    if levels.is_empty() {
        println!("pollution: CPUID reports no L2/L3 data cache: experiment skipped");
        return Ok(());
    }
    let order = config
        .migrate
        .sizes
        .first()
        .copied()
        .filter(|_| config.migrate.size_given)
        .unwrap_or(9);
    let total = super::question_total(config);
    let mut engines: Vec<Box<dyn CopyEngine>> = Vec::new();
    for r in [Routine::Sse2, Routine::Avx2, Routine::NonTemporal] {
        match RoutineEngine::new(r) {
            Ok(e) => engines.push(Box::new(e)),
            Err(e) => println!("pollution: {e}: skipped"),
        }
    }
    if crate::dma::channel_count() > 0 {
        engines.push(Box::new(DmaEngine::new(
            None,
            super::dma_split(config),
            config.dma_timeout_ms,
        )?));
    }
    println!(
        "pollution: victim = {}; migration of {} MiB in {} folios, node {from} -> {to}, {} reps + warm-up{}",
        levels.iter().map(|(l, b)| alloc::format!("L{l} {} KiB", b >> 10)).collect::<Vec<_>>().join(", "),
        total >> 20,
        size_name(order),
        config.migrate.reps,
        crate::bench_context().note()
    );
    if crate::bench_context().accel != "bare-metal" {
        println!("pollution: NOTE: QEMU TCG does not model caches; these ratios say nothing about cache pollution here");
    }
    let mut rows = Vec::new();
    for &(level, vbytes) in &levels {
        let mut vict = victim(
            crate::arch::percpu::current().map_or(from, |c| c.node),
            vbytes,
        )?;
        for e in engines.iter_mut() {
            let spec = Spec::batched(
                "pollution",
                order,
                (total / folio_bytes(order)).max(1) as usize,
                from,
                to,
                config,
            );
            let mut o = Outcome::new(e.as_ref());
            let (mut vs, mut ts) = (Vec::new(), Vec::new());
            for rep in 0..=spec.reps {
                println!(
                    "  [pollution L{level} {}] rep {rep}/{}",
                    e.name(),
                    spec.reps
                );
                crate::smp::watchdog::progress();
                match one_rep(&spec, e.as_mut(), &mut vict, vbytes, rep as u64) {
                    Ok((ns, p, eo, v, t)) => {
                        o.record(&spec, rep, ns, &p, &eo);
                        if rep > 0 {
                            vs.push(v);
                            ts.push(t);
                        }
                    }
                    Err(err) => {
                        println!(
                            "!!! VERIFICATION FAILED in pollution L{level} {}: {err}",
                            e.name()
                        );
                        o.status = if err.exit_code() == crate::exit::ExitCode::OutOfMemory {
                            kcore::honesty::Status::OutOfMemory
                        } else {
                            kcore::honesty::Status::VerificationFailed
                        };
                        o.failure = Some(alloc::format!("{err}"));
                        break;
                    }
                }
            }
            o.label(&alloc::format!("pollution L{level} {}", e.name()));
            totals.count(&o);
            let mean = |x: &[f64]| Summary::of(x).map_or(f64::NAN, |s| s.mean);
            let (v, t) = (mean(&vs), mean(&ts));
            let obj = super::result::result_obj(&spec, &o)
                .int("cache_level", level as u64)
                .int("victim_bytes", vbytes)
                .num("victim_slowdown", v)
                .num("touch_slowdown", t);
            crate::bench::json::print_result(obj);
            rows.push((level, e.name(), super::spec::cell_text(&o), v, t));
        }
        free_all(vict)?;
    }
    println!();
    println!(
        "pollution. Victim re-read and first touch of the migrated data, relative to no migration{}",
        crate::bench_context().note()
    );
    println!(" victim | engine     | migration GB/s  | victim re-read x | first touch x");
    println!("=========================================================================");
    for (level, name, text, v, t) in rows {
        println!(" L{level:<5} | {name:<10} | {text:>15} | {v:>16.2} | {t:>13.2}");
    }
    Ok(())
}
