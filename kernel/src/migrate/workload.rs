//! A migration workload: `count` folios of `2^order` frames on one node, each filled
//! with a pattern that depends on the folio id and the byte offset, mapped back to back
//! in a workload address space, with kernel-like metadata per folio.

use super::error::{MigrateError, VerifyError};
use crate::mm::aspace::{AddressSpace, WORKLOAD_BASE};
use crate::mm::frames::{self, Block};
use alloc::vec::Vec;
use kcore::migrate::{flags, pattern_word, FolioMeta};
use kcore::pipeline::BatchError;

/// One folio of the workload: owns its block, so moving the folio moves the frames.
pub type Folio = kcore::pipeline::Folio<Block>;

/// Folios of one size (or a mix of sizes) in their own address space.
pub struct Workload {
    /// The page-table tree mapping the folios.
    pub space: AddressSpace,
    /// The folios.
    pub folios: Vec<Folio>,
    /// Folio order (the largest, for a mixed workload).
    pub order: u8,
    /// Folios of several sizes (`size=mix:…`).
    pub mixed: bool,
    /// Pattern seed of this workload.
    pub seed: u64,
}

impl Workload {
    /// Allocates `count` folios of `order` on `node`, fills and maps them. On failure
    /// everything allocated so far is given back.
    ///
    /// # Errors
    /// [`BatchError::OutOfMemory`] (as [`MigrateError::Batch`]) when `node` has no block left for a folio,
    /// [`MigrateError::Tables`] when the page tables cannot be built.
    pub fn create(node: u32, order: u8, count: usize, seed: u64) -> Result<Self, MigrateError> {
        Self::build(node, &alloc::vec![order; count], false, seed)
    }

    /// Allocates one folio of each order in `orders` on `node` (a mixed workload, laid
    /// out in that order, each folio aligned to its size), fills and maps them.
    ///
    /// # Errors
    /// As [`Workload::create`].
    pub fn create_mixed(node: u32, orders: &[u8], seed: u64) -> Result<Self, MigrateError> {
        Self::build(node, orders, true, seed)
    }

    fn build(node: u32, orders: &[u8], mixed: bool, seed: u64) -> Result<Self, MigrateError> {
        let space = AddressSpace::new(node).map_err(MigrateError::Tables)?;
        let count = orders.len();
        let mut w = Self {
            space,
            folios: Vec::with_capacity(count),
            order: orders.iter().copied().max().unwrap_or(0),
            mixed,
            seed,
        };
        let mut cursor = WORKLOAD_BASE;
        for (id, &order) in orders.iter().enumerate() {
            let id = id as u64;
            let block = match frames::alloc_data(node, order as usize) {
                Ok(b) => b,
                Err(error) => {
                    let _ = w.destroy();
                    return Err(MigrateError::Batch(BatchError::OutOfMemory {
                        node,
                        order,
                        folio: id,
                        error,
                    }));
                }
            };
            let size = kcore::migrate::folio_bytes(order);
            let va = cursor.next_multiple_of(size);
            cursor = va + size;
            let meta = FolioMeta {
                flags: flags::UPTODATE
                    | flags::LRU
                    | if id.is_multiple_of(3) {
                        flags::DIRTY
                    } else {
                        0
                    },
                mapping: 0xf011_0000 + seed,
                index: id,
                refcount: 1 + (id % 2) as u32,
                node,
            };
            let mut f = Folio {
                id,
                va,
                block,
                meta,
            };
            fill(&mut f, seed);
            if let Err(e) = w.space.map(va, f.block.addr(), order) {
                drop(f);
                let _ = w.destroy();
                return Err(MigrateError::Tables(e));
            }
            w.folios.push(f);
        }
        Ok(w)
    }

    /// Checks every folio: it lives on `node`, its metadata says so, every byte holds its
    /// pattern, and a read through the workload mapping sees the same data (the remap
    /// took effect). Returns the first problem.
    ///
    /// # Errors
    /// The first [`VerifyError`] found.
    pub fn verify(&mut self, node: u32) -> Result<(), VerifyError> {
        if let Some(f) = self
            .folios
            .iter()
            .find(|f| f.block.node() != node || f.meta.node != node)
        {
            return Err(VerifyError::WrongNode {
                folio: f.id,
                block_node: f.block.node(),
                meta_node: f.meta.node,
            });
        }
        self.verify_data()
    }

