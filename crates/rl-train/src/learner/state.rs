//! A learner's whole state between updates, taken and restored bit for bit.

use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use rl_core::Normalizer;
use rl_core::rng::{self, Rng};
use serde::{Deserialize, Serialize};

use super::team::{self, WorkerState};
use super::{Learner, Parts, STREAM_ENVS, fresh_normalizer, model_config};
use crate::collective::Collective;
use crate::config::TrainConfig;
use crate::env_source::EnvSource;
use crate::error::TrainError;
use crate::optim::Optim;
use crate::registry::Registry;
use crate::rollout::Counters;

/// Everything a [`Learner`] holds between updates: the configuration, the network, the
/// optimiser's state, the environments (their states and generators), the generators
/// and the counters. [`Learner::from_state`] continues exactly where [`Learner::state`]
/// was taken: bit for bit on the same backend.
#[derive(Clone, Serialize, Deserialize)]
pub struct LearnerState {
    /// The configuration.
    pub config: TrainConfig,
    /// Episodes finished.
    pub episodes: u64,
    /// Environment steps taken.
    pub env_steps: u64,
    /// Updates done.
    pub updates: u64,
    /// Seconds spent training (timing only: it never changes a result).
    pub elapsed: f64,
    pub(super) rng: Rng,
    pub(super) shuffle_rng: Rng,
    /// The environments' snapshot ([`VectorEnv::snapshot`]); `None` for environments
    /// that cannot be saved, whose episodes restart when the run resumes.
    pub(super) envs: Option<serde_bytes::ByteBuf>,
    pub(super) dirty: Vec<bool>,
    /// The normalisation statistics, with `normalize_obs` or `normalize_reward`.
    #[serde(default)]
    pub(super) normalizer: Option<Normalizer>,
    /// The network's Burn record (named MessagePack, full precision).
    #[serde(with = "serde_bytes")]
    pub(super) model: Vec<u8>,
    /// The optimiser's record, likewise.
    #[serde(with = "serde_bytes")]
    pub(super) optimizer: Vec<u8>,
    /// A data-parallel run's workers after the first (whose generators and environments
    /// these are; the first's are the fields above, the network and optimiser are every
    /// worker's). Empty for a run in one process.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) workers: Vec<WorkerState>,
}

impl std::fmt::Debug for LearnerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LearnerState")
            .field("config", &self.config)
            .field("episodes", &self.episodes)
            .field("env_steps", &self.env_steps)
            .field("updates", &self.updates)
            .finish_non_exhaustive()
    }
}

fn recorder() -> NamedMpkBytesRecorder<FullPrecisionSettings> {
    NamedMpkBytesRecorder::new()
}

impl<B: AutodiffBackend> Learner<B> {
    /// A learner that continues exactly where `state` was taken, on the built-in
    /// environment its configuration names. Everything is checked against the
    /// configuration first: a state that does not fit is an error, not a panic later.
    pub fn from_state(state: LearnerState, device: B::Device) -> Result<Self, TrainError> {
        let source = Registry::builtin().get(&state.config.env)?.clone();
        Self::from_state_with_env(source, state, device)
    }

    /// [`from_state`](Self::from_state) on the environments `source` makes. Environments
    /// that can be saved continue exactly; others restart every episode, from a seed that
    /// depends on the run's seed and the update (see
    /// [`restarted_episodes`](Self::restarted_episodes)).
    pub fn from_state_with_env(
        source: EnvSource,
        state: LearnerState,
        device: B::Device,
    ) -> Result<Self, TrainError> {
        if !state.workers.is_empty() {
            return Err(TrainError::Workers(format!(
                "this run was trained by {} data-parallel workers: resume it with as many",
                state.workers.len() + 1
            )));
        }
        Self::restore(source, state, device, None)
    }

