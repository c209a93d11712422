//! SDXI errors: the decoded error-log entry (ERRLOG_HD_ENT, `sdxi-facts.md` §4.2 and §7) and
//! [`SdxiError`], everything the SDXI driver reports inside [`crate::PtdmaError::Sdxi`].

use super::desc::ContextState;
use super::regs::FunctionState;
use core::fmt;

/// ERRLOG_HD_ENT type value (bits 26:16).
pub const ERRLOG_TYPE: u64 = 0x7F7;

/// The processing step that failed (bits 13:8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrStep {
    /// 1: internal.
    Internal,
    /// 2: reading the context L2 table.
    ContextL2,
    /// 3: reading the context L1 table.
    ContextL1,
    /// 4: reading CXT_CTL.
    ContextCtl,
    /// 5: reading or writing CXT_STS.
    ContextSts,
    /// 6: reading Write_Index.
    WriteIndex,
    /// 7: the descriptor itself (validation).
    Descriptor,
    /// 8: the descriptor's CST_BLK.
    CompletionBlock,
    /// 9: atomic return data.
    AtomicReturn,
    /// 10: a data buffer.
    DataBuffer,
    /// 11: AKey lookup.
    AKey,
    /// 12: RKey lookup.
    RKey,
    /// Any other code.
    Other(u8),
}

impl ErrStep {
    fn decode(v: u8) -> Self {
        match v {
            1 => Self::Internal,
            2 => Self::ContextL2,
            3 => Self::ContextL1,
            4 => Self::ContextCtl,
            5 => Self::ContextSts,
            6 => Self::WriteIndex,
            7 => Self::Descriptor,
            8 => Self::CompletionBlock,
            9 => Self::AtomicReturn,
            10 => Self::DataBuffer,
            11 => Self::AKey,
            12 => Self::RKey,
            v => Self::Other(v),
        }
    }
}

/// What kind of failure (sub_step, bits 43:40).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubStep {
    /// 0: other.
    Other,
    /// 1: address translation failed.
    Translation,
    /// 2: data access failed.
    Access,
    /// 3: data validation failed (bad field, reserved bit, size, overlap).
    Validation,
    /// Unarchitected code.
    Unknown(u8),
}

/// How the function reacted (re, bits 46:44).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reaction {
    /// 0: informative only.
    Informative,
    /// 1: the context was stopped.
    ContextStopped,
    /// 2: the function was stopped.
    FunctionStopped,
    /// Unarchitected code.
    Unknown(u8),
}

/// One decoded ERRLOG_HD_ENT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorLogEntry {
    /// Step that failed.
    pub step: ErrStep,
    /// Kind of failure.
    pub sub_step: SubStep,
    /// The function's reaction.
    pub reaction: Reaction,
    /// Context number, when cv = 1.
    pub context: Option<u16>,
    /// Ring index (free-running) of the failing descriptor, when div = 1.
    pub desc_index: Option<u64>,
    /// Which buffer of the descriptor (numbering UNSURE), when bv = 1.
    pub buffer: Option<u8>,
    /// err_class (bits 367:352; values not enumerated by any source).
    pub class: u16,
    /// vendor\[0\] (bits 415:384): implementation specific (our model: its check number).
    pub vendor0: u32,
}

impl ErrorLogEntry {
    /// Decodes the eight qwords of an entry; `None` when vl = 0 or the type is not 0x7F7.
    pub fn decode(q: &[u64; 8]) -> Option<Self> {
        let q0 = q[0];
        if q0 & 1 == 0 || (q0 >> 16) & 0x7FF != ERRLOG_TYPE {
            return None;
        }
        let flag = |bit: u32| q0 >> bit & 1 == 1;
        let sub = ((q0 >> 40) & 0xF) as u8;
        let re = ((q0 >> 44) & 7) as u8;
        Some(Self {
            step: ErrStep::decode(((q0 >> 8) & 0x3F) as u8),
            sub_step: match sub {
                0 => SubStep::Other,
                1 => SubStep::Translation,
                2 => SubStep::Access,
                3 => SubStep::Validation,
                v => SubStep::Unknown(v),
            },
            reaction: match re {
                0 => Reaction::Informative,
                1 => Reaction::ContextStopped,
                2 => Reaction::FunctionStopped,
                v => Reaction::Unknown(v),
            },
            context: flag(32).then_some((q0 >> 48) as u16),
            desc_index: flag(33).then_some(q[1]),
            buffer: flag(34).then_some(((q0 >> 36) & 7) as u8),
            // Bits 367:352 = qword 5 bits 47:32.
            class: (q[5] >> 32) as u16,
            vendor0: q[6] as u32,
        })
    }
}

