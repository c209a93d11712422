//! One emulated PCI function, independent of any socket: config space + register personality
//! (PTDMA or AE4DMA) + queue workers. The transport calls `cfg_read`/`cfg_write`/`bar_read`/
//! `bar_write`/`reset`; tests can do the same directly with a `VecMemory`.
//!
//! Follows qemu-proxy-protocol §4 (config ownership, BAR semantics), §5 (BAR accesses carry the
//! absolute guest-physical address; sizes 1/2/4/8) and §10.2 item 12 (the remote gates MMIO on
//! COMMAND.MEM and DMA on COMMAND.MASTER itself).

use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use crate::config_space::{ConfigSpace, Identity, CMD_INTX_DISABLE};
use crate::counters::Counters;
use crate::engine::{Shared, Timing};
use crate::faults::FaultPlan;
use crate::guestmem::GuestMemory;
use crate::msix::MsixTable;
use crate::sdxi::options::SdxiOptions;

/// Register-level behaviour behind the BAR, shared by both personalities.
pub trait Personality: Send {
    fn queues(&self) -> usize;
    /// Reads the 32-bit register at a 4-byte-aligned BAR offset (no side effects).
    fn read32(&self, off: u64) -> u32;
    /// Writes the bytes of `val` selected by `mask` to the register at `off`.
    fn write32(&self, off: u64, val: u32, mask: u32);
    fn reset(&self);
    /// Wakes the workers (e.g. after COMMAND.MASTER changed).
    fn kick(&self);
    /// Stops and joins the workers.
    fn stop(&mut self);
    /// True while every worker thread is alive (false after `stop` or if one died).
    fn healthy(&self) -> bool;
    /// Reads the 64-bit register at an 8-byte-aligned offset in one piece; None = the device
    /// splits the access into two `read32`s (the default).
    fn read64(&self, _off: u64) -> Option<u64> {
        None
    }
    /// Writes an 8-byte-aligned 64-bit register in one piece; false = split into `write32`s.
    fn write64(&self, _off: u64, _val: u64) -> bool {
        false
    }
    /// Reads from the doorbell BAR (`Identity::doorbell_bar`), `size` 1/2/4/8.
    fn doorbell_read(&self, _off: u64, _size: u32) -> u64 {
        0
    }
    /// Writes to the doorbell BAR in one piece, `size` 1/2/4/8.
    fn doorbell_write(&self, _off: u64, _val: u64, _size: u32) {}
}

/// Which device the function emulates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ptdma,
    Ae4dma,
    /// SNIA SDXI 1.0 (`crate::sdxi`).
    Sdxi,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ptdma => "ptdma",
            Kind::Ae4dma => "ae4dma",
            Kind::Sdxi => "sdxi",
        }
    }

    /// Config-space identity with the default SDXI options.
    pub fn identity(self) -> Identity {
        self.identity_with(&SdxiOptions::default())
    }

    /// Config-space identity; `sdxi` sizes the SDXI doorbell BAR (one page per context).
    pub fn identity_with(self, sdxi: &SdxiOptions) -> Identity {
        if self == Kind::Sdxi {
            let (class, subclass, prog_if) = crate::sdxi::CLASS;
            return Identity {
                vendor: crate::sdxi::VENDOR_ID,
                device: crate::sdxi::DEVICE_ID,
                class,
                subclass,
                prog_if,
                revision: 0,
                subsys_vendor: crate::sdxi::VENDOR_ID,
                subsys_id: crate::sdxi::DEVICE_ID,
                bar: 0,
                bar_size: crate::sdxi::regs::BAR0_SIZE,
                msix_vectors: 0,
                msix_bar: 0,
                doorbell_bar: 2,
                doorbell_bar_size: crate::sdxi::doorbell_bar_size(sdxi.max_cxt),
                intx_pin: 0,
            };
        }
        // MSI-X: PTDMA asks for 1 vector (Linux pt_get_msix_irqs), AE4DMA for one per queue
        // (ae4_get_irqs). PTDMA's table BAR 5 follows FreeBSD's CCP driver (ptdma-facts §1.2);
        // AE4DMA's BAR 2 is a model choice.
        let (device, bar, msix_vectors, msix_bar) = match self {
            Kind::Ptdma => (0x1498, 2, 1, 5),
            _ => (0x149b, 0, crate::ae4dma::NUM_QUEUES as u16, 2),
        };
        Identity {
            vendor: 0x1022,
            device,
            class: 0x10,
            subclass: 0x80,
            prog_if: 0,
            revision: 0,
            subsys_vendor: 0x1022,
            subsys_id: device,
            bar,
            bar_size: 1 << 20,
            msix_vectors,
            msix_bar,
            doorbell_bar: 0,
            doorbell_bar_size: 0,
            intx_pin: 1,
        }
    }
}

/// Static options of a function.
#[derive(Clone, Debug)]
pub struct DeviceOptions {
    pub kind: Kind,
    pub timing: Timing,
    pub faults: Arc<FaultPlan>,
    pub function: usize,
    /// SDXI model options (ignored by the other kinds).
    pub sdxi: SdxiOptions,
}

