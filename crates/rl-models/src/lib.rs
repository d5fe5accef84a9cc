//! rl-models: Burn modules generic over the backend, for policy-gradient learners.
//!
//! Each module is a Config/Module pair in Burn's style: [`MlpConfig`] / [`Mlp`] (the
//! trunk), [`CategoricalHeadConfig`] / [`CategoricalHead`], [`GaussianHeadConfig`] /
//! [`GaussianHead`] (or [`SdeHead`], gSDE's), [`ValueHeadConfig`] / [`ValueHead`], and the lesson's
//! [`ActorCriticConfig`] / [`ActorCritic`]. [`distributions`] holds log-probabilities,
//! entropies and host-side sampling. [`backend`] is the one place that names a concrete
//! backend, chosen by cargo feature. This crate knows nothing of environments or
//! training.
//!
//! ```
//! use burn::prelude::*;
//! use rl_models::backend::{Backend as B, device};
//! use rl_models::{ActionHead, ActorCriticConfig};
//!
//! let dev = device();
//! let cfg = ActorCriticConfig::new(4, ActionHead::Categorical { n_actions: 2 });
//! let model = cfg.init_seeded::<B>(&mut rl_core::rng::seeded(0), &dev);
//! let obs = Tensor::<B, 2>::zeros([3, 4], &dev);
//! let (logits, value) = model.forward(obs);
//! assert_eq!(logits.dims(), [3, 2]);
//! assert_eq!(value.unwrap().dims(), [3]);
//! ```
#![warn(missing_docs)]

mod activation;
mod actor_critic;
pub mod backend;
pub mod distributions;
mod fused;
mod heads;
pub mod host;
pub mod init;
pub mod kernels;
mod mlp;
pub mod record;
pub mod torch;

pub use activation::{Activation, fast_tanh};
pub use actor_critic::{
    ActionBatch, ActionHead, ActorCritic, ActorCriticConfig, Evaluation, PolicyHead, ValueNetwork,
};
pub use heads::{
    BernoulliHead, CategoricalHead, CategoricalHeadConfig, GaussianHead, GaussianHeadConfig,
    MultiCategoricalHead, SdeHead, ValueHead, ValueHeadConfig,
};
pub use init::{Init, Role};
pub use mlp::{Mlp, MlpConfig, dense};

use burn::prelude::{Backend, Tensor};

/// A whole tensor read back to the host as f32, in one read.
pub fn read_f32<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    #[cfg(feature = "ndarray")]
    let t = match fused::host::read_f32(t) {
        Ok(values) => return values,
        Err(t) => t,
    };
    t.into_data()
        .convert::<f32>()
        .to_vec()
        .expect("an f32 tensor converts to f32")
}

/// Whether [`host_update`] runs on the host for backend `B` (ndarray without autodiff).
pub fn host_updatable<B: Backend>() -> bool {
    #[cfg(feature = "ndarray")]
    return fused::is_inner::<B>();
    #[cfg(not(feature = "ndarray"))]
    false
}

/// Hands `f` the values of same-shaped f32 tensors as vectors to update in place, in one
/// host pass, and returns the tensors made of them: an element-wise operation over
/// several tensors (an optimiser's step, say) as one loop instead of a dozen allocating
/// tensor operations. Only where [`host_updatable`] says so (ndarray); elsewhere the
/// tensors come back in `Err`, for the caller's composed form.
#[allow(clippy::result_large_err)]
pub fn host_update<B: Backend, const D: usize, const N: usize>(
    tensors: [Tensor<B, D>; N],
    f: impl FnOnce(&mut [Vec<f32>; N]),
) -> Result<[Tensor<B, D>; N], [Tensor<B, D>; N]> {
    #[cfg(feature = "ndarray")]
    return fused::host::host_update(tensors, f);
    #[cfg(not(feature = "ndarray"))]
    {
        let _ = f;
        Err(tensors)
    }
}

/// `t.powi_scalar(2).sum()` as one host pass where [`host_updatable`] says so, with the
/// same bits as Burn's two operations; `Err(t)` elsewhere.
pub fn sum_squares<B: Backend, const D: usize>(t: Tensor<B, D>) -> Result<f32, Tensor<B, D>> {
    #[cfg(feature = "ndarray")]
    return fused::host::sum_squares(t);
    #[cfg(not(feature = "ndarray"))]
    Err(t)
}

#[cfg(feature = "ndarray")]
pub use fused::host::HostScalarFn;

/// Whether [`host_scalar`] runs on the host for backend `B`: ndarray, with or without
/// autodiff.
pub fn host_fusable<B: Backend>() -> bool {
    #[cfg(feature = "ndarray")]
    return fused::fusable::<B>();
    #[cfg(not(feature = "ndarray"))]
    false
}

/// A scalar function of several one-dimensional tensors and its gradient, both computed
/// on the host (see [`HostScalarFn`]).
#[cfg(not(feature = "ndarray"))]
pub trait HostScalarFn<const N: usize>: Send + Sync + std::fmt::Debug {
    /// `(value, statistics)` at `x`.
    fn forward(&self, x: [&[f32]; N]) -> (f32, Vec<f32>);
    /// `g * d value / d x_k` for every input `k`.
    fn backward(&self, x: [&[f32]; N], g: f32) -> [Vec<f32>; N];
}

/// `f` over `inputs` as one autodiff node with a host forward and backward, where the
/// backend allows (ndarray): a loss of a dozen element-wise operations on a minibatch
/// as one pass instead of their allocations and graph nodes. Returns the value `[1]` and
/// the statistics `f` computes alongside; elsewhere the inputs come back in `Err`, for
/// the caller's composed form.
#[allow(clippy::type_complexity, clippy::result_large_err)]
pub fn host_scalar<B: Backend, const N: usize>(
    inputs: [Tensor<B, 1>; N],
    f: std::sync::Arc<dyn HostScalarFn<N>>,
) -> Result<(Tensor<B, 1>, Vec<f32>), [Tensor<B, 1>; N]> {
    #[cfg(feature = "ndarray")]
    return fused::host::host_scalar(inputs, f);
    #[cfg(not(feature = "ndarray"))]
    {
        let _ = f;
        Err(inputs)
    }
}

/// Every float parameter's shape, in visiting order: two modules with the same list have
/// the same structure.
pub fn param_shapes<B: burn::prelude::Backend, M: burn::module::Module<B>>(
    m: &M,
) -> Vec<Vec<usize>> {
    use burn::module::{ModuleVisitor, Param};
    use burn::prelude::Tensor;
    struct Shapes(Vec<Vec<usize>>);
    impl<B: burn::prelude::Backend> ModuleVisitor<B> for Shapes {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<B, D>>) {
            self.0.push(p.val().dims().to_vec());
        }
    }
    let mut s = Shapes(Vec::new());
    m.visit(&mut s);
    s.0
}
