//! Element-wise host kernels written so that the compiler vectorises them.
//!
//! libm's `expf` is a scalar call of a few nanoseconds; the hidden layers of a batched
//! rollout or update need hundreds of thousands of them. [`tanh_in_place`] evaluates
//! `tanh(x) = 1 - 2 / (exp(2x) + 1)` with a branch-free Cephes-style `exp` (a range
//! reduction by `ln 2` and a degree-6 polynomial, at most 2 ulp from libm's `expf`) that
//! compiles to packed SIMD instructions on every x86-64 and aarch64 CPU.
//!
//! Every kernel runs through [`wide`], which compiles its loop for AVX2 or AVX-512 when
//! the CPU has them (baseline x86-64 stops at SSE2's four lanes). Rust never contracts
//! `a * b + c` into a fused multiply-add, so the results are the same bits at every
//! width.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2};

/// Runs `f` inside a function compiled for the widest SIMD instructions this CPU has,
/// chosen at run time (pulp's `Arch::dispatch`); `f`'s loops vectorise to that width
/// when they are inlined into it.
#[inline(always)]
pub fn wide<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}

/// `tanh(x)` is 1 to within 2e-13 at `|x| = 15`, so the input is clamped there; this
/// also keeps `exp(2x)` finite.
pub const TANH_CLAMP: f32 = 15.0;

/// A branch-free `exp` for `x` in [-87, 88] (the range where `exp(x)` is a normal f32).
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that `n * LN2_HI` is exact for |n| < 2^9.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 * 2^23: adding it rounds to an integer, which then sits in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    // n = round(x / ln 2), in float arithmetic: an `as i32` cast saturates, which does not
    // vectorise.
    let shifted = x * LOG2E + ROUND;
    // Wrapping integer arithmetic, though nothing here can overflow: a checked operation
    // (overflow checks are on in the test profile) branches, and the loop around this
    // function would no longer vectorise.
    let n = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let nf = shifted - ROUND;
    let r = x - nf * LN2_HI - nf * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let y = p * (r * r) + r + 1.0;
    // 2^n, built from its exponent bits; n is in [-126, 127] after the clamp.
    y * f32::from_bits((n.wrapping_add(127) as u32) << 23)
}

/// The tanh of one value, as [`tanh_in_place`] computes it.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x.clamp(-TANH_CLAMP, TANH_CLAMP)) + 1.0)
}

/// `v = tanh(v)` for every element. The absolute error against `f64::tanh` is below
/// 1.8e-7 everywhere, the same bound as the formula with libm's `expf` (the cancellation
/// in `1 - 2 / (e + 1)` dominates it).
pub fn tanh_in_place(v: &mut [f32]) {
    wide(
        #[inline(always)]
        || {
            for x in v {
                *x = tanh(*x);
            }
        },
    )
}

/// `out = tanh(x)` for every element.
pub fn tanh_into(x: &[f32], out: &mut [f32]) {
    wide(
        #[inline(always)]
        || {
            for (o, &x) in out.iter_mut().zip(x) {
                *o = tanh(x);
            }
        },
    )
}

/// The gradient through `y = tanh(x)`: `grad * (1 - y^2)` for every element.
pub fn tanh_backward(y: &[f32], grad: &[f32], out: &mut [f32]) {
    wide(
        #[inline(always)]
        || {
            for ((o, &y), &g) in out.iter_mut().zip(y).zip(grad) {
                *o = g * (1.0 - y * y);
            }
        },
    )
}

/// What follows a dense layer's `x W + b`: nothing, tanh or relu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// `z`.
    Identity,
    /// `tanh(z)`, as [`tanh`].
    Tanh,
    /// `max(z, 0)`.
    Relu,
}

/// `z = act(z + b)` for every row of `z` (rows of `b.len()` values).
pub fn bias_act_rows(z: &mut [f32], b: &[f32], act: Act) {
    #[inline(always)]
    fn rows(z: &mut [f32], b: &[f32], f: impl Fn(f32) -> f32) {
        for row in z.chunks_exact_mut(b.len()) {
            for (v, &bj) in row.iter_mut().zip(b) {
                *v = f(*v + bj);
            }
        }
    }
    wide(
        #[inline(always)]
        || match act {
            Act::Identity => rows(z, b, |v| v),
            Act::Tanh => rows(z, b, tanh),
            Act::Relu => rows(z, b, |v| v.max(0.0)),
        },
    )
}

