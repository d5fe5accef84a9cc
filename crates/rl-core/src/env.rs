//! Gymnasium's environment contract in Rust.
//!
//! `reset(seed)` starts an episode and returns the first observation; `step(action)`
//! returns the next observation, the reward, and the two episode-end flags, which travel
//! separately: `terminated` (the MDP reached a terminal state; nothing follows) and
//! `truncated` (the episode was cut, by a time limit; the state still had a future).

use crate::error::{Error, ErrorKind, Result};
use crate::render::Frame;
use crate::space::Space;

/// An action given to [`Env::step`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action<'a> {
    /// An index into a [`Space::Discrete`] action space.
    Discrete(usize),
    /// A point of a [`Space::Box`] action space. Values outside the box are clipped the
    /// way the environment in Gymnasium clips them. The f32 values are widened exactly
    /// to f64 first: the environments behave as Gymnasium's given a float64 array.
    Continuous(&'a [f32]),
    /// One index per component of a [`Space::MultiDiscrete`] action space, or one 0/1
    /// flag per component of a [`Space::MultiBinary`] one.
    MultiDiscrete(&'a [usize]),
}

/// What one [`Env::step`] returns. The observation borrows the environment's buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step<'a> {
    /// The observation after the step.
    pub observation: &'a [f32],
    /// The reward, in f64 as Gymnasium returns it.
    pub reward: f64,
    /// The episode reached a terminal state of the MDP.
    pub terminated: bool,
    /// The episode was cut by the time limit (both flags may be set on the same step).
    pub truncated: bool,
}

/// The static description of an environment: its spaces and how its episodes end.
///
/// ```
/// use rl_core::{EnvSpec, Space};
///
/// let spec = EnvSpec::new("Reacher-v0", Space::boxed(vec![-1.0; 4], vec![1.0; 4]), Space::Discrete { n: 5 })
///     .with_time_limit(200)
///     .with_reward_threshold(-5.0);
/// assert_eq!(spec.max_episode_steps, Some(200));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EnvSpec {
    /// The environment's id, Gymnasium's where it has one, e.g. `CartPole-v1`.
    pub id: String,
    /// The observation space. Observations are flat f32 vectors of its
    /// [`flat_dim`](Space::flat_dim) values, in Gymnasium's `flatten` order.
    pub observation_space: Space,
    /// The action space.
    pub action_space: Space,
    /// The time limit that sets `truncated`; `None` when episodes end by themselves.
    pub max_episode_steps: Option<usize>,
    /// The average return over 100 episodes at which the task counts as solved
    /// (Gymnasium's `reward_threshold`), if it has one.
    pub reward_threshold: Option<f64>,
    /// Every episode is one step (a bandit): a batch of one episode is one step.
    pub single_step: bool,
    /// The frame rate a rendered episode plays at (Gymnasium's
    /// `metadata["render_fps"]`), for an environment that draws itself.
    pub render_fps: Option<u32>,
}

impl EnvSpec {
    /// An environment with these spaces, no time limit and no reward threshold.
    pub fn new(id: impl Into<String>, observation_space: Space, action_space: Space) -> Self {
        Self {
            id: id.into(),
            observation_space,
            action_space,
            max_episode_steps: None,
            reward_threshold: None,
            single_step: false,
            render_fps: None,
        }
    }

    /// With a time limit: the step that reaches it is `truncated`.
    pub fn with_time_limit(self, steps: impl Into<Option<usize>>) -> Self {
        Self {
            max_episode_steps: steps.into(),
            ..self
        }
    }

    /// With Gymnasium's `reward_threshold`.
    pub fn with_reward_threshold(self, threshold: f64) -> Self {
        Self {
            reward_threshold: Some(threshold),
            ..self
        }
    }

    /// With the frame rate its rendered episodes play at.
    pub fn with_render_fps(self, fps: u32) -> Self {
        Self {
            render_fps: Some(fps),
            ..self
        }
    }

    /// Every episode is one step.
    pub fn with_single_step(self) -> Self {
        Self {
            single_step: true,
            ..self
        }
    }
}

