//! What can stop training.

use crate::collective::CollectiveError;
use crate::config::ConfigError;

/// Errors of training.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An environment refused a step or a reset, or broke its contract (panicked,
    /// returned a non-finite value, an observation of the wrong length or a mask that
    /// allows nothing); nothing it returned was learned from.
    #[error("{0}")]
    Env(#[from] rl_core::Error),
    /// A saved learner state could not be taken or does not fit its configuration.
    #[error("learner state: {0}")]
    State(String),
    /// The loss or a gradient became NaN or infinite. The learner must not be used
    /// afterwards: continue from the last state taken before it.
    #[error(
        "update {update}: the loss is not finite (policy {policy_loss}, value {value_loss}, entropy {entropy}); training stopped"
    )]
    NonFinite {
        /// The update that failed (1-based).
        update: u64,
        /// The policy loss.
        policy_loss: f32,
        /// The value loss.
        value_loss: f32,
        /// The entropy.
        entropy: f32,
    },
    /// The configuration cannot be split over the run's workers.
    #[error("{0}")]
    Workers(String),
    /// A collective operation failed: a worker is gone or the workers disagree.
    #[error("data-parallel training stopped: {0}")]
    Collective(#[from] CollectiveError),
}
