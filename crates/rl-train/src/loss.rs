//! The policy-gradient loss: one function, parameterised by the [`Objective`].
//!
//! `loss = policy_loss + vf_coef * value_loss - ent_coef * entropy`, where
//!
//! - the policy term is the **vanilla** `-mean(log pi(a_t|s_t) * A_t)` (REINFORCE, the
//!   baseline, A2C; negated because optimisers minimise) or PPO's **clipped surrogate**
//!   `mean(max(-A_t r_t, -A_t clamp(r_t, 1 - c, 1 + c)))` with
//!   `r_t = exp(log pi(a_t|s_t) - log pi_old(a_t|s_t))` (CleanRL's `ppo.py`);
//! - the value term is `mean((V(s_t) - R_t)^2)` (the lesson, and Stable-Baselines3's A2C,
//!   `F.mse_loss`) or CleanRL's `0.5 mean(...)`, optionally of the pessimistic maximum with
//!   the clipped value `V_old + clamp(V - V_old, -c, c)`;
//! - `entropy` is the batch mean of the policy's entropy.
//!
//! The advantages, value targets and old statistics arrive as constants (host numbers
//! from rl-core's estimator and an inference forward), so nothing inside them is
//! differentiated: the value inside the advantage is detached by construction.

use burn::prelude::*;
use rl_models::{Evaluation, read_f32};

/// The policy term.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PolicyObjective {
    /// `-mean(log pi * A)`.
    Vanilla,
    /// PPO's clipped surrogate, with the ratio clipped to `[1 - clip_coef, 1 + clip_coef]`.
    Clipped {
        /// The surrogate clipping coefficient.
        clip_coef: f32,
    },
}

/// The value term.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueObjective {
    /// `mean((V - R)^2)`.
    Mse,
    /// `0.5 mean((V - R)^2)`; with `clip`, `0.5 mean(max((V - R)^2, (V_clip - R)^2))`,
    /// `V_clip = V_old + clamp(V - V_old, -clip, clip)`.
    HalfMse {
        /// The value clipping coefficient, if the value loss is clipped.
        clip: Option<f32>,
    },
}

/// What a learner minimises, apart from the coefficients.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Objective {
    /// The policy term.
    pub policy: PolicyObjective,
    /// The value term.
    pub value: ValueObjective,
}

impl Objective {
    /// The lesson's and A2C's: vanilla policy gradient, mean squared value error.
    pub const VANILLA: Objective = Objective {
        policy: PolicyObjective::Vanilla,
        value: ValueObjective::Mse,
    };

    /// Whether the loss reads the rollout's old log-probabilities.
    pub fn needs_old_log_probs(self) -> bool {
        matches!(self.policy, PolicyObjective::Clipped { .. })
    }

    /// Whether the loss reads the rollout's old values.
    pub fn needs_old_values(self) -> bool {
        matches!(self.value, ValueObjective::HalfMse { clip: Some(_) })
    }
}

/// The coefficients of the loss terms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossCoefs {
    /// Weight of the value loss.
    pub vf_coef: f32,
    /// Weight of the entropy bonus.
    pub ent_coef: f32,
}

/// The constants of a batch, `[batch]` each.
#[derive(Debug, Clone)]
pub struct Targets<B: Backend> {
    /// The advantages, as the policy term uses them (already normalised if the learner
    /// normalises).
    pub advantages: Tensor<B, 1>,
    /// The value targets.
    pub returns: Tensor<B, 1>,
    /// `log pi_old(a_t|s_t)`: required by the clipped surrogate.
    pub old_log_probs: Option<Tensor<B, 1>>,
    /// `V_old(s_t)`: required by the clipped value loss.
    pub old_values: Option<Tensor<B, 1>>,
}

