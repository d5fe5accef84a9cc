//! The policy-gradient loss, as the lesson's PyTorch program computes it.
//!
//! `loss = policy_loss + vf_coef * value_loss - ent_coef * entropy`, with
//! `policy_loss = -mean(log pi(a_t|s_t) * A_t)` (negated: optimisers minimise),
//! `value_loss = mean((V(s_t) - target_t)^2)` and `entropy` the batch mean. The
//! advantages arrive as plain host numbers from rl-core's estimator, so the value inside
//! the advantage is detached by construction: no gradient flows through it.

use burn::prelude::*;
use rl_models::{ActionBatch, PolicyHead};

/// The coefficients of the loss terms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossCoefs {
    /// Weight of the value loss.
    pub vf_coef: f32,
    /// Weight of the entropy bonus.
    pub ent_coef: f32,
}

/// The loss and its terms (scalar tensors, `[1]`).
#[derive(Debug, Clone)]
pub struct Loss<B: Backend> {
    /// The total, to call `backward` on.
    pub total: Tensor<B, 1>,
    /// `-mean(log_prob * advantage)`.
    pub policy_loss: Tensor<B, 1>,
    /// `mean((value - target)^2)`; zero without a value head.
    pub value_loss: Tensor<B, 1>,
    /// The mean entropy of the policy over the batch.
    pub entropy: Tensor<B, 1>,
}

/// The loss from the network's outputs on a batch: the policy head's output `out`, the
/// values (if the network has a value head), the actions taken, the advantages and the
/// value targets (`[batch]` each).
pub fn pg_loss<B: Backend>(
    policy: &PolicyHead<B>,
    out: Tensor<B, 2>,
    values: Option<Tensor<B, 1>>,
    actions: ActionBatch<B>,
    advantages: Tensor<B, 1>,
    targets: Tensor<B, 1>,
    coefs: LossCoefs,
) -> Loss<B> {
    let (log_probs, entropy) = policy.log_prob_and_entropy(out, actions);
    let policy_loss = (log_probs * advantages).mean().neg();
    let entropy = entropy.mean();
    let value_loss = match values {
        Some(v) => (v - targets).powi_scalar(2).mean(),
        None => Tensor::zeros([1], &policy_loss.device()),
    };
    let total = policy_loss.clone() + value_loss.clone().mul_scalar(coefs.vf_coef)
        - entropy.clone().mul_scalar(coefs.ent_coef);
    Loss {
        total,
        policy_loss,
        value_loss,
        entropy,
    }
}
