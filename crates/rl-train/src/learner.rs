//! The one learner pipeline: rollout -> old statistics -> advantages -> epochs of
//! minibatch losses and optimiser steps -> metrics.
//!
//! Every learner is a [`Recipe`]: an advantage estimator, an objective, a number of epochs
//! and of minibatches. REINFORCE and REINFORCE with baseline take one full-batch step of
//! the vanilla objective on Monte-Carlo returns; nothing else distinguishes them here.

use std::ops::ControlFlow;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use rl_core::rng::{self, Rng, RngExt};
use rl_core::{Batch, EnvSpec, Normalizer, VectorEnv, normalize_in_place};
use rl_models::{ActionBatch, ActionHead, ActorCritic, ActorCriticConfig, Evaluation, read_f32};
use serde::{Deserialize, Serialize};

use crate::actor::{Actor, head_for};
use crate::collective::{Collective, CollectiveError};
use crate::config::{ConfigError, Recipe, TrainConfig};
use crate::env_source::{EnvSource, Registry};
use crate::grad_clip::clip_global_norm;
use crate::loss::{LossCoefs, Objective, PolicyObjective, Targets, ValueObjective, loss};
use crate::optim::Optim;
use crate::rollout::{Counters, Minibatch, Plan, Rollout};

mod team;
pub use team::WorkerState;

/// Seed streams split from the run's one seed.
const STREAM_ENVS: u64 = 0;
const STREAM_ACTIONS: u64 = 1;
const STREAM_INIT: u64 = 2;
const STREAM_MINIBATCHES: u64 = 3;

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

/// One finished episode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpisodeRecord {
    /// 1-based, over the whole run.
    pub episode: u64,
    /// Environment steps taken by the run when it ended.
    pub env_steps: u64,
    /// The undiscounted return.
    pub episodic_return: f64,
    /// The number of steps.
    pub episodic_length: usize,
}

/// What one update reports. The loss terms and diagnostics are means over the update's
/// gradient steps (one for REINFORCE, the baseline and A2C).
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateReport {
    /// 1-based.
    pub update: u64,
    /// The episodes that finished in this update's rollout, in order.
    pub episodes: Vec<EpisodeRecord>,
    /// Environment steps of the run so far.
    pub env_steps: u64,
    /// The learning rate of this update's steps.
    pub learning_rate: f64,
    /// The policy term of the loss.
    pub policy_loss: f32,
    /// The value term (0 without a value head).
    pub value_loss: f32,
    /// Mean policy entropy over the batch.
    pub entropy: f32,
    /// Global gradient norm before clipping (computed only when clipping is on).
    pub grad_norm: Option<f32>,
    /// `mean((r - 1) - log r)` of the probability ratio (with the clipped surrogate).
    pub approx_kl: Option<f32>,
    /// `mean(-log r)` (with the clipped surrogate).
    pub old_approx_kl: Option<f32>,
    /// The fraction of rows whose ratio was clipped (with the clipped surrogate).
    pub clipfrac: Option<f32>,
    /// `1 - Var(R - V_old) / Var(R)` over the rollout (with a value head; NaN when the
    /// returns do not vary).
    pub explained_variance: Option<f64>,
    /// Epochs run over the rollout (fewer than configured when `target_kl` stopped them).
    pub epochs: usize,
    /// Environment steps per second since the start of the run, updates included.
    pub sps: f64,
    /// Seconds since the start of the run.
    pub wall_time: f64,
}

