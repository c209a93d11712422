//! Descriptor decoding and validation for PTDMA (ptdma-facts §3, error codes §4.5) and AE4DMA
//! (ptdma-facts §5.2, error codes §5.4). Pure functions: 32 bytes in, a copy request or an error
//! code out. Address checks against guest RAM happen later, in the engine.

/// PTDMA STATUS\[5:0\] error codes used by the model (ptdma-facts §4.5).
pub mod pt_err {
    pub const ILLEGAL_ENGINE: u8 = 0x01;
    pub const ILLEGAL_FUNCTION_MODE: u8 = 0x04;
    pub const ILLEGAL_FUNCTION_RSVD: u8 = 0x08;
    pub const ILLEGAL_BUFFER_LENGTH: u8 = 0x09;
    pub const ILLEGAL_MEM_ADDR: u8 = 0x0B;
    pub const ILLEGAL_MEM_SEL: u8 = 0x0C;
    pub const IDMA0_AXI_SLVERR: u8 = 0x13;
    pub const IDMA0_AXI_DECERR: u8 = 0x14;
    pub const ODMA0_AXI_DECERR: u8 = 0x27;
}

/// STATUS\[11:10\] error source (ptdma-facts §2.5).
pub mod err_src {
    pub const INPUT_MEMORY: u8 = 0;
    pub const COMMAND_DESCRIPTOR: u8 = 1;
}

/// PASSTHRU engine number (DW0\[23:20\]).
pub const ENGINE_PASSTHRU: u32 = 5;
/// ASSUMPTION: the largest length the model accepts in one descriptor (256 MiB). No hardware
/// cap below 4 GiB−1 is documented (ptdma-facts §3 "Ring facts"); a cap keeps one descriptor from
/// monopolising the worker.
pub const MAX_DESC_LEN: u32 = 256 << 20;

/// A validated copy request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Copy {
    pub src: u64,
    pub dst: u64,
    pub len: u32,
    /// Raise COMPLETION when done (PTDMA IOC / AE4 IOC).
    pub ioc: bool,
    /// Halt the queue after this descriptor (PTDMA SOC / AE4 stop-on-completion).
    pub soc: bool,
}

/// A descriptor the hardware refuses: error code and STATUS error source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DescError {
    pub code: u8,
    pub source: u8,
}

pub fn dwords(raw: &[u8; 32]) -> [u32; 8] {
    let mut d = [0u32; 8];
    for (i, w) in d.iter_mut().enumerate() {
        *w = u32::from_le_bytes([raw[4 * i], raw[4 * i + 1], raw[4 * i + 2], raw[4 * i + 3]]);
    }
    d
}

/// Decodes a PTDMA / CCP-v5 pass-through descriptor.
///
/// Checked in this order: engine (0x01), reserved FUNCTION bits (0x08), FUNCTION modes the
/// model does not implement — byteswap/bitwise/reflect (0x04), length 0 or > `MAX_DESC_LEN`
/// (0x09), memory types other than system memory (0x0C), FIXED address bits (0x0B).
pub fn decode_ptdma(raw: &[u8; 32]) -> Result<Copy, DescError> {
    let d = dwords(raw);
    let bad = |code| {
        Err(DescError {
            code,
            source: err_src::COMMAND_DESCRIPTOR,
        })
    };
    let engine = (d[0] >> 20) & 0xf;
    if engine != ENGINE_PASSTHRU {
        return bad(pt_err::ILLEGAL_ENGINE);
    }
    let function = (d[0] >> 5) & 0x7fff;
    if function >> 7 != 0 {
        return bad(pt_err::ILLEGAL_FUNCTION_RSVD);
    }
    if function != 0 {
        return bad(pt_err::ILLEGAL_FUNCTION_MODE);
    }
    let len = d[1];
    if len == 0 || len > MAX_DESC_LEN {
        return bad(pt_err::ILLEGAL_BUFFER_LENGTH);
    }
    let (src_mem, dst_mem) = ((d[3] >> 16) & 3, (d[5] >> 16) & 3);
    if src_mem != 0 || dst_mem != 0 {
        return bad(pt_err::ILLEGAL_MEM_SEL);
    }
    if (d[3] | d[5]) & (1 << 31) != 0 {
        return bad(pt_err::ILLEGAL_MEM_ADDR);
    }
    Ok(Copy {
        src: u64::from(d[2]) | (u64::from(d[3] & 0xffff) << 32),
        dst: u64::from(d[4]) | (u64::from(d[5] & 0xffff) << 32),
        len,
        ioc: d[0] & 2 != 0,
        soc: d[0] & 1 != 0,
    })
}

