//! rl-train: the learners. One pipeline for all of them:
//! rollout -> returns/advantages (rl-core's [`rl_core::Advantage`]) -> [`loss::pg_loss`]
//! -> backward -> Adam step -> metrics.
#![warn(missing_docs)]

pub mod loss;
