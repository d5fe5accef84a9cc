//! rl-train: the learners. One pipeline for all of them:
//! rollout -> returns/advantages (rl-core's [`rl_core::Advantage`]) -> [`loss::pg_loss`]
//! -> backward -> Adam step -> metrics.
//!
//! [`Learner`] runs it; [`TrainConfig`] holds every hyperparameter (the lesson's by
//! default) and is validated once. Only this crate calls `backward()` or touches an
//! optimiser.
#![warn(missing_docs)]

mod actor;
pub mod checkpoint;
pub mod collective;
mod config;
pub mod credit;
mod env_source;
mod error;
pub mod grad_clip;
#[cfg(debug_assertions)]
#[doc(hidden)]
pub mod instantiate;
mod learner;
pub mod loss;
pub mod memory;
mod optim;
pub mod presets;
mod registry;
mod report;
pub mod rollout;

pub use actor::{Acting, Actor, Agent, head_for};
pub use config::{Algo, ConfigError, Recipe, TrainConfig};
pub use env_source::EnvSource;
pub use error::TrainError;
pub use learner::{Learner, LearnerState, WorkerState, fresh_normalizer, model_config};
pub use optim::{OptimizerKind, OptimizerSettings};
pub use registry::Registry;
pub use report::{EpisodeRecord, UpdateReport};
