//! Starting application processors: the real-mode trampoline (assembled in `boot`) is
//! copied to `boot::AP_TRAMPOLINE`, its parameter block filled for one AP at a time
//! ([`start_ap`]) or for all of them with a table each AP searches by its APIC ID
//! ([`start_parallel`]), and INIT-SIPI-SIPI sent (Intel SDM Vol. 3A §9.4.4.1 "Typical BSP Initialization
//! Sequence": INIT, 10 ms, SIPI, 200 µs, SIPI). The AP arrives in [`ap_main`] on its own
//! stack with the kernel's CR3/CR0/CR4 (so NX, WP and SSE are as on the BSP), loads its
//! GDT/TSS and the shared IDT, installs its per-CPU block and enables its LAPIC, then
//! hands over to `smp::ap_entry`, which reports in.
//!
//! Every wait is bounded by the TSC: an AP that does not report in gets INIT again
//! (parked in wait-for-SIPI, so it cannot wake later on a stale parameter block) and
//! is left out.

use super::percpu::{self, PerCpu};
use super::{apic, gdt, traps, tsc};
use core::sync::atomic::Ordering;
use x86_64::registers::control::{Cr0, Cr3, Cr4};

unsafe extern "C" {
    static ap_tramp_start: u8;
    static ap_tramp_end: u8;
    static ap_start64: u8;
    static boot_pml4: u8;
}

/// Why the AP trampoline could not be installed (no AP can then be started).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrampolineError {
    /// The page at `boot::AP_TRAMPOLINE` (physical address, here) is not usable RAM in
    /// the memory map, or the loader occupies it. The page is fixed: a STARTUP IPI's
    /// vector is the page number of the real-mode entry, so it must lie below 1 MiB
    /// (Intel SDM Vol. 3A §11.6.1 "Interrupt Command Register (ICR)", Start-Up delivery mode).
    PageNotUsable(u64),
    /// The trampoline code is this many bytes, more than the `boot::AP_PARAMS` bytes
    /// before its parameter block in the same page.
    TooLong(u64),
}

impl core::fmt::Display for TrampolineError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::PageNotUsable(page) => {
                write!(
                    f,
                    "trampoline page {page:#x} is not usable RAM in the memory map"
                )
            }
            Self::TooLong(len) => write!(f, "trampoline of {len} bytes overlaps its parameters"),
        }
    }
}

/// Copies the trampoline to its page. `usable` says whether that page is usable RAM
/// (checked against the memory map by the caller).
///
/// # Errors
/// [`TrampolineError::PageNotUsable`] when `usable` is false (nothing is written);
/// [`TrampolineError::TooLong`] when the assembled trampoline (in bytes) reaches into
/// the parameter block at offset `boot::AP_PARAMS` of the page.
pub fn install_trampoline(usable: bool) -> Result<(), TrampolineError> {
    let start = (&raw const ap_tramp_start) as u64;
    let len = (&raw const ap_tramp_end) as u64 - start;
    if !usable {
        return Err(TrampolineError::PageNotUsable(boot::AP_TRAMPOLINE));
    }
    if len > boot::AP_PARAMS {
        return Err(TrampolineError::TooLong(len));
    }
    // SAFETY: the trampoline page lies in the first MiB, which is reserved from every
    // allocator and identity mapped writable; the source is the kernel's rodata.
    unsafe {
        core::ptr::copy_nonoverlapping(
            start as *const u8,
            boot::AP_TRAMPOLINE as *mut u8,
            len as usize,
        );
    }
    Ok(())
}

fn write_param(offset: u64, value: u64) {
    let p = (boot::AP_TRAMPOLINE + boot::AP_PARAMS + offset) as *mut u64;
    // SAFETY: the parameter block is inside the reserved, identity-mapped trampoline
    // page; only the BSP writes it, between AP starts.
    unsafe { p.write_volatile(value) }
}

/// Why an AP did not come up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// An IPI could not be sent.
    Ipi(apic::IpiError),
    /// No report within the time limit.
    Timeout,
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Ipi(e) => write!(f, "IPI failed: {e:?}"),
            Self::Timeout => write!(f, "did not report in time"),
        }
    }
}

