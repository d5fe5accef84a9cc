//! The rollout buffer: one update's experience, gathered by acting on the host, then
//! completed with what the estimator and the losses need, and read in minibatches.
//!
//! [`Rollout::collect`] steps the vectorised environments with an [`Actor`] and keeps,
//! per step, the observation, the action, the reward and both end flags, and the final
//! observation of every truncated step (for bootstrapping). The batch is laid out
//! environment after environment: environment `i`'s steps are contiguous and in time
//! order, and each environment's last step ends an episode (a rollout cut is marked
//! `truncated`, which is what it is), so rl-core's estimators read it as it is. After the
//! rollout the learner fills in the old log-probabilities and values (from an inference
//! forward, no autodiff graph), the advantages and the returns; [`Rollout::gather`] then
//! copies any set of rows into a [`Minibatch`] in one pass per column, never one tensor
//! call per row.

use burn::prelude::*;
use rl_core::rng::Rng;
use rl_core::{Actions, Normalizer, VectorEnv};
use rl_models::{ActionBatch, ActionHead};

use crate::actor::Actor;
use crate::error::TrainError;
use crate::report::EpisodeRecord;

/// How long a rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Every environment plays this many complete episodes; an environment that has
    /// played its quota is stepped with the others but its steps are not kept, and it
    /// is reset before the next rollout.
    Episodes {
        /// Complete episodes per environment.
        per_env: usize,
    },
    /// Every environment takes this many steps; an episode cut by the end of the
    /// rollout is marked truncated and continues in the next one.
    Steps {
        /// Steps per environment.
        per_env: usize,
    },
}

/// The run's counters the rollout advances.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Episodes finished.
    pub episodes: u64,
    /// Environment steps taken (and kept).
    pub env_steps: u64,
}

/// One environment's steps in the current rollout.
#[derive(Debug, Default, Clone)]
struct Segment {
    obs: Vec<f32>,
    discrete: Vec<i64>,
    continuous: Vec<f32>,
    masks: Vec<bool>,
    rewards: Vec<f32>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    truncation_obs: Vec<f32>,
    episodes: usize,
}

impl Segment {
    fn clear(&mut self) {
        self.obs.clear();
        self.discrete.clear();
        self.continuous.clear();
        self.masks.clear();
        self.rewards.clear();
        self.terminated.clear();
        self.truncated.clear();
        self.truncation_obs.clear();
        self.episodes = 0;
    }
}

/// One update's experience: per-environment segments while acting, then the batch (the
/// segments concatenated) with its old statistics, advantages and returns.
#[derive(Debug, Clone)]
pub struct Rollout {
    obs_dim: usize,
    segments: Vec<Segment>,
    /// Environments stepped past their episode quota, to be reset before the next
    /// rollout (episodes plan only). Part of the learner's state.
    dirty: Vec<bool>,
    /// Observations, `len * obs_dim`.
    pub obs: Vec<f32>,
    /// Integer actions (categorical, multi-categorical, Bernoulli policies), the action's
    /// width per step (empty for a Gaussian one).
    pub discrete: Vec<i64>,
    /// Actions of a Gaussian policy, `len * action_dim` (empty otherwise).
    pub continuous: Vec<f32>,
    /// The action masks the actions were drawn under, the mask's width per step (empty
    /// when the environments give none).
    pub masks: Vec<bool>,
    /// `r_t`.
    pub rewards: Vec<f32>,
    /// Step `t` reached a terminal state.
    pub terminated: Vec<bool>,
    /// Step `t` was cut: by the time limit, or by the end of the rollout.
    pub truncated: Vec<bool>,
    /// The final observation of every truncated, non-terminated step, in step order.
    pub truncation_obs: Vec<f32>,
    /// `log pi_old(a_t|s_t)`, filled in by the learner when its objective needs it.
    pub old_log_probs: Vec<f32>,
    /// `V_old(s_t)`, filled in by the learner when its estimator or objective needs it.
    pub old_values: Vec<f32>,
    /// The estimator's advantages.
    pub advantages: Vec<f32>,
    /// The estimator's value targets.
    pub returns: Vec<f32>,
}

