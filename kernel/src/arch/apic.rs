//! The local APIC: x2APIC (MSRs) when CPUID offers it, else xAPIC (MMIO, mapped uncached
//! with `mm::paging::map_mmio`). Used for IPIs (INIT, SIPI, NMI, fixed vectors), EOI,
//! and the per-CPU LAPIC timer that drives the watchdog.
//!
//! Register offsets are the xAPIC MMIO offsets of Intel SDM Vol. 3A §11.4.1 (Table 11-1);
//! the x2APIC MSR of a register is `0x800 + offset / 16` (§11.12.1.2, Table 11-6). The
//! ICR is one 64-bit MSR in x2APIC mode and two 32-bit registers in xAPIC mode.
//! QEMU 7.2 TCG does not emulate x2APIC (its CPUID bit is masked), so there the xAPIC
//! path runs; KVM and real machines take the x2APIC path.
//!
//! The legacy 8259 PICs are remapped to vectors 0x20..0x2f and masked: SeaBIOS leaves
//! them live with IRQ0 on vector 8, which would look like a double fault once
//! interrupts are enabled.

use super::cpu;
use super::mmio::Mmio;
use super::tsc;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use x86_64::registers::model_specific::Msr;

/// Local APIC register offsets (xAPIC MMIO offsets; SDM Table 11-1).
#[derive(Clone, Copy, Debug)]
#[repr(u32)]
enum Reg {
    /// Local APIC ID Register.
    Id = 0x20,
    /// Task Priority Register.
    Tpr = 0x80,
    /// End Of Interrupt register.
    Eoi = 0xb0,
    /// Spurious Interrupt Vector Register.
    Svr = 0xf0,
    /// Error Status Register.
    Esr = 0x280,
    /// Interrupt Command Register, bits 0-31.
    IcrLow = 0x300,
    /// Interrupt Command Register, bits 32-63 (xAPIC only; destination in 31:24).
    IcrHigh = 0x310,
    /// LVT Timer register.
    LvtTimer = 0x320,
    /// LVT Error register.
    LvtError = 0x370,
    /// Timer Initial Count register.
    TimerInit = 0x380,
    /// Timer Current Count register.
    TimerCurrent = 0x390,
    /// Timer Divide Configuration register.
    TimerDivide = 0x3e0,
}

/// IA32_APIC_BASE MSR: bit 11 global enable, bit 10 x2APIC mode.
const IA32_APIC_BASE: u32 = 0x1b;
const APIC_ENABLE: u64 = 1 << 11;
const X2APIC_ENABLE: u64 = 1 << 10;

/// Vector of spurious interrupts (no EOI for them).
pub const SPURIOUS_VECTOR: u8 = 0xff;

const MODE_NONE: u8 = 0;
const MODE_XAPIC: u8 = 1;
const MODE_X2APIC: u8 = 2;
static MODE: AtomicU8 = AtomicU8::new(MODE_NONE);
static XAPIC_BASE: AtomicU64 = AtomicU64::new(0);
/// LAPIC timer ticks per millisecond at divide-by-16 (measured on the BSP).
static TIMER_TICKS_PER_MS: AtomicU32 = AtomicU32::new(0);

/// ICR delivery modes (bits 10:8) and flags.
const ICR_FIXED: u64 = 0b000 << 8;
const ICR_NMI: u64 = 0b100 << 8;
const ICR_INIT: u64 = 0b101 << 8;
const ICR_STARTUP: u64 = 0b110 << 8;
const ICR_LEVEL_ASSERT: u64 = 1 << 14;
const ICR_PENDING: u32 = 1 << 12;

/// Which LAPIC interface is in use.
pub fn mode_name() -> &'static str {
    match MODE.load(Ordering::Relaxed) {
        MODE_X2APIC => "x2APIC",
        MODE_XAPIC => "xAPIC",
        _ => "none",
    }
}

/// Whether the CPU offers x2APIC (CPUID.1:ECX bit 21).
pub fn cpu_has_x2apic() -> bool {
    cpu::cpuid(1, 0).ecx & (1 << 21) != 0
}

fn read(reg: Reg) -> u32 {
    if MODE.load(Ordering::Relaxed) == MODE_X2APIC {
        // SAFETY: x2APIC mode is on (MODE), so the register's MSR exists; reads have no
        // side effects on memory.
        unsafe { Msr::new(0x800 + (reg as u32 >> 4)).read() as u32 }
    } else {
        xapic().read32(reg as u64)
    }
}

