//! The console: `print!`/`println!` to COM1 from any CPU and from exception handlers.
//!
//! One lock serializes whole messages. A CPU that faults while it holds the lock (an
//! exception inside `println!`) would deadlock on a plain spin lock, so the lock
//! remembers its owner: the owner re-entering writes through an unlocked emergency
//! writer instead. Before the UART is up, output is dropped.

use crate::arch::cpu;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU32, Ordering};
use serial::{Baud, EmergencyWriter, SerialError, SerialPort, COM1};
use spin::Mutex;

static PORT: Mutex<Option<SerialPort>> = Mutex::new(None);
const NO_OWNER: u32 = u32::MAX;
static OWNER: AtomicU32 = AtomicU32::new(NO_OWNER);

/// Brings up COM1 at 115200 8-N-1.
pub fn init() -> Result<(), SerialError> {
    // SAFETY: COM1 is the standard PC serial port; only the console drives it.
    let port = unsafe { SerialPort::init(COM1, Baud::Baud115200) }?;
    *PORT.lock() = Some(port);
    Ok(())
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
            OWNER.store(NO_OWNER, Ordering::Relaxed);
            return;
        }
        if OWNER.load(Ordering::Relaxed) == me {
            // SAFETY: COM1 was initialized (the lock holder is a print in progress).
            if let Some(mut w) = unsafe { EmergencyWriter::new(COM1) } {
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
