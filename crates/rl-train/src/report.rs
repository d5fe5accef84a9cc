//! What training reports: each finished episode and each update's losses and
//! diagnostics, and the device-side sums an update reads back once.

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use rl_models::read_f32;

/// One finished episode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpisodeRecord {
    /// 1-based, over the whole run.
    pub episode: u64,
    /// Environment steps taken by the run when it ended.
    pub env_steps: u64,
    /// The undiscounted return.
    pub episodic_return: f64,
    /// The number of steps.
    pub episodic_length: usize,
}

/// What one update reports. The loss terms and diagnostics are means over the update's
/// gradient steps (one for REINFORCE, the baseline and A2C).
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateReport {
    /// 1-based.
    pub update: u64,
    /// The episodes that finished in this update's rollout, in order.
    pub episodes: Vec<EpisodeRecord>,
    /// Environment steps of the run so far.
    pub env_steps: u64,
    /// The learning rate of this update's steps.
    pub learning_rate: f64,
    /// The policy term of the loss.
    pub policy_loss: f32,
    /// The value term (0 without a value head).
    pub value_loss: f32,
    /// Mean policy entropy over the batch.
    pub entropy: f32,
    /// Global gradient norm before clipping (computed only when clipping is on).
    pub grad_norm: Option<f32>,
    /// `mean((r - 1) - log r)` of the probability ratio (with the clipped surrogate).
    pub approx_kl: Option<f32>,
    /// `mean(-log r)` (with the clipped surrogate).
    pub old_approx_kl: Option<f32>,
    /// The fraction of rows whose ratio was clipped (with the clipped surrogate).
    pub clipfrac: Option<f32>,
    /// `1 - Var(R - V_old) / Var(R)` over the rollout (with a value head; NaN when the
    /// returns do not vary).
    pub explained_variance: Option<f64>,
    /// Epochs run over the rollout (fewer than configured when `target_kl` stopped them).
    pub epochs: usize,
    /// Environment steps per second since the start of the run, updates included.
    pub sps: f64,
    /// Seconds since the start of the run.
    pub wall_time: f64,
}

/// The update's loss terms and diagnostics, summed over its gradient steps on the
/// device and read back once.
pub(crate) struct Stats<B: Backend> {
    /// `[policy, value, entropy, (grad norm), (approx_kl, old_approx_kl, clipfrac)]`.
    sums: Option<Tensor<B, 1>>,
    steps: usize,
    grad_norm: bool,
    diagnostics: bool,
}

/// [`Stats`] read back: means over the steps.
pub(crate) struct Means {
    pub(crate) policy_loss: f32,
    pub(crate) value_loss: f32,
    pub(crate) entropy: f32,
    pub(crate) grad_norm: Option<f32>,
    pub(crate) approx_kl: Option<f32>,
    pub(crate) old_approx_kl: Option<f32>,
    pub(crate) clipfrac: Option<f32>,
}

impl Means {
    pub(crate) fn finite(&self) -> bool {
        [self.policy_loss, self.value_loss, self.entropy]
            .into_iter()
            .chain(self.grad_norm)
            .all(f32::is_finite)
    }
}

impl<B: Backend> Default for Stats<B> {
    fn default() -> Self {
        Self {
            sums: None,
            steps: 0,
            grad_norm: false,
            diagnostics: false,
        }
    }
}

impl<B: Backend> Stats<B> {
    pub(crate) fn add<A: AutodiffBackend<InnerBackend = B>>(
        &mut self,
        l: &crate::loss::Loss<A>,
        grad_norm: Option<Tensor<B, 1>>,
    ) {
        let mut row = vec![
            l.policy_loss.clone().inner(),
            l.value_loss.clone().inner(),
            l.entropy.clone().inner(),
        ];
        self.grad_norm = grad_norm.is_some();
        row.extend(grad_norm);
        if let Some(d) = &l.diagnostics {
            self.diagnostics = true;
            row.extend([
                d.approx_kl.clone().inner(),
                d.old_approx_kl.clone().inner(),
                d.clipfrac.clone().inner(),
            ]);
        }
        let row = Tensor::cat(row, 0);
        self.sums = Some(match self.sums.take() {
            Some(s) => s + row,
            None => row,
        });
        self.steps += 1;
    }

    pub(crate) fn read(self) -> Means {
        let sums = self.sums.map(read_f32).unwrap_or_default();
        let k = self.steps.max(1) as f64;
        let mut it = sums.into_iter().map(|s| (f64::from(s) / k) as f32);
        let mut next = || it.next().unwrap_or(f32::NAN);
        let (policy_loss, value_loss, entropy) = (next(), next(), next());
        let grad_norm = self.grad_norm.then(&mut next);
        let (approx_kl, old_approx_kl, clipfrac) = if self.diagnostics {
            (Some(next()), Some(next()), Some(next()))
        } else {
            (None, None, None)
        };
        Means {
            policy_loss,
            value_loss,
            entropy,
            grad_norm,
            approx_kl,
            old_approx_kl,
            clipfrac,
        }
    }
}
