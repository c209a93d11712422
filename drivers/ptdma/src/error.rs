//! Driver errors and the PTDMA / AE4DMA error-code tables (facts §4.5, §5.4).
//!
//! Errors that stop a batch carry a [`Progress`]: which batch failed and how many of its ops
//! completed, so the migration engine can CPU-copy exactly the rest.

use crate::DmaAddr;
use core::fmt;

/// Where a batch stopped: every batch submitted before `ticket` completed; in batch `ticket`
/// ops `[..ops_completed]` completed and `[ops_completed..]` did not (the op at `ops_completed`
/// may be partly copied); batches submitted after `ticket` did not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The first batch that did not complete.
    pub ticket: u64,
    /// Ops of that batch that completed.
    pub ops_completed: usize,
    /// Ops in that batch.
    pub ops_total: usize,
}

/// Why a ring placement was rejected (facts §2.3, §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingPlacement {
    /// Entry count not a power of two.
    NotPowerOfTwo,
    /// Entry count outside the supported range.
    BadSize,
    /// Base not aligned to the ring size.
    Misaligned,
    /// Ring crosses a 4 GiB boundary (HEAD/TAIL hold only the low 32 bits).
    Crosses4GiB,
    /// Ring reaches above 2^48.
    Above48Bits,
    /// The memory region is smaller than the ring (or the marker area).
    TooSmall,
}

/// Everything the PTDMA / AE4DMA drivers can report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PtdmaError {
    /// The engine flagged an error (PTDMA STATUS 5:0) at ring slot `desc_index`.
    Hardware {
        /// Error code (STATUS 5:0).
        code: u8,
        /// Name from the §4.5 table.
        name: &'static str,
        /// Error source (STATUS 11:10: 0 input memory, 1 descriptor, 2 input data, 3 key).
        source: u8,
        /// Ring slot of the failing descriptor.
        desc_index: usize,
        /// What completed.
        progress: Progress,
    },
    /// An AE4DMA descriptor came back with status 4 (error) or a non-zero error byte.
    Ae4Descriptor {
        /// Status byte (DW1 7:0).
        status: u8,
        /// Error byte (DW1 15:8).
        code: u8,
        /// Meaning from the §5.4 table.
        name: &'static str,
        /// Ring slot of the failing descriptor.
        desc_index: usize,
        /// What completed.
        progress: Progress,
    },
    /// The spin budget ran out; the queue was stopped and emptied.
    Timeout {
        /// Ring slot the engine was at.
        desc_index: usize,
        /// What completed.
        progress: Progress,
    },
    /// The batch needs more descriptor slots than are free.
    QueueFull {
        /// Slots the batch needs.
        needed: usize,
        /// Slots free now.
        free: usize,
    },
    /// A register read returned all-ones: the device is gone (surprise removal, bus error).
    DeviceGone,
    /// The descriptor ring memory cannot be used.
    RingPlacement(RingPlacement),
    /// An op or configured descriptor length is not representable.
    LengthTooLarge {
        /// Requested length.
        len: u64,
        /// Largest allowed.
        max: u64,
    },
    /// An op reaches at or above 2^48.
    AddressTooHigh(DmaAddr),
    /// AE4DMA needs 4-byte aligned source, destination and length (AE4 error codes 3/4/5).
    Misaligned(DmaAddr),
    /// AE4DMA common config granted no queue for this index.
    NoSuchQueue(usize),
    /// An SDXI function or context failed (decoded from its error log where it logged one).
    Sdxi {
        /// What went wrong.
        error: crate::sdxi::SdxiError,
        /// What completed, when a submitted batch was stopped by it.
        progress: Option<Progress>,
    },
    /// The platform refused to let the engine touch this address (it is not memory the
    /// caller holds); nothing was written to the ring.
    Refused(DmaAddr),
}

