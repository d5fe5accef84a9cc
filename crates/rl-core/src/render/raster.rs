//! The raster primitives behind Gymnasium's classic-control renderers, ported exactly:
//! SDL_gfx's `aapolygon`, `filled_polygon`, `aacircle`, `filled_circle`, `hline` and
//! `vline` (the pygame `gfxdraw` calls), pygame's `draw.aalines` and `smoothscale`.
//!
//! Every rule (integer widths, shifts, truncations, the f32 arithmetic of `aalines`)
//! follows the description that reproduces Gymnasium 1.4.0's frames bit for bit; the
//! tests in `render/mod.rs` check the result against frames Gymnasium drew.

/// An opaque RGB colour.
pub type Rgb = [u8; 3];

/// A white canvas in Gymnasium's drawing coordinates: `y` counts rows from the top of
/// the pygame surface, which the renderers flip at the end so that `y` points up.
#[derive(Debug, Clone)]
pub(crate) struct Canvas {
    width: i32,
    height: i32,
    rgb: Vec<u8>,
}

impl Canvas {
    pub(crate) fn new(width: u32, height: u32) -> Self {
        Self {
            width: width as i32,
            height: height as i32,
            rgb: vec![255; width as usize * height as usize * 3],
        }
    }

    pub(crate) fn width(&self) -> i32 {
        self.width
    }

    pub(crate) fn height(&self) -> i32 {
        self.height
    }

    fn index(&self, x: i32, y: i32) -> Option<usize> {
        ((0..self.width).contains(&x) && (0..self.height).contains(&y))
            .then(|| (y as usize * self.width as usize + x as usize) * 3)
    }

    /// The pixels, rows flipped so that row 0 is the top of the picture (what
    /// `pygame.transform.flip(surf, False, True)` does before Gymnasium returns them).
    pub(crate) fn into_flipped(self) -> Vec<u8> {
        let row = self.width as usize * 3;
        self.rgb
            .chunks_exact(row)
            .rev()
            .flatten()
            .copied()
            .collect()
    }

    /// SDL_gfx's alpha blend of an opaque colour: `p + (((c - p) * a) >> 8)`, or `c`
    /// outright at `a == 255`. Off-canvas pixels are ignored.
    pub(crate) fn blend(&mut self, x: i32, y: i32, c: Rgb, a: u32) {
        let Some(i) = self.index(x, y) else { return };
        let px = &mut self.rgb[i..i + 3];
        if a == 255 {
            px.copy_from_slice(&c);
            return;
        }
        for (p, c) in px.iter_mut().zip(c) {
            let p0 = i32::from(*p);
            *p = (p0 + (((i32::from(c) - p0) * a as i32) >> 8)) as u8;
        }
    }

    /// SDL_gfx's `pixelColorWeight`: the alpha scaled by a weight in 0..=255.
    fn weighted(&mut self, x: i32, y: i32, c: Rgb, w: u32) {
        self.blend(x, y, c, (255 * w) >> 8);
    }

    /// Sets the pixels `x1..=x2` of row `y` (clipped; no blending).
    pub(crate) fn hline(&mut self, x1: i32, x2: i32, y: i32, c: Rgb) {
        let (a, b) = if x1 <= x2 { (x1, x2) } else { (x2, x1) };
        if !(0..self.height).contains(&y) || b < 0 || a >= self.width {
            return;
        }
        for x in a.max(0)..=b.min(self.width - 1) {
            self.blend(x, y, c, 255);
        }
    }

    /// Sets the pixels `y1..=y2` of column `x` (clipped; no blending).
    pub(crate) fn vline(&mut self, x: i32, y1: i32, y2: i32, c: Rgb) {
        let (a, b) = if y1 <= y2 { (y1, y2) } else { (y2, y1) };
        if !(0..self.width).contains(&x) || b < 0 || a >= self.height {
            return;
        }
        for y in a.max(0)..=b.min(self.height - 1) {
            self.blend(x, y, c, 255);
        }
    }

