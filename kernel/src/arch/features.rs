//! CPU features the command line forces on or off (`pcid=`, `invpcid=`, `avx512=`):
//! what the CPU reports, what the kernel uses, and the line saying so. Decided once on
//! the boot CPU before paging and the copy routines are set up (`kcore::features` has
//! the rules and their tests).

use super::cpu;
use alloc::string::String;
use kcore::features::{self, Chosen, FeatureError, Forced, Present};
use spin::Once;

static DECIDED: Once<(Chosen, String)> = Once::new();

/// XCR0 bits AVX-512 needs XSAVE to hold: opmask, ZMM_Hi256, Hi16_ZMM.
const XCR0_AVX512: u32 = 0xe0;

/// What this CPU reports.
pub fn present() -> Present {
    let max = cpu::cpuid(0, 0).eax;
    let l1 = cpu::cpuid(1, 0);
    let l7 = if max >= 7 { cpu::cpuid(7, 0).ebx } else { 0 };
    let avx2_base = l1.ecx & (1 << 26) != 0 && l1.ecx & (1 << 28) != 0 && l7 & (1 << 5) != 0;
    let avx512 = avx2_base
        && l7 & (1 << 16) != 0
        && max >= 0xd
        && cpu::cpuid(0xd, 0).eax & XCR0_AVX512 == XCR0_AVX512;
    Present {
        pcid: l1.ecx & (1 << 17) != 0,
        invpcid: l7 & (1 << 10) != 0,
        avx512,
    }
}

/// Resolves the command line's settings against this CPU, once. Err: a feature forced
/// on that the CPU lacks (the caller stops with bad input).
///
/// # Errors
/// The [`FeatureError`] of `kcore::features::resolve` for the first feature forced on that
/// this CPU lacks (PCID, INVPCID or INVPCID without PCIDs, AVX-512); nothing is recorded
/// then, so [`chosen`] keeps reporting what the CPU has.
pub fn decide(forced: Forced) -> Result<Chosen, FeatureError> {
    let p = present();
    let c = features::resolve(forced, p)?;
    DECIDED.call_once(|| (c, features::describe(forced, p, c)));
    Ok(c)
}

/// What the kernel uses (everything the CPU has, before [`decide`] ran).
pub fn chosen() -> Chosen {
    DECIDED.get().map_or_else(
        || {
            let p = present();
            Chosen {
                pcid: p.pcid,
                invpcid: p.pcid && p.invpcid,
                avx512: p.avx512,
            }
        },
        |d| d.0,
    )
}

/// `PCID on (auto), INVPCID off (auto: absent), AVX-512 off (forced; ...)`.
pub fn summary() -> &'static str {
    DECIDED.get().map_or("not decided", |d| d.1.as_str())
}