fn write(reg: Reg, value: u32) {
    if MODE.load(Ordering::Relaxed) == MODE_X2APIC {
        // SAFETY: x2APIC mode is on; the LAPIC registers written here (EOI, SVR, LVT,
        // timer, ESR) only affect interrupt delivery, not memory.
        unsafe { Msr::new(0x800 + (reg as u32 >> 4)).write(u64::from(value)) }
    } else {
        xapic().write32(reg as u64, value);
    }
}

fn xapic() -> Mmio {
    // SAFETY: XAPIC_BASE is the MADT's local APIC block, mapped uncached by `init_bsp`
    // before MODE became xAPIC; the registers only steer interrupts.
    unsafe { Mmio::new(XAPIC_BASE.load(Ordering::Relaxed), 0x1000) }
}

/// Why the boot CPU's LAPIC could not be brought up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApicError {
    /// The CPU has no x2APIC and no mapped xAPIC register block was given.
    NoXapicMapping,
}

impl core::fmt::Display for ApicError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ApicError::NoXapicMapping => {
                write!(f, "no x2APIC and the xAPIC register block is not mapped")
            }
        }
    }
}

/// Brings up the boot CPU's LAPIC: x2APIC where the CPU has it, else xAPIC through
/// `xapic_base` (the MADT's register block, already mapped uncached by the caller);
/// masks the legacy PICs, enables the APIC and measures the timer against the TSC.
///
/// # Errors
/// [`ApicError::NoXapicMapping`] without x2APIC when `xapic_base` is `None`.
pub fn init_bsp(xapic_base: Option<u64>) -> Result<(), ApicError> {
    mask_legacy_pics();
    if cpu_has_x2apic() {
        MODE.store(MODE_X2APIC, Ordering::Relaxed);
    } else {
        let base = xapic_base.ok_or(ApicError::NoXapicMapping)?;
        XAPIC_BASE.store(base, Ordering::Relaxed);
        MODE.store(MODE_XAPIC, Ordering::Relaxed);
    }
    init_local();
    calibrate_timer();
    Ok(())
}

/// Enables this CPU's LAPIC in the chosen mode (BSP and every AP).
pub fn init_local() {
    let mut base = Msr::new(IA32_APIC_BASE);
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU; setting the enable bits (and the
    // x2APIC bit only when CPUID offers it) keeps the base address unchanged.
    unsafe {
        let mut v = base.read() | APIC_ENABLE;
        if MODE.load(Ordering::Relaxed) == MODE_X2APIC {
            v |= X2APIC_ENABLE;
        }
        base.write(v);
    }
    write(Reg::Tpr, 0);
    write(Reg::LvtError, 0x1_0000 | u32::from(SPURIOUS_VECTOR - 1)); // masked
    write(Reg::Esr, 0);
    write(Reg::Svr, 0x100 | u32::from(SPURIOUS_VECTOR)); // software enable
}

/// This CPU's APIC ID as the LAPIC reports it (x2APIC: 32 bits; xAPIC: bits 31:24).
pub fn id() -> u32 {
    match MODE.load(Ordering::Relaxed) {
        MODE_X2APIC => read(Reg::Id),
        MODE_XAPIC => read(Reg::Id) >> 24,
        _ => cpu::apic_id(),
    }
}

/// Signals end of interrupt to this CPU's LAPIC.
pub fn eoi() {
    write(Reg::Eoi, 0);
}

/// Why an IPI could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpiError {
    /// The LAPIC is not initialized.
    NoApic,
    /// The previous IPI was still pending after the bounded wait (xAPIC only).
    Busy,
    /// The destination APIC ID does not fit xAPIC's 8-bit destination (above 0xfe;
    /// 0xff is the broadcast address): such CPUs need x2APIC mode.
    Unreachable,
}

fn send(dest: u32, icr: u64) -> Result<(), IpiError> {
    match MODE.load(Ordering::Relaxed) {
        MODE_X2APIC => {
            // SAFETY: x2APIC ICR (MSR 0x830): one write sends the IPI; the kinds sent
            // (fixed, NMI, INIT, SIPI) are part of the SMP protocol of this kernel.
            unsafe { Msr::new(0x830).write((u64::from(dest) << 32) | icr) };
            Ok(())
        }
        MODE_XAPIC if dest > 0xfe => Err(IpiError::Unreachable),
        MODE_XAPIC => {
            // Interrupts off: an interrupt handler sending its own IPI between the two
            // ICR writes would change the destination under us.
            x86_64::instructions::interrupts::without_interrupts(|| {
                wait_idle()?;
                write(Reg::IcrHigh, dest << 24);
                write(Reg::IcrLow, icr as u32);
                wait_idle()
            })
        }
        _ => Err(IpiError::NoApic),
    }
}