impl Rollout {
    /// An empty buffer for `n_envs` environments with `obs_dim`-sized observations.
    pub fn new(n_envs: usize, obs_dim: usize) -> Self {
        Self::with_dirty(vec![false; n_envs], obs_dim)
    }

    /// An empty buffer that continues a saved run's per-environment reset flags.
    pub fn with_dirty(dirty: Vec<bool>, obs_dim: usize) -> Self {
        Self {
            obs_dim,
            segments: vec![Segment::default(); dirty.len()],
            dirty,
            obs: Vec::new(),
            discrete: Vec::new(),
            continuous: Vec::new(),
            masks: Vec::new(),
            rewards: Vec::new(),
            terminated: Vec::new(),
            truncated: Vec::new(),
            truncation_obs: Vec::new(),
            old_log_probs: Vec::new(),
            old_values: Vec::new(),
            advantages: Vec::new(),
            returns: Vec::new(),
        }
    }

    /// The per-environment reset flags (what the learner's state keeps of the buffer).
    pub fn dirty(&self) -> &[bool] {
        &self.dirty
    }

    /// Steps in the batch.
    pub fn len(&self) -> usize {
        self.rewards.len()
    }

    /// Whether the batch holds no step.
    pub fn is_empty(&self) -> bool {
        self.rewards.is_empty()
    }

