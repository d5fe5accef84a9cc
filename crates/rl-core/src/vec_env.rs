//! N copies of an environment stepped together, with automatic reset.

use crate::env::{Action, Env, EnvSpec};
use crate::error::{Error, ErrorKind, Result};
use crate::space::Space;

/// One action per environment, in one contiguous buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Actions<'a> {
    /// One index per environment.
    Discrete(&'a [usize]),
    /// `n_envs * action_dim` values, row-major.
    Continuous(&'a [f32]),
}

/// An episode that ended during the last [`VecEnv::step`] (Gymnasium's
/// `RecordEpisodeStatistics`).
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

/// `n` environments stepped in one call, observations in one contiguous f32 buffer.
///
/// When an environment's episode ends (`terminated` or `truncated`), it is reset in the
/// same call: [`observations`](Self::observations) then holds the new episode's first
/// observation, and [`final_observations`](Self::final_observations) keeps the one the
/// step produced, which a learner that bootstraps on truncation needs. Environment `i` is
/// seeded with `seed + i` by [`reset`](Self::reset), as Gymnasium's vector environments do,
/// and later resets continue each environment's own stream.
#[derive(Debug, Clone)]
pub struct VecEnv<E> {
    envs: Vec<E>,
    spec: EnvSpec,
    obs_dim: usize,
    observations: Vec<f32>,
    final_observations: Vec<f32>,
    rewards: Vec<f32>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    returns: Vec<f64>,
    lengths: Vec<usize>,
    finished: Vec<EpisodeEnd>,
    started: bool,
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
            spec,
            obs_dim,
            observations: vec![0.0; n * obs_dim],
            final_observations: vec![0.0; n * obs_dim],
            rewards: vec![0.0; n],
            terminated: vec![false; n],
            truncated: vec![false; n],
            returns: vec![0.0; n],
            lengths: vec![0; n],
            finished: Vec::with_capacity(n),
            started: false,
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

    /// The shared spec.
    pub fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    /// The environments themselves.
    pub fn envs(&self) -> &[E] {
        &self.envs
    }

    /// Resets every environment, environment `i` with seed `seed + i` (wrapping), and
    /// returns the first observations (`n * obs_dim`).
    pub fn reset(&mut self, seed: u64) -> &[f32] {
        let d = self.obs_dim;
        for (i, env) in self.envs.iter_mut().enumerate() {
            let obs = env.reset(Some(seed.wrapping_add(i as u64)));
            self.observations[i * d..(i + 1) * d].copy_from_slice(obs);
        }
        self.final_observations.copy_from_slice(&self.observations);
        self.returns.fill(0.0);
        self.lengths.fill(0);
        self.finished.clear();
        self.started = true;
        &self.observations
    }

    /// Resets environment `i` alone, continuing its own stream (no new seed), and returns
    /// its first observation.
    pub fn reset_one(&mut self, i: usize) -> Result<&[f32]> {
        if !self.started {
            return Err(Error::new(ErrorKind::NotReset));
        }
        let d = self.obs_dim;
        let env = self
            .envs
            .get_mut(i)
            .ok_or_else(|| Error::length(format!("no environment {i}")))?;
        let obs = env.reset(None);
        let row = i * d..(i + 1) * d;
        self.observations[row.clone()].copy_from_slice(obs);
        self.final_observations[row.clone()].copy_from_slice(obs);
        self.returns[i] = 0.0;
        self.lengths[i] = 0;
        Ok(&self.observations[row])
    }

    /// Steps every environment with its action. All actions are checked before any
    /// environment moves, so an error leaves the environments untouched.
    pub fn step(&mut self, actions: Actions<'_>) -> Result<()> {
        if !self.started {
            return Err(Error::new(ErrorKind::NotReset));
        }
        self.check(actions)?;
        self.finished.clear();
        match actions {
            Actions::Discrete(a) => {
                for (i, &a) in a.iter().enumerate() {
                    self.step_one(i, Action::Discrete(a))?;
                }
            }
            Actions::Continuous(a) => {
                let d = self.spec.action_space.flat_dim();
                for (i, a) in a.chunks_exact(d).enumerate() {
                    self.step_one(i, Action::Continuous(a))?;
                }
            }
        }
        Ok(())
    }

    #[inline(always)]
    fn step_one(&mut self, i: usize, action: Action<'_>) -> Result<()> {
        let d = self.obs_dim;
        let env = &mut self.envs[i];
        let step = env.step(action)?;
        let (reward, terminated, truncated) = (step.reward, step.terminated, step.truncated);
        let row = i * d..(i + 1) * d;
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
            self.returns[i] = 0.0;
            self.lengths[i] = 0;
            self.observations[row].copy_from_slice(env.reset(None));
        } else {
            self.observations[row.clone()].copy_from_slice(&self.final_observations[row]);
        }
        Ok(())
    }

    fn check(&self, actions: Actions<'_>) -> Result<()> {
        let n = self.envs.len();
        match (actions, &self.spec.action_space) {
            (Actions::Discrete(a), Space::Discrete { n: k }) => {
                if a.len() != n {
                    return Err(Error::length(format!(
                        "{} actions for {n} environments",
                        a.len()
                    )));
                }
                if let Some(&bad) = a.iter().find(|&&x| x >= *k) {
                    return Err(Error::new(ErrorKind::ActionOutOfRange {
                        action: bad,
                        n: *k,
                    }));
                }
            }
            (Actions::Continuous(a), space @ Space::Box { .. }) => {
                let want = n * space.flat_dim();
                if a.len() != want {
                    return Err(Error::length(format!(
                        "{} action values for {n} environments of action dimension {}: want {want}",
                        a.len(),
                        space.flat_dim()
                    )));
                }
                if let Some(bad) = a.iter().find(|x| !x.is_finite()) {
                    return Err(Error::action(format!(
                        "continuous action {bad} is not finite"
                    )));
                }
            }
            (_, space) => {
                return Err(Error::action(format!(
                    "actions of the wrong kind for the action space {space}"
                )));
            }
        }
        Ok(())
    }

    /// The current observations, `n * obs_dim`: after an episode end, the new episode's
    /// first observation.
    pub fn observations(&self) -> &[f32] {
        &self.observations
    }

    /// The observations the last step produced, before any automatic reset: row `i` is
    /// the final observation of an episode that ended, and equals
    /// [`observations`](Self::observations) for an environment that goes on.
    pub fn final_observations(&self) -> &[f32] {
        &self.final_observations
    }

    /// The last step's rewards, as f32.
    pub fn rewards(&self) -> &[f32] {
        &self.rewards
    }

    /// The last step's `terminated` flags.
    pub fn terminated(&self) -> &[bool] {
        &self.terminated
    }

    /// The last step's `truncated` flags.
    pub fn truncated(&self) -> &[bool] {
        &self.truncated
    }

    /// The episodes that ended in the last step, in environment order.
    pub fn finished(&self) -> &[EpisodeEnd] {
        &self.finished
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
            started: self.started,
        }
    }

    /// Rebuilds a vectorised environment from [`state`](Self::state); a snapshot whose
    /// buffers do not fit its environments is an error.
    pub fn from_state(state: VecEnvState<E>) -> Result<Self> {
        let mut v = Self::new(state.envs)?;
        let (n, d) = (v.envs.len(), v.obs_dim);
        let fits = [
            ("observations", state.observations.len(), n * d),
            ("final observations", state.final_observations.len(), n * d),
            ("rewards", state.rewards.len(), n),
            ("terminated flags", state.terminated.len(), n),
            ("truncated flags", state.truncated.len(), n),
            ("returns", state.returns.len(), n),
            ("lengths", state.lengths.len(), n),
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
        v.started = state.started;
        Ok(v)
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
    started: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envs::{CartPole, EnvId, Pendulum};

    #[test]
    fn seeds_each_copy_like_gymnasium() {
        let mut v = VecEnv::from_fn(3, |_| CartPole::new()).unwrap();
        let obs = v.reset(10).to_vec();
        for i in 0..3 {
            let mut e = CartPole::new();
            assert_eq!(e.reset(Some(10 + i as u64)), &obs[i * 4..(i + 1) * 4]);
        }
    }

    #[test]
    fn autoreset_keeps_the_final_observation() {
        let mut v = VecEnv::from_fn(2, |_| CartPole::new()).unwrap();
        v.reset(0);
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
        let mut v = VecEnv::from_fn(1, |_| EnvId::CartPole.make()).unwrap();
        v.reset(5);
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
        v.reset(0);
        let before = v.observations().to_vec();
        assert!(v.step(Actions::Discrete(&[0])).is_err());
        assert!(v.step(Actions::Discrete(&[0, 2])).is_err());
        assert!(v.step(Actions::Continuous(&[0.0, 0.0])).is_err());
        assert_eq!(v.observations(), &before[..]);
        let mut p = VecEnv::from_fn(2, |_| Pendulum::new()).unwrap();
        p.reset(0);
        assert!(p.step(Actions::Continuous(&[0.0, f32::NAN])).is_err());
        assert!(p.step(Actions::Continuous(&[0.0])).is_err());
        p.step(Actions::Continuous(&[0.0, 1.0])).unwrap();
        assert!(VecEnv::<CartPole>::new(vec![]).is_err());
    }

    /// Steps `v` with a fixed action pattern and records everything it reports.
    fn trace(v: &mut VecEnv<crate::AnyEnv>, steps: usize) -> Vec<String> {
        (0..steps)
            .map(|t| {
                let n = v.len();
                match v.spec().action_space {
                    Space::Discrete { n: k } => {
                        let a: Vec<usize> = (0..n).map(|i| (t * 7 + i) % k).collect();
                        v.step(Actions::Discrete(&a)).unwrap();
                    }
                    _ => {
                        let d = v.spec().action_space.flat_dim();
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
    fn a_snapshot_through_serde_steps_on_exactly_like_the_original() {
        for id in EnvId::ALL {
            let mut v = VecEnv::from_fn(3, |_| id.make()).unwrap();
            v.reset(42);
            trace(&mut v, 37);
            let json = serde_json::to_string(&v.state()).unwrap();
            let mut restored = VecEnv::from_state(serde_json::from_str(&json).unwrap()).unwrap();
            assert_eq!(trace(&mut v, 600), trace(&mut restored, 600), "{id}");
        }
    }

    #[test]
    fn a_snapshot_that_does_not_fit_is_an_error() {
        let mut v = VecEnv::from_fn(2, |_| CartPole::new()).unwrap();
        v.reset(0);
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
    }
}
