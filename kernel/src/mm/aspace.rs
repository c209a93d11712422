//! Migration address spaces: a page-table tree of its own (own CR3) whose lower half
//! holds a workload's folios at user-like addresses, leaf size = folio size (2 MiB
//! leaves for 2M folios, contiguous 4 KiB PTEs for smaller mTHP sizes), with the
//! kernel's identity map shared in. The tree logic is `kcore::pagetable` (host-tested);
//! this module gives it frames and physical access, loads CR3 and invalidates TLBs.
//!
//! Invalidation: after an unmap or remap the caller passes the batch to
//! [`AddressSpace::flush`], which uses `invlpg` per page up to a threshold and a CR3
//! reload above it (the choice is `kcore::pagetable::FlushPlan`). Leaves are never
//! global, so the CR3 reload drops them all. With PCIDs (when the CPU has them) each
//! space has its own: switching to it and back keeps the TLB, unmaps done while the
//! space is not loaded are invalidated with INVPCID (or, without INVPCID, by a flushing
//! CR3 load on the next switch), and a reused PCID is flushed on first use.
//!
//! CPU mask: each space records which CPUs have it loaded (bit = kernel CPU index, set
//! before the CR3 write, cleared after switching back). `smp::shootdown` sends its IPI
//! round to exactly those CPUs. Other CPUs run on the space through an [`ActiveHandle`],
//! always with PCID 0 and flushing CR3 loads, so their entries never outlive their visit.
//! Only the boot CPU (which runs migrations) tags the space's entries with its PCID,
//! and it invalidates them itself (`flush` / INVPCID), so the mask may drop it.

use super::frames::{self, Block};
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};
use kcore::cpuset::{self, CpuSet, CPUSET_WORDS};
use kcore::pagetable::{
    self as pt, FlushPlan, LeafFlags, MapOutcome, PtError, TableMemory, Translation,
};
use x86_64::registers::control::Cr3;
use x86_64::PhysAddr;

/// Most CPUs a space's CPU mask can name (kernel indices 0..512).
pub const MASK_CPUS: usize = cpuset::CPUSET_CPUS;

/// The CPUs that have a space loaded, updated with one atomic word operation per change.
#[derive(Default)]
pub struct AtomicCpuSet {
    words: [AtomicU64; CPUSET_WORDS],
}

impl AtomicCpuSet {
    /// Adds `cpu` (SeqCst). Panics past [`MASK_CPUS`] (the kernel brings up no more).
    pub fn insert(&self, cpu: usize) {
        let (w, b) = cpuset::word_bit(cpu).expect("CPU index beyond the address-space CPU mask");
        self.words[w].fetch_or(b, Ordering::SeqCst);
    }

    /// Removes `cpu` (SeqCst).
    pub fn remove(&self, cpu: usize) {
        if let Some((w, b)) = cpuset::word_bit(cpu) {
            self.words[w].fetch_and(!b, Ordering::SeqCst);
        }
    }

    /// A snapshot (each word read SeqCst).
    pub fn load(&self) -> CpuSet {
        CpuSet::from_words(core::array::from_fn(|i| {
            self.words[i].load(Ordering::SeqCst)
        }))
    }
}

/// Start of the window where workloads are mapped (PML4 slot 224, far above any RAM
/// the identity map covers on machines below 112 TiB).
pub const WORKLOAD_BASE: u64 = 0x0000_7000_0000_0000;

/// Page-table frames from one node's buddy zone, accessed through the identity map.
struct NodeTables {
    node: u32,
}

impl TableMemory for NodeTables {
    fn alloc_table(&mut self) -> Option<u64> {
        let mut b = frames::alloc(self.node, 0).ok()?;
        b.as_mut_slice().fill(0);
        // The tree owns the frame from now on (its parent entry records it).
        Some(b.into_raw().as_u64())
    }

    fn free_table(&mut self, phys: u64) {
        // SAFETY: the pagetable module frees only tables it got from `alloc_table` above,
        // which gave up their handles with `into_raw`, and frees each once.
        let block = unsafe { Block::from_raw(PhysAddr::new(phys), 0, self.node) };
        if let Err(e) = frames::free(block) {
            crate::println!("aspace: freeing page table {phys:#x} failed: {e}");
        }
    }