pub struct Device {
    kind: Kind,
    cfg: ConfigSpace,
    msix: Mutex<MsixTable>,
    shared: Arc<Shared>,
    regs: Box<dyn Personality>,
}

impl Device {
    pub fn new(opts: &DeviceOptions, mem: Arc<dyn GuestMemory>) -> Device {
        let queues = match opts.kind {
            Kind::Ptdma => 1,
            Kind::Ae4dma => crate::ae4dma::NUM_QUEUES,
            Kind::Sdxi => usize::from(opts.sdxi.max_cxt) + 1,
        };
        let counters = Arc::new(Counters::new(opts.function, opts.kind.name(), queues));
        let shared = Arc::new(Shared::new(mem, opts.timing, opts.faults.clone(), counters));
        let regs: Box<dyn Personality> = match opts.kind {
            Kind::Ptdma => Box::new(crate::ptdma::Ptdma::new(shared.clone())),
            Kind::Ae4dma => Box::new(crate::ae4dma::Ae4dma::new(shared.clone())),
            Kind::Sdxi => Box::new(crate::sdxi::Sdxi::new(shared.clone(), opts.sdxi)),
        };
        let id = opts.kind.identity_with(&opts.sdxi);
        Device {
            kind: opts.kind,
            msix: Mutex::new(MsixTable::new(id.msix_vectors)),
            cfg: ConfigSpace::new(id),
            shared,
            regs,
        }
    }

    pub fn counters(&self) -> Arc<Counters> {
        self.shared.counters.clone()
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    fn vanished(&self) -> bool {
        self.shared.vanished.load(Ordering::SeqCst)
    }

    /// Applies COMMAND and the interrupt-mode bits: with MSI or MSI-X enabled the function
    /// must not assert INTx (PCI 3.0 §6.8), as with COMMAND.INTX_DISABLE.
    fn sync_command(&self) {
        let cmd = self.cfg.command();
        self.shared
            .master
            .store(self.cfg.master_enabled(), Ordering::SeqCst);
        let (msix, _) = self.cfg.msix_control();
        let msi = self.cfg.msi_enabled();
        self.shared
            .intx_disabled
            .store(cmd & CMD_INTX_DISABLE != 0 || msix || msi, Ordering::SeqCst);
        self.shared.counters.with(|c| {
            c.msi_enabled = msi;
            c.msix_enabled = msix;
        });
        self.regs.kick();
    }

    fn msix_table(&self) -> std::sync::MutexGuard<'_, MsixTable> {
        crate::engine::lock(&self.msix)
    }

    pub fn cfg_read(&self, addr: u32, len: u32) -> u32 {
        self.shared.counters.with(|c| {
            c.cfg_reads += 1;
            if addr < 4 {
                c.id_reads += 1;
            }
        });
        if self.vanished() {
            return if len >= 4 {
                u32::MAX
            } else {
                (1u32 << (8 * len)) - 1
            };
        }
        self.cfg.read(addr, len)
    }

    pub fn cfg_write(&mut self, addr: u32, val: u32, len: u32) {
        self.shared.counters.with(|c| c.cfg_writes += 1);
        if self.vanished() {
            return;
        }
        if !self.cfg.write(addr, val, len) {
            tracing::warn!("ignored config write addr={addr:#x} len={len}");
        }
        let bar_off = 0x10 + 4 * self.cfg.identity().bar as u32;
        if addr <= bar_off && u64::from(addr) + u64::from(len) > u64::from(bar_off) {
            let base = self.cfg.bar_base();
            let all_ones = u64::from(!(self.cfg.identity().bar_size - 1));
            if base != 0 && base != all_ones {
                tracing::info!("BAR{} assigned at {base:#x}", self.cfg.identity().bar);
                self.shared.counters.with(|c| {
                    c.bar_assignments += 1;
                    c.bar_assigned = base;
                });
            }
        }
        self.sync_command();
    }

    fn reg_name(&self, off: u64) -> (Option<usize>, &'static str) {
        match self.kind() {
            Kind::Ptdma => crate::ptdma::reg_name(off),
            Kind::Ae4dma => crate::ae4dma::reg_name(off),
            Kind::Sdxi => crate::sdxi::reg_name(off),
        }
    }

    /// Dwords touched by an access: (dword offset, byte mask within it, shift of the value).
    fn split(off: u64, size: u32) -> Vec<(u64, u32, i32)> {
        let mut out = Vec::new();
        let end = off + u64::from(size);
        let mut dw = off & !3;
        while dw < end {
            let lo = off.max(dw);
            let hi = end.min(dw + 4);
            let mut mask = 0u32;
            for b in lo..hi {
                mask |= 0xff << ((b - dw) * 8);
            }
            out.push((dw, mask, ((dw as i64 - off as i64) * 8) as i32));
            dw += 4;
        }
        out
    }

