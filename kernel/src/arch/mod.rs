//! x86_64 specifics: CPU helpers, GDT/TSS/IST, the IDT and exception diagnostics,
//! the local APIC, per-CPU data, AP start-up, and the C memory functions. This is one of
//! the few places allowed `unsafe`. `arch` is the floor of the kernel: it imports nothing
//! from the layers above; what it needs of them (a console, the exit path, the AP entry)
//! comes in through [`hooks`], and mapped MMIO comes in as arguments.

pub mod apic;
pub mod copy;
pub mod cpu;
pub mod features;
pub mod gdt;
pub mod hooks;
pub mod memfns;
pub mod mmio;
pub mod percpu;
pub mod smpboot;
pub mod traps;
pub mod tsc;

unsafe extern "C" {
    #[link_name = "boot_stack_guard"]
    static BOOT_STACK_GUARD: u8;
    static boot_stack_bottom: u8;
    static boot_stack_top: u8;
}

/// The boot CPU's stack (set up by `boot` before Rust runs).
pub fn boot_stack_range() -> (u64, u64) {
    (
        (&raw const boot_stack_bottom) as u64,
        (&raw const boot_stack_top) as u64,
    )
}

/// The unmapped page under the boot CPU's stack.
pub fn boot_stack_guard() -> u64 {
    (&raw const BOOT_STACK_GUARD) as u64
}

/// Descriptor tables and exception handling for the boot CPU.
pub fn init_bsp() {
    gdt::init_bsp();
    traps::init_bsp();
}

/// End of the identity mapping the boot code set up (4 GiB of 2 MiB pages).
pub const BOOT_IDENTITY_LIMIT: u64 = 4 << 30;

/// Views physical memory through the boot identity map.
///
/// # Safety
/// `[paddr, paddr+len)` must be RAM or ROM below 4 GiB that nothing writes while the
/// slice lives (loader structures, firmware tables).
///
/// # Panics
/// If the range is not below [`BOOT_IDENTITY_LIMIT`] (a broken loader structure).
pub unsafe fn phys_slice(paddr: u64, len: usize) -> &'static [u8] {
    let end = paddr
        .checked_add(len as u64)
        .expect("physical range overflows");
    assert!(
        end <= BOOT_IDENTITY_LIMIT,
        "physical range {paddr:#x}+{len:#x} is not identity mapped"
    );
    // SAFETY: identity mapped (checked) and the caller vouches for the contents.
    unsafe { core::slice::from_raw_parts(paddr as *const u8, len) }
}
