//! Layer 1 of the lesson: REINFORCE on a 3-armed Bernoulli bandit, in plain Rust.
//!
//! The policy is a softmax over three preferences `theta`. For the action taken,
//! `grad log pi(a) = e_a - pi` (the one-hot of `a` minus the probabilities), so the
//! REINFORCE update is `theta += lr * r * (e_a - pi)`: the gradient of the log-probability
//! times a scalar that says how good the action was.

use rl_core::rng::{self, RngExt};
use rl_core::{Action, Bandit, Env};

/// A softmax, stable for large preferences.
pub fn softmax(theta: &[f64]) -> Vec<f64> {
    let max = theta.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = theta.iter().map(|t| (t - max).exp()).collect();
    let total: f64 = e.iter().sum();
    e.iter().map(|x| x / total).collect()
}

/// `grad log pi(a) = e_a - pi`, by hand.
pub fn grad_log_pi(probs: &[f64], a: usize) -> Vec<f64> {
    probs
        .iter()
        .enumerate()
        .map(|(i, p)| f64::from(u8::from(i == a)) - p)
        .collect()
}

/// Trains for `steps` pulls and calls `on_step(step, probs)` before each pull and once
/// after the last (with `step == steps`); returns the final probabilities.
pub fn train(
    probs: &[f64],
    steps: usize,
    lr: f64,
    seed: u64,
    mut on_step: impl FnMut(usize, &[f64]),
) -> Vec<f64> {
    let mut env = Bandit::new(probs.to_vec()).expect("valid probabilities");
    env.reset(Some(rng::stream(seed, 0)));
    let mut r = rng::seeded(rng::stream(seed, 1));
    let mut theta = vec![0.0; probs.len()];
    for step in 0..steps {
        let pi = softmax(&theta);
        on_step(step, &pi);
        // Sample an arm from pi by inverting its CDF.
        let u: f64 = r.random();
        let a = pi.iter().scan(0.0, |acc, p| {
            *acc += p;
            Some(*acc)
        });
        let a = a.take_while(|&c| c <= u).count().min(probs.len() - 1);
        let reward = env.step(Action::Discrete(a)).expect("a valid arm").reward;
        env.reset(None);
        for (t, g) in theta.iter_mut().zip(grad_log_pi(&pi, a)) {
            *t += lr * reward * g;
        }
    }
    let pi = softmax(&theta);
    on_step(steps, &pi);
    pi
}