/// The loss and its terms (`[1]` tensors).
#[derive(Debug, Clone)]
pub struct Loss<B: Backend> {
    /// The total, to call `backward` on.
    pub total: Tensor<B, 1>,
    /// The policy term.
    pub policy_loss: Tensor<B, 1>,
    /// The value term (zero without a value head).
    pub value_loss: Tensor<B, 1>,
    /// The mean entropy of the policy over the batch.
    pub entropy: Tensor<B, 1>,
    /// PPO's diagnostics, with the clipped surrogate.
    pub diagnostics: Option<Diagnostics<B>>,
    /// The clipped surrogate's per-row terms ([`composed`] only).
    pub surrogate: Option<SurrogateRows<B>>,
    /// The value term's per-row terms ([`composed`] only).
    pub value_rows: Option<ValueRows<B>>,
}

/// The clipped surrogate row by row, `[batch]` each.
#[derive(Debug, Clone)]
pub struct SurrogateRows<B: Backend> {
    /// `log pi - log pi_old`.
    pub log_ratio: Tensor<B, 1>,
    /// `exp(log_ratio)`.
    pub ratio: Tensor<B, 1>,
    /// `max(-A r, -A clamp(r, 1 - c, 1 + c))`, whose mean is the policy term.
    pub terms: Tensor<B, 1>,
}

/// The value term row by row, `[batch]` each.
#[derive(Debug, Clone)]
pub struct ValueRows<B: Backend> {
    /// `V_old + clamp(V - V_old, -c, c)`, with a clipped value loss.
    pub v_clipped: Option<Tensor<B, 1>>,
    /// The squared error (the larger of the two with clipping) whose mean, halved or
    /// not, is the value term.
    pub terms: Tensor<B, 1>,
}

/// What CleanRL logs about the probability ratio, computed on detached tensors (no
/// gradient, no autodiff node), `[1]` each.
#[derive(Debug, Clone)]
pub struct Diagnostics<B: Backend> {
    /// `mean((r - 1) - log r)`, the low-variance estimator of KL(old, new).
    pub approx_kl: Tensor<B, 1>,
    /// `mean(-log r)`.
    pub old_approx_kl: Tensor<B, 1>,
    /// The fraction of rows with `|r - 1| > clip_coef`.
    pub clipfrac: Tensor<B, 1>,
}

/// The loss of a batch, from the network's [`Evaluation`] of it (with its autodiff
/// graph) and the batch's constants.
///
/// With the clipped surrogate on ndarray, the whole loss is one autodiff node computed on
/// the host ([`ClippedHost`]: the same formula, its gradient written out), instead of
/// three dozen element-wise operations; it reports no per-row terms. Elsewhere, and for
/// the vanilla objective (whose bits the lesson's learners pin), it is [`composed`].
///
/// # Panics
/// If the objective needs old log-probabilities or values that `targets` lacks (a
/// programming error of the caller).
pub fn loss<B: Backend>(
    eval: Evaluation<B>,
    targets: Targets<B>,
    objective: Objective,
    coefs: LossCoefs,
) -> Loss<B> {
    let PolicyObjective::Clipped { clip_coef } = objective.policy else {
        return composed(eval, targets, objective, coefs);
    };
    if !rl_models::host_fusable::<B>() {
        return composed(eval, targets, objective, coefs);
    }
    let device = eval.log_prob.device();
    let has_value = eval.value.is_some();
    let value = eval
        .value
        .clone()
        .unwrap_or_else(|| Tensor::zeros([1], &device));
    let read = |t: &Option<Tensor<B, 1>>| t.clone().map(read_f32).unwrap_or_default();
    let f = ClippedHost {
        clip: clip_coef,
        value: objective.value,
        coefs,
        has_value,
        advantages: read_f32(targets.advantages.clone()),
        returns: read_f32(targets.returns.clone()),
        old_log_probs: read(&targets.old_log_probs),
        old_values: read(&targets.old_values),
    };
    match rl_models::host_scalar(
        [eval.log_prob.clone(), eval.entropy.clone(), value],
        std::sync::Arc::new(f),
    ) {
        Ok((total, stats)) => {
            let scalar = |v: f32| Tensor::<B, 1>::from_floats([v], &device);
            Loss {
                total,
                policy_loss: scalar(stats[0]),
                value_loss: scalar(stats[1]),
                entropy: scalar(stats[2]),
                diagnostics: Some(Diagnostics {
                    approx_kl: scalar(stats[3]),
                    old_approx_kl: scalar(stats[4]),
                    clipfrac: scalar(stats[5]),
                }),
                surrogate: None,
                value_rows: None,
            }
        }
        Err(_) => composed(eval, targets, objective, coefs),
    }
}

