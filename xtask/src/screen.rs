//! Screen checks of the framebuffer console (the check's ISO boots, check_groups.rs): QEMU's
//! QMP socket (JSON lines, [`crate::qmp`]) for a screendump, `quit` and whether CPU 0 sits in
//! the kernel's final halt (HLT with interrupts off; firmware idles with IF=1); the
//! screendump's non-background pixels counted; PPM turned into PNG for viewing. Every wait
//! is bounded.

use std::collections::HashMap;
use std::fmt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::qmp::Qmp;

/// What went wrong with a screen check.
#[derive(Debug)]
pub enum ScreenError {
    /// The QMP socket or a command failed.
    Qmp(String),
    /// A file could not be read or written.
    Io(String),
    /// The file is not a binary 8-bit PPM.
    NotPpm(String),
    /// QEMU did not write the screendump in time.
    NoDump(String),
}

impl fmt::Display for ScreenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScreenError::Qmp(m) => write!(f, "QMP: {m}"),
            ScreenError::Io(m) => write!(f, "{m}"),
            ScreenError::NotPpm(p) => write!(f, "{p}: not a binary 8-bit PPM"),
            ScreenError::NoDump(p) => write!(f, "no screendump in {p} after 10 s"),
        }
    }
}

impl std::error::Error for ScreenError {}

/// Runs one QMP session on `socket` (capabilities negotiated) with a 10 s read limit.
fn with_qmp<T>(
    socket: &str,
    f: impl FnOnce(&mut Qmp) -> Result<T, String>,
) -> Result<T, ScreenError> {
    let stream =
        UnixStream::connect(socket).map_err(|e| ScreenError::Qmp(format!("{socket}: {e}")))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut q = Qmp::handshake(stream).map_err(|e| ScreenError::Qmp(format!("handshake: {e}")))?;
    f(&mut q).map_err(ScreenError::Qmp)
}

/// True when `info registers` shows CPU 0 halted with interrupts off (RFLAGS.IF clear).
pub fn halted_in(registers: &str) -> bool {
    let rfl = registers
        .split_whitespace()
        .find_map(|w| w.strip_prefix("RFL="))
        .and_then(|h| u64::from_str_radix(h, 16).ok());
    registers.contains("HLT=1") && rfl.is_some_and(|f| f & 0x200 == 0)
}

/// True when CPU 0 sits in the kernel's final halt (QMP `info registers`).
///
/// # Errors
/// [`ScreenError::Qmp`] when QEMU does not answer.
pub fn halted(socket: &str) -> Result<bool, ScreenError> {
    with_qmp(socket, |q| {
        let args = json!({"command-line": "info registers", "cpu-index": 0});
        let r = q
            .execute("human-monitor-command", Some(args))
            .map_err(|e| e.to_string())?;
        Ok(r.as_str().unwrap_or_default().to_string())
    })
    .map(|regs| halted_in(&regs))
}

/// A screendump into `out` (PPM), waiting up to 10 s for the file.
///
/// # Errors
/// [`ScreenError`] when QEMU does not answer or write it.
pub fn dump(socket: &str, out: &str) -> Result<(), ScreenError> {
    let target = std::path::absolute(out).map_err(|e| ScreenError::Io(format!("{out}: {e}")))?;
    let _ = std::fs::remove_file(&target);
    let filename = target.display().to_string();
    with_qmp(socket, |q| {
        let args = json!({ "filename": filename });
        q.execute("screendump", Some(args))
            .map(|_| ())
            .map_err(|e| e.to_string())
    })?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !target.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if target.exists() {
        Ok(())
    } else {
        Err(ScreenError::NoDump(filename))
    }
}

/// Asks QEMU to quit.
///
/// # Errors
/// [`ScreenError::Qmp`] when the socket does not answer.
pub fn quit(socket: &str) -> Result<(), ScreenError> {
    // QEMU may close the socket before it answers: only the sending matters.
    with_qmp(socket, |q| {
        let _ = q.execute("quit", None);
        Ok(())
    })
}