/// Why bring-up or an admin operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BringUpError {
    /// VERSION major is not 1.
    Version {
        /// Major.
        major: u8,
        /// Minor.
        minor: u8,
    },
    /// The function did not reach the state asked for in time.
    StateTimeout {
        /// State asked for.
        wanted: FunctionState,
        /// State last read.
        last: FunctionState,
    },
    /// Activation ended in ERROR.
    ActivationFailed,
    /// The memory given is too small or badly aligned.
    Memory,
    /// Context id 0 (admin) or above CAP1.max_cxt, above 127 (one L1 table) or beyond BAR 2.
    NoSuchContext(u16),
    /// BAR 2 too small for the contexts asked for (bytes, needed).
    DoorbellBar(u64),
    /// CAP0 allows no 1024-entry ring.
    RingSize,
    /// An admin descriptor's CST_BLK did not clear in time.
    AdminTimeout,
    /// An admin descriptor's CST_BLK came back with er = 1.
    AdminFailed,
    /// After DSC_CXT_START completed, the context was not running.
    NotStarted(ContextState),
}

/// Everything the SDXI driver reports besides timeouts, full rings and vanished devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SdxiError {
    /// A context stopped on an error the function logged.
    Logged(ErrorLogEntry),
    /// The batch's CST_BLK came back with er = 1 and no log entry named this context.
    CompletionError,
    /// The context left RUN (CXT_STS) without a log entry naming it.
    ContextStopped(ContextState),
    /// The function went to ERROR (or another non-active state).
    Function(FunctionState),
    /// The function was reset and re-activated (by another channel's recovery) while this
    /// context had work in flight.
    FunctionReset,
    /// The error log itself failed (ERR_STS.err) or overflowed (ERR_STS.ovf) and no entry
    /// named this context.
    LogLost {
        /// ERR_STS.
        err_sts: u64,
    },
    /// CXT_STS.read_index passed Write_Index (ring corruption).
    RingCorrupt {
        /// read_index.
        read: u64,
        /// Write_Index.
        write: u64,
    },
    /// Source and destination of op `op` overlap (spec 5.6 forbids it); nothing submitted.
    Overlap {
        /// Index of the op in the batch.
        op: usize,
    },
    /// Bring-up, context start or the recovery's stop/restart failed; the channel is retired.
    BringUp(BringUpError),
}

impl fmt::Display for ErrorLogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error log: step {:?}/{:?}", self.step, self.sub_step)?;
        if let Some(c) = self.context {
            write!(f, " context {c}")?;
        }
        if let Some(i) = self.desc_index {
            write!(f, " descriptor {i}")?;
        }
        if let Some(b) = self.buffer {
            write!(f, " buffer {b}")?;
        }
        write!(f, ", {:?}", self.reaction)?;
        if self.class != 0 {
            write!(f, ", class {:#x}", self.class)?;
        }
        if self.vendor0 != 0 {
            write!(f, ", vendor[0] {}", self.vendor0)?;
        }
        Ok(())
    }
}

impl fmt::Display for SdxiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Logged(e) => write!(f, "{e}"),
            Self::CompletionError => write!(f, "completion block error (nothing logged)"),
            Self::ContextStopped(s) => write!(f, "context left RUN: {s:?} (nothing logged)"),
            Self::Function(s) => write!(f, "function state {s:?}"),
            Self::FunctionReset => write!(f, "function reset by another channel's recovery"),
            Self::LogLost { err_sts } => write!(f, "error log lost (ERR_STS {err_sts:#x})"),
            Self::RingCorrupt { read, write } => {
                write!(f, "ring corrupt: read index {read} > write index {write}")
            }
            Self::Overlap { op } => write!(f, "op {op}: source and destination overlap"),
            Self::BringUp(e) => write!(f, "bring-up: {e:?}"),
        }
    }
}
