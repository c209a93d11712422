//! Interrupt and exception entry: 256 assembly stubs, the IDT, and the Rust dispatcher.
//!
//! Written by hand rather than with the `x86_64` crate's typed IDT: that API needs the
//! unstable `x86-interrupt` ABI for handler functions and panics on reserved vectors,
//! while here every vector gets the same stub that saves all general registers (so the
//! diagnostics can print them) and the SSE state (handlers are Rust, which uses SSE).
//! Every gate uses an IST stack (see `gdt`), because `core` uses the red zone.
//!
//! Interrupts (vectors >= 32: IPIs, the LAPIC timer) go to handlers registered with
//! [`register`]; the dispatcher sends the EOI after the handler returns. An NMI goes to
//! the hook set with [`set_nmi_hook`] (the watchdog's "where is this CPU" probe) and is
//! fatal only when the hook does not claim it.
//!
//! An unexpected exception prints vector, error code, RIP, CR2, RSP, the registers and
//! a stack dump, then exits with the "CPU exception" code. Self-tests may announce an
//! expected exception with [`expect`]; the handler then records it and resumes.

use super::gdt;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Vectors 0..32 that push an error code (bit n set = vector n).
const ERRCODE_MASK: u32 = 0x6022_7D00;

core::arch::global_asm!(
    r#"
    .section .text.traps, "ax"
    .code64
    .balign 16
    .global isr_stubs
isr_stubs:
    .set vector, 0
    .rept 256
    .balign 16
    .if vector < 32
    .if ((({errmask} >> vector) & 1) == 0)
    pushq $0
    .endif
    .else
    pushq $0
    .endif
    pushq $vector
    jmp isr_common
    .set vector, vector + 1
    .endr

isr_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    cld
    /* 22 quadwords pushed on a 16-aligned IST top: RSP is 16-aligned here. */
    movq %rsp, %rdi
    subq $512, %rsp
    fxsave64 (%rsp)
    call trap_dispatch
    fxrstor64 (%rsp)
    addq $512, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp
    iretq
"#,
    errmask = const ERRCODE_MASK,
    options(att_syntax)
);

unsafe extern "C" {
    static isr_stubs: u8;
}

/// Registers saved by the entry stub, lowest address first.
#[repr(C)]
#[derive(Debug)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

#[derive(Clone, Copy)]
#[repr(C)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attr: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

#[repr(C, align(16))]
struct Idt([Gate; 256]);

static mut IDT: Idt = Idt([Gate {
    offset_low: 0,
    selector: 0,
    ist: 0,
    type_attr: 0,
    offset_mid: 0,
    offset_high: 0,
    reserved: 0,
}; 256]);

fn ist_for(vector: usize) -> u8 {
    match vector {
        2 => gdt::IST_NMI,
        8 => gdt::IST_DOUBLE_FAULT,
        18 => gdt::IST_MACHINE_CHECK,
        0..=31 => gdt::IST_EXCEPTION,
        _ => gdt::IST_IRQ,
    }
}

/// Fills the IDT (once, on the boot CPU) and loads it on this CPU.
pub fn init_bsp() {
    let stubs = (&raw const isr_stubs) as u64;
    let selector = gdt::kernel_code_selector();
    let idt: *mut Idt = &raw mut IDT;
    // SAFETY: runs once on the boot CPU before any other CPU or interrupt exists, so
    // nothing else can observe the table while it is written.
    let idt = unsafe { &mut *idt };
    for (v, gate) in idt.0.iter_mut().enumerate() {
        let addr = stubs + 16 * v as u64;
        *gate = Gate {
            offset_low: addr as u16,
            selector,
            ist: ist_for(v),
            type_attr: 0x8E, // present, DPL 0, 64-bit interrupt gate (IF cleared on entry)
            offset_mid: (addr >> 16) as u16,
            offset_high: (addr >> 32) as u32,
            reserved: 0,
        };
    }
    load();
}

/// Loads the (already filled) IDT on the running CPU.
pub fn load() {
    let ptr = x86_64::structures::DescriptorTablePointer {
        limit: (core::mem::size_of::<Idt>() - 1) as u16,
        base: x86_64::VirtAddr::new((&raw const IDT) as u64),
    };
    // SAFETY: IDT is a static that lives forever and every gate points at a stub.
    unsafe { x86_64::instructions::tables::lidt(&ptr) };
}

/// Human name of an exception vector.
pub fn vector_name(v: u64) -> &'static str {
    const NAMES: [&str; 32] = [
        "#DE divide error",
        "#DB debug",
        "NMI",
        "#BP breakpoint",
        "#OF overflow",
        "#BR bound range",
        "#UD invalid opcode",
        "#NM device not available",
        "#DF double fault",
        "coprocessor segment overrun",
        "#TS invalid TSS",
        "#NP segment not present",
        "#SS stack fault",
        "#GP general protection",
        "#PF page fault",
        "reserved 15",
        "#MF x87 FP error",
        "#AC alignment check",
        "#MC machine check",
        "#XM SIMD FP exception",
        "#VE virtualization",
        "#CP control protection",
        "reserved 22",
        "reserved 23",
        "reserved 24",
        "reserved 25",
        "reserved 26",
        "reserved 27",
        "#HV hypervisor injection",
        "#VC VMM communication",
        "#SX security",
        "reserved 31",
    ];
    NAMES.get(v as usize).copied().unwrap_or("interrupt")
}

