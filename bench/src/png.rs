//! The one chart the bench draws (request rate over time) and a PNG
//! encoder small enough to read in one sitting: 8-bit RGB, no filtering,
//! one deflate block with the fixed Huffman codes whose matches only repeat
//! the pixel to the left or above, CRC-32 and Adler-32 by hand. A chart
//! is not worth a dependency.

/// An RGB image to draw on.
pub struct Canvas {
    pub width: usize,
    pub height: usize,
    px: Vec<u8>,
}

pub type Rgb = [u8; 3];

impl Canvas {
    pub fn new(width: usize, height: usize, background: Rgb) -> Canvas {
        let mut px = Vec::with_capacity(width * height * 3);
        for _ in 0..width * height {
            px.extend_from_slice(&background);
        }
        Canvas { width, height, px }
    }

    pub fn set(&mut self, x: i64, y: i64, c: Rgb) {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 {
            return;
        }
        let i = (y as usize * self.width + x as usize) * 3;
        self.px[i..i + 3].copy_from_slice(&c);
    }

    pub fn rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: Rgb) {
        for y in y0.min(y1)..=y0.max(y1) {
            for x in x0.min(x1)..=x0.max(x1) {
                self.set(x, y, c);
            }
        }
    }

    /// A line `thick` pixels wide (Bresenham, a square brush).
    pub fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), thick: i64, c: Rgb) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        let lo = -(thick - 1) / 2;
        let hi = thick / 2;
        loop {
            self.rect(x + lo, y + lo, x + hi, y + hi, c);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// Text in a 5×7 font, each font pixel `scale` pixels; (x, y) is the
    /// top left. Characters without a glyph are drawn as blanks.
    pub fn text(&mut self, x: i64, y: i64, s: &str, scale: i64, c: Rgb) {
        for (n, ch) in s.chars().enumerate() {
            let rows = glyph(ch);
            let gx = x + n as i64 * 6 * scale;
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        let (px, py) = (gx + col * scale, y + r as i64 * scale);
                        self.rect(px, py, px + scale - 1, py + scale - 1, c);
                    }
                }
            }
        }
    }

    pub fn text_width(s: &str, scale: i64) -> i64 {
        s.chars().count() as i64 * 6 * scale - scale
    }

    pub fn png(&self) -> Vec<u8> {
        encode(self.width as u32, self.height as u32, &self.px)
    }
}