/// The gradient through `y = act(z)` for every element, `dz = grad * act'(z)` written
/// from the output `y`, and the column sums of `dz` (the bias gradient) added to
/// `db` (`db.len()` columns, in row order).
pub fn act_backward_rows(y: &[f32], grad: &[f32], act: Act, dz: &mut [f32], db: &mut [f32]) {
    #[inline(always)]
    fn rows(y: &[f32], g: &[f32], dz: &mut [f32], db: &mut [f32], f: impl Fn(f32, f32) -> f32) {
        let d = db.len();
        for ((yr, gr), dr) in y
            .chunks_exact(d)
            .zip(g.chunks_exact(d))
            .zip(dz.chunks_exact_mut(d))
        {
            for (((&y, &g), dz), db) in yr.iter().zip(gr).zip(dr).zip(db.iter_mut()) {
                *dz = f(y, g);
                *db += *dz;
            }
        }
    }
    wide(
        #[inline(always)]
        || match act {
            Act::Identity => rows(y, grad, dz, db, |_, g| g),
            Act::Tanh => rows(y, grad, dz, db, |y, g| g * (1.0 - y * y)),
            Act::Relu => rows(y, grad, dz, db, |y, g| if y > 0.0 { g } else { 0.0 }),
        },
    )
}

/// A matrix dimension at most this small makes a packed matrix product (matrixmultiply)
/// mostly packing and padding: a policy head's 2 outputs, CartPole's 4 inputs. [`product`]
/// takes a row loop instead.
pub const SMALL: usize = 8;

/// `a b`, by the fastest route for its shape. When no dimension is [`SMALL`], a packed
/// matrix product (ndarray's `general_mat_mul` over matrixmultiply, on the operands' own
/// strides). Otherwise a row loop ([`product_rows`], [`product_dots`], [`product_tn`])
/// that sums over the inner dimension in order.
pub fn product(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    let mut c = Array2::zeros((a.nrows(), b.ncols()));
    product_into(a, b, c.as_slice_mut().expect("a fresh array"));
    c
}

/// [`product`] into `out`, row-major `[a.nrows(), b.ncols()]`, whatever it held: the
/// hot path's form, with no allocation of its own when `a` and `b` are row-major.
pub fn product_into(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>, out: &mut [f32]) {
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    assert_eq!(k, b.nrows(), "inner dimensions of a product");
    if m > SMALL && k > SMALL && n > SMALL {
        let mut c = ArrayViewMut2::from_shape((m, n), out).expect("an [m, n] output");
        general_mat_mul(1.0, &a, &b, 0.0, &mut c);
        return;
    }
    out.fill(0.0);
    if let Some(xs) = a.t().as_slice() {
        // `a` is the transpose of a row-major `x` (a weight gradient `x^T dz`).
        let b = b.as_standard_layout();
        product_tn(xs, b.as_slice().expect("standard layout"), k, m, n, out);
        return;
    }
    let a = a.as_standard_layout();
    let as_ = a.as_slice().expect("standard layout");
    if n < SMALL {
        // No copy when `b` is the transpose of a row-major `[n, k]` matrix.
        let b_t = b.t();
        let bt = b_t.as_standard_layout();
        product_dots(as_, bt.as_slice().expect("standard layout"), m, k, n, out);
    } else {
        let b = b.as_standard_layout();
        product_rows(as_, b.as_slice().expect("standard layout"), m, k, n, out);
    }
}

/// `out = a b` for row-major `a` `[m, k]` and `b` `[k, n]`: each output row accumulates
/// `a[i, k] * b[k, :]` over `k` in order (vectorised along the row). `out` starts at zero.
pub fn product_rows(a: &[f32], b: &[f32], m: usize, k: usize, n: usize, out: &mut [f32]) {
    wide(
        #[inline(always)]
        || {
            let axpy = |o: &mut [f32], s: f32, x: &[f32]| {
                for (o, &x) in o.iter_mut().zip(x) {
                    *o += s * x;
                }
            };
            if m <= SMALL {
                // Few rows: stream `b` once.
                for (kk, brow) in b.chunks_exact(n).enumerate().take(k) {
                    for (i, orow) in out.chunks_exact_mut(n).enumerate().take(m) {
                        axpy(orow, a[i * k + kk], brow);
                    }
                }
            } else {
                for (arow, orow) in a.chunks_exact(k).zip(out.chunks_exact_mut(n)) {
                    for (&s, brow) in arow.iter().zip(b.chunks_exact(n)) {
                        axpy(orow, s, brow);
                    }
                }
            }
        },
    )
}

