//! The policy network on the host, for acting.
//!
//! A rollout runs the policy once per environment step on a handful of observations,
//! where a Burn call costs microseconds of dispatch each (about 7 us for the lesson's
//! network at batch 1 on ndarray, far more on wgpu). [`HostPolicy`] copies the trunk and
//! policy head once per update (one read-back per parameter tensor) and runs the same
//! arithmetic on the host: a batch of [`GEMM_MIN_ROWS`] observations or more (one row per
//! vectorised environment) as one matrix product per layer, fewer (the lesson's single
//! environment) row by row, which skips the product's packing cost. It computes what
//! [`ActorCritic::policy_forward`](crate::ActorCritic::policy_forward) computes, up to
//! float rounding (a test holds them within 1e-5).

use burn::prelude::*;
use ndarray::ArrayView2;

use crate::read_f32;

use crate::activation::Activation;
use crate::actor_critic::{ActorCritic, PolicyHead};
use crate::kernels;

/// Batches of at least this many rows go through a matrix product per layer.
///
/// The product (matrixmultiply, behind ndarray) packs both operands on every call, which
/// at one row costs more than the row loop's arithmetic; from a few rows on, its
/// AVX2/FMA kernels win (3x at 64 rows). The two paths round differently, so the batch
/// size a configuration acts at fixes which one it uses, and a run is reproducible.
pub const GEMM_MIN_ROWS: usize = 8;

/// A dense layer `y = x W + b`. The matrix-product path reads `W` in Burn's `[in, out]`
/// layout. The row path keeps that layout for wide layers and accumulates `x_i * W[i, :]`
/// into `y` (contiguous, vectorises); narrow ones (a policy head of two logits, say) are
/// transposed to `[out, in]` and take dot products with eight partial sums, which
/// vectorise too.
#[derive(Debug, Clone)]
struct HostLinear {
    /// `[in, out]`.
    w: Vec<f32>,
    /// `[out, in]`, for narrow layers.
    w_t: Option<Vec<f32>>,
    b: Vec<f32>,
    d_in: usize,
    d_out: usize,
}

const LANES: usize = 8;

impl HostLinear {
    fn read<B: Backend>(l: &burn::nn::Linear<B>) -> Self {
        let [d_in, d_out] = l.weight.dims();
        let b = l
            .bias
            .as_ref()
            .map_or_else(|| vec![0.0; d_out], |b| read_f32(b.val()));
        let w = read_f32(l.weight.val());
        let w_t = (d_out < LANES).then(|| {
            let mut t = vec![0.0; w.len()];
            for (i, row) in w.chunks_exact(d_out).enumerate() {
                for (o, &v) in row.iter().enumerate() {
                    t[o * d_in + i] = v;
                }
            }
            t
        });
        Self {
            w,
            w_t,
            b,
            d_in,
            d_out,
        }
    }