/// A binary 8-bit PPM (P6): width, height and RGB bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ppm {
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// RGB, row by row.
    pub rgb: Vec<u8>,
}

impl Ppm {
    /// Parses a P6 file with maximum value 255 (comments allowed in the header).
    ///
    /// # Errors
    /// `Err(())` when it is not such a file.
    pub fn parse(data: &[u8]) -> Result<Ppm, ()> {
        let mut fields = Vec::new();
        let mut pos = 0;
        while fields.len() < 4 {
            while data.get(pos).is_some_and(u8::is_ascii_whitespace) {
                pos += 1;
            }
            if data.get(pos) == Some(&b'#') {
                pos += data[pos..].iter().position(|&b| b == b'\n').ok_or(())? + 1;
                continue;
            }
            let end = pos
                + data[pos..]
                    .iter()
                    .position(u8::is_ascii_whitespace)
                    .ok_or(())?;
            fields.push(std::str::from_utf8(&data[pos..end]).map_err(|_| ())?);
            pos = end;
        }
        if fields[0] != "P6" || fields[3] != "255" {
            return Err(());
        }
        let width: u32 = fields[1].parse().map_err(|_| ())?;
        let height: u32 = fields[2].parse().map_err(|_| ())?;
        let len = width as usize * height as usize * 3;
        let rgb = data.get(pos + 1..pos + 1 + len).ok_or(())?.to_vec();
        Ok(Ppm { width, height, rgb })
    }

    /// Pixels that are not the most common colour (the background), so a blank screen of
    /// any colour counts 0.
    pub fn text_pixels(&self) -> u64 {
        let mut counts: HashMap<[u8; 3], u64> = HashMap::new();
        for p in self.rgb.chunks_exact(3) {
            *counts.entry([p[0], p[1], p[2]]).or_default() += 1;
        }
        let background = counts.values().copied().max().unwrap_or(0);
        u64::from(self.width) * u64::from(self.height) - background
    }
}

/// Reads a binary 8-bit PPM.
///
/// # Errors
/// [`ScreenError`] when it cannot be read or is not one.
pub fn read_ppm(path: &str) -> Result<Ppm, ScreenError> {
    let data = std::fs::read(path).map_err(|e| ScreenError::Io(format!("{path}: {e}")))?;
    Ppm::parse(&data).map_err(|()| ScreenError::NotPpm(path.to_string()))
}

/// Converts the PPM `src` into the PNG `dst`.
///
/// # Errors
/// [`ScreenError`] when either file fails.
pub fn png(src: &str, dst: &str) -> Result<(), ScreenError> {
    let ppm = read_ppm(src)?;
    let io = |e: &dyn fmt::Display| ScreenError::Io(format!("{dst}: {e}"));
    let file = std::fs::File::create(Path::new(dst)).map_err(|e| io(&e))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), ppm.width, ppm.height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(|e| io(&e))?;
    w.write_image_data(&ppm.rgb).map_err(|e| io(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppm_with_comment_and_text_pixels() {
        let mut data = b"P6\n# from QEMU\n3 2\n255\n".to_vec();
        let bg = [0u8, 0, 170];
        let fg = [255u8, 255, 255];
        for px in [bg, fg, bg, bg, fg, bg] {
            data.extend_from_slice(&px);
        }
        let p = Ppm::parse(&data).unwrap();
        assert_eq!((p.width, p.height), (3, 2));
        assert_eq!(p.text_pixels(), 2);
        assert!(Ppm::parse(b"P5\n1 1\n255\n\0").is_err());
        assert!(Ppm::parse(b"P6\n2 2\n255\n\0\0\0").is_err(), "short data");
    }

    #[test]
    fn final_halt_from_info_registers() {
        let halted = "RAX=0 RBX=0\nRIP=0000000001000000 RFL=00000046 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1\n";
        assert!(halted_in(halted));
        let idle = "RIP=000000007f000000 RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1\n";
        assert!(!halted_in(idle), "firmware idles with IF=1");
        let running = "RIP=0000000001000000 RFL=00000046 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=0\n";
        assert!(!halted_in(running));
    }
}
