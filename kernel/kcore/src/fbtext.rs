//! Text on a framebuffer: the console's second output, for machines without a serial
//! port. Renders into a byte slice that *is* the framebuffer (the kernel hands over the
//! mapped memory; tests hand over a `Vec`), so all the layout logic is host-tested.
//!
//! Two framebuffer kinds, as multiboot2 reports them: direct RGB (16/24/32 bpp, any
//! field layout; glyphs from the pre-rasterized Noto Sans Mono 16 px font, whose grey
//! levels are blended onto black) and EGA text (2 bytes per cell, ASCII + attribute;
//! what a BIOS boot in text mode gives). Scrolling moves the rows up with one
//! `copy_within` and clears the freed line: no back buffer, because the heap is small
//! and a framebuffer can be tens of MiB.

use noto_sans_mono_bitmap::{get_raster, get_raster_width, FontWeight, RasterHeight};

const WEIGHT: FontWeight = FontWeight::Regular;
const HEIGHT: RasterHeight = RasterHeight::Size16;
/// Light grey on black: readable, and "not background" for the screenshot test.
const FG: (u8, u8, u8) = (0xd0, 0xd0, 0xd0);
/// EGA attribute: light grey on black.
const EGA_ATTR: u8 = 0x07;

/// Position and width in bits of one colour channel inside a pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Channel {
    /// Bit position of the channel's least significant bit.
    pub shift: u8,
    /// Number of bits.
    pub bits: u8,
}

/// How pixels (or cells) are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Direct colour.
    Rgb {
        /// Red channel.
        red: Channel,
        /// Green channel.
        green: Channel,
        /// Blue channel.
        blue: Channel,
    },
    /// EGA text: `width`×`height` cells of (character, attribute).
    EgaText,
}

/// A framebuffer as the loader describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Pixels per line (cells for EGA text).
    pub width: u32,
    /// Lines (cell rows for EGA text).
    pub height: u32,
    /// Bytes from one line to the next.
    pub pitch: u32,
    /// Bits per pixel (16 for EGA text).
    pub bpp: u8,
    /// Encoding.
    pub format: Format,
}

impl Geometry {
    /// Bytes the framebuffer spans.
    pub fn len(&self) -> usize {
        self.pitch as usize * self.height as usize
    }

    /// True for a framebuffer of no bytes (rejected by [`TextConsole::new`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a framebuffer cannot carry text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FbError {
    /// Bits per pixel other than 16, 24 or 32 (or not 16 for EGA text).
    UnsupportedDepth(u8),
    /// The pitch is shorter than a line, or the screen holds no character cell.
    BadGeometry,
}

impl core::fmt::Display for FbError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FbError::UnsupportedDepth(b) => write!(f, "{b} bits per pixel is not supported"),
            FbError::BadGeometry => write!(f, "pitch or size too small for text"),
        }
    }
}

/// A scrolling text terminal on a framebuffer.
#[derive(Debug, Clone)]
pub struct TextConsole {
    geo: Geometry,
    cell_w: usize,
    cell_h: usize,
    cols: usize,
    rows: usize,
    col: usize,
    row: usize,
    bytes_pp: usize,
}

impl TextConsole {
    /// A console for `geo`, cursor at the top left. Nothing is drawn yet.
    ///
    /// # Errors
    /// [`FbError::UnsupportedDepth`] for EGA text with other than 16 bits per cell (character
    /// and attribute bytes), or RGB with other than 16, 24 or 32 bits per pixel;
    /// [`FbError::BadGeometry`] when the pitch (bytes) is shorter than `width` pixels, or the
    /// screen is narrower or lower than one character cell (one 16 px high glyph for RGB).
    pub fn new(geo: Geometry) -> Result<Self, FbError> {
        let (cell_w, cell_h, bytes_pp) = match geo.format {
            Format::EgaText if geo.bpp == 16 => (1, 1, 2),
            Format::EgaText => return Err(FbError::UnsupportedDepth(geo.bpp)),
            Format::Rgb { .. } if matches!(geo.bpp, 16 | 24 | 32) => (
                get_raster_width(WEIGHT, HEIGHT),
                HEIGHT.val(),
                usize::from(geo.bpp / 8),
            ),
            Format::Rgb { .. } => return Err(FbError::UnsupportedDepth(geo.bpp)),
        };
        let cols = geo.width as usize / cell_w;
        let rows = geo.height as usize / cell_h;
        if (geo.pitch as usize) < geo.width as usize * bytes_pp || cols == 0 || rows == 0 {
            return Err(FbError::BadGeometry);
        }
        Ok(Self {
            geo,
            cell_w,
            cell_h,
            cols,
            rows,
            col: 0,
            row: 0,
            bytes_pp,
        })
    }

