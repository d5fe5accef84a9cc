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
use rl_models::Evaluation;

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
    /// The clipped surrogate's per-row terms, with the clipped surrogate.
    pub surrogate: Option<SurrogateRows<B>>,
    /// The value term's per-row terms (with a value head).
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
/// # Panics
/// If the objective needs old log-probabilities or values that `targets` lacks (a
/// programming error of the caller).
pub fn loss<B: Backend>(
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
