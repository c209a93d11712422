//! Collects what the loader passed — memory map, command line, ACPI RSDP, framebuffer — from either
//! a PVH `hvm_start_info` (QEMU `-kernel`) or multiboot2 tags (GRUB), with the BIOS
//! area scan as the RSDP fallback. The parsing itself lives in `kcore::bootinfo`.

use crate::arch;
use alloc::string::String;
use kcore::bootinfo::{self as kb, MemKind, MemRegion, MemoryMap};
use spin::Once;

/// Which loader started the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loader {
    /// QEMU's `-kernel` through the PVH ELF note.
    Pvh,
    /// A multiboot2 loader (GRUB).
    Multiboot2,
}

/// What the loader told the kernel.
#[derive(Debug)]
pub struct BootInfo {
    /// Which loader.
    pub loader: Loader,
    /// Physical memory map.
    pub memory: MemoryMap,
    /// The kernel command line (empty if none).
    pub cmdline: String,
    /// Physical address of the ACPI RSDP, if found.
    pub rsdp: Option<u64>,
    /// Where the RSDP came from (`pvh`, `multiboot2-v2`, `bios-scan`, …).
    pub rsdp_source: &'static str,
    /// The name the loader gave itself, if any.
    pub loader_name: Option<String>,
    /// Physical range of loader structures still referenced after boot (the multiboot2
    /// information holds the RSDP copy), to keep out of the frame allocator.
    pub loader_range: Option<(u64, u64)>,
    /// The framebuffer the loader set up (multiboot2 only), for the screen console.
    pub framebuffer: Option<Framebuffer>,
}

/// A linear framebuffer: physical address and layout.
#[derive(Debug, Clone, Copy)]
pub struct Framebuffer {
    /// Physical address of the first pixel (or text cell).
    pub addr: u64,
    /// Size, pitch and pixel format.
    pub geometry: kcore::fbtext::Geometry,
}

static BOOT_INFO: Once<BootInfo> = Once::new();

/// The boot information (after [`collect`]).
pub fn get() -> &'static BootInfo {
    BOOT_INFO
        .get()
        .expect("bootinfo::collect runs first in kmain")
}

/// Why the loader's structures could not be read (the kernel then exits with
/// `BadInput`: it has no memory map).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootError {
    /// EAX is not the multiboot2 magic and EBX does not point at a PVH `hvm_start_info`
    /// (its magic, checked first, is `kcore::bootinfo::PVH_MAGIC`; layout: Xen
    /// `include/public/arch-x86/hvm/start_info.h`).
    NotPvh(kb::BootInfoError),
    /// The PVH memory map table is shorter than its entry count says (24-byte entries).
    PvhMemmapTruncated,
    /// EAX has the multiboot2 magic but the information at EBX does not parse (misaligned,
    /// no end tag: Multiboot2 Specification §3.6.2 "Basic tags structure").
    Multiboot2(multiboot2::LoadError),
}

impl core::fmt::Display for BootError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotPvh(_) => write!(f, "neither multiboot2 magic nor PVH start_info"),
            Self::PvhMemmapTruncated => write!(f, "PVH memory map truncated"),
            Self::Multiboot2(_) => write!(f, "multiboot2 information is malformed"),
        }
    }
}

/// Reads the loader's structures. `magic`/`info` are EAX/EBX at entry.
///
/// # Errors
/// Without the multiboot2 magic in `magic`: [`BootError::NotPvh`] when `info` does not
/// point at a PVH start_info (wrong magic), [`BootError::PvhMemmapTruncated`] when its
/// memory map table cannot hold its entry count. With it: [`BootError::Multiboot2`] when
/// the multiboot2 information at `info` does not parse.
pub fn collect(magic: u32, info: u32) -> Result<&'static BootInfo, BootError> {
    let bi = if magic == boot::MULTIBOOT2_MAGIC {
        from_multiboot2(info)?
    } else {
        from_pvh(info)?
    };
    Ok(BOOT_INFO.call_once(|| bi))
}

