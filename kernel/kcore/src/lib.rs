//! Pure logic of the foliomove kernel, split out so it runs under host `cargo test`
//! (the approach of Hubris's `kerncore`). Nothing here touches hardware: no `unsafe`,
//! no port or MMIO access, no inline assembly. The kernel binary wraps these types.
//!
//! - [`acpi`]: SRAT and SLIT bodies (the `acpi` crate finds and checksums the tables).
//! - [`migrate`]: folio sizes, verification pattern, metadata, batching.
//! - [`mix`]: `size=mix:…`, workloads of several folio sizes and their batches.
//! - [`numa`]: nodes with their CPUs, usable RAM and distances.
//! - [`bootinfo`]: loader-independent boot facts (memory map, PVH start_info, RSDP scan).
//! - [`cmdline`]: the kernel command line, parsed into a typed [`cmdline::Config`].
//! - [`bench`](mod@bench): the benchmark registry (names, summaries, DMA needs) [`bench::BENCHES`].
//! - [`exit`]: the kernel's exit codes, their QEMU statuses and the runner's codes.
//! - [`words`]: enums spelled by one word each (`engine=cpu-mt`), with their parse errors.
//! - [`buddy`]: per-NUMA-node buddy allocator of physical frames, orders 0..=9.
//! - [`topology`]: CPU topology decoded from CPUID register values and SRAT affinity.
//! - [`pagetable`]: page-table trees of migration address spaces (4K and 2M leaves).
//! - [`plan`]: the limits check before a run (node frames and heap for every cell).
//! - [`held`]: which copies a DMA submission may contain (the regions its caller holds).
//! - [`honesty`]: how much of a copy the named engine really did (ok, degraded, invalid).
//! - [`latency`]: unmapped windows and first-mapped latency per batch, percentiles.
//! - [`placement`]: which CPUs a multi-threaded copy runs on (spread, fill, src, dst, list).
//! - [`fbtext`]: text on a multiboot2 framebuffer (RGB pixels or EGA text cells).
//! - [`serialspec`]: the `console=` value (which serial port, which speed).
//! - [`cpuset`]: fixed bitmaps of kernel CPU indices (up to 512 CPUs).
//! - [`features`]: CPU features forced on or off from the command line, resolved against the CPU.
//! - [`hostbind`]: how the runner bound a KVM guest to its host (`host-binding=`).
//! - [`split`]: `dma-split=bytes`, a batch cut into chunks by bytes across DMA channels.
//! - [`streams`]: several migrations at once: the channel pool, admission (`dma-admit=`), fairness.
//! - [`record`]: the keys of `RESULT` and `RUN` lines, shared with the report and the runner.
//! - [`rng`]: a small deterministic generator for tests and soak runs.
//! - [`stats`]: mean, standard deviation and friends for benchmark cells.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod acpi;
pub mod bench;
pub mod bootinfo;
pub mod buddy;
pub mod cache;
pub mod cmdline;
pub mod costmodel;
pub mod cpuset;
pub mod exit;
pub mod fbtext;
pub mod features;
pub mod held;
pub mod honesty;
pub mod hostbind;
pub mod latency;
pub mod migrate;
pub mod mix;
pub mod numa;
pub mod pagetable;
pub mod pieces;
pub mod pipeline;
pub mod placement;
pub mod plan;
pub mod record;
pub mod rng;
pub mod serialspec;
pub mod split;
pub mod stats;
pub mod streams;
pub mod topology;
pub mod words;
