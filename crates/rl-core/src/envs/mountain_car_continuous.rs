//! MountainCarContinuous-v0, bit for bit as Gymnasium 1.4.0's
//! `Continuous_MountainCarEnv`, including numpy 2's float32 promotion rules.
//!
//! ## Description
//! The continuous-action version of MountainCar: reach the flag at 0.45 on the right
//! hill while spending as little energy as possible (Moore, 1990).
//!
//! ## Action space
//! `Box(1)` in [-1, 1]: the force. Larger values are clipped for the dynamics, but the
//! energy penalty uses the unclipped action.
//!
//! ## Observation space
//! `Box(2)`: position in [-1.2, 0.6] and velocity in [-0.07, 0.07].
//!
//! ## Rewards
//! `-0.1 * action^2` per step, plus 100 on reaching the goal.
//!
//! ## Starting state
//! Position uniform in [-0.6, -0.4], velocity 0, in f64.
//!
//! ## Episode end
//! Terminated when position >= 0.45 and velocity >= 0; truncated at 999 steps.
//!
//! ## Float32 semantics
//! After every step Gymnasium stores the state as a float32 array, so the next step
//! computes with numpy float32 scalars: a float32 combined with a Python float stays
//! float32, combined with a numpy float64 it is promoted. Whether the force is a numpy
//! float64 or a Python float depends on clipping. [`MountainCarContinuous::step`] follows
//! the nine rules of the conformance specification literally; each value carries its
//! numpy dtype as a [`Num`].

use std::hint::black_box;

use crate::env::{
    Action, Env, EnvSpec, EpisodeClock, InternalState, Step, check_state, scalar_action,
};
use crate::error::Result;
use crate::render::{self, Frame};
use crate::rng::{self, Rng};
use crate::space::Space;

const MIN_ACTION: f64 = -1.0;
const MAX_ACTION: f64 = 1.0;
const MIN_POSITION: f64 = -1.2;
const MAX_POSITION: f64 = 0.6;
const MAX_SPEED: f64 = 0.07;
const GOAL_POSITION: f64 = 0.45;
const GOAL_VELOCITY: f64 = 0.0;
const POWER: f64 = 0.0015;
const MAX_EPISODE_STEPS: usize = 999;

/// A scalar with the numpy dtype it would have in Gymnasium.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
enum Num {
    /// A numpy float64 or a Python float.
    F64(f64),
    /// A numpy float32.
    F32(f32),
}

impl Num {
    fn value(self) -> f64 {
        match self {
            Num::F64(v) => v,
            Num::F32(v) => f64::from(v),
        }
    }

    /// `self > c` with `c` a Python float: a float32 compares with `f32(c)`.
    fn gt(self, c: f64) -> bool {
        match self {
            Num::F64(v) => v > c,
            Num::F32(v) => v > c as f32,
        }
    }

    fn lt(self, c: f64) -> bool {
        match self {
            Num::F64(v) => v < c,
            Num::F32(v) => v < c as f32,
        }
    }

    fn ge(self, c: f64) -> bool {
        match self {
            Num::F64(v) => v >= c,
            Num::F32(v) => v >= c as f32,
        }
    }

    fn eq(self, c: f64) -> bool {
        match self {
            Num::F64(v) => v == c,
            Num::F32(v) => v == c as f32,
        }
    }
}

/// MountainCarContinuous-v0 with its 999-step time limit.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct MountainCarContinuous {
    /// Position and velocity: f64 right after a reset, f32 after any step.
    position: Num,
    velocity: Num,
    obs: [f32; 2],
    rng: Rng,
    clock: EpisodeClock,
}

impl Default for MountainCarContinuous {
    fn default() -> Self {
        Self::new()
    }
}

impl MountainCarContinuous {
    /// A MountainCarContinuous-v0 with Gymnasium's time limit; call [`Env::reset`] first.
    pub fn new() -> Self {
        Self {
            position: Num::F64(0.0),
            velocity: Num::F64(0.0),
            obs: [0.0; 2],
            rng: rng::from_entropy(),
            clock: EpisodeClock::new(Some(MAX_EPISODE_STEPS)),
        }
    }

    fn observe(&mut self) {
        self.obs = [self.position.value() as f32, self.velocity.value() as f32];
    }
}

impl Env for MountainCarContinuous {
    fn spec(&self) -> EnvSpec {
        EnvSpec::new(
            "MountainCarContinuous-v0",
            Space::boxed(
                vec![MIN_POSITION as f32, -MAX_SPEED as f32],
                vec![MAX_POSITION as f32, MAX_SPEED as f32],
            ),
            Space::boxed(vec![MIN_ACTION as f32], vec![MAX_ACTION as f32]),
        )
        .with_time_limit(self.clock.limit())
        .with_reward_threshold(90.0)
        .with_render_fps(30)
    }

    fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        if let Some(seed) = seed {
            self.rng = rng::seeded(seed);
        }
        self.position = Num::F64(rng::uniform(&mut self.rng, -0.6, -0.4));
        self.velocity = Num::F64(0.0);
        self.clock.start();
        self.observe();
        &self.obs
    }

    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        self.clock.check()?;
        let a = scalar_action(action)?;
        // Rule 1: in range, the force is a numpy float64; clipped, a Python float.
        let in_range = (MIN_ACTION..=MAX_ACTION).contains(&a);
        let force = a.clamp(MIN_ACTION, MAX_ACTION);
        // Rule 2: `3 * position` is a float32 multiply on a float32 state.
        let arg = match self.position {
            Num::F64(p) => 3.0 * p,
            Num::F32(p) => f64::from(3.0_f32 * p),
        };
        // Rule 3.
        let rhs = force * POWER - 0.0025 * arg.cos();
        // Rule 4.
        let mut velocity = match self.velocity {
            Num::F32(v) if !in_range => Num::F32(v + rhs as f32),
            v => Num::F64(v.value() + rhs),
        };
        // Rule 5: a clipped velocity becomes the Python float +-0.07.
        let mut clipped = false;
        if velocity.gt(MAX_SPEED) {
            velocity = Num::F64(MAX_SPEED);
            clipped = true;
        }
        if velocity.lt(-MAX_SPEED) {
            velocity = Num::F64(-MAX_SPEED);
            clipped = true;
        }
        // Rule 6.
        let mut position = match (self.position, velocity) {
            (Num::F64(p), v) => Num::F64(p + v.value()),
            (Num::F32(p), Num::F64(v)) if clipped => Num::F32(p + v as f32),
            (Num::F32(p), Num::F64(v)) => Num::F64(f64::from(p) + v),
            (Num::F32(p), Num::F32(v)) => Num::F32(p + v),
        };
        // Rule 7: clipped positions become Python floats.
        if position.gt(MAX_POSITION) {
            position = Num::F64(MAX_POSITION);
        }
        if position.lt(MIN_POSITION) {
            position = Num::F64(MIN_POSITION);
        }
        if position.eq(MIN_POSITION) && velocity.value() < 0.0 {
            velocity = Num::F64(0.0);
        }
        // Rule 8.
        let terminated = position.ge(GOAL_POSITION) && velocity.value() >= GOAL_VELOCITY;
        let mut reward = if terminated { 100.0 } else { 0.0 };
        // The energy penalty uses the unclipped action and libm's pow.
        reward -= a.powf(black_box(2.0)) * 0.1;
        // Rule 9: the stored state is float32.
        self.position = Num::F32(position.value() as f32);
        self.velocity = Num::F32(velocity.value() as f32);
        let truncated = self.clock.tick(terminated);
        self.observe();
        Ok(Step {
            observation: &self.obs,
            reward,
            terminated,
            truncated,
        })
    }

    fn render(&self) -> Option<Frame> {
        let held_as_f32 = matches!(self.position, Num::F32(_));
        Some(render::mountain_car(
            self.position.value(),
            GOAL_POSITION,
            held_as_f32,
        ))
    }
}

impl InternalState for MountainCarContinuous {
    fn state(&self) -> Vec<f64> {
        vec![self.position.value(), self.velocity.value()]
    }

    /// Sets an f64 state, as the traces do: the next step computes in f64 (`wide`).
    fn set_state(&mut self, state: &[f64]) -> Result<&[f32]> {
        check_state(state, 2, "MountainCarContinuous-v0")?;
        self.position = Num::F64(state[0]);
        self.velocity = Num::F64(state[1]);
        self.clock.start();
        self.observe();
        Ok(&self.obs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_action_costs_positive_zero() {
        let mut env = MountainCarContinuous::new();
        env.set_state(&[-0.5, 0.0]).unwrap();
        let s = env.step(Action::Continuous(&[0.0])).unwrap();
        assert_eq!(s.reward.to_bits(), 0.0_f64.to_bits());
    }

    #[test]
    fn penalty_uses_the_unclipped_action() {
        let mut env = MountainCarContinuous::new();
        env.set_state(&[-0.5, 0.0]).unwrap();
        let s = env.step(Action::Continuous(&[-5.0])).unwrap();
        assert!((s.reward - (-2.5)).abs() < 1e-12);
        let state = env.state();
        assert_eq!(
            f64::from(state[0] as f32),
            state[0],
            "state is float32 after a step"
        );
    }
}
