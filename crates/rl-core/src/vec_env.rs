//! N copies of an environment stepped together in this process: the [`VectorEnv`] of
//! any [`Env`].

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::env::{Action, Env, EnvSpec};
use crate::error::{Error, ErrorKind, Result};
use crate::render::Frame;
use crate::space::Space;
use crate::vector::{Actions, EpisodeEnd, VectorEnv};

thread_local! {
    /// Set while this thread runs an environment's code for a [`VecEnv`].
    static IN_ENVIRONMENT: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is running an environment's code for a [`VecEnv`]: a panic hook
/// can stay quiet for a panic that [`VectorEnv::step`] will turn into an error naming the
/// environment.
pub fn in_environment() -> bool {
    IN_ENVIRONMENT.with(Cell::get)
}

/// Marks the environment's code as running until dropped.
struct Running;

impl Running {
    fn start() -> Self {
        IN_ENVIRONMENT.with(|f| f.set(true));
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        IN_ENVIRONMENT.with(|f| f.set(false));
    }
}

/// `n` environments stepped in one call, observations in one contiguous f32 buffer: the
/// in-process [`VectorEnv`].
///
/// When an environment's episode ends (`terminated` or `truncated`), it is reset in the
/// same call: [`observations`](VectorEnv::observations) then holds the new episode's
/// first observation, and [`final_observations`](VectorEnv::final_observations) keeps the
/// one the step produced. Environment `i` is seeded with `seed + i` by
/// [`reset`](VectorEnv::reset), as Gymnasium's vector environments do, and later resets
/// continue each environment's own stream.
///
/// Every environment call is checked: a panic, a non-finite observation or reward, an
/// observation of the wrong length or a mask that allows no action is an
/// [`ErrorKind::Misbehaved`] error naming the environment and the step, and the vector
/// refuses to step again. Snapshots (exact resume) need the environment to be
/// `Clone + Serialize + Deserialize`: see [`resumable`](Self::resumable).
///
/// ```
/// use rl_core::{Actions, CartPole, VecEnv, VectorEnv};
///
/// let mut envs = VecEnv::from_fn(4, |_| CartPole::new()).unwrap();
/// envs.reset(Some(0)).unwrap();
/// envs.step(Actions::Discrete(&[0, 1, 0, 1])).unwrap();
/// assert_eq!(envs.observations().len(), 4 * 4);
/// assert_eq!(envs.rewards(), &[1.0; 4]);
/// ```
#[derive(Debug, Clone)]
pub struct VecEnv<E> {
    envs: Vec<E>,
    spec: EnvSpec,
    obs_dim: usize,
    action_width: usize,
    mask_width: usize,
    observations: Vec<f32>,
    final_observations: Vec<f32>,
    rewards: Vec<f32>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    returns: Vec<f64>,
    lengths: Vec<usize>,
    finished: Vec<EpisodeEnd>,
    /// Empty until an environment gives a mask; then `n * mask_width` flags.
    masks: Vec<bool>,
    started: bool,
    /// Whether an ended episode is reset in the same step (else it waits for a reset).
    autoreset: bool,
    /// Why the environments can no longer be stepped (one of them misbehaved mid-step).
    broken: Option<Error>,
    snapshots: Option<Snapshots<E>>,
}

/// How a [`VecEnv`] of a serialisable environment saves and restores itself.
struct Snapshots<E> {
    save: fn(&VecEnv<E>) -> Result<Vec<u8>>,
    load: fn(&mut VecEnv<E>, &[u8]) -> Result<()>,
}

impl<E> Clone for Snapshots<E> {
    fn clone(&self) -> Self {
        Self {
            save: self.save,
            load: self.load,
        }
    }
}

impl<E> std::fmt::Debug for Snapshots<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Snapshots")
    }
}

