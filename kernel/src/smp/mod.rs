//! SMP: bring-up of every enabled CPU in the MADT, per-CPU data, CPU topology, work
//! dispatch to pinned run-to-completion workers, batched TLB shootdown, the watchdog,
//! and placement of copy workers (DESIGN.md §2 and §4).
//!
//! Bring-up ([`init`], on the BSP after paging, frames and TSC calibration): the local
//! APIC comes up (x2APIC or xAPIC, `arch::apic`), interrupt handlers are registered
//! (timer tick, wake-up IPI, shootdown IPI), every AP gets a [`PerCpu`] block, stacks
//! from its own node's frames with unmapped guard pages, and all are started at once
//! (each finds its slot by APIC ID; `ap-start=serial`: one at a time)
//! (`arch::smpboot`). Each AP decodes CPUID on itself, reports in and idles in its
//! worker loop (`dispatch`). The topology tree (CPUID + SRAT node) is printed, then the
//! cost of a dispatch round and of a shootdown round are measured and reported.
//!
//! Safe code only: the hardware-touching parts live in `arch` and `mm`.

pub mod dispatch;
pub mod error;
pub mod placement;
pub mod shootdown;
pub mod watchdog;

use crate::arch::percpu::{self, CpuState, PerCpu};
use crate::arch::{apic, cpu, smpboot, traps, tsc};
use crate::bootinfo::BootInfo;
use crate::mm::{frames, paging};
use crate::platform::Platform;
use crate::println;
use alloc::string::String;
use alloc::vec::Vec;
use error::{SmpError, StackError};
use kcore::bootinfo::MemKind;
use kcore::topology::{self, CpuEntry, CpuIdent, CpuidRegs, Topology};
use spin::Once;

/// LAPIC timer tick (watchdog and RIP sampling).
pub const VEC_TIMER: u8 = 0xf0;
/// Wake-up IPI: a job was posted to the CPU's mailbox.
pub const VEC_WAKE: u8 = 0xf1;
/// TLB shootdown IPI.
pub const VEC_TLB: u8 = 0xf2;
/// Timer tick period.
pub const TICK_MS: u32 = 100;
/// Most CPUs brought up (the address-space CPU mask is 64 bits).
pub const MAX_CPUS: usize = crate::mm::aspace::MASK_CPUS;
/// How long an AP may take to report in.
const AP_START_TIMEOUT_NS: u64 = 2_000_000_000;
/// Extra time per AP for a parallel start (emulators run many vCPUs on few host CPUs).
const AP_START_PER_CPU_NS: u64 = 20_000_000;

/// Stack block per AP: order 6 = 256 KiB = 5 IST slots of (guard + 32 KiB), then a
/// guard and the 72 KiB stack `ap_main` and the jobs run on.
const STACK_ORDER: usize = 6;

static CPUS: Once<Vec<&'static PerCpu>> = Once::new();
static TOPOLOGY: Once<Topology> = Once::new();

/// Every CPU of the MADT (online or not), by kernel index.
pub fn cpus() -> &'static [&'static PerCpu] {
    CPUS.get().map_or(&[], |v| v.as_slice())
}

/// Kernel indices of the CPUs that reported in (the BSP included).
pub fn online() -> Vec<usize> {
    cpus()
        .iter()
        .filter(|c| c.online.load(core::sync::atomic::Ordering::Acquire))
        .map(|c| c.index)
        .collect()
}

/// The machine's topology (online CPUs), once built.
pub fn topology() -> Option<&'static Topology> {
    TOPOLOGY.get()
}

/// Decodes CPUID on the running CPU.
fn decode_here() -> CpuIdent {
    topology::decode(&|leaf, sub| {
        let r = cpu::cpuid(leaf, sub);
        CpuidRegs {
            eax: r.eax,
            ebx: r.ebx,
            ecx: r.ecx,
            edx: r.edx,
        }
    })
}

