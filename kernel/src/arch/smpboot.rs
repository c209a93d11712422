//! Starting application processors: the real-mode trampoline (assembled in `boot`) is
//! copied to `boot::AP_TRAMPOLINE`, its parameter block filled for one AP at a time,
//! and INIT-SIPI-SIPI sent (Intel SDM Vol. 3A §9.4.4.1 "Typical BSP Initialization
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
use alloc::string::String;
use core::sync::atomic::Ordering;
use x86_64::registers::control::{Cr0, Cr3, Cr4};

unsafe extern "C" {
    static ap_tramp_start: u8;
    static ap_tramp_end: u8;
    static ap_start64: u8;
    static boot_pml4: u8;
}

/// Copies the trampoline to its page. `usable` says whether that page is usable RAM
/// (checked against the memory map by the caller).
pub fn install_trampoline(usable: bool) -> Result<(), String> {
    let start = (&raw const ap_tramp_start) as u64;
    let len = (&raw const ap_tramp_end) as u64 - start;
    if !usable {
        return Err(alloc::format!(
            "trampoline page {:#x} is not usable RAM in the memory map",
            boot::AP_TRAMPOLINE
        ));
    }
    if len > boot::AP_PARAMS {
        return Err(alloc::format!(
            "trampoline of {len} bytes overlaps its parameters"
        ));
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
pub fn start_ap(cpu: &'static PerCpu, timeout_ns: u64) -> Result<u64, StartError> {
    let kernel_cr3 = Cr3::read().0.start_address().as_u64();
    write_param(0, (&raw const boot_pml4) as u64);
    write_param(8, (&raw const ap_start64) as u64);
    write_param(16, kernel_cr3);
    write_param(24, Cr0::read_raw());
    write_param(32, Cr4::read_raw());
    write_param(40, cpu.stack_top);
    write_param(48, cpu as *const PerCpu as u64);
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
    crate::smp::ap_entry(cpu)
}
