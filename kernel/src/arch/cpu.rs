//! Small CPU helpers: CPUID, halting, interrupt flag, I/O ports, and who am I.

use core::arch::asm;
use core::arch::x86_64::{__cpuid_count, CpuidResult};
use x86_64::instructions::port::Port;

/// Executes CPUID.
pub fn cpuid(leaf: u32, subleaf: u32) -> CpuidResult {
    __cpuid_count(leaf, subleaf)
}

/// The initial APIC ID of the running CPU. Used to tell CPUs apart before per-CPU data
/// exists. The 32-bit x2APIC ID (CPUID.0B:EDX) where the CPU has leaf 0xB, because the
/// 8-bit legacy ID (CPUID.1:EBX\[31:24\]) repeats on machines with more than 255 CPUs.
pub fn apic_id() -> u32 {
    if cpuid(0, 0).eax >= 0xb && cpuid(0xb, 0).ebx != 0 {
        cpuid(0xb, 0).edx
    } else {
        cpuid(1, 0).ebx >> 24
    }
}

/// True when running under a hypervisor (CPUID.1:ECX bit 31).
pub fn under_hypervisor() -> bool {
    cpuid(1, 0).ecx & (1 << 31) != 0
}

/// The hypervisor vendor signature (CPUID 0x4000_0000), e.g. "TCGTCGTCGTCG" or
/// "KVMKVMKVM\0\0\0", when under a hypervisor.
pub fn hypervisor_signature() -> Option<[u8; 12]> {
    if !under_hypervisor() {
        return None;
    }
    let r = cpuid(0x4000_0000, 0);
    let mut sig = [0u8; 12];
    sig[0..4].copy_from_slice(&r.ebx.to_le_bytes());
    sig[4..8].copy_from_slice(&r.ecx.to_le_bytes());
    sig[8..12].copy_from_slice(&r.edx.to_le_bytes());
    Some(sig)
}

/// The CPU brand string (CPUID 0x8000_0002..4), trimmed.
pub fn brand_string(buf: &mut [u8; 48]) -> &str {
    if cpuid(0x8000_0000, 0).eax < 0x8000_0004 {
        return "unknown CPU";
    }
    for (i, leaf) in (0x8000_0002u32..=0x8000_0004).enumerate() {
        let r = cpuid(leaf, 0);
        for (j, v) in [r.eax, r.ebx, r.ecx, r.edx].iter().enumerate() {
            buf[i * 16 + j * 4..i * 16 + j * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(48);
    core::str::from_utf8(&buf[..end])
        .unwrap_or("unknown CPU")
        .trim()
}

/// Stops this CPU for good: interrupts off, then `hlt` forever (NMIs wake it; it halts again).
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: cli/hlt only stop this CPU.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

/// Writes one byte to an I/O port.
///
/// # Safety
/// The port must belong to a device this code is allowed to drive, and the write must
/// not break memory safety (e.g. no DMA set up through it).
pub unsafe fn outb(port: u16, value: u8) {
    // SAFETY: forwarded to the caller.
    unsafe { Port::new(port).write(value) }
}

/// Reads one byte from an I/O port.
///
/// # Safety
/// As [`outb`].
pub unsafe fn inb(port: u16) -> u8 {
    // SAFETY: forwarded to the caller.
    unsafe { Port::new(port).read() }
}

/// Reads a 32-bit value from an I/O port.
///
/// # Safety
/// As [`outb`].
pub unsafe fn inl(port: u16) -> u32 {
    // SAFETY: forwarded to the caller.
    unsafe { Port::new(port).read() }
}

/// Writes a 32-bit value to an I/O port.
///
/// # Safety
/// As [`outb`].
pub unsafe fn outl(port: u16, value: u32) {
    // SAFETY: forwarded to the caller.
    unsafe { Port::new(port).write(value) }
}

/// Reads CR2 (the faulting address of the last page fault).
pub fn cr2() -> u64 {
    x86_64::registers::control::Cr2::read_raw()
}

/// Enables interrupts on this CPU.
pub fn enable_interrupts() {
    x86_64::instructions::interrupts::enable();
}

/// With interrupts disabled, checks `work_pending`; if nothing is pending, sleeps until
/// the next interrupt (`sti; hlt`: the STI shadow makes the check-then-sleep race free,
/// so a wake-up IPI sent after the check still ends the `hlt`). Interrupts are enabled
/// on return. Under TCG a halted vCPU frees its host thread, unlike a `pause` loop.
pub fn sleep_unless(work_pending: impl FnOnce() -> bool) {
    x86_64::instructions::interrupts::disable();
    if work_pending() {
        x86_64::instructions::interrupts::enable();
    } else {
        x86_64::instructions::interrupts::enable_and_hlt();
    }
}
