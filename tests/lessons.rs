//! The lesson's programs: the bandit converges, the hand-written backprop of layer 2 is
//! Burn's autodiff gradient, and the analytic `e_a - p` gradient of log-softmax holds.

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use rl_examples::{bandit, manual};
use rl_models::backend::{TrainBackend as B, device};

fn read<BB: Backend, const D: usize>(t: Tensor<BB, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec().unwrap()
}

#[test]
fn bandit_converges_on_arm_1() {
    for seed in 0..5 {
        let pi = bandit::train(&rl_core::BANDIT_DEFAULT_PROBS, 500, 0.1, seed, |_, _| {});
        assert!(pi[1] > 0.8, "seed {seed}: {pi:?}");
    }
}

#[test]
fn bandit_gradient_is_one_hot_minus_probabilities() {
    let pi = bandit::softmax(&[1.0, 2.0, 0.5]);
    let g = bandit::grad_log_pi(&pi, 1);
    // Numerical derivative of log softmax(theta)[1].
    for i in 0..3 {
        let mut t = [1.0, 2.0, 0.5];
        t[i] += 1e-6;
        let num = (bandit::softmax(&t)[1].ln() - pi[1].ln()) / 1e-6;
        assert!((num - g[i]).abs() < 1e-5, "{i}: {num} vs {}", g[i]);
    }
}

/// A Burn `Linear` without bias from a row-major `[out, in]` matrix.
fn linear(w: &[f64], d_in: usize, d_out: usize) -> Linear<B> {
    let w: Vec<f32> = w.iter().map(|&x| x as f32).collect();
    let t = Tensor::<B, 2>::from_data(TensorData::new(w, [d_out, d_in]), &device()).transpose();
    Linear {
        weight: Param::from_tensor(t),
        bias: None,
    }
}

#[test]
fn manual_backprop_is_burns_autodiff_gradient() {
    let policy = manual::Policy::new(11);
    let mut env = rl_core::CartPole::new();
    let mut r = rl_core::rng::seeded(5);
    let ep = manual::play(&policy, &mut env, &mut r, Some(3));
    let n = ep.actions.len();
    let weights: Vec<f64> = (0..n).map(|t| ((t as f64) * 0.7).sin()).collect();
    let (g1, g2) = policy.gradient(&ep.obs, &ep.actions, &weights);

    let l1 = linear(&policy.w1, manual::OBS, manual::HIDDEN);
    let l2 = linear(&policy.w2, manual::HIDDEN, manual::ACTIONS);
    let dev = device();
    let obs: Vec<f32> = ep.obs.iter().map(|&x| x as f32).collect();
    let obs = Tensor::<B, 2>::from_data(TensorData::new(obs, [n, manual::OBS]), &dev);
    let actions: Vec<i64> = ep.actions.iter().map(|&a| a as i64).collect();
    let actions = Tensor::<B, 2, Int>::from_data(TensorData::new(actions, [n, 1]), &dev);
    let w: Vec<f32> = weights.iter().map(|&x| x as f32).collect();
    let w = Tensor::<B, 1>::from_data(TensorData::new(w, [n]), &dev);
    // J = mean_t log pi(a_t|s_t) * w_t, with Burn's exact tanh.
    let h = l1.forward(obs).tanh();
    let logp = log_softmax(l2.forward(h), 1)
        .gather(1, actions)
        .squeeze_dim::<1>(1);
    let j = (logp * w).mean();
    let grads = j.backward();
    // Burn's weights are [in, out]: transpose the gradients to compare with [out, in].
    let b1 = read(l1.weight.grad(&grads).unwrap().transpose());
    let b2 = read(l2.weight.grad(&grads).unwrap().transpose());
    for (name, by_hand, burn) in [("W1", &g1, &b1), ("W2", &g2, &b2)] {
        for (i, (m, b)) in by_hand.iter().zip(burn).enumerate() {
            assert!(
                (m - f64::from(*b)).abs() <= 1e-5 * m.abs().max(1e-2),
                "{name}[{i}]: by hand {m}, Burn {b}"
            );
        }
    }
}

#[test]
fn manual_reinforce_learns_cartpole() {
    let mut returns = Vec::new();
    manual::train(400, 0.5, 0.99, 0, |_, r| returns.push(r));
    let first: f64 = returns[..50].iter().sum::<f64>() / 50.0;
    let last: f64 = returns[350..].iter().sum::<f64>() / 50.0;
    assert!(last > 3.0 * first, "{first} -> {last}");
}

#[test]
fn log_softmax_gradient_is_one_hot_minus_probabilities() {
    // The lesson's formula, d log softmax(z)[a] / dz = e_a - p, against autodiff.
    let dev = device();
    let z = Tensor::<B, 2>::from_data(
        TensorData::new(vec![0.3_f32, -1.2, 2.0, 0.1, 0.0, 5.0], [2, 3]),
        &dev,
    )
    .require_grad();
    let a = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![2_i64, 0], [2, 1]), &dev);
    let logp = log_softmax(z.clone(), 1).gather(1, a).sum();
    let grad = read(z.grad(&logp.backward()).unwrap());
    let p = read(softmax(z.inner(), 1));
    let one_hot = [0.0, 0.0, 1.0, 1.0, 0.0, 0.0];
    for i in 0..6 {
        let want = one_hot[i] - p[i];
        assert!(
            (grad[i] - want).abs() < 1e-6,
            "{i}: autodiff {} vs e_a - p {want}",
            grad[i]
        );
    }
}
