//! Pendulum-v1, bit for bit as Gymnasium 1.4.0's `PendulumEnv`.
//!
//! ## Description
//! The inverted pendulum swing-up: a pendulum attached at one end to a fixed point
//! starts in a random position; the goal is to swing it upright and keep it there with
//! a limited torque (the classic control problem, e.g. Doya, "Reinforcement learning in
//! continuous time and space", 2000).
//!
//! ## Action space
//! `Box(1)` in [-2, 2]: the torque; larger values are clipped.
//!
//! ## Observation space
//! `Box(3)`: cos(theta), sin(theta), angular velocity in [-8, 8].
//!
//! ## Rewards
//! `-(normalised_theta^2 + 0.1 theta_dot^2 + 0.001 torque^2)`, computed on the state
//! before the step and the clipped torque.
//!
//! ## Starting state
//! theta uniform in [-pi, pi], theta_dot uniform in [-1, 1].
//!
//! ## Episode end
//! Never terminated; truncated at 200 steps. theta is never wrapped in the state.

use std::f64::consts::PI;

use crate::env::{
    Action, Env, EnvSpec, EpisodeClock, InternalState, Step, check_state, scalar_action,
};
use crate::envs::acrobot::pow2;
use crate::error::Result;
use crate::render::{self, Frame};
use crate::rng::{self, Rng};
use crate::space::Space;

const MAX_SPEED: f64 = 8.0;
const MAX_TORQUE: f64 = 2.0;
const DT: f64 = 0.05;
const G: f64 = 10.0;
const M: f64 = 1.0;
const L: f64 = 1.0;
const MAX_EPISODE_STEPS: usize = 200;

/// `((x + pi) % (2 pi)) - pi` with Python's floor modulo.
fn angle_normalize(x: f64) -> f64 {
    (x + PI).rem_euclid(2.0 * PI) - PI
}

/// Pendulum-v1 with its 200-step time limit.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Pendulum {
    state: [f64; 2],
    obs: [f32; 3],
    rng: Rng,
    clock: EpisodeClock,
    /// The clipped torque of the last step (Gymnasium's `last_u`, a float32 there),
    /// which the rendered frame shows as an arrow; `None` after a reset.
    #[serde(default)]
    last_u: Option<f32>,
}

impl Default for Pendulum {
    fn default() -> Self {
        Self::new()
    }
}

impl Pendulum {
    /// A Pendulum-v1 with Gymnasium's time limit; call [`Env::reset`] before stepping.
    pub fn new() -> Self {
        Self {
            state: [0.0; 2],
            obs: [0.0; 3],
            rng: rng::from_entropy(),
            clock: EpisodeClock::new(Some(MAX_EPISODE_STEPS)),
            last_u: None,
        }
    }

    fn observe(&mut self) {
        let [th, thdot] = self.state;
        self.obs = [th.cos() as f32, th.sin() as f32, thdot as f32];
    }
}

impl Env for Pendulum {
    fn spec(&self) -> EnvSpec {
        let high = vec![1.0, 1.0, MAX_SPEED as f32];
        EnvSpec::new(
            "Pendulum-v1",
            Space::boxed(high.iter().map(|h| -h).collect(), high),
            Space::boxed(vec![-MAX_TORQUE as f32], vec![MAX_TORQUE as f32]),
        )
        .with_time_limit(self.clock.limit())
        .with_render_fps(30)
    }

    fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        if let Some(seed) = seed {
            self.rng = rng::seeded(seed);
        }
        self.state = [
            rng::uniform(&mut self.rng, -PI, PI),
            rng::uniform(&mut self.rng, -1.0, 1.0),
        ];
        self.clock.start();
        self.last_u = None;
        self.observe();
        &self.obs
    }

    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        self.clock.check()?;
        let u = scalar_action(action)?.clamp(-MAX_TORQUE, MAX_TORQUE);
        let [th, thdot] = self.state;
        // numpy's float64 `**2` is libm pow, not a multiplication.
        let costs = pow2(angle_normalize(th)) + 0.1 * pow2(thdot) + 0.001 * pow2(u);
        let newthdot = thdot + (3.0 * G / (2.0 * L) * th.sin() + 3.0 / (M * (L * L)) * u) * DT;
        let newthdot = newthdot.clamp(-MAX_SPEED, MAX_SPEED);
        let newth = th + newthdot * DT;
        self.state = [newth, newthdot];
        // The action arrives as f32 widened exactly, so the clipped torque is an f32.
        self.last_u = Some(u as f32);
        let truncated = self.clock.tick(false);
        self.observe();
        Ok(Step {
            observation: &self.obs,
            reward: -costs,
            terminated: false,
            truncated,
        })
    }

    fn render(&self) -> Option<Frame> {
        Some(render::pendulum(self.state[0], self.last_u))
    }
}

impl InternalState for Pendulum {
    fn state(&self) -> Vec<f64> {
        self.state.to_vec()
    }

    fn set_state(&mut self, state: &[f64]) -> Result<&[f32]> {
        check_state(state, 2, "Pendulum-v1")?;
        self.state.copy_from_slice(state);
        self.clock.start();
        self.last_u = None;
        self.observe();
        Ok(&self.obs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angle_normalize_matches_python_floor_modulo() {
        // Python: ((x + pi) % (2*pi)) - pi
        assert_eq!(angle_normalize(0.0), 0.0);
        assert_eq!(angle_normalize(PI), -PI);
        assert!((angle_normalize(3.0 * PI / 2.0) - (-PI / 2.0)).abs() < 1e-15);
        assert!((angle_normalize(-3.0 * PI / 2.0) - (PI / 2.0)).abs() < 1e-15);
    }

    #[test]
    fn never_terminates() {
        let mut env = Pendulum::new();
        env.reset(Some(0));
        for t in 1..=200 {
            let s = env.step(Action::Continuous(&[5.0])).unwrap();
            assert!(!s.terminated);
            assert_eq!(s.truncated, t == 200);
        }
    }
}