/// Brings up every CPU (an AP that cannot be started is reported and left out).
///
/// # Errors
/// A [`SmpError`] when the boot CPU's own APIC or interrupt vectors cannot be set up;
/// the kernel then runs on the boot CPU alone.
pub fn init(bi: &BootInfo, platform: &Platform) -> Result<(), SmpError> {
    watchdog::configure(crate::config().watchdog_s);
    // arch maps nothing itself: the xAPIC block is mapped here when it will be used.
    let xapic = if apic::cpu_has_x2apic() {
        None
    } else {
        Some(crate::mm::paging::map_mmio(platform.lapic_base, 0x1000).map_err(SmpError::MapApic)?)
    };
    apic::init_bsp(xapic).map_err(SmpError::Apic)?;
    traps::register(VEC_TIMER, watchdog::on_tick).map_err(SmpError::Vector)?;
    traps::register(VEC_WAKE, |_| {}).map_err(SmpError::Vector)?;
    traps::register(VEC_TLB, shootdown::on_ipi).map_err(SmpError::Vector)?;
    traps::set_nmi_hook(watchdog::on_nmi);

    let bsp_apic = apic::id();
    let mut blocks: Vec<&'static PerCpu> = Vec::new();
    for (index, madt) in platform.cpus.iter().enumerate().take(MAX_CPUS) {
        let node = platform.numa.node_of_apic(madt.apic_id).unwrap_or(0);
        let mut pc = PerCpu::new(index, madt.apic_id, node);
        if madt.apic_id != bsp_apic {
            if let Err(e) = carve_stacks(&mut pc) {
                println!("smp: cpu {index} (apic {}): no stacks: {e}", madt.apic_id);
            }
        }
        blocks.push(alloc::boxed::Box::leak(alloc::boxed::Box::new(pc)));
    }
    if platform.cpus.len() > MAX_CPUS {
        println!(
            "smp: {} CPUs in the MADT; only the first {MAX_CPUS} are used",
            platform.cpus.len()
        );
    }
    let cpus = CPUS.call_once(|| blocks);
    let bsp = cpus
        .iter()
        .find(|c| c.apic_id == bsp_apic)
        .ok_or(SmpError::BspNotInMadt(bsp_apic))?;
    percpu::install(bsp);
    bsp.ident.call_once(decode_here);
    bsp.set_state(CpuState::Main);
    bsp.online
        .store(true, core::sync::atomic::Ordering::Release);

    start_aps(bi, cpus, bsp_apic);
    build_topology(cpus);
    watchdog::arm();
    apic::start_periodic_timer(VEC_TIMER, TICK_MS);
    cpu::enable_interrupts();
    report_costs();
    Ok(())
}

/// Allocates the AP's stacks on its node (node 0 when its node has no memory) and
/// unmaps the guard page under each.
fn carve_stacks(pc: &mut PerCpu) -> Result<(), StackError> {
    let block = frames::alloc(pc.node, STACK_ORDER)
        .or_else(|_| frames::alloc(0, STACK_ORDER))
        .map_err(StackError::Frames)?;
    let bytes = block.bytes();
    // The stacks belong to the CPU for the kernel's life: the handle is given up.
    let base = block.into_raw().as_u64();
    let slot = (crate::arch::gdt::GUARD_SIZE + crate::arch::gdt::IST_STACK_SIZE) as u64;
    for (i, top) in pc.ist_tops.iter_mut().enumerate() {
        let guard = base + i as u64 * slot;
        paging::unmap_guard_page(guard).map_err(StackError::Guard)?;
        *top = guard + slot;
    }
    let run_guard = base + pc.ist_tops.len() as u64 * slot;
    paging::unmap_guard_page(run_guard).map_err(StackError::Guard)?;
    pc.stack_top = base + bytes;
    pc.stacks = (base, pc.stack_top);
    Ok(())
}

