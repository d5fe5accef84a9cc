//! The batch-level environment interface: what every learner, evaluation and tool steps.
//!
//! [`VectorEnv`] is Stable-Baselines3's `VecEnv` and Gymnasium's `VectorEnv`: a fixed
//! number of environments with the same spaces, reset and stepped together, one call per
//! batch step, their observations in one contiguous f32 buffer. An episode that ends is
//! reset within the same step (Gymnasium's `SAME_STEP` autoreset): the observations then
//! hold the next episode's first observation, and the final observation of the episode
//! that ended stays in [`final_observations`](VectorEnv::final_observations), so that a
//! learner can bootstrap a truncated episode from `V(final observation)`.
//!
//! [`VecEnv`](crate::VecEnv) implements it for any [`Env`](crate::Env); another
//! implementation (Python's Gymnasium, say) only has to keep the same contract.

use crate::env::EnvSpec;
use crate::error::{Error, ErrorKind, Result};
use crate::render::Frame;

/// One action per environment, in one contiguous buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Actions<'a> {
    /// Integer actions: one index per environment for a discrete space, one per
    /// component for a multi-discrete or multi-binary one (`n_envs *`
    /// [`action_width`](crate::Space::action_width) values, environment after
    /// environment).
    Discrete(&'a [usize]),
    /// `n_envs * action_dim` values of a box, row-major.
    Continuous(&'a [f32]),
}

/// An episode that ended during the last step (Gymnasium's `RecordEpisodeStatistics`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpisodeEnd {
    /// Which environment.
    pub env: usize,
    /// The sum of the episode's rewards, added in f64 in step order.
    pub episodic_return: f64,
    /// The number of steps.
    pub episodic_length: usize,
    /// Whether it ended by termination (else by truncation only).
    pub terminated: bool,
}

/// Environments stepped together, one call per batch step.
///
/// After [`reset`](Self::reset) or [`step`](Self::step): `observations` holds
/// `num_envs * obs_dim` values (`obs_dim` the observation space's
/// [`flat_dim`](crate::Space::flat_dim)); `rewards`, `terminated` and `truncated` one
/// value per environment (of the last step); `final_observations` the observation each
/// environment's last step produced, before any automatic reset (equal to
/// `observations` for an environment whose episode goes on); `finished` the episodes that
/// ended in the last step.
pub trait VectorEnv: Send {
    /// The spaces and episode rules, shared by every environment.
    fn spec(&self) -> &EnvSpec;

    /// The number of environments (at least one).
    fn num_envs(&self) -> usize;

    /// Starts an episode in every environment: with `Some(seed)`, environment `i` is
    /// seeded with `seed + i` (Gymnasium's convention); with `None` each continues its own
    /// generator's stream.
    fn reset(&mut self, seed: Option<u64>) -> Result<()>;

    /// Starts a new episode in environment `i` alone, continuing its stream.
    fn reset_one(&mut self, i: usize) -> Result<()>;

    /// Steps every environment with its action, resetting those whose episode ends. An
    /// action that does not fit the action space is an error that moves nothing.
    fn step(&mut self, actions: Actions<'_>) -> Result<()>;

    /// The current observations (after an episode end, the next episode's first).
    fn observations(&self) -> &[f32];

    /// The observations the last step produced, before any automatic reset.
    fn final_observations(&self) -> &[f32];

    /// The last step's rewards.
    fn rewards(&self) -> &[f32];

    /// The last step's `terminated` flags.
    fn terminated(&self) -> &[bool];

    /// The last step's `truncated` flags.
    fn truncated(&self) -> &[bool];

    /// The episodes that ended in the last step, in environment order.
    fn finished(&self) -> &[EpisodeEnd];

    /// The actions allowed at the current observations, `num_envs *`
    /// [`mask_width`](crate::Space::mask_width) flags (see
    /// [`Env::action_mask`](crate::Env::action_mask)); `None` when every action is
    /// always allowed.
    fn action_masks(&self) -> Option<&[bool]> {
        None
    }

    /// Environment `i`'s current state drawn as a frame, with the agent's action
    /// probabilities where the environment draws them (the bandit's bars); `None` for an
    /// environment that cannot be drawn.
    fn render(&self, i: usize, policy: Option<&[f32]>) -> Option<Frame> {
        let _ = (i, policy);
        None
    }

    /// Turns the automatic reset off (or on again): an environment whose episode ends
    /// then stays at its final state, which [`render`](Self::render) draws, until
    /// [`reset_one`](Self::reset_one) or [`reset`](Self::reset) starts another (Gymnasium's
    /// `DISABLED` autoreset mode). What `rl render` plays an episode with; an error where
    /// the implementation always resets.
    fn set_autoreset(&mut self, on: bool) -> Result<()> {
        if on {
            return Ok(());
        }
        Err(Error::new(ErrorKind::Unsupported(format!(
            "{} always resets an ended episode",
            self.spec().id
        ))))
    }

    /// Everything the environments hold (their states, generators and episode
    /// bookkeeping) as bytes that [`restore`](Self::restore) continues from exactly;
    /// `None` for environments that cannot be saved.
    fn snapshot(&self) -> Option<Result<Vec<u8>>> {
        None
    }

    /// Continues from a [`snapshot`](Self::snapshot): afterwards every call returns what
    /// it would have returned after the snapshot was taken.
    fn restore(&mut self, snapshot: &[u8]) -> Result<()> {
        let _ = snapshot;
        Err(Error::new(ErrorKind::Unsupported(format!(
            "{} cannot restore a snapshot",
            self.spec().id
        ))))
    }
}

impl<V: VectorEnv + ?Sized> VectorEnv for Box<V> {
    fn spec(&self) -> &EnvSpec {
        (**self).spec()
    }
    fn num_envs(&self) -> usize {
        (**self).num_envs()
    }
    fn reset(&mut self, seed: Option<u64>) -> Result<()> {
        (**self).reset(seed)
    }
    fn reset_one(&mut self, i: usize) -> Result<()> {
        (**self).reset_one(i)
    }
    fn step(&mut self, actions: Actions<'_>) -> Result<()> {
        (**self).step(actions)
    }
    fn observations(&self) -> &[f32] {
        (**self).observations()
    }
    fn final_observations(&self) -> &[f32] {
        (**self).final_observations()
    }
    fn rewards(&self) -> &[f32] {
        (**self).rewards()
    }
    fn terminated(&self) -> &[bool] {
        (**self).terminated()
    }
    fn truncated(&self) -> &[bool] {
        (**self).truncated()
    }
    fn finished(&self) -> &[EpisodeEnd] {
        (**self).finished()
    }
    fn action_masks(&self) -> Option<&[bool]> {
        (**self).action_masks()
    }
    fn render(&self, i: usize, policy: Option<&[f32]>) -> Option<Frame> {
        (**self).render(i, policy)
    }
    fn set_autoreset(&mut self, on: bool) -> Result<()> {
        (**self).set_autoreset(on)
    }
    fn snapshot(&self) -> Option<Result<Vec<u8>>> {
        (**self).snapshot()
    }
    fn restore(&mut self, snapshot: &[u8]) -> Result<()> {
        (**self).restore(snapshot)
    }
}

impl std::fmt::Debug for dyn VectorEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorEnv")
            .field("id", &self.spec().id)
            .field("num_envs", &self.num_envs())
            .finish_non_exhaustive()
    }
}