/// The index of the first value of `x` that is not finite, if any: one pass that the
/// compiler vectorises (a flag per chunk of eight, the position found only on failure).
#[inline(always)]
fn first_non_finite(x: &[f32]) -> Option<usize> {
    let mut chunks = x.chunks_exact(8);
    let bad_chunk = chunks.by_ref().any(|c| {
        c.iter().fold(false, |bad, v| {
            bad | (v.to_bits() & 0x7f80_0000 == 0x7f80_0000)
        })
    });
    let bad_tail = chunks
        .remainder()
        .iter()
        .any(|v| v.to_bits() & 0x7f80_0000 == 0x7f80_0000);
    if bad_chunk || bad_tail {
        x.iter().position(|v| !v.is_finite())
    } else {
        None
    }
}

impl<E: Env> VecEnv<E> {
    /// Wraps `envs`, which must be at least one and share their spaces.
    pub fn new(envs: Vec<E>) -> Result<Self> {
        let Some(first) = envs.first() else {
            return Err(Error::config(
                "a vectorised environment needs at least one environment",
            ));
        };
        let spec = first.spec();
        if let Some(i) = envs.iter().position(|e| e.spec() != spec) {
            return Err(Error::config(format!(
                "environment {i} differs from environment 0 ({}): all must share their spaces",
                spec.id
            )));
        }
        let n = envs.len();
        let obs_dim = spec.observation_space.flat_dim();
        Ok(Self {
            envs,
            obs_dim,
            action_width: spec.action_space.action_width(),
            mask_width: spec.action_space.mask_width(),
            spec,
            observations: vec![0.0; n * obs_dim],
            final_observations: vec![0.0; n * obs_dim],
            rewards: vec![0.0; n],
            terminated: vec![false; n],
            truncated: vec![false; n],
            returns: vec![0.0; n],
            lengths: vec![0; n],
            finished: Vec::with_capacity(n),
            masks: Vec::new(),
            started: false,
            autoreset: true,
            broken: None,
            snapshots: None,
        })
    }

    /// `n` environments made by `make(i)`.
    pub fn from_fn(n: usize, make: impl FnMut(usize) -> E) -> Result<Self> {
        Self::new((0..n).map(make).collect())
    }

    /// The number of environments.
    pub fn len(&self) -> usize {
        self.envs.len()
    }

    /// Always false: there is at least one environment.
    pub fn is_empty(&self) -> bool {
        self.envs.is_empty()
    }

    /// The environments themselves.
    pub fn envs(&self) -> &[E] {
        &self.envs
    }

    fn misbehaved(&self, env: usize, what: String) -> Error {
        Error::new(ErrorKind::Misbehaved {
            id: self.spec.id.clone(),
            env,
            step: self.lengths.get(env).copied().unwrap_or(0),
            what,
        })
    }

