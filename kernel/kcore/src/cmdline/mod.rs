//! The kernel command line (`-append` in QEMU, the GRUB `multiboot2` line on hardware),
//! parsed into a typed [`Config`].
//!
//! Grammar: tokens separated by spaces; each is `key=value` or a bare flag (`help`).
//! Every key is declared once in [`KEYS`] with its default and what it accepts, so
//! `help` can list them all and a mistake is answered with the key, what was given and
//! what is accepted. Nothing is silently ignored: an unknown key, a bad value or a key
//! given twice is a [`CmdlineError`], which the kernel reports before exiting with the
//! "bad input" code.
//!
//! By role: [`keys`] declares the keys and their defaults, `choices` the closed-set
//! values as enums ([`Engine`], [`Mode`], ...), `config` the typed result, `parse` the
//! tokenizer, value checks and errors, `build` the config from checked values and
//! defaults, `help` the text `help` prints. Benchmark names live in [`crate::bench`].

mod build;
mod choices;
mod config;
mod help;
pub mod keys;
mod parse;
#[cfg(test)]
mod tests;

pub use choices::{ApStart, CopyRoutine, DmaKind, DmaSplit, Engine, Mode};
pub use config::*;
pub use help::write_help;
pub use keys::*;
pub use parse::{parse, parse_u64, CmdlineError};
