//! The one learner pipeline: rollout -> old statistics -> advantages -> epochs of
//! minibatch losses and optimiser steps -> metrics.
//!
//! Every learner is a [`Recipe`]: an advantage estimator, an objective, a number of epochs
//! and of minibatches. REINFORCE and REINFORCE with baseline take one full-batch step of
//! the vanilla objective on Monte-Carlo returns; nothing else distinguishes them here.

use std::ops::ControlFlow;
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use rl_core::rng::{self, Rng};
use rl_core::{EnvSpec, Normalizer, VectorEnv};
use rl_models::{ActionHead, ActorCritic, ActorCriticConfig};

use crate::actor::head_for;
use crate::collective::Collective;
use crate::config::{ConfigError, Recipe, TrainConfig};
use crate::env_source::EnvSource;
use crate::error::TrainError;
use crate::optim::Optim;
use crate::registry::Registry;
use crate::report::UpdateReport;
use crate::rollout::{Counters, Minibatch, Rollout};

mod state;
mod team;
mod update;
pub use state::LearnerState;
pub use team::WorkerState;

/// Seed streams split from the run's one seed.
pub(super) const STREAM_ENVS: u64 = 0;
const STREAM_ACTIONS: u64 = 1;
const STREAM_INIT: u64 = 2;
const STREAM_MINIBATCHES: u64 = 3;

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

impl<B: AutodiffBackend> std::fmt::Debug for Learner<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Learner")
            .field("cfg", &self.cfg)
            .field("updates", &self.updates)
            .finish_non_exhaustive()
    }
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
}