    /// One row, at the CPU's widest SIMD width (the same bits at every width).
    fn forward(&self, x: &[f32], y: &mut Vec<f32>) {
        kernels::wide(
            #[inline(always)]
            || {
                y.clear();
                y.extend_from_slice(&self.b);
                if let Some(w_t) = &self.w_t {
                    for (yo, row) in y.iter_mut().zip(w_t.chunks_exact(self.d_in)) {
                        *yo += kernels::dot(row, x);
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
            },
        )
    }

    /// `rows` rows at once, as one matrix product ([`kernels::product_into`]).
    /// `act` follows in the same pass as the bias.
    fn forward_rows(&self, x: &[f32], rows: usize, act: kernels::Act, y: &mut Vec<f32>) {
        let x = ArrayView2::from_shape((rows, self.d_in), x).expect("rows * d_in inputs");
        let w = match &self.w_t {
            Some(w_t) => ArrayView2::from_shape((self.d_out, self.d_in), w_t)
                .expect("an [out, in] W^T")
                .reversed_axes(),
            None => {
                ArrayView2::from_shape((self.d_in, self.d_out), &self.w).expect("an [in, out] W")
            }
        };
        y.resize(rows * self.d_out, 0.0);
        kernels::product_into(x, w, y);
        kernels::bias_act_rows(y, &self.b, act);
    }
}

/// The trunk and policy head of an [`ActorCritic`], as plain f32 arrays.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    trunk: Vec<HostLinear>,
    head: HostLinear,
    activation: Activation,
    log_std: Option<Vec<f32>>,
    /// gSDE's log-std matrix (`[d, width]`, row-major), if the head is one.
    sde_log_std: Option<Vec<f32>>,
    /// With gSDE, the trunk's features of the last forward's rows (`rows * d`).
    features: Vec<f32>,
    a: Vec<f32>,
    b: Vec<f32>,
}

impl HostPolicy {
    /// Copies the trunk and policy head of `model`.
    pub fn new<B: Backend>(model: &ActorCritic<B>) -> Self {
        let (head, log_std, sde_log_std) = match &model.policy {
            PolicyHead::Categorical(h) => (HostLinear::read(&h.linear), None, None),
            PolicyHead::MultiCategorical(h) => (HostLinear::read(&h.linear), None, None),
            PolicyHead::Bernoulli(h) => (HostLinear::read(&h.linear), None, None),
            PolicyHead::Gaussian(h) => (
                HostLinear::read(&h.mean),
                Some(read_f32(h.log_std.val())),
                None,
            ),
            PolicyHead::Sde(h) => (
                HostLinear::read(&h.mean),
                None,
                Some(read_f32(h.log_std.val())),
            ),
        };
        Self {
            trunk: model.trunk.layers.iter().map(HostLinear::read).collect(),
            head,
            activation: model.trunk.activation(),
            log_std,
            sde_log_std,
            features: Vec::new(),
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

    /// gSDE's log-std matrix (`[d, width]`, row-major), if the head is one.
    pub fn sde_log_std(&self) -> Option<&[f32]> {
        self.sde_log_std.as_deref()
    }

    /// With a gSDE head, the trunk's features (`d` per row) of the last
    /// [`forward`](Self::forward)'s rows; empty otherwise.
    pub fn features(&self) -> &[f32] {
        &self.features
    }

    /// Logits (categorical) or means (Gaussian, gSDE) for every row of `obs`
    /// (`rows * obs_dim` values), written to `out` (`rows * width`).
    pub fn forward(&mut self, obs: &[f32], obs_dim: usize, out: &mut Vec<f32>) {
        out.clear();
        self.features.clear();
        let keep = self.sde_log_std.is_some();
        let rows = obs.len() / obs_dim;
        let (mut a, mut b) = (std::mem::take(&mut self.a), std::mem::take(&mut self.b));
        if rows >= GEMM_MIN_ROWS {
            a.clear();
            a.extend_from_slice(obs);
            for layer in &self.trunk {
                layer.forward_rows(&a, rows, self.activation.kernel(), &mut b);
                std::mem::swap(&mut a, &mut b);
            }
            if keep {
                self.features.extend_from_slice(&a);
            }
            self.head
                .forward_rows(&a, rows, kernels::Act::Identity, out);
        } else {
            for x in obs.chunks_exact(obs_dim) {
                a.clear();
                a.extend_from_slice(x);
                for layer in &self.trunk {
                    layer.forward(&a, &mut b);
                    activate(self.activation, &mut b);
                    std::mem::swap(&mut a, &mut b);
                }
                if keep {
                    self.features.extend_from_slice(&a);
                }
                self.head.forward(&a, &mut b);
                out.extend_from_slice(&b);
            }
        }
        (self.a, self.b) = (a, b);
    }
}

fn activate(activation: Activation, v: &mut [f32]) {
    match activation {
        Activation::Tanh => kernels::tanh_in_place(v),
        Activation::Relu => v.iter_mut().for_each(|v| *v = v.max(0.0)),
    }
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
            // Below and above GEMM_MIN_ROWS: the row loop and the matrix product.
            for rows in [GEMM_MIN_ROWS - 1, 64] {
                let obs = Tensor::<B, 2>::random(
                    [rows, 5],
                    burn::tensor::Distribution::Normal(0.0, 2.0),
                    &dev,
                );
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
}