    /// Runs `f` (environment code) so that a panic becomes an error naming environment
    /// `*current` and breaks the vector.
    fn guarded(
        &mut self,
        current: &Cell<usize>,
        f: impl FnOnce(&mut Self) -> Result<()>,
    ) -> Result<()> {
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        let running = Running::start();
        let outcome = catch_unwind(AssertUnwindSafe(|| f(self)));
        drop(running);
        let result = match outcome {
            Ok(r) => r,
            Err(payload) => {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "a panic without a message".into());
                Err(self.misbehaved(current.get(), format!("it panicked: {message}")))
            }
        };
        if let Err(e) = &result
            && matches!(e.kind(), ErrorKind::Misbehaved { .. })
        {
            self.broken = Some(e.clone());
        }
        result
    }

    /// Reads environment `i`'s action mask into the vector's masks, checking it. For an
    /// environment without masks (the default `action_mask`), nothing but a test.
    #[inline(always)]
    fn take_mask(&mut self, i: usize) -> Result<()> {
        if self.masks.is_empty() && self.envs[i].action_mask().is_none() {
            return Ok(());
        }
        self.take_given_mask(i)
    }

    #[inline(never)]
    fn take_given_mask(&mut self, i: usize) -> Result<()> {
        let w = self.mask_width;
        match self.envs[i].action_mask() {
            None if self.masks.is_empty() => Ok(()),
            None => {
                self.masks[i * w..(i + 1) * w].fill(true);
                Ok(())
            }
            Some(mask) => {
                if mask.len() != w {
                    let what = format!(
                        "it returned an action mask of {} flags; its action space {} takes {w}",
                        mask.len(),
                        self.spec.action_space
                    );
                    return Err(self.misbehaved(i, what));
                }
                if let Some(c) = self.spec.action_space.empty_mask_component(mask) {
                    let what = format!("its action mask allows no action (component {c})");
                    return Err(self.misbehaved(i, what));
                }
                if self.masks.is_empty() {
                    self.masks = vec![true; self.envs.len() * w];
                }
                self.masks[i * w..(i + 1) * w].copy_from_slice(mask);
                Ok(())
            }
        }
    }

    /// Resets environment `i` with `seed` and takes its first observation into
    /// `observations` (and `final_observations` with `both`). Its values are checked by
    /// the caller, for every environment at once ([`first_non_finite`]).
    #[inline(always)]
    fn reset_env(&mut self, i: usize, seed: Option<u64>, both: bool) -> Result<()> {
        let d = self.obs_dim;
        let row = i * d..(i + 1) * d;
        self.returns[i] = 0.0;
        self.lengths[i] = 0;
        let obs = self.envs[i].reset(seed);
        if obs.len() != d {
            let len = obs.len();
            return Err(self.bad_step(i, len, 0.0));
        }
        self.observations[row.clone()].copy_from_slice(obs);
        if both {
            self.final_observations[row.clone()].copy_from_slice(&self.observations[row]);
        }
        self.take_mask(i)
    }

    /// Steps environment `i`. Its observation's values are checked for every
    /// environment at once, after the batch (see [`first_non_finite`]); its length and
    /// its reward here.
    #[inline(always)]
    fn step_one(&mut self, i: usize, action: Action<'_>) -> Result<()> {
        let d = self.obs_dim;
        let row = i * d..(i + 1) * d;
        let step = self.envs[i].step(action)?;
        let (reward, terminated, truncated) = (step.reward, step.terminated, step.truncated);
        if step.observation.len() != d || !reward.is_finite() {
            let len = step.observation.len();
            return Err(self.bad_step(i, len, reward));
        }
        self.final_observations[row.clone()].copy_from_slice(step.observation);
        self.rewards[i] = reward as f32;
        self.terminated[i] = terminated;
        self.truncated[i] = truncated;
        self.returns[i] += reward;
        // Saturating: a restored snapshot may carry any count.
        self.lengths[i] = self.lengths[i].saturating_add(1);
        if terminated || truncated {
            self.finished.push(EpisodeEnd {
                env: i,
                episodic_return: self.returns[i],
                episodic_length: self.lengths[i],
                terminated,
            });
            if self.autoreset {
                return self.reset_env(i, None, false);
            }
            self.observations[row.clone()].copy_from_slice(&self.final_observations[row]);
            self.take_mask(i)
        } else {
            self.observations[row.clone()].copy_from_slice(&self.final_observations[row]);
            self.take_mask(i)
        }
    }

    /// The error for a step that returned an observation of `len` values or a
    /// non-finite `reward`.
    #[cold]
    #[inline(never)]
    fn bad_step(&self, i: usize, len: usize, reward: f64) -> Error {
        let what = if len != self.obs_dim {
            format!(
                "it returned an observation of {len} values; its observation space {} has {}",
                self.spec.observation_space, self.obs_dim
            )
        } else {
            format!("it returned the reward {reward}")
        };
        self.misbehaved(i, what)
    }

    /// The error for the first non-finite value of the observations the last step or
    /// reset returned (a step's, then the first observations of the episodes it
    /// started), if any.
    #[inline(always)]
    fn check_observations(&self) -> Result<()> {
        if let Some(k) = first_non_finite(&self.final_observations) {
            return Err(self.non_finite(k, &self.final_observations, true));
        }
        match first_non_finite(&self.observations) {
            None => Ok(()),
            Some(k) => Err(self.non_finite(k, &self.observations, false)),
        }
    }

    /// `stepped`: the value came from a step (else from a reset).
    #[cold]
    #[inline(never)]
    fn non_finite(&self, k: usize, values: &[f32], stepped: bool) -> Error {
        let d = self.obs_dim.max(1);
        let env = k / d;
        // The steps before the call that returned it (a step's episode may have ended
        // there; a reset's has taken none).
        let step = match (stepped, self.finished.iter().find(|e| e.env == env)) {
            (false, _) => 0,
            (true, Some(end)) => end.episodic_length.saturating_sub(1),
            (true, None) => self.lengths[env].saturating_sub(1),
        };
        Error::new(ErrorKind::Misbehaved {
            id: self.spec.id.clone(),
            env,
            step,
            what: format!(
                "it returned the observation value {} at index {}",
                values[k],
                k % d
            ),
        })
    }

    fn check(&self, actions: Actions<'_>) -> Result<()> {
        let n = self.envs.len();
        let want = n * self.action_width;
        let space = &self.spec.action_space;
        match (actions, space.is_discrete()) {
            (Actions::Discrete(a), true) => {
                if a.len() != want {
                    return Err(Error::length(format!(
                        "{} actions for {n} environments of the action space {space}: want {want}",
                        a.len(),
                    )));
                }
                match space {
                    // One comparison per environment for the common case.
                    &Space::Discrete { n: k } => {
                        if let Some(&bad) = a.iter().find(|&&x| x >= k) {
                            return Err(Error::new(ErrorKind::ActionOutOfRange {
                                action: bad,
                                n: k,
                            }));
                        }
                    }
                    _ => {
                        for row in a.chunks_exact(self.action_width.max(1)) {
                            space.check_indices(row)?;
                        }
                    }
                }
            }
            (Actions::Continuous(a), false) => {
                if a.len() != want {
                    return Err(Error::length(format!(
                        "{} action values for {n} environments of action dimension {}: want {want}",
                        a.len(),
                        self.action_width
                    )));
                }
                if let Some(bad) = a.iter().find(|x| !x.is_finite()) {
                    return Err(Error::action(format!(
                        "continuous action {bad} is not finite"
                    )));
                }
            }
            _ => {
                return Err(Error::action(format!(
                    "actions of the wrong kind for the action space {space}"
                )));
            }
        }
        Ok(())
    }
}

