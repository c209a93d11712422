//! Host tests of the framebuffer text console: rendering, wrapping, scrolling, formats.

use super::*;
use alloc::vec;

const XRGB: Format = Format::Rgb {
    red: Channel { shift: 16, bits: 8 },
    green: Channel { shift: 8, bits: 8 },
    blue: Channel { shift: 0, bits: 8 },
};

fn rgb32(width: u32, height: u32) -> Geometry {
    Geometry {
        width,
        height,
        pitch: width * 4 + 64, // padded lines, as real hardware has
        bpp: 32,
        format: XRGB,
    }
}

fn lit_pixels(fb: &[u8], geo: &Geometry, rows: core::ops::Range<usize>) -> usize {
    let bpp = usize::from(geo.bpp / 8);
    rows.map(|y| {
        let line = &fb[y * geo.pitch as usize..][..geo.width as usize * bpp];
        line.chunks_exact(bpp)
            .filter(|p| p.iter().any(|&b| b != 0))
            .count()
    })
    .sum()
}

#[test]
fn a_letter_lights_pixels_in_its_cell_only() {
    let geo = rgb32(160, 64);
    let mut con = TextConsole::new(geo).unwrap();
    let mut fb = vec![0u8; geo.len()];
    con.write_str(&mut fb, "A");
    assert!(lit_pixels(&fb, &geo, 0..16) > 10);
    assert_eq!(lit_pixels(&fb, &geo, 16..64), 0);
    // nothing written into the pitch padding
    for y in 0..64 {
        let pad = &fb[y * geo.pitch as usize + 160 * 4..(y + 1) * geo.pitch as usize];
        assert!(pad.iter().all(|&b| b == 0));
    }
    assert_eq!(con.cursor(), (1, 0));
}

#[test]
fn newline_and_wrap_move_the_cursor() {
    let geo = rgb32(80, 64);
    let mut con = TextConsole::new(geo).unwrap();
    let (cols, rows) = con.size();
    assert_eq!(rows, 4);
    let mut fb = vec![0u8; geo.len()];
    con.write_str(&mut fb, "x\n");
    assert_eq!(con.cursor(), (0, 1));
    let long: alloc::string::String = core::iter::repeat_n('y', cols + 2).collect();
    con.write_str(&mut fb, &long);
    assert_eq!(con.cursor(), (2, 2));
    con.write_str(&mut fb, "\r\tz");
    assert_eq!(con.cursor(), (9.min(cols), 2));
}

#[test]
fn the_bottom_line_scrolls_the_screen_up() {
    let geo = rgb32(80, 48); // three text rows
    let mut con = TextConsole::new(geo).unwrap();
    let mut fb = vec![0u8; geo.len()];
    con.write_str(&mut fb, "W\n\n");
    assert!(lit_pixels(&fb, &geo, 0..16) > 0);
    con.write_str(&mut fb, "\n"); // scroll: the W moves out of the screen
    assert_eq!(con.cursor(), (0, 2));
    assert_eq!(lit_pixels(&fb, &geo, 0..48), 0);
    con.write_str(&mut fb, "M\nN"); // M on row 2, then scroll: M on row 1, N on row 2
    assert_eq!(lit_pixels(&fb, &geo, 0..16), 0);
    assert!(lit_pixels(&fb, &geo, 16..32) > 0);
    assert!(lit_pixels(&fb, &geo, 32..48) > 0);
}

#[test]
fn sixteen_and_twenty_four_bit_pixels_pack_their_fields() {
    let rgb565 = Format::Rgb {
        red: Channel { shift: 11, bits: 5 },
        green: Channel { shift: 5, bits: 6 },
        blue: Channel { shift: 0, bits: 5 },
    };
    assert_eq!(pack(Channel { shift: 11, bits: 5 }, 0xff, 0xff), 0x1f << 11);
    assert_eq!(pack(Channel { shift: 5, bits: 6 }, 0xff, 0xff), 0x3f << 5);
    assert_eq!(pack(Channel { shift: 0, bits: 8 }, 0xd0, 0), 0);
    for (bpp, format) in [(16, rgb565), (24, XRGB)] {
        let geo = Geometry {
            width: 64,
            height: 16,
            pitch: 64 * u32::from(bpp / 8),
            bpp,
            format,
        };
        let mut con = TextConsole::new(geo).unwrap();
        let mut fb = vec![0u8; geo.len()];
        con.write_str(&mut fb, "#");
        assert!(lit_pixels(&fb, &geo, 0..16) > 5, "{bpp} bpp");
    }
}

#[test]
fn ega_text_writes_character_and_attribute_cells() {
    let geo = Geometry {
        width: 80,
        height: 2,
        pitch: 160,
        bpp: 16,
        format: Format::EgaText,
    };
    let mut con = TextConsole::new(geo).unwrap();
    let mut fb = vec![0u8; geo.len()];
    con.clear(&mut fb);
    con.write_str(&mut fb, "ok\né\nz");
    // "ok" scrolled off by the second newline; row 0 is now "?", row 1 "z"
    assert_eq!(&fb[0..2], &[b'?', EGA_ATTR]);
    assert_eq!(&fb[160..162], &[b'z', EGA_ATTR]);
    assert_eq!(&fb[2..4], &[b' ', EGA_ATTR]);
}

#[test]
fn unusable_framebuffers_are_refused() {
    let mut geo = rgb32(80, 48);
    geo.bpp = 8;
    assert_eq!(
        TextConsole::new(geo).unwrap_err(),
        FbError::UnsupportedDepth(8)
    );
    let mut geo = rgb32(80, 48);
    geo.pitch = 100;
    assert_eq!(TextConsole::new(geo).unwrap_err(), FbError::BadGeometry);
    assert_eq!(
        TextConsole::new(rgb32(80, 8)).unwrap_err(),
        FbError::BadGeometry
    );
}

#[test]
fn a_short_buffer_is_left_alone() {
    let geo = rgb32(80, 48);
    let mut con = TextConsole::new(geo).unwrap();
    let mut fb = vec![0u8; geo.len() - 1];
    con.write_str(&mut fb, "AAAA\n\n\n\n");
    assert!(fb.iter().all(|&b| b == 0));
}
