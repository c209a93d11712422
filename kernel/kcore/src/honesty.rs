//! Whether a measured cell is a figure of the engine it names.
//!
//! A DMA cell whose descriptors failed was partly (or wholly) copied by the CPU
//! fallback; its GB/s is then not a DMA number. Every cell counts the bytes each kind
//! of copier really moved — warm-up included, since a fallback in the warm-up already
//! says the engine is not working — and is labelled:
//! - `ok`: no fallback;
//! - `degraded`: some fallback, at most [`DEGRADED_MAX_SHARE`] of the bytes meant for DMA;
//! - `invalid`: more than that: not a figure of the named engine (reported apart, never
//!   plotted as that engine, and the run exits nonzero).
//!
//! Cells that could not finish are `out-of-memory` or `verification-failed`.

use core::fmt;

/// Largest fallback share (bytes the CPU copied because DMA failed, over the bytes
/// meant for DMA) a cell may have and still be a figure of its engine: 1 %.
pub const DEGRADED_MAX_SHARE: f64 = 0.01;

/// Bytes each kind of copier moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopiedBytes {
    /// Copied by DMA engines.
    pub dma: u64,
    /// Copied by CPUs by design (CPU engines, a hybrid's CPU share, batches declined).
    pub cpu: u64,
    /// Copied by the CPU because a DMA engine failed, timed out or was retired.
    pub fallback: u64,
}

impl CopiedBytes {
    /// Adds another count.
    pub fn add(&mut self, o: &CopiedBytes) {
        self.dma = self.dma.saturating_add(o.dma);
        self.cpu = self.cpu.saturating_add(o.cpu);
        self.fallback = self.fallback.saturating_add(o.fallback);
    }

    /// Every byte copied.
    pub fn total(&self) -> u64 {
        self.dma
            .saturating_add(self.cpu)
            .saturating_add(self.fallback)
    }

    /// Fallback bytes over the bytes meant for DMA (0 when no DMA was meant).
    pub fn fallback_share(&self) -> f64 {
        let meant = self.dma.saturating_add(self.fallback);
        if meant == 0 {
            0.0
        } else {
            self.fallback as f64 / meant as f64
        }
    }
}

/// How a cell (or a whole run) ended, from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Every byte was copied by the engine named.
    Ok,
    /// A small share went to the CPU fallback.
    Degraded,
    /// Too much went to the CPU fallback: not a figure of the named engine.
    Invalid,
    /// Destination frames ran out mid-run; every folio stayed where it was.
    OutOfMemory,
    /// Data or frame accounting did not check out.
    VerificationFailed,
}

impl Status {
    /// Every status, best first.
    pub const ALL: [Status; 5] = [
        Status::Ok,
        Status::Degraded,
        Status::Invalid,
        Status::OutOfMemory,
        Status::VerificationFailed,
    ];

    /// Parses the spelling of [`Status::name`]; `None` for anything else.
    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.name() == text)
    }

    /// The label a fallback `share` (0..=1) implies on its own (see [`classify`]).
    pub fn from_share(share: f64) -> Status {
        if share > DEGRADED_MAX_SHARE {
            Status::Invalid
        } else if share > 0.0 {
            Status::Degraded
        } else {
            Status::Ok
        }
    }

    /// The name in RESULT and RUN lines.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Degraded => "degraded",
            Status::Invalid => "invalid",
            Status::OutOfMemory => "out-of-memory",
            Status::VerificationFailed => "verification-failed",
        }
    }

    /// Whether the cell's numbers may be reported as a figure of its engine.
    pub fn is_figure(self) -> bool {
        matches!(self, Status::Ok | Status::Degraded)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The label of a cell that finished, from what its copiers really did.
pub fn classify(bytes: &CopiedBytes) -> Status {
    if bytes.fallback == 0 {
        Status::Ok
    } else {
        // Any fallback at all is at least degraded, however small its share.
        Status::from_share(bytes.fallback_share()).max(Status::Degraded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b(dma: u64, cpu: u64, fallback: u64) -> CopiedBytes {
        CopiedBytes { dma, cpu, fallback }
    }

    #[test]
    fn labels_follow_the_fallback_share() {
        assert_eq!(classify(&b(1000, 0, 0)), Status::Ok);
        assert_eq!(classify(&b(0, 1000, 0)), Status::Ok);
        assert_eq!(classify(&b(990, 0, 10)), Status::Degraded);
        assert_eq!(classify(&b(989, 0, 11)), Status::Invalid);
        // Every byte by the fallback: the case of an engine that cannot reach RAM.
        assert_eq!(classify(&b(0, 0, 4096)), Status::Invalid);
        // CPU bytes by design do not dilute the share (a hybrid's CPU half).
        assert_eq!(classify(&b(100, 10_000, 50)), Status::Invalid);
    }

    #[test]
    fn statuses_order_from_best_to_worst() {
        assert!(Status::Ok < Status::Degraded);
        assert!(Status::Degraded < Status::Invalid);
        assert!(Status::Invalid < Status::OutOfMemory);
        assert!(Status::OutOfMemory < Status::VerificationFailed);
        assert!(Status::Degraded.is_figure() && !Status::Invalid.is_figure());
        for s in Status::ALL {
            assert_eq!(Status::parse(s.name()), Some(s));
        }
        assert_eq!(Status::parse("OK"), None);
        assert_eq!(Status::from_share(0.0), Status::Ok);
        assert_eq!(Status::from_share(0.01), Status::Degraded);
        assert_eq!(Status::from_share(0.0101), Status::Invalid);
    }

    proptest! {
        #[test]
        fn share_is_a_fraction_and_ok_means_no_fallback(dma: u64, cpu: u64, fb: u64) {
            let c = b(dma, cpu, fb);
            let s = c.fallback_share();
            prop_assert!((0.0..=1.0).contains(&s));
            prop_assert_eq!(classify(&c) == Status::Ok, fb == 0);
        }
    }
}
