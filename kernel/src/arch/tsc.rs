//! Time: the TSC is the clock, calibrated at boot against the HPET (or the PIT when
//! there is no HPET). Invariant TSC (CPUID 0x8000_0007 EDX bit 8) is checked and
//! reported; without it, numbers from runs where the CPU changes frequency are suspect.
//!
//! Calibration runs several 10 ms windows and reports the spread between them as the
//! calibration error.

use super::cpu;
use super::mmio::Mmio;
use core::sync::atomic::{AtomicU64, Ordering};

static TSC_HZ: AtomicU64 = AtomicU64::new(0);

/// How the TSC was calibrated.
#[derive(Debug, Clone, Copy)]
pub struct Calibration {
    /// TSC ticks per second (mean over the windows).
    pub hz: u64,
    /// (max − min) / mean over the windows, in parts per million.
    pub spread_ppm: u64,
    /// Windows measured.
    pub windows: u32,
    /// The reference clock.
    pub reference: &'static str,
    /// CPUID says the TSC is invariant.
    pub invariant: bool,
}

/// Reads the time-stamp counter (uncalibrated ticks).
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// TSC ticks per second (0 before calibration).
pub fn hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Converts TSC ticks to nanoseconds.
pub fn ticks_to_ns(ticks: u64) -> u64 {
    let hz = hz().max(1);
    ((ticks as u128 * 1_000_000_000) / hz as u128) as u64
}

/// Nanoseconds since an arbitrary origin (the TSC's).
pub fn now_ns() -> u64 {
    ticks_to_ns(rdtsc())
}

/// Busy-waits `ns` nanoseconds.
pub fn delay_ns(ns: u64) {
    let end = rdtsc() + (ns as u128 * hz() as u128 / 1_000_000_000) as u64;
    while rdtsc() < end {
        core::hint::spin_loop();
    }
}

fn invariant_tsc() -> bool {
    cpu::cpuid(0x8000_0000, 0).eax >= 0x8000_0007 && cpu::cpuid(0x8000_0007, 0).edx & (1 << 8) != 0
}

const WINDOWS: u32 = 5;
const WINDOW_NS: u64 = 10_000_000;

/// Calibrates against the HPET at `hpet` (its register block, mapped), else the PIT.
pub fn calibrate(hpet: Option<Mmio>) -> Calibration {
    let mut samples = [0u64; WINDOWS as usize];
    let reference = match hpet {
        Some(h) if hpet_usable(&h) => {
            for s in &mut samples {
                *s = window_hpet(&h);
            }
            "HPET"
        }
        _ => {
            for s in &mut samples {
                *s = window_pit();
            }
            "PIT"
        }
    };
    let mean = samples.iter().sum::<u64>() / WINDOWS as u64;
    let (min, max) = (
        *samples.iter().min().unwrap_or(&0),
        *samples.iter().max().unwrap_or(&0),
    );
    let spread_ppm = ((max - min) as u128 * 1_000_000 / mean.max(1) as u128) as u64;
    TSC_HZ.store(mean, Ordering::Relaxed);
    Calibration {
        hz: mean,
        spread_ppm,
        windows: WINDOWS,
        reference,
        invariant: invariant_tsc(),
    }
}

const HPET_CAP: u64 = 0x0;
const HPET_CONFIG: u64 = 0x10;
const HPET_COUNTER: u64 = 0xf0;

fn hpet_usable(h: &Mmio) -> bool {
    let period_fs = h.read64(HPET_CAP) >> 32;
    // The spec bounds the period to (0, 100 ns]; all-ones means no device.
    (1..=100_000_000).contains(&period_fs)
}

/// TSC Hz measured over one HPET window.
fn window_hpet(h: &Mmio) -> u64 {
    let period_fs = h.read64(HPET_CAP) >> 32;
    h.write64(HPET_CONFIG, h.read64(HPET_CONFIG) | 1); // ENABLE_CNF
    let ticks = WINDOW_NS * 1_000_000 / period_fs;
    let (c0, t0) = (h.read64(HPET_COUNTER), rdtsc());
    let mut c1;
    loop {
        c1 = h.read64(HPET_COUNTER);
        if c1.wrapping_sub(c0) >= ticks {
            break;
        }
        core::hint::spin_loop();
    }
    let t1 = rdtsc();
    let elapsed_fs = c1.wrapping_sub(c0) as u128 * period_fs as u128;
    ((t1 - t0) as u128 * 1_000_000_000_000_000 / elapsed_fs) as u64
}

/// TSC Hz measured over one PIT channel-2 one-shot (the classic port 0x61 gate).
fn window_pit() -> u64 {
    const PIT_HZ: u64 = 1_193_182;
    let count = (PIT_HZ * WINDOW_NS / 1_000_000_000) as u16;
    // SAFETY: ports 0x61/0x42/0x43 are the PC speaker gate and PIT channel 2, which no
    // other code uses; the speaker output stays off (bit 1 cleared).
    unsafe {
        let gate = cpu::inb(0x61);
        cpu::outb(0x61, (gate & !0x02) | 0x01);
        cpu::outb(0x43, 0b1011_0000); // channel 2, lo/hi, mode 0
        cpu::outb(0x42, count as u8);
        cpu::outb(0x42, (count >> 8) as u8);
        let t0 = rdtsc();
        let mut spins: u64 = 0;
        while cpu::inb(0x61) & 0x20 == 0 && spins < 1_000_000_000 {
            spins += 1;
        }
        let t1 = rdtsc();
        ((t1 - t0) as u128 * 1_000_000_000 / WINDOW_NS as u128) as u64
    }
}
