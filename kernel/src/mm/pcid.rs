//! Process-context identifiers for migration address spaces: with PCIDs, switching CR3
//! between the kernel and a workload no longer empties the TLB, so a migration pays
//! for the invalidations it really needs (invlpg / INVPCID), as a kernel would.
//!
//! PCID 0 is the kernel's; workloads get 1..4095. A PCID may be handed out again after
//! its address space is destroyed, so a fresh owner must flush it on first use.

use core::sync::atomic::{AtomicBool, Ordering};
use spin::Mutex;
use x86_64::registers::control::{Cr4, Cr4Flags};

static ENABLED: AtomicBool = AtomicBool::new(false);
static INVPCID: AtomicBool = AtomicBool::new(false);
static USED: Mutex<[u64; 64]> = Mutex::new([1; 64]); // bit 0 of word 0: the kernel's PCID 0

/// Turns PCIDs on when the CPU has them. Must run while CR3's PCID field is 0 (it is:
/// the kernel tables are loaded with a plain CR3 write).
/// Follows `arch::features` (the CPU's PCID/INVPCID as `pcid=`/`invpcid=` allow).
pub fn init() -> bool {
    let chosen = crate::arch::features::chosen();
    let (has_pcid, has_invpcid) = (chosen.pcid, chosen.invpcid);
    if !has_pcid {
        return false;
    }
    // SAFETY: the CPU supports PCIDs and the current CR3 has PCID 0, which the SDM
    // requires for setting CR4.PCIDE.
    unsafe { Cr4::update(|f| f.insert(Cr4Flags::PCID)) };
    ENABLED.store(true, Ordering::Relaxed);
    INVPCID.store(has_invpcid, Ordering::Relaxed);
    true
}

/// True when PCIDs are in use.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// True when INVPCID exists (invalidation of a PCID that is not loaded).
pub fn has_invpcid() -> bool {
    INVPCID.load(Ordering::Relaxed)
}

/// A free PCID, if PCIDs are on and one is left.
pub fn alloc() -> Option<u16> {
    if !enabled() {
        return None;
    }
    let mut used = USED.lock();
    for (w, word) in used.iter_mut().enumerate() {
        if *word != u64::MAX {
            let bit = (!*word).trailing_zeros();
            *word |= 1 << bit;
            let id = (w * 64) as u16 + bit as u16;
            // 4096 ids in 64 words: id < 4096 always.
            return Some(id);
        }
    }
    None
}

/// Gives a PCID back.
pub fn free(id: u16) {
    if id != 0 {
        USED.lock()[id as usize / 64] &= !(1 << (id % 64));
    }
}
