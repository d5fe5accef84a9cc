//! MountainCar-v0, bit for bit as Gymnasium 1.4.0's `MountainCarEnv`.
//!
//! ## Description
//! A car starts at the bottom of a sinusoidal valley and must reach the flag on the
//! right hill; its engine is too weak to climb directly, so it must build momentum
//! (Moore, "Efficient memory-based learning for robot control", 1990).
//!
//! ## Action space
//! `Discrete(3)`: accelerate left, do nothing, accelerate right.
//!
//! ## Observation space
//! `Box(2)`: position in [-1.2, 0.6] and velocity in [-0.07, 0.07].
//!
//! ## Rewards
//! -1 per step.
//!
//! ## Starting state
//! Position uniform in [-0.6, -0.4], velocity 0.
//!
//! ## Episode end
//! Terminated when position >= 0.5 and velocity >= 0; truncated at 200 steps.

use crate::env::{
    Action, Env, EnvSpec, EpisodeClock, InternalState, Step, check_state, discrete_action,
};
use crate::error::Result;
use crate::render::{self, Frame};
use crate::rng::{self, Rng};
use crate::space::Space;

const MIN_POSITION: f64 = -1.2;
const MAX_POSITION: f64 = 0.6;
const MAX_SPEED: f64 = 0.07;
const GOAL_POSITION: f64 = 0.5;
const GOAL_VELOCITY: f64 = 0.0;
const FORCE: f64 = 0.001;
const GRAVITY: f64 = 0.0025;
const MAX_EPISODE_STEPS: usize = 200;

/// MountainCar-v0 with its 200-step time limit.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct MountainCar {
    state: [f64; 2],
    obs: [f32; 2],
    rng: Rng,
    clock: EpisodeClock,
}

impl Default for MountainCar {
    fn default() -> Self {
        Self::new()
    }
}

impl MountainCar {
    /// A MountainCar-v0 with Gymnasium's time limit; call [`Env::reset`] before stepping.
    pub fn new() -> Self {
        Self {
            state: [0.0; 2],
            obs: [0.0; 2],
            rng: rng::from_entropy(),
            clock: EpisodeClock::new(Some(MAX_EPISODE_STEPS)),
        }
    }

    fn observe(&mut self) {
        self.obs = self.state.map(|v| v as f32);
    }
}

impl Env for MountainCar {
    fn spec(&self) -> EnvSpec {
        EnvSpec::new(
            "MountainCar-v0",
            Space::boxed(
                vec![MIN_POSITION as f32, -MAX_SPEED as f32],
                vec![MAX_POSITION as f32, MAX_SPEED as f32],
            ),
            Space::Discrete { n: 3 },
        )
        .with_time_limit(self.clock.limit())
        .with_reward_threshold(-110.0)
        .with_render_fps(30)
    }

    fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        if let Some(seed) = seed {
            self.rng = rng::seeded(seed);
        }
        self.state = [rng::uniform(&mut self.rng, -0.6, -0.4), 0.0];
        self.clock.start();
        self.observe();
        &self.obs
    }

    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        self.clock.check()?;
        let action = discrete_action(action, 3)?;
        let [mut position, mut velocity] = self.state;
        // `(action - 1) * force` is one of -0.001, 0.0, 0.001; the right-hand side is
        // computed first, then added.
        velocity += (action as f64 - 1.0) * FORCE + (3.0 * position).cos() * (-GRAVITY);
        velocity = velocity.clamp(-MAX_SPEED, MAX_SPEED);
        position += velocity;
        position = position.clamp(MIN_POSITION, MAX_POSITION);
        if position == MIN_POSITION && velocity < 0.0 {
            velocity = 0.0;
        }
        self.state = [position, velocity];
        let terminated = position >= GOAL_POSITION && velocity >= GOAL_VELOCITY;
        let truncated = self.clock.tick(terminated);
        self.observe();
        Ok(Step {
            observation: &self.obs,
            reward: -1.0,
            terminated,
            truncated,
        })
    }

    fn render(&self) -> Option<Frame> {
        Some(render::mountain_car(self.state[0], GOAL_POSITION, false))
    }
}

impl InternalState for MountainCar {
    fn state(&self) -> Vec<f64> {
        self.state.to_vec()
    }

    fn set_state(&mut self, state: &[f64]) -> Result<&[f32]> {
        check_state(state, 2, "MountainCar-v0")?;
        self.state.copy_from_slice(state);
        self.clock.start();
        self.observe();
        Ok(&self.obs)
    }
}
