//! foliomove: a bare-metal x86_64 unikernel that migrates batches of folios between
//! NUMA nodes with CPU and DMA copy engines, and measures it with no OS in the way.
//!
//! Boot path: `boot` (32-bit entry, long mode, SSE) calls [`kmain`] with the loader's
//! magic and information pointer. `kmain` brings up the console, descriptor tables and
//! exception handling, the heap, reads the loader's information, parses the command
//! line, and runs the job it names (self-tests, or the default platform summary).
//!
//! Design principles: unsafe code only in `arch` (ports, descriptor tables, asm),
//! `heap` and `bootinfo` (physical reads), each block justified; every wait is bounded;
//! every failure ends in a printed reason and a distinct exit code (see `exit`).
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

mod arch;
mod bench;
mod bootinfo;
mod console;
mod dma;
mod exit;
mod fbcon;
mod heap;
mod migrate;
mod mm;
mod panic;
mod pcicfg;
mod platform;
mod selftest;
mod smp;

use exit::ExitCode;

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

/// Facts every RESULT/RUN line carries.
pub struct BenchContext {
    /// tcg | kvm | bare-metal.
    pub accel: &'static str,
    /// CPU model string.
    pub cpu: alloc::string::String,
    /// Nodes and CPUs.
    pub topology: alloc::string::String,
    /// The DMA timing assumption (`none` = the model copies as fast as it can).
    pub dma_profile: alloc::string::String,
    /// Which hardware paths ran: PCID, INVPCID, AVX-512, each on/off and why.
    pub features: &'static str,
    /// A KVM guest's binding to its host (`host-binding=`), or `none`.
    pub host: alloc::string::String,
}

impl BenchContext {
    /// A note for table headers when the numbers are not from real hardware.
    pub fn note(&self) -> alloc::string::String {
        if self.accel == "bare-metal" {
            alloc::string::String::new()
        } else {
            alloc::format!(
                " [{}: emulator speed, compare only ratios within this run; DMA timing profile: {}]",
                self.accel, self.dma_profile
            )
        }
    }
}

static BENCH_CONTEXT: spin::Once<BenchContext> = spin::Once::new();

/// The run's context (after boot).
pub fn bench_context() -> &'static BenchContext {
    BENCH_CONTEXT.get().expect("set during boot")
}

fn set_bench_context(config: &kcore::cmdline::Config, p: &platform::Platform) {
    let mut brand = [0u8; 48];
    let cpu = alloc::string::String::from(arch::cpu::brand_string(&mut brand));
    let mut topology = alloc::format!("{} node(s), {} cpu(s)", p.numa.nodes.len(), p.cpus.len());
    if let Some(t) = smp::topology() {
        topology.push_str(&alloc::format!(
            ", {} package(s), {} L3 domain(s), {} online",
            t.packages(),
            t.l3_domains(),
            smp::online().len()
        ));
    }
    let dma_profile = if dma::channel_count() == 0 {
        alloc::string::String::from("no DMA engine")
    } else {
        config.dma_profile.clone()
    };
    BENCH_CONTEXT.call_once(|| BenchContext {
        accel: accel_name(),
        cpu,
        topology,
        dma_profile,
        features: arch::features::summary(),
        host: config
            .host_binding
            .as_ref()
            .map_or_else(|| "none".into(), kcore::hostbind::describe),
    });
}