impl<E: Env + Send> VectorEnv for VecEnv<E> {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn num_envs(&self) -> usize {
        self.envs.len()
    }

    fn reset(&mut self, seed: Option<u64>) -> Result<()> {
        let current = Cell::new(0);
        self.guarded(&current, |v| {
            for i in 0..v.envs.len() {
                current.set(i);
                v.reset_env(i, seed.map(|s| s.wrapping_add(i as u64)), true)?;
            }
            v.check_observations()
        })?;
        self.finished.clear();
        self.started = true;
        Ok(())
    }

    fn reset_one(&mut self, i: usize) -> Result<()> {
        if !self.started {
            return Err(Error::new(ErrorKind::NotReset));
        }
        if i >= self.envs.len() {
            return Err(Error::length(format!("no environment {i}")));
        }
        self.guarded(&Cell::new(i), |v| {
            v.reset_env(i, None, true)?;
            v.check_observations()
        })
    }

    fn step(&mut self, actions: Actions<'_>) -> Result<()> {
        if !self.started {
            return Err(Error::new(ErrorKind::NotReset));
        }
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        self.check(actions)?;
        self.finished.clear();
        let current = Cell::new(0);
        self.guarded(&current, |v| {
            match actions {
                Actions::Discrete(a) if v.action_width == 1 && v.spec.action_space.is_scalar() => {
                    for (i, &a) in a.iter().enumerate() {
                        current.set(i);
                        v.step_one(i, Action::Discrete(a))?;
                    }
                }
                Actions::Discrete(a) => {
                    for (i, a) in a.chunks_exact(v.action_width).enumerate() {
                        current.set(i);
                        v.step_one(i, Action::MultiDiscrete(a))?;
                    }
                }
                Actions::Continuous(a) => {
                    for (i, a) in a.chunks_exact(v.action_width).enumerate() {
                        current.set(i);
                        v.step_one(i, Action::Continuous(a))?;
                    }
                }
            }
            v.check_observations()
        })
    }

