//! The kernel heap: `linked_list_allocator` behind `spin` locks, on two arenas.
//!
//! - The *early* arena is a fixed 16 MiB in `.bss`: enough for boot (the loader's
//!   information, ACPI tables, the command line) before any RAM is known.
//! - The *main* arena is sized from the machine's RAM ([`main_arena_bytes`]) and carved
//!   from usable RAM by `mm::init` before the frame allocator takes the rest, so the
//!   bookkeeping of a migration (about 72 bytes per folio) grows with the memory there
//!   is to migrate instead of capping every run at a fixed folio count.
//!
//! New allocations go to the main arena once it exists, else (or when it is full) to
//! the early one; a free goes back to the arena whose range holds the pointer. Exception
//! handlers must not allocate (a lock may be held by the code they interrupted).

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};
use linked_list_allocator::Heap;
use spin::Mutex;

/// Bytes of the static early arena.
pub const EARLY_HEAP_BYTES: usize = 16 * 1024 * 1024;

/// Share of usable RAM given to the main arena: 1/32 (about 3 %), which holds the
/// bookkeeping of every 4K folio that fits in half of RAM even with `batch=all`.
const MAIN_SHARE: u64 = 32;
/// Largest main arena: 16 GiB (enough for 200+ million folios).
const MAIN_MAX: u64 = 16 << 30;

#[repr(C, align(4096))]
struct Arena([u8; EARLY_HEAP_BYTES]);
static mut ARENA: Arena = Arena([0; EARLY_HEAP_BYTES]);

struct KernelHeap {
    early: Mutex<Heap>,
    main: Mutex<Heap>,
    /// `[start, end)` of the main arena (0, 0 until it is added).
    main_start: AtomicU64,
    main_end: AtomicU64,
}

impl KernelHeap {
    fn in_main(&self, p: *mut u8) -> bool {
        let a = p as u64;
        a >= self.main_start.load(Ordering::Acquire) && a < self.main_end.load(Ordering::Acquire)
    }
}

// SAFETY: all access goes through the locks; each `Heap` hands out disjoint blocks of
// its own arena, and the two arenas do not overlap.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.main_end.load(Ordering::Acquire) != 0 {
            if let Ok(p) = self.main.lock().allocate_first_fit(layout) {
                return p.as_ptr();
            }
        }
        self.early
            .lock()
            .allocate_first_fit(layout)
            .map_or(core::ptr::null_mut(), |p| p.as_ptr())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(p) = NonNull::new(ptr) else { return };
        let heap = if self.in_main(ptr) {
            &self.main
        } else {
            &self.early
        };
        // SAFETY: GlobalAlloc contract: ptr came from `alloc` with this layout, and
        // `alloc` took it from the arena whose range holds it.
        unsafe { heap.lock().deallocate(p, layout) }
    }
}

#[global_allocator]
static HEAP: KernelHeap = KernelHeap {
    early: Mutex::new(Heap::empty()),
    main: Mutex::new(Heap::empty()),
    main_start: AtomicU64::new(0),
    main_end: AtomicU64::new(0),
};

/// Hands the early arena to the allocator. Called once, early on the boot CPU.
pub fn init() {
    let base = (&raw mut ARENA) as *mut u8;
    // SAFETY: the arena is a static used by nothing else, and init runs once.
    unsafe { HEAP.early.lock().init(base, EARLY_HEAP_BYTES) };
}

/// Bytes of main arena for a machine with `usable_ram` bytes: 1/32 of it, at most
/// 16 GiB, in whole 2 MiB units (0 on a machine too small to spare one).
pub fn main_arena_bytes(usable_ram: u64) -> u64 {
    (usable_ram / MAIN_SHARE).min(MAIN_MAX) & !((2 << 20) - 1)
}

/// Adds the main arena `[start, start + bytes)`.
///
/// # Safety
/// The range must be usable RAM, mapped writable in the direct map, owned by nothing
/// else for the rest of the run (the caller reserves it from every other allocator),
/// and this must be called at most once.
pub unsafe fn add_main_arena(start: u64, bytes: u64) {
    // SAFETY: the caller's contract: the range is RAM that only the heap will use.
    unsafe { HEAP.main.lock().init(start as *mut u8, bytes as usize) };
    HEAP.main_start.store(start, Ordering::Release);
    HEAP.main_end.store(start + bytes, Ordering::Release);
}

/// Bytes currently allocated (both arenas).
pub fn used() -> usize {
    HEAP.early.lock().used() + HEAP.main.lock().used()
}

/// Total heap bytes (both arenas).
pub fn size() -> usize {
    HEAP.early.lock().size() + HEAP.main.lock().size()
}

/// Bytes free for new allocations (both arenas; the largest single allocation may be
/// smaller when the free space is fragmented).
pub fn free() -> usize {
    HEAP.early.lock().free() + HEAP.main.lock().free()
}

/// Bytes free in the main arena alone (where large allocations land), or in the early
/// arena when there is no main arena.
pub fn free_for_bookkeeping() -> usize {
    if HEAP.main_end.load(Ordering::Acquire) != 0 {
        HEAP.main.lock().free()
    } else {
        HEAP.early.lock().free()
    }
}
