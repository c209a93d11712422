//! Guest RAM as seen by the device: a `GuestMemory` trait plus two implementations.
//!
//! `SysMem` follows `qemu-proxy-protocol.md` §6.3: every SYNC_SYSMEM brings one fd per RAM
//! section; each distinct backing file (keyed by `st_dev`/`st_ino`) is mapped once, whole, at
//! offset 0 (`MAP_SHARED`), the GPA window table is rebuilt on every sync, and the received fds
//! are closed by the caller dropping them. `VecMemory` is a plain buffer for socket-less tests.
//! All accesses are bounds-checked; anything outside RAM is an error, never a crash.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use crate::proto::SysmemEntry;

/// A guest-physical range is not (entirely) backed by RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfRam {
    pub gpa: u64,
    pub len: u64,
}

/// Byte-granular access to guest-physical memory.
pub trait GuestMemory: Send + Sync {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), OutOfRam>;
    fn write(&self, gpa: u64, buf: &[u8]) -> Result<(), OutOfRam>;
    /// True when every byte of `[gpa, gpa+len)` is RAM.
    fn contains(&self, gpa: u64, len: u64) -> bool;
    /// Copies `len` bytes with memmove semantics. Default: staged through a bounce buffer.
    fn copy(&self, src: u64, dst: u64, len: u64) -> Result<(), OutOfRam> {
        if !self.contains(src, len) {
            return Err(OutOfRam { gpa: src, len });
        }
        if !self.contains(dst, len) {
            return Err(OutOfRam { gpa: dst, len });
        }
        let mut buf = vec![0u8; len.min(1 << 16) as usize];
        let mut off = 0u64;
        while off < len {
            let n = (len - off).min(buf.len() as u64) as usize;
            self.read(src + off, &mut buf[..n])?;
            self.write(dst + off, &buf[..n])?;
            off += n as u64;
        }
        Ok(())
    }
}

/// A contiguous RAM buffer at a fixed guest-physical base (tests, property tests).
pub struct VecMemory {
    base: u64,
    data: Mutex<Vec<u8>>,
}

impl VecMemory {
    pub fn new(base: u64, size: usize) -> VecMemory {
        VecMemory {
            base,
            data: Mutex::new(vec![0; size]),
        }
    }
    fn range(&self, gpa: u64, len: usize) -> Option<std::ops::Range<usize>> {
        let size = self.data.lock().ok()?.len() as u64;
        let start = gpa.checked_sub(self.base)?;
        let end = start.checked_add(len as u64)?;
        (end <= size).then_some(start as usize..end as usize)
    }
}

impl GuestMemory for VecMemory {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), OutOfRam> {
        let err = OutOfRam {
            gpa,
            len: buf.len() as u64,
        };
        let r = self.range(gpa, buf.len()).ok_or(err)?;
        let d = self.data.lock().map_err(|_| err)?;
        buf.copy_from_slice(&d[r]);
        Ok(())
    }
    fn write(&self, gpa: u64, buf: &[u8]) -> Result<(), OutOfRam> {
        let err = OutOfRam {
            gpa,
            len: buf.len() as u64,
        };
        let r = self.range(gpa, buf.len()).ok_or(err)?;
        let mut d = self.data.lock().map_err(|_| err)?;
        d[r].copy_from_slice(buf);
        Ok(())
    }
    fn contains(&self, gpa: u64, len: u64) -> bool {
        usize::try_from(len)
            .ok()
            .and_then(|l| self.range(gpa, l))
            .is_some()
    }
}

