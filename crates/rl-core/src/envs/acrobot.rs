//! Acrobot-v1, bit for bit as Gymnasium 1.4.0's `AcrobotEnv` (the "book" dynamics).
//!
//! ## Description
//! Two links connected in a chain, the first hanging from a fixed joint; only the joint
//! between the links is actuated. The goal is to swing the free end above a height of one
//! link length above the fixed joint (Sutton, "Generalization in reinforcement learning:
//! successful examples using sparse coarse coding", 1996; Sutton and Barto, 1998).
//!
//! ## Action space
//! `Discrete(3)`: torque -1, 0 or +1 on the actuated joint.
//!
//! ## Observation space
//! `Box(6)`: cos and sin of both joint angles, and the two angular velocities
//! (bounded by 4 pi and 9 pi).
//!
//! ## Rewards
//! -1 per step that does not reach the goal, 0 on the step that does.
//!
//! ## Starting state
//! All four state components uniform in [-0.1, 0.1], rounded to f32 as Gymnasium does.
//! Gymnasium's first observation takes numpy's float32 cos/sin of that state; this one
//! takes the f64 cos/sin rounded to f32 (as the conformance traces do), which may differ
//! in the last f32 bit of the first observation only. The dynamics are unaffected.
//!
//! ## Episode end
//! Terminated when `-cos(theta1) - cos(theta2 + theta1) > 1`; truncated at 500 steps.

use std::f64::consts::PI;
use std::hint::black_box;

use crate::env::{
    Action, Env, EnvSpec, EpisodeClock, InternalState, Step, check_state, discrete_action,
};
use crate::error::Result;
use crate::render::{self, Frame};
use crate::rng::{self, Rng};
use crate::space::Space;

const DT: f64 = 0.2;
const LINK_LENGTH_1: f64 = 1.0;
const LINK_MASS_1: f64 = 1.0;
const LINK_MASS_2: f64 = 1.0;
const LINK_COM_POS_1: f64 = 0.5;
const LINK_COM_POS_2: f64 = 0.5;
const LINK_MOI: f64 = 1.0;
const G: f64 = 9.8;
const MAX_VEL_1: f64 = 4.0 * PI;
const MAX_VEL_2: f64 = 9.0 * PI;
const AVAIL_TORQUE: [f64; 3] = [-1.0, 0.0, 1.0];
const MAX_EPISODE_STEPS: usize = 500;

/// `x**2` as numpy evaluates it for float64: C `pow(x, 2.0)`, which differs from `x * x`
/// in the last bit on about 0.08% of arguments. `black_box` stops rustc from folding the
/// call into a multiplication in release builds.
#[inline]
pub(crate) fn pow2(x: f64) -> f64 {
    x.powf(black_box(2.0))
}

/// Acrobot-v1 with its 500-step time limit.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Acrobot {
    state: [f64; 4],
    obs: [f32; 6],
    rng: Rng,
    clock: EpisodeClock,
}

impl Default for Acrobot {
    fn default() -> Self {
        Self::new()
    }
}

/// `_dsdt`: the time derivative of `[theta1, theta2, dtheta1, dtheta2, torque]`.
#[inline]
fn dsdt(s: [f64; 5]) -> [f64; 5] {
    let (m1, m2, l1, lc1, lc2) = (
        LINK_MASS_1,
        LINK_MASS_2,
        LINK_LENGTH_1,
        LINK_COM_POS_1,
        LINK_COM_POS_2,
    );
    let (i1, i2) = (LINK_MOI, LINK_MOI);
    let [theta1, theta2, dtheta1, dtheta2, a] = s;
    // Products of constants alone are exact; the terms are summed in source order.
    let d1 =
        m1 * (lc1 * lc1) + m2 * ((l1 * l1 + lc2 * lc2) + 2.0 * l1 * lc2 * theta2.cos()) + i1 + i2;
    let d2 = m2 * (lc2 * lc2 + l1 * lc2 * theta2.cos()) + i2;
    let phi2 = m2 * lc2 * G * (theta1 + theta2 - PI / 2.0).cos();
    let phi1 = -m2 * l1 * lc2 * pow2(dtheta2) * theta2.sin()
        - 2.0 * m2 * l1 * lc2 * dtheta2 * dtheta1 * theta2.sin()
        + (m1 * lc1 + m2 * l1) * G * (theta1 - PI / 2.0).cos()
        + phi2;
    let ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * pow2(dtheta1) * theta2.sin() - phi2)
        / (m2 * (lc2 * lc2) + i2 - pow2(d2) / d1);
    let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
    [dtheta1, dtheta2, ddtheta1, ddtheta2, 0.0]
}