    fn observations(&self) -> &[f32] {
        &self.observations
    }

    fn final_observations(&self) -> &[f32] {
        &self.final_observations
    }

    fn rewards(&self) -> &[f32] {
        &self.rewards
    }

    fn terminated(&self) -> &[bool] {
        &self.terminated
    }

    fn truncated(&self) -> &[bool] {
        &self.truncated
    }

    fn finished(&self) -> &[EpisodeEnd] {
        &self.finished
    }

    fn action_masks(&self) -> Option<&[bool]> {
        (!self.masks.is_empty()).then_some(&self.masks[..])
    }

    fn render(&self, i: usize, policy: Option<&[f32]>) -> Option<Frame> {
        self.envs.get(i)?.render_with_policy(policy)
    }

    fn set_autoreset(&mut self, on: bool) -> Result<()> {
        self.autoreset = on;
        Ok(())
    }

    fn snapshot(&self) -> Option<Result<Vec<u8>>> {
        self.snapshots.as_ref().map(|s| (s.save)(self))
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<()> {
        match self.snapshots.clone() {
            Some(s) => (s.load)(self, snapshot),
            None => Err(Error::new(ErrorKind::Unsupported(format!(
                "{} cannot be saved or restored: it is not Serialize + Deserialize (see VecEnv::resumable)",
                self.spec.id
            )))),
        }
    }
}

impl<E: Env + Clone> VecEnv<E> {
    /// A snapshot of everything the vectorised environment holds: the environments with
    /// their generators, and the episode bookkeeping. [`from_state`](Self::from_state)
    /// rebuilds one that steps on exactly as this one would.
    pub fn state(&self) -> VecEnvState<E> {
        VecEnvState {
            envs: self.envs.clone(),
            observations: self.observations.clone(),
            final_observations: self.final_observations.clone(),
            rewards: self.rewards.clone(),
            terminated: self.terminated.clone(),
            truncated: self.truncated.clone(),
            returns: self.returns.clone(),
            lengths: self.lengths.clone(),
            finished: self.finished.clone(),
            masks: self.masks.clone(),
            started: self.started,
        }
    }