/// One `mmap` of a whole backing file; unmapped when the last window using it goes away.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; all access goes through raw-pointer copies that
// are bounds-checked against `len`, so moving/sharing the handle between threads is sound.
unsafe impl Send for Mapping {}
// SAFETY: see `Send`; no interior Rust references into the mapping are ever handed out.
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` come from a successful mmap in `Mapping::new` and no pointer derived
        // from it outlives this drop (windows hold an `Arc<Mapping>` while copying).
        unsafe {
            let _ = nix::sys::mman::munmap(self.ptr.cast(), self.len);
        }
    }
}

impl Mapping {
    fn new(fd: &OwnedFd, len: usize) -> Result<Mapping, String> {
        use nix::sys::mman::{mmap, MapFlags, ProtFlags};
        let nz = std::num::NonZeroUsize::new(len).ok_or("empty backing file")?;
        // SAFETY: a fresh MAP_SHARED mapping chosen by the kernel (addr = None), so it cannot
        // alias any Rust object; the fd stays valid for the duration of the call.
        let p = unsafe {
            mmap(
                None,
                nz,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                fd.as_fd(),
                0,
            )
        }
        .map_err(|e| format!("mmap of {len} bytes failed: {e}"))?;
        Ok(Mapping { ptr: p.cast(), len })
    }
}

#[derive(Clone)]
struct Window {
    gpa: u64,
    size: u64,
    offset: u64,
    map: Arc<Mapping>,
}

type MapCache = Mutex<HashMap<(u64, u64), Arc<Mapping>>>;

fn lock_maps(m: &MapCache) -> std::sync::MutexGuard<'_, HashMap<(u64, u64), Arc<Mapping>>> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Guest RAM delivered by SYNC_SYSMEM. Cheap to share; snapshots make copies lock-free.
#[derive(Default)]
pub struct SysMem {
    table: Mutex<Arc<Vec<Window>>>,
    maps: MapCache,
}

impl SysMem {
    pub fn new() -> SysMem {
        SysMem::default()
    }

    /// Replaces the GPA table with `entries` (one fd per entry). Returns per-entry warnings for
    /// sections that could not be used (they are left out, not fatal).
    pub fn sync(&self, entries: &[SysmemEntry], fds: &[OwnedFd]) -> Vec<String> {
        let mut warnings = Vec::new();
        let mut windows = Vec::new();
        let mut maps = lock_maps(&self.maps);
        let mut used = HashMap::new();
        for (e, fd) in entries.iter().zip(fds) {
            if e.size == 0 {
                continue;
            }
            let st = match nix::sys::stat::fstat(fd.as_fd()) {
                Ok(st) => st,
                Err(err) => {
                    warnings.push(format!(
                        "fstat of RAM fd for gpa {:#x} failed: {err}",
                        e.gpa
                    ));
                    continue;
                }
            };
            let key = (st.st_dev, st.st_ino);
            let file_len = st.st_size.max(0) as u64;
            let need = e.offset.checked_add(e.size);
            if need.is_none_or(|n| n > file_len) || e.gpa.checked_add(e.size).is_none() {
                warnings.push(format!(
                    "RAM section gpa {:#x} size {:#x} off {:#x} exceeds its file ({file_len:#x} bytes)",
                    e.gpa, e.size, e.offset
                ));
                continue;
            }
            // Reuse a mapping made earlier in this sync, or by an earlier sync if still big enough.
            let known = used.get(&key).or_else(|| maps.get(&key));
            let map = match known.filter(|m| m.len as u64 >= file_len).cloned() {
                Some(m) => m,
                None => match Mapping::new(fd, file_len as usize) {
                    Ok(m) => Arc::new(m),
                    Err(err) => {
                        warnings.push(err);
                        continue;
                    }
                },
            };
            used.insert(key, map.clone());
            windows.push(Window {
                gpa: e.gpa,
                size: e.size,
                offset: e.offset,
                map,
            });
        }
        windows.sort_by_key(|w| w.gpa);
        *maps = used;
        match self.table.lock() {
            Ok(mut t) => *t = Arc::new(windows),
            Err(p) => *p.into_inner() = Arc::new(windows),
        }
        warnings
    }

    /// Number of distinct backing files currently mapped.
    pub fn mapped_files(&self) -> usize {
        lock_maps(&self.maps).len()
    }

    /// (gpa, size) of every RAM window currently known.
    pub fn windows(&self) -> Vec<(u64, u64)> {
        self.snapshot().iter().map(|w| (w.gpa, w.size)).collect()
    }

    fn snapshot(&self) -> Arc<Vec<Window>> {
        match self.table.lock() {
            Ok(t) => t.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Host pointer for `gpa` and the number of bytes contiguous from it (within one window).
    fn translate(t: &[Window], gpa: u64) -> Option<(*mut u8, u64)> {
        let w = t.iter().find(|w| gpa >= w.gpa && gpa - w.gpa < w.size)?;
        let file_off = w.offset + (gpa - w.gpa);
        // SAFETY: `file_off < offset + size <= mapping len` was checked in `sync`.
        let p = unsafe { w.map.ptr.as_ptr().add(file_off as usize) };
        Some((p, w.size - (gpa - w.gpa)))
    }

    fn covered(t: &[Window], gpa: u64, len: u64) -> bool {
        let Some(end) = gpa.checked_add(len) else {
            return false;
        };
        let mut cur = gpa;
        while cur < end {
            match Self::translate(t, cur) {
                Some((_, avail)) => cur = cur.saturating_add(avail),
                None => return false,
            }
        }
        true
    }

    /// Walks `[src, src+len)` and `[dst, dst+len)` in lock-step, calling `f(src_ptr, dst_ptr, n)`.
    fn walk(
        t: &[Window],
        src: u64,
        dst: u64,
        len: u64,
        mut f: impl FnMut(*mut u8, *mut u8, usize),
    ) -> Result<(), OutOfRam> {
        let mut off = 0;
        while off < len {
            let (sp, sa) = Self::translate(t, src + off).ok_or(OutOfRam {
                gpa: src + off,
                len,
            })?;
            let (dp, da) = Self::translate(t, dst + off).ok_or(OutOfRam {
                gpa: dst + off,
                len,
            })?;
            let n = sa.min(da).min(len - off);
            f(sp, dp, n as usize);
            off += n;
        }
        Ok(())
    }
}

impl GuestMemory for SysMem {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), OutOfRam> {
        let t = self.snapshot();
        let len = buf.len() as u64;
        if !Self::covered(&t, gpa, len) {
            return Err(OutOfRam { gpa, len });
        }
        let mut off = 0usize;
        while (off as u64) < len {
            let (p, avail) = Self::translate(&t, gpa + off as u64).ok_or(OutOfRam { gpa, len })?;
            let n = (avail as usize).min(buf.len() - off);
            // SAFETY: `p..p+n` lies inside a live mapping (held by `t`) and `buf[off..off+n]` is a
            // distinct Rust buffer. The guest may write concurrently, exactly as with real DMA.
            unsafe { std::ptr::copy_nonoverlapping(p, buf[off..].as_mut_ptr(), n) };
            off += n;
        }
        Ok(())
    }

    fn write(&self, gpa: u64, buf: &[u8]) -> Result<(), OutOfRam> {
        let t = self.snapshot();
        let len = buf.len() as u64;
        if !Self::covered(&t, gpa, len) {
            return Err(OutOfRam { gpa, len });
        }
        let mut off = 0usize;
        while (off as u64) < len {
            let (p, avail) = Self::translate(&t, gpa + off as u64).ok_or(OutOfRam { gpa, len })?;
            let n = (avail as usize).min(buf.len() - off);
            // SAFETY: as in `read`, with the roles of source and destination swapped.
            unsafe { std::ptr::copy_nonoverlapping(buf[off..].as_ptr(), p, n) };
            off += n;
        }
        Ok(())
    }

    fn contains(&self, gpa: u64, len: u64) -> bool {
        Self::covered(&self.snapshot(), gpa, len)
    }

    fn copy(&self, src: u64, dst: u64, len: u64) -> Result<(), OutOfRam> {
        let t = self.snapshot();
        if !Self::covered(&t, src, len) {
            return Err(OutOfRam { gpa: src, len });
        }
        if !Self::covered(&t, dst, len) {
            return Err(OutOfRam { gpa: dst, len });
        }
        Self::walk(&t, src, dst, len, |s, d, n| {
            // SAFETY: both ranges were bounds-checked against live mappings held by `t`;
            // `ptr::copy` has memmove semantics, so overlapping guest buffers are fine.
            unsafe { std::ptr::copy(s, d, n) }
        })
    }
}