/// Builds a canonical PTDMA pass-through descriptor (DW0 = 0x00500012 plus `soc`).
pub fn encode_ptdma(src: u64, dst: u64, len: u32, ioc: bool, soc: bool) -> [u8; 32] {
    let dw0 = (ENGINE_PASSTHRU << 20) | (1 << 4) | (u32::from(ioc) << 1) | u32::from(soc);
    let d = [
        dw0,
        len,
        src as u32,
        ((src >> 32) & 0xffff) as u32,
        dst as u32,
        ((dst >> 32) & 0xffff) as u32,
        0,
        0,
    ];
    let mut raw = [0u8; 32];
    for (i, w) in d.iter().enumerate() {
        raw[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    raw
}

/// AE4DMA descriptor status byte values (DW1\[7:0\]).
pub mod ae4_status {
    pub const COMPLETED: u8 = 3;
    pub const ERROR: u8 = 4;
}

/// AE4DMA error codes (DW1\[15:8\], ptdma-facts §5.4).
pub mod ae4_err {
    pub const INVALID_LENGTH: u8 = 3;
    pub const INVALID_SRC: u8 = 4;
    pub const INVALID_DST: u8 = 5;
    /// "PTE error" range; the model uses it for addresses outside guest RAM.
    pub const PTE: u8 = 64;
    /// "firmware error" range; the model uses it for injected faults.
    pub const FIRMWARE: u8 = 16;
}

/// Decodes an AE4DMA descriptor: DW0 bit0 stop, bit1 IOC; DW2 length; DW4/5 src; DW6/7 dst.
/// Length must be a non-zero multiple of 4 (<= `MAX_DESC_LEN`), addresses 4-byte aligned.
pub fn decode_ae4(raw: &[u8; 32]) -> Result<Copy, DescError> {
    let d = dwords(raw);
    let bad = |code| {
        Err(DescError {
            code,
            source: err_src::COMMAND_DESCRIPTOR,
        })
    };
    let len = d[2];
    if len == 0 || len & 3 != 0 || len > MAX_DESC_LEN {
        return bad(ae4_err::INVALID_LENGTH);
    }
    let src = u64::from(d[4]) | (u64::from(d[5]) << 32);
    let dst = u64::from(d[6]) | (u64::from(d[7]) << 32);
    if src & 3 != 0 {
        return bad(ae4_err::INVALID_SRC);
    }
    if dst & 3 != 0 {
        return bad(ae4_err::INVALID_DST);
    }
    Ok(Copy {
        src,
        dst,
        len,
        ioc: d[0] & 2 != 0,
        soc: d[0] & 1 != 0,
    })
}

/// Builds an AE4DMA copy descriptor (status byte 0 = submitted).
pub fn encode_ae4(src: u64, dst: u64, len: u32, ioc: bool, soc: bool) -> [u8; 32] {
    let d = [
        (u32::from(ioc) << 1) | u32::from(soc),
        0,
        len,
        0,
        src as u32,
        (src >> 32) as u32,
        dst as u32,
        (dst >> 32) as u32,
    ];
    let mut raw = [0u8; 32];
    for (i, w) in d.iter().enumerate() {
        raw[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_dw(mut raw: [u8; 32], i: usize, v: u32) -> [u8; 32] {
        raw[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
        raw
    }

    #[test]
    fn canonical_dw0() {
        let raw = encode_ptdma(0x1_2345_6000, 0xabcd_e000, 4096, true, false);
        assert_eq!(dwords(&raw)[0], 0x0050_0012);
        let c = decode_ptdma(&raw).unwrap();
        assert_eq!(
            c,
            Copy {
                src: 0x1_2345_6000,
                dst: 0xabcd_e000,
                len: 4096,
                ioc: true,
                soc: false
            }
        );
    }

    #[test]
    fn ptdma_errors() {
        let ok = encode_ptdma(0x1000, 0x2000, 64, true, false);
        let code = |r: [u8; 32]| decode_ptdma(&r).unwrap_err().code;
        assert_eq!(code(with_dw(ok, 0, 0x0040_0012)), pt_err::ILLEGAL_ENGINE);
        assert_eq!(
            code(with_dw(ok, 0, 0x0050_0012 | (1 << 13))),
            pt_err::ILLEGAL_FUNCTION_RSVD
        );
        assert_eq!(
            code(with_dw(ok, 0, 0x0050_0012 | (1 << 5))),
            pt_err::ILLEGAL_FUNCTION_MODE
        );
        assert_eq!(code(with_dw(ok, 1, 0)), pt_err::ILLEGAL_BUFFER_LENGTH);
        assert_eq!(
            code(with_dw(ok, 1, MAX_DESC_LEN + 1)),
            pt_err::ILLEGAL_BUFFER_LENGTH
        );
        assert_eq!(code(with_dw(ok, 3, 1 << 16)), pt_err::ILLEGAL_MEM_SEL);
        assert_eq!(code(with_dw(ok, 5, 2 << 16)), pt_err::ILLEGAL_MEM_SEL);
        assert_eq!(code(with_dw(ok, 3, 1 << 31)), pt_err::ILLEGAL_MEM_ADDR);
        // High address bits above 47 are not part of the address.
        let c = decode_ptdma(&with_dw(ok, 3, 0x0000_0001)).unwrap();
        assert_eq!(c.src, 0x1_0000_1000);
        assert!(
            decode_ptdma(&encode_ptdma(0, 0, 1, false, true))
                .unwrap()
                .soc
        );
    }

    #[test]
    fn ae4_roundtrip_and_errors() {
        let raw = encode_ae4(0x10_0000_1000, 0x2000, 4096, true, false);
        let c = decode_ae4(&raw).unwrap();
        assert_eq!(
            (c.src, c.dst, c.len, c.ioc),
            (0x10_0000_1000, 0x2000, 4096, true)
        );
        let code = |r: [u8; 32]| decode_ae4(&r).unwrap_err().code;
        assert_eq!(
            code(encode_ae4(0x1000, 0x2000, 6, false, false)),
            ae4_err::INVALID_LENGTH
        );
        assert_eq!(
            code(encode_ae4(0x1000, 0x2000, 0, false, false)),
            ae4_err::INVALID_LENGTH
        );
        assert_eq!(
            code(encode_ae4(0x1001, 0x2000, 8, false, false)),
            ae4_err::INVALID_SRC
        );
        assert_eq!(
            code(encode_ae4(0x1000, 0x2002, 8, false, false)),
            ae4_err::INVALID_DST
        );
    }
}
