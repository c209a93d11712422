//! The `console=` value: which serial port the console uses, like Linux's
//! `console=ttyS1,115200`. Accepted: `ttyS0`..`ttyS3` (the PC's COM1..COM4 at their
//! standard I/O ports), an I/O port in hex (`0x2f8`), or `none` (screen only), each
//! optionally followed by `,BAUD`. When the key is absent the kernel uses the port
//! the firmware's SPCR table names, else COM1.

/// Standard I/O bases of COM1..COM4 (`ttyS0`..`ttyS3`).
pub const PC_COM_PORTS: [u16; 4] = [0x3f8, 0x2f8, 0x3e8, 0x2e8];

/// Baud rates the 16550 divisor (115200 / n) reaches exactly.
const BAUDS: [u32; 8] = [115_200, 57_600, 38_400, 19_200, 9_600, 4_800, 2_400, 1_200];

/// A parsed `console=` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerialSpec {
    /// I/O port base, or `None` for no serial console.
    pub port: Option<u16>,
    /// Line speed.
    pub baud: u32,
}

/// What `console=` accepts, for error messages and `help`.
pub const ACCEPTED: &str = "ttyS0..ttyS3, an I/O port like 0x2f8, or none; optionally ,BAUD (115200, 57600, 38400, 19200, 9600, ...)";

/// Parses a `console=` value; `None` if it is not one of the accepted forms.
pub fn parse(value: &str) -> Option<SerialSpec> {
    let (dev, baud) = match value.split_once(',') {
        Some((d, b)) => (d, b.parse::<u32>().ok().filter(|b| BAUDS.contains(b))?),
        None => (value, 115_200),
    };
    let port = match dev {
        "none" => None,
        d if d.starts_with("ttyS") => {
            let n: usize = d[4..].parse().ok()?;
            Some(*PC_COM_PORTS.get(n)?)
        }
        d => {
            let hex = d.strip_prefix("0x").or_else(|| d.strip_prefix("0X"))?;
            let p = u16::from_str_radix(hex, 16).ok()?;
            // A 16550 spans 8 ports; 0 and a base that wraps are not UARTs.
            (p != 0 && p <= 0xfff8).then_some(p)?.into()
        }
    };
    Some(SerialSpec { port, baud })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ports_and_none() {
        let s = |port, baud| Some(SerialSpec { port, baud });
        assert_eq!(parse("ttyS0"), s(Some(0x3f8), 115_200));
        assert_eq!(parse("ttyS1,9600"), s(Some(0x2f8), 9_600));
        assert_eq!(parse("ttyS3"), s(Some(0x2e8), 115_200));
        assert_eq!(parse("0x2f8,57600"), s(Some(0x2f8), 57_600));
        assert_eq!(parse("none"), s(None, 115_200));
    }

    #[test]
    fn rejects_what_is_not_a_port_or_speed() {
        for bad in [
            "",
            "ttyS4",
            "ttyS",
            "ttyUSB0",
            "0x0",
            "0xfffc",
            "2f8",
            "0xzz",
            "ttyS0,",
            "ttyS0,1000",
            "ttyS0,115200,8n1",
            "com1",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}

#[cfg(test)]
mod cmdline_tests {
    use crate::cmdline::{parse, CmdlineError};

    #[test]
    fn console_and_debug_exit_reach_the_config() {
        let c = parse("console=ttyS1,57600 debug-exit=0").unwrap();
        assert_eq!(c.console.and_then(|s| s.port), Some(0x2f8));
        assert!(!c.debug_exit);
        let c = parse("").unwrap();
        assert_eq!(c.console, None);
        assert!(c.debug_exit);
        match parse("console=ttyS9") {
            Err(CmdlineError::BadValue { key, given, .. }) => {
                assert_eq!((key, given.as_str()), ("console", "ttyS9"))
            }
            other => panic!("{other:?}"),
        }
    }
}