/// A policy-gradient learner on the autodiff backend `B`.
pub struct Learner<B: AutodiffBackend> {
    cfg: TrainConfig,
    /// Where the environments come from (to make a worker's, or restart them).
    source: EnvSource,
    /// The environments' spaces and rules, read from the environments made.
    spec: EnvSpec,
    recipe: Recipe,
    head: ActionHead,
    obs_dim: usize,
    device: B::Device,
    model: ActorCritic<B>,
    optim: Optim<B>,
    envs: Box<dyn VectorEnv>,
    /// Whether resuming restarted every episode (environments that cannot be saved).
    restarted_episodes: bool,
    /// Observation and reward normalisation (inactive unless configured).
    norm: Normalizer,
    /// Action sampling.
    rng: Rng,
    /// Minibatch shuffling.
    shuffle_rng: Rng,
    rollout: Rollout,
    minibatch: Minibatch,
    counters: Counters,
    updates: u64,
    started: Instant,
    /// Training seconds before `started` (of the run this one resumes).
    elapsed_before: f64,
    /// The other workers of a data-parallel run (none: this process alone).
    team: Option<Box<dyn Collective>>,
}

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
    rng: Rng,
    shuffle_rng: Rng,
    /// The environments' snapshot ([`VectorEnv::snapshot`]); `None` for environments
    /// that cannot be saved, whose episodes restart when the run resumes.
    envs: Option<serde_bytes::ByteBuf>,
    dirty: Vec<bool>,
    /// The normalisation statistics, with `normalize_obs` or `normalize_reward`.
    #[serde(default)]
    normalizer: Option<Normalizer>,
    /// The network's Burn record (named MessagePack, full precision).
    #[serde(with = "serde_bytes")]
    model: Vec<u8>,
    /// The optimiser's record, likewise.
    #[serde(with = "serde_bytes")]
    optimizer: Vec<u8>,
    /// A data-parallel run's workers after the first (whose generators and environments
    /// these are; the first's are the fields above, the network and optimiser are every
    /// worker's). Empty for a run in one process.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    workers: Vec<WorkerState>,
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

impl<B: AutodiffBackend> std::fmt::Debug for Learner<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Learner")
            .field("cfg", &self.cfg)
            .field("updates", &self.updates)
            .finish_non_exhaustive()
    }
}

fn recorder() -> NamedMpkBytesRecorder<FullPrecisionSettings> {
    NamedMpkBytesRecorder::new()
}

/// The normalisation a configuration asks for, with fresh statistics (SB3's
/// `VecNormalize` with the run's `gamma` for the returns, as rl-zoo sets it).
pub fn fresh_normalizer(cfg: &TrainConfig, obs_dim: usize) -> Normalizer {
    Normalizer::new(
        obs_dim,
        cfg.n_envs,
        cfg.normalize_obs,
        cfg.normalize_reward.then_some(cfg.gamma),
    )
}

/// The network configuration a training configuration implies for the environment of
/// `spec`.
pub fn model_config(cfg: &TrainConfig, spec: &EnvSpec) -> ActorCriticConfig {
    ActorCriticConfig::new(
        spec.observation_space.flat_dim(),
        head_for(&spec.action_space),
    )
    .with_hidden(cfg.hidden.clone())
    .with_value_hidden(cfg.value_hidden.clone())
    .with_activation(cfg.activation)
    .with_init(cfg.init)
    .with_value(cfg.model_value_network())
    .with_init_log_std(cfg.log_std_init as f32)
    .with_sde(cfg.use_sde)
}

/// The parts of a learner that a fresh start and a saved state provide differently.
struct Parts<B: AutodiffBackend> {
    model: ActorCritic<B>,
    optim: Optim<B>,
    envs: Box<dyn VectorEnv>,
    restarted_episodes: bool,
    norm: Normalizer,
    rng: Rng,
    shuffle_rng: Rng,
    dirty: Vec<bool>,
    counters: Counters,
    updates: u64,
    elapsed: f64,
}

impl<B: AutodiffBackend> Learner<B> {
    /// Validates `cfg` and sets up the built-in environment it names, the network and the
    /// optimiser, all seeded from `cfg.seed`.
    pub fn new(cfg: TrainConfig, device: B::Device) -> Result<Self, TrainError> {
        let source = Registry::builtin().get(&cfg.env)?.clone();
        Self::with_env(source, cfg, device)
    }

    /// [`new`](Self::new) on the environments `source` makes (yours, say).
    pub fn with_env(
        source: EnvSource,
        cfg: TrainConfig,
        device: B::Device,
    ) -> Result<Self, TrainError> {
        Self::fresh(source, cfg, device, None)
    }

    /// Validates `cfg`, reads the environment's spec from one environment the source
    /// makes, and checks the configuration against it and against this machine's
    /// memory; then makes `n` environments.
    fn setup_envs(
        source: &EnvSource,
        cfg: &TrainConfig,
        n: usize,
    ) -> Result<(EnvSpec, Box<dyn VectorEnv>), TrainError> {
        cfg.validate()?;
        let spec = source.spec(cfg)?;
        cfg.check_with(&spec)?;
        crate::memory::check(cfg, &spec, crate::memory::machine_memory())?;
        let envs = source.make(cfg, n)?;
        if envs.spec() != &spec {
            return Err(TrainError::Config(ConfigError(format!(
                "env {}: its source made environments of different specs ({:?} and {:?})",
                source.id(),
                spec,
                envs.spec()
            ))));
        }
        Ok((spec, envs))
    }

