//! Policy and value heads.

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use rl_core::rng::Rng;

use crate::init::{Init, Role};

/// Configuration of a [`CategoricalHead`].
#[derive(Config, Debug)]
pub struct CategoricalHeadConfig {
    /// Input size (the trunk's output).
    pub d_input: usize,
    /// Number of actions.
    pub n_actions: usize,
    /// How [`init_seeded`](Self::init_seeded) draws the weights.
    #[config(default = "Init::Torch")]
    pub init: Init,
}

/// Logits of a categorical policy over `n_actions`.
#[derive(Module, Debug)]
pub struct CategoricalHead<B: Backend> {
    /// Features to logits.
    pub linear: Linear<B>,
}

impl CategoricalHeadConfig {
    /// Burn's standard initialisation.
    pub fn init<B: Backend>(&self, device: &B::Device) -> CategoricalHead<B> {
        CategoricalHead {
            linear: LinearConfig::new(self.d_input, self.n_actions).init(device),
        }
    }

    /// Seeded initialisation (see [`Init`]), drawn from `rng`.
    pub fn init_seeded<B: Backend>(&self, rng: &mut Rng, device: &B::Device) -> CategoricalHead<B> {
        CategoricalHead {
            linear: self
                .init
                .linear(self.d_input, self.n_actions, Role::Policy, rng, device),
        }
    }
}

impl<B: Backend> CategoricalHead<B> {
    /// `[batch, d_input]` to logits `[batch, n_actions]`.
    pub fn forward(&self, h: Tensor<B, 2>) -> Tensor<B, 2> {
        crate::mlp::dense(&self.linear, h, None)
    }
}

/// The logits of one categorical per component of a multi-discrete action (SB3's
/// `MultiCategoricalDistribution`: one linear layer, the components' logits one after
/// another).
#[derive(Module, Debug)]
pub struct MultiCategoricalHead<B: Backend> {
    /// Features to the `sum(nvec)` logits.
    pub linear: Linear<B>,
    /// The number of values of each component.
    #[module(skip)]
    pub nvec: Vec<usize>,
}

impl<B: Backend> MultiCategoricalHead<B> {
    /// `[batch, d_input]` to logits `[batch, sum(nvec)]`.
    pub fn forward(&self, h: Tensor<B, 2>) -> Tensor<B, 2> {
        crate::mlp::dense(&self.linear, h, None)
    }
}

/// The logits of independent Bernoullis, one per flag of a multi-binary action (SB3's
/// `BernoulliDistribution`).
#[derive(Module, Debug)]
pub struct BernoulliHead<B: Backend> {
    /// Features to one logit per flag.
    pub linear: Linear<B>,
}

impl<B: Backend> BernoulliHead<B> {
    /// `[batch, d_input]` to logits `[batch, n]`.
    pub fn forward(&self, h: Tensor<B, 2>) -> Tensor<B, 2> {
        crate::mlp::dense(&self.linear, h, None)
    }
}

/// Configuration of a [`GaussianHead`].
#[derive(Config, Debug)]
pub struct GaussianHeadConfig {
    /// Input size (the trunk's output).
    pub d_input: usize,
    /// Action dimension.
    pub action_dim: usize,
    /// The initial log standard deviation of every component.
    #[config(default = 0.0)]
    pub init_log_std: f32,
    /// How [`init_seeded`](Self::init_seeded) draws the weights.
    #[config(default = "Init::Torch")]
    pub init: Init,
}

/// A diagonal Gaussian policy: a state-dependent mean and a state-independent log-std
/// parameter, as in PPO's continuous-control setting.
#[derive(Module, Debug)]
pub struct GaussianHead<B: Backend> {
    /// Features to means.
    pub mean: Linear<B>,
    /// The log standard deviation, `[action_dim]`.
    pub log_std: Param<Tensor<B, 1>>,
}

impl GaussianHeadConfig {
    /// Burn's standard initialisation.
    pub fn init<B: Backend>(&self, device: &B::Device) -> GaussianHead<B> {
        GaussianHead {
            mean: LinearConfig::new(self.d_input, self.action_dim).init(device),
            log_std: self.log_std(device),
        }
    }

    /// Seeded initialisation (see [`Init`]), drawn from `rng`.
    pub fn init_seeded<B: Backend>(&self, rng: &mut Rng, device: &B::Device) -> GaussianHead<B> {
        GaussianHead {
            mean: self
                .init
                .linear(self.d_input, self.action_dim, Role::Policy, rng, device),
            log_std: self.log_std(device),
        }
    }

