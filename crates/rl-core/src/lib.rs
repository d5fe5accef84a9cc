//! rl-core: environments with Gymnasium's contract, vectorised stepping, and the
//! return and advantage maths. No Burn, no I/O, no global random state.
//!
//! The principal types:
//! - [`Env`], implemented by [`CartPole`], [`Acrobot`], [`MountainCar`],
//!   [`MountainCarContinuous`], [`Pendulum`] and [`Bandit`]; [`EnvId`] makes them by name
//!   and [`AnyEnv`] holds any of them. Each matches Gymnasium 1.4.0 bit for bit.
//! - [`VecEnv`]: N copies stepped in one call, with automatic reset.
//! - [`Advantage`]: the advantage estimator (Monte-Carlo, baseline, TD(0), GAE), with
//!   [`discounted_returns`] and [`normalize_in_place`].
//! - [`Normalizer`]: running normalisation of observations and rewards (SB3's
//!   `VecNormalize`).
//!
//! ```
//! use rl_core::{Action, CartPole, Env};
//!
//! let mut env = CartPole::new();
//! let mut obs = env.reset(Some(0)).to_vec();
//! let mut total = 0.0;
//! loop {
//!     // Push the cart towards the side the pole leans to.
//!     let action = if obs[2] + 0.5 * obs[3] > 0.0 { 1 } else { 0 };
//!     let step = env.step(Action::Discrete(action)).unwrap();
//!     total += step.reward;
//!     obs.copy_from_slice(step.observation);
//!     if step.terminated || step.truncated {
//!         break;
//!     }
//! }
//! assert_eq!(total, 500.0);
//! ```
#![warn(missing_docs)]

mod advantage;
mod env;
mod envs;
mod error;
pub mod normalize;
pub mod render;
pub mod rng;
mod space;
mod vec_env;

pub use advantage::{Advantage, Batch, Estimates, discounted_returns, normalize_in_place};
pub use env::{Action, Env, EnvSpec, Step};
pub use envs::{
    Acrobot, AnyEnv, BANDIT_DEFAULT_PROBS, Bandit, CartPole, EnvId, MountainCar,
    MountainCarContinuous, Pendulum,
};
pub use error::{Error, ErrorKind, Result};
pub use normalize::Normalizer;
pub use space::Space;
pub use vec_env::{Actions, EpisodeEnd, VecEnv, VecEnvState};