    /// Acts in `envs` with `actor` until `plan` is met, then lays the batch out
    /// environment after environment. Returns the episodes that finished, in order.
    ///
    /// The policy sees, and the batch keeps, observations and rewards as `norm` makes
    /// them (its statistics move with every step while it trains); the episode records
    /// keep the environments' own returns. A Gaussian policy's samples are kept as drawn
    /// and clipped to the action space's bounds on their way to the environments.
    #[allow(clippy::too_many_arguments)]
    pub fn collect<B: Backend>(
        &mut self,
        envs: &mut dyn VectorEnv,
        norm: &mut Normalizer,
        actor: &mut Actor<B>,
        rng: &mut Rng,
        device: &B::Device,
        plan: Plan,
        counters: &mut Counters,
    ) -> Result<Vec<EpisodeRecord>, TrainError> {
        let n = envs.num_envs();
        let d = self.obs_dim;
        for (i, seg) in self.segments.iter_mut().enumerate() {
            seg.clear();
            if std::mem::take(&mut self.dirty[i]) {
                envs.reset_one(i)?;
            }
        }
        // The observations as the policy sees them: the statistics have not moved since
        // these were folded in (or they come from a reset above, which is not folded in).
        let mut obs = Vec::with_capacity(n * d);
        norm.normalize_obs(envs.observations(), &mut obs);
        let mut rewards = Vec::with_capacity(n);
        let mut done = vec![false; n];
        let mut final_obs = Vec::with_capacity(d);
        let mut clipped = Vec::new();
        let space = envs.spec().action_space.clone();
        let mut active = vec![true; n];
        let mut records = Vec::new();
        let mut t = 0;
        loop {
            // Act.
            let masks = envs.action_masks();
            let actions = actor.act(&obs, masks, rng, false, device);
            for (i, seg) in self.segments.iter_mut().enumerate() {
                if active[i] {
                    seg.obs.extend_from_slice(&obs[i * d..(i + 1) * d]);
                    match actions {
                        Actions::Discrete(a) => {
                            let w = a.len() / n;
                            seg.discrete
                                .extend(a[i * w..(i + 1) * w].iter().map(|&x| x as i64));
                        }
                        Actions::Continuous(a) => {
                            let w = a.len() / n;
                            seg.continuous.extend_from_slice(&a[i * w..(i + 1) * w]);
                        }
                    }
                    if let Some(m) = masks {
                        let w = m.len() / n;
                        seg.masks.extend_from_slice(&m[i * w..(i + 1) * w]);
                    }
                }
            }

            // Step.
            let actions = match actions {
                Actions::Continuous(a) => {
                    space.clip_rows_into(a, &mut clipped);
                    Actions::Continuous(&clipped)
                }
                discrete => discrete,
            };
            envs.step(actions)?;
            t += 1;
            norm.observe(envs.observations(), &mut obs);
            // Each accessor once per step: they are calls through the trait object.
            let (terminated, truncated) = (envs.terminated(), envs.truncated());
            let final_observations = envs.final_observations();
            let finished = envs.finished();
            for (i, dn) in done.iter_mut().enumerate() {
                *dn = terminated[i] || truncated[i];
            }
            norm.rewards(envs.rewards(), &done, &mut rewards);
            for (i, seg) in self.segments.iter_mut().enumerate() {
                if !active[i] {
                    // Stepped with the old policy past its quota: reset before reuse.
                    self.dirty[i] = true;
                    continue;
                }
                counters.env_steps += 1;
                let (term, trunc) = (terminated[i], truncated[i]);
                seg.rewards.push(rewards[i]);
                seg.terminated.push(term);
                seg.truncated.push(trunc);
                if trunc && !term {
                    norm.normalize_obs(&final_observations[i * d..(i + 1) * d], &mut final_obs);
                    seg.truncation_obs.extend_from_slice(&final_obs);
                }
                if term || trunc {
                    seg.episodes += 1;
                    let end = finished
                        .iter()
                        .find(|e| e.env == i)
                        .expect("an ended episode is reported");
                    counters.episodes += 1;
                    records.push(EpisodeRecord {
                        episode: counters.episodes,
                        env_steps: counters.env_steps,
                        episodic_return: end.episodic_return,
                        episodic_length: end.episodic_length,
                    });
                    if let Plan::Episodes { per_env } = plan
                        && seg.episodes == per_env
                    {
                        active[i] = false;
                    }
                }
            }
            match plan {
                Plan::Steps { per_env } if t == per_env => {
                    // The rollout cuts every unfinished episode: a truncation, which
                    // bootstraps from the observation that follows.
                    for (i, seg) in self.segments.iter_mut().enumerate() {
                        let last = seg.rewards.len() - 1;
                        if !(seg.terminated[last] || seg.truncated[last]) {
                            // The observation that follows, as the policy would see it.
                            seg.truncated[last] = true;
                            seg.truncation_obs
                                .extend_from_slice(&obs[i * d..(i + 1) * d]);
                        }
                    }
                    break;
                }
                Plan::Episodes { .. } if !active.contains(&true) => break,
                _ => {}
            }
        }
        self.flatten();
        Ok(records)
    }

    /// Concatenates the segments, environment after environment, and clears what the
    /// learner fills in.
    fn flatten(&mut self) {
        self.obs.clear();
        self.discrete.clear();
        self.continuous.clear();
        self.masks.clear();
        self.rewards.clear();
        self.terminated.clear();
        self.truncated.clear();
        self.truncation_obs.clear();
        for s in &self.segments {
            self.obs.extend_from_slice(&s.obs);
            self.discrete.extend_from_slice(&s.discrete);
            self.continuous.extend_from_slice(&s.continuous);
            self.masks.extend_from_slice(&s.masks);
            self.rewards.extend_from_slice(&s.rewards);
            self.terminated.extend_from_slice(&s.terminated);
            self.truncated.extend_from_slice(&s.truncated);
            self.truncation_obs.extend_from_slice(&s.truncation_obs);
        }
        self.old_log_probs.clear();
        self.old_values.clear();
        self.advantages.clear();
        self.returns.clear();
    }