    fn log_std<B: Backend>(&self, device: &B::Device) -> Param<Tensor<B, 1>> {
        Param::from_data(
            TensorData::new(vec![self.init_log_std; self.action_dim], [self.action_dim]),
            device,
        )
    }
}

impl<B: Backend> GaussianHead<B> {
    /// `[batch, d_input]` to the means `[batch, action_dim]`.
    pub fn forward(&self, h: Tensor<B, 2>) -> Tensor<B, 2> {
        crate::mlp::dense(&self.mean, h, None)
    }
}

/// Generalised state-dependent exploration (gSDE, Raffin et al. 2021; Stable-Baselines3's
/// `StateDependentNoiseDistribution` with its defaults `full_std=True`,
/// `use_expln=False`, `learn_features=False`): a state-dependent mean, and exploration
/// noise `z(s) E` where `z(s)` are the trunk's features and `E` `[d_input, action_dim]`
/// is drawn from `N(0, exp(log_std)^2)` and held for several steps. The action's
/// distribution given `E`'s law is a diagonal Gaussian with variance
/// `z(s)^2 exp(log_std)^2 + 1e-6` per component (the features detached).
#[derive(Module, Debug)]
pub struct SdeHead<B: Backend> {
    /// Features to means.
    pub mean: Linear<B>,
    /// The log standard deviation of each exploration weight, `[d_input, action_dim]`.
    pub log_std: Param<Tensor<B, 2>>,
}

impl GaussianHeadConfig {
    /// gSDE's head ([`SdeHead`]) instead, with Burn's standard initialisation of the
    /// mean; `init_log_std` is every exploration weight's.
    pub fn init_sde<B: Backend>(&self, device: &B::Device) -> SdeHead<B> {
        SdeHead {
            mean: LinearConfig::new(self.d_input, self.action_dim).init(device),
            log_std: self.log_std_matrix(device),
        }
    }

    /// gSDE's head, seeded (see [`Init`]), drawn from `rng`.
    pub fn init_seeded_sde<B: Backend>(&self, rng: &mut Rng, device: &B::Device) -> SdeHead<B> {
        SdeHead {
            mean: self
                .init
                .linear(self.d_input, self.action_dim, Role::Policy, rng, device),
            log_std: self.log_std_matrix(device),
        }
    }

    fn log_std_matrix<B: Backend>(&self, device: &B::Device) -> Param<Tensor<B, 2>> {
        let shape = [self.d_input, self.action_dim];
        Param::from_data(
            TensorData::new(vec![self.init_log_std; shape[0] * shape[1]], shape),
            device,
        )
    }
}

impl<B: Backend> SdeHead<B> {
    /// `[batch, d_input]` features to `[batch, 2 * action_dim]`: the means, then the
    /// standard deviations of the actions' Gaussian, `sqrt(z^2 exp(2 log_std) + 1e-6)`
    /// with the features `z` detached (gSDE's `learn_features=False`).
    pub fn forward(&self, h: Tensor<B, 2>) -> Tensor<B, 2> {
        let mean = crate::mlp::dense(&self.mean, h.clone(), None);
        let std = crate::distributions::sde_std(h, self.log_std.val());
        Tensor::cat(vec![mean, std], 1)
    }
}

/// Configuration of a [`ValueHead`].
#[derive(Config, Debug)]
pub struct ValueHeadConfig {
    /// Input size (the trunk's output).
    pub d_input: usize,
    /// How [`init_seeded`](Self::init_seeded) draws the weights.
    #[config(default = "Init::Torch")]
    pub init: Init,
}

/// The state value `V(s)`.
#[derive(Module, Debug)]
pub struct ValueHead<B: Backend> {
    /// Features to the value.
    pub linear: Linear<B>,
}

impl ValueHeadConfig {
    /// Burn's standard initialisation.
    pub fn init<B: Backend>(&self, device: &B::Device) -> ValueHead<B> {
        ValueHead {
            linear: LinearConfig::new(self.d_input, 1).init(device),
        }
    }

    /// Seeded initialisation (see [`Init`]), drawn from `rng`.
    pub fn init_seeded<B: Backend>(&self, rng: &mut Rng, device: &B::Device) -> ValueHead<B> {
        ValueHead {
            linear: self.init.linear(self.d_input, 1, Role::Value, rng, device),
        }
    }
}

impl<B: Backend> ValueHead<B> {
    /// `[batch, d_input]` to `[batch]`.
    pub fn forward(&self, h: Tensor<B, 2>) -> Tensor<B, 1> {
        crate::mlp::dense(&self.linear, h, None).squeeze_dim(1)
    }
}
