//! Fault injection, keyed on a global descriptor count.
//!
//! Every descriptor an engine starts (fetches) takes the next number, 1-based, from a counter
//! shared by all queues of all functions of one run (`launch` shares it across functions).
//! Spec syntax (`--fault`, repeatable):
//! * `error-at=N[:CODE]` — descriptor N fails with STATUS error CODE (PTDMA default 0x13
//!   IDMA0_AXI_SLVERR; AE4DMA uses firmware error 16), queue stops there like any error;
//! * `stuck-at=N` — the queue stops consuming at descriptor N: HEAD never moves, no status,
//!   doorbells and RUN writes do nothing (STATUS job = active). Only stopping the queue
//!   (PTDMA: CONTROL.RUN 1→0; AE4DMA: control enable 1→0) or DEVICE_RESET abandons the wedged
//!   descriptor (it never completes); the driver then moves HEAD/write_idx and restarts;
//! * `halt-at=N` — the queue halts before descriptor N: RUN cleared, HALTED and QUEUE_STOPPED
//!   set, HEAD points at it; setting RUN again resumes;
//! * `corrupt-at=N` — descriptor N writes wrong bytes (every destination byte inverted after the
//!   copy) but reports success;
//! * `vanish-at=N` — after descriptor N completes, the function behaves as a removed PCI device:
//!   every BAR and config read returns all-ones, writes are dropped, the engines stop. The socket
//!   stays open and keeps answering, because QEMU blocks a vCPU on each access: closing would
//!   only produce error spam, answering all-ones never hangs QEMU.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::desc::pt_err;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    Error(u8),
    Stuck,
    Halt,
    Corrupt,
    Vanish,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub at: u64,
}

fn parse_num(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("'{s}' is not a number"))
}

impl std::str::FromStr for Fault {
    type Err = String;
    fn from_str(spec: &str) -> Result<Fault, String> {
        let usage =
            "expected error-at=N[:CODE], stuck-at=N, halt-at=N, corrupt-at=N or vanish-at=N";
        let (name, val) = spec
            .split_once('=')
            .ok_or_else(|| format!("bad fault '{spec}': {usage}"))?;
        let (num, code) = match val.split_once(':') {
            Some((n, c)) if name == "error-at" => (n, Some(c)),
            Some(_) => return Err(format!("bad fault '{spec}': only error-at takes :CODE")),
            None => (val, None),
        };
        let at = parse_num(num).map_err(|e| format!("bad fault '{spec}': {e}"))?;
        if at == 0 {
            return Err(format!(
                "bad fault '{spec}': descriptors are counted from 1"
            ));
        }
        let kind = match name {
            "error-at" => {
                let code = match code {
                    Some(c) => parse_num(c).map_err(|e| format!("bad fault '{spec}': {e}"))?,
                    None => u64::from(pt_err::IDMA0_AXI_SLVERR),
                };
                if code == 0 || code > 0x3f {
                    return Err(format!("bad fault '{spec}': CODE must be 1..=0x3f"));
                }
                FaultKind::Error(code as u8)
            }
            "stuck-at" => FaultKind::Stuck,
            "halt-at" => FaultKind::Halt,
            "corrupt-at" => FaultKind::Corrupt,
            "vanish-at" => FaultKind::Vanish,
            _ => return Err(format!("unknown fault '{name}': {usage}")),
        };
        Ok(Fault { kind, at })
    }
}

/// What applies to one descriptor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hits {
    pub number: u64,
    pub error: Option<u8>,
    pub stuck: bool,
    pub halt: bool,
    pub corrupt: bool,
    pub vanish: bool,
}

/// The configured faults plus the shared descriptor counter.
#[derive(Debug, Default)]
pub struct FaultPlan {
    faults: Vec<Fault>,
    counter: AtomicU64,
}

impl FaultPlan {
    pub fn new(faults: Vec<Fault>) -> Arc<FaultPlan> {
        Arc::new(FaultPlan {
            faults,
            counter: AtomicU64::new(0),
        })
    }

    /// Numbers the next descriptor and returns the faults that hit it.
    pub fn next_descriptor(&self) -> Hits {
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        let mut h = Hits {
            number: n,
            ..Hits::default()
        };
        for f in self.faults.iter().filter(|f| f.at == n) {
            match f.kind {
                FaultKind::Error(c) => h.error = Some(c),
                FaultKind::Stuck => h.stuck = true,
                FaultKind::Halt => h.halt = true,
                FaultKind::Corrupt => h.corrupt = true,
                FaultKind::Vanish => h.vanish = true,
            }
        }
        h
    }

    /// Descriptors numbered so far.
    pub fn count(&self) -> u64 {
        self.counter.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_specs() {
        assert_eq!(
            "error-at=3".parse(),
            Ok(Fault {
                kind: FaultKind::Error(0x13),
                at: 3
            })
        );
        assert_eq!(
            "error-at=3:0x27".parse(),
            Ok(Fault {
                kind: FaultKind::Error(0x27),
                at: 3
            })
        );
        assert_eq!(
            "vanish-at=0x10".parse(),
            Ok(Fault {
                kind: FaultKind::Vanish,
                at: 16
            })
        );
        assert!("stuck-at=0".parse::<Fault>().is_err());
        assert!("halt-at=x".parse::<Fault>().is_err());
        assert!("melt-at=1".parse::<Fault>().is_err());
        assert!("halt-at=1:2".parse::<Fault>().is_err());
        assert!("error-at=1:0x40".parse::<Fault>().is_err());
    }

    #[test]
    fn counting() {
        let p = FaultPlan::new(vec![
            Fault {
                kind: FaultKind::Corrupt,
                at: 2,
            },
            Fault {
                kind: FaultKind::Vanish,
                at: 2,
            },
        ]);
        assert_eq!(
            p.next_descriptor(),
            Hits {
                number: 1,
                ..Hits::default()
            }
        );
        let h = p.next_descriptor();
        assert!(h.corrupt && h.vanish && !h.stuck && h.number == 2);
        assert_eq!(p.count(), 2);
    }
}
