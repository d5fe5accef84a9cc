//! rl-core: environments with Gymnasium's contract, vectorised stepping, and the
//! return and advantage maths. No Burn, no I/O, no global random state.
//!
//! The principal types:
//! - [`Env`]: one environment (`spec`, `reset`, `step`; optionally action masks and
//!   frames), implemented by [`CartPole`], [`Acrobot`], [`MountainCar`],
//!   [`MountainCarContinuous`], [`Pendulum`] and [`Bandit`] ([`Builtin`] lists them),
//!   each matching Gymnasium 1.4.0 bit for bit, and by any environment of yours.
//! - [`VectorEnv`]: environments stepped together, what every learner and tool steps
//!   (SB3's `VecEnv`, Gymnasium's `VectorEnv`); [`VecEnv`] is it for any [`Env`].
//! - [`Space`]: `Discrete`, `Box`, `MultiDiscrete`, `MultiBinary`, `Tuple`, `Dict`.
//! - [`Advantage`]: the advantage estimator (Monte-Carlo, baseline, TD(0), GAE), with
//!   [`discounted_returns`] and [`normalize_in_place`].
//! - [`Normalizer`]: running normalisation of observations and rewards (SB3's
//!   `VecNormalize`).
//!
//! An environment of your own is three methods. This one is a corridor: walk right to
//! the goal at position 5, in at most 20 steps.
//!
//! ```
//! use rl_core::{Action, Actions, Env, EnvSpec, Result, Space, Step, VecEnv, VectorEnv};
//!
//! #[derive(Clone, Default)]
//! struct Corridor {
//!     position: f32,
//!     steps: usize,
//!     obs: [f32; 1],
//! }
//!
//! impl Env for Corridor {
//!     fn spec(&self) -> EnvSpec {
//!         EnvSpec::new("Corridor-v0", Space::boxed(vec![0.0], vec![5.0]), Space::Discrete { n: 2 })
//!             .with_time_limit(20)
//!     }
//!
//!     fn reset(&mut self, _seed: Option<u64>) -> &[f32] {
//!         (self.position, self.steps) = (0.0, 0);
//!         self.obs = [self.position];
//!         &self.obs
//!     }
//!
//!     fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
//!         let Action::Discrete(a) = action else { unreachable!("Discrete(2) actions") };
//!         self.position = (self.position + if a == 1 { 1.0 } else { -1.0 }).clamp(0.0, 5.0);
//!         self.steps += 1;
//!         self.obs = [self.position];
//!         Ok(Step {
//!             observation: &self.obs,
//!             reward: if self.position == 5.0 { 1.0 } else { -0.1 },
//!             terminated: self.position == 5.0,
//!             truncated: self.steps == 20,
//!         })
//!     }
//! }
//!
//! // Eight corridors stepped together, always walking right: every episode ends at the
//! // goal after 5 steps.
//! let mut envs = VecEnv::from_fn(8, |_| Corridor::default())?;
//! envs.reset(Some(0))?;
//! for _ in 0..5 {
//!     envs.step(Actions::Discrete(&[1; 8]))?;
//! }
//! assert_eq!(envs.finished().len(), 8);
//! assert!((envs.finished()[0].episodic_return - 0.6).abs() < 1e-9);
//! # Ok::<(), rl_core::Error>(())
//! ```
#![warn(missing_docs)]

mod advantage;
pub mod check;
mod env;
mod envs;
mod error;
pub mod normalize;
pub mod render;
pub mod rng;
mod space;
mod vec_env;
mod vector;

pub use advantage::{Advantage, Batch, Estimates, discounted_returns, normalize_in_place};
pub use check::{CheckReport, Finding, Severity, check_env, check_env_of};
pub use env::{Action, Env, EnvSpec, InternalState, Step};
pub use envs::{
    Acrobot, BANDIT_DEFAULT_PROBS, Bandit, Builtin, CartPole, MountainCar, MountainCarContinuous,
    Pendulum,
};
pub use error::{Error, ErrorKind, Result};
pub use normalize::Normalizer;
pub use space::Space;
pub use vec_env::{VecEnv, VecEnvState, in_environment};
pub use vector::{Actions, EpisodeEnd, VectorEnv};