    /// SDL_gfx's 8-bit Wu line without its last point.
    fn aaline(&mut self, (x1, y1): (i32, i32), (x2, y2): (i32, i32), c: Rgb) {
        let (mut xa, mut ya, mut xb, mut yb) = (x1, y1, x2, y2);
        if ya > yb {
            std::mem::swap(&mut xa, &mut xb);
            std::mem::swap(&mut ya, &mut yb);
        }
        let dx = xb - xa;
        let dy = yb - ya;
        if dx == 0 {
            if dy > 0 {
                self.vline(x1, ya, ya + dy, c);
            } else {
                self.blend(x1, y1, c, 255);
            }
            return;
        }
        if dy == 0 {
            self.hline(xa, xa + dx, y1, c);
            return;
        }
        let xdir = if dx >= 0 { 1 } else { -1 };
        let dx = dx.abs();
        self.blend(x1, y1, c, 255);
        let mut erracc: u32 = 0;
        if dy > dx {
            let erradj = ((((dx as u64) << 16) / dy as u64) << 16) as u32;
            let (mut x, mut xn, mut y) = (xa, xa + xdir, ya);
            for _ in 0..dy - 1 {
                let old = erracc;
                erracc = erracc.wrapping_add(erradj);
                if erracc <= old {
                    x = xn;
                    xn += xdir;
                }
                y += 1;
                let w = erracc >> 24;
                self.weighted(x, y, c, 255 - w);
                self.weighted(xn, y, c, w);
            }
        } else {
            let erradj = ((((dy as u64) << 16) / dx as u64) << 16) as u32;
            let (mut x, mut y, mut yn) = (xa, ya, ya + 1);
            for _ in 0..dx - 1 {
                let old = erracc;
                erracc = erracc.wrapping_add(erradj);
                if erracc <= old {
                    y = yn;
                    yn += 1;
                }
                x += xdir;
                let w = erracc >> 24;
                self.weighted(x, y, c, 255 - w);
                self.weighted(x, yn, c, w);
            }
        }
    }

    /// `gfxdraw.aapolygon`: the anti-aliased outline through the truncated vertices.
    pub(crate) fn aapolygon(&mut self, points: &[(f64, f64)], c: Rgb) {
        let v = truncate(points);
        for i in 1..v.len() {
            self.aaline(v[i - 1], v[i], c);
        }
        if let (Some(&last), Some(&first)) = (v.last(), v.first()) {
            self.aaline(last, first, c);
        }
    }

    /// `gfxdraw.filled_polygon`: SDL_gfx's 16.16 fixed-point scanline fill.
    pub(crate) fn filled_polygon(&mut self, points: &[(f64, f64)], c: Rgb) {
        let v = truncate(points);
        let n = v.len();
        if n < 3 {
            return;
        }
        let miny = v.iter().map(|p| p.1).min().unwrap_or(0);
        let maxy = v.iter().map(|p| p.1).max().unwrap_or(0);
        let mut xs = Vec::with_capacity(n);
        for y in miny..=maxy {
            xs.clear();
            for i in 0..n {
                let (mut a, mut b) = (v[(i + n - 1) % n], v[i]);
                if a.1 == b.1 {
                    continue;
                }
                if a.1 > b.1 {
                    std::mem::swap(&mut a, &mut b);
                }
                let ((xa, ya), (xb, yb)) = (a, b);
                if (ya <= y && y < yb) || (y == maxy && ya < y && y <= yb) {
                    xs.push(((65536 * (y - ya)) / (yb - ya)) * (xb - xa) + 65536 * xa);
                }
            }
            xs.sort_unstable();
            for pair in xs.chunks_exact(2) {
                let round = |v: i32| (v >> 16) + ((v & 0x8000) >> 15);
                self.hline(round(pair[0] + 1), round(pair[1] - 1), y, c);
            }
        }
    }