    /// Rebuilds a vectorised environment from [`state`](Self::state); a snapshot whose
    /// buffers do not fit its environments is an error.
    pub fn from_state(state: VecEnvState<E>) -> Result<Self> {
        let mut v = Self::new(state.envs)?;
        let (n, d) = (v.envs.len(), v.obs_dim);
        let masks = if state.masks.is_empty() {
            0
        } else {
            n * v.mask_width
        };
        let fits = [
            ("observations", state.observations.len(), n * d),
            ("final observations", state.final_observations.len(), n * d),
            ("rewards", state.rewards.len(), n),
            ("terminated flags", state.terminated.len(), n),
            ("truncated flags", state.truncated.len(), n),
            ("returns", state.returns.len(), n),
            ("lengths", state.lengths.len(), n),
            ("mask flags", state.masks.len(), masks),
        ];
        for (what, got, want) in fits {
            if got != want {
                return Err(Error::length(format!(
                    "a vectorised-environment snapshot of {n} environments holds {got} {what}, want {want}"
                )));
            }
        }
        if let Some(e) = state.finished.iter().find(|e| e.env >= n) {
            return Err(Error::length(format!(
                "a vectorised-environment snapshot of {n} environments reports an episode of environment {}",
                e.env
            )));
        }
        v.observations = state.observations;
        v.final_observations = state.final_observations;
        v.rewards = state.rewards;
        v.terminated = state.terminated;
        v.truncated = state.truncated;
        v.returns = state.returns;
        v.lengths = state.lengths;
        v.finished = state.finished;
        v.masks = state.masks;
        v.started = state.started;
        Ok(v)
    }
}

impl<E: Env + Clone + Serialize + DeserializeOwned> VecEnv<E> {
    /// The same environments, able to [`snapshot`](VectorEnv::snapshot) and
    /// [`restore`](VectorEnv::restore) themselves (as MessagePack of
    /// [`state`](Self::state)), so that a learner stepping them resumes exactly.
    pub fn resumable(self) -> Self {
        Self {
            snapshots: Some(Snapshots {
                save: |v| {
                    rmp_serde::to_vec_named(&v.state()).map_err(|e| {
                        Error::new(ErrorKind::Unsupported(format!(
                            "cannot save the environments: {e}"
                        )))
                    })
                },
                load: |v, bytes| {
                    let state: VecEnvState<E> = rmp_serde::from_slice(bytes).map_err(|e| {
                        Error::length(format!("an environment snapshot does not decode: {e}"))
                    })?;
                    let snapshots = v.snapshots.take();
                    *v = Self::from_state(state)?;
                    v.snapshots = snapshots;
                    Ok(())
                },
            }),
            ..self
        }
    }
}

/// A serialisable snapshot of a [`VecEnv`] (see [`VecEnv::state`]).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct VecEnvState<E> {
    envs: Vec<E>,
    observations: Vec<f32>,
    final_observations: Vec<f32>,
    rewards: Vec<f32>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    returns: Vec<f64>,
    lengths: Vec<usize>,
    finished: Vec<EpisodeEnd>,
    #[serde(default)]
    masks: Vec<bool>,
    started: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Step;
    use crate::envs::{Builtin, CartPole, Pendulum};

    #[test]
    fn seeds_each_copy_like_gymnasium() {
        let mut v = VecEnv::from_fn(3, |_| CartPole::new()).unwrap();
        v.reset(Some(10)).unwrap();
        let obs = v.observations().to_vec();
        for i in 0..3 {
            let mut e = CartPole::new();
            assert_eq!(e.reset(Some(10 + i as u64)), &obs[i * 4..(i + 1) * 4]);
        }
    }

    #[test]
    fn autoreset_keeps_the_final_observation() {
        let mut v = VecEnv::from_fn(2, |_| CartPole::new()).unwrap();
        v.reset(Some(0)).unwrap();
        // Reference copies stepped by hand with the same actions.
        let mut refs: Vec<CartPole> = (0..2).map(|_| CartPole::new()).collect();
        for (i, r) in refs.iter_mut().enumerate() {
            r.reset(Some(i as u64));
        }
        let mut ends = 0;
        for t in 0..200 {
            let actions = [t % 2, 1];
            v.step(Actions::Discrete(&actions)).unwrap();
            for (i, r) in refs.iter_mut().enumerate() {
                let s = r.step(Action::Discrete(actions[i])).unwrap();
                assert_eq!(&v.final_observations()[i * 4..(i + 1) * 4], s.observation);
                assert_eq!(v.terminated()[i], s.terminated);
                if s.terminated || s.truncated {
                    ends += 1;
                    let first = r.reset(None);
                    assert_eq!(&v.observations()[i * 4..(i + 1) * 4], first);
                    assert!(v.finished().iter().any(|e| e.env == i && e.terminated));
                } else {
                    assert_eq!(&v.observations()[i * 4..(i + 1) * 4], s.observation);
                }
            }
        }
        assert!(ends > 5, "always pushing right ends episodes quickly");
    }

    #[test]
    fn episode_statistics_add_up() {
        let mut v = Builtin::CartPole.vector(1).unwrap();
        v.reset(Some(5)).unwrap();
        let mut len = 0;
        loop {
            v.step(Actions::Discrete(&[0])).unwrap();
            len += 1;
            if let Some(end) = v.finished().first() {
                assert_eq!(end.episodic_length, len);
                assert_eq!(end.episodic_return, len as f64);
                break;
            }
        }
    }

