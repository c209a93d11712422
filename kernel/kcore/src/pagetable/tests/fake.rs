//! Fake physical memory for the tests: tables in a `HashMap`, with allocation accounting.

use std::collections::{HashMap, HashSet};

use crate::pagetable::{TableMemory, ENTRIES};

/// Page tables keyed by physical address; panics on any access a real kernel would fault on.
pub struct FakeMemory {
    tables: HashMap<u64, [u64; ENTRIES]>,
    next: u64,
    /// Tables handed out so far.
    pub allocs: usize,
    /// Tables given back so far.
    pub frees: usize,
    /// Successful allocations left before `alloc_table` fails; None: unlimited.
    pub fail_after: Option<usize>,
    /// Every write, for checking that some tables were never touched.
    pub written: HashSet<u64>,
}

impl FakeMemory {
    /// Empty memory; frames are handed out from 16 MiB up.
    pub fn new() -> Self {
        Self {
            tables: HashMap::new(),
            next: 0x100_0000,
            allocs: 0,
            frees: 0,
            fail_after: None,
            written: HashSet::new(),
        }
    }

    /// Tables allocated and not yet freed.
    pub fn live(&self) -> usize {
        self.allocs - self.frees
    }

    /// A copy of the whole table at `phys`.
    pub fn table(&self, phys: u64) -> [u64; ENTRIES] {
        self.tables[&phys]
    }
}

impl TableMemory for FakeMemory {
    fn alloc_table(&mut self) -> Option<u64> {
        if let Some(left) = self.fail_after.as_mut() {
            if *left == 0 {
                return None;
            }
            *left -= 1;
        }
        let phys = self.next;
        self.next += 0x1000;
        self.allocs += 1;
        self.tables.insert(phys, [0; ENTRIES]);
        Some(phys)
    }

    fn free_table(&mut self, phys: u64) {
        assert!(
            self.tables.remove(&phys).is_some(),
            "free of non-table {phys:#x}"
        );
        self.frees += 1;
    }

    fn read_entry(&self, table: u64, index: usize) -> u64 {
        match self.tables.get(&table) {
            Some(t) => t[index],
            None => panic!("read of non-table {table:#x}"),
        }
    }

    fn write_entry(&mut self, table: u64, index: usize, value: u64) {
        match self.tables.get_mut(&table) {
            Some(t) => t[index] = value,
            None => panic!("write to non-table {table:#x}"),
        }
        self.written.insert(table);
    }
}
