//! The panic handler: location and message, then the "panic" exit code.

use crate::exit::{self, ExitCode};
use core::sync::atomic::{AtomicBool, Ordering};

static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    if PANICKING.swap(true, Ordering::SeqCst) {
        // A panic while reporting a panic: don't risk a third.
        exit::exit(ExitCode::Panic);
    }
    match info.location() {
        Some(l) => crate::println!("\nPANIC at {}:{}: {}", l.file(), l.line(), info.message()),
        None => crate::println!("\nPANIC: {}", info.message()),
    }
    exit::exit(ExitCode::Panic)
}