fn run_bench_list(
    config: &kcore::cmdline::Config,
    list: &str,
) -> Result<bench::totals::Totals, alloc::string::String> {
    let mut totals = bench::totals::Totals::default();
    let all = list.split(',').any(|b| b == "all");
    // An experiment named explicitly is run as asked or not at all: one that measures
    // DMA needs a DMA engine (`all` skips those parts and says so).
    if dma::channel_count() == 0 {
        if let Some(b) = list.split(',').find(|b| ["1b", "2b", "auto"].contains(b)) {
            return Err(alloc::format!(
                "bench={b} measures DMA, but no DMA engine is available (see the dma: lines above)"
            ));
        }
    }
    // Keys only the frontier's sweeps can resolve.
    let only_frontier = list.split(',').all(|b| b == "frontier");
    if !only_frontier && config.migrate.batch_auto_us.is_some() {
        return Err("batch=auto:unmapped-us=N is chosen by bench=frontier's latency sweep; other experiments need a page count or 'all'".into());
    }
    if !only_frontier && config.migrate.mix.is_some() {
        return Err("size=mix:... is measured by bench=frontier; other experiments take a comma list of sizes".into());
    }
    for &name in kcore::cmdline::BENCHES.iter().filter(|&&b| b != "all") {
        if !all && !list.split(',').any(|b| b == name) {
            continue;
        }
        println!("=== bench {name} ===");
        let stopped_before = totals.not_figures();
        let r = match name {
            "efficiency" => bench::efficiency::efficiency(config).map(|t| totals.add(&t)),
            "1a" => bench::seed::table_1(config, false, &mut totals),
            "1b" => bench::seed::table_1(config, true, &mut totals),
            "3a" => bench::seed::table_3(config, "spread", &mut totals),
            "3b" => bench::seed::table_3(config, "fill", &mut totals),
            "2a" => bench::seed::table_2(config, "cpu", &mut totals),
            "2b" => bench::seed::table_2(config, "dma", &mut totals),
            "setup" => bench::setup::setup(config, &mut totals),
            "auto" => bench::auto::auto(config, &mut totals),
            "placement" => bench::placement::placement(config, &mut totals),
            "pollution" => bench::pollution::pollution(config, &mut totals),
            "load" => bench::load::load(config, &mut totals),
            "cycles" => bench::cycles::cycles(config, &mut totals),
            "frontier" => bench::frontier::frontier(config, &mut totals),
            other => Err(alloc::format!("bench {other}: not built in")),
        };
        match r {
            Ok(()) => {}
            // An experiment that stopped because a verification failed or memory ran
            // out is a failed run (RUN line with its status), not bad input.
            Err(e) if totals.not_figures() > stopped_before => {
                println!("!!! bench {name} stopped: {e}");
                return Ok(totals);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(totals)
}

fn run_benchmarks(config: &kcore::cmdline::Config) -> ExitCode {
    let start = arch::tsc::now_ns();
    if let Err(e) = bench::plan::check_run(config, config.bench.as_deref()) {
        println!("bad input: {e}");
        return ExitCode::BadInput;
    }
    let result = match &config.bench {
        Some(list) => run_bench_list(config, list),
        None => bench::efficiency::migrate_job(config),
    };
    match result {
        Ok(t) => {
            println!("{}", bench::totals::run_line(&t, start));
            if t.invalid > 0 {
                println!(
                    "{} cell(s) invalid: the engine they name did not do the work (see the INVALID lines); no figure of theirs is a result",
                    t.invalid
                );
            }
            t.exit_code()
        }
        Err(e) => {
            println!("bad input: {e}");
            ExitCode::BadInput
        }
    }
}

/// Where the kernel runs, as the report lines name it.
fn accel_name() -> &'static str {
    match arch::cpu::hypervisor_signature() {
        None => "bare-metal",
        Some(sig) if &sig == b"TCGTCGTCGTCG" => "tcg",
        Some(sig) if sig.starts_with(b"KVMKVMKVM") => "kvm",
        Some(_) => "other-hypervisor",
    }
}

/// Rust entry, called by `boot` on the boot CPU with interrupts off.
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
    print_boot_summary(bi);
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
    print_memory_summary();
    calibrate_clock(platform);
    // Before the APs start: they copy the boot CPU's CR4 and set up the same XCR0.
    arch::copy::enable_avx();
    if let Err(e) = smp::init(bi, platform) {
        println!("smp: bring-up failed: {e}; running on the boot CPU only");
    }
    if let Err(e) = pcicfg::scan(platform) {
        println!("pci: scan failed: {e}");
    }
    dma::init(config.dma_force, config.dma_marker);
    if let Err(e) = migrate::engine::cpu::choose(&config.copy) {
        println!("bad input: {e}");
        exit::exit(ExitCode::BadInput);
    }
    set_bench_context(config, platform);

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
        exit::exit(run_benchmarks(config));
    }
    exit::exit(run_demo(config))
}