    /// The framebuffer description.
    pub fn geometry(&self) -> Geometry {
        self.geo
    }

    /// Text columns and rows.
    pub fn size(&self) -> (usize, usize) {
        (self.cols, self.rows)
    }

    /// Cursor (column, row).
    pub fn cursor(&self) -> (usize, usize) {
        (self.col, self.row)
    }

    /// Blanks the whole screen and homes the cursor.
    pub fn clear(&mut self, fb: &mut [u8]) {
        for r in 0..self.rows {
            self.clear_row(fb, r);
        }
        self.col = 0;
        self.row = 0;
    }

    /// Writes `s`: `\n` starts a line, `\r` returns, `\t` goes to the next multiple of
    /// 8, other control characters are dropped, glyphs the font lacks print as `?`.
    /// Long lines wrap; the screen scrolls at the bottom.
    pub fn write_str(&mut self, fb: &mut [u8], s: &str) {
        if fb.len() < self.geo.len() {
            return; // not the buffer this console was made for: draw nothing
        }
        for c in s.chars() {
            match c {
                '\n' => self.newline(fb),
                '\r' => self.col = 0,
                '\t' => {
                    let next = (self.col / 8 + 1) * 8;
                    while self.col < next.min(self.cols) {
                        self.put(fb, ' ');
                    }
                }
                c if c.is_control() => {}
                c => self.put(fb, c),
            }
        }
    }

    fn put(&mut self, fb: &mut [u8], c: char) {
        if self.col >= self.cols {
            self.newline(fb);
        }
        self.draw(fb, self.col, self.row, c);
        self.col += 1;
    }

    fn newline(&mut self, fb: &mut [u8]) {
        self.col = 0;
        if self.row + 1 < self.rows {
            self.row += 1;
            return;
        }
        // Scroll: text rows 1.. move up by one; the last one is cleared.
        let line = self.cell_h * self.geo.pitch as usize;
        fb.copy_within(line..self.rows * line, 0);
        self.clear_row(fb, self.rows - 1);
    }

    fn clear_row(&self, fb: &mut [u8], row: usize) {
        let line = self.cell_h * self.geo.pitch as usize;
        let cells = &mut fb[row * line..(row + 1) * line];
        match self.geo.format {
            Format::Rgb { .. } => cells.fill(0),
            Format::EgaText => {
                for cell in cells.chunks_exact_mut(2) {
                    cell.copy_from_slice(&[b' ', EGA_ATTR]);
                }
            }
        }
    }

    fn draw(&self, fb: &mut [u8], col: usize, row: usize, c: char) {
        let pitch = self.geo.pitch as usize;
        match self.geo.format {
            Format::EgaText => {
                let ch = if c.is_ascii() { c as u8 } else { b'?' };
                let at = row * pitch + col * 2;
                fb[at..at + 2].copy_from_slice(&[ch, EGA_ATTR]);
            }
            Format::Rgb { red, green, blue } => {
                let Some(glyph) = get_raster(c, WEIGHT, HEIGHT).or(get_raster('?', WEIGHT, HEIGHT))
                else {
                    return;
                };
                let bpp = self.bytes_pp;
                for (y, line) in glyph.rows().enumerate().take(self.cell_h) {
                    let base = (row * self.cell_h + y) * pitch + col * self.cell_w * bpp;
                    for (x, &level) in line.iter().enumerate().take(self.cell_w) {
                        let px = pack(red, FG.0, level)
                            | pack(green, FG.1, level)
                            | pack(blue, FG.2, level);
                        let at = base + x * bpp;
                        fb[at..at + bpp].copy_from_slice(&px.to_le_bytes()[..bpp]);
                    }
                }
            }
        }
    }
}

/// Channel value of `colour` scaled by the glyph's grey `level`, placed in its field.
fn pack(ch: Channel, colour: u8, level: u8) -> u32 {
    if ch.bits == 0 || ch.shift >= 32 {
        return 0;
    }
    let v = u32::from(colour) * u32::from(level) / 255; // 0..=255
    let bits = u32::from(ch.bits.min(8));
    (v >> (8 - bits)) << ch.shift
}

#[cfg(test)]
mod tests;
