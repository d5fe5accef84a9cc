//! Seeded weight initialisation on the host.
//!
//! Weights are drawn from rl-core's generator, not the backend's: the same seed gives the
//! same initial weights on every backend (wgpu draws its own numbers on the device) and in
//! every thread (Burn's backend seed is process-global).

use burn::module::{ModuleMapper, Param, ParamId};
use burn::nn::Linear;
use burn::prelude::*;
use rl_core::rng::{Rng, RngExt};

/// A `Linear` layer initialised as PyTorch's `nn.Linear`: weight and bias uniform in
/// `[-1/sqrt(d_input), 1/sqrt(d_input)]`, drawn in PyTorch's `[out, in]` order.
pub fn linear_seeded<B: Backend>(
    d_input: usize,
    d_output: usize,
    rng: &mut Rng,
    device: &B::Device,
) -> Linear<B> {
    let bound = 1.0 / (d_input as f32).sqrt();
    let mut draw =
        |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-bound..bound)).collect() };
    let w_out_in = draw(d_input * d_output);
    // Burn stores the weight as [in, out].
    let mut w = vec![0.0; d_input * d_output];
    for o in 0..d_output {
        for i in 0..d_input {
            w[i * d_output + o] = w_out_in[o * d_input + i];
        }
    }
    let bias = draw(d_output);
    Linear {
        weight: Param::from_data(TensorData::new(w, [d_input, d_output]), device),
        bias: Some(Param::from_data(TensorData::new(bias, [d_output]), device)),
    }
}

/// Gives the parameters ids `base + 1, base + 2, ...` in visiting order, instead of
/// Burn's ids from the operating system's generator: a seeded network's record, and so
/// its saved file, is then the same bytes in every run.
pub(crate) struct SeededIds {
    pub(crate) next: u64,
}

impl<B: Backend> ModuleMapper<B> for SeededIds {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (_, tensor, mapper) = param.consume();
        self.next = self.next.wrapping_add(1);
        Param::from_mapped_value(ParamId::from(self.next), tensor, mapper)
    }
}
