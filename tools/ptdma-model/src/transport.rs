//! The socket side of one function: receives mpqemu messages, hands them to a `Device`, and
//! answers with exactly one RET per CFGREAD/CFGWRITE/BAR_READ/BAR_WRITE/DEVICE_RESET (none for
//! SYNC_SYSMEM/SET_IRQFD), in order (qemu-proxy-protocol §2.1–§3). Also provides the QEMU-side
//! helpers (`send_msg`, `recv_ret`) used by tests.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use nix::errno::Errno;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

use crate::device::{Device, DeviceOptions};
use crate::guestmem::SysMem;
use crate::proto::{self, cmd, BarAccess, Header, PciConf, HDR_SIZE, MAX_PAYLOAD};

/// One received message.
pub struct Message {
    pub header: Header,
    pub payload: Vec<u8>,
    pub fds: Vec<OwnedFd>,
}

/// Reads exactly `buf.len()` bytes; Ok(false) on EOF before the first byte.
fn read_exact(fd: RawFd, buf: &mut [u8]) -> Result<bool, String> {
    let mut got = 0;
    while got < buf.len() {
        match nix::sys::socket::recv(fd, &mut buf[got..], MsgFlags::empty()) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err("connection closed in the middle of a message".into()),
            Ok(n) => got += n,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(format!("recv failed: {e}")),
        }
    }
    Ok(true)
}

