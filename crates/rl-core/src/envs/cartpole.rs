//! CartPole-v1, bit for bit as Gymnasium 1.4.0's `CartPoleEnv`.
//!
//! ## Description
//! A pole is attached by an un-actuated joint to a cart moving along a frictionless
//! track. The pole starts upright; the goal is to balance it by pushing the cart left or
//! right (Barto, Sutton and Anderson, "Neuronlike adaptive elements that can solve
//! difficult learning control problems", 1983).
//!
//! ## Action space
//! `Discrete(2)`: 0 pushes the cart left, 1 pushes it right, with a force of 10 N.
//!
//! ## Observation space
//! `Box(4)`: cart position in [-4.8, 4.8], cart velocity, pole angle in
//! [-0.418, 0.418] rad, pole angular velocity. The observation is the f64 state rounded
//! to f32; the dynamics always run on the f64 state.
//!
//! ## Rewards
//! +1 for every step, including the terminating one.
//!
//! ## Starting state
//! Every component uniform in [-0.05, 0.05].
//!
//! ## Episode end
//! Terminated when |x| > 2.4 or |theta| > 12 degrees (strict); truncated at 500 steps.

use crate::env::{
    Action, Env, EnvSpec, EpisodeClock, InternalState, Step, check_state, discrete_action,
};
use crate::error::Result;
use crate::render::{self, Frame};
use crate::rng::{self, Rng};
use crate::space::Space;

const GRAVITY: f64 = 9.8;
const MASSCART: f64 = 1.0;
const MASSPOLE: f64 = 0.1;
const TOTAL_MASS: f64 = MASSPOLE + MASSCART;
/// Half the pole's length.
const LENGTH: f64 = 0.5;
const POLEMASS_LENGTH: f64 = MASSPOLE * LENGTH;
const FORCE_MAG: f64 = 10.0;
const TAU: f64 = 0.02;
/// `12 * 2 * math.pi / 360`, evaluated left to right as in Gymnasium.
pub(crate) const THETA_THRESHOLD_RADIANS: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
pub(crate) const X_THRESHOLD: f64 = 2.4;
const MAX_EPISODE_STEPS: usize = 500;

/// CartPole-v1 with its 500-step time limit.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CartPole {
    state: [f64; 4],
    obs: [f32; 4],
    rng: Rng,
    clock: EpisodeClock,
}

impl Default for CartPole {
    fn default() -> Self {
        Self::new()
    }
}

impl CartPole {
    /// A CartPole-v1 with Gymnasium's time limit; call [`Env::reset`] before stepping.
    pub fn new() -> Self {
        Self {
            state: [0.0; 4],
            obs: [0.0; 4],
            rng: rng::from_entropy(),
            clock: EpisodeClock::new(Some(MAX_EPISODE_STEPS)),
        }
    }

    #[inline]
    fn observe(&mut self) {
        self.obs = self.state.map(|v| v as f32);
    }
}

impl Env for CartPole {
    fn spec(&self) -> EnvSpec {
        let high = [
            (X_THRESHOLD * 2.0) as f32,
            f32::INFINITY,
            (THETA_THRESHOLD_RADIANS * 2.0) as f32,
            f32::INFINITY,
        ];
        EnvSpec::new(
            "CartPole-v1",
            Space::boxed(high.map(|h| -h).to_vec(), high.to_vec()),
            Space::Discrete { n: 2 },
        )
        .with_time_limit(self.clock.limit())
        .with_reward_threshold(475.0)
        .with_render_fps(50)
    }

    fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        if let Some(seed) = seed {
            self.rng = rng::seeded(seed);
        }
        for s in &mut self.state {
            *s = rng::uniform(&mut self.rng, -0.05, 0.05);
        }
        self.clock.start();
        self.observe();
        &self.obs
    }

    #[inline]
    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        self.clock.check()?;
        let action = discrete_action(action, 2)?;
        let [x, x_dot, theta, theta_dot] = self.state;
        let force = if action == 1 { FORCE_MAG } else { -FORCE_MAG };
        let costheta = theta.cos();
        let sintheta = theta.sin();
        // The operation order is Gymnasium's; `np.square(v)` is exactly `v * v`.
        let temp = (force + POLEMASS_LENGTH * (theta_dot * theta_dot) * sintheta) / TOTAL_MASS;
        let thetaacc = (GRAVITY * sintheta - costheta * temp)
            / (LENGTH * (4.0 / 3.0 - MASSPOLE * (costheta * costheta) / TOTAL_MASS));
        let xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS;
        // Explicit Euler: every position is updated with the old velocity.
        self.state = [
            x + TAU * x_dot,
            x_dot + TAU * xacc,
            theta + TAU * theta_dot,
            theta_dot + TAU * thetaacc,
        ];
        let [x, _, theta, _] = self.state;
        // Strict comparisons: x = 2.4 exactly is still inside.
        let terminated = !(-X_THRESHOLD..=X_THRESHOLD).contains(&x)
            || !(-THETA_THRESHOLD_RADIANS..=THETA_THRESHOLD_RADIANS).contains(&theta);
        let truncated = self.clock.tick(terminated);
        self.observe();
        Ok(Step {
            observation: &self.obs,
            reward: 1.0,
            terminated,
            truncated,
        })
    }

    fn render(&self) -> Option<Frame> {
        Some(render::cartpole(self.state[0], self.state[2]))
    }
}

impl InternalState for CartPole {
    fn state(&self) -> Vec<f64> {
        self.state.to_vec()
    }

    fn set_state(&mut self, state: &[f64]) -> Result<&[f32]> {
        check_state(state, 4, "CartPole-v1")?;
        self.state.copy_from_slice(state);
        self.clock.start();
        self.observe();
        Ok(&self.obs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn threshold_constant_is_gymnasiums() {
        assert_eq!(THETA_THRESHOLD_RADIANS, 0.20943951023931953);
        assert_eq!(TOTAL_MASS, 1.1);
        assert_eq!(POLEMASS_LENGTH, 0.05);
    }

    #[test]
    fn reset_is_seeded_and_in_range() {
        let mut a = CartPole::new();
        let mut b = CartPole::new();
        assert_eq!(a.reset(Some(7)), b.reset(Some(7)));
        assert!(a.state().iter().all(|v| (-0.05..0.05).contains(v)));
        let first = a.state();
        a.reset(None);
        assert_ne!(
            a.state(),
            first,
            "a reset without seed continues the stream"
        );
        a.reset(Some(7));
        assert_eq!(a.state(), first, "reseeding repeats the episode start");
    }

    #[test]
    fn errors_instead_of_panics() {
        let mut env = CartPole::new();
        assert_eq!(
            env.step(Action::Discrete(0)).unwrap_err().kind(),
            &ErrorKind::NotReset
        );
        env.reset(Some(0));
        assert!(matches!(
            env.step(Action::Discrete(2)).unwrap_err().kind(),
            ErrorKind::ActionOutOfRange { action: 2, n: 2 }
        ));
        // Push right until the pole falls: then stepping again is an error.
        loop {
            let s = env.step(Action::Discrete(1)).unwrap();
            if s.terminated || s.truncated {
                assert!(s.terminated && !s.truncated);
                break;
            }
        }
        assert_eq!(
            env.step(Action::Discrete(1)).unwrap_err().kind(),
            &ErrorKind::EpisodeOver
        );
        assert!(env.set_state(&[0.0; 3]).is_err());
        assert!(env.set_state(&[0.0, f64::NAN, 0.0, 0.0]).is_err());
    }

    #[test]
    fn time_limit_truncates_never_terminates() {
        let mut env = CartPole::new();
        env.reset(Some(3));
        let mut steps = 0;
        loop {
            // The balancing controller from the conformance traces holds the pole.
            let s = env.state();
            let a = usize::from(s[2] + 0.5 * s[3] > 0.0);
            let step = env.step(Action::Discrete(a)).unwrap();
            steps += 1;
            if step.terminated || step.truncated {
                assert!(step.truncated && !step.terminated);
                break;
            }
        }
        assert_eq!(steps, 500);
    }
}