    /// [`from_state_with_env`](Self::from_state_with_env) with a team; `state`'s fields
    /// are this worker's.
    pub(super) fn restore(
        source: EnvSource,
        state: LearnerState,
        device: B::Device,
        team: Option<Box<dyn Collective>>,
    ) -> Result<Self, TrainError> {
        let bad = |m: String| TrainError::State(m);
        let cfg = state.config;
        cfg.validate()?;
        let (rank, workers) = team::rank_of(team.as_deref());
        team::check_split(&cfg, workers)?;
        let n_envs = cfg.n_envs / workers;
        // Far beyond any run, and far from overflowing as a run counts on.
        const MAX: u64 = i64::MAX as u64;
        if state.episodes > MAX || state.env_steps > MAX || state.updates > MAX {
            return Err(bad(format!(
                "the saved counters ({} episodes, {} steps, {} updates) are out of range",
                state.episodes, state.env_steps, state.updates
            )));
        }
        let (spec, mut envs) = Self::setup_envs(&source, &cfg, n_envs)?;
        if state.dirty.len() != n_envs {
            return Err(bad(format!(
                "the saved rollout flags are for {} environments, the configuration's worker has {n_envs}",
                state.dirty.len()
            )));
        }
        let mut dirty = state.dirty;
        let restarted_episodes = match &state.envs {
            Some(snapshot) => {
                envs.restore(snapshot).map_err(|e| {
                    bad(format!(
                        "the saved environments ({}) do not restore: {e}",
                        spec.id
                    ))
                })?;
                false
            }
            None => {
                // Environments that cannot be saved start new episodes, from the next
                // seed of the run's environment stream.
                let base = rng::stream(rng::stream(cfg.seed, STREAM_ENVS), state.updates);
                envs.reset(Some(base.wrapping_add((rank * n_envs) as u64)))?;
                dirty.fill(false);
                true
            }
        };
        let obs_dim = spec.observation_space.flat_dim();
        let norm = match state.normalizer {
            Some(n) if n.is_active() => {
                if !n.training {
                    return Err(bad(
                        "the saved normalisation statistics are frozen, not a learner's".into(),
                    ));
                }
                n.check(&fresh_normalizer(&cfg, obs_dim))
                    .map_err(|e| bad(format!("the saved normalisation is unusable: {e}")))?;
                n
            }
            _ if cfg.normalize_obs || cfg.normalize_reward => {
                return Err(bad(
                    "the configuration normalises, but the state has no statistics".into(),
                ));
            }
            _ => fresh_normalizer(&cfg, obs_dim),
        };
        let fresh = model_config(&cfg, &spec).init::<B>(&device);
        let reference = Recorder::<B>::record(&recorder(), fresh.clone().into_record(), ())
            .map_err(|e| bad(format!("cannot record the network: {e}")))?;
        rl_models::record::check_network(&state.model, &reference)
            .map_err(|e| bad(format!("the saved network does not load: {e}")))?;
        rl_models::record::check_optimizer(&state.optimizer)
            .map_err(|e| bad(format!("the saved optimiser does not load: {e}")))?;
        let record = Recorder::<B>::load(&recorder(), state.model, &device)
            .map_err(|e| bad(format!("the saved network does not load: {e}")))?;
        let model = fresh.load_record_checked(record).map_err(bad)?;
        let optim =
            Optim::from_bytes(cfg.optimizer(), state.optimizer, &model, &device).map_err(bad)?;
        let parts = Parts {
            model,
            optim,
            envs,
            restarted_episodes,
            norm,
            rng: state.rng,
            shuffle_rng: state.shuffle_rng,
            dirty,
            counters: Counters {
                episodes: state.episodes,
                env_steps: state.env_steps,
            },
            updates: state.updates,
            elapsed: state.elapsed,
        };
        Ok(Self::assemble(cfg, source, spec, parts, device, team))
    }

    /// The learner's whole state, to continue later with [`from_state`](Self::from_state).
    /// In a data-parallel run every worker calls it at the same update (it gathers every
    /// worker's generators and environments) and gets the whole run's state.
    pub fn state(&mut self) -> Result<LearnerState, TrainError> {
        let mut state = self.own_state()?;
        if self.team.is_some() {
            // The weights saved are every worker's: checked after the last update too.
            self.check_same_weights()?;
            state.workers = self.gather_workers(&state)?;
        }
        Ok(state)
    }

    /// This worker's state alone.
    pub(super) fn own_state(&self) -> Result<LearnerState, TrainError> {
        let model = Recorder::<B>::record(&recorder(), self.model.clone().into_record(), ())
            .map_err(|e| TrainError::State(format!("cannot record the network: {e}")))?;
        let optimizer = self.optim.to_bytes().map_err(TrainError::State)?;
        Ok(LearnerState {
            config: self.cfg.clone(),
            episodes: self.counters.episodes,
            env_steps: self.counters.env_steps,
            updates: self.updates,
            elapsed: self.elapsed(),
            rng: self.rng.clone(),
            shuffle_rng: self.shuffle_rng.clone(),
            envs: self
                .envs
                .snapshot()
                .transpose()
                .map_err(|e| TrainError::State(format!("cannot save the environments: {e}")))?
                .map(serde_bytes::ByteBuf::from),
            dirty: self.rollout.dirty().to_vec(),
            normalizer: self.norm.is_active().then(|| self.norm.clone()),
            model,
            optimizer,
            workers: Vec::new(),
        })
    }
}
