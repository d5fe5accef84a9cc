//! Log-probabilities, entropies and sampling for both policy heads.
//!
//! The tensor functions are differentiable and numerically stable (log-softmax, never
//! `log(softmax)`). Sampling happens on the host from read-back logits or means, with
//! rl-core's generator: reproducible from the run's seed on every backend, and one
//! read-back per step batch.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use rl_core::rng::{Rng, RngExt};

/// `ln(2 pi) / 2`.
pub(crate) const HALF_LN_2PI: f32 = 0.918_938_5;

/// Categorical log-probabilities of `actions` `[batch]` under `logits`
/// `[batch, n]`: `[batch]`.
pub fn categorical_log_prob<B: Backend>(
    logits: Tensor<B, 2>,
    actions: Tensor<B, 1, Int>,
) -> Tensor<B, 1> {
    log_softmax(logits, 1)
        .gather(1, actions.unsqueeze_dim(1))
        .squeeze_dim(1)
}

/// Categorical log-probabilities of `actions` and entropies, `[batch]` each, from one
/// log-softmax of `logits` `[batch, n]`: what a policy-gradient loss needs. On the
/// backend this build was compiled for, two autodiff nodes with their own backward (see
/// the `fused` module; on ndarray one host pass over the logits); elsewhere it is
/// composed as [`categorical_log_prob`] and [`categorical_entropy`] are.
pub fn categorical_log_prob_and_entropy<B: Backend>(
    logits: Tensor<B, 2>,
    actions: Tensor<B, 1, Int>,
) -> (Tensor<B, 1>, Tensor<B, 1>) {
    let (logits, actions) = match crate::fused::categorical(logits, actions) {
        Ok(both) => return both,
        Err(inputs) => inputs,
    };
    let logp = log_softmax(logits, 1);
    let log_prob = logp
        .clone()
        .gather(1, actions.unsqueeze_dim(1))
        .squeeze_dim(1);
    let entropy = (logp.clone().exp() * logp).sum_dim(1).neg().squeeze_dim(1);
    (log_prob, entropy)
}

/// Categorical entropy `-sum p log p` per row: `[batch]`.
pub fn categorical_entropy<B: Backend>(logits: Tensor<B, 2>) -> Tensor<B, 1> {
    let logp = log_softmax(logits, 1);
    (logp.clone().exp() * logp).sum_dim(1).neg().squeeze_dim(1)
}

/// Diagonal Gaussian log-density of `actions` `[batch, d]`, summed over components:
/// `[batch]`. On the backend this build was compiled for, one autodiff node with its own
/// backward (see the `fused` module; on ndarray one host pass); elsewhere it is composed
/// from Burn operations.
pub fn gaussian_log_prob<B: Backend>(
    mean: Tensor<B, 2>,
    log_std: Tensor<B, 1>,
    actions: Tensor<B, 2>,
) -> Tensor<B, 1> {
    let (mean, log_std, actions) = match crate::fused::gaussian(mean, log_std, actions) {
        Ok(log_prob) => return log_prob,
        Err(inputs) => inputs,
    };
    composed_gaussian_log_prob(mean, log_std, actions)
}

/// [`gaussian_log_prob`] from Burn operations.
pub(crate) fn composed_gaussian_log_prob<B: Backend>(
    mean: Tensor<B, 2>,
    log_std: Tensor<B, 1>,
    actions: Tensor<B, 2>,
) -> Tensor<B, 1> {
    let log_std = log_std.unsqueeze_dim::<2>(0);
    let z = (actions - mean) * log_std.clone().neg().exp();
    (z.powi_scalar(2).mul_scalar(-0.5) - log_std)
        .sub_scalar(HALF_LN_2PI)
        .sum_dim(1)
        .squeeze_dim(1)
}

/// Diagonal Gaussian entropy `sum(log_std + (1 + ln 2 pi) / 2)`: a scalar `[1]`.
pub fn gaussian_entropy<B: Backend>(log_std: Tensor<B, 1>) -> Tensor<B, 1> {
    log_std.add_scalar(0.5 + HALF_LN_2PI).sum()
}

/// gSDE's variance floor (Stable-Baselines3's `epsilon`).
pub const SDE_EPSILON: f32 = 1e-6;

/// The standard deviations of gSDE's actions, `[batch, action_dim]`:
/// `sqrt(z^2 exp(log_std)^2 + 1e-6)` for features `z` `[batch, d]` (detached: the noise
/// does not train the trunk) and `log_std` `[d, action_dim]`.
pub fn sde_std<B: Backend>(features: Tensor<B, 2>, log_std: Tensor<B, 2>) -> Tensor<B, 2> {
    let z2 = features.detach().powi_scalar(2);
    z2.matmul(log_std.mul_scalar(2.0).exp())
        .add_scalar(SDE_EPSILON)
        .sqrt()
}

