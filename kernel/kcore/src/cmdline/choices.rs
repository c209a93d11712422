//! The keys whose values are a closed set of words, as enums parsed once here: the
//! kernel matches on them and never compares the words again. Each default is the key
//! table's ([`super::KEYS`]).

use crate::words::words;

words! {
    /// `engine=`: what copies the folios of a migration.
    pub enum Engine {
        /// One core with the routine chosen at boot (`copy=`).
        Cpu = "cpu",
        /// `threads=` worker CPUs placed by `placement=`.
        CpuMt = "cpu-mt",
        /// PTDMA/AE4DMA queues or SDXI contexts (`channels=`, `dma-split=`, `dma-kind=`).
        Dma = "dma",
        /// CPU workers and DMA queues sharing each batch (`hybrid-cpu=`).
        Hybrid = "hybrid",
    }
}

words! {
    /// `dma-kind=`: which kind of DMA engine `engine=dma` (and every DMA user) takes when
    /// several kinds are present.
    pub enum DmaKind {
        /// AMD PTDMA functions (1022:1498), one queue each.
        Ptdma = "ptdma",
        /// AMD AE4DMA functions (1022:149b), up to 16 queues each.
        Ae4dma = "ae4dma",
        /// SNIA SDXI functions (class 0x120100), one client context per channel.
        Sdxi = "sdxi",
    }
}

words! {
    /// `mode=`: how the four phases of a migration (prepare, unmap + flush, copy, remap)
    /// are ordered.
    pub enum Mode {
        /// Each phase over the whole batch (the RFC's `migrate_folios_batch_move`).
        Batched = "batched",
        /// All four phases for one folio before the next (stock `migrate_pages`).
        PerFolio = "per-folio",
    }
}

words! {
    /// `dma-split=`: how a batch is split across DMA channels.
    pub enum DmaSplit {
        /// Folio i to channel i mod n (RFC V2).
        RoundRobin = "rr",
        /// Contiguous blocks of folios, one per channel (RFC V3).
        Contiguous = "contiguous",
        /// Chunks of `dma-chunk=` bytes, cut inside folios when there are fewer folios
        /// than channels.
        Bytes = "bytes",
    }
}

words! {
    /// `copy=`: the CPU copy routine of the `cpu` engine.
    pub enum CopyRoutine {
        /// The fastest routine measured at boot.
        Auto = "auto",
        /// `rep movsb` (fast strings / ERMS).
        Movsb = "movsb",
        /// SSE2 16-byte loads and stores.
        Sse2 = "sse2",
        /// AVX2 32-byte loads and stores.
        Avx2 = "avx2",
        /// AVX-512F 64-byte loads and stores.
        Avx512 = "avx512",
        /// SSE2 loads and non-temporal stores (`movntdq`).
        NonTemporal = "nt",
    }
}

words! {
    /// `ap-start=`: how the other CPUs are started.
    pub enum ApStart {
        /// All at once; each finds its slot by APIC ID.
        Parallel = "parallel",
        /// One at a time.
        Serial = "serial",
    }
}
