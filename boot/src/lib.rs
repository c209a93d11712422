//! Boot entry of the foliomove kernel.
//!
//! One ELF boots two ways: QEMU's `-kernel` loader finds the PVH ELF note
//! (`XEN_ELFNOTE_PHYS32_ENTRY`) and enters `_start32` with EBX = `hvm_start_info`;
//! GRUB finds the multiboot2 header and enters the same `_start32` with
//! EAX = 0x36d76289 and EBX = the multiboot2 information. Both enter in 32-bit
//! protected mode with paging off, so the path is shared: zero `.bss`, build
//! identity page tables for the first 4 GiB (2 MiB pages), enable PAE + long mode,
//! switch to a 64-bit GDT, turn on SSE (the precompiled `core` uses it), and call
//! the kernel's `kmain(magic: u32, info: u32)`.
//!
//! Application processors (APs) start in real mode at [`AP_TRAMPOLINE`] (the kernel copies
//! `ap_tramp_start..ap_tramp_end` there and sends INIT-SIPI-SIPI): 16-bit → 32-bit with
//! the boot identity tables (`boot_pml4`, no NX bits, so the low trampoline page may run)
//! → 64-bit, then `ap_start64` in the kernel text switches to the kernel's CR3/CR0/CR4
//! taken from the parameter block and calls `ap_main(arg)` on the AP's own stack.
//!
//! The layout of the image is fixed by `boot/linker.ld`, which the kernel's
//! `build.rs` passes to the linker. This crate is nothing but assembly: the
//! facts it follows are in `shared/reference/boot-recipe.md`.
#![no_std]

/// Magic value in EAX when a multiboot2 loader (GRUB) started the kernel.
pub const MULTIBOOT2_MAGIC: u32 = 0x36d7_6289;

/// Magic value at offset 0 of the PVH `hvm_start_info` structure.
pub const PVH_START_INFO_MAGIC: u32 = 0x336e_c578;

/// Physical address where the kernel copies the AP trampoline (page-aligned, below 1 MiB:
/// the SIPI vector is the page number).
pub const AP_TRAMPOLINE: u64 = 0x8000;

/// Offset in the trampoline page of the parameter block the kernel fills before each
/// SIPI: +0 boot CR3 (u32, the identity tables), +8 entry (`ap_start64`), +16 kernel CR3,
/// +24 CR0, +32 CR4, +40 stack top, +48 argument for `ap_main`, +56 address of a table of
/// [`ApSlot`] (0 = one AP at a time, using +40/+48), +64 its number of entries.
///
/// With a table (many APs started at once) each AP finds its own slot by its APIC ID:
/// CPUID leaf 0xB EDX (the x2APIC ID) where leaf 0xB exists, else CPUID 1 EBX\[31:24\]. An
/// AP without a slot halts.
pub const AP_PARAMS: u64 = 0xf00;

/// One entry of the AP start table (24 bytes, read by `ap_start64` in kernel tables).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApSlot {
    /// The AP's APIC ID (x2APIC ID, zero-extended).
    pub apic_id: u64,
    /// Its stack top.
    pub stack_top: u64,
    /// The argument for `ap_main` (its per-CPU block).
    pub arg: u64,
}

/// Size of the boot CPU's stack, set up before any Rust runs.
pub const BOOT_STACK_SIZE: usize = 64 * 1024;

// Hand-written because no crate provides a PVH + multiboot2 32-bit entry for a
// kernel linked as a host-target static ELF; the sequence is the one booted in
// `shared/reference/boot-recipe.md`.
core::arch::global_asm!(
    r#"
    .set MB2_MAGIC, 0xE85250D6
    .set MB2_ARCH_I386, 0

    /* ---- multiboot2 header: must sit in the first 32 KiB of the file ---- */
    .section .multiboot2, "a"
    .balign 8
mb2_header_start:
    .long MB2_MAGIC
    .long MB2_ARCH_I386
    .long mb2_header_end - mb2_header_start
    .long 0x100000000 - (MB2_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header_start))
    /* framebuffer request, flagged optional (flags bit 0) so a loader that cannot set a
       graphics mode still boots us in text mode: 1024x768, 32 bpp preferred */
    .balign 8
    .short 5
    .short 1
    .long 20
    .long 1024
    .long 768
    .long 32
    /* end tag */
    .balign 8
    .short 0
    .short 0
    .long 8