/// One classic RK4 step of length `DT`, component by component in Gymnasium's order.
#[inline]
fn rk4(y0: [f64; 5]) -> [f64; 5] {
    let dt = DT - 0.0;
    let dt2 = dt / 2.0;
    let add = |y: [f64; 5], h: f64, k: [f64; 5]| std::array::from_fn(|i| y[i] + h * k[i]);
    let k1 = dsdt(y0);
    let k2 = dsdt(add(y0, dt2, k1));
    let k3 = dsdt(add(y0, dt2, k2));
    let k4 = dsdt(add(y0, dt, k3));
    std::array::from_fn(|i| y0[i] + dt / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
}

/// Gymnasium's `wrap`: strict comparisons, so +-pi stay as they are.
fn wrap(mut x: f64, m: f64, big_m: f64) -> f64 {
    let diff = big_m - m;
    while x > big_m {
        x -= diff;
    }
    while x < m {
        x += diff;
    }
    x
}

/// Gymnasium's `bound`: `min(max(x, m), M)`.
fn bound(x: f64, m: f64, big_m: f64) -> f64 {
    x.clamp(m, big_m)
}

impl Acrobot {
    /// An Acrobot-v1 with Gymnasium's time limit; call [`Env::reset`] before stepping.
    pub fn new() -> Self {
        Self {
            state: [0.0; 4],
            obs: [0.0; 6],
            rng: rng::from_entropy(),
            clock: EpisodeClock::new(Some(MAX_EPISODE_STEPS)),
        }
    }

    fn observe(&mut self) {
        let [t1, t2, d1, d2] = self.state;
        self.obs = [t1.cos(), t1.sin(), t2.cos(), t2.sin(), d1, d2].map(|v| v as f32);
    }
}

impl Env for Acrobot {
    fn spec(&self) -> EnvSpec {
        let high = [1.0, 1.0, 1.0, 1.0, MAX_VEL_1 as f32, MAX_VEL_2 as f32];
        EnvSpec::new(
            "Acrobot-v1",
            Space::boxed(high.map(|h| -h).to_vec(), high.to_vec()),
            Space::Discrete { n: 3 },
        )
        .with_time_limit(self.clock.limit())
        .with_reward_threshold(-100.0)
        .with_render_fps(15)
    }

    fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        if let Some(seed) = seed {
            self.rng = rng::seeded(seed);
        }
        for s in &mut self.state {
            // Gymnasium samples in f64 and stores the state as float32.
            *s = f64::from(rng::uniform(&mut self.rng, -0.1, 0.1) as f32);
        }
        self.clock.start();
        self.observe();
        &self.obs
    }

    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        self.clock.check()?;
        let torque = AVAIL_TORQUE[discrete_action(action, 3)?];
        let [t1, t2, d1, d2] = self.state;
        let ns = rk4([t1, t2, d1, d2, torque]);
        // Wrapping and bounding happen after the full RK4 step, never inside it.
        self.state = [
            wrap(ns[0], -PI, PI),
            wrap(ns[1], -PI, PI),
            bound(ns[2], -MAX_VEL_1, MAX_VEL_1),
            bound(ns[3], -MAX_VEL_2, MAX_VEL_2),
        ];
        let [t1, t2, _, _] = self.state;
        let terminated = -t1.cos() - (t2 + t1).cos() > 1.0;
        let reward = if terminated { 0.0 } else { -1.0 };
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
        // Gymnasium holds the state as float32 from a reset until the first step; a
        // state set by hand with values float32 cannot hold is float64.
        let held_as_f32 =
            self.clock.elapsed() == 0 && self.state.iter().all(|&v| f64::from(v as f32) == v);
        Some(render::acrobot(self.state[0], self.state[1], held_as_f32))
    }
}

impl InternalState for Acrobot {
    fn state(&self) -> Vec<f64> {
        self.state.to_vec()
    }

    fn set_state(&mut self, state: &[f64]) -> Result<&[f32]> {
        check_state(state, 4, "Acrobot-v1")?;
        self.state.copy_from_slice(state);
        self.clock.start();
        self.observe();
        Ok(&self.obs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_constants_are_the_specs() {
        assert_eq!(
            (LINK_MASS_1 * LINK_COM_POS_1 + LINK_MASS_2 * LINK_LENGTH_1) * G,
            14.700000000000001
        );
        assert_eq!(LINK_MASS_2 * LINK_COM_POS_2 * G, 4.9);
        assert_eq!(MAX_VEL_1, 12.566370614359172);
        assert_eq!(MAX_VEL_2, 28.274333882308138);
    }

    #[test]
    fn wrap_keeps_pi_and_wraps_beyond() {
        assert_eq!(wrap(PI, -PI, PI), PI);
        assert_eq!(wrap(-PI, -PI, PI), -PI);
        assert!((wrap(PI + 0.5, -PI, PI) - (0.5 - PI)).abs() < 1e-12);
    }

    #[test]
    fn reset_state_is_f32_representable() {
        let mut env = Acrobot::new();
        env.reset(Some(1));
        for v in env.state() {
            assert_eq!(f64::from(v as f32), v);
            assert!((-0.1..0.1).contains(&v));
        }
    }
}