    /// [`with_env`](Self::with_env) with a team: `cfg` is validated here.
    fn fresh(
        source: EnvSource,
        cfg: TrainConfig,
        device: B::Device,
        team: Option<Box<dyn Collective>>,
    ) -> Result<Self, TrainError> {
        cfg.validate()?;
        let (rank, workers) = team::rank_of(team.as_deref());
        team::check_split(&cfg, workers)?;
        let n = cfg.n_envs / workers;
        let (spec, mut envs) = Self::setup_envs(&source, &cfg, n)?;
        // Worker r's environments are environments r n .. (r + 1) n of one process.
        envs.reset(Some(
            rng::stream(cfg.seed, STREAM_ENVS).wrapping_add((rank * n) as u64),
        ))?;
        // The first observations are folded into the statistics, as VecNormalize.reset.
        let mut norm = fresh_normalizer(&cfg, spec.observation_space.flat_dim());
        norm.observe(envs.observations(), &mut Vec::new());
        // The same initial network on every worker.
        let model = model_config(&cfg, &spec).init_seeded::<B>(
            &mut rng::seeded(rng::stream(cfg.seed, STREAM_INIT)),
            &device,
        );
        let parts = Parts {
            model,
            optim: Optim::new(cfg.optimizer()),
            envs,
            restarted_episodes: false,
            norm,
            rng: rng::seeded(team::worker_stream(cfg.seed, STREAM_ACTIONS, rank)),
            shuffle_rng: rng::seeded(team::worker_stream(cfg.seed, STREAM_MINIBATCHES, rank)),
            dirty: vec![false; n],
            counters: Counters::default(),
            updates: 0,
            elapsed: 0.0,
        };
        Ok(Self::assemble(cfg, source, spec, parts, device, team))
    }

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
    fn restore(
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

    /// The one constructor behind [`new`](Self::new) and [`from_state`](Self::from_state);
    /// `cfg` is validated.
    fn assemble(
        cfg: TrainConfig,
        source: EnvSource,
        spec: EnvSpec,
        p: Parts<B>,
        device: B::Device,
        team: Option<Box<dyn Collective>>,
    ) -> Self {
        let model_cfg = model_config(&cfg, &spec);
        Self {
            recipe: cfg.recipe(),
            head: model_cfg.action.clone(),
            obs_dim: model_cfg.obs_dim,
            source,
            spec,
            device,
            model: p.model,
            optim: p.optim,
            envs: p.envs,
            restarted_episodes: p.restarted_episodes,
            norm: p.norm,
            rng: p.rng,
            shuffle_rng: p.shuffle_rng,
            rollout: Rollout::with_dirty(p.dirty, model_cfg.obs_dim),
            minibatch: Minibatch::default(),
            counters: p.counters,
            updates: p.updates,
            started: Instant::now(),
            elapsed_before: p.elapsed,
            cfg,
            team,
        }
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
    fn own_state(&self) -> Result<LearnerState, TrainError> {
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

    /// The observation and reward normalisation, as it stands (inactive unless
    /// configured).
    pub fn normalizer(&self) -> &Normalizer {
        &self.norm
    }

    /// Seconds spent training, over every run this one resumes.
    pub fn elapsed(&self) -> f64 {
        self.elapsed_before + self.started.elapsed().as_secs_f64()
    }

    /// Updates done so far.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    /// The environments' spaces and rules.
    pub fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    /// Where the environments come from.
    pub fn source(&self) -> &EnvSource {
        &self.source
    }

    /// Whether this learner was resumed from a state without its environments (they
    /// cannot be saved), so every episode restarted: the network, optimiser, generators,
    /// counters and logs continue exactly, the episodes do not.
    pub fn restarted_episodes(&self) -> bool {
        self.restarted_episodes
    }

    /// The network being trained.
    pub fn model(&self) -> &ActorCritic<B> {
        &self.model
    }

    /// Episodes finished so far.
    pub fn episodes(&self) -> u64 {
        self.counters.episodes
    }

    /// Environment steps taken so far.
    pub fn env_steps(&self) -> u64 {
        self.counters.env_steps
    }

    /// How much of the budget is spent, in its unit (see [`TrainConfig::budget`]).
    pub fn progress(&self) -> u64 {
        match self.cfg.budget().1 {
            "steps" => self.counters.env_steps,
            _ => self.counters.episodes,
        }
    }

    /// Whether the budget (episodes, or environment steps) is spent.
    pub fn is_done(&self) -> bool {
        self.progress() >= self.cfg.budget().0
    }

    /// Trains until the budget is spent or `on_update` breaks.
    pub fn run(
        &mut self,
        mut on_update: impl FnMut(&UpdateReport) -> ControlFlow<()>,
    ) -> Result<(), TrainError> {
        while !self.is_done() {
            let report = self.update()?;
            if on_update(&report).is_break() {
                break;
            }
        }
        Ok(())
    }

    /// One rollout, then the recipe's epochs of minibatch steps.
    pub fn update(&mut self) -> Result<UpdateReport, TrainError> {
        let recipe = self.recipe;
        if self.team.is_some() {
            self.check_same_weights()?;
        }
        let before = self.counters;
        // Rollout.
        // A new actor per rollout: gSDE draws fresh exploration matrices at its start.
        let mut actor = Actor::new(self.model.valid(), self.obs_dim, self.cfg.acting)
            .with_sde_sample_freq(self.cfg.sde_sample_freq);
        let plan = self.plan();
        let episodes = self.rollout.collect(
            &mut *self.envs,
            &mut self.norm,
            &mut actor,
            &mut self.rng,
            &self.device,
            plan,
            &mut self.counters,
        )?;
        drop(actor);
        let episodes = match self.team.is_some() {
            true => self.gather_episodes(before, episodes)?,
            false => episodes,
        };
        self.updates += 1;
        let n = self.rollout.len();
        let all: Vec<usize> = (0..n).collect();

        // Old statistics. A single full-batch step takes V(s_t) from its own forward (the
        // bits an inference forward gives, one forward fewer); several steps need the
        // rollout's log-probabilities and values as they were before the first one.
        let mut single = None;
        let mut truncation_values = None;
        if recipe.is_single_step() {
            self.rollout.gather(&all, &mut self.minibatch);
            let (obs, actions, masks) = self.inputs();
            let eval = self.model.evaluate_masked(obs, actions, masks);
            if recipe.estimator.needs_values()
                && let Some(v) = &eval.value
            {
                self.rollout.old_values = read_f32(v.clone().inner());
            }
            single = Some(eval);
        } else {
            truncation_values = self.old_statistics(&all);
        }

        // Advantages.
        let truncation_values = truncation_values.unwrap_or_else(|| self.truncation_values());
        let est = recipe.estimator.compute(
            &Batch {
                rewards: &self.rollout.rewards,
                terminated: &self.rollout.terminated,
                truncated: &self.rollout.truncated,
                values: &self.rollout.old_values,
                truncation_values: &truncation_values,
            },
            self.cfg.gamma as f32,
            recipe.normalize_returns,
        )?;
        self.rollout.advantages = est.advantages;
        self.rollout.returns = est.returns;

        // Epochs of minibatch steps.
        let lr = self.learning_rate();
        let objective = self.objective();
        let coefs = LossCoefs {
            vf_coef: self.cfg.vf_coef as f32,
            ent_coef: self.cfg.ent_coef as f32,
        };
        let mut rows = all;
        let mut stats = Stats::default();
        let mut epochs = 0;
        for _ in 0..recipe.epochs {
            epochs += 1;
            if single.is_none() {
                shuffle(&mut rows, &mut self.shuffle_rng);
            }
            let mut last_kl = None;
            let mut last_team_kl = None;
            for mb in rows.chunks(n / recipe.minibatches) {
                // Loss.
                self.rollout.gather(mb, &mut self.minibatch);
                if recipe.norm_adv {
                    normalize_in_place(&mut self.minibatch.advantages);
                }
                let eval = match single.take() {
                    Some(eval) => eval,
                    None => {
                        let (obs, actions, masks) = self.inputs();
                        self.model.evaluate_masked(obs, actions, masks)
                    }
                };
                let l = loss(eval, self.targets(), objective, coefs);

                // Optimiser step.
                let mut grads = GradientsParams::from_grads(l.total.backward(), &self.model);
                let kl = l.diagnostics.as_ref().map(|d| d.approx_kl.clone().inner());
                let team_kl = match self.team.is_some() {
                    true => self.mean_gradients(&mut grads, kl.clone())?,
                    false => None,
                };
                let grad_norm = self.cfg.max_grad_norm.map(|m| {
                    clip_global_norm::<B, _>(&self.model, &mut grads, m as f32, &self.device)
                });
                self.model = self.optim.step(lr, self.model.clone(), grads);
                last_kl = kl;
                last_team_kl = team_kl;
                stats.add(&l, grad_norm);
            }
            // CleanRL's early stop: the last minibatch's KL estimate, read only when a
            // target is set (the workers' mean in a data-parallel run, so all stop
            // together).
            let kl = match (last_team_kl, last_kl) {
                (Some(mean), _) => Some(mean),
                (None, Some(kl)) if self.cfg.target_kl.is_some() => Some(read_f32(kl)[0]),
                _ => None,
            };
            if let (Some(target), Some(kl)) = (self.cfg.target_kl, kl)
                && f64::from(kl) > target
            {
                break;
            }
        }

        // Metrics: one read-back for the update.
        let m = stats.read();
        if !m.finite() {
            return Err(TrainError::NonFinite {
                update: self.updates,
                policy_loss: m.policy_loss,
                value_loss: m.value_loss,
                entropy: m.entropy,
            });
        }
        let wall_time = self.elapsed();
        Ok(UpdateReport {
            update: self.updates,
            episodes,
            env_steps: self.counters.env_steps,
            learning_rate: lr,
            policy_loss: m.policy_loss,
            value_loss: m.value_loss,
            entropy: m.entropy,
            grad_norm: m.grad_norm,
            approx_kl: m.approx_kl,
            old_approx_kl: m.old_approx_kl,
            clipfrac: m.clipfrac,
            explained_variance: self.explained_variance(),
            epochs,
            sps: self.counters.env_steps as f64 / wall_time.max(1e-9),
            wall_time,
        })
    }

    /// The rollout plan of the configuration.
    fn plan(&self) -> Plan {
        let n = self.cfg.n_envs;
        match self.cfg.steps_per_update {
            Some(s) => Plan::Steps { per_env: s / n },
            None => Plan::Episodes {
                per_env: self.cfg.episodes_per_update / n,
            },
        }
    }

    /// CleanRL's annealing fraction of the current update, `1 - (update - 1) / updates`:
    /// a function of the update's number only, so a resumed run continues the schedule
    /// exactly.
    fn anneal_fraction(&self) -> f64 {
        match self.cfg.planned_updates() {
            Some(total) => (1.0 - (self.updates - 1) as f64 / total.max(1) as f64).max(0.0),
            None => 1.0,
        }
    }

    /// The learning rate of the current update, annealed with `anneal_lr`.
    fn learning_rate(&self) -> f64 {
        if self.cfg.anneal_lr {
            self.cfg.lr * self.anneal_fraction()
        } else {
            self.cfg.lr
        }
    }

    /// The objective of the current update: with `anneal_clip`, PPO's clipping
    /// coefficients annealed as the learning rate (rl-zoo's `lin_` clip ranges).
    fn objective(&self) -> Objective {
        let mut o = self.recipe.objective;
        if self.cfg.anneal_clip {
            let frac = self.anneal_fraction() as f32;
            if let PolicyObjective::Clipped { clip_coef } = &mut o.policy {
                *clip_coef *= frac;
            }
            if let ValueObjective::HalfMse { clip: Some(c) } = &mut o.value {
                *c *= frac;
            }
        }
        o
    }

    /// `log pi_old` and `V_old` of every step of the rollout, from the inference network
    /// (no autodiff graph), and, for an estimator that bootstraps, `V` of every truncated
    /// step's final observation placed at its step: one forward over the rollout's
    /// observations and the final ones, one read-back.
    fn old_statistics(&mut self, all: &[usize]) -> Option<Vec<f32>> {
        self.rollout.gather(all, &mut self.minibatch);
        let n = all.len();
        let bootstraps = self.recipe.estimator.bootstraps();
        let k = if bootstraps {
            self.rollout.truncation_obs.len() / self.obs_dim
        } else {
            0
        };
        // The final observations ride along with any action (their log-probabilities
        // are not read).
        let mb = &mut self.minibatch;
        mb.obs
            .extend_from_slice(&self.rollout.truncation_obs[..k * self.obs_dim]);
        let w = self.head.action_width();
        match self.head {
            ActionHead::Gaussian { .. } => mb.continuous.resize((n + k) * w, 0.0),
            _ => mb.discrete.resize((n + k) * w, 0),
        }
        if !mb.masks.is_empty() {
            // Every action allowed: the rows are a value's, their actions made up.
            let mask_w = mb.masks.len() / n;
            mb.masks.resize((n + k) * mask_w, true);
        }
        let (obs, actions, masks) = inputs(mb, self.obs_dim, &self.head, &self.device);
        let Evaluation {
            log_prob, value, ..
        } = self.model.valid().evaluate_masked(obs, actions, masks);
        let all = match value {
            Some(v) => read_f32(Tensor::cat(vec![log_prob, v], 0)),
            None => read_f32(log_prob),
        };
        let (log_probs, values) = all.split_at(n + k);
        self.rollout.old_log_probs = log_probs[..n].to_vec();
        self.rollout.old_values = values.get(..n).unwrap_or_default().to_vec();
        bootstraps.then(|| {
            let mut out = vec![0.0; n];
            let finals = values.get(n..).unwrap_or_default();
            for (t, &v) in self.rollout.truncation_steps().zip(finals) {
                out[t] = v;
            }
            out
        })
    }

    /// `V` of every truncated step's final observation, placed at its step, for the
    /// estimators that bootstrap (computed on the inference copy: no graph).
    fn truncation_values(&self) -> Vec<f32> {
        if !self.recipe.estimator.bootstraps() {
            return Vec::new();
        }
        let mut out = vec![0.0; self.rollout.len()];
        let k = self.rollout.truncation_obs.len() / self.obs_dim;
        if k == 0 {
            return out;
        }
        let obs = Tensor::<B::InnerBackend, 2>::from_data(
            TensorData::new(self.rollout.truncation_obs.clone(), [k, self.obs_dim]),
            &self.device,
        );
        let values = self
            .model
            .valid()
            .value_forward(obs)
            .map(read_f32)
            .unwrap_or_else(|| vec![0.0; k]);
        for (t, v) in self.rollout.truncation_steps().zip(values) {
            out[t] = v;
        }
        out
    }

    /// `1 - Var(R - V_old) / Var(R)` over the rollout, population variances in f64, as
    /// CleanRL computes it; `None` without values.
    fn explained_variance(&self) -> Option<f64> {
        let (y, v) = (&self.rollout.returns, &self.rollout.old_values);
        if v.len() != y.len() || y.is_empty() {
            return None;
        }
        let var = |x: &mut dyn Iterator<Item = f64>| {
            let x: Vec<f64> = x.collect();
            let mean = x.iter().sum::<f64>() / x.len() as f64;
            x.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / x.len() as f64
        };
        let var_y = var(&mut y.iter().map(|&a| f64::from(a)));
        let var_d = var(&mut y.iter().zip(v).map(|(&a, &b)| f64::from(a) - f64::from(b)));
        Some(if var_y == 0.0 {
            f64::NAN
        } else {
            1.0 - var_d / var_y
        })
    }

    /// The minibatch's observations, actions and action masks on the autodiff backend.
    fn inputs(&self) -> (Tensor<B, 2>, ActionBatch<B>, Option<Tensor<B, 2, Bool>>) {
        inputs(&self.minibatch, self.obs_dim, &self.head, &self.device)
    }

    /// The minibatch's constants.
    fn targets(&self) -> Targets<B> {
        let mb = &self.minibatch;
        let t = |v: &Vec<f32>| {
            Tensor::<B, 1>::from_data(TensorData::new(v.clone(), [v.len()]), &self.device)
        };
        let objective = self.recipe.objective;
        Targets {
            advantages: t(&mb.advantages),
            returns: t(&mb.returns),
            old_log_probs: objective
                .needs_old_log_probs()
                .then(|| t(&mb.old_log_probs)),
            old_values: objective.needs_old_values().then(|| t(&mb.old_values)),
        }
    }
}

/// Fisher-Yates, drawing from `rng` (numpy's `shuffle` in CleanRL; any fixed algorithm
/// does, since the draws are ours).
fn shuffle(rows: &mut [usize], rng: &mut Rng) {
    for i in (1..rows.len()).rev() {
        let j = rng.random_range(0..=i);
        rows.swap(i, j);
    }
}

/// A minibatch's observations, actions and action masks (when it holds any) as tensors
/// on backend `C`.
#[allow(clippy::type_complexity)]
fn inputs<C: Backend>(
    mb: &Minibatch,
    obs_dim: usize,
    head: &ActionHead,
    device: &C::Device,
) -> (Tensor<C, 2>, ActionBatch<C>, Option<Tensor<C, 2, Bool>>) {
    let rows = mb.obs.len() / obs_dim;
    let obs = Tensor::from_data(TensorData::new(mb.obs.clone(), [rows, obs_dim]), device);
    let actions = action_batch(head, &mb.discrete, &mb.continuous, rows, device);
    let masks = (!mb.masks.is_empty()).then(|| {
        let w = mb.masks.len() / rows;
        Tensor::from_data(TensorData::new(mb.masks.clone(), [rows, w]), device)
    });
    (obs, actions, masks)
}

/// `rows` actions as the policy head wants them: integer ones from `discrete`
/// (the action's width per row), Gaussian ones from `continuous`.
pub(crate) fn action_batch<C: Backend>(
    head: &ActionHead,
    discrete: &[i64],
    continuous: &[f32],
    rows: usize,
    device: &C::Device,
) -> ActionBatch<C> {
    match head {
        ActionHead::Categorical { .. } => ActionBatch::Discrete(Tensor::from_data(
            TensorData::new(discrete.to_vec(), [rows]),
            device,
        )),
        &ActionHead::Gaussian { action_dim } => ActionBatch::Continuous(Tensor::from_data(
            TensorData::new(continuous.to_vec(), [rows, action_dim]),
            device,
        )),
        head => ActionBatch::MultiDiscrete(Tensor::from_data(
            TensorData::new(discrete.to_vec(), [rows, head.action_width()]),
            device,
        )),
    }
}

/// The update's loss terms and diagnostics, summed over its gradient steps on the
/// device and read back once.
struct Stats<B: Backend> {
    /// `[policy, value, entropy, (grad norm), (approx_kl, old_approx_kl, clipfrac)]`.
    sums: Option<Tensor<B, 1>>,
    steps: usize,
    grad_norm: bool,
    diagnostics: bool,
}

/// [`Stats`] read back: means over the steps.
struct Means {
    policy_loss: f32,
    value_loss: f32,
    entropy: f32,
    grad_norm: Option<f32>,
    approx_kl: Option<f32>,
    old_approx_kl: Option<f32>,
    clipfrac: Option<f32>,
}

impl Means {
    fn finite(&self) -> bool {
        [self.policy_loss, self.value_loss, self.entropy]
            .into_iter()
            .chain(self.grad_norm)
            .all(f32::is_finite)
    }
}

impl<B: Backend> Default for Stats<B> {
    fn default() -> Self {
        Self {
            sums: None,
            steps: 0,
            grad_norm: false,
            diagnostics: false,
        }
    }
}

impl<B: Backend> Stats<B> {
    fn add<A: AutodiffBackend<InnerBackend = B>>(
        &mut self,
        l: &crate::loss::Loss<A>,
        grad_norm: Option<Tensor<B, 1>>,
    ) {
        let mut row = vec![
            l.policy_loss.clone().inner(),
            l.value_loss.clone().inner(),
            l.entropy.clone().inner(),
        ];
        self.grad_norm = grad_norm.is_some();
        row.extend(grad_norm);
        if let Some(d) = &l.diagnostics {
            self.diagnostics = true;
            row.extend([
                d.approx_kl.clone().inner(),
                d.old_approx_kl.clone().inner(),
                d.clipfrac.clone().inner(),
            ]);
        }
        let row = Tensor::cat(row, 0);
        self.sums = Some(match self.sums.take() {
            Some(s) => s + row,
            None => row,
        });
        self.steps += 1;
    }

    fn read(self) -> Means {
        let sums = self.sums.map(read_f32).unwrap_or_default();
        let k = self.steps.max(1) as f64;
        let mut it = sums.into_iter().map(|s| (f64::from(s) / k) as f32);
        let mut next = || it.next().unwrap_or(f32::NAN);
        let (policy_loss, value_loss, entropy) = (next(), next(), next());
        let grad_norm = self.grad_norm.then(&mut next);
        let (approx_kl, old_approx_kl, clipfrac) = if self.diagnostics {
            (Some(next()), Some(next()), Some(next()))
        } else {
            (None, None, None)
        };
        Means {
            policy_loss,
            value_loss,
            entropy,
            grad_norm,
            approx_kl,
            old_approx_kl,
            clipfrac,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Algo;
    use rl_models::backend::{TrainBackend as B, device};

    fn tiny_ppo() -> TrainConfig {
        TrainConfig {
            hidden: vec![4],
            n_envs: 2,
            steps_per_update: Some(16),
            minibatches: 2,
            epochs: 2,
            total_steps: Some(4 * 16),
            ..TrainConfig::for_algo(Algo::Ppo)
        }
    }

    #[test]
    fn the_learning_rate_anneals_as_cleanrl_over_the_step_budget() {
        let mut l = Learner::<B>::new(tiny_ppo(), device()).unwrap();
        let lrs: Vec<f64> = (0..4).map(|_| l.update().unwrap().learning_rate).collect();
        let lr = tiny_ppo().lr;
        assert_eq!(lrs, [lr, lr * 0.75, lr * 0.5, lr * 0.25]);
        assert!(l.is_done());
        // Without annealing, the rate stays.
        let mut l = Learner::<B>::new(
            TrainConfig {
                anneal_lr: false,
                ..tiny_ppo()
            },
            device(),
        )
        .unwrap();
        assert_eq!(l.update().unwrap().learning_rate, lr);
        assert_eq!(l.update().unwrap().learning_rate, lr);
    }

    #[test]
    fn annealing_the_clip_scales_both_clipping_coefficients() {
        let mut l = Learner::<B>::new(
            TrainConfig {
                anneal_clip: true,
                ..tiny_ppo()
            },
            device(),
        )
        .unwrap();
        l.update().unwrap();
        l.update().unwrap();
        // The third of four updates: fraction 0.5.
        l.updates = 2 + 1;
        let o = l.objective();
        assert_eq!(o.policy, PolicyObjective::Clipped { clip_coef: 0.1 });
        assert_eq!(o.value, ValueObjective::HalfMse { clip: Some(0.1) });
    }

    #[test]
    fn ppo_reports_its_diagnostics_and_a2c_does_not() {
        let mut l = Learner::<B>::new(tiny_ppo(), device()).unwrap();
        let r = l.update().unwrap();
        assert_eq!(r.epochs, 2);
        // The first minibatch starts at the rollout's policy: ratio 1 there.
        assert!(r.approx_kl.is_some() && r.clipfrac.is_some() && r.old_approx_kl.is_some());
        assert!(r.explained_variance.is_some() && r.grad_norm.is_some());
        let a2c = TrainConfig {
            hidden: vec![4],
            total_steps: Some(100),
            ..TrainConfig::for_algo(Algo::A2c)
        };
        let r = Learner::<B>::new(a2c, device()).unwrap().update().unwrap();
        assert!(r.approx_kl.is_none() && r.clipfrac.is_none());
        assert_eq!(r.epochs, 1);
        // The lesson's learners have no value network to explain with, or (baseline) one.
        let r = Learner::<B>::new(
            TrainConfig {
                algo: Algo::Reinforce,
                ..TrainConfig::default()
            },
            device(),
        )
        .unwrap()
        .update()
        .unwrap();
        assert!(r.explained_variance.is_none() && r.grad_norm.is_none());
    }

    #[test]
    fn target_kl_stops_the_epochs_early() {
        let cfg = TrainConfig {
            epochs: 10,
            lr: 0.05,
            target_kl: Some(1e-6),
            anneal_lr: false,
            ..tiny_ppo()
        };
        let mut l = Learner::<B>::new(cfg, device()).unwrap();
        let r = l.update().unwrap();
        assert!(r.epochs < 10, "{} epochs ran", r.epochs);
    }
}