    /// The steps whose final observation is in [`truncation_obs`](Self::truncation_obs),
    /// in the same order.
    pub fn truncation_steps(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.len()).filter(|&t| self.truncated[t] && !self.terminated[t])
    }

    /// Copies the batch's `rows` into `mb`, one pass per column. A column the learner
    /// did not fill in stays empty in the minibatch.
    pub fn gather(&self, rows: &[usize], mb: &mut Minibatch) {
        fn pick<T: Copy>(from: &[T], width: usize, rows: &[usize], to: &mut Vec<T>) {
            to.clear();
            if from.is_empty() {
                return;
            }
            to.reserve(rows.len() * width);
            for &r in rows {
                to.extend_from_slice(&from[r * width..(r + 1) * width]);
            }
        }
        let width = |column: usize| column.checked_div(self.len()).unwrap_or(0);
        pick(&self.obs, self.obs_dim, rows, &mut mb.obs);
        pick(
            &self.discrete,
            width(self.discrete.len()),
            rows,
            &mut mb.discrete,
        );
        pick(
            &self.continuous,
            width(self.continuous.len()),
            rows,
            &mut mb.continuous,
        );
        pick(&self.masks, width(self.masks.len()), rows, &mut mb.masks);
        pick(&self.advantages, 1, rows, &mut mb.advantages);
        pick(&self.returns, 1, rows, &mut mb.returns);
        pick(&self.old_log_probs, 1, rows, &mut mb.old_log_probs);
        pick(&self.old_values, 1, rows, &mut mb.old_values);
    }
}

/// Rows of a [`Rollout`], copied out for one gradient step (the buffers are reused).
#[derive(Debug, Clone, Default)]
pub struct Minibatch {
    /// Observations, `rows * obs_dim`.
    pub obs: Vec<f32>,
    /// Integer actions, `rows *` the action's width.
    pub discrete: Vec<i64>,
    /// Gaussian actions, `rows * action_dim`.
    pub continuous: Vec<f32>,
    /// The actions' masks, `rows *` the mask's width (empty without masks).
    pub masks: Vec<bool>,
    /// Advantages.
    pub advantages: Vec<f32>,
    /// Value targets.
    pub returns: Vec<f32>,
    /// Old log-probabilities (empty unless the objective needs them).
    pub old_log_probs: Vec<f32>,
    /// Old values (empty unless the objective needs them).
    pub old_values: Vec<f32>,
}

impl Minibatch {
    /// The observations, actions and action masks (when it holds any) as tensors on
    /// backend `B`, for a policy with `head` on observations of `obs_dim`.
    #[allow(clippy::type_complexity)]
    pub fn tensors<B: Backend>(
        &self,
        obs_dim: usize,
        head: &ActionHead,
        device: &B::Device,
    ) -> (Tensor<B, 2>, ActionBatch<B>, Option<Tensor<B, 2, Bool>>) {
        let rows = self.obs.len() / obs_dim;
        let obs = Tensor::from_data(TensorData::new(self.obs.clone(), [rows, obs_dim]), device);
        let actions = ActionBatch::from_host(head, &self.discrete, &self.continuous, rows, device);
        let masks = (!self.masks.is_empty()).then(|| {
            let w = self.masks.len() / rows;
            Tensor::from_data(TensorData::new(self.masks.clone(), [rows, w]), device)
        });
        (obs, actions, masks)
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.advantages.len()
    }

    /// Whether it holds no row.
    pub fn is_empty(&self) -> bool {
        self.advantages.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_copies_the_rows_asked_for_column_by_column() {
        let mut r = Rollout::new(1, 2);
        r.obs = vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5];
        r.discrete = vec![0, 1, 2];
        r.rewards = vec![1.0; 3];
        r.terminated = vec![false, false, true];
        r.truncated = vec![false; 3];
        r.advantages = vec![10.0, 11.0, 12.0];
        r.returns = vec![20.0, 21.0, 22.0];
        let mut mb = Minibatch::default();
        r.gather(&[2, 0], &mut mb);
        assert_eq!(mb.obs, [2.0, 2.5, 0.0, 0.5]);
        assert_eq!(mb.discrete, [2, 0]);
        assert_eq!(mb.advantages, [12.0, 10.0]);
        assert_eq!(mb.returns, [22.0, 20.0]);
        assert!(mb.continuous.is_empty() && mb.old_log_probs.is_empty());
        assert_eq!(mb.len(), 2);
    }
}
