//! Layer 2 of the lesson: REINFORCE on CartPole-v1 with a two-layer tanh policy
//! (4 -> 16 -> 2, no biases) and backpropagation written by hand.
//!
//! The objective of one episode is `J = mean_t log pi(a_t | s_t) * G_t`, with `G_t` the
//! discounted return-to-go normalised over the episode. With `h = tanh(W1 s)`,
//! `logits = W2 h` and `pi = softmax(logits)`:
//! `dJ/dlogits_t = (e_{a_t} - pi_t) G_t / T`, `dJ/dW2 = sum_t dlogits_t h_t^T`,
//! `dh_t = W2^T dlogits_t`, `dJ/dW1 = sum_t (dh_t * (1 - h_t^2)) s_t^T`. Plain gradient
//! ascent follows: `W += lr * dJ/dW`.

use rl_core::rng::{self, RngExt};
use rl_core::{Action, CartPole, Env, discounted_returns, normalize_in_place};

/// Observation size.
pub const OBS: usize = 4;
/// Hidden units.
pub const HIDDEN: usize = 16;
/// Actions.
pub const ACTIONS: usize = 2;

/// The policy's weights, row-major: `w1` is `[HIDDEN, OBS]`, `w2` is `[ACTIONS, HIDDEN]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Input to hidden.
    pub w1: Vec<f64>,
    /// Hidden to logits.
    pub w2: Vec<f64>,
}

/// One episode's data.
#[derive(Debug, Clone, Default)]
pub struct Episode {
    /// Observations, `T * OBS`.
    pub obs: Vec<f64>,
    /// Actions taken.
    pub actions: Vec<usize>,
    /// Rewards.
    pub rewards: Vec<f32>,
}

impl Policy {
    /// Weights uniform in `[-1/sqrt(fan_in), 1/sqrt(fan_in)]`, as PyTorch initialises them.
    pub fn new(seed: u64) -> Self {
        let mut r = rng::seeded(seed);
        let mut draw = |n: usize, fan_in: usize| -> Vec<f64> {
            let b = 1.0 / (fan_in as f64).sqrt();
            (0..n).map(|_| r.random_range(-b..b)).collect()
        };
        Self {
            w1: draw(HIDDEN * OBS, OBS),
            w2: draw(ACTIONS * HIDDEN, HIDDEN),
        }
    }

    /// The hidden activations and the action probabilities for one observation.
    pub fn forward(&self, s: &[f64]) -> ([f64; HIDDEN], [f64; ACTIONS]) {
        let mut h = [0.0; HIDDEN];
        for (j, hj) in h.iter_mut().enumerate() {
            *hj = (0..OBS)
                .map(|i| self.w1[j * OBS + i] * s[i])
                .sum::<f64>()
                .tanh();
        }
        let mut logits = [0.0; ACTIONS];
        for (k, l) in logits.iter_mut().enumerate() {
            *l = (0..HIDDEN).map(|j| self.w2[k * HIDDEN + j] * h[j]).sum();
        }
        let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e = logits.map(|l| (l - max).exp());
        let total: f64 = e.iter().sum();
        (h, e.map(|x| x / total))
    }

    /// `dJ/dW1` and `dJ/dW2` of `J = mean_t log pi(a_t|s_t) * weights_t`, by hand.
    pub fn gradient(
        &self,
        obs: &[f64],
        actions: &[usize],
        weights: &[f64],
    ) -> (Vec<f64>, Vec<f64>) {
        let t_len = actions.len() as f64;
        let mut g1 = vec![0.0; HIDDEN * OBS];
        let mut g2 = vec![0.0; ACTIONS * HIDDEN];
        for ((s, &a), &w) in obs.chunks_exact(OBS).zip(actions).zip(weights) {
            let (h, pi) = self.forward(s);
            // d log pi(a) / d logits = e_a - pi, times the return, averaged over steps.
            let dlogits: [f64; ACTIONS] =
                std::array::from_fn(|k| (f64::from(u8::from(k == a)) - pi[k]) * w / t_len);
            for k in 0..ACTIONS {
                for j in 0..HIDDEN {
                    g2[k * HIDDEN + j] += dlogits[k] * h[j];
                }
            }
            for j in 0..HIDDEN {
                let dh: f64 = (0..ACTIONS)
                    .map(|k| self.w2[k * HIDDEN + j] * dlogits[k])
                    .sum();
                let dpre = dh * (1.0 - h[j] * h[j]);
                for i in 0..OBS {
                    g1[j * OBS + i] += dpre * s[i];
                }
            }
        }
        (g1, g2)
    }
}

/// Plays one episode with the policy, sampling actions from `r`.
pub fn play(
    policy: &Policy,
    env: &mut CartPole,
    r: &mut rl_core::rng::Rng,
    seed: Option<u64>,
) -> Episode {
    let mut ep = Episode::default();
    let mut s: Vec<f64> = env.reset(seed).iter().map(|&v| f64::from(v)).collect();
    loop {
        let (_, pi) = policy.forward(&s);
        let a = usize::from(r.random::<f64>() >= pi[0]);
        ep.obs.extend_from_slice(&s);
        ep.actions.push(a);
        let step = env.step(Action::Discrete(a)).expect("a valid action");
        ep.rewards.push(step.reward as f32);
        s = step.observation.iter().map(|&v| f64::from(v)).collect();
        if step.terminated || step.truncated {
            return ep;
        }
    }
}

/// Trains for `episodes` episodes; calls `on_episode(episode, return)` after each.
pub fn train(
    episodes: usize,
    lr: f64,
    gamma: f32,
    seed: u64,
    mut on_episode: impl FnMut(usize, f64),
) -> Policy {
    let mut policy = Policy::new(rng::stream(seed, 2));
    let mut env = CartPole::new();
    let mut r = rng::seeded(rng::stream(seed, 1));
    for episode in 0..episodes {
        let seed = (episode == 0).then(|| rng::stream(seed, 0));
        let ep = play(&policy, &mut env, &mut r, seed);
        let n = ep.rewards.len();
        let mut terminated = vec![false; n];
        terminated[n - 1] = true;
        let mut g = discounted_returns(&ep.rewards, &terminated, &vec![false; n], gamma)
            .expect("one episode");
        normalize_in_place(&mut g);
        let weights: Vec<f64> = g.iter().map(|&x| f64::from(x)).collect();
        let (g1, g2) = policy.gradient(&ep.obs, &ep.actions, &weights);
        // Gradient ascent: the objective is maximised.
        for (w, d) in policy.w1.iter_mut().zip(&g1) {
            *w += lr * d;
        }
        for (w, d) in policy.w2.iter_mut().zip(&g2) {
            *w += lr * d;
        }
        on_episode(episode, n as f64);
    }
    policy
}