    /// Handles a BAR_READ: `gpa` is absolute, `size` 1/2/4/8. Unclaimed reads return all-ones.
    pub fn bar_read(&self, gpa: u64, size: u32) -> u64 {
        let claimed = matches!(size, 1 | 2 | 4 | 8) && !self.vanished();
        if let Some(off) = self.cfg.msix_bar_offset(gpa, size).filter(|_| claimed) {
            self.shared.counters.with(|c| c.msix_reads += 1);
            let t = self.msix_table();
            return Self::split(off, size)
                .into_iter()
                .fold(0u64, |v, (dw, mask, shift)| {
                    let part = u64::from(t.read32(dw) & mask);
                    v | if shift >= 0 {
                        part << shift
                    } else {
                        part >> -shift
                    }
                });
        }
        if let Some(off) = self.cfg.doorbell_bar_offset(gpa, size).filter(|_| claimed) {
            self.shared.counters.with(|c| c.bar_reads += 1);
            return self.regs.doorbell_read(off, size);
        }
        let off = self.cfg.bar_offset(gpa, size).filter(|_| claimed);
        self.shared.counters.with(|c| {
            c.bar_reads += 1;
            c.bar_unclaimed += u64::from(off.is_none());
        });
        let Some(off) = off else {
            return if size >= 8 {
                u64::MAX
            } else {
                (1u64 << (8 * size.clamp(1, 4))) - 1
            };
        };
        if size == 8 && off % 8 == 0 {
            if let Some(v) = self.regs.read64(off) {
                let (q, name) = self.reg_name(off);
                self.shared.counters.mmio(q, name, false);
                return v;
            }
        }
        let mut v = 0u64;
        for (dw, mask, shift) in Self::split(off, size) {
            let (q, name) = self.reg_name(dw);
            self.shared.counters.mmio(q, name, false);
            let part = u64::from(self.regs.read32(dw) & mask);
            v |= if shift >= 0 {
                part << shift
            } else {
                part >> -shift
            };
        }
        v
    }

    /// Handles a BAR_WRITE (absolute `gpa`, `size` 1/2/4/8, value zero-extended).
    pub fn bar_write(&self, gpa: u64, val: u64, size: u32) {
        let claimed = matches!(size, 1 | 2 | 4 | 8) && !self.vanished();
        if let Some(off) = self.cfg.msix_bar_offset(gpa, size).filter(|_| claimed) {
            let mut t = self.msix_table();
            for (dw, mask, shift) in Self::split(off, size) {
                let v = if shift >= 0 {
                    val >> shift
                } else {
                    val << -shift
                };
                t.write32(dw, v as u32 & mask, mask);
            }
            let unmasked = t.unmasked();
            self.shared.counters.with(|c| {
                c.msix_writes += 1;
                c.msix_unmasked = unmasked;
            });
            return;
        }
        if let Some(off) = self.cfg.doorbell_bar_offset(gpa, size).filter(|_| claimed) {
            self.shared.counters.with(|c| c.bar_writes += 1);
            self.regs.doorbell_write(off, val, size);
            return;
        }
        let off = self.cfg.bar_offset(gpa, size).filter(|_| claimed);
        self.shared.counters.with(|c| {
            c.bar_writes += 1;
            c.bar_unclaimed += u64::from(off.is_none());
        });
        let Some(off) = off else { return };
        if size == 8 && off % 8 == 0 {
            let (q, name) = self.reg_name(off);
            if self.regs.write64(off, val) {
                self.shared.counters.mmio(q, name, true);
                return;
            }
        }
        for (dw, mask, shift) in Self::split(off, size) {
            let (q, name) = self.reg_name(dw);
            self.shared.counters.mmio(q, name, true);
            let v = if shift >= 0 {
                val >> shift
            } else {
                val << -shift
            };
            self.regs.write32(dw, v as u32 & mask, mask);
        }
    }

    /// DEVICE_RESET: config space and all queue state back to power-on.
    pub fn reset(&mut self) {
        self.shared.counters.with(|c| c.resets += 1);
        self.cfg.reset();
        self.msix_table().reset();
        self.regs.reset();
        self.sync_command();
    }

    /// SET_IRQFD: `fds[0]` = irqfd (assert), `fds[1]` = resamplefd (re-assert while high).
    pub fn set_irqfd(&self, fds: Vec<OwnedFd>) {
        self.shared.counters.with(|c| c.set_irqfd += 1);
        let mut it = fds.into_iter();
        let (irq, rs) = (it.next(), it.next());
        self.shared.set_irqfd(irq, rs);
    }

    /// True while all queue worker threads are running (used by tests to catch worker panics).
    pub fn healthy(&self) -> bool {
        self.regs.healthy()
    }

    /// Stops the queue workers (idempotent).
    pub fn stop(&mut self) {
        self.regs.stop();
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_accesses() {
        assert_eq!(Device::split(0x8, 4), vec![(0x8, 0xffff_ffff, 0)]);
        assert_eq!(Device::split(0xe, 1), vec![(0xc, 0x00ff_0000, -16)]);
        assert_eq!(
            Device::split(0x8, 8),
            vec![(0x8, u32::MAX, 0), (0xc, u32::MAX, 32)]
        );
        assert_eq!(
            Device::split(0xe, 4),
            vec![(0xc, 0xffff_0000, -16), (0x10, 0xffff, 16)]
        );
    }
}
