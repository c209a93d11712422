//! Memory-mapped device registers: an unsafe constructor (the caller vouches that the
//! range is a device's register block, mapped uncached) and safe, bounds- and
//! alignment-checked accessors (the Asterinas `IoMem` pattern).

/// A window of device registers.
#[derive(Debug, Clone, Copy)]
pub struct Mmio {
    base: u64,
    len: u64,
}

impl Mmio {
    /// # Safety
    /// `[base, base+len)` must be a device register block mapped uncached at `base`
    /// (see `mm::paging::map_mmio`) for as long as the value lives, and reads/writes of
    /// its registers must not break memory safety (e.g. start DMA into memory the
    /// caller does not own).
    pub unsafe fn new(base: u64, len: u64) -> Self {
        Self { base, len }
    }

    fn check(&self, offset: u64, size: u64) -> u64 {
        assert!(
            offset.is_multiple_of(size) && offset + size <= self.len,
            "MMIO access {offset:#x}+{size} outside window of {:#x} bytes (a driver bug)",
            self.len
        );
        self.base + offset
    }

    /// Reads a 32-bit register.
    ///
    /// # Panics
    /// If `offset` is unaligned or outside the window.
    pub fn read32(&self, offset: u64) -> u32 {
        let a = self.check(offset, 4);
        // SAFETY: inside the device window (checked), aligned, mapped uncached (constructor).
        unsafe { (a as *const u32).read_volatile() }
    }

    /// Writes a 32-bit register.
    ///
    /// # Panics
    /// If `offset` is unaligned or outside the window.
    pub fn write32(&self, offset: u64, value: u32) {
        let a = self.check(offset, 4);
        // SAFETY: as for read32.
        unsafe { (a as *mut u32).write_volatile(value) }
    }

    /// Reads a 64-bit register.
    ///
    /// # Panics
    /// If `offset` is unaligned or outside the window.
    pub fn read64(&self, offset: u64) -> u64 {
        let a = self.check(offset, 8);
        // SAFETY: as for read32.
        unsafe { (a as *const u64).read_volatile() }
    }

    /// Writes a 64-bit register.
    ///
    /// # Panics
    /// If `offset` is unaligned or outside the window.
    pub fn write64(&self, offset: u64, value: u64) {
        let a = self.check(offset, 8);
        // SAFETY: as for read32.
        unsafe { (a as *mut u64).write_volatile(value) }
    }
}
