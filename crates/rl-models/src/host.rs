//! The policy network on the host, for acting.
//!
//! A rollout runs the policy once per environment step on a handful of observations,
//! where a Burn call costs microseconds of dispatch each (about 7 us for the lesson's
//! network at batch 1 on ndarray, far more on wgpu). [`HostPolicy`] copies the trunk and
//! policy head once per update (one read-back per parameter tensor) and runs the same
//! arithmetic in plain f32 loops. It computes what
//! [`ActorCritic::policy_forward`](crate::ActorCritic::policy_forward) computes, up to
//! float rounding (a test holds them within 1e-5).

use burn::prelude::*;

use crate::read_f32;

use crate::activation::Activation;
use crate::actor_critic::{ActorCritic, PolicyHead};

/// A dense layer `y = x W + b`. Wide layers keep Burn's `[in, out]` layout and
/// accumulate `x_i * W[i, :]` into `y` (contiguous, vectorises); narrow ones (a policy
/// head of two logits, say) are transposed to `[out, in]` and take dot products with
/// eight partial sums, which vectorise too.
#[derive(Debug, Clone)]
struct HostLinear {
    w: Vec<f32>,
    b: Vec<f32>,
    d_in: usize,
    d_out: usize,
    transposed: bool,
}

const LANES: usize = 8;

impl HostLinear {
    fn read<B: Backend>(l: &burn::nn::Linear<B>) -> Self {
        let [d_in, d_out] = l.weight.dims();
        let b = l
            .bias
            .as_ref()
            .map_or_else(|| vec![0.0; d_out], |b| read_f32(b.val()));
        let transposed = d_out < LANES;
        let w = if transposed {
            read_f32(l.weight.val().transpose())
        } else {
            read_f32(l.weight.val())
        };
        Self {
            w,
            b,
            d_in,
            d_out,
            transposed,
        }
    }

    #[inline]
    fn forward(&self, x: &[f32], y: &mut Vec<f32>) {
        y.clear();
        y.extend_from_slice(&self.b);
        if self.transposed {
            for (yo, row) in y.iter_mut().zip(self.w.chunks_exact(self.d_in)) {
                *yo += dot(row, x);
            }
        } else {
            for (&xi, row) in x.iter().zip(self.w.chunks_exact(self.d_out)) {
                let mut yc = y.chunks_exact_mut(LANES);
                let mut wc = row.chunks_exact(LANES);
                for (ys, ws) in (&mut yc).zip(&mut wc) {
                    for k in 0..LANES {
                        ys[k] += xi * ws[k];
                    }
                }
                for (yo, wo) in yc.into_remainder().iter_mut().zip(wc.remainder()) {
                    *yo += xi * wo;
                }
            }
        }
    }
}

/// A dot product with eight partial sums.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
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

/// The trunk and policy head of an [`ActorCritic`], as plain f32 arrays.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    trunk: Vec<HostLinear>,
    head: HostLinear,
    activation: Activation,
    log_std: Option<Vec<f32>>,
    a: Vec<f32>,
    b: Vec<f32>,
}

impl HostPolicy {
    /// Copies the trunk and policy head of `model`.
    pub fn new<B: Backend>(model: &ActorCritic<B>) -> Self {
        let (head, log_std) = match &model.policy {
            PolicyHead::Categorical(h) => (HostLinear::read(&h.linear), None),
            PolicyHead::Gaussian(h) => (HostLinear::read(&h.mean), Some(read_f32(h.log_std.val()))),
        };
        Self {
            trunk: model.trunk.layers.iter().map(HostLinear::read).collect(),
            head,
            activation: model.trunk.activation(),
            log_std,
            a: Vec::new(),
            b: Vec::new(),
        }
    }

    /// The output width: logits or means per row.
    pub fn width(&self) -> usize {
        self.head.d_out
    }

    /// The Gaussian head's log-std, if it is one.
    pub fn log_std(&self) -> Option<&[f32]> {
        self.log_std.as_deref()
    }

    /// Logits (categorical) or means (Gaussian) for every row of `obs`
    /// (`rows * obs_dim` values), written to `out` (`rows * width`).
    pub fn forward(&mut self, obs: &[f32], obs_dim: usize, out: &mut Vec<f32>) {
        out.clear();
        let (mut a, mut b) = (std::mem::take(&mut self.a), std::mem::take(&mut self.b));
        for x in obs.chunks_exact(obs_dim) {
            a.clear();
            a.extend_from_slice(x);
            for layer in &self.trunk {
                layer.forward(&a, &mut b);
                match self.activation {
                    Activation::Tanh => b.iter_mut().for_each(|v| *v = tanh(*v)),
                    Activation::Relu => b.iter_mut().for_each(|v| *v = v.max(0.0)),
                }
                std::mem::swap(&mut a, &mut b);
            }
            self.head.forward(&a, &mut b);
            out.extend_from_slice(&b);
        }
        (self.a, self.b) = (a, b);
    }
}

/// The same exp-based tanh as [`crate::fast_tanh`].
#[inline]
fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / ((2.0 * x.clamp(-15.0, 15.0)).exp() + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend as B, device};
    use crate::{ActionHead, ActorCriticConfig};

    #[test]
    fn host_forward_matches_the_backend() {
        let dev = device();
        for (action, act) in [
            (ActionHead::Categorical { n_actions: 3 }, Activation::Tanh),
            (ActionHead::Gaussian { action_dim: 2 }, Activation::Relu),
        ] {
            let cfg = ActorCriticConfig::new(5, action)
                .with_activation(act)
                .with_hidden(vec![64, 32]);
            let model = cfg.init_seeded::<B>(&mut rl_core::rng::seeded(5), &dev);
            let obs =
                Tensor::<B, 2>::random([7, 5], burn::tensor::Distribution::Normal(0.0, 2.0), &dev);
            let want = read_f32(model.policy_forward(obs.clone()));
            let mut host = HostPolicy::new(&model);
            let mut got = Vec::new();
            host.forward(&read_f32(obs), 5, &mut got);
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{g} vs {w}");
            }
        }
    }
}