/// PPO's loss as one host function of `[log pi, entropy, V]` per row: the formula of
/// [`composed`] with the surrogate clipped, accumulated in f64, and its gradient.
#[derive(Debug)]
struct ClippedHost {
    clip: f32,
    value: ValueObjective,
    coefs: LossCoefs,
    has_value: bool,
    advantages: Vec<f32>,
    returns: Vec<f32>,
    old_log_probs: Vec<f32>,
    old_values: Vec<f32>,
}

impl ClippedHost {
    /// Row `i`'s policy term `max(u, c)` and whether the unclipped `u` is the larger,
    /// with the ratio.
    fn policy_row(&self, log_prob: f32, i: usize) -> (f32, bool, f32, f32) {
        let log_ratio = log_prob - self.old_log_probs[i];
        let ratio = log_ratio.exp();
        let a = self.advantages[i];
        let unclipped = -a * ratio;
        let clipped = -a * ratio.clamp(1.0 - self.clip, 1.0 + self.clip);
        (
            unclipped.max(clipped),
            unclipped >= clipped,
            ratio,
            log_ratio,
        )
    }

    /// Row `i`'s value term and its derivative with respect to `v`, before the mean.
    fn value_row(&self, v: f32, i: usize) -> (f64, f64) {
        let r = self.returns[i];
        let d = f64::from(v - r);
        match self.value {
            ValueObjective::Mse => (d * d, 2.0 * d),
            ValueObjective::HalfMse { clip: None } => (0.5 * d * d, d),
            ValueObjective::HalfMse { clip: Some(c) } => {
                let old = self.old_values[i];
                let change = v - old;
                let v_clipped = old + change.clamp(-c, c);
                let dc = f64::from(v_clipped - r);
                if d * d >= dc * dc {
                    (0.5 * d * d, d)
                } else {
                    let inside = change > -c && change < c;
                    (0.5 * dc * dc, if inside { dc } else { 0.0 })
                }
            }
        }
    }
}

impl rl_models::HostScalarFn<3> for ClippedHost {
    fn forward(&self, [log_prob, entropy, value]: [&[f32]; 3]) -> (f32, Vec<f32>) {
        let n = log_prob.len() as f64;
        let (mut pg, mut kl, mut old_kl, mut clipped) = (0.0_f64, 0.0_f64, 0.0_f64, 0.0_f64);
        for (i, &lp) in log_prob.iter().enumerate() {
            let (term, _, ratio, log_ratio) = self.policy_row(lp, i);
            pg += f64::from(term);
            kl += f64::from((ratio - 1.0) - log_ratio);
            old_kl += f64::from(-log_ratio);
            if (ratio - 1.0).abs() > self.clip {
                clipped += 1.0;
            }
        }
        let v_loss = if self.has_value {
            value
                .iter()
                .enumerate()
                .map(|(i, &v)| self.value_row(v, i).0)
                .sum::<f64>()
                / n
        } else {
            0.0
        };
        let ent = entropy.iter().map(|&h| f64::from(h)).sum::<f64>() / entropy.len() as f64;
        let pg = pg / n;
        let total =
            pg + f64::from(self.coefs.vf_coef) * v_loss - f64::from(self.coefs.ent_coef) * ent;
        let stats = [pg, v_loss, ent, kl / n, old_kl / n, clipped / n];
        (total as f32, stats.map(|s| s as f32).to_vec())
    }

