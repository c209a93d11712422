//! Wire format of QEMU 7.2's multi-process proxy ("mpqemu") messages.
//!
//! Follows `shared/reference/qemu-proxy-protocol.md` §2: a 16-byte header `{i32 cmd, u32 pad,
//! u64 size}` in host (little-endian) byte order, then `size` payload bytes (at most 192), with
//! file descriptors carried as one `SCM_RIGHTS` message. Pure encode/decode, no I/O.

/// Header length on the wire (`MPQEMU_MSG_HDR_SIZE`).
pub const HDR_SIZE: usize = 16;
/// Largest payload QEMU accepts (`sizeof(data)` = `SyncSysmemMsg`).
pub const MAX_PAYLOAD: usize = 192;
/// `REMOTE_MAX_FDS`.
pub const MAX_FDS: usize = 8;

/// `MPQemuCmd` values (§2.2).
pub mod cmd {
    pub const SYNC_SYSMEM: i32 = 0;
    pub const RET: i32 = 1;
    pub const PCI_CFGWRITE: i32 = 2;
    pub const PCI_CFGREAD: i32 = 3;
    pub const BAR_WRITE: i32 = 4;
    pub const BAR_READ: i32 = 5;
    pub const SET_IRQFD: i32 = 6;
    pub const DEVICE_RESET: i32 = 7;
}

/// Decoded message header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub cmd: i32,
    pub size: u64,
}

impl Header {
    pub fn decode(b: &[u8; HDR_SIZE]) -> Header {
        Header {
            cmd: i32::from_le_bytes(b[0..4].try_into().unwrap_or_default()),
            size: u64::from_le_bytes(b[8..16].try_into().unwrap_or_default()),
        }
    }
    pub fn encode(&self) -> [u8; HDR_SIZE] {
        let mut b = [0u8; HDR_SIZE];
        b[0..4].copy_from_slice(&self.cmd.to_le_bytes());
        b[8..16].copy_from_slice(&self.size.to_le_bytes());
        b
    }
}

fn u32_at(p: &[u8], off: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(s) = p.get(off..off + 4) {
        b.copy_from_slice(s);
    }
    u32::from_le_bytes(b)
}

fn u64_at(p: &[u8], off: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(s) = p.get(off..off + 8) {
        b.copy_from_slice(s);
    }
    u64::from_le_bytes(b)
}

/// `PciConfDataMsg {u32 addr; u32 val; int len}` (12 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciConf {
    pub addr: u32,
    pub val: u32,
    pub len: u32,
}

impl PciConf {
    /// Decodes a payload; missing bytes read as zero (QEMU always sends 12).
    pub fn decode(p: &[u8]) -> PciConf {
        PciConf {
            addr: u32_at(p, 0),
            val: u32_at(p, 4),
            len: u32_at(p, 8),
        }
    }
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(12);
        v.extend_from_slice(&self.addr.to_le_bytes());
        v.extend_from_slice(&self.val.to_le_bytes());
        v.extend_from_slice(&self.len.to_le_bytes());
        v
    }
}

/// `BarAccessMsg {hwaddr addr; u64 val; unsigned size; bool memory}` (24 bytes).
/// `addr` is the absolute guest-physical address (§5), not a BAR offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarAccess {
    pub addr: u64,
    pub val: u64,
    pub size: u32,
    pub memory: bool,
}

impl BarAccess {
    pub fn decode(p: &[u8]) -> BarAccess {
        BarAccess {
            addr: u64_at(p, 0),
            val: u64_at(p, 8),
            size: u32_at(p, 16),
            memory: p.get(20).copied().unwrap_or(0) != 0,
        }
    }
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(24);
        v.extend_from_slice(&self.addr.to_le_bytes());
        v.extend_from_slice(&self.val.to_le_bytes());
        v.extend_from_slice(&self.size.to_le_bytes());
        v.extend_from_slice(&[u8::from(self.memory), 0, 0, 0]);
        v
    }
}

/// One RAM section of a `SyncSysmemMsg {hwaddr gpas[8]; u64 sizes[8]; off_t offsets[8]}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysmemEntry {
    pub gpa: u64,
    pub size: u64,
    pub offset: u64,
}

/// Decodes the first `nfds` entries (QEMU sends one fd per entry, §6.1).
pub fn decode_sysmem(p: &[u8], nfds: usize) -> Vec<SysmemEntry> {
    (0..nfds.min(MAX_FDS))
        .map(|i| SysmemEntry {
            gpa: u64_at(p, i * 8),
            size: u64_at(p, 64 + i * 8),
            offset: u64_at(p, 128 + i * 8),
        })
        .collect()
}

/// Encodes a sysmem table (used by tests and by anything acting as the QEMU side).
pub fn encode_sysmem(entries: &[SysmemEntry]) -> Vec<u8> {
    let mut v = vec![0u8; MAX_PAYLOAD];
    for (i, e) in entries.iter().take(MAX_FDS).enumerate() {
        v[i * 8..i * 8 + 8].copy_from_slice(&e.gpa.to_le_bytes());
        v[64 + i * 8..72 + i * 8].copy_from_slice(&e.size.to_le_bytes());
        v[128 + i * 8..136 + i * 8].copy_from_slice(&e.offset.to_le_bytes());
    }
    v
}

/// The complete bytes of a RET message carrying `val`.
pub fn encode_ret(val: u64) -> [u8; HDR_SIZE + 8] {
    let mut b = [0u8; HDR_SIZE + 8];
    b[..HDR_SIZE].copy_from_slice(
        &Header {
            cmd: cmd::RET,
            size: 8,
        }
        .encode(),
    );
    b[HDR_SIZE..].copy_from_slice(&val.to_le_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_roundtrip_and_layout() {
        let h = Header {
            cmd: cmd::BAR_READ,
            size: 24,
        };
        let b = h.encode();
        assert_eq!(&b[0..4], &[5, 0, 0, 0]);
        assert_eq!(&b[4..8], &[0, 0, 0, 0]);
        assert_eq!(b[8], 24);
        assert_eq!(Header::decode(&b), h);
    }

    #[test]
    fn bar_access_layout() {
        let m = BarAccess {
            addr: 0xfea0_0008,
            val: 0x1234_5678_9abc_def0,
            size: 8,
            memory: true,
        };
        let e = m.encode();
        assert_eq!(e.len(), 24);
        assert_eq!(e[20], 1);
        assert_eq!(BarAccess::decode(&e), m);
    }

    #[test]
    fn sysmem_roundtrip() {
        let t = [
            SysmemEntry {
                gpa: 0,
                size: 0xa0000,
                offset: 0,
            },
            SysmemEntry {
                gpa: 0xc0000,
                size: 0x1ff40000,
                offset: 0xc0000,
            },
        ];
        let p = encode_sysmem(&t);
        assert_eq!(p.len(), 192);
        assert_eq!(decode_sysmem(&p, 2), t.to_vec());
    }

    #[test]
    fn ret_encoding() {
        let r = encode_ret(0x1498_1022);
        assert_eq!(
            Header::decode(r[..16].try_into().unwrap()),
            Header {
                cmd: cmd::RET,
                size: 8
            }
        );
        assert_eq!(u64::from_le_bytes(r[16..].try_into().unwrap()), 0x1498_1022);
    }
}