    /// `gfxdraw.aacircle`: SDL_gfx's anti-aliased ellipse with equal radii.
    pub(crate) fn aacircle(&mut self, x: i32, y: i32, r: i32, c: Rgb) {
        let a2 = r * r;
        let b2 = a2;
        let (ds, dt) = (2 * a2, 2 * a2);
        let (xc2, yc2) = (2 * x, 2 * y);
        let sab = f64::from(a2 + b2).sqrt();
        let dxt = (f64::from(a2) / sab).round_ties_even() as i32;
        let dyt = dxt;
        let (mut t, mut s, mut d) = (0_i32, -2 * a2 * r, 0_i32);
        let (mut xp, mut yp) = (x, y - r);
        for (px, py) in [
            (xp, yp),
            (xc2 - xp, yp),
            (xp, yc2 - yp),
            (xc2 - xp, yc2 - yp),
        ] {
            self.blend(px, py, c, 255);
        }
        for _ in 0..dxt {
            xp -= 1;
            d += t - b2;
            let ys;
            if d >= 0 {
                ys = yp - 1;
            } else if d - s - a2 > 0 {
                if 2 * d - s - a2 >= 0 {
                    ys = yp + 1;
                } else {
                    ys = yp;
                    yp += 1;
                    d -= s + a2;
                    s += ds;
                }
            } else {
                yp += 1;
                ys = yp + 1;
                d -= s + a2;
                s += ds;
            }
            t -= dt;
            let w = weight(d, s);
            self.weighted4(xp, yp, xc2, yc2, c, 255 - w);
            self.weighted4(xp, ys, xc2, yc2, c, w);
        }
        for _ in 0..dyt {
            yp += 1;
            d -= s + a2;
            let xs;
            if d <= 0 {
                xs = xp + 1;
            } else if d + t - b2 < 0 {
                if 2 * d + t - b2 <= 0 {
                    xs = xp - 1;
                } else {
                    xs = xp;
                    xp -= 1;
                    d += t - b2;
                    t -= dt;
                }
            } else {
                xp -= 1;
                xs = xp - 1;
                d += t - b2;
                t -= dt;
            }
            s += ds;
            let w = weight(d, t);
            self.weighted4(xp, yp, xc2, yc2, c, 255 - w);
            self.weighted4(xs, yp, xc2, yc2, c, w);
        }
    }

    /// One weighted point and its three mirror images about the centre `(xc2/2, yc2/2)`.
    fn weighted4(&mut self, x: i32, y: i32, xc2: i32, yc2: i32, c: Rgb, w: u32) {
        for (px, py) in [(x, y), (xc2 - x, y), (x, yc2 - y), (xc2 - x, yc2 - y)] {
            self.weighted(px, py, c, w);
        }
    }

    /// `gfxdraw.filled_circle`: the midpoint circle drawn as runs of `hline`.
    pub(crate) fn filled_circle(&mut self, x: i32, y: i32, r: i32, c: Rgb) {
        let (mut cx, mut cy) = (0, r);
        let (mut ocx, mut ocy) = (-1, -1);
        let (mut df, mut d_e, mut d_se) = (1 - r, 3, 5 - 2 * r);
        loop {
            if ocy != cy {
                if cy > 0 {
                    self.hline(x - cx, x + cx, y + cy, c);
                    self.hline(x - cx, x + cx, y - cy, c);
                } else {
                    self.hline(x - cx, x + cx, y, c);
                }
                ocy = cy;
            }
            if ocx != cx {
                if cx != cy {
                    if cx > 0 {
                        self.hline(x - cy, x + cy, y - cx, c);
                        self.hline(x - cy, x + cy, y + cx, c);
                    } else {
                        self.hline(x - cy, x + cy, y, c);
                    }
                }
                ocx = cx;
            }
            if df < 0 {
                df += d_e;
                d_e += 2;
                d_se += 2;
            } else {
                df += d_se;
                d_e += 2;
                d_se += 4;
                cy -= 1;
            }
            cx += 1;
            if cx > cy {
                break;
            }
        }
    }

    /// `aacircle` then `filled_circle`, as every Gymnasium renderer draws a disc.
    pub(crate) fn disc(&mut self, x: i32, y: i32, r: i32, c: Rgb) {
        self.aacircle(x, y, r, c);
        self.filled_circle(x, y, r, c);
    }

    /// `aapolygon` then `filled_polygon`, as every Gymnasium renderer draws a shape.
    pub(crate) fn polygon(&mut self, points: &[(f64, f64)], c: Rgb) {
        self.aapolygon(points, c);
        self.filled_polygon(points, c);
    }

    /// `pygame.draw.aalines(closed=False)`: the points as f32, each segment drawn with
    /// pygame's Wu variant in f32 arithmetic.
    pub(crate) fn aalines(&mut self, points: &[(f32, f32)], c: Rgb) {
        for pair in points.windows(2) {
            self.aaline_f32(pair[0], pair[1], c);
        }
    }

