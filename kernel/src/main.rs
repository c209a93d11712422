//! foliomove: a bare-metal x86_64 unikernel that migrates batches of folios between
//! NUMA nodes with CPU and DMA copy engines, and measures it with no OS in the way.
//!
//! This file is the boot sequence only: `boot` (32-bit entry, long mode, SSE) calls
//! [`kmain`] with the loader's magic and information pointer; `kmain` brings up the
//! console, descriptor tables and exception handling, the heap, reads the loader's
//! information, parses the command line, discovers the platform, builds the memory
//! map, starts the other CPUs and the DMA engines, and runs the job the command line
//! names: self-tests (`selftest`), a soak, benchmarks or the default demo (`bench::run`).
//!
//! Layers, bottom up (nothing imports upward): `arch` (the floor: CPU, descriptor
//! tables, APIC, per-CPU data; what it needs from above comes through `arch::hooks`),
//! `console`/`exit`, `mm` (frames, page tables, heap), `platform` (ACPI), `smp`, `dma`,
//! `migrate`, `bench`, `selftest`. The crate denies unsafe code; the modules allowed it
//! are listed below, each with its reason, and every block in them has a `// SAFETY:`
//! line. `migrate`, `bench` and `smp` have none: they copy through `mm::copy` (batches
//! built from owned frame handles) and touch hardware through `arch`. Every wait is
//! bounded;
//! every failure ends in a printed reason and a distinct exit code (see `exit`).
#![no_std]
#![no_main]
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

#[allow(unsafe_code)] // CPU registers, descriptor tables, APIC, traps, copy routines
mod arch;
mod bench;
#[allow(unsafe_code)] // reads the loader's structures at their physical addresses
mod bootinfo;
#[allow(unsafe_code)] // the HPET register block named by ACPI
mod bringup;
#[allow(unsafe_code)] // the serial port and the boot framebuffer
mod console;
#[allow(unsafe_code)] // MMIO register blocks and DMA-visible memory
mod dma;
#[allow(unsafe_code)] // QEMU's debug-exit port and the reset register
mod exit;
#[allow(unsafe_code)] // the framebuffer the loader describes
mod fbcon;
#[allow(unsafe_code)] // the kernel heap's arenas
mod heap;
mod migrate;
#[allow(unsafe_code)] // page tables, frames, and the CPU copy primitive
mod mm;
mod panic;
#[allow(unsafe_code)] // PCI configuration space (ports and ECAM)
mod pcicfg;
#[allow(unsafe_code)] // ACPI tables in physical memory
mod platform;
#[allow(unsafe_code)] // tests that fault on purpose and read raw mappings
mod selftest;
mod smp;

pub use bench::context::{bench_context, BenchContext};
use exit::ExitCode;

#[allow(unsafe_code)] // linker-script symbols, only their addresses are taken
unsafe extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
}

/// Physical range of the loaded kernel image (identity mapped at 16 MiB, see boot/linker.ld).
pub fn kernel_image_range() -> (u64, u64) {
    (
        (&raw const __kernel_start) as u64,
        (&raw const __kernel_end) as u64,
    )
}

static CONFIG: spin::Once<kcore::cmdline::Config> = spin::Once::new();

/// The parsed kernel command line.
///
/// # Panics
/// Before `kmain` parsed it (a kernel bug).
pub fn config() -> &'static kcore::cmdline::Config {
    CONFIG.get().expect("command line parsed first in kmain")
}

/// Rust entry, called by `boot` on the boot CPU with interrupts off.
#[allow(unsafe_code)] // the entry `boot` calls by name
#[unsafe(no_mangle)]
pub extern "C" fn kmain(magic: u32, info: u32) -> ! {
    // Without a console we still run; the exit code tells the outcome.
    let serial = console::init();
    arch::hooks::install(arch::hooks::Hooks {
        print: console::print_fmt,
        exception_exit: || exit::exit(ExitCode::Exception),
        ap_entry: smp::ap_entry,
    });
    arch::init_bsp();
    heap::init();
    println!("foliomove {} starting", env!("CARGO_PKG_VERSION"));
    if let Err(e) = serial {
        println!("warning: serial console: {e}");
    }
    let bi = match bootinfo::collect(magic, info) {
        Ok(bi) => bi,
        Err(e) => {
            println!("boot information unusable: {e}");
            exit::exit(ExitCode::BadInput);
        }
    };
    let screen = fbcon::attach(bi.framebuffer);
    bringup::print_boot_summary(bi);
    println!("{screen}");
    let config = match kcore::cmdline::parse(&bi.cmdline) {
        Ok(c) => CONFIG.call_once(|| c),
        Err(e) => {
            println!("bad command line: {e}");
            println!("(boot with 'help' to list every key with its default)");
            exit::exit(ExitCode::BadInput);
        }
    };
    match arch::features::decide(config.features) {
        Ok(_) => println!("features: {}", arch::features::summary()),
        Err(e) => {
            println!("bad input: {e}");
            exit::exit(ExitCode::BadInput);
        }
    }
    if let Some(b) = &config.host_binding {
        println!("host: {}", kcore::hostbind::describe(b));
    }
    exit::set_reboot_on_exit(config.reboot);
    exit::set_debug_exit(config.debug_exit);
    let Some(rsdp) = bi.rsdp else {
        println!("no ACPI RSDP: cannot discover CPUs, NUMA nodes or PCI; stopping");
        exit::exit(ExitCode::BadInput);
    };
    let platform = match platform::acpi::discover(rsdp, &bi.memory) {
        Ok(p) => platform::set(p),
        Err(e) => {
            println!("platform discovery failed: {e}");
            exit::exit(ExitCode::BadInput);
        }
    };
    platform::print_summary(platform);
    println!(
        "{}",
        console::select_serial(config.console, platform.spcr_port)
    );
    fbcon::suspend(); // the framebuffer is unmapped until mapped in the new tables
    let memory = mm::init(bi, platform);
    if let Err(e) = fbcon::map_after_paging() {
        println!("screen: cannot map the framebuffer ({e}); serial console only");
    }
    if let Err(e) = memory {
        println!("memory bring-up failed: {e}");
        exit::exit(ExitCode::BadInput);
    }
    bringup::print_memory_summary();
    bringup::calibrate_clock(platform);
    // Before the APs start: they copy the boot CPU's CR4 and set up the same XCR0.
    arch::copy::enable_avx();
    if let Err(e) = smp::init(bi, platform) {
        println!("smp: bring-up failed: {e}; running on the boot CPU only");
    }
    pcicfg::scan(platform);
    dma::init(config.dma_force, config.dma_marker, config.dma_kind);
    if let Err(e) = migrate::engine::cpu::choose(config.copy) {
        println!("bad input: {e}");
        exit::exit(ExitCode::BadInput);
    }
    bench::context::set_bench_context(config, platform);

    if config.help {
        let mut text = alloc::string::String::new();
        let _ = kcore::cmdline::write_help(&mut text);
        print!("{text}");
        exit::exit(ExitCode::Success);
    }
    if let Some(filter) = &config.test {
        exit::exit(selftest::run(filter));
    }
    if let Some(seconds) = config.soak_s {
        let t = bench::soak::soak(config, seconds);
        println!("{}", bench::soak::soak_line(&t, seconds));
        let ok = t.data_errors == 0 && t.leaked_frames == 0 && t.migrations > 0;
        exit::exit(if ok {
            ExitCode::Success
        } else {
            ExitCode::TestFailure
        });
    }
    if config.bench.is_some() || config.migrate_job {
        exit::exit(bench::run::run_benchmarks(config));
    }
    exit::exit(bench::run::run_demo(config))
}