const NO_EXPECTATION: u32 = u32::MAX;
static EXPECTED_VECTOR: AtomicU32 = AtomicU32::new(NO_EXPECTATION);
static EXPECTED_SKIP: AtomicU64 = AtomicU64::new(0);
static CAUGHT_VECTOR: AtomicU32 = AtomicU32::new(NO_EXPECTATION);
static CAUGHT_RIP: AtomicU64 = AtomicU64::new(0);
static CAUGHT_ERROR: AtomicU64 = AtomicU64::new(0);
static CAUGHT_CR2: AtomicU64 = AtomicU64::new(0);
static SCRAMBLE_SSE: AtomicBool = AtomicBool::new(false);

/// Makes the handler of the next expected trap overwrite every XMM register, so a
/// self-test can prove the entry stub saves and restores SSE state.
pub fn scramble_sse_in_next_expected_trap() {
    SCRAMBLE_SSE.store(true, Ordering::SeqCst);
}

fn scramble_sse() {
    // SAFETY: only XMM registers are written; the entry stub restores them (that is
    // what the self-test checks).
    unsafe {
        core::arch::asm!(
            "pcmpeqd xmm0, xmm0", "pcmpeqd xmm1, xmm1", "pcmpeqd xmm2, xmm2",
            "pcmpeqd xmm3, xmm3", "pcmpeqd xmm4, xmm4", "pcmpeqd xmm5, xmm5",
            "pcmpeqd xmm6, xmm6", "pcmpeqd xmm7, xmm7", "pcmpeqd xmm8, xmm8",
            "pcmpeqd xmm9, xmm9", "pcmpeqd xmm10, xmm10", "pcmpeqd xmm11, xmm11",
            "pcmpeqd xmm12, xmm12", "pcmpeqd xmm13, xmm13", "pcmpeqd xmm14, xmm14",
            "pcmpeqd xmm15, xmm15",
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
            out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
            out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
            options(nomem, nostack)
        );
    }
}

/// What an expected exception looked like when it was caught.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caught {
    /// The vector taken.
    pub vector: u32,
    /// RIP in the frame the CPU pushed (before any skip).
    pub rip: u64,
    /// The error code (0 for vectors without one).
    pub error_code: u64,
    /// CR2 at the time (the faulting address for #PF).
    pub cr2: u64,
}

/// Runs `f`, during which exception `vector` is expected once: the handler records it
/// and resumes `skip` bytes after the reported RIP (the faulting instruction's length
/// for faults, 0 for traps like `int3`). Returns what was caught, if anything.
pub fn expect(vector: u32, skip: u64, f: impl FnOnce()) -> Option<Caught> {
    CAUGHT_VECTOR.store(NO_EXPECTATION, Ordering::SeqCst);
    EXPECTED_SKIP.store(skip, Ordering::SeqCst);
    EXPECTED_VECTOR.store(vector, Ordering::SeqCst);
    f();
    EXPECTED_VECTOR.store(NO_EXPECTATION, Ordering::SeqCst);
    match CAUGHT_VECTOR.load(Ordering::SeqCst) {
        NO_EXPECTATION => None,
        v => Some(Caught {
            vector: v,
            rip: CAUGHT_RIP.load(Ordering::SeqCst),
            error_code: CAUGHT_ERROR.load(Ordering::SeqCst),
            cr2: CAUGHT_CR2.load(Ordering::SeqCst),
        }),
    }
}

/// An interrupt handler: runs on the interrupt's IST stack with interrupts off.
pub type Handler = fn(&mut TrapFrame);
/// The NMI hook: returns true when it handled the NMI.
pub type NmiHook = fn(&mut TrapFrame) -> bool;

static HANDLERS: [AtomicUsize; 256] = [const { AtomicUsize::new(0) }; 256];
static NMI_HOOK: AtomicUsize = AtomicUsize::new(0);

/// Why an interrupt handler could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorError {
    /// Exceptions (0..32) and the spurious vector are not for handlers.
    Reserved(u8),
    /// The vector already has a handler.
    Taken(u8),
}

impl core::fmt::Display for VectorError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            VectorError::Reserved(v) => write!(f, "vector {v:#x} is reserved"),
            VectorError::Taken(v) => write!(f, "vector {v:#x} already has a handler"),
        }
    }
}

/// Registers `handler` for interrupt `vector` (32..=254), once.
///
/// # Errors
/// [`VectorError::Reserved`] below 32 or for the spurious vector, [`VectorError::Taken`]
/// when the vector has a handler.
pub fn register(vector: u8, handler: Handler) -> Result<(), VectorError> {
    if vector < 32 || vector == super::apic::SPURIOUS_VECTOR {
        return Err(VectorError::Reserved(vector));
    }
    HANDLERS[vector as usize]
        .compare_exchange(0, handler as usize, Ordering::SeqCst, Ordering::SeqCst)
        .map(|_| ())
        .map_err(|_| VectorError::Taken(vector))
}

