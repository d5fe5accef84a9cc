//! Hidden-layer activations.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// The activation after every hidden layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `tanh`, as in the lesson.
    #[default]
    Tanh,
    /// `max(x, 0)`.
    Relu,
}

impl Activation {
    /// The name used in configs and exported metadata.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
        }
    }

    /// Applies the activation.
    pub fn forward<B: Backend, const D: usize>(self, x: Tensor<B, D>) -> Tensor<B, D> {
        match self {
            Activation::Tanh => fast_tanh(x),
            Activation::Relu => burn::tensor::activation::relu(x),
        }
    }
}

impl std::str::FromStr for Activation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tanh" => Ok(Activation::Tanh),
            "relu" => Ok(Activation::Relu),
            _ => Err(format!(
                "unknown activation {s:?}: valid ones are tanh, relu"
            )),
        }
    }
}

/// `tanh(x) = 1 - 2 / (exp(2x) + 1)`, with `x` clamped to [-15, 15].
///
/// Burn 0.21's `tanh` is a scalar libm call per element and dominates large batches; this
/// form is about 3x faster on the CPU backends. The error against `tanh` is below 1e-7
/// (at |x| = 15, tanh is 1 to within 2e-13), and the clamp keeps the gradient finite.
pub fn fast_tanh<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let e = x.clamp(-15.0, 15.0).mul_scalar(2.0).exp().add_scalar(1.0);
    e.recip().mul_scalar(-2.0).add_scalar(1.0)
}