    fn aaline_f32(&mut self, (mut x1, mut y1): (f32, f32), (mut x2, mut y2): (f32, f32), c: Rgb) {
        let mut dx = x2 - x1;
        let mut dy = y2 - y1;
        let (mut cl, mut ct) = (-1.0_f32, -1.0_f32);
        let mut cr = cl + self.width as f32 + 1.0;
        let mut cb = ct + self.height as f32 + 1.0;
        let steep = dx.abs() < dy.abs();
        if steep {
            std::mem::swap(&mut x1, &mut y1);
            std::mem::swap(&mut x2, &mut y2);
            std::mem::swap(&mut dx, &mut dy);
            std::mem::swap(&mut cl, &mut ct);
            std::mem::swap(&mut cr, &mut cb);
        }
        if dx < 0.0 {
            std::mem::swap(&mut x1, &mut x2);
            std::mem::swap(&mut y1, &mut y2);
            dx = -dx;
            dy = -dy;
        }
        if x2 <= cl || x1 >= cr {
            return;
        }
        let g = dy / dx;
        if x1 < cl {
            y1 += g * (cl - x1);
            x1 = cl;
        }
        if x2 > cr {
            y2 += g * (cr - x2);
            x2 = cr;
        }
        if g > 0.0 {
            if y2 <= ct || y1 >= cb {
                return;
            }
            if y1 < ct {
                x1 += (ct - y1) / g;
                y1 = ct;
            }
            if y2 > cb {
                x2 += (cb - y2) / g;
                y2 = cb;
            }
        } else {
            if y1 <= ct || y2 >= cb {
                return;
            }
            if y2 < ct {
                x2 += (ct - y2) / g;
                y2 = ct;
            }
            if y1 > cb {
                x1 += (cb - y1) / g;
                y1 = cb;
            }
        }
        y1 += 1.0;
        y2 += 1.0;
        let plot = |canvas: &mut Self, a: i32, b: i32, br: f32| {
            let (x, y) = if steep { (b, a) } else { (a, b) };
            canvas.plot(x, y, c, br);
        };
        let mut xs = x1 as i32;
        let ye = y1 + g * (xs as f32 - x1);
        let mut iy = ye;
        if x2 > cl + 1.0 {
            let gap = 1.0 + xs as f32 - x1;
            let ty = ye as i32;
            let br = ye - ty as f32;
            if (ty as f32) < ye {
                plot(self, xs, ty, br * gap);
            }
            plot(self, xs, ty - 1, (1.0 - br) * gap);
            iy += g;
            xs += 1;
        }
        let xe = x2.ceil() as i32;
        if x1 < cr - 1.0 {
            let ye = y2 + g * (xe as f32 - x2);
            let gap = 1.0 - xe as f32 + x2;
            let ty = ye as i32;
            let br = ye - ty as f32;
            if (ty as f32) < ye {
                plot(self, xe, ty, br * gap);
            }
            plot(self, xe, ty - 1, (1.0 - br) * gap);
        }
        for x in xs..xe {
            let y = iy as i32;
            let br = 1.0 - iy + y as f32;
            plot(self, x, y - 1, br);
            if (y as f32) < iy {
                plot(self, x, y, 1.0 - br);
            }
            iy += g;
        }
    }

    /// pygame's blended `aalines` pixel: `trunc(br * c + (1 - br) * old)` in f32.
    fn plot(&mut self, x: i32, y: i32, c: Rgb, br: f32) {
        let Some(i) = self.index(x, y) else { return };
        for (p, c) in self.rgb[i..i + 3].iter_mut().zip(c) {
            *p = (br * f32::from(c) + (1.0 - br) * f32::from(*p)) as u8;
        }
    }

    /// Blits black with a per-pixel alpha (`n * n` values, row-major, already flipped as
    /// the renderer flips them) with its top-left corner at `(x0, y0)`: pygame's
    /// `p + (((s - p) * a + s) >> 8)` with `s = 0`.
    pub(crate) fn blit_black_alpha(&mut self, alpha: &[u8], n: usize, x0: i32, y0: i32) {
        for (j, row) in alpha.chunks_exact(n).enumerate() {
            for (i, &a) in row.iter().enumerate() {
                let Some(k) = self.index(x0 + i as i32, y0 + j as i32) else {
                    continue;
                };
                for p in &mut self.rgb[k..k + 3] {
                    let p0 = i32::from(*p);
                    *p = (p0 + ((-p0 * i32::from(a)) >> 8)) as u8;
                }
            }
        }
    }
}

