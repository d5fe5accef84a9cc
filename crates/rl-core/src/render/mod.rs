//! Frames drawn the way Gymnasium 1.4.0's `render_mode="rgb_array"` draws each
//! classic-control environment: the same canvas size, scale, shapes, colours and
//! anti-aliasing, pixel for pixel (the tests compare with frames Gymnasium drew).
//!
//! [`Env::render`](crate::Env::render) draws an environment's current state; the
//! functions here draw a state given explicitly, which is how the tests feed them
//! Gymnasium's recorded states. The bandit, which Gymnasium does not have, is a bar
//! chart of its arms.

mod raster;

use std::sync::OnceLock;

use raster::{Canvas, Rgb, rotate, shrink};

/// One RGB picture, 8 bits a channel, row 0 at the top: the array Gymnasium's
/// `env.render()` returns, `height × width × 3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Frame {
    fn from_canvas(canvas: Canvas) -> Self {
        let (width, height) = (canvas.width() as u32, canvas.height() as u32);
        Self {
            width,
            height,
            rgb: canvas.into_flipped(),
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The pixels, row-major from the top-left, `[r, g, b]` each.
    pub fn rgb(&self) -> &[u8] {
        &self.rgb
    }

    /// The pixels, consumed.
    pub fn into_rgb(self) -> Vec<u8> {
        self.rgb
    }
}

const BLACK: Rgb = [0, 0, 0];

/// CartPole-v1 (600 × 400) at cart position `x` and pole angle `theta`.
pub fn cartpole(x: f64, theta: f64) -> Frame {
    const SCALE: f64 = 600.0 / (2.4 * 2.0);
    const CARTY: f64 = 100.0;
    const AXLE_OFFSET: f64 = 30.0 / 4.0;
    let mut c = Canvas::new(600, 400);
    let cartx = x * SCALE + 600.0 / 2.0;
    let cart = [(-25.0, -15.0), (-25.0, 15.0), (25.0, 15.0), (25.0, -15.0)];
    c.polygon(&cart.map(|(l, b)| (l + cartx, b + CARTY)), BLACK);
    let (l, r, t, b) = (-5.0, 5.0, SCALE * (2.0 * 0.5) - 5.0, -5.0);
    let pole = [(l, b), (l, t), (r, t), (r, b)].map(|p| {
        let (px, py) = rotate(p, -theta);
        // Python adds left to right: (y + carty) + axleoffset.
        (px + cartx, py + CARTY + AXLE_OFFSET)
    });
    c.polygon(&pole, [202, 152, 101]);
    c.disc(
        cartx as i32,
        (CARTY + AXLE_OFFSET) as i32,
        5,
        [129, 132, 203],
    );
    c.hline(0, 600, CARTY as i32, BLACK);
    Frame::from_canvas(c)
}

/// Acrobot-v1 (500 × 500) at link angles `theta1`, `theta2`. `held_as_f32` is true when
/// Gymnasium holds the state as float32 (right after a reset): its renderer then does
/// the trigonometry, products and angle subtractions in float32.
pub fn acrobot(theta1: f64, theta2: f64, held_as_f32: bool) -> Frame {
    use std::f64::consts::FRAC_PI_2;
    let scale = 500.0 / ((1.0 + 1.0 + 0.2) * 2.0);
    let offset = 500.0 / 2.0;
    // p1 and the link angles, in the state's precision.
    let (p1, thetas) = if held_as_f32 {
        let (t1, t2) = (theta1 as f32, theta2 as f32);
        let s = scale as f32;
        let (c1, s1) = (cos32(t1), sin32(t1));
        let p1 = (-c1 * s, s1 * s);
        let half_pi = FRAC_PI_2 as f32;
        let thetas = [t1 - half_pi, t1 + t2 - half_pi];
        ((f64::from(p1.0), f64::from(p1.1)), thetas.map(f64::from))
    } else {
        let p1 = (-theta1.cos() * scale, theta1.sin() * scale);
        (p1, [theta1 - FRAC_PI_2, theta1 + theta2 - FRAC_PI_2])
    };
    let mut c = Canvas::new(500, 500);
    let line_y = (scale + offset) as i32;
    c.hline(
        (-2.2 * scale + offset) as i32,
        (2.2 * scale + offset) as i32,
        line_y,
        BLACK,
    );
    // The joints, with their coordinates swapped as Gymnasium's `[:, ::-1]` does.
    let starts = [(0.0, 0.0), (p1.1, p1.0)];
    for ((x, y), th) in starts.into_iter().zip(thetas) {
        let (x, y) = (x + offset, y + offset);
        let (l, r, t, b) = (0.0, scale, 0.1 * scale, -0.1 * scale);
        let link = [(l, b), (l, t), (r, t), (r, b)].map(|p| {
            let (px, py) = rotate(p, th);
            (px + x, py + y)
        });
        c.polygon(&link, [0, 204, 204]);
        c.disc(x as i32, y as i32, (0.1 * scale) as i32, [204, 204, 0]);
    }
    Frame::from_canvas(c)
}

/// MountainCar-v0 (`goal` 0.5) and MountainCarContinuous-v0 (`goal` 0.45), 600 × 400,
/// with the car at `position`. `held_as_f32` is true when Gymnasium holds the state as
/// float32 (MountainCarContinuous after any step): the car's arithmetic is then float32.
pub fn mountain_car(position: f64, goal: f64, held_as_f32: bool) -> Frame {
    const MIN: f64 = -1.2;
    const MAX: f64 = 0.6;
    let height = |x: f64| (3.0 * x).sin() * 0.45 + 0.55;
    let scale = 600.0 / (MAX - MIN);
    let mut c = Canvas::new(600, 400);

    // The track: numpy's linspace(MIN, MAX, 100), drawn with aalines in f32.
    let step = (MAX - MIN) / 99.0;
    let track: Vec<(f32, f32)> = (0..100)
        .map(|i| {
            let x = if i == 99 {
                MAX
            } else {
                f64::from(i) * step + MIN
            };
            (((x - MIN) * scale) as f32, (height(x) * scale) as f32)
        })
        .collect();
    c.aalines(&track, BLACK);

    // The car: its corners and wheel centres, offset in the state's precision.
    let pos32 = position as f32;
    let base32 = (
        (pos32 - MIN as f32) * scale as f32,
        (sin32(3.0 * pos32) * 0.45_f32 + 0.55_f32) * scale as f32,
    );
    let base = ((position - MIN) * scale, height(position) * scale);
    let place = |(x, y): (f64, f64)| {
        if held_as_f32 {
            // A Python float meeting a float32 is rounded to f32 first.
            (
                f64::from(x as f32 + base32.0),
                f64::from((y + 10.0) as f32 + base32.1),
            )
        } else {
            (x + base.0, y + 10.0 + base.1)
        }
    };
    let ang = if held_as_f32 {
        f64::from(3.0 * position as f32).cos()
    } else {
        (3.0 * position).cos()
    };
    let body = [(-20.0, 0.0), (-20.0, 20.0), (20.0, 20.0), (20.0, 0.0)];
    c.polygon(&body.map(|p| place(rotate(p, ang))), BLACK);
    for wheel in [(10.0, 0.0), (-10.0, 0.0)] {
        let (x, y) = place(rotate(wheel, ang));
        c.disc(x as i32, y as i32, (20.0 / 2.5) as i32, [128, 128, 128]);
    }

    // The flag.
    let flagx = ((goal - MIN) * scale) as i32;
    let flagy1 = (height(goal) * scale) as i32;
    let flagy2 = flagy1 + 50;
    c.vline(flagx, flagy1, flagy2, BLACK);
    let flag = [
        (flagx, flagy2),
        (flagx, flagy2 - 10),
        (flagx + 25, flagy2 - 5),
    ]
    .map(|(x, y)| (f64::from(x), f64::from(y)));
    c.polygon(&flag, [204, 204, 0]);
    Frame::from_canvas(c)
}

/// Pendulum-v1 (500 × 500) at angle `theta`, with the torque arrow of the last action
/// `last_u` (none right after a reset, as in Gymnasium).
pub fn pendulum(theta: f64, last_u: Option<f32>) -> Frame {
    use std::f64::consts::FRAC_PI_2;
    const RED: Rgb = [204, 77, 77];
    let scale = 500.0 / (2.2 * 2.0);
    let offset = 250;
    let off = f64::from(offset);
    let (len, width) = (scale, 0.2 * scale);
    let mut c = Canvas::new(500, 500);
    let rod = [
        (0.0, -width / 2.0),
        (0.0, width / 2.0),
        (len, width / 2.0),
        (len, -width / 2.0),
    ]
    .map(|p| {
        let (x, y) = rotate(p, theta + FRAC_PI_2);
        (x + off, y + off)
    });
    c.polygon(&rod, RED);
    let r = (width / 2.0) as i32;
    c.disc(offset, offset, r, RED);
    let (ex, ey) = rotate((len, 0.0), theta + FRAC_PI_2);
    c.disc((ex + off) as i32, (ey + off) as i32, r, RED);
    if let Some(u) = last_u {
        let n = (scale as f32 * u.abs() / 2.0) as usize;
        if n > 0 {
            let alpha = arrow(n, u > 0.0);
            let corner = offset - (n / 2) as i32;
            c.blit_black_alpha(&alpha, n, corner, corner);
        }
    }
    c.disc(offset, offset, (0.05 * scale) as i32, BLACK);
    Frame::from_canvas(c)
}

/// Gymnasium's `assets/clockwise.png` (329 × 312, black with varying alpha).
const CLOCKWISE_PNG: &[u8] = include_bytes!("../../assets/clockwise.png");

/// The arrow's alpha channel, decoded once: (width, height, alpha row-major).
fn clockwise_alpha() -> &'static (usize, usize, Vec<u8>) {
    static ALPHA: OnceLock<(usize, usize, Vec<u8>)> = OnceLock::new();
    ALPHA.get_or_init(|| {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(CLOCKWISE_PNG));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder
            .read_info()
            .expect("the bundled arrow is a valid PNG");
        let mut buf = vec![0; reader.output_buffer_size().expect("a small image")];
        let info = reader
            .next_frame(&mut buf)
            .expect("the bundled arrow decodes");
        assert_eq!(
            info.color_type,
            png::ColorType::Rgba,
            "the bundled arrow is RGBA"
        );
        let (w, h) = (info.width as usize, info.height as usize);
        let alpha = buf[..w * h * 4].chunks_exact(4).map(|p| p[3]).collect();
        (w, h, alpha)
    })
}