    #[test]
    fn bad_actions_are_errors_and_move_nothing() {
        let mut v = VecEnv::from_fn(2, |_| CartPole::new()).unwrap();
        assert_eq!(
            v.step(Actions::Discrete(&[0, 0])).unwrap_err().kind(),
            &ErrorKind::NotReset
        );
        v.reset(Some(0)).unwrap();
        let before = v.observations().to_vec();
        assert!(v.step(Actions::Discrete(&[0])).is_err());
        assert!(v.step(Actions::Discrete(&[0, 2])).is_err());
        assert!(v.step(Actions::Continuous(&[0.0, 0.0])).is_err());
        assert_eq!(v.observations(), &before[..]);
        let mut p = VecEnv::from_fn(2, |_| Pendulum::new()).unwrap();
        p.reset(Some(0)).unwrap();
        assert!(p.step(Actions::Continuous(&[0.0, f32::NAN])).is_err());
        assert!(p.step(Actions::Continuous(&[0.0])).is_err());
        p.step(Actions::Continuous(&[0.0, 1.0])).unwrap();
        assert!(VecEnv::<CartPole>::new(vec![]).is_err());
    }

    /// Steps `v` with a fixed action pattern and records everything it reports.
    fn trace(v: &mut dyn VectorEnv, steps: usize) -> Vec<String> {
        (0..steps)
            .map(|t| {
                let n = v.num_envs();
                match v.spec().action_space {
                    Space::Discrete { n: k } => {
                        let a: Vec<usize> = (0..n).map(|i| (t * 7 + i) % k).collect();
                        v.step(Actions::Discrete(&a)).unwrap();
                    }
                    _ => {
                        let d = v.spec().action_space.action_width();
                        let a: Vec<f32> = (0..n * d).map(|i| ((t + i) % 3) as f32 - 1.0).collect();
                        v.step(Actions::Continuous(&a)).unwrap();
                    }
                }
                format!(
                    "{:?} {:?} {:?} {:?} {:?}",
                    v.observations(),
                    v.final_observations(),
                    v.rewards(),
                    v.terminated(),
                    v.finished()
                )
            })
            .collect()
    }

    #[test]
    fn a_snapshot_restores_into_environments_that_step_on_exactly_like_the_original() {
        for b in Builtin::ALL {
            let mut v = b.vector(3).unwrap();
            v.reset(Some(42)).unwrap();
            trace(&mut *v, 37);
            let snapshot = v.snapshot().expect("the built-ins are resumable").unwrap();
            let mut restored = b.vector(3).unwrap();
            restored.restore(&snapshot).unwrap();
            assert_eq!(trace(&mut *v, 600), trace(&mut *restored, 600), "{b}");
        }
    }