mb2_header_end:

    /* ---- PVH entry note read by QEMU's -kernel loader ---- */
    .section .note.Xen, "a", @note
    .balign 4
    .long 4            /* namesz: "Xen\0" */
    .long 8            /* descsz */
    .long 18           /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .balign 4
    .quad _start32
    .balign 4

    /* ---- values the 32-bit entry saves for kmain (in .data: .bss is zeroed) ---- */
    .section .data.boot, "aw"
    .balign 4
    .global boot_magic
boot_magic:
    .long 0
    .global boot_info_addr
boot_info_addr:
    .long 0

    .balign 8
boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF    /* 0x08: 64-bit code, DPL0 */
    .quad 0x00CF92000000FFFF    /* 0x10: data, DPL0 */
boot_gdt_end:
boot_gdt_ptr:
    .short boot_gdt_end - boot_gdt - 1
    .long boot_gdt

    /* ---- page tables and the boot stack live in .bss ---- */
    .section .bss.boot, "aw", @nobits
    .balign 4096
    .global boot_pml4
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_pd:
    .skip 4096 * 4
    /* one unmapped page under the stack (the kernel's page tables leave it out) */
    .balign 4096
    .global boot_stack_guard
boot_stack_guard:
    .skip 4096
    .global boot_stack_bottom
boot_stack_bottom:
    .skip {stack_size}
    .global boot_stack_top
boot_stack_top:

    /* ---- 32-bit entry ---- */
    .section .text.boot32, "ax"
    .code32
    .global _start32
_start32:
    cli
    cld
    movl %eax, boot_magic
    movl %ebx, boot_info_addr

    /* zero .bss: the loaders are asked to, but a stale stack or table would be fatal */
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    xorl %eax, %eax
    rep stosb

    movl $boot_stack_top, %esp

    /* PML4[0] -> PDPT; PDPT[0..4] -> four page directories; 2048 x 2 MiB = 4 GiB identity */
    movl $boot_pdpt, %eax
    orl $0x3, %eax
    movl %eax, boot_pml4

    movl $boot_pd, %eax
    orl $0x3, %eax
    xorl %ecx, %ecx
1:
    movl %eax, boot_pdpt(,%ecx,8)
    addl $4096, %eax
    incl %ecx
    cmpl $4, %ecx
    jne 1b

    movl $0x83, %eax            /* present | writable | 2 MiB page */
    xorl %ecx, %ecx
2:
    movl %eax, boot_pd(,%ecx,8)
    addl $0x200000, %eax
    incl %ecx
    cmpl $2048, %ecx
    jne 2b

    /* CR4.PAE */
    movl %cr4, %eax
    orl $0x20, %eax
    movl %eax, %cr4

    movl $boot_pml4, %eax
    movl %eax, %cr3

    /* EFER.LME */
    movl $0xC0000080, %ecx
    rdmsr
    orl $0x100, %eax
    wrmsr

    /* CR0.PG | CR0.PE */
    movl %cr0, %eax
    orl $0x80000001, %eax
    movl %eax, %cr0

    lgdt boot_gdt_ptr
    ljmp $0x08, $start64

    /* ---- 64-bit ---- */
    .code64
start64:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs

    /* SSE: CR0.EM = 0, CR0.MP = 1, CR4.OSFXSR | CR4.OSXMMEXCPT. Without it `core` hits #UD. */
    movq %cr0, %rax
    andq $~0x4, %rax
    orq $0x2, %rax
    movq %rax, %cr0
    movq %cr4, %rax
    orq $0x600, %rax
    movq %rax, %cr4
    fninit

    movabsq $boot_stack_top, %rsp
    xorq %rbp, %rbp
    movl boot_magic(%rip), %edi
    movl boot_info_addr(%rip), %esi
    call kmain
3:
    cli
    hlt
    jmp 3b