/// xAPIC: waits (bounded, 10 ms) until the ICR's delivery status is idle.
fn wait_idle() -> Result<(), IpiError> {
    let deadline = tsc::now_ns() + 10_000_000;
    while read(Reg::IcrLow) & ICR_PENDING != 0 {
        if tsc::now_ns() > deadline {
            return Err(IpiError::Busy);
        }
        core::hint::spin_loop();
    }
    Ok(())
}

/// Sends a fixed-vector interrupt to the CPU with APIC ID `dest`.
///
/// # Errors
/// [`IpiError::NoApic`] before [`init_bsp`] chose a mode; in xAPIC mode
/// [`IpiError::Unreachable`] for a `dest` above 0xfe, and [`IpiError::Busy`] when the ICR's
/// delivery status stays pending for 10 ms, either before the write (nothing sent) or
/// after it (the IPI was written but not yet accepted). x2APIC mode cannot fail.
pub fn send_fixed(dest: u32, vector: u8) -> Result<(), IpiError> {
    send(dest, ICR_FIXED | ICR_LEVEL_ASSERT | u64::from(vector))
}

/// Sends an NMI to `dest`.
///
/// # Errors
/// As [`send_fixed`]: [`IpiError::NoApic`], and in xAPIC mode [`IpiError::Unreachable`]
/// (`dest` > 0xfe) or [`IpiError::Busy`] (ICR pending for 10 ms).
pub fn send_nmi(dest: u32) -> Result<(), IpiError> {
    send(dest, ICR_NMI | ICR_LEVEL_ASSERT)
}

/// Sends INIT to `dest` (the CPU resets and waits for a SIPI).
///
/// # Errors
/// As [`send_fixed`]: [`IpiError::NoApic`], and in xAPIC mode [`IpiError::Unreachable`]
/// (`dest` > 0xfe) or [`IpiError::Busy`] (ICR pending for 10 ms).
pub fn send_init(dest: u32) -> Result<(), IpiError> {
    send(dest, ICR_INIT | ICR_LEVEL_ASSERT)
}

/// Sends a STARTUP IPI: `dest` starts in real mode at `page * 4096`.
///
/// # Errors
/// As [`send_fixed`]: [`IpiError::NoApic`], and in xAPIC mode [`IpiError::Unreachable`]
/// (`dest` > 0xfe) or [`IpiError::Busy`] (ICR pending for 10 ms).
pub fn send_startup(dest: u32, page: u8) -> Result<(), IpiError> {
    send(dest, ICR_STARTUP | ICR_LEVEL_ASSERT | u64::from(page))
}

/// Measures the LAPIC timer (divide by 16) against the calibrated TSC, over 10 ms.
fn calibrate_timer() {
    write(Reg::TimerDivide, 0b0011); // divide by 16
    write(Reg::LvtTimer, 0x1_0000); // masked, one-shot
    write(Reg::TimerInit, u32::MAX);
    tsc::delay_ns(10_000_000);
    let elapsed = u32::MAX - read(Reg::TimerCurrent);
    write(Reg::TimerInit, 0);
    TIMER_TICKS_PER_MS.store((elapsed / 10).max(1), Ordering::Relaxed);
}

/// LAPIC timer ticks per millisecond (divide by 16), as measured at boot.
pub fn timer_ticks_per_ms() -> u32 {
    TIMER_TICKS_PER_MS.load(Ordering::Relaxed)
}

/// Starts this CPU's LAPIC timer: periodic, every `period_ms`, on `vector`.
pub fn start_periodic_timer(vector: u8, period_ms: u32) {
    write(Reg::TimerDivide, 0b0011);
    write(Reg::LvtTimer, (1 << 17) | u32::from(vector)); // periodic
    write(
        Reg::TimerInit,
        timer_ticks_per_ms().saturating_mul(period_ms).max(1),
    );
}

/// Remaps the 8259 PICs to vectors 0x20..0x2f and masks every line.
fn mask_legacy_pics() {
    // SAFETY: ports 0x20/0x21/0xa0/0xa1 are the legacy PICs, which nothing else in this
    // kernel drives; the ICW sequence only changes their vectors and masks.
    unsafe {
        for (cmd, data, base, cascade) in [(0x20, 0x21, 0x20, 4), (0xa0, 0xa1, 0x28, 2)] {
            cpu::outb(cmd, 0x11); // ICW1: init, ICW4 follows
            cpu::outb(data, base); // ICW2: vector base
            cpu::outb(data, cascade); // ICW3
            cpu::outb(data, 0x01); // ICW4: 8086 mode
            cpu::outb(data, 0xff); // mask all
        }
    }
}