/// Polygon vertices as `gfxdraw` takes them: each coordinate truncated toward zero.
fn truncate(points: &[(f64, f64)]) -> Vec<(i32, i32)> {
    points.iter().map(|&(x, y)| (x as i32, y as i32)).collect()
}

/// SDL_gfx's ellipse weight: `trunc(min(|num| / |den|, 1) * 255)` in f32.
fn weight(num: i32, den: i32) -> u32 {
    if den == 0 {
        return 255;
    }
    let cp = (num.unsigned_abs() as f32 / den.unsigned_abs() as f32).min(1.0);
    (cp * 255.0) as u32
}

/// pygame's `smoothscale` shrink of one line of `src` to `dst.len()` values (integer
/// box filter, 16.16 fixed point); `dst.len()` must be smaller than `src.len()`.
pub(crate) fn shrink(src: impl Iterator<Item = u8>, src_len: usize, dst: &mut [u8]) {
    let space = (0x10000 * src_len / dst.len()) as u64;
    let recip = 0x1_0000_0000_u64 / space;
    let (mut acc, mut counter) = (0_u64, space);
    let mut out = dst.iter_mut();
    for v in src {
        let v = u64::from(v);
        if counter > 0x10000 {
            acc += v;
            counter -= 0x10000;
        } else {
            let frac = 0x10000 - counter;
            if let Some(o) = out.next() {
                *o = (((acc + ((v * counter) >> 16)) * recip) >> 16) as u8;
            }
            acc = (v * frac) >> 16;
            counter = space - frac;
        }
    }
}

/// `pygame.math.Vector2.rotate_rad`: counterclockwise, exact on quarter turns.
pub(crate) fn rotate((x, y): (f64, f64), angle: f64) -> (f64, f64) {
    use std::f64::consts::{FRAC_PI_2, TAU};
    let mut a = angle % TAU;
    if a < 0.0 {
        a += TAU;
    }
    if (a + 1e-6) % FRAC_PI_2 < 2e-6 {
        return match ((a + 1e-6) / FRAC_PI_2) as i32 {
            1 => (-y, x),
            2 => (-x, -y),
            3 => (y, -x),
            _ => (x, y),
        };
    }
    let (s, c) = a.sin_cos();
    (c * x - s * y, s * x + c * y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blend_floors_like_an_arithmetic_shift() {
        let mut c = Canvas::new(2, 1);
        c.blend(0, 0, [0, 0, 0], 128);
        assert_eq!(&c.rgb[..3], &[127, 127, 127]);
        c.weighted(1, 0, [0, 0, 0], 255);
        // Weight 255 blends at alpha 254, never writing the colour outright.
        assert_eq!(&c.rgb[3..], &[1, 1, 1]);
        c.blend(5, 5, [0, 0, 0], 255); // off the canvas: ignored
    }

    #[test]
    fn rotate_is_exact_on_quarter_turns() {
        use std::f64::consts::{FRAC_PI_2, PI};
        assert_eq!(rotate((3.0, 4.0), FRAC_PI_2), (-4.0, 3.0));
        assert_eq!(rotate((3.0, 4.0), -PI), (-3.0, -4.0));
        assert_eq!(rotate((3.0, 4.0), 0.0), (3.0, 4.0));
        let (x, y) = rotate((1.0, 0.0), 0.5);
        assert_eq!((x, y), (0.5_f64.cos(), 0.5_f64.sin()));
    }

    #[test]
    fn filled_polygon_fills_an_axis_aligned_square_inclusively() {
        let mut c = Canvas::new(10, 10);
        c.filled_polygon(&[(2.0, 2.0), (2.0, 5.0), (5.0, 5.0), (5.0, 2.0)], [0, 0, 0]);
        let black = |x: usize, y: usize| c.rgb[(y * 10 + x) * 3] == 0;
        assert!(black(2, 2) && black(5, 5) && black(3, 4));
        assert!(!black(1, 2) && !black(6, 5) && !black(3, 6));
    }
}