fn trampoline_page_usable(bi: &BootInfo) -> bool {
    let (s, e) = (boot::AP_TRAMPOLINE, boot::AP_TRAMPOLINE + 4096);
    let in_ram = bi
        .memory
        .regions()
        .iter()
        .any(|r| r.kind == MemKind::Usable && r.start <= s && e <= r.end());
    let loader_clash = bi.loader_range.is_some_and(|(ls, le)| ls < e && s < le);
    in_ram && !loader_clash
}

fn start_aps(bi: &BootInfo, cpus: &[&'static PerCpu], bsp_apic: u32) {
    if cpus.len() < 2 {
        return;
    }
    if let Err(e) = smpboot::install_trampoline(trampoline_page_usable(bi)) {
        println!("smp: cannot start APs: {e}; running on the boot CPU only");
        return;
    }
    let t0 = tsc::now_ns();
    let aps: Vec<&'static PerCpu> = cpus
        .iter()
        .copied()
        .filter(|c| c.apic_id != bsp_apic && c.stack_top != 0) // no stacks: reported
        .collect();
    for c in &aps {
        c.set_state(CpuState::Starting);
    }
    // All at once (each AP looks up its own slot); the deadline grows with the count so
    // a slow emulator is not mistaken for a dead CPU. `ap-start=serial`: one AP per
    // round, still through a (one-slot) table, so a CPU woken by an IPI meant for
    // another (QEMU 10's TCG delivers INIT/SIPI for x2APIC ID 1 to 257 too) finds no slot
    // and halts instead of running on the other CPU's stack.
    let serial = crate::config().ap_start == kcore::cmdline::ApStart::Serial;
    let timeout = AP_START_TIMEOUT_NS + aps.len() as u64 * AP_START_PER_CPU_NS;
    let outcomes = if serial {
        aps.iter()
            .map(|&c| smpboot::start_parallel(&[c], AP_START_TIMEOUT_NS)[0])
            .collect()
    } else {
        smpboot::start_parallel(&aps, timeout)
    };
    let (mut up, mut times, mut retry) = (0usize, Vec::new(), Vec::new());
    for (&c, o) in aps.iter().zip(outcomes) {
        match o {
            smpboot::ApOutcome::Online(ns) => {
                up += 1;
                times.push(ns);
            }
            smpboot::ApOutcome::Failed(_) => retry.push(c),
        }
    }
    // All rounds when serial.
    let parallel_ms = (tsc::now_ns() - t0) / 1_000_000;
    // Whoever missed the start (a slow AP under a busy emulator) gets one more round on
    // its own, again through a one-slot table: a CPU woken by an IPI meant for another
    // finds no slot and halts.
    for &c in &retry {
        let again = smpboot::start_parallel(&[c], AP_START_TIMEOUT_NS)[0];
        let outcome = match again {
            smpboot::ApOutcome::Online(ns) => Ok(ns),
            smpboot::ApOutcome::Failed(e) => Err(e),
        };
        match outcome {
            Ok(ns) => {
                up += 1;
                times.push(ns);
                println!(
                    "smp: cpu {} (apic {:#x}) came up on the one-at-a-time retry",
                    c.index, c.apic_id
                );
            }
            Err(e) => {
                c.set_state(CpuState::Offline);
                println!(
                    "smp: cpu {} (apic {:#x}) left out: {e} (waited {} ms)",
                    c.index,
                    c.apic_id,
                    AP_START_TIMEOUT_NS / 1_000_000
                );
            }
        }
    }
    let max_us = times.iter().max().copied().unwrap_or(0) / 1000;
    let total_ms = (tsc::now_ns() - t0) / 1_000_000;
    println!(
        "smp: {} of {} CPUs online ({} mode); APs started in at most {max_us} us each",
        up + 1,
        cpus.len(),
        apic::mode_name()
    );
    if serial {
        println!(
            "smp: bring-up of {} APs took {total_ms} ms (one at a time, ap-start=serial; {} retried)",
            aps.len(),
            retry.len()
        );
    } else {
        println!(
            "smp: bring-up of {} APs took {total_ms} ms (parallel start {parallel_ms} ms, {} retried one at a time)",
            aps.len(),
            retry.len()
        );
    }
}

/// Called by `arch::smpboot::ap_main` on a fresh AP: decode CPUID, report in, serve.
pub fn ap_entry(cpu: &'static PerCpu) -> ! {
    cpu.ident.call_once(decode_here);
    apic::start_periodic_timer(VEC_TIMER, TICK_MS);
    cpu.set_state(CpuState::Idle);
    // Jobs run with interrupts on, so shootdown IPIs are served while they work.
    cpu::enable_interrupts();
    cpu.online
        .store(true, core::sync::atomic::Ordering::Release);
    dispatch::worker_loop(cpu)
}

fn build_topology(cpus: &[&'static PerCpu]) {
    let entries: Vec<CpuEntry> = cpus
        .iter()
        .filter(|c| c.online.load(core::sync::atomic::Ordering::Acquire))
        .filter_map(|c| {
            let ident = *c.ident.get()?;
            if ident.apic_id != c.apic_id {
                println!(
                    "smp: cpu {} reports apic id {:#x} in CPUID but {:#x} in the MADT",
                    c.index, ident.apic_id, c.apic_id
                );
            }
            Some(CpuEntry {
                cpu: c.index,
                ident,
                node: c.node,
            })
        })
        .collect();
    match Topology::from_idents(&entries) {
        Ok(t) => {
            let t = TOPOLOGY.call_once(|| t);
            for c in t.cpus() {
                if let Some(pc) = cpus.get(c.cpu) {
                    pc.topo.call_once(|| *c);
                }
            }
            println!(
                "topology: {} CPUs, {} package(s), {} die(s), {} L3 domain(s) (from {:?}), {} core(s), {} node(s)",
                t.len(),
                t.packages(),
                t.dies(),
                t.l3_domains(),
                t.l3_source(),
                t.cores(),
                t.nodes()
            );
            let mut tree = String::new();
            let _ = t.render_tree(&mut tree);
            for line in tree.lines() {
                println!("topology: {line}");
            }
        }
        Err(e) => println!("topology: cannot combine CPUID of the CPUs: {e}"),
    }
}

/// Measures and prints the dispatch-round and shootdown-round costs (boot summary).
fn report_costs() {
    let me = percpu::current_index();
    let others: Vec<usize> = online().into_iter().filter(|&c| c != me).collect();
    if others.is_empty() {
        println!("smp: one CPU online: no dispatch or shootdown rounds to measure");
        return;
    }
    let d = dispatch::measure_rounds(&others, 20);
    println!(
        "smp: dispatch round to {} CPUs: min {} ns, mean {} ns, max {} ns (20 rounds, empty job)",
        others.len(),
        d.min_ns,
        d.mean_ns,
        d.max_ns
    );
    match shootdown::measure_rounds(&others, 20) {
        Ok(s) => println!(
            "smp: shootdown round to {} CPUs (1 page, invlpg): min {} ns, mean {} ns, max {} ns (20 rounds)",
            others.len(),
            s.min_ns,
            s.mean_ns,
            s.max_ns
        ),
        Err(e) => println!("smp: shootdown round not measured: {e}"),
    }
}

/// Min / mean / max of timed rounds.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundCost {
    /// Fastest round.
    pub min_ns: u64,
    /// Mean round.
    pub mean_ns: u64,
    /// Slowest round.
    pub max_ns: u64,
}

impl RoundCost {
    /// Summarizes a list of round times.
    pub fn of(ns: &[u64]) -> Self {
        if ns.is_empty() {
            return Self::default();
        }
        Self {
            min_ns: ns.iter().copied().min().unwrap_or(0),
            mean_ns: ns.iter().sum::<u64>() / ns.len() as u64,
            max_ns: ns.iter().copied().max().unwrap_or(0),
        }
    }
}

/// The TSC as nanoseconds (re-exported for the sub-modules' timing).
fn now_ns() -> u64 {
    tsc::now_ns()
}
