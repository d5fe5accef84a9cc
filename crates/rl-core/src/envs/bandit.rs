//! A k-armed Bernoulli bandit: the lesson's first environment.
//!
//! ## Description
//! Each arm pays 1 with its own fixed probability and 0 otherwise; the agent must find
//! the best arm (Sutton and Barto, "Reinforcement Learning: An Introduction", ch. 2).
//!
//! ## Action space
//! `Discrete(k)`: the arm to pull.
//!
//! ## Observation space
//! `Box(1)` holding the constant 0: a bandit has no state.
//!
//! ## Rewards
//! 1 with the pulled arm's probability, else 0.
//!
//! ## Starting state
//! The constant observation.
//!
//! ## Episode end
//! Every episode is one pull, so every step is `terminated`.

use crate::env::{
    Action, Env, EnvSpec, EpisodeClock, InternalState, Step, check_state, discrete_action,
};
use crate::error::{Error, Result};
use crate::render::{self, Frame};
use crate::rng::{self, Rng, RngExt};
use crate::space::Space;

/// The lesson's arms.
pub const DEFAULT_PROBS: [f64; 3] = [0.2, 0.8, 0.5];

/// A k-armed Bernoulli bandit.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Bandit {
    probs: Vec<f64>,
    obs: [f32; 1],
    rng: Rng,
    clock: EpisodeClock,
    /// The arm pulled in this episode and its reward, for the rendered frame.
    #[serde(default)]
    last_pull: Option<(usize, f64)>,
}

impl Default for Bandit {
    fn default() -> Self {
        Self::new(DEFAULT_PROBS.to_vec()).expect("the default probabilities are valid")
    }
}

impl Bandit {
    /// A bandit with one arm per probability; each must be in [0, 1], and there must be at
    /// least one arm.
    pub fn new(probs: Vec<f64>) -> Result<Self> {
        if probs.is_empty() {
            return Err(Error::config("a bandit needs at least one arm, got none"));
        }
        if let Some((i, p)) = probs
            .iter()
            .enumerate()
            .find(|(_, p)| !(0.0..=1.0).contains(*p))
        {
            return Err(Error::config(format!(
                "bandit arm {i} has probability {p}: allowed [0, 1]"
            )));
        }
        Ok(Self {
            probs,
            obs: [0.0],
            rng: rng::from_entropy(),
            clock: EpisodeClock::new(None),
            last_pull: None,
        })
    }

    /// The arms' success probabilities.
    pub fn probs(&self) -> &[f64] {
        &self.probs
    }

    fn draw(&self, policy: Option<&[f32]>) -> Frame {
        render::bandit(&self.probs, policy, self.last_pull)
    }
}

impl Env for Bandit {
    fn spec(&self) -> EnvSpec {
        EnvSpec::new(
            "Bandit-v0",
            Space::boxed(vec![0.0], vec![0.0]),
            Space::Discrete {
                n: self.probs.len(),
            },
        )
        .with_single_step()
        .with_render_fps(2)
    }

    fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        if let Some(seed) = seed {
            self.rng = rng::seeded(seed);
        }
        self.clock.start();
        self.last_pull = None;
        &self.obs
    }

    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        self.clock.check()?;
        let arm = discrete_action(action, self.probs.len())?;
        let reward = if self.rng.random::<f64>() < self.probs[arm] {
            1.0
        } else {
            0.0
        };
        let truncated = self.clock.tick(true);
        self.last_pull = Some((arm, reward));
        Ok(Step {
            observation: &self.obs,
            reward,
            terminated: true,
            truncated,
        })
    }

    /// The arms' payout probabilities and the last pull (see [`render::bandit`]); the
    /// policy's bars are drawn by whoever holds the policy (`rl render`).
    fn render(&self) -> Option<Frame> {
        Some(self.draw(None))
    }

    /// The frame with the policy's probability of each arm drawn as a bar.
    fn render_with_policy(&self, policy: Option<&[f32]>) -> Option<Frame> {
        Some(self.draw(policy))
    }
}

impl InternalState for Bandit {
    /// A bandit has no state: an empty vector.
    fn state(&self) -> Vec<f64> {
        Vec::new()
    }

    fn set_state(&mut self, state: &[f64]) -> Result<&[f32]> {
        check_state(state, 0, "Bandit-v0")?;
        self.clock.start();
        self.last_pull = None;
        Ok(&self.obs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_probabilities() {
        assert!(Bandit::new(vec![]).is_err());
        let e = Bandit::new(vec![0.5, 1.5]).unwrap_err();
        assert!(
            e.to_string().contains("arm 1") && e.to_string().contains("1.5"),
            "{e}"
        );
        assert!(Bandit::new(vec![f64::NAN]).is_err());
    }

    #[test]
    fn pays_at_the_arms_rate_and_ends_every_step() {
        let mut env = Bandit::default();
        env.reset(Some(0));
        let n = 20_000;
        let mut wins = [0.0; 3];
        for i in 0..n {
            let s = env.step(Action::Discrete(i % 3)).unwrap();
            assert!(s.terminated && !s.truncated);
            wins[i % 3] += s.reward;
            env.reset(None);
        }
        for (w, p) in wins.iter().zip(DEFAULT_PROBS) {
            // 4 standard deviations of a binomial mean over n/3 pulls.
            let sd = (p * (1.0 - p) / (n as f64 / 3.0)).sqrt();
            assert!((w / (n as f64 / 3.0) - p).abs() < 4.0 * sd, "{w} vs {p}");
        }
    }
}