"#,
    stack_size = const BOOT_STACK_SIZE,
    options(att_syntax)
);

// AP entry: real mode at AP_TRAMPOLINE (CS = page, IP = 0). Position dependent on purpose:
// every address is `TRAMP + (label - ap_tramp_start)`, resolved by the assembler, because
// the bytes run at AP_TRAMPOLINE, not where the linker put them.
core::arch::global_asm!(
    r#"
    .set TRAMP, {tramp}
    .set PARAMS, {tramp} + {params}
    .section .rodata.ap_trampoline, "a"
    .balign 16
    .global ap_tramp_start
    .code16
ap_tramp_start:
    cli
    cld
    xorw %ax, %ax
    movw %ax, %ds
    lgdtl (TRAMP + (ap_gdt_ptr - ap_tramp_start))
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl $0x08, $(TRAMP + (ap_pm32 - ap_tramp_start))

    .code32
ap_pm32:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl %cr4, %eax
    orl $0x20, %eax                 /* PAE */
    movl %eax, %cr4
    movl (PARAMS), %eax             /* boot identity tables (no NX bits) */
    movl %eax, %cr3
    movl $0xC0000080, %ecx
    rdmsr
    orl $0x900, %eax                /* EFER.LME | EFER.NXE (the kernel tables use NX) */
    wrmsr
    movl %cr0, %eax
    orl $0x80000001, %eax           /* PG | PE */
    movl %eax, %cr0
    ljmp $0x18, $(TRAMP + (ap_lm64 - ap_tramp_start))

    .code64
ap_lm64:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movq (PARAMS + 8), %rax
    jmpq *%rax

    .balign 8
ap_gdt:
    .quad 0
    .quad 0x00CF9A000000FFFF        /* 0x08: 32-bit code */
    .quad 0x00CF92000000FFFF        /* 0x10: data */
    .quad 0x00AF9A000000FFFF        /* 0x18: 64-bit code */
ap_gdt_end:
ap_gdt_ptr:
    .short ap_gdt_end - ap_gdt - 1
    .long TRAMP + (ap_gdt - ap_tramp_start)
    .global ap_tramp_end
ap_tramp_end:

    .section .text.ap_start64, "ax"
    .global ap_start64
ap_start64:
    /* Read every parameter before leaving the boot tables (both map the page). */
    movq (PARAMS + 16), %rax
    movq (PARAMS + 24), %rbx
    movq (PARAMS + 32), %rcx
    movq (PARAMS + 40), %rdx
    movq (PARAMS + 48), %rdi
    movq (PARAMS + 56), %r8         /* ApSlot table, or 0 */
    movq (PARAMS + 64), %r9         /* its entries */
    movq %rcx, %cr4                 /* the BSP's: PAE, OSFXSR, OSXMMEXCPT, ... */
    movq %rax, %cr3                 /* the kernel tables (they map the table) */
    movq %rbx, %cr0                 /* the BSP's: WP, MP, no EM */
    testq %r8, %r8
    jz 7f
    /* Own APIC ID: CPUID 0xB EDX when leaf 0xB exists and is valid, else CPUID 1. */
    xorl %eax, %eax
    cpuid
    cmpl $0xb, %eax
    jb 5f
    movl $0xb, %eax
    xorl %ecx, %ecx
    cpuid
    testl %ebx, %ebx
    jz 5f
    movl %edx, %r10d
    jmp 6f
5:
    movl $1, %eax
    cpuid
    shrl $24, %ebx
    movl %ebx, %r10d
6:
    testq %r9, %r9
    jz 4f                           /* no slot for this AP: halt */
    cmpq %r10, (%r8)
    je 8f
    addq $24, %r8
    decq %r9
    jmp 6b
8:
    movq 8(%r8), %rdx
    movq 16(%r8), %rdi
7:
    movq %rdx, %rsp
    xorq %rbp, %rbp
    fninit
    call ap_main
4:
    cli
    hlt
    jmp 4b
"#,
    tramp = const AP_TRAMPOLINE,
    params = const AP_PARAMS,
    options(att_syntax)
);