/// Diagonal Gaussian log-density of `actions` `[batch, d]` with per-row standard
/// deviations `std` `[batch, d]`, summed over components: `[batch]`.
pub fn gaussian_log_prob_std<B: Backend>(
    mean: Tensor<B, 2>,
    std: Tensor<B, 2>,
    actions: Tensor<B, 2>,
) -> Tensor<B, 1> {
    let z = (actions - mean) / std.clone();
    (z.powi_scalar(2).mul_scalar(-0.5) - std.log())
        .sub_scalar(HALF_LN_2PI)
        .sum_dim(1)
        .squeeze_dim(1)
}

/// Diagonal Gaussian entropy with per-row standard deviations `std` `[batch, d]`:
/// `sum(ln std + (1 + ln 2 pi) / 2)` per row, `[batch]`.
pub fn gaussian_entropy_std<B: Backend>(std: Tensor<B, 2>) -> Tensor<B, 1> {
    std.log()
        .add_scalar(0.5 + HALF_LN_2PI)
        .sum_dim(1)
        .squeeze_dim(1)
}

/// gSDE's exploration noise on the host: for each row, its features `z` (`d` values)
/// times that row's exploration matrix (`d * n` values, row-major), added to the row's
/// means in `out` (`rows * n`).
pub fn add_sde_noise(features: &[f32], matrices: &[f32], d: usize, n: usize, out: &mut [f32]) {
    for ((z, e), a) in features
        .chunks_exact(d)
        .zip(matrices.chunks_exact(d * n))
        .zip(out.chunks_exact_mut(n))
    {
        for (zi, row) in z.iter().zip(e.chunks_exact(n)) {
            for (aj, eij) in a.iter_mut().zip(row) {
                *aj += zi * eij;
            }
        }
    }
}

/// Samples one action per row of host `logits` (`rows * n` values, row-major) into
/// `out`, by inverting the CDF of the softmax with one uniform draw per row. With
/// `greedy`, takes the arg-max (the first on ties) and draws nothing.
pub fn sample_categorical(
    logits: &[f32],
    n: usize,
    rng: &mut Rng,
    greedy: bool,
    out: &mut [usize],
) {
    debug_assert_eq!(logits.len(), n * out.len(), "logits and output disagree");
    for (row, a) in logits.chunks_exact(n).zip(out.iter_mut()) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if greedy {
            *a = row.iter().position(|&l| l == max).unwrap_or(0);
            continue;
        }
        let total: f32 = row.iter().map(|&l| (l - max).exp()).sum();
        let u = rng.random::<f32>() * total;
        let mut acc = 0.0;
        *a = n - 1;
        for (i, &l) in row.iter().enumerate() {
            acc += (l - max).exp();
            if u < acc {
                *a = i;
                break;
            }
        }
    }
}

/// Samples `mean + exp(log_std) * z`, `z` standard normal, for every row of host `mean`
/// (`rows * d` values) into `out`. With `greedy`, returns the mean.
pub fn sample_gaussian(
    mean: &[f32],
    log_std: &[f32],
    rng: &mut Rng,
    greedy: bool,
    out: &mut [f32],
) {
    let d = log_std.len();
    debug_assert_eq!(mean.len(), out.len(), "means and output disagree");
    for (i, (m, a)) in mean.iter().zip(out.iter_mut()).enumerate() {
        *a = if greedy {
            *m
        } else {
            m + log_std[i % d].exp() * standard_normal(rng)
        };
    }
}

/// Draws gSDE exploration matrices into `out` (a whole number of `log_std.len()`-value
/// matrices): each weight from `N(0, exp(log_std)^2)`, in order.
pub fn sample_sde_matrices(log_std: &[f32], rng: &mut Rng, out: &mut [f32]) {
    let k = log_std.len();
    debug_assert_eq!(out.len() % k.max(1), 0, "whole matrices");
    for (i, e) in out.iter_mut().enumerate() {
        *e = log_std[i % k].exp() * standard_normal(rng);
    }
}