/// Sets the hook that may claim NMIs.
pub fn set_nmi_hook(hook: NmiHook) {
    NMI_HOOK.store(hook as usize, Ordering::SeqCst);
}

/// Runs the registered handler of an interrupt; false when there is none.
fn dispatch_interrupt(frame: &mut TrapFrame) -> bool {
    let v = frame.vector as usize;
    if v == usize::from(super::apic::SPURIOUS_VECTOR) {
        return true; // spurious: no EOI (SDM §11.9)
    }
    let raw = HANDLERS[v].load(Ordering::Acquire);
    if raw == 0 {
        // Masked legacy PIC lines can still raise a spurious IRQ 7/15 (0x27/0x2f).
        return v == 0x27 || v == 0x2f;
    }
    // SAFETY: HANDLERS only ever holds 0 or a `Handler` cast to usize (see `register`).
    let handler = unsafe { core::mem::transmute::<usize, Handler>(raw) };
    handler(frame);
    super::apic::eoi();
    true
}

fn nmi_claimed(frame: &mut TrapFrame) -> bool {
    let raw = NMI_HOOK.load(Ordering::Acquire);
    if raw == 0 {
        return false;
    }
    // SAFETY: NMI_HOOK only ever holds 0 or an `NmiHook` cast to usize (set_nmi_hook).
    let hook = unsafe { core::mem::transmute::<usize, NmiHook>(raw) };
    hook(frame)
}

#[unsafe(no_mangle)]
extern "C" fn trap_dispatch(frame: &mut TrapFrame) {
    let v = frame.vector as u32;
    if v >= 32 {
        if dispatch_interrupt(frame) {
            return;
        }
        fatal(frame);
    }
    if v == 2 && nmi_claimed(frame) {
        return;
    }
    if EXPECTED_VECTOR
        .compare_exchange(v, NO_EXPECTATION, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
    {
        CAUGHT_RIP.store(frame.rip, Ordering::SeqCst);
        CAUGHT_ERROR.store(frame.error_code, Ordering::SeqCst);
        CAUGHT_CR2.store(super::cpu::cr2(), Ordering::SeqCst);
        CAUGHT_VECTOR.store(v, Ordering::SeqCst);
        frame.rip += EXPECTED_SKIP.load(Ordering::SeqCst);
        if SCRAMBLE_SSE.swap(false, Ordering::SeqCst) {
            scramble_sse();
        }
        return;
    }
    fatal(frame);
}

fn fatal(f: &TrapFrame) -> ! {
    let cr2 = super::cpu::cr2();
    super::hooks::print(format_args!(
        "\n!!! CPU exception {} ({}) on cpu {} apic {} error_code={:#x}\n\
         RIP={:#018x} CS={:#x} RFLAGS={:#x} RSP={:#018x} SS={:#x} CR2={:#018x}\n\
         RAX={:#018x} RBX={:#018x} RCX={:#018x} RDX={:#018x}\n\
         RSI={:#018x} RDI={:#018x} RBP={:#018x} R8 ={:#018x}\n\
         R9 ={:#018x} R10={:#018x} R11={:#018x} R12={:#018x}\n\
         R13={:#018x} R14={:#018x} R15={:#018x}\n",
        f.vector,
        vector_name(f.vector),
        super::percpu::current_index(),
        super::cpu::apic_id(),
        f.error_code,
        f.rip,
        f.cs,
        f.rflags,
        f.rsp,
        f.ss,
        cr2,
        f.rax,
        f.rbx,
        f.rcx,
        f.rdx,
        f.rsi,
        f.rdi,
        f.rbp,
        f.r8,
        f.r9,
        f.r10,
        f.r11,
        f.r12,
        f.r13,
        f.r14,
        f.r15,
    ));
    dump_stack(f.rsp);
    super::hooks::exception_exit()
}

/// Prints the top of the interrupted stack, but only when it lies in a stack this
/// kernel owns (a wild RSP must not cause a second fault while reporting the first).
fn dump_stack(rsp: u64) {
    let this_cpu = super::percpu::current().map_or((0, 0), |c| c.stacks);
    let known = [super::boot_stack_range(), gdt::bsp_ist_range(), this_cpu];
    const WORDS: u64 = 16;
    let ok = rsp.is_multiple_of(8)
        && known
            .iter()
            .any(|&(lo, hi)| rsp >= lo && rsp + WORDS * 8 <= hi);
    if !ok {
        super::hooks::print(format_args!(
            "stack: RSP outside known kernel stacks, not dumped\n"
        ));
        return;
    }
    super::hooks::print(format_args!("stack at {rsp:#x}:\n"));
    for i in 0..WORDS {
        let addr = rsp + i * 8;
        // SAFETY: addr lies inside a kernel stack checked above, which is mapped and
        // 8-byte aligned.
        let word = unsafe { (addr as *const u64).read_volatile() };
        super::hooks::print(format_args!("  {addr:#018x}: {word:#018x}\n"));
    }
}