/// Receives one message (header with SCM_RIGHTS fds, then the payload). Ok(None) on EOF.
pub fn recv_msg(fd: RawFd) -> Result<Option<Message>, String> {
    let mut hdr = [0u8; HDR_SIZE];
    let mut fds = Vec::new();
    let got = loop {
        let mut cmsg = nix::cmsg_space!([RawFd; proto::MAX_FDS]);
        let mut iov = [IoSliceMut::new(&mut hdr)];
        match recvmsg::<()>(fd, &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC) {
            Ok(m) => {
                if let Ok(cmsgs) = m.cmsgs() {
                    for c in cmsgs {
                        if let ControlMessageOwned::ScmRights(raw) = c {
                            for r in raw {
                                // SAFETY: the kernel just installed `r` in our fd table for us
                                // (SCM_RIGHTS); nothing else owns it.
                                fds.push(unsafe { OwnedFd::from_raw_fd(r) });
                            }
                        }
                    }
                }
                break m.bytes;
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(format!("recvmsg failed: {e}")),
        }
    };
    if got == 0 {
        return Ok(None);
    }
    if got < HDR_SIZE && !read_exact(fd, &mut hdr[got..])? {
        return Err("connection closed inside a header".into());
    }
    let header = Header::decode(&hdr);
    if header.size > MAX_PAYLOAD as u64 {
        return Err(format!(
            "message cmd {} has size {} > {MAX_PAYLOAD}",
            header.cmd, header.size
        ));
    }
    let mut payload = vec![0u8; header.size as usize];
    if !payload.is_empty() && !read_exact(fd, &mut payload)? {
        return Err("connection closed before the payload".into());
    }
    Ok(Some(Message {
        header,
        payload,
        fds,
    }))
}

/// Sends one message as a single `sendmsg` (header + payload, fds as SCM_RIGHTS).
pub fn send_msg(fd: RawFd, command: i32, payload: &[u8], fds: &[RawFd]) -> Result<(), String> {
    let hdr = Header {
        cmd: command,
        size: payload.len() as u64,
    }
    .encode();
    let iov = [IoSlice::new(&hdr), IoSlice::new(payload)];
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
    let total = hdr.len() + payload.len();
    loop {
        match sendmsg::<()>(fd, &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(n) if n == total => return Ok(()),
            Ok(n) => return Err(format!("short sendmsg: {n} of {total} bytes")),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(format!("sendmsg failed: {e}")),
        }
    }
}

/// Waits for one RET and returns its value (QEMU side, for tests and tools).
pub fn recv_ret(fd: RawFd) -> Result<u64, String> {
    let m = recv_msg(fd)?.ok_or("EOF while waiting for RET")?;
    if m.header.cmd != cmd::RET {
        return Err(format!("expected RET, got cmd {}", m.header.cmd));
    }
    let mut b = [0u8; 8];
    let n = m.payload.len().min(8);
    b[..n].copy_from_slice(&m.payload[..n]);
    Ok(u64::from_le_bytes(b))
}

fn send_ret(fd: RawFd, val: u64) -> Result<(), String> {
    let b = proto::encode_ret(val);
    send_msg(fd, cmd::RET, &b[HDR_SIZE..], &[])
}

/// Serves one function on `sock` until EOF or a fatal protocol error. The device is created
/// here (with a fresh `SysMem`); its counters are shared with the caller up front.
pub struct Server {
    pub device: Device,
    pub sysmem: Arc<SysMem>,
}

impl Server {
    pub fn new(opts: &DeviceOptions) -> Server {
        let sysmem = Arc::new(SysMem::new());
        let device = Device::new(opts, sysmem.clone());
        Server { device, sysmem }
    }

    /// Runs the request loop. Returns Ok on a clean EOF.
    pub fn run(&mut self, sock: &OwnedFd) -> Result<(), String> {
        let fd = sock.as_raw_fd();
        let f = self.device.counters().function;
        while let Some(m) = recv_msg(fd)? {
            self.handle(fd, m)?;
        }
        tracing::info!("function {f}: socket closed by peer");
        Ok(())
    }

    fn handle(&mut self, fd: RawFd, m: Message) -> Result<(), String> {
        let dev = &mut self.device;
        match m.header.cmd {
            cmd::SYNC_SYSMEM => {
                let entries = proto::decode_sysmem(&m.payload, m.fds.len());
                for w in self.sysmem.sync(&entries, &m.fds) {
                    tracing::warn!("SYNC_SYSMEM: {w}");
                }
                let windows = self.sysmem.windows();
                let files = self.sysmem.mapped_files();
                tracing::debug!("SYNC_SYSMEM: {} fds, RAM windows {windows:x?}", m.fds.len());
                dev.counters().with(|c| {
                    c.sync_sysmem += 1;
                    c.ram_windows = windows;
                    c.ram_files = files;
                });
                // m.fds dropped here: the mappings keep what they need.
            }
            cmd::SET_IRQFD => {
                tracing::debug!("SET_IRQFD with {} fds", m.fds.len());
                dev.set_irqfd(m.fds);
            }
            cmd::PCI_CFGREAD => {
                let c = PciConf::decode(&m.payload);
                let v = dev.cfg_read(c.addr, c.len);
                tracing::trace!("CFGREAD addr={:#x} len={} -> {v:#x}", c.addr, c.len);
                send_ret(fd, u64::from(v))?;
            }
            cmd::PCI_CFGWRITE => {
                let c = PciConf::decode(&m.payload);
                tracing::trace!("CFGWRITE addr={:#x} len={} val={:#x}", c.addr, c.len, c.val);
                dev.cfg_write(c.addr, c.val, c.len);
                send_ret(fd, 0)?;
            }
            cmd::BAR_READ => {
                let b = BarAccess::decode(&m.payload);
                let v = dev.bar_read(b.addr, b.size);
                tracing::trace!("BAR_READ addr={:#x} size={} -> {v:#x}", b.addr, b.size);
                send_ret(fd, v)?;
            }
            cmd::BAR_WRITE => {
                let b = BarAccess::decode(&m.payload);
                tracing::trace!(
                    "BAR_WRITE addr={:#x} size={} val={:#x}",
                    b.addr,
                    b.size,
                    b.val
                );
                dev.bar_write(b.addr, b.val, b.size);
                send_ret(fd, 0)?;
            }
            cmd::DEVICE_RESET => {
                tracing::debug!("DEVICE_RESET");
                dev.reset();
                send_ret(fd, 0)?;
            }
            other => tracing::warn!("ignoring message cmd {other} ({} bytes)", m.payload.len()),
        }
        Ok(())
    }
}
