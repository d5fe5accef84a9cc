//! Seeded weight initialisation on the host.
//!
//! Weights are drawn from rl-core's generator, not the backend's: the same seed gives the
//! same initial weights on every backend (wgpu draws its own numbers on the device) and in
//! every thread (Burn's backend seed is process-global). Two schemes, chosen by [`Init`]:
//! PyTorch's `nn.Linear` default (the lesson's) and the orthogonal initialisation that
//! CleanRL's `layer_init` and Stable-Baselines3's `ortho_init` give PPO and A2C.

use burn::module::{ModuleMapper, Param, ParamId};
use burn::nn::Linear;
use burn::prelude::*;
use rl_core::rng::{Rng, RngExt};
use serde::{Deserialize, Serialize};

/// How a seeded network's layers are initialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// PyTorch's `nn.Linear` default: weight and bias uniform in `±1/sqrt(d_input)` (the
    /// lesson's).
    #[default]
    Torch,
    /// `torch.nn.init.orthogonal_` with a gain per role and zero biases, as CleanRL and
    /// Stable-Baselines3 initialise PPO and A2C: `sqrt(2)` for hidden layers, 0.01 for
    /// the policy head, 1 for the value head.
    Orthogonal,
}

/// What a layer does, which fixes its orthogonal gain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A hidden layer of a trunk.
    Hidden,
    /// The policy head (logits or means).
    Policy,
    /// The value head.
    Value,
}

impl Init {
    /// Every scheme, as configurations name them.
    pub const ALL: [Init; 2] = [Init::Torch, Init::Orthogonal];

    /// The name in configurations.
    pub fn name(self) -> &'static str {
        match self {
            Init::Torch => "torch",
            Init::Orthogonal => "orthogonal",
        }
    }

    /// A `d_input -> d_output` layer with this scheme, drawn from `rng`.
    pub fn linear<B: Backend>(
        self,
        d_input: usize,
        d_output: usize,
        role: Role,
        rng: &mut Rng,
        device: &B::Device,
    ) -> Linear<B> {
        match self {
            Init::Torch => linear_seeded(d_input, d_output, rng, device),
            Init::Orthogonal => {
                let gain = match role {
                    Role::Hidden => std::f64::consts::SQRT_2,
                    Role::Policy => 0.01,
                    Role::Value => 1.0,
                };
                let w = orthogonal(d_output, d_input, gain, rng);
                linear_from_torch(&w, vec![0.0; d_output], d_input, d_output, device)
            }
        }
    }
}

impl std::str::FromStr for Init {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Init::ALL
            .into_iter()
            .find(|i| i.name() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| format!("unknown init {s:?}: valid ones are torch, orthogonal"))
    }
}

/// A `rows x cols` matrix (row-major) with orthonormal rows or columns (whichever are
/// fewer), times `gain`: `torch.nn.init.orthogonal_`. A standard normal matrix is
/// factored as `Q R` with `R`'s diagonal positive (Gram-Schmidt, in f64, twice for
/// stability), which is PyTorch's QR with its sign correction.
fn orthogonal(rows: usize, cols: usize, gain: f64, rng: &mut Rng) -> Vec<f32> {
    let normal: Vec<f64> = (0..rows * cols)
        .map(|_| f64::from(crate::distributions::standard_normal(rng)))
        .collect();
    // Orthonormalise the columns of the tall orientation (m >= n): torch transposes a
    // wide matrix first and back after.
    let (m, n) = (rows.max(cols), rows.min(cols));
    let at = |i: usize, j: usize| {
        if rows >= cols {
            normal[i * cols + j]
        } else {
            normal[j * cols + i]
        }
    };
    let mut q: Vec<Vec<f64>> = (0..n).map(|j| (0..m).map(|i| at(i, j)).collect()).collect();
    for j in 0..n {
        for _ in 0..2 {
            for k in 0..j {
                let dot: f64 = q[j].iter().zip(&q[k]).map(|(a, b)| a * b).sum();
                let qk = q[k].clone();
                for (a, b) in q[j].iter_mut().zip(&qk) {
                    *a -= dot * b;
                }
            }
        }
        let norm = q[j].iter().map(|a| a * a).sum::<f64>().sqrt();
        for a in &mut q[j] {
            *a /= norm;
        }
    }
    let mut out = vec![0.0; rows * cols];
    for (j, col) in q.iter().enumerate() {
        for (i, &v) in col.iter().enumerate() {
            let (r, c) = if rows >= cols { (i, j) } else { (j, i) };
            out[r * cols + c] = (gain * v) as f32;
        }
    }
    out
}

/// A `Linear` layer from a weight in PyTorch's `[out, in]` layout and a bias.
fn linear_from_torch<B: Backend>(
    w_out_in: &[f32],
    bias: Vec<f32>,
    d_input: usize,
    d_output: usize,
    device: &B::Device,
) -> Linear<B> {
    // Burn stores the weight as [in, out].
    let mut w = vec![0.0; d_input * d_output];
    for o in 0..d_output {
        for i in 0..d_input {
            w[i * d_output + o] = w_out_in[o * d_input + i];
        }
    }
    Linear {
        weight: Param::from_data(TensorData::new(w, [d_input, d_output]), device),
        bias: Some(Param::from_data(TensorData::new(bias, [d_output]), device)),
    }
}

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
    let bias = draw(d_output);
    linear_from_torch(&w_out_in, bias, d_input, d_output, device)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthogonal_matrices_are_orthonormal_times_the_gain() {
        let mut rng = rl_core::rng::seeded(3);
        for (rows, cols) in [(64, 4), (4, 64), (64, 64), (2, 64), (1, 64)] {
            let w = orthogonal(rows, cols, 2.0, &mut rng);
            // The fewer of rows and columns are orthogonal with norm `gain`.
            let (k, along_rows) = if rows <= cols {
                (rows, true)
            } else {
                (cols, false)
            };
            let get = |a: usize, i: usize| {
                f64::from(if along_rows {
                    w[a * cols + i]
                } else {
                    w[i * cols + a]
                })
            };
            let len = if along_rows { cols } else { rows };
            for a in 0..k {
                for b in 0..k {
                    let dot: f64 = (0..len).map(|i| get(a, i) * get(b, i)).sum();
                    let want = if a == b { 4.0 } else { 0.0 };
                    assert!(
                        (dot - want).abs() < 1e-5,
                        "{rows}x{cols}: <{a},{b}> = {dot}"
                    );
                }
            }
        }
        // Seeded: the same matrix from the same seed.
        let draw = || orthogonal(8, 8, 1.0, &mut rl_core::rng::seeded(9));
        assert_eq!(draw(), draw());
    }
}
