//! The facts every RESULT/RUN line carries (where the run happened and what its
//! numbers depend on), gathered once at boot.

use crate::{arch, dma, platform, smp};
use alloc::string::String;

/// Facts every RESULT/RUN line carries.
pub struct BenchContext {
    /// tcg | kvm | bare-metal.
    pub accel: &'static str,
    /// CPU model string.
    pub cpu: String,
    /// Nodes and CPUs.
    pub topology: String,
    /// The DMA timing assumption (`none` = the model copies as fast as it can).
    pub dma_profile: String,
    /// Which hardware paths ran: PCID, INVPCID, AVX-512, each on/off and why.
    pub features: &'static str,
    /// A KVM guest's binding to its host (`host-binding=`), or `none`.
    pub host: String,
}

impl BenchContext {
    /// A note for table headers when the numbers are not from real hardware.
    pub fn note(&self) -> String {
        if self.accel == "bare-metal" {
            String::new()
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

/// Gathers the context once, after the platform, SMP and DMA are up.
pub fn set_bench_context(config: &kcore::cmdline::Config, p: &platform::Platform) {
    let mut brand = [0u8; 48];
    let cpu = String::from(arch::cpu::brand_string(&mut brand));
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
        String::from("no DMA engine")
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

/// Where the kernel runs, as the report lines name it.
pub fn accel_name() -> &'static str {
    match arch::cpu::hypervisor_signature() {
        None => "bare-metal",
        Some(sig) if &sig == b"TCGTCGTCGTCG" => "tcg",
        Some(sig) if sig.starts_with(b"KVMKVMKVM") => "kvm",
        Some(_) => "other-hypervisor",
    }
}
