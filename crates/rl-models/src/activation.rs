//! Hidden-layer activations.

use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn::tensor::ops::FloatTensor;

use crate::kernels::TANH_CLAMP;
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

    /// The host kernels' name for it.
    pub fn kernel(self) -> crate::kernels::Act {
        match self {
            Activation::Tanh => crate::kernels::Act::Tanh,
            Activation::Relu => crate::kernels::Act::Relu,
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
/// formula is about 3x faster on the CPU backends. On the backend this build was
/// compiled for it is one fused operation with its own backward (the `fused` module; on
/// ndarray and flex one vectorised host pass each way); on any other backend it is
/// composed from Burn operations. The absolute error against `tanh` is below 1.8e-7 (at
/// |x| = 15, tanh is 1 to within 2e-13), and the clamp keeps the gradient finite.
pub fn fast_tanh<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let x = match crate::fused::tanh(x) {
        Ok(y) => return y,
        Err(x) => x,
    };
    let p = composed_tanh::<B>(x.into_primitive().tensor());
    Tensor::from_primitive(TensorPrimitive::Float(p))
}

/// [`fast_tanh`] composed from Burn operations on a tensor primitive of any rank.
pub(crate) fn composed_tanh<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let x = B::float_clamp(x, (-TANH_CLAMP).into(), TANH_CLAMP.into());
    let e = B::float_add_scalar(B::float_exp(B::float_mul_scalar(x, 2.0.into())), 1.0.into());
    B::float_add_scalar(
        B::float_mul_scalar(B::float_recip(e), (-2.0).into()),
        1.0.into(),
    )
}