/// Starts the AP described by `cpu` (its stacks already set) and waits at most
/// `timeout_ns` for it to set `online`. Returns the nanoseconds it took.
///
/// # Errors
/// [`StartError::Ipi`] when the INIT or a STARTUP IPI cannot be sent (see
/// [`apic::send_init`]); [`StartError::Timeout`] when the AP has not set `online` within
/// `timeout_ns` nanoseconds of the INIT (it is then sent INIT again to park it).
pub fn start_ap(cpu: &'static PerCpu, timeout_ns: u64) -> Result<u64, StartError> {
    let kernel_cr3 = Cr3::read().0.start_address().as_u64();
    write_param(0, (&raw const boot_pml4) as u64);
    write_param(8, (&raw const ap_start64) as u64);
    write_param(16, kernel_cr3);
    write_param(24, Cr0::read_raw());
    write_param(32, Cr4::read_raw());
    write_param(40, cpu.stack_top);
    write_param(48, cpu as *const PerCpu as u64);
    write_param(56, 0);
    write_param(64, 0);
    let page = (boot::AP_TRAMPOLINE >> 12) as u8;
    let t0 = tsc::now_ns();
    let dest = cpu.apic_id;
    apic::send_init(dest).map_err(StartError::Ipi)?;
    tsc::delay_ns(10_000_000);
    apic::send_startup(dest, page).map_err(StartError::Ipi)?;
    tsc::delay_ns(200_000);
    if !cpu.online.load(Ordering::Acquire) {
        apic::send_startup(dest, page).map_err(StartError::Ipi)?;
    }
    let deadline = t0 + timeout_ns;
    while !cpu.online.load(Ordering::Acquire) {
        if tsc::now_ns() > deadline {
            // Park it: a late AP must not run on the next AP's parameters.
            let _ = apic::send_init(dest);
            return Err(StartError::Timeout);
        }
        core::hint::spin_loop();
    }
    Ok(tsc::now_ns() - t0)
}

/// What a parallel start did for one AP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApOutcome {
    /// Reported in this many nanoseconds after the first INIT.
    Online(u64),
    /// Did not come up (parked again with INIT).
    Failed(StartError),
}

/// Starts every AP of `aps` (stacks set) at once: INIT to each, one 10 ms wait, SIPI to
/// each, 200 µs, a second SIPI to those not yet up, then waits at most `timeout_ns` for
/// all of them. Each AP finds its stack and per-CPU block in a table by its own APIC ID
/// (see `boot::AP_PARAMS`). APs that do not report in are parked with INIT before the
/// table is freed, so none can read it late. Outcomes are in the order of `aps`.
pub fn start_parallel(aps: &[&'static PerCpu], timeout_ns: u64) -> alloc::vec::Vec<ApOutcome> {
    use alloc::vec::Vec;
    let table: Vec<boot::ApSlot> = aps
        .iter()
        .map(|c| boot::ApSlot {
            apic_id: u64::from(c.apic_id),
            stack_top: c.stack_top,
            arg: *c as *const PerCpu as u64,
        })
        .collect();
    let kernel_cr3 = Cr3::read().0.start_address().as_u64();
    write_param(0, (&raw const boot_pml4) as u64);
    write_param(8, (&raw const ap_start64) as u64);
    write_param(16, kernel_cr3);
    write_param(24, Cr0::read_raw());
    write_param(32, Cr4::read_raw());
    write_param(40, 0);
    write_param(48, 0);
    write_param(56, table.as_ptr() as u64);
    write_param(64, table.len() as u64);
    let page = (boot::AP_TRAMPOLINE >> 12) as u8;
    let mut out: Vec<Option<ApOutcome>> = alloc::vec![None; aps.len()];
    let t0 = tsc::now_ns();
    for (i, c) in aps.iter().enumerate() {
        if let Err(e) = apic::send_init(c.apic_id) {
            out[i] = Some(ApOutcome::Failed(StartError::Ipi(e)));
        }
    }
    tsc::delay_ns(10_000_000);
    for (i, c) in aps.iter().enumerate() {
        if out[i].is_none() {
            if let Err(e) = apic::send_startup(c.apic_id, page) {
                out[i] = Some(ApOutcome::Failed(StartError::Ipi(e)));
            }
        }
    }
    tsc::delay_ns(200_000);
    for (i, c) in aps.iter().enumerate() {
        if out[i].is_none() && !c.online.load(Ordering::Acquire) {
            let _ = apic::send_startup(c.apic_id, page);
        }
    }
    let deadline = t0 + timeout_ns;
    loop {
        let mut waiting = false;
        for (i, c) in aps.iter().enumerate() {
            if out[i].is_none() {
                if c.online.load(Ordering::Acquire) {
                    out[i] = Some(ApOutcome::Online(tsc::now_ns() - t0));
                } else {
                    waiting = true;
                }
            }
        }
        if !waiting || tsc::now_ns() > deadline {
            break;
        }
        core::hint::spin_loop();
    }
    let outcomes: Vec<ApOutcome> = aps
        .iter()
        .zip(out)
        .map(|(c, o)| {
            o.unwrap_or_else(|| {
                // Park it: it must not read the table after it is freed.
                let _ = apic::send_init(c.apic_id);
                c.online.store(false, Ordering::Release);
                ApOutcome::Failed(StartError::Timeout)
            })
        })
        .collect();
    write_param(56, 0);
    write_param(64, 0);
    drop(table);
    outcomes
}

/// Rust entry of an AP, called by `ap_start64` with the address of its [`PerCpu`].
#[unsafe(no_mangle)]
extern "C" fn ap_main(arg: u64) -> ! {
    // SAFETY: `start_ap` passed the address of a leaked ('static) PerCpu.
    let cpu: &'static PerCpu = unsafe { &*(arg as *const PerCpu) };
    gdt::init_ap(cpu.ist_tops);
    traps::load();
    percpu::install(cpu);
    apic::init_local();
    super::copy::setup_ap();
    super::hooks::ap_entry(cpu)
}