/// The default job: the seed's tables 1a and 1b (multi-threaded CPU and DMA by folio
/// size), short enough under an emulator to show a real table in a few minutes: 4K, 64K
/// and 2M folios there, every mTHP size on hardware (where `total` defaults to 1 GiB).
fn run_demo(config: &kcore::cmdline::Config) -> ExitCode {
    let mut demo = config.clone();
    if !demo.migrate.size_given && bench_context().accel != "bare-metal" {
        demo.migrate.sizes = alloc::vec![0, 4, 9];
        demo.migrate.size_given = true;
    }
    // The demo names 1b only where there is a DMA engine to measure (a user who names
    // 1b on a machine without one gets bad input instead).
    let (tables, what) = if dma::channel_count() > 0 {
        (
            "1a,1b",
            "tables 1a and 1b (multi-threaded CPU and DMA by folio size)",
        )
    } else {
        (
            "1a",
            "table 1a (multi-threaded CPU by folio size; no DMA engine for 1b)",
        )
    };
    demo.bench = Some(tables.into());
    println!(
        "no job given on the command line: running a short demo of the seed's {what} \
         (boot with 'help' for every key, 'bench=all' for everything)"
    );
    run_benchmarks(&demo)
}

fn calibrate_clock(platform: &platform::Platform) {
    let hpet = platform
        .hpet
        .and_then(|h| match mm::paging::map_mmio(h.base, 1024) {
            // SAFETY: ACPI's HPET table names this register block; it is now mapped uncached.
            Ok(base) => Some(unsafe { arch::mmio::Mmio::new(base, 1024) }),
            Err(e) => {
                println!("hpet: cannot map ({e}); calibrating against the PIT");
                None
            }
        });
    let c = arch::tsc::calibrate(hpet);
    println!(
        "tsc: {}.{:03} MHz against the {} ({} windows of 10 ms, spread {} ppm); invariant TSC: {}",
        c.hz / 1_000_000,
        (c.hz / 1_000) % 1_000,
        c.reference,
        c.windows,
        c.spread_ppm,
        if c.invariant {
            "yes"
        } else {
            "no (timings may drift with frequency changes)"
        }
    );
}

fn print_memory_summary() {
    let s = mm::paging::stats();
    println!(
        "paging: own tables, identity map: {} GiB in 1G pages{}, {} MiB in 2M, {} KiB in 4K; {} table frames",
        s.bytes_1g >> 30,
        if s.has_1g { "" } else { " (no pdpe1gb)" },
        s.bytes_2m >> 20,
        s.bytes_4k >> 10,
        s.table_frames
    );
    println!(
        "tlb: PCID {}, INVPCID {}",
        if mm::pcid::enabled() {
            "on (migration address spaces keep their TLB entries across switches)"
        } else {
            "not available (CR3 switches flush)"
        },
        if mm::pcid::has_invpcid() { "yes" } else { "no" }
    );
    println!(
        "heap: {} MiB ({} MiB early arena + {} MiB sized from RAM), {} MiB free",
        heap::size() >> 20,
        heap::EARLY_HEAP_BYTES >> 20,
        (heap::size() - heap::EARLY_HEAP_BYTES) >> 20,
        heap::free() >> 20
    );
    for (node, free, used, managed) in mm::frames::node_counts() {
        println!(
            "frames: node {node}: {} MiB managed, {} MiB free, {} frames in use",
            managed >> 8,
            free >> 8,
            used
        );
    }
}

fn print_boot_summary(bi: &bootinfo::BootInfo) {
    let mut brand = [0u8; 48];
    let (kstart, kend) = kernel_image_range();
    println!(
        "cpu: {} (apic id {}), running on {}",
        arch::cpu::brand_string(&mut brand),
        arch::cpu::apic_id(),
        accel_name()
    );
    println!(
        "loader: {:?}{}; kernel image {:#x}..{:#x}; heap {} MiB",
        bi.loader,
        bi.loader_name
            .as_deref()
            .map(|n| alloc::format!(" ({n})"))
            .unwrap_or_default(),
        kstart,
        kend,
        heap::size() >> 20
    );
    println!(
        "memory map ({} ranges, {} MiB usable):",
        bi.memory.regions().len(),
        bi.memory.usable_bytes() >> 20
    );
    for r in bi.memory.regions() {
        println!(
            "  {:#014x}..{:#014x} {:>9} KiB {}",
            r.start,
            r.end(),
            r.len >> 10,
            r.kind
        );
    }
    match bi.rsdp {
        Some(p) => println!("acpi: RSDP at {:#x} (from {})", p, bi.rsdp_source),
        None => println!("acpi: no RSDP found (loader gave none, BIOS scan found none)"),
    }
    println!("cmdline: '{}'", bi.cmdline);
}