/// Name of a PTDMA/CCP-v5 STATUS error code (facts §4.5; Linux `ccp_error_codes` numbering).
pub fn error_name(code: u8) -> &'static str {
    match code {
        0x00 => "NO_ERROR",
        0x01 => "ILLEGAL_ENGINE",
        0x02 => "ILLEGAL_KEY_ID",
        0x03 => "ILLEGAL_FUNCTION_TYPE",
        0x04 => "ILLEGAL_FUNCTION_MODE",
        0x05 => "ILLEGAL_FUNCTION_ENCRYPT",
        0x06 => "ILLEGAL_FUNCTION_SIZE",
        0x07 => "ZLIB_MISSING_INIT_EOM",
        0x08 => "ILLEGAL_FUNCTION_RSVD",
        0x09 => "ILLEGAL_BUFFER_LENGTH",
        0x0A => "VLSB_FAULT",
        0x0B => "ILLEGAL_MEM_ADDR",
        0x0C => "ILLEGAL_MEM_SEL",
        0x0D => "ILLEGAL_CONTEXT_ID",
        0x0E => "ILLEGAL_KEY_ADDR",
        0x12 => "CMD_TIMEOUT",
        0x13 => "IDMA0_AXI_SLVERR",
        0x14 => "IDMA0_AXI_DECERR",
        0x16 => "IDMA1_AXI_SLVERR",
        0x17 => "IDMA1_AXI_DECERR",
        0x19 => "ZLIBVHB_AXI_SLVERR",
        0x1A => "ZLIBVHB_AXI_DECERR",
        0x1C..=0x25 => "ZLIB_ERROR",
        0x26 => "ODMA0_AXI_SLVERR",
        0x27 => "ODMA0_AXI_DECERR",
        0x29 => "ODMA1_AXI_SLVERR",
        0x2A => "ODMA1_AXI_DECERR",
        0x2B => "LSB_PARITY_ERR",
        _ => "UNKNOWN",
    }
}

/// Meaning of an AE4DMA descriptor error byte (facts §5.4; Linux `ae4_error_codes`).
pub fn ae4_error_name(code: u8) -> &'static str {
    match code {
        0 => "no error",
        1 => "invalid header DW0",
        2 => "invalid status",
        3 => "invalid length (4-byte alignment)",
        4 => "invalid source address (4-byte alignment)",
        5 => "invalid destination address (4-byte alignment)",
        6 => "invalid alignment",
        7..=15 => "invalid descriptor",
        16..=31 => "firmware error",
        32..=63 => "fatal error",
        _ => "PTE error",
    }
}

impl PtdmaError {
    /// The progress record of errors that stopped a batch.
    pub fn progress(&self) -> Option<Progress> {
        match *self {
            Self::Hardware { progress, .. }
            | Self::Ae4Descriptor { progress, .. }
            | Self::Timeout { progress, .. } => Some(progress),
            Self::Sdxi { progress, .. } => progress,
            _ => None,
        }
    }
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "batch {}: {}/{} ops done",
            self.ticket, self.ops_completed, self.ops_total
        )
    }
}

impl fmt::Display for PtdmaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hardware { code, name, source, desc_index, progress } => write!(
                f,
                "PTDMA error {code:#04x} {name} (source {source}) at slot {desc_index}, {progress}"
            ),
            Self::Ae4Descriptor { status, code, name, desc_index, progress } => write!(
                f,
                "AE4DMA descriptor error {code} ({name}, status {status}) at slot {desc_index}, {progress}"
            ),
            Self::Timeout { desc_index, progress } => {
                write!(f, "DMA timeout at slot {desc_index}, {progress}")
            }
            Self::QueueFull { needed, free } => {
                write!(f, "queue full: batch needs {needed} slots, {free} free")
            }
            Self::DeviceGone => write!(f, "device gone (register read all-ones)"),
            Self::RingPlacement(why) => write!(f, "bad descriptor ring placement: {why:?}"),
            Self::LengthTooLarge { len, max } => write!(f, "length {len} exceeds {max}"),
            Self::AddressTooHigh(a) => write!(f, "address {a:?} not below 2^48"),
            Self::Misaligned(a) => write!(f, "address or length {a:?} not 4-byte aligned"),
            Self::NoSuchQueue(q) => write!(f, "AE4DMA queue {q} not granted"),
            Self::Sdxi { error, progress: Some(p) } => write!(f, "SDXI: {error}, {p}"),
            Self::Sdxi { error, progress: None } => write!(f, "SDXI: {error}"),
            Self::Refused(a) => write!(
                f,
                "refused: {:#x} is not memory the caller holds (nothing submitted)",
                a.as_u64()
            ),
        }
    }
}