    fn read_entry(&self, table: u64, index: usize) -> u64 {
        // SAFETY: `table` is a page-table frame this tree owns or shares (identity
        // mapped RAM) and index < 512 (the pagetable module never passes more).
        unsafe { ((table + index as u64 * 8) as *const u64).read_volatile() }
    }

    fn write_entry(&mut self, table: u64, index: usize, value: u64) {
        // SAFETY: as for read_entry; the pagetable module never writes shared kernel
        // tables. Volatile: the MMU reads these behind the compiler's back.
        unsafe { ((table + index as u64 * 8) as *mut u64).write_volatile(value) }
    }
}

/// A workload address space.
pub struct AddressSpace {
    tables: pt::AddressSpace,
    mem: NodeTables,
    pcid: Option<u16>,
    /// The TLB may hold stale entries for this PCID: the next switch must flush.
    tlb_stale: bool,
    cpus: Arc<AtomicCpuSet>,
}

/// Lets another CPU load a space (for workers and shootdown tests) without owning it.
#[derive(Clone)]
pub struct ActiveHandle {
    root: u64,
    cpus: Arc<AtomicCpuSet>,
}

impl ActiveHandle {
    /// Runs `f` on this CPU with the space loaded, recording this CPU in the mask.
    pub fn with_active<R>(&self, f: impl FnOnce() -> R) -> R {
        run_active(self.root, &self.cpus, f)
    }
}

fn run_active<R>(root: u64, cpus: &AtomicCpuSet, f: impl FnOnce() -> R) -> R {
    let me = crate::arch::percpu::current_index();
    assert!(me < MASK_CPUS, "CPU {me} beyond the address-space CPU mask");
    // Set before the CR3 write (SeqCst): an unmapper that changes a PTE and then reads
    // the mask either sees this CPU or this CPU's walk sees the changed PTE.
    cpus.insert(me);
    let (old, flags) = Cr3::read();
    let new =
        x86_64::structures::paging::PhysFrame::containing_address(x86_64::PhysAddr::new(root));
    // SAFETY: the tree shares every kernel mapping (code, stacks, heap, MMIO), so the
    // kernel keeps running unchanged; only the workload window differs.
    unsafe { Cr3::write(new, flags) };
    let r = f();
    // SAFETY: back to the tables that were loaded before.
    unsafe { Cr3::write(old, flags) };
    cpus.remove(me);
    r
}

impl AddressSpace {
    /// A new tree with its page tables on `node`, the kernel's mappings shared in.
    ///
    /// # Errors
    /// [`PtError::OutOfMemory`] when `node` has no memory or no free 4 KiB frame for the PML4
    /// (no fallback to other nodes). Sharing the kernel's PML4 slots into the fresh tree
    /// cannot fail: the slot range is never empty and the new root maps nothing yet.
    pub fn new(node: u32) -> Result<Self, PtError> {
        let mut mem = NodeTables { node };
        let mut tables = pt::AddressSpace::new(&mut mem)?;
        let kernel_root = super::paging::kernel_root();
        let used = (0..224)
            .rev()
            .find(|&s| mem.read_entry(kernel_root, s) & pt::PRESENT != 0);
        tables.share_kernel_entries(&mut mem, kernel_root, 0..used.map_or(1, |s| s + 1))?;
        Ok(Self {
            tables,
            mem,
            pcid: super::pcid::alloc(),
            tlb_stale: true,
            cpus: Arc::new(AtomicCpuSet::default()),
        })
    }

    /// Physical address of the root (what CR3 gets).
    pub fn root(&self) -> u64 {
        self.tables.root()
    }

    /// Maps a folio of `2^order` frames at `pa` to `va`.
    ///
    /// # Errors
    /// The [`PtError`] of the tree (misaligned, already mapped, no table frames).
    pub fn map(&mut self, va: u64, pa: PhysAddr, order: u8) -> Result<(), PtError> {
        let outcome = self
            .tables
            .map(&mut self.mem, va, pa.as_u64(), order, LeafFlags::DATA)?;
        self.after_map(va, outcome);
        Ok(())
    }

    /// Re-installs a folio mapping at `va` (after an unmap) pointing at `pa`; allocates
    /// no page tables.
    ///
    /// # Errors
    /// The [`PtError`] of the tree (no table for `va`, misaligned).
    pub fn remap(&mut self, va: u64, pa: PhysAddr, order: u8) -> Result<(), PtError> {
        let outcome = self
            .tables
            .remap(&mut self.mem, va, pa.as_u64(), order, LeafFlags::DATA)?;
        self.after_map(va, outcome);
        Ok(())
    }

