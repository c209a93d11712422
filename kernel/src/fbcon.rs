//! The screen console: every console line also goes to the loader's framebuffer, so a
//! server without a serial port (or with nobody listening) still shows the run. The
//! text layout is `kcore::fbtext`; this module owns the framebuffer memory — the only
//! place pixels are written, hence the one `unsafe` that turns the physical range into
//! a slice.
//!
//! Mapping: the boot page tables identity-map the first 4 GiB, so a framebuffer below
//! that is written right after [`attach`]. `mm::init` replaces those tables with ones
//! that map RAM only: [`suspend`] stops drawing before the switch and [`map_after_paging`]
//! maps the framebuffer uncached (write-combining would be faster but needs the PAT
//! programmed) and resumes. A framebuffer above 4 GiB is first drawn after that.
//! Output printed before [`attach`] is kept (up to [`EARLY_BYTES`]) and replayed.

use crate::bootinfo::Framebuffer;
use crate::mm::paging;
use alloc::string::String;
use core::fmt::{self, Write};
use kcore::fbtext::TextConsole;
use spin::Mutex;

/// Bytes of early console output kept for the screen until the framebuffer is known.
pub const EARLY_BYTES: usize = 4096;
/// The boot page tables identity-map this much (see `boot`).
const BOOT_MAP_LIMIT: u64 = 4 << 30;

struct Screen {
    console: Option<TextConsole>,
    addr: u64,
    /// True while `addr` is mapped in the current page tables.
    mapped: bool,
    /// False once it is known there is no framebuffer (no early buffering then).
    expecting: bool,
    early: [u8; EARLY_BYTES],
    early_len: usize,
}

static SCREEN: Mutex<Screen> = Mutex::new(Screen {
    console: None,
    addr: 0,
    mapped: false,
    expecting: true,
    early: [0; EARLY_BYTES],
    early_len: 0,
});

impl Screen {
    fn draw(&mut self, s: &str) {
        match (&mut self.console, self.mapped) {
            (Some(con), true) => {
                let len = con.geometry().len();
                // SAFETY: `addr..addr+len` is the framebuffer the loader described, mapped
                // in the current page tables (`mapped`), and only this module writes it,
                // under the SCREEN lock.
                let fb = unsafe { core::slice::from_raw_parts_mut(self.addr as *mut u8, len) };
                con.write_str(fb, s);
            }
            (None, _) if self.expecting => {
                let room = EARLY_BYTES - self.early_len;
                let n = s.len().min(room);
                self.early[self.early_len..self.early_len + n].copy_from_slice(&s.as_bytes()[..n]);
                self.early_len += n;
            }
            _ => {}
        }
    }

    fn replay_early(&mut self) {
        let early = self.early;
        let text = String::from_utf8_lossy(&early[..self.early_len]);
        self.early_len = 0;
        self.draw(&text);
    }

    fn clear(&mut self) {
        if let (Some(con), true) = (&mut self.console, self.mapped) {
            let len = con.geometry().len();
            // SAFETY: as in `draw`.
            let fb = unsafe { core::slice::from_raw_parts_mut(self.addr as *mut u8, len) };
            con.clear(fb);
        }
    }
}

impl Write for Screen {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.draw(s);
        Ok(())
    }
}

/// Draws formatted text (called by the console under its lock). Skips rather than
/// waits if the screen is busy: only a fault inside drawing can cause that.
pub fn write_fmt(args: fmt::Arguments<'_>) {
    if let Some(mut s) = SCREEN.try_lock() {
        let _ = s.write_fmt(args);
    }
}

/// Takes over the loader's framebuffer (or notes there is none) and replays the early
/// output. Returns a line for the boot log.
pub fn attach(fb: Option<Framebuffer>) -> String {
    let mut s = SCREEN.lock();
    s.expecting = false;
    let Some(fb) = fb else {
        s.early_len = 0;
        return "screen: no framebuffer from the loader (serial console only)".into();
    };
    let geo = fb.geometry;
    let console = match TextConsole::new(geo) {
        Ok(c) => c,
        Err(e) => {
            s.early_len = 0;
            return alloc::format!("screen: framebuffer at {:#x} unusable: {e}", fb.addr);
        }
    };
    let (cols, rows) = console.size();
    s.console = Some(console);
    s.addr = fb.addr;
    s.mapped = fb.addr.saturating_add(geo.len() as u64) <= BOOT_MAP_LIMIT;
    s.clear();
    s.replay_early();
    alloc::format!(
        "screen: {}x{} {} bpp framebuffer at {:#x}: {cols}x{rows} text console{}",
        geo.width,
        geo.height,
        geo.bpp,
        fb.addr,
        if s.mapped {
            ""
        } else {
            " (from when it is mapped)"
        }
    )
}

/// True when console output reaches the screen now.
pub fn active() -> bool {
    let s = SCREEN.lock();
    s.console.is_some() && s.mapped
}

/// Stops drawing: the page tables are about to change.
pub fn suspend() {
    SCREEN.lock().mapped = false;
}

/// Maps the framebuffer in the kernel's tables and resumes drawing. Also called when
/// `mm::init` failed, so its error reaches the screen: if the kernel tables were never
/// switched to, the boot identity map still covers a framebuffer below 4 GiB.
///
/// # Errors
/// The [`crate::mm::MmError`] of mapping the framebuffer (drawing stays off).
pub fn map_after_paging() -> Result<(), crate::mm::MmError> {
    let mut s = SCREEN.lock();
    let Some(len) = s.console.as_ref().map(|c| c.geometry().len() as u64) else {
        return Ok(());
    };
    // The kernel image is mapped in the kernel tables from the moment they are active.
    if paging::translate(crate::kernel_image_range().0).is_none() {
        s.mapped = s.addr.saturating_add(len) <= BOOT_MAP_LIMIT;
        return Ok(());
    }
    paging::map_mmio(s.addr, len)?;
    s.mapped = true;
    Ok(())
}
