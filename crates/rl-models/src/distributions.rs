//! Log-probabilities, entropies and sampling for every policy head: categorical (with
//! action masks), multi-categorical, Bernoulli, diagonal Gaussian and gSDE.
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

/// The value sb3-contrib's `MaskableCategorical` gives the logits of masked actions:
/// `exp` of it is 0 in f32, so a masked action has no probability and no gradient.
pub const MASKED_LOGIT: f32 = -1e8;

/// `logits` `[batch, n]` with every action `mask` `[batch, n]` forbids (false) set to
/// [`MASKED_LOGIT`], as sb3-contrib's MaskablePPO masks them.
pub fn masked_logits<B: Backend>(logits: Tensor<B, 2>, mask: Tensor<B, 2, Bool>) -> Tensor<B, 2> {
    logits.mask_fill(mask.bool_not(), MASKED_LOGIT)
}

/// Categorical log-probabilities and entropies, `[batch]` each, with the actions `mask`
/// forbids removed (sb3-contrib's `MaskableCategorical`): the masked logits are set to
/// [`MASKED_LOGIT`] and the entropy sums over the allowed actions only (a forbidden
/// action's `p log p` is exactly 0).
pub fn masked_categorical_log_prob_and_entropy<B: Backend>(
    logits: Tensor<B, 2>,
    actions: Tensor<B, 1, Int>,
    mask: Option<Tensor<B, 2, Bool>>,
) -> (Tensor<B, 1>, Tensor<B, 1>) {
    match mask {
        Some(mask) => categorical_log_prob_and_entropy(masked_logits(logits, mask), actions),
        None => categorical_log_prob_and_entropy(logits, actions),
    }
}

/// One categorical per component of a multi-discrete action (SB3's
/// `MultiCategoricalDistribution`): `logits` `[batch, sum(nvec)]` hold each component's
/// logits one after another, `actions` `[batch, nvec.len()]` each component's index, and
/// `mask` (optional, `[batch, sum(nvec)]`) each component's allowed values. The
/// log-probability and the entropy are the sums over the components, `[batch]` each.
pub fn multi_categorical_log_prob_and_entropy<B: Backend>(
    logits: Tensor<B, 2>,
    nvec: &[usize],
    actions: Tensor<B, 2, Int>,
    mask: Option<Tensor<B, 2, Bool>>,
) -> (Tensor<B, 1>, Tensor<B, 1>) {
    let mut at = 0;
    let mut log_prob: Option<Tensor<B, 1>> = None;
    let mut entropy: Option<Tensor<B, 1>> = None;
    for (k, &n) in nvec.iter().enumerate() {
        let part = logits.clone().narrow(1, at, n);
        let part_mask = mask.as_ref().map(|m| m.clone().narrow(1, at, n));
        let a = actions.clone().narrow(1, k, 1).squeeze_dim(1);
        let (lp, h) = masked_categorical_log_prob_and_entropy(part, a, part_mask);
        log_prob = Some(match log_prob {
            Some(sum) => sum + lp,
            None => lp,
        });
        entropy = Some(match entropy {
            Some(sum) => sum + h,
            None => h,
        });
        at += n;
    }
    (
        log_prob.expect("at least one component"),
        entropy.expect("at least one component"),
    )
}

