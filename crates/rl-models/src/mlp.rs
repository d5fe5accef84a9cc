//! The MLP trunk.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use rl_core::rng::Rng;

use crate::activation::Activation;
use crate::init::{Init, Role};

/// Configuration of an [`Mlp`].
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Input size.
    pub d_input: usize,
    /// Hidden layer sizes; each layer is followed by the activation.
    #[config(default = "vec![64, 64]")]
    pub hidden: Vec<usize>,
    /// The activation after every hidden layer.
    #[config(default = "Activation::Tanh")]
    pub activation: Activation,
    /// How [`init_seeded`](Self::init_seeded) draws the weights.
    #[config(default = "Init::Torch")]
    pub init: Init,
}

/// Linear layers, each followed by the activation (the lesson's 64-64 tanh trunk by
/// default). With no hidden layers it is the identity.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// The layers, input first.
    pub layers: Vec<Linear<B>>,
    #[module(skip)]
    activation: Activation,
}

impl MlpConfig {
    /// Burn's standard initialisation, from the backend's generator.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Mlp<B> {
        let layers = self
            .sizes()
            .map(|(i, o)| LinearConfig::new(i, o).init(device))
            .collect();
        Mlp {
            layers,
            activation: self.activation,
        }
    }

    /// Seeded initialisation (see [`Init`]), drawn from `rng`.
    pub fn init_seeded<B: Backend>(&self, rng: &mut Rng, device: &B::Device) -> Mlp<B> {
        let layers = self
            .sizes()
            .map(|(i, o)| self.init.linear(i, o, Role::Hidden, rng, device))
            .collect();
        Mlp {
            layers,
            activation: self.activation,
        }
    }

    /// The output size: the last hidden size, or the input size without hidden layers.
    pub fn d_output(&self) -> usize {
        self.hidden.last().copied().unwrap_or(self.d_input)
    }

    fn sizes(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        std::iter::once(self.d_input)
            .chain(self.hidden.iter().copied())
            .zip(self.hidden.iter().copied())
    }
}

impl<B: Backend> Mlp<B> {
    /// `[batch, d_input]` to `[batch, d_output]`.
    pub fn forward(&self, mut x: Tensor<B, 2>) -> Tensor<B, 2> {
        for layer in &self.layers {
            x = dense(layer, x, Some(self.activation));
        }
        x
    }

    /// The activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }
}

/// `activation(x W + b)` through one Burn [`Linear`]: the trunk's layers and the heads.
///
/// On the backend this build was compiled for (with or without autodiff) this is one
/// fused operation with its own backward (see the `fused` module; on ndarray, host
/// kernels); on any other backend it is `Linear::forward` followed by
/// [`Activation::forward`]. Both compute the same function, up to float rounding.
pub fn dense<B: Backend>(
    layer: &Linear<B>,
    x: Tensor<B, 2>,
    activation: Option<Activation>,
) -> Tensor<B, 2> {
    let x = {
        let act = activation.map_or(crate::kernels::Act::Identity, Activation::kernel);
        match crate::fused::dense(layer, x, act) {
            Ok(y) => return y,
            Err(x) => x,
        }
    };
    let z = layer.forward(x);
    match activation {
        Some(a) => a.forward(z),
        None => z,
    }
}