fn c_string(paddr: u64) -> String {
    if paddr == 0 {
        return String::new();
    }
    // SAFETY: the loader placed a NUL-terminated string there in low, identity-mapped RAM.
    let bytes = unsafe { arch::phys_slice(paddr, 4096) };
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn from_pvh(info: u32) -> Result<BootInfo, BootError> {
    // SAFETY: EBX points at hvm_start_info under PVH; the magic is checked below.
    let raw = unsafe { arch::phys_slice(info as u64, kb::PVH_START_INFO_LEN) };
    let si = kb::parse_pvh_start_info(raw).map_err(BootError::NotPvh)?;
    let mut memory = MemoryMap::new();
    if si.memmap_entries > 0 {
        let len = si.memmap_entries as usize * kb::PVH_MEMMAP_ENTRY_LEN;
        // SAFETY: the table is in identity-mapped low RAM, `entries` long.
        let table = unsafe { arch::phys_slice(si.memmap_paddr, len) };
        kb::parse_pvh_memmap(table, si.memmap_entries, &mut memory)
            .map_err(|_| BootError::PvhMemmapTruncated)?;
    }
    let (rsdp, rsdp_source) = match si.rsdp_paddr {
        0 => scan_bios_for_rsdp(),
        p => (Some(p), "pvh"),
    };
    Ok(BootInfo {
        loader: Loader::Pvh,
        memory,
        cmdline: c_string(si.cmdline_paddr),
        rsdp,
        rsdp_source,
        loader_name: None,
        // Everything PVH passes is copied above or lies below 1 MiB (always reserved).
        loader_range: None,
        framebuffer: None,
    })
}

fn from_multiboot2(info: u32) -> Result<BootInfo, BootError> {
    use multiboot2::{BootInformation, BootInformationHeader};
    // SAFETY: EBX points at the multiboot2 information when EAX has the magic.
    let mb = unsafe { BootInformation::load(info as usize as *const BootInformationHeader) }
        .map_err(BootError::Multiboot2)?;
    let mut memory = MemoryMap::new();
    if let Some(tag) = mb.memory_map_tag() {
        for a in tag.memory_areas() {
            memory.push(MemRegion {
                start: a.start_address(),
                len: a.size(),
                kind: MemKind::from_e820(u32::from(a.typ())),
            });
        }
    }
    let cmdline = mb
        .command_line_tag()
        .and_then(|t| t.cmdline().ok())
        .map(String::from)
        .unwrap_or_default();
    // The tags embed a copy of the RSDP right after their 8-byte header.
    let (rsdp, rsdp_source) = if let Some(t) = mb.rsdp_v2_tag() {
        (Some(t as *const _ as *const u8 as u64 + 8), "multiboot2-v2")
    } else if let Some(t) = mb.rsdp_v1_tag() {
        (Some(t as *const _ as *const u8 as u64 + 8), "multiboot2-v1")
    } else {
        scan_bios_for_rsdp()
    };
    let loader_name = mb
        .boot_loader_name_tag()
        .and_then(|t| t.name().ok())
        .map(String::from);
    let loader_range = Some((mb.start_address() as u64, mb.end_address() as u64));
    Ok(BootInfo {
        loader: Loader::Multiboot2,
        memory,
        cmdline,
        rsdp,
        rsdp_source,
        loader_name,
        loader_range,
        framebuffer: framebuffer(&mb),
    })
}

/// The multiboot2 framebuffer tag, if the loader set up an RGB or EGA text framebuffer
/// (indexed-colour modes are not used: GRUB gives RGB when the header asks for 32 bpp).
fn framebuffer(mb: &multiboot2::BootInformation<'_>) -> Option<Framebuffer> {
    use kcore::fbtext::{Channel, Format, Geometry};
    use multiboot2::FramebufferType;
    let tag = mb.framebuffer_tag()?.ok()?;
    let format = match tag.buffer_type().ok()? {
        FramebufferType::RGB { red, green, blue } => {
            let ch = |f: multiboot2::FramebufferField| Channel {
                shift: f.position,
                bits: f.size,
            };
            Format::Rgb {
                red: ch(red),
                green: ch(green),
                blue: ch(blue),
            }
        }
        FramebufferType::Text => Format::EgaText,
        FramebufferType::Indexed { .. } => return None,
    };
    Some(Framebuffer {
        addr: tag.address(),
        geometry: Geometry {
            width: tag.width(),
            height: tag.height(),
            pitch: tag.pitch(),
            bpp: tag.bpp(),
            format,
        },
    })
}

/// The legacy BIOS search: the first KiB of the EBDA, then 0xE0000..0x100000.
fn scan_bios_for_rsdp() -> (Option<u64>, &'static str) {
    // SAFETY: the BIOS data area word at 0x40E holds the EBDA segment; low memory is
    // identity mapped.
    let ebda = unsafe { arch::phys_slice(0x40e, 2) };
    let ebda = (u16::from_le_bytes([ebda[0], ebda[1]]) as u64) << 4;
    if (0x80000..0xa0000).contains(&ebda) {
        // SAFETY: the EBDA lies below 640 KiB, identity mapped.
        let area = unsafe { arch::phys_slice(ebda, 1024) };
        if let Some(p) = kb::find_rsdp(area, ebda) {
            return (Some(p), "bios-scan");
        }
    }
    // SAFETY: the BIOS ROM area is identity mapped.
    let area = unsafe { arch::phys_slice(0xe0000, 0x20000) };
    (kb::find_rsdp(area, 0xe0000), "bios-scan")
}

/// True if the RSDP at `paddr` has a valid signature and checksum.
pub fn rsdp_valid(paddr: u64) -> bool {
    // SAFETY: RSDPs live in low identity-mapped memory; 36 bytes cover v2.
    kb::rsdp_is_valid(unsafe { arch::phys_slice(paddr, 36) })
}
