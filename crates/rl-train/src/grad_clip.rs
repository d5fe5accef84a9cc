//! Global gradient-norm clipping, as PyTorch's `clip_grad_norm_`.
//!
//! Burn's own `GradientClipping::Norm` clips each parameter tensor separately; the
//! PyTorch ecosystem (the lesson, CleanRL, Stable-Baselines3) clips the norm of all
//! gradients taken together. (PPO's other clip, of the probability ratio, lives in
//! [`crate::loss`].)

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

struct SquaredNorm<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    total: Option<Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SquaredNorm<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let s = g.powi_scalar(2).sum();
            self.total = Some(match self.total.take() {
                Some(t) => t + s,
                None => s,
            });
        }
    }
}

struct Scale<'a, B: AutodiffBackend> {
    grads: &'a mut GradientsParams,
    factor: Tensor<B::InnerBackend, 1>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Scale<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            let factor = self.factor.clone().unsqueeze::<D>();
            self.grads
                .register::<B::InnerBackend, D>(param.id, g.mul(factor));
        }
    }
}

/// Multiplies every gradient by `factor` in a host pass.
struct HostScale<'a> {
    grads: &'a mut GradientsParams,
    factor: f32,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for HostScale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            let factor = self.factor;
            let scaled = rl_models::host_update([g], |[v]| {
                for x in v.iter_mut() {
                    *x *= factor;
                }
            })
            .unwrap_or_else(|[g]| [g.mul_scalar(factor)]);
            let [g] = scaled;
            self.grads.register::<B::InnerBackend, D>(param.id, g);
        }
    }
}

/// The global L2 norm of the gradients, as a `[1]` tensor (no read-back).
fn global_norm_tensor<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &GradientsParams,
    device: &B::Device,
) -> Tensor<B::InnerBackend, 1> {
    let mut v = SquaredNorm::<B> { grads, total: None };
    model.visit(&mut v);
    v.total.unwrap_or_else(|| Tensor::zeros([1], device)).sqrt()
}

/// The global L2 norm of the gradients (one read-back).
pub fn global_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &GradientsParams,
    device: &B::Device,
) -> f32 {
    global_norm_tensor::<B, M>(model, grads, device)
        .into_scalar()
        .elem::<f32>()
}

/// The squared norms of the gradients summed on the host, in visiting order, as Burn's
/// tensor operations would (the same bits); `None` where the backend is not the host's.
struct HostSquaredNorm<'a> {
    grads: &'a GradientsParams,
    total: Option<f32>,
    host: bool,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for HostSquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            match rl_models::sum_squares(g) {
                Ok(s) => self.total = Some(self.total.map_or(s, |t| t + s)),
                Err(_) => self.host = false,
            }
        }
    }
}

/// Scales every gradient by `min(1, max_norm / (norm + 1e-6))`, exactly as
/// `torch.nn.utils.clip_grad_norm_`, without reading anything back from a device: a
/// learner can clip every minibatch and still read once per update. Returns the norm
/// before clipping, `[1]`. On ndarray the norm and the scaling are host passes over the
/// gradients, with the bits of the tensor form (a factor of 1 leaves every gradient as
/// it was, and is skipped).
pub fn clip_global_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &mut GradientsParams,
    max_norm: f32,
    device: &B::Device,
) -> Tensor<B::InnerBackend, 1> {
    if rl_models::host_updatable::<B::InnerBackend>() {
        let mut v = HostSquaredNorm {
            grads,
            total: None,
            host: true,
        };
        model.visit(&mut v);
        if v.host {
            let norm = v.total.unwrap_or(0.0).sqrt();
            let factor = max_norm / (norm + 1e-6);
            if factor < 1.0 || factor.is_nan() {
                model.visit(&mut HostScale { grads, factor });
            }
            return Tensor::from_floats([norm], device);
        }
    }
    let norm = global_norm_tensor::<B, M>(model, grads, device);
    let factor = Tensor::<B::InnerBackend, 1>::from_floats([max_norm], device)
        .div(norm.clone().add_scalar(1e-6))
        .clamp_max(1.0);
    model.visit(&mut Scale::<B> { grads, factor });
    norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use rl_models::backend::{TrainBackend as B, device};
    use rl_models::{ActionHead, ActorCriticConfig};

    /// The gradients of `sum(logits) * scale` for a small network.
    fn grads(scale: f32) -> (rl_models::ActorCritic<B>, GradientsParams) {
        let dev = device();
        let model = ActorCriticConfig::new(3, ActionHead::Categorical { n_actions: 2 })
            .with_hidden(vec![4])
            .init_seeded::<B>(&mut rl_core::rng::seeded(1), &dev);
        let obs = Tensor::<B, 2>::from_floats([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]], &dev);
        let (logits, value) = model.forward(obs);
        let loss = (logits.sum() + value.expect("a value head").sum()).mul_scalar(scale);
        let g = GradientsParams::from_grads(loss.backward(), &model);
        (model, g)
    }

    #[test]
    fn clipping_scales_to_max_norm_and_leaves_small_gradients_alone() {
        let dev = device();
        let (model, mut g) = grads(10.0);
        let before = global_norm::<B, _>(&model, &g, &dev);
        let norm = clip_global_norm::<B, _>(&model, &mut g, 0.5, &dev);
        assert_eq!(norm.into_scalar().elem::<f32>(), before);
        let after = global_norm::<B, _>(&model, &g, &dev);
        // max_norm / (norm + 1e-6) * norm, as PyTorch.
        let want = 0.5 * before / (before + 1e-6);
        assert!((after - want).abs() < 1e-5, "{after} vs {want}");

        let (model, mut g) = grads(1e-3);
        let before = flat(&model, &g);
        clip_global_norm::<B, _>(&model, &mut g, 1e3, &dev);
        assert_eq!(flat(&model, &g), before, "a factor of 1 changes no bit");
    }

    /// Every gradient's values, in visiting order.
    fn flat(model: &rl_models::ActorCritic<B>, g: &GradientsParams) -> Vec<u32> {
        struct Collect<'a>(&'a GradientsParams, Vec<u32>);
        impl ModuleVisitor<B> for Collect<'_> {
            fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<B, D>>) {
                if let Some(g) = self.0.get::<<B as AutodiffBackend>::InnerBackend, D>(p.id) {
                    self.1
                        .extend(rl_models::read_f32(g).into_iter().map(f32::to_bits));
                }
            }
        }
        let mut c = Collect(g, Vec::new());
        model.visit(&mut c);
        c.1
    }
}