    fn after_map(&self, va: u64, outcome: MapOutcome) {
        // A page table was replaced by a 2 MiB leaf: the old entry may be cached.
        if outcome == MapOutcome::ReplacedTable && self.is_active() {
            x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(va));
        }
    }

    /// Clears a folio's mapping and returns its physical address. The TLB is not
    /// flushed here: collect the batch and call [`flush`](Self::flush) once.
    ///
    /// # Errors
    /// The [`PtError`] of the tree (`va` not mapped at that size).
    pub fn unmap(&mut self, va: u64, order: u8) -> Result<PhysAddr, PtError> {
        self.tables
            .unmap(&mut self.mem, va, order)
            .map(PhysAddr::new)
    }

    /// Clears the mappings of a batch of folios `(va, order)` and appends their physical
    /// addresses to `out`, walking the tree once per leaf table. No TLB flush (see
    /// [`flush`](Self::flush)).
    ///
    /// # Errors
    /// `(i, error)` for the first folio refused; folios `..i` are unmapped.
    pub fn unmap_batch(
        &mut self,
        folios: &[(u64, u8)],
        out: &mut alloc::vec::Vec<u64>,
    ) -> Result<(), (usize, PtError)> {
        self.tables.unmap_batch(&mut self.mem, folios, out)
    }

    /// Re-installs a batch of folio mappings `(va, pa, order)` after an unmap, walking the
    /// tree once per leaf table; allocates no page tables.
    ///
    /// # Errors
    /// `(i, error)` for the first folio refused; folios `..i` are mapped.
    pub fn remap_batch(&mut self, folios: &[(u64, u64, u8)]) -> Result<(), (usize, PtError)> {
        let mut replaced = alloc::vec::Vec::new();
        let done = self
            .tables
            .remap_batch(&mut self.mem, folios, LeafFlags::DATA, &mut replaced);
        for va in replaced {
            self.after_map(va, MapOutcome::ReplacedTable);
        }
        done
    }

    /// Invalidates the TLB entries of a batch of unmapped `(va, order)` on this CPU.
    /// Returns the plan used, for cost accounting.
    pub fn flush(&mut self, unmapped: &[(u64, u8)]) -> FlushPlan {
        let plan = FlushPlan::for_unmapped(unmapped, pt::DEFAULT_FLUSH_THRESHOLD);
        if !self.is_active() {
            self.flush_inactive(&plan);
            return plan;
        }
        {
            match &plan {
                FlushPlan::Pages(pages) => {
                    for &p in pages {
                        x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(p));
                    }
                }
                FlushPlan::Full => x86_64::instructions::tlb::flush_all(),
            }
        }
        plan
    }

    /// Invalidation for a space that is not loaded: without PCIDs the next CR3 load
    /// flushes anyway; with them, INVPCID the entries (or mark the PCID stale).
    fn flush_inactive(&mut self, plan: &FlushPlan) {
        use x86_64::instructions::tlb::{flush_pcid, InvPcidCommand, Pcid};
        let Some(id) = self.pcid else { return };
        if !super::pcid::has_invpcid() {
            self.tlb_stale = true;
            return;
        }
        let pcid = Pcid::new(id).expect("PCIDs are below 4096");
        match plan {
            FlushPlan::Pages(pages) => {
                for &p in pages {
                    // SAFETY: INVPCID exists (checked) and only drops TLB entries.
                    unsafe { flush_pcid(InvPcidCommand::Address(x86_64::VirtAddr::new(p), pcid)) };
                }
            }
            // SAFETY: as above, for every entry of this PCID.
            FlushPlan::Full => unsafe { flush_pcid(InvPcidCommand::Single(pcid)) },
        }
    }

    /// The PCID of this space, if PCIDs are on.
    pub fn pcid(&self) -> Option<u16> {
        self.pcid
    }

    /// The translation of `va`, if mapped.
    pub fn translate(&self, va: u64) -> Option<Translation> {
        self.tables.translate(&self.mem, va)
    }

    /// Page-table frames this space allocated.
    pub fn table_frames(&self) -> usize {
        self.tables.table_frames()
    }

    /// True while this CPU runs on this tree.
    pub fn is_active(&self) -> bool {
        Cr3::read().0.start_address().as_u64() == self.root()
    }

    /// Runs `f` with this tree loaded in CR3, then returns to the kernel tables.
    pub fn with_active<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        use x86_64::instructions::tlb::Pcid;
        if self.pcid.is_none() || crate::arch::percpu::current_index() != 0 {
            let cpus = self.cpus.clone();
            return run_active(self.root(), &cpus, || f(self));
        }
        self.cpus.insert(0);
        let (old, flags) = Cr3::read();
        let new = x86_64::structures::paging::PhysFrame::containing_address(x86_64::PhysAddr::new(
            self.root(),
        ));
        // The tree shares every kernel mapping (code, stacks, heap, MMIO), so the kernel
        // keeps running unchanged across the switch; only the workload window differs.
        match self.pcid {
            Some(id) => {
                let pcid = Pcid::new(id).expect("PCIDs are below 4096");
                if self.tlb_stale {
                    // SAFETY: see above; this load also drops the PCID's stale entries.
                    unsafe { Cr3::write_pcid(new, pcid) };
                } else {
                    // SAFETY: see above; the PCID's cached entries are known current.
                    unsafe { Cr3::write_pcid_no_flush(new, pcid) };
                }
            }
            // SAFETY: see above.
            None => unsafe { Cr3::write(new, flags) },
        }
        self.tlb_stale = false;
        let r = f(self);
        match self.pcid {
            // SAFETY: back to the kernel tables (PCID 0), keeping the TLB: kernel
            // mappings only ever gain entries, which need no invalidation.
            Some(_) => unsafe { Cr3::write_pcid_no_flush(old, Pcid::new(0).expect("0 is valid")) },
            // SAFETY: back to the tables that were loaded before.
            None => unsafe { Cr3::write(old, flags) },
        }
        self.cpus.remove(0);
        r
    }

    /// A handle through which other CPUs can load this space.
    pub fn handle(&self) -> ActiveHandle {
        ActiveHandle {
            root: self.root(),
            cpus: self.cpus.clone(),
        }
    }

    /// The CPUs (kernel indices) that have this space loaded right now.
    pub fn cpumask(&self) -> CpuSet {
        self.cpus.load()
    }

    /// Frees every page table (not the folios). Must not be active on any CPU.
    pub fn destroy(mut self) -> usize {
        assert!(
            !self.is_active() && self.cpumask().is_empty(),
            "destroying an address space CPUs {} are running on",
            self.cpumask()
        );
        if let Some(id) = self.pcid.take() {
            super::pcid::free(id);
        }
        self.tables.destroy(&mut self.mem)
    }
}