    fn backward(&self, [log_prob, entropy, value]: [&[f32]; 3], g: f32) -> [Vec<f32>; 3] {
        let g = f64::from(g);
        let n = log_prob.len() as f64;
        let d_log_prob = log_prob
            .iter()
            .enumerate()
            .map(|(i, &lp)| {
                // The clipped term is constant where it wins (outside the range).
                let (_, unclipped_wins, ratio, _) = self.policy_row(lp, i);
                let d = if unclipped_wins {
                    -f64::from(self.advantages[i]) * f64::from(ratio)
                } else {
                    0.0
                };
                (g * d / n) as f32
            })
            .collect();
        let d_entropy = vec![
            (-g * f64::from(self.coefs.ent_coef) / entropy.len() as f64) as f32;
            entropy.len()
        ];
        let d_value = if self.has_value {
            let vf = f64::from(self.coefs.vf_coef);
            value
                .iter()
                .enumerate()
                .map(|(i, &v)| (g * vf * self.value_row(v, i).1 / n) as f32)
                .collect()
        } else {
            vec![0.0; value.len()]
        };
        [d_log_prob, d_entropy, d_value]
    }
}

/// The loss from Burn's tensor operations, per-row terms included: every backend's, and
/// the reference of the fused form.
pub fn composed<B: Backend>(
    eval: Evaluation<B>,
    targets: Targets<B>,
    objective: Objective,
    coefs: LossCoefs,
) -> Loss<B> {
    let Evaluation {
        log_prob,
        entropy,
        value,
    } = eval;
    let Targets {
        advantages,
        returns,
        old_log_probs,
        old_values,
    } = targets;
    let (policy_loss, diagnostics, surrogate) = match objective.policy {
        PolicyObjective::Vanilla => ((log_prob * advantages).mean().neg(), None, None),
        PolicyObjective::Clipped { clip_coef } => {
            let old = old_log_probs.expect("the clipped surrogate needs old log-probabilities");
            let log_ratio = log_prob - old;
            let ratio = log_ratio.clone().exp();
            let unclipped = advantages.clone().neg() * ratio.clone();
            let clipped = advantages.neg() * ratio.clone().clamp(1.0 - clip_coef, 1.0 + clip_coef);
            let terms = unclipped.max_pair(clipped);
            let policy_loss = terms.clone().mean();
            let (lr, r) = (log_ratio.clone().detach(), ratio.clone().detach());
            let diagnostics = Diagnostics {
                approx_kl: (r.clone().sub_scalar(1.0) - lr.clone()).mean(),
                old_approx_kl: lr.neg().mean(),
                clipfrac: r
                    .sub_scalar(1.0)
                    .abs()
                    .greater_elem(clip_coef)
                    .float()
                    .mean(),
            };
            let rows = SurrogateRows {
                log_ratio,
                ratio,
                terms,
            };
            (policy_loss, Some(diagnostics), Some(rows))
        }
    };
    let entropy = entropy.mean();
    let (value_loss, value_rows) = match (value, objective.value) {
        (None, _) => (Tensor::zeros([1], &policy_loss.device()), None),
        (Some(v), ValueObjective::Mse) => {
            let terms = (v - returns).powi_scalar(2);
            (terms.clone().mean(), Some((None, terms)))
        }
        (Some(v), ValueObjective::HalfMse { clip: None }) => {
            let terms = (v - returns).powi_scalar(2);
            (terms.clone().mean().mul_scalar(0.5), Some((None, terms)))
        }
        (Some(v), ValueObjective::HalfMse { clip: Some(c) }) => {
            let old = old_values.expect("the clipped value loss needs old values");
            let unclipped = (v.clone() - returns.clone()).powi_scalar(2);
            let v_clipped = old.clone() + (v - old).clamp(-c, c);
            let clipped = (v_clipped.clone() - returns).powi_scalar(2);
            let terms = unclipped.max_pair(clipped);
            (
                terms.clone().mean().mul_scalar(0.5),
                Some((Some(v_clipped), terms)),
            )
        }
    };
    let value_rows = value_rows.map(|(v_clipped, terms)| ValueRows { v_clipped, terms });
    let total = policy_loss.clone() + value_loss.clone().mul_scalar(coefs.vf_coef)
        - entropy.clone().mul_scalar(coefs.ent_coef);
    Loss {
        total,
        policy_loss,
        value_loss,
        entropy,
        diagnostics,
        surrogate,
        value_rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rl_models::backend::{TrainBackend as B, device};

    fn leaf(v: Vec<f32>) -> Tensor<B, 1> {
        let n = v.len();
        Tensor::<B, 1>::from_data(TensorData::new(v, [n]), &device()).require_grad()
    }

    fn constant(v: Vec<f32>) -> Tensor<B, 1> {
        let n = v.len();
        Tensor::<B, 1>::from_data(TensorData::new(v, [n]), &device())
    }

    /// Values spread around `centre`, the same on every run.
    fn spread(n: usize, centre: f32, scale: f32, k: f32) -> Vec<f32> {
        (0..n)
            .map(|i| centre + scale * ((i as f32 + k) * 0.731).sin())
            .collect()
    }

    /// The loss's terms and the gradients of its total with respect to log pi, the
    /// entropy and the value.
    fn run(
        fused: bool,
        objective: Objective,
        entropy_len: usize,
        with_value: bool,
    ) -> (Vec<f32>, Vec<Vec<f32>>, bool) {
        let n = 37;
        let (lp, h) = (
            leaf(spread(n, -0.7, 0.4, 0.0)),
            leaf(spread(entropy_len, 0.6, 0.1, 1.0)),
        );
        let v = leaf(spread(n, 1.0, 2.0, 2.0));
        let eval = Evaluation {
            log_prob: lp.clone(),
            entropy: h.clone(),
            value: with_value.then(|| v.clone()),
        };
        let targets = Targets {
            advantages: constant(spread(n, 0.1, 1.5, 3.0)),
            returns: constant(spread(n, 1.0, 2.5, 4.0)),
            // Old log-probabilities 0.3 around the new: ratios on both sides of the clip.
            old_log_probs: Some(constant(spread(n, -0.7, 0.7, 5.0))),
            old_values: Some(constant(spread(n, 1.0, 2.2, 6.0))),
        };
        let coefs = LossCoefs {
            vf_coef: 0.5,
            ent_coef: 0.01,
        };
        let l = if fused {
            loss(eval, targets, objective, coefs)
        } else {
            composed(eval, targets, objective, coefs)
        };
        let d = l.diagnostics.clone().expect("diagnostics");
        let terms = [
            l.total.clone(),
            l.policy_loss.clone(),
            l.value_loss.clone(),
            l.entropy.clone(),
            d.approx_kl,
            d.old_approx_kl,
            d.clipfrac,
        ]
        .map(|t| read_f32(t.inner())[0])
        .to_vec();
        let g = l.total.backward();
        let grads = [&lp, &h, &v]
            .map(|t| t.grad(&g).map(read_f32).unwrap_or_default())
            .to_vec();
        (terms, grads, l.surrogate.is_none())
    }

    #[test]
    fn the_fused_ppo_loss_is_the_composed_one_forward_and_backward() {
        let clip = PolicyObjective::Clipped { clip_coef: 0.2 };
        for value in [
            ValueObjective::HalfMse { clip: Some(0.2) },
            ValueObjective::HalfMse { clip: None },
            ValueObjective::Mse,
        ] {
            let objective = Objective {
                policy: clip,
                value,
            };
            // Categorical (an entropy per row) and Gaussian (one), with and without a value.
            for (entropy_len, with_value) in [(37, true), (1, true), (37, false)] {
                let (ft, fg, took_fused) = run(true, objective, entropy_len, with_value);
                let (ct, cg, _) = run(false, objective, entropy_len, with_value);
                // ndarray takes the host node; every other backend the composed form.
                assert_eq!(
                    took_fused,
                    cfg!(feature = "ndarray"),
                    "the host node on ndarray only"
                );
                for (f, c) in ft.iter().zip(&ct) {
                    assert!(
                        (f - c).abs() <= 1e-6 + 1e-5 * c.abs(),
                        "{value:?}: {ft:?} vs {ct:?}"
                    );
                }
                for (f, c) in fg.iter().zip(&cg) {
                    assert_eq!(f.len(), c.len());
                    for (a, b) in f.iter().zip(c) {
                        assert!(
                            (a - b).abs() <= 1e-7 + 1e-5 * b.abs(),
                            "{value:?}: {f:?} vs {c:?}"
                        );
                    }
                }
            }
        }
    }
}
