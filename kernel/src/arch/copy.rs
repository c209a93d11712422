//! CPU copy routines for the `cpu` engine: `rep movsb`, SSE2 (16-byte vectors),
//! AVX2 (32-byte vectors), AVX-512 (64-byte vectors, where the CPU has AVX-512F) and
//! non-temporal SSE2 stores that bypass the cache. Which is
//! fastest depends on the machine (ERMS, cache sizes, the interconnect), so the kernel
//! measures them at boot and picks one, or the user forces one with `copy=`.
//!
//! AVX: enabling it sets CR4.OSXSAVE and XCR0 (x87|SSE|AVX). The trap stubs save only
//! the legacy SSE state (fxsave); that is enough because no handler executes VEX
//! instructions (the precompiled `core` targets baseline x86_64), so the upper YMM
//! halves are never touched by interrupt code.

use super::cpu;
use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering};
use kcore::cmdline::CopyRoutine;

/// A copy routine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routine {
    /// `rep movsb` (fast strings / ERMS).
    Movsb,
    /// SSE2 unaligned loads and stores, 64 bytes per iteration.
    Sse2,
    /// AVX2 unaligned loads and stores, 128 bytes per iteration.
    Avx2,
    /// AVX-512F unaligned loads and stores, 256 bytes per iteration.
    Avx512,
    /// SSE2 loads and non-temporal stores (`movntdq`), 64 bytes per iteration.
    NonTemporal,
}

impl Routine {
    /// Every routine, in the order they are measured.
    pub const ALL: [Routine; 5] = [
        Routine::Movsb,
        Routine::Sse2,
        Routine::Avx2,
        Routine::Avx512,
        Routine::NonTemporal,
    ];

    /// The `copy=` value that forces this routine.
    pub fn choice(self) -> CopyRoutine {
        match self {
            Routine::Movsb => CopyRoutine::Movsb,
            Routine::Sse2 => CopyRoutine::Sse2,
            Routine::Avx2 => CopyRoutine::Avx2,
            Routine::Avx512 => CopyRoutine::Avx512,
            Routine::NonTemporal => CopyRoutine::NonTemporal,
        }
    }

    /// The routine a `copy=` value forces (`None` for `auto`).
    pub fn forced_by(choice: CopyRoutine) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.choice() == choice)
    }

    /// The name `copy=` uses.
    pub fn name(self) -> &'static str {
        self.choice().name()
    }

    /// True if this CPU (and the OS state set up here) can run it.
    pub fn available(self) -> bool {
        match self {
            Routine::Avx2 => AVX_ON.load(Ordering::Relaxed),
            Routine::Avx512 => AVX512_ON.load(Ordering::Relaxed),
            _ => true,
        }
    }
}

static AVX_ON: AtomicBool = AtomicBool::new(false);
static AVX512_ON: AtomicBool = AtomicBool::new(false);

/// XCR0 bits: x87, SSE, AVX; plus opmask, ZMM_Hi256, Hi16_ZMM for AVX-512.
const XCR0_AVX: u32 = 0x7;
const XCR0_AVX512: u32 = 0xe0;

/// On an AP: the same AVX state as the boot CPU (CR4.OSXSAVE and XCR0 are per CPU).
pub fn setup_ap() {
    if AVX_ON.load(Ordering::Relaxed) {
        set_avx_state();
    }
}

fn set_avx_state() {
    // SAFETY: only called once the boot CPU found XSAVE, AVX and AVX2 (identical CPUs);
    // CR4.OSXSAVE is then supported and XCR0 = x87|SSE|AVX is a valid combination.
    unsafe {
        x86_64::registers::control::Cr4::update(|f| {
            f.insert(x86_64::registers::control::Cr4Flags::OSXSAVE)
        });
        let xcr0 = XCR0_AVX
            | if AVX512_ON.load(Ordering::Relaxed) {
                XCR0_AVX512
            } else {
                0
            };
        asm!("xsetbv", in("ecx") 0, in("eax") xcr0, in("edx") 0u32, options(nostack));
    }
}

/// Turns on AVX state (OSXSAVE + XCR0) on the boot CPU if the CPU has AVX2 (APs follow
/// in [`setup_ap`]). Returns whether it did. Must run before the APs start.
pub fn enable_avx() -> bool {
    let l1 = cpu::cpuid(1, 0);
    let has_xsave = l1.ecx & (1 << 26) != 0;
    let has_avx = l1.ecx & (1 << 28) != 0;
    let has_avx2 = cpu::cpuid(0, 0).eax >= 7 && cpu::cpuid(7, 0).ebx & (1 << 5) != 0;
    if !(has_xsave && has_avx && has_avx2) {
        return false;
    }
    // AVX-512F, and XSAVE able to hold its state (CPUID.0xD.0:EAX lists the XCR0 bits).
    // AVX-512F with its XSAVE state, unless `avx512=off` (arch::features decides).
    let has_avx512 = super::features::chosen().avx512;
    AVX_ON.store(true, Ordering::Relaxed);
    AVX512_ON.store(has_avx512, Ordering::Relaxed);
    set_avx_state();
    true
}

