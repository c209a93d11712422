//! GDT and TSS with interrupt stacks (IST).
//!
//! The precompiled `core` uses the red zone, so no interrupt frame may ever be pushed
//! onto an interrupted kernel stack: every IDT gate names an IST stack (see `traps`).
//! Separate stacks for the double fault, NMI and machine check mean that a fault while
//! handling an ordinary exception still gets a clean stack to report on.

use spin::Once;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::registers::segmentation::SegmentSelector;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// IST slot (1-based, as the IDT gate encodes it) for ordinary exceptions.
pub const IST_EXCEPTION: u8 = 1;
/// IST slot for the double fault.
pub const IST_DOUBLE_FAULT: u8 = 2;
/// IST slot for NMI.
pub const IST_NMI: u8 = 3;
/// IST slot for machine checks.
pub const IST_MACHINE_CHECK: u8 = 4;
/// IST slot for external interrupts and IPIs.
pub const IST_IRQ: u8 = 5;
/// IST slots in use.
pub const IST_COUNT: usize = 5;

/// Bytes per IST stack.
pub const IST_STACK_SIZE: usize = 32 * 1024;

/// Bytes of the unmapped guard page under each IST stack.
pub const GUARD_SIZE: usize = 4096;
const SLOT: usize = GUARD_SIZE + IST_STACK_SIZE;

/// Each slot is a guard page followed by the stack; the kernel's page tables leave the
/// guard pages unmapped, so an overflow faults (onto the double-fault stack).
#[repr(C, align(4096))]
struct IstStacks([[u8; SLOT]; IST_COUNT]);

static mut BSP_IST_STACKS: IstStacks = IstStacks([[0; SLOT]; IST_COUNT]);

struct Tables {
    gdt: GlobalDescriptorTable,
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

static BSP_TSS: Once<TaskStateSegment> = Once::new();
static BSP_TABLES: Once<Tables> = Once::new();

/// Kernel code selector (the same in every CPU's GDT).
pub fn kernel_code_selector() -> u16 {
    BSP_TABLES.get().map_or(0x08, |t| t.code.0)
}

/// Builds and loads the boot CPU's GDT and TSS. Called once, before the IDT.
pub fn init_bsp() {
    let tss = BSP_TSS.call_once(|| {
        let base = (&raw const BSP_IST_STACKS) as u64;
        let mut tss = TaskStateSegment::new();
        for i in 0..IST_COUNT {
            // Stacks grow down: each slot gets the top of its array.
            let top = base + ((i + 1) * SLOT) as u64;
            tss.interrupt_stack_table[i] = VirtAddr::new(top);
        }
        tss
    });
    let tables = BSP_TABLES.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let tss = gdt.append(Descriptor::tss_segment(tss));
        Tables {
            gdt,
            code,
            data,
            tss,
        }
    });
    tables.gdt.load();
    // SAFETY: the selectors index descriptors of the GDT just loaded, which is 'static.
    unsafe {
        CS::set_reg(tables.code);
        SS::set_reg(tables.data);
        DS::set_reg(tables.data);
        ES::set_reg(tables.data);
        load_tss(tables.tss);
    }
}

/// Builds and loads an application processor's own GDT and TSS, whose IST stacks end at
/// `ist_tops` (allocated by `smp` from the CPU's node, each above an unmapped guard page).
/// The tables are leaked: a CPU keeps them for the whole run. Selectors equal the BSP's,
/// so the shared IDT's code selector is valid on every CPU.
pub fn init_ap(ist_tops: [u64; IST_COUNT]) {
    let mut tss = TaskStateSegment::new();
    for (i, &top) in ist_tops.iter().enumerate() {
        tss.interrupt_stack_table[i] = VirtAddr::new(top);
    }
    let tss: &'static TaskStateSegment = alloc::boxed::Box::leak(alloc::boxed::Box::new(tss));
    let mut gdt = GlobalDescriptorTable::new();
    let code = gdt.append(Descriptor::kernel_code_segment());
    let data = gdt.append(Descriptor::kernel_data_segment());
    let tss_sel = gdt.append(Descriptor::tss_segment(tss));
    let gdt: &'static GlobalDescriptorTable = alloc::boxed::Box::leak(alloc::boxed::Box::new(gdt));
    gdt.load();
    // SAFETY: the selectors index descriptors of the GDT just loaded, which is leaked
    // ('static); GS is not reloaded, so the per-CPU GS base set later stays.
    unsafe {
        CS::set_reg(code);
        SS::set_reg(data);
        DS::set_reg(data);
        ES::set_reg(data);
        load_tss(tss_sel);
    }
}

/// The range of the boot CPU's IST stacks (guards included), for the stack-dump check.
pub fn bsp_ist_range() -> (u64, u64) {
    let base = (&raw const BSP_IST_STACKS) as u64;
    (base, base + (IST_COUNT * SLOT) as u64)
}

/// Physical addresses of the guard pages under the boot CPU's IST stacks.
pub fn bsp_ist_guards() -> impl Iterator<Item = u64> {
    let base = (&raw const BSP_IST_STACKS) as u64;
    (0..IST_COUNT).map(move |i| base + (i * SLOT) as u64)
}