/// One standard normal draw (Box-Muller; the second value is discarded so that every
/// draw consumes the same amount of the stream).
pub(crate) fn standard_normal(rng: &mut Rng) -> f32 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // in (0, 1]
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend as B, device};
    use rl_core::rng;

    /// gSDE on a case worked by hand: features `z = (0.5, -1)`, one action component,
    /// log-std `(l1, l2) = (-0.3, 0.2)`, mean 0.1, action 0.7. Then
    /// `s2 = z1^2 e^(2 l1) + z2^2 e^(2 l2) + 1e-6`,
    /// `log p = -(a - m)^2 / (2 s2) - ln(s2) / 2 - ln(2 pi) / 2`,
    /// `d log p / d m = (a - m) / s2`,
    /// `d log p / d li = ((a - m)^2 / (2 s2^2) - 1 / (2 s2)) 2 zi^2 e^(2 li)`,
    /// `H = ln(s2) / 2 + (1 + ln 2 pi) / 2`, `dH / d li = zi^2 e^(2 li) / s2`,
    /// and nothing reaches the features.
    #[test]
    fn sde_log_prob_entropy_and_gradients_match_the_hand_derived_case() {
        use crate::backend::TrainBackend as A;
        let dev = device();
        let (z, l, m, a) = ([0.5f64, -1.0], [-0.3f64, 0.2], 0.1f64, 0.7f64);
        let t = |v: &[f64], shape: [usize; 2]| {
            let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
            Tensor::<A, 2>::from_data(TensorData::new(v, shape), &dev).require_grad()
        };
        let (zt, lt, mt) = (t(&z, [1, 2]), t(&l, [2, 1]), t(&[m], [1, 1]));
        let at = Tensor::<A, 2>::from_data(TensorData::new(vec![a as f32], [1, 1]), &dev);
        let std = sde_std(zt.clone(), lt.clone());
        let logp = gaussian_log_prob_std(mt.clone(), std.clone(), at);
        let entropy = gaussian_entropy_std(std);

        let w = [
            z[0] * z[0] * (2.0 * l[0]).exp(),
            z[1] * z[1] * (2.0 * l[1]).exp(),
        ];
        let s2 = w[0] + w[1] + 1e-6;
        let d2 = (a - m) * (a - m);
        let want_logp = -d2 / (2.0 * s2) - s2.ln() / 2.0 - (std::f64::consts::TAU).ln() / 2.0;
        let want_h = s2.ln() / 2.0 + (1.0 + std::f64::consts::TAU.ln()) / 2.0;
        let scalar = |t: Tensor<A, 1>| t.into_data().to_vec::<f32>().unwrap()[0] as f64;
        let close = |got: f64, want: f64, what: &str| {
            assert!(
                (got - want).abs() <= 1e-5 * want.abs().max(1.0),
                "{what}: {got} vs {want}"
            );
        };
        close(scalar(logp.clone()), want_logp, "log p");
        close(scalar(entropy.clone()), want_h, "entropy");

        let g = |t: &Tensor<A, 2>,
                 grads: &<A as burn::tensor::backend::AutodiffBackend>::Gradients|
         -> Option<Vec<f64>> {
            t.grad(grads).map(|g| {
                g.into_data()
                    .to_vec::<f32>()
                    .unwrap()
                    .into_iter()
                    .map(f64::from)
                    .collect()
            })
        };
        let grads = logp.sum().backward();
        close(g(&mt, &grads).unwrap()[0], (a - m) / s2, "d log p / d mean");
        let gl = g(&lt, &grads).unwrap();
        for i in 0..2 {
            let want = (d2 / (2.0 * s2 * s2) - 1.0 / (2.0 * s2)) * 2.0 * w[i];
            close(gl[i], want, "d log p / d log_std");
        }
        assert!(
            g(&zt, &grads).is_none_or(|v| v.iter().all(|&x| x == 0.0)),
            "the features are detached"
        );
        // A fresh graph: the backward above consumed the shared one.
        let entropy = gaussian_entropy_std(sde_std(zt, lt.clone()));
        let grads = entropy.sum().backward();
        let gl = g(&lt, &grads).unwrap();
        for i in 0..2 {
            close(gl[i], w[i] / s2, "dH / d log_std");
        }
    }

    #[test]
    fn host_sde_noise_is_the_features_times_each_rows_matrix() {
        // Two rows, d = 2, n = 2: row 0 uses matrix [[1, 2], [3, 4]], row 1 [[0, 1], [1, 0]].
        let features = [1.0, 2.0, -1.0, 0.5];
        let matrices = [1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 1.0, 0.0];
        let mut out = [10.0, 20.0, 0.0, 0.0];
        add_sde_noise(&features, &matrices, 2, 2, &mut out);
        assert_eq!(out, [10.0 + 7.0, 20.0 + 10.0, 0.5, -1.0]);
        // The matrices' weights have the log-std's scale.
        let mut r = rng::seeded(0);
        let mut e = vec![0.0; 2 * 4000];
        sample_sde_matrices(&[0.0f32.ln().max(-30.0), 1.0f32.ln()], &mut r, &mut e);
        let var = |k: usize| e.iter().skip(k).step_by(2).map(|x| x * x).sum::<f32>() / 4000.0;
        assert!(var(0) < 1e-20, "{}", var(0));
        assert!((var(1) - 1.0).abs() < 0.1, "{}", var(1));
    }

    #[test]
    fn categorical_log_prob_and_entropy_by_hand() {
        let dev = device();
        let logits = Tensor::<B, 2>::from_data(
            TensorData::new(vec![0.0_f32, 0.0, 1000.0, 0.0], [2, 2]),
            &dev,
        );
        let actions = Tensor::<B, 1, Int>::from_data(TensorData::new(vec![1_i64, 1], [2]), &dev);
        let lp: Vec<f32> = categorical_log_prob(logits.clone(), actions)
            .into_data()
            .to_vec()
            .unwrap();
        assert!((lp[0] - 0.5_f32.ln()).abs() < 1e-6);
        // Large logits stay finite: log p = -1000 exactly, no NaN from exp overflow.
        assert!((lp[1] + 1000.0).abs() < 1e-3, "{lp:?}");
        let h: Vec<f32> = categorical_entropy(logits).into_data().to_vec().unwrap();
        assert!(
            (h[0] - 2.0_f32.ln()).abs() < 1e-6 && h[1].abs() < 1e-6,
            "{h:?}"
        );
    }

    #[test]
    fn gaussian_log_prob_and_entropy_by_hand() {
        let dev = device();
        let mean = Tensor::<B, 2>::from_data(TensorData::new(vec![0.0_f32, 1.0], [1, 2]), &dev);
        let log_std =
            Tensor::<B, 1>::from_data(TensorData::new(vec![0.0_f32, 2.0_f32.ln()], [2]), &dev);
        let a = Tensor::<B, 2>::from_data(TensorData::new(vec![1.0_f32, 1.0], [1, 2]), &dev);
        let lp: f32 = gaussian_log_prob(mean, log_std.clone(), a).into_scalar();
        // N(1; 0, 1) and N(1; 1, 2): -0.5 - c, and -ln 2 - c.
        let want = -0.5 - 2.0 * HALF_LN_2PI - 2.0_f32.ln();
        assert!((lp - want).abs() < 1e-5, "{lp} vs {want}");
        let h: f32 = gaussian_entropy(log_std).into_scalar();
        assert!((h - (2.0_f32.ln() + 2.0 * (0.5 + HALF_LN_2PI))).abs() < 1e-5);
    }

    #[test]
    fn categorical_sampling_matches_the_probabilities_and_the_seed() {
        let logits = [0.0_f32, (3.0_f32).ln(), f32::NEG_INFINITY.max(-1e30)];
        let n = 40_000;
        let mut r = rng::seeded(3);
        let mut counts = [0usize; 3];
        let mut out = [0usize];
        for _ in 0..n {
            sample_categorical(&logits, 3, &mut r, false, &mut out);
            counts[out[0]] += 1;
        }
        // p = 0.25, 0.75, 0: within 4 standard deviations.
        let p1 = counts[1] as f64 / n as f64;
        assert!(
            (p1 - 0.75).abs() < 4.0 * (0.75 * 0.25 / n as f64).sqrt(),
            "{counts:?}"
        );
        assert_eq!(counts[2], 0);
        let draw = |seed| {
            let mut r = rng::seeded(seed);
            let mut out = [0usize; 64];
            sample_categorical(&[0.1, 0.2, 0.3].repeat(64), 3, &mut r, false, &mut out);
            out
        };
        assert_eq!(draw(9), draw(9));
        assert_ne!(draw(9), draw(10));
        sample_categorical(&[0.0, 2.0, 2.0], 3, &mut r, true, &mut out);
        assert_eq!(out[0], 1, "greedy takes the first maximum");
    }

    #[test]
    fn gaussian_sampling_has_the_right_moments() {
        let mut r = rng::seeded(4);
        let n = 40_000;
        let mut out = vec![0.0; n];
        sample_gaussian(&vec![1.0; n], &[0.5_f32.ln()], &mut r, false, &mut out);
        let mean = out.iter().sum::<f32>() / n as f32;
        let var = out.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / (n - 1) as f32;
        assert!((mean - 1.0).abs() < 0.01, "{mean}");
        assert!((var - 0.25).abs() < 0.01, "{var}");
    }
}