/// Copies `len` bytes from `src` to `dst` with `routine`.
///
/// # Safety
/// `src` and `dst` valid for `len` bytes, not overlapping; `routine.available()`.
pub unsafe fn copy(routine: Routine, dst: *mut u8, src: *const u8, len: usize) {
    // SAFETY: forwarded contract (all arms); every loop stays inside [0, len) and the
    // tail goes through rep movsb.
    unsafe {
        match routine {
            Routine::Movsb => movsb(dst, src, len),
            Routine::Sse2 => {
                let body = len & !63;
                if body > 0 {
                    asm!(
                        "2:",
                        "movdqu xmm0, [{s}]", "movdqu xmm1, [{s} + 16]",
                        "movdqu xmm2, [{s} + 32]", "movdqu xmm3, [{s} + 48]",
                        "movdqu [{d}], xmm0", "movdqu [{d} + 16], xmm1",
                        "movdqu [{d} + 32], xmm2", "movdqu [{d} + 48], xmm3",
                        "add {s}, 64", "add {d}, 64", "sub {n}, 64", "jnz 2b",
                        s = inout(reg) src => _, d = inout(reg) dst => _, n = inout(reg) body => _,
                        out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
                        options(nostack)
                    );
                }
                movsb(dst.add(body), src.add(body), len - body);
            }
            Routine::Avx2 => {
                let body = len & !127;
                if body > 0 {
                    asm!(
                        "2:",
                        "vmovdqu ymm0, [{s}]", "vmovdqu ymm1, [{s} + 32]",
                        "vmovdqu ymm2, [{s} + 64]", "vmovdqu ymm3, [{s} + 96]",
                        "vmovdqu [{d}], ymm0", "vmovdqu [{d} + 32], ymm1",
                        "vmovdqu [{d} + 64], ymm2", "vmovdqu [{d} + 96], ymm3",
                        "add {s}, 128", "add {d}, 128", "sub {n}, 128", "jnz 2b",
                        "vzeroupper",
                        s = inout(reg) src => _, d = inout(reg) dst => _, n = inout(reg) body => _,
                        out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
                        options(nostack)
                    );
                }
                movsb(dst.add(body), src.add(body), len - body);
            }
            Routine::Avx512 => {
                let body = len & !255;
                if body > 0 {
                    copy_avx512(dst, src, body);
                }
                movsb(dst.add(body), src.add(body), len - body);
            }
            Routine::NonTemporal => {
                // movntdq needs a 16-byte aligned destination: align with a short head.
                let head = ((16 - (dst as usize & 15)) & 15).min(len);
                movsb(dst, src, head);
                let (d, s, rest) = (dst.add(head), src.add(head), len - head);
                let body = rest & !63;
                if body > 0 {
                    asm!(
                        "2:",
                        "movdqu xmm0, [{s}]", "movdqu xmm1, [{s} + 16]",
                        "movdqu xmm2, [{s} + 32]", "movdqu xmm3, [{s} + 48]",
                        "movntdq [{d}], xmm0", "movntdq [{d} + 16], xmm1",
                        "movntdq [{d} + 32], xmm2", "movntdq [{d} + 48], xmm3",
                        "add {s}, 64", "add {d}, 64", "sub {n}, 64", "jnz 2b",
                        "sfence",
                        s = inout(reg) s => _, d = inout(reg) d => _, n = inout(reg) body => _,
                        out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
                        options(nostack)
                    );
                }
                movsb(d.add(body), s.add(body), rest - body);
            }
        }
    }
}

/// 256 bytes per iteration through zmm0..3; `len` a multiple of 256.
///
/// # Safety
/// As [`copy`], and AVX-512F enabled (CR4.OSXSAVE, XCR0 opmask/ZMM bits: [`enable_avx`]).
#[target_feature(enable = "avx512f")]
unsafe fn copy_avx512(dst: *mut u8, src: *const u8, len: usize) {
    // SAFETY: forwarded; AVX-512 state is enabled (caller), every access is inside
    // [0, len), and vzeroupper leaves no dirty upper state behind.
    unsafe {
        asm!(
            "2:",
            "vmovdqu64 zmm0, [{s}]", "vmovdqu64 zmm1, [{s} + 64]",
            "vmovdqu64 zmm2, [{s} + 128]", "vmovdqu64 zmm3, [{s} + 192]",
            "vmovdqu64 [{d}], zmm0", "vmovdqu64 [{d} + 64], zmm1",
            "vmovdqu64 [{d} + 128], zmm2", "vmovdqu64 [{d} + 192], zmm3",
            "add {s}, 256", "add {d}, 256", "sub {n}, 256", "jnz 2b",
            "vzeroupper",
            s = inout(reg) src => _, d = inout(reg) dst => _, n = inout(reg) len => _,
            out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _,
            options(nostack)
        );
    }
}

/// # Safety
/// As [`copy`].
unsafe fn movsb(dst: *mut u8, src: *const u8, len: usize) {
    // SAFETY: forwarded; DF is clear (kernel invariant).
    unsafe {
        asm!("rep movsb", inout("rcx") len => _, inout("rdi") dst => _, inout("rsi") src => _,
             options(nostack, preserves_flags));
    }
}