/// `out = a bt^T` for row-major `a` `[m, k]` and `bt` `[n, k]`: one dot product per output
/// (eight partial sums), for outputs too narrow to vectorise along.
pub fn product_dots(a: &[f32], bt: &[f32], m: usize, k: usize, n: usize, out: &mut [f32]) {
    wide(
        #[inline(always)]
        || {
            for (arow, orow) in a.chunks_exact(k).zip(out.chunks_exact_mut(n)).take(m) {
                for (o, brow) in orow.iter_mut().zip(bt.chunks_exact(k)) {
                    *o = dot(arow, brow);
                }
            }
        },
    )
}

/// `out = x^T d` for row-major `x` `[rows, m]` and `d` `[rows, n]` (`out` `[m, n]`):
/// accumulated over the rows in order, vectorised along `n`, or along `m` when `n` is
/// narrow.
pub fn product_tn(x: &[f32], d: &[f32], rows: usize, m: usize, n: usize, out: &mut [f32]) {
    wide(
        #[inline(always)]
        || {
            if n >= SMALL {
                for (xr, dr) in x.chunks_exact(m).zip(d.chunks_exact(n)).take(rows) {
                    for (&xi, orow) in xr.iter().zip(out.chunks_exact_mut(n)) {
                        for (o, &dv) in orow.iter_mut().zip(dr) {
                            *o += xi * dv;
                        }
                    }
                }
            } else {
                let mut out_t = vec![0.0; n * m];
                for (xr, dr) in x.chunks_exact(m).zip(d.chunks_exact(n)).take(rows) {
                    for (&dj, orow) in dr.iter().zip(out_t.chunks_exact_mut(m)) {
                        for (o, &xv) in orow.iter_mut().zip(xr) {
                            *o += dj * xv;
                        }
                    }
                }
                for (j, col) in out_t.chunks_exact(m).enumerate() {
                    for (i, &v) in col.iter().enumerate() {
                        out[i * n + j] = v;
                    }
                }
            }
        },
    )
}

