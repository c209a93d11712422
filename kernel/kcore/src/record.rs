//! The vocabulary of the machine-readable lines a benchmark prints: the `RESULT {json}` line
//! of each cell and the closing `RUN {json}` line (DESIGN.md §6).
//!
//! One definition for three readers: the kernel writes its lines with these keys, and
//! `tools/report` and the runner (`xtask`) read them with the same keys and check the
//! required ones, so a renamed or retyped key fails to compile or fails a host test instead
//! of silently dropping a column from a report.
//!
//! A [`Key`] carries its JSON type as a type parameter ([`Str`], [`UInt`], [`Num`], [`Bool`],
//! [`Label`], [`Object`], [`UIntArray`]): the kernel's writer accepts a `Key<UInt>` only where
//! it writes an integer. The tables [`RESULT_KEYS`] and [`RUN_KEYS`] list every shared key
//! with its [`Type`] and whether a line without it is malformed.

use core::marker::PhantomData;

/// The marker before a cell's JSON object: `RESULT {…}`.
pub const RESULT_MARKER: &str = "RESULT";
/// The marker before a run's closing JSON object: `RUN {…}`.
pub const RUN_MARKER: &str = "RUN";

/// The JSON type of a key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// A string.
    Str,
    /// A non-negative integer.
    UInt,
    /// A finite number; `null` stands for "not measured" (NaN in the kernel).
    Num,
    /// `true` or `false`.
    Bool,
    /// A string or a non-negative integer (node numbers, placements).
    Label,
    /// A nested object (its fields are listed beside the key).
    Object,
    /// An array of non-negative integers.
    UIntArray,
}

/// A JSON type as a type parameter of [`Key`].
pub trait JsonType {
    /// The runtime tag of this type.
    const TYPE: Type;
}

macro_rules! json_types {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name;
        impl JsonType for $name {
            const TYPE: Type = Type::$name;
        }
    )*};
}

json_types!(
    /// Marks a string key.
    Str,
    /// Marks a non-negative integer key.
    UInt,
    /// Marks a number key.
    Num,
    /// Marks a boolean key.
    Bool,
    /// Marks a string-or-integer key.
    Label,
    /// Marks a nested-object key.
    Object,
    /// Marks an integer-array key.
    UIntArray,
);

/// A key of a `RESULT` or `RUN` object whose value has JSON type `T`.
#[derive(Debug)]
pub struct Key<T> {
    /// The key as written in the JSON object.
    pub name: &'static str,
    /// Whether a line without this key is malformed.
    pub required: bool,
    ty: PhantomData<T>,
}

impl<T> Clone for Key<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Key<T> {}

impl<T: JsonType> Key<T> {
    /// A key every line of its kind must carry.
    pub const fn required(name: &'static str) -> Self {
        Self {
            name,
            required: true,
            ty: PhantomData,
        }
    }

    /// A key that may be absent (older logs, experiments that do not measure it).
    pub const fn optional(name: &'static str) -> Self {
        Self {
            name,
            required: false,
            ty: PhantomData,
        }
    }

    /// The key's row in a table.
    pub const fn spec(self) -> KeySpec {
        KeySpec {
            name: self.name,
            ty: T::TYPE,
            required: self.required,
        }
    }
}

/// A key's row in [`RESULT_KEYS`] or [`RUN_KEYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    /// The key as written.
    pub name: &'static str,
    /// Its JSON type.
    pub ty: Type,
    /// Whether a line without it is malformed.
    pub required: bool,
}

/// Something that names a key of JSON type `T`: a shared [`Key<T>`], or a plain `&str` for
/// a key only one experiment writes and nothing else reads.
pub trait KeyName<T> {
    /// The key as written.
    fn key_name(&self) -> &str;
}

impl<T> KeyName<T> for Key<T> {
    fn key_name(&self) -> &str {
        self.name
    }
}

/// A label is written as a string or as an integer.
impl KeyName<Str> for Key<Label> {
    fn key_name(&self) -> &str {
        self.name
    }
}

/// A label is written as a string or as an integer.
impl KeyName<UInt> for Key<Label> {
    fn key_name(&self) -> &str {
        self.name
    }
}