/// An RGB8 image as PNG bytes.
pub fn encode(width: u32, height: u32, rgb: &[u8]) -> Vec<u8> {
    let row = width as usize * 3;
    assert_eq!(rgb.len(), row * height as usize, "pixel buffer size");
    // Each scanline starts with its filter type: 0, none.
    let mut raw = Vec::with_capacity((row + 1) * height as usize);
    for line in rgb.chunks(row) {
        raw.push(0);
        raw.extend_from_slice(line);
    }
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    // Bit depth 8, colour type 2 (RGB), deflate, adaptive filtering, no interlace.
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib_fixed(&raw, row + 1));
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A zlib stream of one deflate block with the fixed Huffman codes, whose
/// only matches repeat the previous pixel or the pixel above: a chart is
/// mostly runs of one colour, which this shrinks ≈40-fold, with none of a
/// general compressor's search. `stride` is a scanline's length in bytes.
fn zlib_fixed(data: &[u8], stride: usize) -> Vec<u8> {
    let mut w = Bits::default();
    // CMF 0x78: deflate, 32 KiB window; FLG 0x01 makes CMF·256+FLG a multiple of 31.
    w.out.extend_from_slice(&[0x78, 0x01]);
    w.put(1, 1); // BFINAL
    w.put(1, 2); // BTYPE 01: fixed Huffman codes
    let mut i = 0;
    while i < data.len() {
        let (len, dist) = [3, stride]
            .into_iter()
            .filter(|&d| d <= i && d <= 32_768)
            .map(|d| {
                let n = (0..258.min(data.len() - i))
                    .take_while(|&k| data[i + k] == data[i + k - d])
                    .count();
                (n, d)
            })
            .max()
            .unwrap_or((0, 0));
        if len >= 3 {
            w.length(len);
            w.distance(dist);
            i += len;
        } else {
            w.literal(u16::from(data[i]));
            i += 1;
        }
    }
    w.literal(256); // end of block
    let mut out = w.finish();
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

/// Deflate's bit order: values least significant bit first, Huffman codes
/// most significant bit first.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u32, bits: u32) {
        self.acc |= u64::from(value) << self.n;
        self.n += bits;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    fn code(&mut self, code: u32, bits: u32) {
        self.put(code.reverse_bits() >> (32 - bits), bits);
    }

    /// A literal byte or 256..=287 in the fixed literal/length code.
    fn literal(&mut self, v: u16) {
        let v = u32::from(v);
        match v {
            0..=143 => self.code(0x30 + v, 8),
            144..=255 => self.code(0x190 + v - 144, 9),
            256..=279 => self.code(v - 256, 7),
            _ => self.code(0xC0 + v - 280, 8),
        }
    }

    fn length(&mut self, len: usize) {
        const BASE: [u16; 29] = [
            3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99,
            115, 131, 163, 195, 227, 258,
        ];
        const EXTRA: [u32; 29] = [
            0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
        ];
        let i = BASE
            .iter()
            .rposition(|&b| usize::from(b) <= len)
            .unwrap_or(0);
        self.literal(257 + i as u16);
        self.put((len - usize::from(BASE[i])) as u32, EXTRA[i]);
    }

    fn distance(&mut self, dist: usize) {
        const BASE: [u16; 30] = [
            1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025,
            1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
        ];
        let i = BASE
            .iter()
            .rposition(|&b| usize::from(b) <= dist)
            .unwrap_or(0);
        // Codes 0-3 have no extra bits, then two codes per extra bit.
        let extra = (i as u32).saturating_sub(2) / 2;
        self.code(i as u32, 5);
        self.put((dist - usize::from(BASE[i])) as u32, extra);
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

pub fn crc32(data: &[u8]) -> u32 {
    let table: [u32; 256] = std::array::from_fn(|n| {
        let mut c = n as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        c
    });
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c = table[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    c ^ 0xFFFF_FFFF
}

pub fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    // 5552 bytes is the most that cannot overflow before the modulo.
    for block in data.chunks(5552) {
        for &x in block {
            a += u32::from(x);
            b += a;
        }
        a %= 65_521;
        b %= 65_521;
    }
    (b << 16) | a
}

/// Rows of a 5×7 glyph, bit 4 leftmost (the HD44780's font, lower case).
fn glyph(c: char) -> [u8; 7] {
    match c {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'a' => [0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F],
        'b' => [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E],
        'c' => [0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E],
        'd' => [0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F],
        'e' => [0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E],
        'f' => [0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08],
        'g' => [0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E],
        'h' => [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11],
        'i' => [0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E],
        'j' => [0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C],
        'k' => [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12],
        'l' => [0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'm' => [0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11],
        'n' => [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11],
        'o' => [0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E],
        'p' => [0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10],
        'q' => [0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01],
        'r' => [0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10],
        's' => [0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E],
        't' => [0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06],
        'u' => [0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D],
        'v' => [0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'w' => [0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A],
        'x' | '×' => [0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11],
        'y' => [0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E],
        'z' => [0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        ',' => [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '=' => [0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '<' => [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02],
        '\'' => [0x0C, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00],
        '≤' => [0x02, 0x04, 0x08, 0x04, 0x02, 0x00, 0x1F],
        '>' => [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08],
        '≥' => [0x08, 0x04, 0x02, 0x04, 0x08, 0x00, 0x1F],
        _ => [0; 7],
    }
}

/// One curve of a chart.
pub struct Series<'a> {
    pub name: &'a str,
    pub color: Rgb,
    /// One value per x unit, from x = 0.
    pub values: &'a [f64],
}

/// A line chart: curves over x = 0..len, a shaded x band, dashed
/// horizontal markers, axes with ticks and a legend. Labels use the
/// glyphs above (lower case).
pub struct Chart<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub series: Vec<Series<'a>>,
    /// (from, to, label): a shaded range of x.
    pub band: Option<(f64, f64, &'a str)>,
    /// (y, label, colour): dashed horizontal lines.
    pub marks: Vec<(f64, String, Rgb)>,
    pub x_range: (f64, f64),
}

const WHITE: Rgb = [255, 255, 255];
const INK: Rgb = [40, 40, 40];
const GRID: Rgb = [225, 225, 225];
const BAND: Rgb = [245, 228, 228];

impl Chart<'_> {
    pub fn draw(&self, width: usize, height: usize) -> Canvas {
        let mut c = Canvas::new(width, height, WHITE);
        let (left, right, top, bottom) = (80i64, 20i64, 76i64, 60i64);
        let (pw, ph) = (width as i64 - left - right, height as i64 - top - bottom);
        let (x0, x1) = self.x_range;
        let y_max_data = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .chain(self.marks.iter().map(|m| m.0))
            .fold(1.0f64, f64::max);
        let y_step = nice_step(y_max_data / 5.0);
        let y_max = (y_max_data / y_step).ceil() * y_step;
        let px = |x: f64| left + ((x - x0) / (x1 - x0) * pw as f64).round() as i64;
        let py = |y: f64| top + ph - (y / y_max * ph as f64).round() as i64;

        if let Some((a, b, label)) = self.band {
            c.rect(px(a.max(x0)), top, px(b.min(x1)), top + ph, BAND);
            c.text(px(a.max(x0)) + 6, top + 6, label, 2, [150, 60, 60]);
        }
        // Grid and y ticks.
        let mut y = 0.0;
        while y <= y_max + 1e-9 {
            c.line((left, py(y)), (left + pw, py(y)), 1, GRID);
            let t = format!("{y:.0}");
            c.text(left - 10 - Canvas::text_width(&t, 2), py(y) - 7, &t, 2, INK);
            y += y_step;
        }
        // x ticks.
        let x_step = nice_step((x1 - x0) / 8.0);
        let mut x = (x0 / x_step).ceil() * x_step;
        while x <= x1 + 1e-9 {
            c.line((px(x), top + ph), (px(x), top + ph + 5), 1, INK);
            let t = format!("{x:.0}");
            c.text(
                px(x) - Canvas::text_width(&t, 2) / 2,
                top + ph + 10,
                &t,
                2,
                INK,
            );
            x += x_step;
        }
        for (y, label, color) in &self.marks {
            let mut x = left;
            while x < left + pw {
                c.line((x, py(*y)), ((x + 8).min(left + pw), py(*y)), 2, *color);
                x += 16;
            }
            let w = Canvas::text_width(label, 2);
            c.text(left + pw - w - 4, py(*y) - 20, label, 2, *color);
        }
        // Axes.
        c.line((left, top), (left, top + ph), 2, INK);
        c.line((left, top + ph), (left + pw, top + ph), 2, INK);
        for s in &self.series {
            let points: Vec<(i64, i64)> = s
                .values
                .iter()
                .enumerate()
                .filter(|(i, _)| (*i as f64) >= x0 && (*i as f64) <= x1)
                .map(|(i, v)| (px(i as f64), py(*v)))
                .collect();
            for w in points.windows(2) {
                c.line(w[0], w[1], 2, s.color);
            }
        }
        // Title, axis labels, legend.
        c.text(left, 12, self.title, 2, INK);
        let xl = Canvas::text_width(self.x_label, 2);
        c.text(
            left + pw / 2 - xl / 2,
            height as i64 - 24,
            self.x_label,
            2,
            INK,
        );
        c.text(8, top - 28, self.y_label, 2, INK);
        let mut ly = top + 30;
        let lw = self
            .series
            .iter()
            .map(|s| Canvas::text_width(s.name, 2))
            .max()
            .unwrap_or(0);
        let lx = left + pw - lw - 50;
        for s in &self.series {
            c.rect(lx - 6, ly - 6, lx + lw + 42, ly + 20, WHITE);
            c.line((lx, ly + 7), (lx + 28, ly + 7), 3, s.color);
            c.text(lx + 36, ly, s.name, 2, INK);
            ly += 24;
        }
        c
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let p = 10f64.powf(raw.max(1e-9).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_their_reference_values() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(adler32(&[]), 1);
    }

    #[test]
    fn a_zlib_stream_has_its_header_and_checksum() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i / 700) as u8).collect();
        let z = zlib_fixed(&data, 100);
        assert_eq!((u16::from(z[0]) << 8 | u16::from(z[1])) % 31, 0);
        assert_eq!(z[2] & 0b111, 0b011, "final block, fixed codes");
        assert_eq!(z[z.len() - 4..], adler32(&data).to_be_bytes());
        assert!(z.len() < data.len() / 20, "runs shrink: {} bytes", z.len());
    }
}
