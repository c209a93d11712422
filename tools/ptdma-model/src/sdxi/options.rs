//! Model options for the points sdxi-facts §9.3 leaves UNSURE. Each default is the reading the
//! facts favour; the other reading is selectable (`--sdxi-*` flags in `cli.rs`) so a driver can
//! be tested against both.

use clap::ValueEnum;

/// What the function does to `CST_BLK.signal` when a descriptor completes (§6.4, §9.3 item 1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum SignalMode {
    /// Decrement `signal` by one (wrapping, as an atomic decrement would), so one CST_BLK may
    /// count several descriptors. Default: the facts' recommendation for a model.
    #[default]
    Decrement,
    /// Write `signal = 0` (the driver's own wording "clears the signal field").
    Clear,
}

/// When `CXT_STS.read_index` moves past a descriptor (§4.2 CXT_STS, §9.3 item 3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ReadIndexMode {
    /// After the descriptor has completed (data and CST_BLK written). Default: §9.2 step 6
    /// orders the write-back after execution. A failed descriptor leaves read_index on it.
    #[default]
    Completion,
    /// As soon as the descriptor has been fetched (vl seen set, 64 bytes read), before it is
    /// validated or executed. A failed descriptor leaves read_index one past it.
    Fetch,
}

/// What restarts a context that stalled on a descriptor with vl = 0 below Write_Index (§6.3,
/// §9.3 item 2). The stall itself is never an error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ResumeMode {
    /// A later doorbell, or the function re-reading the slot every 1 ms ([`POLL_INTERVAL_US`]).
    /// Default: the facts' "resumes on a later doorbell/poll".
    #[default]
    Poll,
    /// Only a later doorbell (a driver that rings before setting vl hangs, by design).
    Doorbell,
}

/// How a client context (id ≥ 1) enters CXTV_RUN (§6.2, §9.3 item 4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ClientStart {
    /// Only a DSC_CXT_START on the admin ring starts it; a CXT_STS that software set to RUN
    /// itself is not obeyed. Default: the protocol the current Linux driver uses.
    #[default]
    Admin,
    /// Also accept CXT_STS.state = RUN written by software (the 2022 driver's shortcut): a
    /// doorbell on such a context starts it.
    Software,
}

/// Interval of the vl re-read in [`ResumeMode::Poll`], microseconds.
pub const POLL_INTERVAL_US: u64 = 1000;

/// Default CAP1.max_cxt: contexts 0 (admin) .. 7, i.e. seven client contexts (channels).
pub const DEFAULT_MAX_CXT: u16 = 7;

/// SDXI personality options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdxiOptions {
    pub signal: SignalMode,
    pub read_index: ReadIndexMode,
    pub resume: ResumeMode,
    pub client_start: ClientStart,
    /// CAP1.max_cxt: highest context id the function offers (1..=127, one L1 table). BAR2 holds
    /// max_cxt + 1 doorbell pages of 4 KiB.
    pub max_cxt: u16,
}

impl Default for SdxiOptions {
    fn default() -> SdxiOptions {
        SdxiOptions {
            signal: SignalMode::default(),
            read_index: ReadIndexMode::default(),
            resume: ResumeMode::default(),
            client_start: ClientStart::default(),
            max_cxt: DEFAULT_MAX_CXT,
        }
    }
}