/// The arrow shrunk to `n × n` with pygame's `smoothscale` (along x, then y), flipped
/// left-right when `mirrored`, and always upside down, as Gymnasium blits it.
fn arrow(n: usize, mirrored: bool) -> Vec<u8> {
    let (w, h, alpha) = clockwise_alpha();
    let (w, h) = (*w, *h);
    let mut narrow = vec![0; n * h];
    for (src, dst) in alpha.chunks_exact(w).zip(narrow.chunks_exact_mut(n)) {
        shrink(src.iter().copied(), w, dst);
    }
    let mut column = vec![0; n];
    let mut out = vec![0; n * n];
    for i in 0..n {
        shrink((0..h).map(|j| narrow[j * n + i]), h, &mut column);
        for (j, &a) in column.iter().enumerate() {
            let x = if mirrored { n - 1 - i } else { i };
            out[(n - 1 - j) * n + x] = a;
        }
    }
    out
}

/// The bandit (600 × 400, ours: Gymnasium has no bandit). Each arm is a column: a black
/// tick at its payout probability, a blue bar at the policy's probability of pulling it
/// (when given), the pulled arm's bar in orange, and above it a green disc for a win
/// or a grey ring for a loss.
pub fn bandit(payout: &[f64], policy: Option<&[f32]>, pulled: Option<(usize, f64)>) -> Frame {
    const BASE: f64 = 50.0;
    const TALL: f64 = 300.0;
    let mut c = Canvas::new(600, 400);
    let k = payout.len().max(1) as f64;
    let slot = 600.0 / k;
    for (arm, &p) in payout.iter().enumerate() {
        let left = arm as f64 * slot + 0.2 * slot;
        let right = left + 0.6 * slot;
        if let Some(prob) = policy.and_then(|pi| pi.get(arm)) {
            let top = BASE + f64::from(prob.clamp(0.0, 1.0)) * TALL;
            let colour = match pulled {
                Some((a, _)) if a == arm => [202, 152, 101],
                _ => [129, 132, 203],
            };
            c.filled_polygon(
                &[(left, BASE), (left, top), (right, top), (right, BASE)],
                colour,
            );
        }
        let tick = (BASE + p.clamp(0.0, 1.0) * TALL) as i32;
        for dy in -1..=1 {
            c.hline(left as i32 - 8, right as i32 + 8, tick + dy, BLACK);
        }
        if let Some((a, reward)) = pulled
            && a == arm
        {
            let x = ((left + right) / 2.0) as i32;
            let y = (BASE + TALL) as i32 + 25;
            if reward > 0.0 {
                c.disc(x, y, 12, [0, 170, 0]);
            } else {
                c.aacircle(x, y, 12, [128, 128, 128]);
            }
        }
    }
    c.hline(0, 600, BASE as i32, BLACK);
    Frame::from_canvas(c)
}

/// NumPy's float32 cosine, to within its last bit: the f64 cosine rounded.
fn cos32(x: f32) -> f32 {
    f64::from(x).cos() as f32
}

/// NumPy's float32 sine, to within its last bit: the f64 sine rounded.
fn sin32(x: f32) -> f32 {
    f64::from(x).sin() as f32
}
