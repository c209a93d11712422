//! The kernel heap: `linked_list_allocator` behind a `spin` lock, on a static arena.
//!
//! The arena is in `.bss` for now; once the frame allocator exists it can move to
//! frames of the boot node. Exception handlers must not allocate (the lock may be held
//! by the code they interrupted).

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use linked_list_allocator::Heap;
use spin::Mutex;

/// Bytes of the static heap arena.
pub const HEAP_SIZE: usize = 16 * 1024 * 1024;

#[repr(C, align(4096))]
struct Arena([u8; HEAP_SIZE]);
static mut ARENA: Arena = Arena([0; HEAP_SIZE]);

struct KernelHeap(Mutex<Heap>);

// SAFETY: all access goes through the lock; `Heap` hands out disjoint blocks.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.0
            .lock()
            .allocate_first_fit(layout)
            .map_or(core::ptr::null_mut(), |p| p.as_ptr())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: GlobalAlloc contract: ptr came from `alloc` with this layout.
            unsafe { self.0.lock().deallocate(p, layout) }
        }
    }
}

#[global_allocator]
static HEAP: KernelHeap = KernelHeap(Mutex::new(Heap::empty()));

/// Hands the arena to the allocator. Called once, early on the boot CPU.
pub fn init() {
    let base = (&raw mut ARENA) as *mut u8;
    // SAFETY: the arena is a static used by nothing else, and init runs once.
    unsafe { HEAP.0.lock().init(base, HEAP_SIZE) };
}

/// Bytes currently allocated.
pub fn used() -> usize {
    HEAP.0.lock().used()
}

/// Total heap bytes.
pub fn size() -> usize {
    HEAP.0.lock().size()
}