/// An environment with Gymnasium's contract. `spec`, `reset` and `step` are all an
/// environment has to implement; it may also offer action masks and frames.
///
/// Stepping before the first reset, stepping a finished episode, and an action outside
/// the action space's kind, length or (discrete) range are errors, never panics.
pub trait Env {
    /// The spaces and time limit.
    fn spec(&self) -> EnvSpec;

    /// Starts an episode. `Some(seed)` reseeds the environment's generator (Gymnasium's
    /// "seed once"); `None` continues its stream, so one seeded reset makes every later
    /// episode deterministic. An environment never seeded draws its seed from the OS,
    /// as Gymnasium does.
    fn reset(&mut self, seed: Option<u64>) -> &[f32];

    /// Advances the episode by one step.
    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>>;

    /// The actions allowed at the current observation (after `reset` or `step`), one flag
    /// per action of a discrete space, or per action of each component of a
    /// multi-discrete space, the components one after another (sb3-contrib's
    /// `action_masks()`); `None`, the default, allows every action.
    fn action_mask(&self) -> Option<&[bool]> {
        None
    }

    /// The current state drawn as Gymnasium's `render_mode="rgb_array"` draws it (see
    /// [`render`](crate::render)); `None`, the default, for an environment that cannot
    /// be drawn.
    fn render(&self) -> Option<Frame> {
        None
    }

    /// [`render`](Self::render), with the agent's action probabilities drawn too where
    /// the environment shows them (the bandit's bars); the default ignores them.
    fn render_with_policy(&self, policy: Option<&[f32]>) -> Option<Frame> {
        let _ = policy;
        self.render()
    }
}

impl<E: Env + ?Sized> Env for Box<E> {
    fn spec(&self) -> EnvSpec {
        (**self).spec()
    }
    fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        (**self).reset(seed)
    }
    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        (**self).step(action)
    }
    fn action_mask(&self) -> Option<&[bool]> {
        (**self).action_mask()
    }
    fn render(&self) -> Option<Frame> {
        (**self).render()
    }
    fn render_with_policy(&self, policy: Option<&[f32]>) -> Option<Frame> {
        (**self).render_with_policy(policy)
    }
}

/// Gymnasium's `env.unwrapped.state` of the classic-control environments: read, and set
/// to start an episode from a given state (the conformance and render tests use it).
pub trait InternalState: Env {
    /// The internal state (f64, or the f32 values widened for MountainCarContinuous).
    fn state(&self) -> Vec<f64>;

    /// Starts an episode from the given internal state (as setting
    /// `env.unwrapped.state` right after a reset) and returns its observation.
    fn set_state(&mut self, state: &[f64]) -> Result<&[f32]>;
}

/// Time-limit and episode bookkeeping shared by every environment: what Gymnasium's
/// `TimeLimit` and `OrderEnforcing` wrappers do, plus the error on a finished episode.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct EpisodeClock {
    limit: Option<usize>,
    elapsed: usize,
    state: ClockState,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
enum ClockState {
    NeverReset,
    Running,
    Over,
}

impl EpisodeClock {
    pub(crate) fn new(limit: Option<usize>) -> Self {
        Self {
            limit,
            elapsed: 0,
            state: ClockState::NeverReset,
        }
    }

    pub(crate) fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// Steps taken in this episode.
    pub(crate) fn elapsed(&self) -> usize {
        self.elapsed
    }

    /// A new episode begins.
    pub(crate) fn start(&mut self) {
        self.elapsed = 0;
        self.state = ClockState::Running;
    }

    /// Errors unless an episode is running.
    #[inline]
    pub(crate) fn check(&self) -> Result<()> {
        match self.state {
            ClockState::Running => Ok(()),
            ClockState::NeverReset => Err(Error::new(ErrorKind::NotReset)),
            ClockState::Over => Err(Error::new(ErrorKind::EpisodeOver)),
        }
    }

