//! Admission of a DMA batch when channels are shared (`dma-admit=`). A batch asks the
//! pool for the channels its engine wants; when they are not all free:
//!
//! - `wait`: it polls until they are, at most `dma-wait-us`; then the CPU copies it;
//! - `cpu`: the CPU copies it at once;
//! - `mixed`: it takes the channels that are free (at least one) and splits the batch
//!   among those; with none free it waits like `wait`.
//!
//! A batch the CPU copies because of this is *refused*: its bytes are CPU bytes by
//! policy, never DMA bytes and never fallback. [`AdmitCounts`] is what a stream counts.

/// What a batch does when the channels it wants are not all free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmitPolicy {
    /// Wait up to the limit for all of them, then go to the CPU.
    Wait,
    /// Go to the CPU at once.
    Cpu,
    /// Take the free ones (at least one); with none, wait up to the limit, then the CPU.
    Mixed,
}

impl AdmitPolicy {
    /// Every policy, in the order reports list them.
    pub const ALL: [AdmitPolicy; 3] = [AdmitPolicy::Wait, AdmitPolicy::Cpu, AdmitPolicy::Mixed];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            AdmitPolicy::Wait => "wait",
            AdmitPolicy::Cpu => "cpu",
            AdmitPolicy::Mixed => "mixed",
        }
    }

    /// The policy named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// The next step of one batch's admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Take this many channels now (`want`, or fewer under `mixed`).
    Take(usize),
    /// Poll the pool again.
    Retry,
    /// Give up on DMA: the CPU copies the batch.
    Cpu,
}

/// The step for a batch that wants `want` channels when `free` are free, having waited
/// `waited_ns` of at most `limit_ns`.
pub fn decide(
    policy: AdmitPolicy,
    want: usize,
    free: usize,
    waited_ns: u64,
    limit_ns: u64,
) -> Step {
    let want = want.max(1);
    if free >= want {
        return Step::Take(want);
    }
    match policy {
        AdmitPolicy::Cpu => Step::Cpu,
        AdmitPolicy::Mixed if free > 0 => Step::Take(free),
        AdmitPolicy::Wait | AdmitPolicy::Mixed => {
            if waited_ns < limit_ns {
                Step::Retry
            } else {
                Step::Cpu
            }
        }
    }
}

/// What one stream's batches met at admission (summed with [`AdmitCounts::add`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdmitCounts {
    /// Batches that asked for channels.
    pub asked: u64,
    /// Batches that got every channel they wanted (at once or after waiting).
    pub full: u64,
    /// Batches that ran on fewer channels than wanted (`mixed`).
    pub partial: u64,
    /// Batches that found too few channels free and waited (whatever came next).
    pub waited: u64,
    /// Time those batches spent waiting, ns.
    pub wait_ns: u64,
    /// Batches the CPU copied because no channel was admitted (CPU by policy).
    pub refused: u64,
    /// Of `refused`, those refused because the wait limit ran out (`wait`, `mixed`).
    pub refused_after_wait: u64,
}

impl AdmitCounts {
    /// Adds another count.
    pub fn add(&mut self, o: &AdmitCounts) {
        self.asked += o.asked;
        self.full += o.full;
        self.partial += o.partial;
        self.waited += o.waited;
        self.wait_ns += o.wait_ns;
        self.refused += o.refused;
        self.refused_after_wait += o.refused_after_wait;
    }

    /// Whether these counts can come from `policy` (every batch admitted fully, partly
    /// or refused exactly once; `cpu` never waits; only `mixed` runs partial batches;
    /// a refusal after waiting only where waiting is allowed). `Err` says which rule
    /// broke.
    ///
    /// # Errors
    /// A static description of the first inconsistency.
    pub fn consistent_with(&self, policy: AdmitPolicy) -> Result<(), &'static str> {
        if self.full + self.partial + self.refused != self.asked {
            return Err("full + partial + refused batches differ from the batches that asked");
        }
        if self.refused_after_wait > self.refused {
            return Err("more refusals after a wait than refusals");
        }
        if self.waited == 0 && self.wait_ns != 0 {
            return Err("wait time without a waiting batch");
        }
        match policy {
            AdmitPolicy::Cpu if self.waited > 0 => Err("policy cpu waited"),
            AdmitPolicy::Wait | AdmitPolicy::Cpu if self.partial > 0 => {
                Err("a partial batch under a policy that takes all channels or none")
            }
            AdmitPolicy::Wait | AdmitPolicy::Mixed if self.refused != self.refused_after_wait => {
                Err("a refusal without waiting the limit under a waiting policy")
            }
            _ => Ok(()),
        }
    }
}

/// How one batch was admitted.
#[derive(Debug)]
pub struct Admitted<T> {
    /// The channels taken, or `None`: the CPU copies the batch.
    pub lease: Option<T>,
    /// This batch's counts (`asked` is 1).
    pub counts: AdmitCounts,
}

/// Admits one batch that wants `want` channels. `try_take(k)` asks the pool for exactly
/// `k` and returns them or the number free now; `now_ns` is the clock; `relax` runs
/// between polls (a spin hint in the kernel). Waits at most `limit_ns`.
pub fn admit<T>(
    policy: AdmitPolicy,
    want: usize,
    limit_ns: u64,
    now_ns: &mut dyn FnMut() -> u64,
    try_take: &mut dyn FnMut(usize) -> Result<T, usize>,
    relax: &mut dyn FnMut(),
) -> Admitted<T> {
    let mut counts = AdmitCounts {
        asked: 1,
        ..AdmitCounts::default()
    };
    let want = want.max(1);
    let mut k = want;
    let mut start = None;
    loop {
        let free = match try_take(k) {
            Ok(lease) => {
                if let (1, Some(t0)) = (counts.waited, start) {
                    counts.wait_ns = now_ns().saturating_sub(t0);
                }
                if k == want {
                    counts.full = 1;
                } else {
                    counts.partial = 1;
                }
                return Admitted {
                    lease: Some(lease),
                    counts,
                };
            }
            Err(free) => free,
        };
        let t = now_ns();
        let t0 = *start.get_or_insert(t);
        let waited = t.saturating_sub(t0);
        match decide(policy, want, free, waited, limit_ns) {
            Step::Take(n) => k = n,
            Step::Retry => {
                counts.waited = 1;
                relax();
            }
            Step::Cpu => {
                counts.refused = 1;
                if policy != AdmitPolicy::Cpu {
                    counts.refused_after_wait = 1;
                }
                if counts.waited == 1 {
                    counts.wait_ns = waited;
                }
                return Admitted {
                    lease: None,
                    counts,
                };
            }
        }
        if counts.waited == 1 {
            counts.wait_ns = waited;
        }
    }
}