impl<T, S: AsRef<str> + ?Sized> KeyName<T> for &S {
    fn key_name(&self) -> &str {
        (*self).as_ref()
    }
}

/// Declares typed keys and the table of all of them (`NAME: Type = required("key");`), so a
/// key cannot be left out of its table.
macro_rules! keys {
    ($table:ident; $($(#[$doc:meta])* $name:ident: $ty:ident = $need:ident($key:literal);)*) => {
        $($(#[$doc])* pub const $name: Key<$ty> = Key::$need($key);)*
        /// Every key above, in order.
        pub const $table: &[KeySpec] = &[$($name.spec()),*];
    };
}

/// Keys of a cell's `RESULT` object.
pub mod result {
    use super::{Bool, Key, KeySpec, Label, Num, Object, Str, UInt, UIntArray};

    keys! {
        ALL;
        /// Experiment name (`1a`, `frontier-ceiling`, `streams`, …).
        EXP: Str = required("exp");
        /// Engine name (`cpu`, `cpu-mt`, `dma`, `hybrid`, `auto`, …).
        ENGINE: Str = required("engine");
        /// What was timed (`batched`, `per-folio`, `raw-copy`, …).
        MODE: Str = required("mode");
        /// Folio size, KiB (for a mixed workload: its smallest size).
        FOLIO_KIB: UInt = required("folio_kib");
        /// Folios per repetition.
        FOLIOS: UInt = required("folios");
        /// CPU threads that copied.
        THREADS: UInt = required("threads");
        /// DMA channels that copied.
        CHANNELS: UInt = required("channels");
        /// The DMA engine kind of a cell with channels (`ptdma`, `ae4dma`, `sdxi`, or several
        /// joined by `+`), `-` without.
        DMA_KIND: Str = optional("dma_kind");
        /// Where the copying CPUs ran (a placement name or a node).
        PLACEMENT: Label = optional("placement");
        /// Source NUMA node.
        FROM: Label = optional("from");
        /// Destination NUMA node.
        TO: Label = optional("to");
        /// Bytes migrated per repetition.
        BYTES: UInt = required("bytes");
        /// Per folio size of a mixed workload: `{"2M": {folios, bytes, share_pct}, …}`.
        MIX: Object = optional("mix");
        /// Pages per batch (a huge value means "one batch").
        BATCH_PAGES: UInt = optional("batch_pages");
        /// Measured repetitions.
        REPS: UInt = required("reps");
        /// Mean throughput, GB/s (1e9 bytes per second).
        GBPS_MEAN: Num = required("gbps_mean");
        /// Standard deviation of the throughput, GB/s.
        GBPS_STDEV: Num = required("gbps_stdev");
        /// Coefficient of variation of the throughput (stdev / mean).
        GBPS_CV: Num = optional("gbps_cv");
        /// Slowest repetition, GB/s.
        GBPS_MIN: Num = optional("gbps_min");
        /// Fastest repetition, GB/s.
        GBPS_MAX: Num = optional("gbps_max");
        /// Time per phase, ns, summed over the repetitions: fields [`PHASE_NS_FIELDS`].
        PHASE_NS: Object = optional("phase_ns");
        /// Every destination byte was compared with its source.
        VERIFIED: Bool = required("verified");
        /// What the figure is worth (`kcore::honesty::Status::name`).
        STATUS: Str = optional("status");
        /// Bytes the DMA engines copied (warm-up and repetitions).
        BYTES_DMA: UInt = optional("bytes_dma");
        /// Bytes the CPU copied by design.
        BYTES_CPU: UInt = optional("bytes_cpu");
        /// Bytes the CPU copied because DMA failed.
        BYTES_FALLBACK: UInt = optional("bytes_fallback");
        /// `bytes_fallback / (bytes_dma + bytes_fallback)`.
        FALLBACK_SHARE: Num = optional("fallback_share");
        /// Fallback bytes of the warm-up, then of each repetition.
        FALLBACK_BYTES_PER_REP: UIntArray = optional("fallback_bytes_per_rep");
        /// Register traffic of the DMA engines: fields [`MMIO_FIELDS`].
        MMIO: Object = optional("mmio");
        /// Copy operations the CPU took over from DMA.
        FALLBACK_OPS: UInt = optional("fallback_ops");
        /// Batches submitted to DMA.
        DMA_BATCHES: UInt = optional("dma_batches");
        /// Time spent submitting to DMA, ns.
        DMA_SUBMIT_NS: UInt = optional("dma_submit_ns");
        /// Time spent waiting for DMA, ns.
        DMA_WAIT_NS: UInt = optional("dma_wait_ns");
        /// How a batch is cut across channels (`folios`, `bytes`).
        DMA_SPLIT: Str = optional("dma_split");
        /// Smallest batch given to DMA, bytes.
        DMA_MIN_BATCH: UInt = optional("dma_min_batch");
        /// Batches DMA declined (copied by the CPU by design).
        DECLINED_BATCHES: UInt = optional("declined_batches");
        /// The CPU copy routine (`rep-movsb`, `avx2`, …).
        COPY_ROUTINE: Str = optional("copy_routine");
        /// `tcg` or `kvm` or `none` (bare metal).
        ACCEL: Str = required("accel");
        /// The CPU's brand string.
        CPU: Str = required("cpu");
        /// The machine's shape (sockets, nodes, CPUs).
        TOPOLOGY: Str = optional("topology");
        /// The emulated DMA engine's timing profile, or the silicon.
        DMA_PROFILE: Str = optional("dma_profile");
        /// CPU features forced on or off.
        FEATURES: Str = optional("features");
        /// How a KVM guest was bound to its host (`none` otherwise).
        HOST: Str = optional("host");
        /// Unmapped window per batch, µs: `{p50, p99, max}`.
        UNMAPPED_US: Object = optional("unmapped_us");
        /// Time until the first folio of a batch is mapped again, µs: `{p50, max}`.
        FIRST_MAPPED_US: Object = optional("first_mapped_us");
        /// Mean as a percentage of the boot's best CPU raw copy.
        PCT_OF_CEILING: Num = optional("pct_of_ceiling");
        /// Mean as a percentage of the boot's best DMA raw copy.
        PCT_OF_DMA_CEILING: Num = optional("pct_of_dma_ceiling");
        /// Background load of a `load` cell (`none`, `cpu`, `mem`, …).
        LOAD: Str = optional("load");
    }

    /// The fields of [`PHASE_NS`], in pipeline order.
    pub const PHASE_NS_FIELDS: [&str; 4] = ["prepare", "unmap", "copy", "remap"];
    /// The fields of [`MMIO`]: MMIO reads, MMIO writes, doorbell writes.
    pub const MMIO_FIELDS: [&str; 3] = ["reads", "writes", "doorbells"];

    /// Keys only `bench=streams` and `bench=appcost` write.
    pub mod streams {
        use super::{Key, Num, Object, Str, UInt};

        /// This stream's index.
        pub const STREAM: Key<UInt> = Key::optional("stream");
        /// Streams in the set.
        pub const STREAMS: Key<UInt> = Key::optional("streams");
        /// The coordinating CPU of this stream.
        pub const STREAM_CPU: Key<UInt> = Key::optional("stream_cpu");
        /// The admission policy (`wait`, `cpu`, `mixed`, or `-`).
        pub const ADMIT: Key<Str> = Key::optional("admit");
        /// Longest wait for a channel, µs.
        pub const WAIT_US: Key<UInt> = Key::optional("wait_us");
        /// Admission counts: fields [`ADMISSION_FIELDS`].
        pub const ADMISSION: Key<Object> = Key::optional("admission");
        /// The fields of [`ADMISSION`].
        pub const ADMISSION_FIELDS: [&str; 7] = [
            "asked",
            "full",
            "partial",
            "waited",
            "wait_ns",
            "refused",
            "refused_after_wait",
        ];
        /// Batch latency, µs: `{p50, p99, max}`.
        pub const BATCH_US: Key<Object> = Key::optional("batch_us");
        /// The set's summed throughput, GB/s.
        pub const SET_GBPS_MEAN: Key<Num> = Key::optional("set_gbps_mean");
        /// Jain's fairness index of the set (1 = fair).
        pub const JAIN: Key<Num> = Key::optional("jain");
        /// A foreground job's cost: `{"chase-…": {…}, "read": {…}}`.
        pub const FG: Key<Object> = Key::optional("fg");
    }
}

/// Keys of the closing `RUN` object.
pub mod run {
    use super::{Key, KeySpec, Num, Str, UInt};
    use crate::honesty::Status;

    keys! {
        ALL;
        /// Cells measured.
        CELLS: UInt = required("cells");
        /// Cells whose verification failed (0 when absent).
        FAILURES: UInt = optional("failures");
        /// Cells marked degraded.
        DEGRADED: UInt = optional("degraded");
        /// Cells marked invalid.
        INVALID: UInt = optional("invalid");
        /// Cells that did not fit in memory.
        OUT_OF_MEMORY: UInt = optional("out_of_memory");
        /// Wall time of the run, seconds.
        ELAPSED_S: Num = optional("elapsed_s");
        /// The run's worst outcome (`kcore::honesty::Status::name`).
        STATUS: Str = required("status");
        /// As [`super::result::ACCEL`].
        ACCEL: Str = optional("accel");
        /// As [`super::result::CPU`].
        CPU: Str = optional("cpu");
        /// As [`super::result::TOPOLOGY`].
        TOPOLOGY: Str = optional("topology");
        /// The DMA timing profile (named `ptdma_profile` in RUN lines since before AE4DMA).
        PTDMA_PROFILE: Str = optional("ptdma_profile");
        /// As [`super::result::FEATURES`].
        FEATURES: Str = optional("features");
        /// As [`super::result::HOST`].
        HOST: Str = optional("host");
    }

    /// The key counting the cells that ended with `status` (none for `ok`).
    pub const fn count_of(status: Status) -> Option<Key<UInt>> {
        match status {
            Status::Ok => None,
            Status::Degraded => Some(DEGRADED),
            Status::Invalid => Some(INVALID),
            Status::OutOfMemory => Some(OUT_OF_MEMORY),
            Status::VerificationFailed => Some(FAILURES),
        }
    }
}

/// Every shared key of a `RESULT` object (the common keys every cell writes; experiment
/// keys other readers use are in [`result::streams`]).
pub const RESULT_KEYS: &[KeySpec] = result::ALL;

/// Every key of a `RUN` object.
pub const RUN_KEYS: &[KeySpec] = run::ALL;

/// The keys of `table` a line must carry.
pub fn required(table: &[KeySpec]) -> impl Iterator<Item = &KeySpec> {
    table.iter().filter(|k| k.required)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn no_key_is_listed_twice() {
        for table in [RESULT_KEYS, RUN_KEYS] {
            let mut seen = HashSet::new();
            for k in table {
                assert!(seen.insert(k.name), "`{}` listed twice", k.name);
            }
        }
    }

    #[test]
    fn the_required_keys_are_the_documented_ones() {
        // DESIGN.md §6: a cell without these is not a cell.
        let names: Vec<_> = required(RESULT_KEYS).map(|k| k.name).collect();
        assert_eq!(
            names,
            [
                "exp",
                "engine",
                "mode",
                "folio_kib",
                "folios",
                "threads",
                "channels",
                "bytes",
                "reps",
                "gbps_mean",
                "gbps_stdev",
                "verified",
                "accel",
                "cpu"
            ]
        );
        let run: Vec<_> = required(RUN_KEYS).map(|k| k.name).collect();
        assert_eq!(run, ["cells", "status"]);
    }

    #[test]
    fn a_key_keeps_its_type_in_the_table() {
        assert_eq!(result::VERIFIED.spec().ty, Type::Bool);
        assert_eq!(result::FALLBACK_BYTES_PER_REP.spec().ty, Type::UIntArray);
        assert_eq!(run::ELAPSED_S.spec().ty, Type::Num);
        let named: &dyn KeyName<UInt> = &result::FOLIOS;
        assert_eq!(
            run::count_of(crate::honesty::Status::OutOfMemory).map(|k| k.name),
            Some("out_of_memory"),
            "the RUN count of a status is not its status name"
        );
        assert_eq!(named.key_name(), "folios");
    }
}