/// A dot product with eight partial sums.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut acc = [0.0_f32; LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (xs, ys) in ac.zip(bc) {
        for k in 0..LANES {
            acc[k] += xs[k] * ys[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// A categorical distribution per row of `logits` (`rows * n` values): the
/// probabilities `p` and log-probabilities `logp` (log-softmax, shifted by the row's
/// maximum), the log-probability of each row's action in `log_prob`, and the entropy
/// `-sum p log p` in `entropy`.
pub fn categorical_rows(
    logits: &[f32],
    n: usize,
    actions: &[usize],
    p: &mut [f32],
    logp: &mut [f32],
    log_prob: &mut [f32],
    entropy: &mut [f32],
) {
    let rows = logits
        .chunks_exact(n)
        .zip(p.chunks_exact_mut(n))
        .zip(logp.chunks_exact_mut(n));
    for ((((l, p), logp), &a), (lp, h)) in rows
        .zip(actions)
        .zip(log_prob.iter_mut().zip(entropy.iter_mut()))
    {
        let max = l.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = l.iter().map(|&v| (v - max).exp()).sum();
        let log_sum = sum.ln();
        let mut ent = 0.0;
        for ((&v, p), logp) in l.iter().zip(p.iter_mut()).zip(logp.iter_mut()) {
            *logp = v - max - log_sum;
            *p = logp.exp();
            ent -= *p * *logp;
        }
        *lp = logp[a];
        *h = ent;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between two finite f32 of the same sign.
    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn exp_is_within_two_ulp_of_libm() {
        let mut worst = 0;
        let mut x = -87.0_f32;
        while x < 88.0 {
            let want = (x as f64).exp() as f32;
            worst = worst.max(ulps(exp(x), want));
            x += 0.000_731;
        }
        assert!(worst <= 2, "exp is {worst} ulp off");
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn tanh_is_within_its_stated_error() {
        let mut worst = 0.0_f64;
        let mut x = -20.0_f32;
        while x < 20.0 {
            let err = (tanh(x) as f64 - (x as f64).tanh()).abs();
            worst = worst.max(err);
            x += 0.000_37;
        }
        assert!(worst < 1.8e-7, "tanh is {worst} off");
        assert_eq!(tanh(0.0), 0.0);
        assert_eq!(tanh(40.0), 1.0);
        assert_eq!(tanh(-40.0), -1.0);
        assert_eq!(tanh(f32::INFINITY), 1.0);
    }

    #[test]
    fn slices_agree_with_the_scalar_and_the_backward_is_the_derivative() {
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.013).collect();
        let mut v = x.clone();
        tanh_in_place(&mut v);
        let mut w = vec![0.0; x.len()];
        tanh_into(&x, &mut w);
        assert_eq!(v, w);
        assert!(v.iter().zip(&x).all(|(&y, &x)| y == tanh(x)));
        let grad = vec![2.0; x.len()];
        let mut g = vec![0.0; x.len()];
        tanh_backward(&v, &grad, &mut g);
        for (&g, &x) in g.iter().zip(&x) {
            let d = 2.0 / (x as f64).cosh().powi(2);
            assert!((g as f64 - d).abs() < 1e-6, "{g} vs {d} at {x}");
        }
    }

    #[test]
    fn dense_rows_add_the_bias_apply_the_activation_and_sum_the_bias_gradient() {
        let b = [0.5, -1.0, 2.0];
        let z0: Vec<f32> = (0..12).map(|i| i as f32 * 0.3 - 1.5).collect();
        for act in [Act::Identity, Act::Tanh, Act::Relu] {
            let f = |v: f32| match act {
                Act::Identity => v,
                Act::Tanh => tanh(v),
                Act::Relu => v.max(0.0),
            };
            let mut y = z0.clone();
            bias_act_rows(&mut y, &b, act);
            for (i, (&y, &z)) in y.iter().zip(&z0).enumerate() {
                assert_eq!(y, f(z + b[i % 3]), "{act:?} at {i}");
            }
            let grad: Vec<f32> = (0..12).map(|i| 1.0 + i as f32).collect();
            let (mut dz, mut db) = (vec![0.0; 12], vec![0.0; 3]);
            act_backward_rows(&y, &grad, act, &mut dz, &mut db);
            for (i, &d) in dz.iter().enumerate() {
                let slope = match act {
                    Act::Identity => 1.0,
                    Act::Tanh => 1.0 - y[i] * y[i],
                    Act::Relu => f32::from(y[i] > 0.0),
                };
                assert_eq!(d, grad[i] * slope, "{act:?} at {i}");
            }
            for (j, &s) in db.iter().enumerate() {
                let want: f32 = (0..4).map(|r| dz[r * 3 + j]).sum();
                assert!((s - want).abs() < 1e-5, "{act:?} column {j}");
            }
        }
    }

    #[test]
    fn every_route_of_product_agrees_with_a_plain_triple_loop() {
        let fill = |r: usize, c: usize, seed: f32| {
            Array2::from_shape_fn((r, c), |(i, j)| ((i * c + j) as f32 * 0.37 + seed).sin())
        };
        let naive = |a: &Array2<f32>, b: &Array2<f32>| {
            Array2::from_shape_fn((a.nrows(), b.ncols()), |(i, j)| {
                (0..a.ncols())
                    .map(|k| a[[i, k]] as f64 * b[[k, j]] as f64)
                    .sum::<f64>()
            })
        };
        // (m, k, n): packed, few inputs, narrow output, few rows, and both transposes.
        for (m, k, n) in [
            (40, 33, 20),
            (70, 4, 64),
            (70, 64, 2),
            (4, 300, 64),
            (3, 5, 1),
        ] {
            let (a, b) = (fill(m, k, 0.1), fill(k, n, 0.7));
            let (at, bt) = (a.t().to_owned(), b.t().to_owned());
            let want = naive(&a, &b);
            for got in [
                product(a.view(), b.view()),
                product(at.t(), b.view()),
                product(a.view(), bt.t()),
                product(at.t(), bt.t()),
            ] {
                for (g, w) in got.iter().zip(want.iter()) {
                    assert!(
                        (*g as f64 - w).abs() < 1e-4 * (1.0 + w.abs()),
                        "{m}x{k}x{n}"
                    );
                }
            }
        }
    }
}