    /// Counts one step and returns `truncated`: the time limit is reached, whatever
    /// `terminated` says (both may be true, as in Gymnasium).
    #[inline]
    pub(crate) fn tick(&mut self, terminated: bool) -> bool {
        // Saturating: a restored snapshot may carry any count.
        self.elapsed = self.elapsed.saturating_add(1);
        let truncated = self.limit.is_some_and(|l| self.elapsed >= l);
        if terminated || truncated {
            self.state = ClockState::Over;
        }
        truncated
    }
}

/// The discrete action of `action`, checked against `n`.
#[inline]
pub(crate) fn discrete_action(action: Action<'_>, n: usize) -> Result<usize> {
    match action {
        Action::Discrete(a) if a < n => Ok(a),
        Action::Discrete(a) => Err(Error::new(ErrorKind::ActionOutOfRange { action: a, n })),
        Action::Continuous(v) => Err(Error::action(format!(
            "continuous action {v:?} given to a discrete action space Discrete({n})"
        ))),
        Action::MultiDiscrete(v) => Err(Error::action(format!(
            "multi-discrete action {v:?} given to a discrete action space Discrete({n})"
        ))),
    }
}

/// The single continuous action of a one-dimensional box, widened to f64.
#[inline]
pub(crate) fn scalar_action(action: Action<'_>) -> Result<f64> {
    match action {
        Action::Continuous([a]) if a.is_finite() => Ok(f64::from(*a)),
        Action::Continuous([a]) => Err(Error::action(format!(
            "continuous action {a} is not finite"
        ))),
        Action::Continuous(v) => Err(Error::action(format!(
            "continuous action of length {} given to a box of shape [1]",
            v.len()
        ))),
        Action::Discrete(a) => Err(Error::action(format!(
            "discrete action {a} given to a continuous (box) action space"
        ))),
        Action::MultiDiscrete(a) => Err(Error::action(format!(
            "multi-discrete action {a:?} given to a continuous (box) action space"
        ))),
    }
}

/// Checks that a state given to `set_state` has `n` finite components.
pub(crate) fn check_state(state: &[f64], n: usize, id: &str) -> Result<()> {
    if state.len() != n {
        return Err(Error::state(format!(
            "{id} has a state of {n} components, got {}",
            state.len()
        )));
    }
    if let Some(v) = state.iter().find(|v| !v.is_finite()) {
        return Err(Error::state(format!(
            "{id} state component {v} is not finite"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_truncates_at_limit_and_refuses_more_steps() {
        let mut c = EpisodeClock::new(Some(2));
        assert_eq!(c.check().unwrap_err().kind(), &ErrorKind::NotReset);
        c.start();
        assert!(!c.tick(false));
        assert!(c.check().is_ok());
        assert!(c.tick(false));
        assert_eq!(c.check().unwrap_err().kind(), &ErrorKind::EpisodeOver);
        c.start();
        assert!(
            !c.tick(true),
            "termination before the limit is not truncation"
        );
        assert_eq!(c.check().unwrap_err().kind(), &ErrorKind::EpisodeOver);
    }

    #[test]
    fn both_flags_on_the_last_step() {
        let mut c = EpisodeClock::new(Some(1));
        c.start();
        assert!(
            c.tick(true),
            "truncated is set at the limit even when terminated"
        );
    }

    #[test]
    fn actions_are_checked() {
        assert_eq!(discrete_action(Action::Discrete(1), 2), Ok(1));
        assert!(matches!(
            discrete_action(Action::Discrete(2), 2).unwrap_err().kind(),
            ErrorKind::ActionOutOfRange { action: 2, n: 2 }
        ));
        assert!(discrete_action(Action::Continuous(&[0.0]), 2).is_err());
        assert_eq!(scalar_action(Action::Continuous(&[0.5])), Ok(0.5));
        assert!(scalar_action(Action::Continuous(&[f32::NAN])).is_err());
        assert!(scalar_action(Action::Continuous(&[0.0, 1.0])).is_err());
        assert!(scalar_action(Action::Discrete(0)).is_err());
    }
}