/// Why [`AddressSpace::read_mapped_u64`] refused to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappedReadError {
    /// The space is not loaded on this CPU.
    NotActive,
    /// The workload window of this space does not map the address.
    NotMapped(u64),
    /// The address is not 8-byte aligned.
    Misaligned(u64),
    /// The tree maps it to memory that is not a held data block (a kernel structure, a
    /// free frame, MMIO).
    NotData(super::frames::RangeError),
}

impl AddressSpace {
    /// Reads the u64 at `va` through this space's mapping: a plain load, so the MMU walks
    /// the tree (and the TLB) — the point is to see what the workload sees after a remap.
    /// Refused unless the space is loaded here and its own tree maps `va` to a data block,
    /// so it cannot be used to read kernel structures or MMIO.
    ///
    /// # Errors
    /// A [`MappedReadError`] saying why nothing was read.
    pub fn read_mapped_u64(&self, va: u64) -> Result<u64, MappedReadError> {
        if !self.is_active() {
            return Err(MappedReadError::NotActive);
        }
        if !va.is_multiple_of(8) {
            return Err(MappedReadError::Misaligned(va));
        }
        let t = self.translate(va).ok_or(MappedReadError::NotMapped(va))?;
        super::frames::check_data_range(t.pa, 8).map_err(MappedReadError::NotData)?;
        // SAFETY: this space is loaded on this CPU and its tree maps `va` to 8 bytes of an
        // allocated data block (checked above), identity-mapped RAM that a read cannot
        // harm; a TLB entry older than the tree is exactly what the caller is testing for.
        Ok(unsafe { (va as *const u64).read_volatile() })
    }
}