    #[test]
    fn environments_that_cannot_be_saved_say_so() {
        let mut v = VecEnv::from_fn(2, |_| CartPole::new()).unwrap();
        v.reset(Some(0)).unwrap();
        assert!(v.snapshot().is_none());
        let e = v.restore(&[]).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Unsupported(_)), "{e}");
    }

    #[test]
    fn a_snapshot_that_does_not_fit_is_an_error() {
        let mut v = VecEnv::from_fn(2, |_| CartPole::new()).unwrap();
        v.reset(Some(0)).unwrap();
        let mut state = v.state();
        state.rewards.pop();
        let e = VecEnv::from_state(state).unwrap_err();
        assert!(e.to_string().contains("1 rewards, want 2"), "{e}");
        let mut state = v.state();
        state.finished.push(EpisodeEnd {
            env: 5,
            episodic_return: 1.0,
            episodic_length: 1,
            terminated: true,
        });
        assert!(VecEnv::from_state(state).is_err());
        let mut r = VecEnv::from_fn(2, |_| CartPole::new()).unwrap().resumable();
        assert!(r.restore(b"not a snapshot").is_err());
    }

    /// A one-dimensional environment that misbehaves as told at its third step.
    #[derive(Debug, Clone, Default)]
    struct Faulty {
        fault: &'static str,
        t: usize,
        obs: Vec<f32>,
        mask: Vec<bool>,
    }

    impl Env for Faulty {
        fn spec(&self) -> EnvSpec {
            EnvSpec::new(
                "Faulty-v0",
                Space::boxed(vec![-10.0], vec![10.0]),
                Space::Discrete { n: 2 },
            )
        }
        fn reset(&mut self, _seed: Option<u64>) -> &[f32] {
            // A second episode starts badly when told to.
            let bad = self.fault == "reset" && self.t > 0;
            self.t = 0;
            self.obs = if bad { vec![f32::NAN] } else { vec![0.0] };
            self.mask = vec![true, true];
            &self.obs
        }
        fn step(&mut self, _action: Action<'_>) -> Result<Step<'_>> {
            self.t += 1;
            let mut reward = 1.0;
            let mut terminated = false;
            if self.t == 3 {
                match self.fault {
                    "panic" => panic!("the simulator lost its state"),
                    "nan" => self.obs = vec![f32::NAN],
                    "infinite reward" => reward = f64::INFINITY,
                    "length" => self.obs = vec![0.0, 1.0],
                    "mask" => self.mask = vec![false, false],
                    "reset" => terminated = true,
                    _ => {}
                }
            }
            Ok(Step {
                observation: &self.obs,
                reward,
                terminated,
                truncated: false,
            })
        }
        fn action_mask(&self) -> Option<&[bool]> {
            Some(&self.mask)
        }
    }

    #[test]
    fn a_misbehaving_environment_is_an_error_naming_it_and_the_step() {
        // The step is the episode's steps before the call that went wrong: the mask is
        // read after the third step.
        for (fault, what, at) in [
            ("panic", "it panicked: the simulator lost its state", 2),
            ("nan", "observation value NaN at index 0", 2),
            ("infinite reward", "reward inf", 2),
            ("length", "an observation of 2 values", 2),
            ("mask", "allows no action", 3),
            // The episode ended at the third step; the next one's reset went wrong.
            ("reset", "observation value NaN at index 0", 0),
        ] {
            let mut v = VecEnv::from_fn(3, |i| Faulty {
                fault: if i == 1 { fault } else { "" },
                ..Faulty::default()
            })
            .unwrap();
            v.reset(Some(0)).unwrap();
            v.step(Actions::Discrete(&[0, 0, 0])).unwrap();
            v.step(Actions::Discrete(&[0, 0, 0])).unwrap();
            let e = v.step(Actions::Discrete(&[0, 0, 0])).unwrap_err();
            let ErrorKind::Misbehaved { id, env, step, .. } = e.kind() else {
                panic!("{fault}: {e}")
            };
            assert_eq!((id.as_str(), *env, *step), ("Faulty-v0", 1, at), "{fault}");
            let text = e.to_string();
            assert!(text.contains(what), "{fault}: {text}");
            assert!(text.contains("environment 1 (Faulty-v0)"), "{text}");
            // The vector refuses to go on with an environment in an unknown state.
            assert_eq!(
                v.step(Actions::Discrete(&[0, 0, 0]))
                    .unwrap_err()
                    .to_string(),
                text
            );
            assert!(!in_environment());
        }
    }

    #[test]
    fn masks_are_gathered_for_every_environment() {
        let mut v = VecEnv::from_fn(2, |_| Faulty::default()).unwrap();
        v.reset(Some(0)).unwrap();
        assert_eq!(v.action_masks(), Some(&[true, true, true, true][..]));
        let mut c = VecEnv::from_fn(2, |_| CartPole::new()).unwrap();
        c.reset(Some(0)).unwrap();
        assert_eq!(c.action_masks(), None);
    }
}