    /// Every folio's metadata (but its node), every byte of its data, and a sample of
    /// each through the workload mapping.
    fn verify_data(&mut self) -> Result<(), VerifyError> {
        let seed = self.seed;
        for f in &self.folios {
            if f.meta.flags & flags::MIGRATING != 0
                || f.meta.mapping != 0xf011_0000 + seed
                || f.meta.index != f.id
            {
                return Err(VerifyError::Metadata { folio: f.id });
            }
            for (i, chunk) in f.block.as_slice().chunks_exact(8).enumerate() {
                let got = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
                let want = pattern_word(seed, f.id, i as u64);
                if got != want {
                    return Err(VerifyError::Data {
                        folio: f.id,
                        offset: i as u64 * 8,
                        got,
                        want,
                    });
                }
            }
        }
        let folios = &self.folios;
        let sample = self.space.with_active(|space| {
            folios.iter().find_map(|f| {
                let last = kcore::migrate::folio_bytes(f.block.order()) / 8 - 1;
                [0, last].into_iter().find_map(|w| {
                    // A read the space refuses (not mapped to a data block) is as wrong as
                    // a stale value.
                    let got = space.read_mapped_u64(f.va + w * 8).ok();
                    (got != Some(pattern_word(seed, f.id, w))).then_some((f.id, w))
                })
            })
        });
        match sample {
            Some((folio, word)) => Err(VerifyError::StaleMapping { folio, word }),
            None => Ok(()),
        }
    }

    /// Checks what a rolled-back migration must leave: every folio on `from` or `to`
    /// with metadata that says so and no MIGRATING bit, every byte holding its pattern,
    /// and the workload mapping reading the same data. Returns how many folios are on
    /// `to` (moved before the failure), or the first problem.
    ///
    /// # Errors
    /// The first [`VerifyError`] found.
    pub fn verify_intact(&mut self, from: u32, to: u32) -> Result<usize, VerifyError> {
        for f in &self.folios {
            if ![from, to].contains(&f.block.node()) || f.meta.node != f.block.node() {
                return Err(VerifyError::WrongNode {
                    folio: f.id,
                    block_node: f.block.node(),
                    meta_node: f.meta.node,
                });
            }
        }
        self.verify_data()?;
        Ok(self.folios.iter().filter(|f| f.block.node() == to).count())
    }

    /// Bytes of all folios.
    pub fn bytes(&self) -> u64 {
        self.folios.iter().map(|f| f.block.bytes()).sum()
    }

    /// Batch ranges of at most `limit` base pages (0: one folio per batch).
    pub fn batches(&self, limit: u64) -> Vec<core::ops::Range<usize>> {
        if self.mixed {
            let orders: Vec<u8> = self.folios.iter().map(|f| f.order()).collect();
            kcore::mix::batch_ranges(&orders, limit)
        } else {
            kcore::migrate::batches(self.folios.len(), self.order, limit).collect()
        }
    }

    /// Unmaps and frees every folio and the page tables.
    ///
    /// # Errors
    /// [`MigrateError::Teardown`] for the first folio that could not be unmapped or
    /// freed (the others are still torn down).
    pub fn destroy(mut self) -> Result<(), MigrateError> {
        let mut first_err = None;
        for f in self.folios.drain(..) {
            let unmap = self.space.unmap(f.va, f.order()).err();
            let free = frames::free(f.block).err();
            if unmap.is_some() || free.is_some() {
                first_err.get_or_insert(MigrateError::Teardown {
                    folio: f.id,
                    unmap,
                    free,
                });
            }
        }
        self.space.destroy();
        first_err.map_or(Ok(()), Err)
    }
}

fn fill(f: &mut Folio, seed: u64) {
    let id = f.id;
    for (i, chunk) in f.block.as_mut_slice().chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&pattern_word(seed, id, i as u64).to_le_bytes());
    }
}
