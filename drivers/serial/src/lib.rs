//! The foliomove serial console: a 16550 UART (COM1 by default) through the
//! `uart_16550` crate, wrapped so that a missing or wedged port can never hang the
//! kernel. Every byte is sent with a bounded wait; a port that stops draining is
//! marked dead and later output is dropped (counted) instead of spinning forever.
//!
//! Locking is the caller's business (the kernel's `console` module owns the one
//! instance behind a re-entrant-safe lock); this crate is the device side only.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

use uart_16550::backend::PioBackend;
use uart_16550::Uart16550;
use uart_16550::{BaudRate, Config};

/// I/O port base of COM1, the port QEMU's `-serial stdio` is wired to.
pub const COM1: u16 = 0x3f8;

/// How many times to poll the transmitter for room before declaring the port dead.
/// At 115200 baud a 16-byte FIFO drains in about 1.4 ms; this budget is far above it.
const SEND_SPIN_LIMIT: u32 = 2_000_000;

/// Why a serial port could not be brought up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialError {
    /// The base port would wrap the I/O space.
    BadPort(u16),
    /// Nothing answers at the port (scratch register does not hold a value).
    NotPresent(u16),
    /// The UART rejected the configuration.
    InitFailed(u16),
}

impl core::fmt::Display for SerialError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SerialError::BadPort(p) => write!(f, "serial port {p:#x} is not a valid base"),
            SerialError::NotPresent(p) => write!(f, "no UART answers at {p:#x}"),
            SerialError::InitFailed(p) => write!(f, "UART at {p:#x} refused its configuration"),
        }
    }
}

/// A 16550 serial port used as an output console.
#[derive(Debug)]
pub struct SerialPort {
    uart: Uart16550<PioBackend>,
    port: u16,
    dead: bool,
    dropped: u64,
}

impl SerialPort {
    /// Probes and initializes the UART at `port` with 8-N-1 at `baud`.
    ///
    /// # Safety
    /// `port..port+8` must be a 16550-compatible UART (or nothing at all) that no other
    /// code drives for the lifetime of the returned value.
    ///
    /// # Errors
    /// [`SerialError::BadPort`] when `port..port+8` wraps the 16-bit I/O space;
    /// [`SerialError::NotPresent`] when the scratch register does not hold the values written
    /// (no UART at `port`); [`SerialError::InitFailed`] when the `uart_16550` crate's init
    /// fails: the device no longer answers its presence check, or `baud` gives no valid
    /// 16-bit divisor of the 115200 baud base rate (1.8432 MHz clock / 16).
    pub unsafe fn init(port: u16, baud: BaudRate) -> Result<Self, SerialError> {
        // SAFETY: the caller guarantees exclusive ownership of the port range.
        let mut uart =
            unsafe { Uart16550::new_port(port) }.map_err(|_| SerialError::BadPort(port))?;
        if !uart.check_present() {
            return Err(SerialError::NotPresent(port));
        }
        let config = Config {
            baud_rate: baud,
            ..Config::DEFAULT
        };
        uart.init(config)
            .map_err(|_| SerialError::InitFailed(port))?;
        Ok(Self {
            uart,
            port,
            dead: false,
            dropped: 0,
        })
    }

    /// I/O port base of this UART.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// True once the port stopped draining; output is then dropped, not waited for.
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// Bytes dropped because the port was dead.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Sends `bytes`, translating `\n` to `\r\n`, with a bounded wait per chunk.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                self.send(b"\r\n");
            } else {
                self.send(&[b]);
            }
        }
    }

    fn send(&mut self, mut chunk: &[u8]) {
        if self.dead {
            self.dropped += chunk.len() as u64;
            return;
        }
        let mut spins = 0u32;
        while !chunk.is_empty() {
            let sent = self.uart.send_bytes(chunk);
            if sent == 0 {
                spins += 1;
                if spins > SEND_SPIN_LIMIT {
                    self.dead = true;
                    self.dropped += chunk.len() as u64;
                    return;
                }
                core::hint::spin_loop();
            } else {
                spins = 0;
                chunk = &chunk[sent..];
            }
        }
    }

    /// Runs the UART's internal loopback test (the line is disconnected meanwhile): one
    /// byte, then a 16-byte message, sent and read back through the `uart_16550` crate.
    ///
    /// # Errors
    /// [`LoopbackError::SendFailed`] when the transmitter had no room for the test byte;
    /// [`LoopbackError::ByteMismatch`] when the single byte read back differs from the
    /// one sent; [`LoopbackError::MessageMismatch`] when the message read back differs.
    pub fn loopback_test(&mut self) -> Result<(), LoopbackError> {
        self.uart.test_loopback().map_err(|e| match e {
            uart_16550::LoopbackError::SendError(_) => LoopbackError::SendFailed,
            uart_16550::LoopbackError::UnexpectedLoopbackByte { expected, actual } => {
                LoopbackError::ByteMismatch { expected, actual }
            }
            uart_16550::LoopbackError::UnexpectedLoopbackMsg { expected, actual } => {
                let at = expected.iter().zip(&actual).position(|(e, a)| e != a);
                LoopbackError::MessageMismatch {
                    offset: at.unwrap_or(0),
                }
            }
        })
    }
}

/// Why the UART's loopback self-test failed. In loopback mode (MCR bit 4, "Loop") the
/// 16550 feeds its transmitter shift register straight into its receiver shift
/// register, with the serial output held in the marking state (PC16550D datasheet,
/// "MODEM Control Register"), so whatever is sent must be read back unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopbackError {
    /// The transmitter had no room for the test byte.
    SendFailed,
    /// The single test byte came back different.
    ByteMismatch {
        /// The byte sent.
        expected: u8,
        /// The byte read back.
        actual: u8,
    },
    /// The 16-byte test message came back different.
    MessageMismatch {
        /// Offset (bytes) of the first byte that differs.
        offset: usize,
    },
}

impl core::fmt::Display for LoopbackError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // One message for every way the test can fail, as before the variants existed;
        // the variant's fields are in its `Debug` form.
        write!(f, "loopback byte did not come back")
    }
}

impl core::fmt::Write for SerialPort {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}

pub use uart_16550::BaudRate as Baud;

/// A writer that talks to the UART at `port` directly, without the console lock and
/// without initialization, for the one case where the lock holder is the interrupted
/// code on this very CPU (an exception while printing). Output may interleave; it
/// never deadlocks.
#[derive(Debug)]
pub struct EmergencyWriter(Uart16550<PioBackend>);

impl EmergencyWriter {
    /// # Safety
    /// `port` must be the base of a UART that was initialized earlier (or nothing).
    pub unsafe fn new(port: u16) -> Option<Self> {
        // SAFETY: forwarded to the caller.
        unsafe { Uart16550::new_port(port) }.ok().map(Self)
    }
}

impl core::fmt::Write for EmergencyWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            let bytes: &[u8] = if b == b'\n' {
                b"\r\n"
            } else {
                core::slice::from_ref(&b)
            };
            let mut rest = bytes;
            let mut spins = 0u32;
            while !rest.is_empty() && spins < SEND_SPIN_LIMIT {
                let n = self.0.send_bytes(rest);
                rest = &rest[n..];
                spins += 1;
            }
        }
        Ok(())
    }
}