/// Independent Bernoullis, one per flag of a multi-binary action (SB3's
/// `BernoulliDistribution`): `logits` `[batch, n]`, `actions` `[batch, n]` (0 or 1). The
/// log-probability `sum a log s(l) + (1 - a) log s(-l)` and the entropy
/// `-sum p log s(l) + (1 - p) log s(-l)` (`s` the sigmoid, `p = s(l)`), `[batch]` each,
/// through Burn's log-sigmoid, which stays finite for any logit.
pub fn bernoulli_log_prob_and_entropy<B: Backend>(
    logits: Tensor<B, 2>,
    actions: Tensor<B, 2, Int>,
) -> (Tensor<B, 1>, Tensor<B, 1>) {
    use burn::tensor::activation::{log_sigmoid, sigmoid};
    let a = actions.float();
    let log_p1 = log_sigmoid(logits.clone());
    let log_p0 = log_sigmoid(logits.clone().neg());
    let log_prob = (a.clone() * log_p1.clone() + (a.neg().add_scalar(1.0)) * log_p0.clone())
        .sum_dim(1)
        .squeeze_dim(1);
    let p = sigmoid(logits);
    let entropy = (p.clone() * log_p1 + p.neg().add_scalar(1.0) * log_p0)
        .sum_dim(1)
        .neg()
        .squeeze_dim(1);
    (log_prob, entropy)
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

/// [`sample_categorical`] with the actions `mask` forbids (false) never drawn: a
/// forbidden action's logit is [`MASKED_LOGIT`], as the policy's own log-probabilities
/// see it, so its probability is exactly 0. `mask` holds `n` flags per row.
pub fn sample_masked_categorical(
    logits: &[f32],
    n: usize,
    mask: &[bool],
    rng: &mut Rng,
    greedy: bool,
    out: &mut [usize],
    scratch: &mut Vec<f32>,
) {
    scratch.clear();
    scratch.extend(
        logits
            .iter()
            .zip(mask)
            .map(|(&l, &ok)| if ok { l } else { MASKED_LOGIT }),
    );
    sample_categorical(scratch, n, rng, greedy, out);
}

/// One index per component of a multi-discrete action, for every row of host `logits`
/// (`rows * sum(nvec)` values) into `out` (`rows * nvec.len()`): each component drawn in
/// turn from its own categorical (masked by `mask`, `rows * sum(nvec)` flags, if given).
pub fn sample_multi_categorical(
    logits: &[f32],
    nvec: &[usize],
    mask: Option<&[bool]>,
    rng: &mut Rng,
    greedy: bool,
    out: &mut [usize],
    scratch: &mut Vec<f32>,
) {
    let width: usize = nvec.iter().sum();
    let k = nvec.len();
    for (r, row) in logits.chunks_exact(width).enumerate() {
        let mut at = 0;
        for (c, &n) in nvec.iter().enumerate() {
            let part = &row[at..at + n];
            let slot = &mut out[r * k + c..r * k + c + 1];
            match mask {
                Some(m) => {
                    let m = &m[r * width + at..r * width + at + n];
                    sample_masked_categorical(part, n, m, rng, greedy, slot, scratch);
                }
                None => sample_categorical(part, n, rng, greedy, slot),
            }
            at += n;
        }
    }
}

/// One flag per logit of host `logits`, each 1 with probability `sigmoid(logit)` (one
/// uniform draw per flag); with `greedy`, 1 where the logit is positive.
pub fn sample_bernoulli(logits: &[f32], rng: &mut Rng, greedy: bool, out: &mut [usize]) {
    debug_assert_eq!(logits.len(), out.len(), "logits and output disagree");
    for (&l, a) in logits.iter().zip(out.iter_mut()) {
        *a = if greedy {
            usize::from(l > 0.0)
        } else {
            let p = 1.0 / (1.0 + (-l).exp());
            usize::from(rng.random::<f32>() < p)
        };
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

    /// Gradients of `f` (a `[batch]` result summed) with respect to `logits`.
    fn logit_grads(
        logits: Vec<f32>,
        shape: [usize; 2],
        f: impl FnOnce(
            Tensor<crate::backend::TrainBackend, 2>,
        ) -> Tensor<crate::backend::TrainBackend, 1>,
    ) -> Vec<f32> {
        let dev = device();
        let l = Tensor::<crate::backend::TrainBackend, 2>::from_data(
            TensorData::new(logits, shape),
            &dev,
        )
        .require_grad();
        let grads = f(l.clone()).sum().backward();
        l.grad(&grads).unwrap().into_data().to_vec().unwrap()
    }

    fn close(got: &[f32], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (g, w) in got.iter().zip(want) {
            assert!(
                (f64::from(*g) - w).abs() <= 1e-5 * w.abs().max(1.0),
                "{what}: {got:?} vs {want:?}"
            );
        }
    }

    /// A masked categorical worked by hand: logits (1, 2, 3), action 1 forbidden, action
    /// 2 taken. Over the allowed actions p = (e, e^3) / (e + e^3); log p(2) = 3 - ln(e +
    /// e^3); H = -sum p ln p; d log p(2) / d logits = e_2 - p (0 for the forbidden one);
    /// dH / d l_j = -p_j (ln p_j + H).
    #[test]
    fn a_masked_categorical_by_hand() {
        let (l0, l2) = (1.0f64, 3.0f64);
        let z = l0.exp() + l2.exp();
        let p = [l0.exp() / z, 0.0, l2.exp() / z];
        let h = -(p[0] * p[0].ln() + p[2] * p[2].ln());
        let dev = device();
        let mask = || {
            Tensor::<crate::backend::TrainBackend, 2, Bool>::from_data(
                TensorData::new(vec![true, false, true], [1, 3]),
                &dev,
            )
        };
        let action = || {
            Tensor::<crate::backend::TrainBackend, 1, Int>::from_data(
                TensorData::new(vec![2i64], [1]),
                &dev,
            )
        };
        let logits = vec![1.0f32, 2.0, 3.0];
        let (lp, ent) = masked_categorical_log_prob_and_entropy(
            Tensor::from_data(TensorData::new(logits.clone(), [1, 3]), &dev),
            action(),
            Some(mask()),
        );
        close(
            &lp.into_data().to_vec::<f32>().unwrap(),
            &[l2 - z.ln()],
            "log p",
        );
        close(&ent.into_data().to_vec::<f32>().unwrap(), &[h], "entropy");
        let g = logit_grads(logits.clone(), [1, 3], |l| {
            masked_categorical_log_prob_and_entropy(l, action(), Some(mask())).0
        });
        close(&g, &[-p[0], 0.0, 1.0 - p[2]], "d log p / d logits");
        let g = logit_grads(logits, [1, 3], |l| {
            masked_categorical_log_prob_and_entropy(l, action(), Some(mask())).1
        });
        let dh = |j: usize| -p[j] * (p[j].ln() + h);
        close(&g, &[dh(0), 0.0, dh(2)], "dH / d logits");
    }

    /// Two components, nvec (2, 3), logits (0.5, -0.5 | 1, 0, -1), actions (1, 2): the
    /// log-probability and the entropy are the components' sums, and each component's
    /// logits get its own `e_a - p`.
    #[test]
    fn a_multi_categorical_is_the_sum_of_its_components() {
        let softmax = |l: &[f64]| {
            let z: f64 = l.iter().map(|x| x.exp()).sum();
            l.iter().map(|x| x.exp() / z).collect::<Vec<f64>>()
        };
        let (a, b) = ([0.5, -0.5], [1.0, 0.0, -1.0]);
        let (pa, pb) = (softmax(&a), softmax(&b));
        let h = |p: &[f64]| -p.iter().map(|x| x * x.ln()).sum::<f64>();
        let dev = device();
        let actions = || {
            Tensor::<crate::backend::TrainBackend, 2, Int>::from_data(
                TensorData::new(vec![1i64, 2], [1, 2]),
                &dev,
            )
        };
        let logits = vec![0.5f32, -0.5, 1.0, 0.0, -1.0];
        let (lp, ent) = multi_categorical_log_prob_and_entropy(
            Tensor::from_data(TensorData::new(logits.clone(), [1, 5]), &dev),
            &[2, 3],
            actions(),
            None,
        );
        close(
            &lp.into_data().to_vec::<f32>().unwrap(),
            &[pa[1].ln() + pb[2].ln()],
            "log p",
        );
        close(
            &ent.into_data().to_vec::<f32>().unwrap(),
            &[h(&pa) + h(&pb)],
            "entropy",
        );
        let g = logit_grads(logits, [1, 5], |l| {
            multi_categorical_log_prob_and_entropy(l, &[2, 3], actions(), None).0
        });
        close(
            &g,
            &[-pa[0], 1.0 - pa[1], -pb[0], -pb[1], 1.0 - pb[2]],
            "gradient",
        );
    }

    /// Two flags, logits (0.3, -1.2), actions (1, 0): log p = ln s(0.3) + ln(1 -
    /// s(-1.2)), H = sum of the Bernoullis' entropies, d log p / d l = a - s(l),
    /// dH / d l = -l s(l) (1 - s(l)); and huge logits stay finite.
    #[test]
    fn bernoullis_by_hand() {
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let l = [0.3f64, -1.2];
        let a = [1.0f64, 0.0];
        let want_lp = sig(l[0]).ln() + (1.0 - sig(l[1])).ln();
        let hb = |x: f64| -(sig(x) * sig(x).ln() + (1.0 - sig(x)) * (1.0 - sig(x)).ln());
        let dev = device();
        let actions = || {
            Tensor::<crate::backend::TrainBackend, 2, Int>::from_data(
                TensorData::new(vec![1i64, 0], [1, 2]),
                &dev,
            )
        };
        let logits = vec![0.3f32, -1.2];
        let (lp, ent) = bernoulli_log_prob_and_entropy(
            Tensor::from_data(TensorData::new(logits.clone(), [1, 2]), &dev),
            actions(),
        );
        close(
            &lp.into_data().to_vec::<f32>().unwrap(),
            &[want_lp],
            "log p",
        );
        close(
            &ent.into_data().to_vec::<f32>().unwrap(),
            &[hb(l[0]) + hb(l[1])],
            "entropy",
        );
        let g = logit_grads(logits.clone(), [1, 2], |t| {
            bernoulli_log_prob_and_entropy(t, actions()).0
        });
        close(
            &g,
            &[a[0] - sig(l[0]), a[1] - sig(l[1])],
            "d log p / d logits",
        );
        let g = logit_grads(logits, [1, 2], |t| {
            bernoulli_log_prob_and_entropy(t, actions()).1
        });
        let dh = |x: f64| -x * sig(x) * (1.0 - sig(x));
        close(&g, &[dh(l[0]), dh(l[1])], "dH / d logits");
        let (lp, ent) = bernoulli_log_prob_and_entropy(
            Tensor::<crate::backend::TrainBackend, 2>::from_data(
                TensorData::new(vec![200.0f32, -200.0], [1, 2]),
                &dev,
            ),
            actions(),
        );
        let (lp, ent): (f32, f32) = (lp.into_scalar(), ent.into_scalar());
        assert!(
            lp.abs() < 1e-6 && ent.abs() < 1e-6 && lp.is_finite(),
            "{lp} {ent}"
        );
    }

    #[test]
    fn masked_sampling_never_draws_a_forbidden_action() {
        let mut r = rng::seeded(5);
        let mut out = [0usize; 3];
        let mut scratch = Vec::new();
        // The forbidden action has by far the largest logit.
        let logits = [0.0f32, 50.0, 0.0].repeat(3);
        let mask = [true, false, true, false, true, false, true, false, false];
        let mut seen = [0usize; 3];
        for _ in 0..2000 {
            sample_masked_categorical(&logits, 3, &mask, &mut r, false, &mut out, &mut scratch);
            assert!(out[0] != 1 && out[1] == 1 && out[2] == 0, "{out:?}");
            seen[out[0]] += 1;
        }
        assert!(seen[0] > 800 && seen[2] > 800, "{seen:?}");
        sample_masked_categorical(&logits, 3, &mask, &mut r, true, &mut out, &mut scratch);
        assert_eq!(out, [0, 1, 0], "greedy takes the best allowed action");
        // Per component, with a multi-discrete action.
        let mut out = [0usize; 2];
        let logits = [9.0f32, 0.0, 0.0, 9.0, 0.0];
        let mask = [false, true, true, false, true];
        for _ in 0..200 {
            sample_multi_categorical(
                &logits,
                &[2, 3],
                Some(&mask),
                &mut r,
                false,
                &mut out,
                &mut scratch,
            );
            assert!(out[0] == 1 && out[1] != 1, "{out:?}");
        }
        sample_multi_categorical(&logits, &[2, 3], None, &mut r, true, &mut out, &mut scratch);
        assert_eq!(out, [0, 1]);
    }

    #[test]
    fn bernoulli_sampling_follows_the_sigmoid() {
        let mut r = rng::seeded(6);
        let n = 20_000;
        let mut ones = [0usize; 2];
        let mut out = [0usize; 2];
        for _ in 0..n {
            sample_bernoulli(&[0.0, (3.0f32).ln()], &mut r, false, &mut out);
            ones[0] += out[0];
            ones[1] += out[1];
        }
        // p = 0.5 and 0.75, within 4 standard deviations.
        for (k, p) in [(0, 0.5f64), (1, 0.75)] {
            let f = ones[k] as f64 / n as f64;
            assert!(
                (f - p).abs() < 4.0 * (p * (1.0 - p) / n as f64).sqrt(),
                "{ones:?}"
            );
        }
        sample_bernoulli(&[0.1, -0.1], &mut r, true, &mut out);
        assert_eq!(out, [1, 0]);
    }
}
