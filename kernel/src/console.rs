//! The console: `print!`/`println!` to COM1 from any CPU and from exception handlers,
//! mirrored to the framebuffer (`fbcon`) when the loader set one up.
//!
//! One lock serializes whole messages. A CPU that faults while it holds the lock (an
//! exception inside `println!`) would deadlock on a plain spin lock, so the lock
//! remembers its owner: the owner re-entering writes through an unlocked emergency
//! writer instead. Before the UART is up, output is dropped.

use crate::arch::cpu;
use alloc::string::String;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use kcore::serialspec::SerialSpec;
use serial::{Baud, EmergencyWriter, SerialError, SerialPort, COM1};
use spin::Mutex;

static PORT: Mutex<Option<SerialPort>> = Mutex::new(None);
/// I/O base of the UART in PORT, for the emergency writer (0: none).
static PORT_BASE: AtomicU16 = AtomicU16::new(0);
const NO_OWNER: u32 = u32::MAX;
static OWNER: AtomicU32 = AtomicU32::new(NO_OWNER);

/// Brings up COM1 at 115200 8-N-1.
///
/// # Errors
/// The [`SerialError`] of `serial::SerialPort::init` for COM1: `NotPresent` when no UART
/// answers at 0x3f8 (scratch register test), `InitFailed` when its init fails (115200 baud
/// is divisor 1, so only a device that stops answering). `BadPort` cannot happen for
/// COM1. The console then has no serial port.
pub fn init() -> Result<(), SerialError> {
    // SAFETY: COM1 is the standard PC serial port; only the console drives it.
    let port = unsafe { SerialPort::init(COM1, Baud::Baud115200) }?;
    *PORT.lock() = Some(port);
    PORT_BASE.store(COM1, Ordering::Relaxed);
    Ok(())
}

/// Moves the console to the port `console=` names, else to the one the firmware's SPCR
/// names (a server's BMC serial-over-LAN is often COM2), else keeps COM1. A port where
/// no UART answers leaves the screen as the only console. Returns a line for the log.
pub fn select_serial(spec: Option<SerialSpec>, spcr: Option<u16>) -> String {
    let (port, baud, why) = match (spec, spcr) {
        (Some(s), _) => (s.port, s.baud, "console="),
        (None, Some(p)) => (Some(p), 115_200, "ACPI SPCR"),
        (None, None) => return describe(PORT_BASE.load(Ordering::Relaxed), "default"),
    };
    let Some(port) = port else {
        PORT_BASE.store(0, Ordering::Relaxed);
        *PORT.lock() = None;
        return "console: serial off (console=none); screen only".into();
    };
    if port == PORT_BASE.load(Ordering::Relaxed) && baud == 115_200 {
        return describe(port, why);
    }
    let baud = match baud {
        115_200 => Baud::Baud115200,
        57_600 => Baud::Baud57600,
        38_400 => Baud::Baud38400,
        9_600 => Baud::Baud9600,
        b => Baud::Custom(b),
    };
    // SAFETY: the user or the firmware names this I/O range as the console UART; the
    // old port is dropped under the same lock, so only one UART is driven at a time.
    let new = unsafe { SerialPort::init(port, baud) };
    let mut guard = PORT.lock();
    match new {
        Ok(p) => {
            *guard = Some(p);
            PORT_BASE.store(port, Ordering::Relaxed);
            drop(guard);
            describe(port, why)
        }
        Err(e) => alloc::format!(
            "console: {e} (asked by {why}); keeping {}",
            if guard.is_some() {
                "the previous port"
            } else {
                "the screen only"
            }
        ),
    }
}

fn describe(port: u16, why: &str) -> String {
    match port {
        0 => "console: no serial port answers; screen only".into(),
        p => alloc::format!("console: serial at {p:#x} ({why})"),
    }
}

/// Runs `f` with the serial port, under the console lock (for the loopback self-test).
pub fn with_port<R>(f: impl FnOnce(&mut SerialPort) -> R) -> Option<R> {
    let mut guard = PORT.lock();
    guard.as_mut().map(f)
}

/// Prints formatted text; the engine behind `print!` and `println!`.
pub fn print_fmt(args: fmt::Arguments<'_>) {
    let me = cpu::apic_id();
    loop {
        if let Some(mut guard) = PORT.try_lock() {
            OWNER.store(me, Ordering::Relaxed);
            if let Some(port) = guard.as_mut() {
                let _ = port.write_fmt(args);
            }
            // The screen mirrors every line (under this lock, so lines never interleave).
            crate::fbcon::write_fmt(args);
            OWNER.store(NO_OWNER, Ordering::Relaxed);
            return;
        }
        if OWNER.load(Ordering::Relaxed) == me {
            let base = PORT_BASE.load(Ordering::Relaxed);
            if base == 0 {
                return; // no UART: the screen is busy with the interrupted line
            }
            // SAFETY: the console's UART at `base` was initialized (the lock holder is a
            // print in progress).
            if let Some(mut w) = unsafe { EmergencyWriter::new(base) } {
                let _ = w.write_fmt(args);
            }
            return;
        }
        core::hint::spin_loop();
    }
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::console::print_fmt(format_args!($($arg)*)));
}

/// Prints to the console, with a newline.
#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::console::print_fmt(format_args!("{}\n", format_args!($($arg)*))));
}
