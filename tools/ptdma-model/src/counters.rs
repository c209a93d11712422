//! Per-function activity counters, dumped as one JSON line (task brief item 6).
//!
//! Config-space traffic, proxy messages, and per-queue MMIO reads/writes by register name,
//! doorbells, descriptors, bytes and errors. The JSON shape is documented on `Counters::to_json`.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;

use serde_json::{json, Value};

#[derive(Clone, Debug, Default)]
pub struct QueueCounters {
    pub mmio_reads: BTreeMap<&'static str, u64>,
    pub mmio_writes: BTreeMap<&'static str, u64>,
    pub doorbells: u64,
    pub descriptors: u64,
    pub bytes: u64,
    pub errors: u64,
}

impl QueueCounters {
    fn to_json(&self, q: usize) -> Value {
        json!({
            "queue": q,
            "mmio_reads": self.mmio_reads,
            "mmio_writes": self.mmio_writes,
            "doorbells": self.doorbells,
            "descriptors": self.descriptors,
            "bytes": self.bytes,
            "errors": self.errors,
        })
    }
}

#[derive(Clone, Debug, Default)]
pub struct Inner {
    pub cfg_reads: u64,
    pub cfg_writes: u64,
    /// Config reads that covered the vendor or device ID (offsets 0..4).
    pub id_reads: u64,
    /// Writes of a real address (not all-ones, not 0) to the register BAR.
    pub bar_assignments: u64,
    /// Last real address assigned to the register BAR.
    pub bar_assigned: u64,
    pub sync_sysmem: u64,
    pub ram_windows: Vec<(u64, u64)>,
    /// Distinct backing files (memfds) mapped for those windows.
    pub ram_files: usize,
    pub set_irqfd: u64,
    pub resets: u64,
    pub bar_reads: u64,
    pub bar_writes: u64,
    /// BAR accesses outside the BAR, with MEM decoding off, or after vanishing.
    pub bar_unclaimed: u64,
    pub global_reads: BTreeMap<&'static str, u64>,
    pub global_writes: BTreeMap<&'static str, u64>,
    pub queues: Vec<QueueCounters>,
    pub vanished: bool,
    /// MSI Enable as last written (no message is ever sent: the proxy cannot deliver them).
    pub msi_enabled: bool,
    /// MSI-X Enable as last written.
    pub msix_enabled: bool,
    /// MSI-X table entries left unmasked by the guest.
    pub msix_unmasked: usize,
    /// Accesses to the MSI-X BAR (table + PBA).
    pub msix_reads: u64,
    pub msix_writes: u64,
}

/// Thread-safe counters of one function.
pub struct Counters {
    pub function: usize,
    pub kind: &'static str,
    inner: Mutex<Inner>,
}

impl Counters {
    pub fn new(function: usize, kind: &'static str, queues: usize) -> Counters {
        let inner = Inner {
            queues: vec![QueueCounters::default(); queues],
            ..Inner::default()
        };
        Counters {
            function,
            kind,
            inner: Mutex::new(inner),
        }
    }

    /// Runs `f` with the counters locked (a poisoned lock is recovered: counters are plain data).
    pub fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        match self.inner.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Counts one MMIO access; `queue` None = global register.
    pub fn mmio(&self, queue: Option<usize>, reg: &'static str, write: bool) {
        self.with(|c| {
            let map = match queue {
                Some(q) => match c.queues.get_mut(q) {
                    Some(qc) if write => &mut qc.mmio_writes,
                    Some(qc) => &mut qc.mmio_reads,
                    None => return,
                },
                None if write => &mut c.global_writes,
                None => &mut c.global_reads,
            };
            *map.entry(reg).or_insert(0) += 1;
        })
    }

    pub fn queue(&self, q: usize, f: impl FnOnce(&mut QueueCounters)) {
        self.with(|c| {
            if let Some(qc) = c.queues.get_mut(q) {
                f(qc)
            }
        })
    }

    /// JSON object:
    /// `{"function":K,"kind":"ptdma"|"ae4dma","config":{"reads","writes","id_reads",
    /// "bar_assignments","bar_assigned"},"messages":{"sync_sysmem","set_irqfd","device_reset",
    /// "bar_reads","bar_writes","bar_unclaimed"},"ram_windows":[[gpa,size],...],"ram_files":n,"vanished":bool,
    /// "interrupts":{"msi_enabled","msix_enabled","msix_unmasked","msix_reads","msix_writes"},
    /// "global":{"mmio_reads":{REG:n},"mmio_writes":{REG:n}},
    /// "queues":[{"queue":q,"mmio_reads":{REG:n},"mmio_writes":{REG:n},"doorbells","descriptors",
    /// "bytes","errors"}]}` (queue 0 and every queue that saw an MMIO access, a doorbell, a
    /// descriptor or an error; SDXI: one queue per context).
    pub fn to_json(&self) -> Value {
        self.with(|c| {
            let queues: Vec<Value> = c
                .queues
                .iter()
                .enumerate()
                .filter(|(q, qc)| {
                    *q == 0
                        || !qc.mmio_reads.is_empty()
                        || !qc.mmio_writes.is_empty()
                        || qc.doorbells + qc.descriptors + qc.errors > 0
                })
                .map(|(q, qc)| qc.to_json(q))
                .collect();
            json!({
                "function": self.function,
                "kind": self.kind,
                "config": {
                    "reads": c.cfg_reads,
                    "writes": c.cfg_writes,
                    "id_reads": c.id_reads,
                    "bar_assignments": c.bar_assignments,
                    "bar_assigned": c.bar_assigned,
                },
                "messages": {
                    "sync_sysmem": c.sync_sysmem,
                    "set_irqfd": c.set_irqfd,
                    "device_reset": c.resets,
                    "bar_reads": c.bar_reads,
                    "bar_writes": c.bar_writes,
                    "bar_unclaimed": c.bar_unclaimed,
                },
                "ram_windows": c.ram_windows,
                "ram_files": c.ram_files,
                "vanished": c.vanished,
                "interrupts": {
                    "msi_enabled": c.msi_enabled,
                    "msix_enabled": c.msix_enabled,
                    "msix_unmasked": c.msix_unmasked,
                    "msix_reads": c.msix_reads,
                    "msix_writes": c.msix_writes,
                },
                "interrupts": {
                    "msi_enabled": c.msi_enabled,
                    "msix_enabled": c.msix_enabled,
                    "msix_unmasked": c.msix_unmasked,
                    "msix_reads": c.msix_reads,
                    "msix_writes": c.msix_writes,
                },
                "global": {"mmio_reads": c.global_reads, "mmio_writes": c.global_writes},
                "queues": queues,
            })
        })
    }

    /// Appends `to_json()` as one line to `path`.
    pub fn append_to(&self, path: &std::path::Path) -> std::io::Result<()> {
        let line = self.to_json().to_string();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(f, "{line}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let c = Counters::new(1, "ptdma", 1);
        c.mmio(Some(0), "TAIL_LO", true);
        c.mmio(Some(0), "TAIL_LO", true);
        c.mmio(None, "VERSION", false);
        c.queue(0, |q| {
            q.doorbells += 1;
            q.bytes += 4096
        });
        let v = c.to_json();
        assert_eq!(v["function"], 1);
        assert_eq!(v["queues"][0]["mmio_writes"]["TAIL_LO"], 2);
        assert_eq!(v["queues"][0]["bytes"], 4096);
        assert_eq!(v["global"]["mmio_reads"]["VERSION"], 1);
        assert!(!v.to_string().contains('\n'));
    }
}
