//! The one learner pipeline: rollout -> returns/advantages -> loss -> backward -> Adam
//! step -> metrics. REINFORCE and REINFORCE with baseline differ only in the advantage
//! estimator and whether the network has a value head.

use std::ops::ControlFlow;
use std::time::Instant;

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::record::{AdaptorRecord, AdaptorRecordV1};
use burn::optim::{Adam, AdamConfig, AdamState, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use rl_core::rng::{self, Rng};
use rl_core::{Actions, Advantage, AnyEnv, Bandit, Batch, Env, EnvId, VecEnv, VecEnvState};
use rl_models::{ActionBatch, ActionHead, ActorCritic, ActorCriticConfig, read_f32};
use serde::{Deserialize, Serialize};

use crate::actor::{Actor, head_for};
use crate::clip::clip_global_norm;
use crate::config::{ConfigError, TrainConfig};
use crate::loss::{LossCoefs, pg_loss};

/// Seed streams split from the run's one seed.
const STREAM_ENVS: u64 = 0;
const STREAM_ACTIONS: u64 = 1;
const STREAM_INIT: u64 = 2;

/// Errors of training.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An environment refused a step (a bug: actions come from the policy's own space).
    #[error("environment error: {0}")]
    Env(#[from] rl_core::Error),
    /// A saved learner state could not be taken or does not fit its configuration.
    #[error("learner state: {0}")]
    State(String),
    /// The loss or a gradient became NaN or infinite.
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

/// What one update reports.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateReport {
    /// 1-based.
    pub update: u64,
    /// The episodes that finished in this update's rollout, in order.
    pub episodes: Vec<EpisodeRecord>,
    /// Environment steps of the run so far.
    pub env_steps: u64,
    /// `-mean(log_prob * advantage)`.
    pub policy_loss: f32,
    /// `mean((V - target)^2)` (0 without a value head).
    pub value_loss: f32,
    /// Mean policy entropy over the batch.
    pub entropy: f32,
    /// Global gradient norm before clipping (computed only when clipping is on).
    pub grad_norm: Option<f32>,
    /// Environment steps per second since the start of the run, updates included.
    pub sps: f64,
    /// Seconds since the start of the run.
    pub wall_time: f64,
}

/// One environment's steps in the current rollout.
#[derive(Debug, Default, Clone)]
struct Segment {
    obs: Vec<f32>,
    discrete: Vec<i64>,
    continuous: Vec<f32>,
    rewards: Vec<f32>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    /// The final observation of each truncated step, in order (for bootstrapping).
    truncation_obs: Vec<f32>,
    /// Episodes finished in this rollout.
    episodes: usize,
}

impl Segment {
    fn append(&mut self, s: &Segment) {
        self.obs.extend_from_slice(&s.obs);
        self.discrete.extend_from_slice(&s.discrete);
        self.continuous.extend_from_slice(&s.continuous);
        self.rewards.extend_from_slice(&s.rewards);
        self.terminated.extend_from_slice(&s.terminated);
        self.truncated.extend_from_slice(&s.truncated);
        self.truncation_obs.extend_from_slice(&s.truncation_obs);
        self.episodes += s.episodes;
    }

    fn clear(&mut self) {
        self.obs.clear();
        self.discrete.clear();
        self.continuous.clear();
        self.rewards.clear();
        self.terminated.clear();
        self.truncated.clear();
        self.truncation_obs.clear();
        self.episodes = 0;
    }
}

/// A policy-gradient learner on the autodiff backend `B`.
pub struct Learner<B: AutodiffBackend> {
    cfg: TrainConfig,
    env_id: EnvId,
    advantage: Advantage,
    head: ActionHead,
    obs_dim: usize,
    device: B::Device,
    model: ActorCritic<B>,
    optim: OptimizerAdaptor<Adam, ActorCritic<B>, B>,
    envs: VecEnv<AnyEnv>,
    rng: Rng,
    segments: Vec<Segment>,
    /// Environments stepped past their episode quota, to be reset before the next
    /// rollout (episodes mode only).
    dirty: Vec<bool>,
    /// The segments concatenated: the batch of one update, reused across updates.
    flat: Segment,
    episodes: u64,
    env_steps: u64,
    updates: u64,
    started: Instant,
    /// Training seconds before `started` (of the run this one resumes).
    elapsed_before: f64,
}

/// Everything a [`Learner`] holds between updates: the configuration, the network, Adam's
/// moments and step counts, the environments (their states and generators), the action
/// sampler's generator and the counters. [`Learner::from_state`] continues exactly where
/// [`Learner::state`] was taken: bit for bit on the same backend.
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
    envs: VecEnvState<AnyEnv>,
    dirty: Vec<bool>,
    /// The network's Burn record (named MessagePack, full precision).
    #[serde(with = "serde_bytes")]
    model: Vec<u8>,
    /// Adam's record, likewise.
    #[serde(with = "serde_bytes")]
    optimizer: Vec<u8>,
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

impl<B: AutodiffBackend> std::fmt::Debug for Learner<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Learner")
            .field("cfg", &self.cfg)
            .field("updates", &self.updates)
            .finish_non_exhaustive()
    }
}

/// The configuration's environment (with its bandit arms, if any); `cfg` is validated.
fn make_env(cfg: &TrainConfig, env_id: EnvId) -> AnyEnv {
    match (&cfg.bandit_probs, env_id) {
        (Some(p), EnvId::Bandit) => AnyEnv::Bandit(Bandit::new(p.clone()).expect("validated")),
        _ => env_id.make(),
    }
}

/// PyTorch's Adam epsilon (Burn's default is 1e-5).
fn adam<B: AutodiffBackend>() -> OptimizerAdaptor<Adam, ActorCritic<B>, B> {
    AdamConfig::new().with_epsilon(1e-8).init()
}

/// Adam's states by parameter id (Burn's own map type).
type AdamRecord<B> =
    <OptimizerAdaptor<Adam, ActorCritic<B>, B> as Optimizer<ActorCritic<B>, B>>::Record;

/// Checks that every saved Adam state belongs to a parameter of the network and has its
/// rank and shape (Burn would panic at the next step otherwise).
struct CheckMoments<'a, B: AutodiffBackend> {
    records: &'a AdamRecord<B>,
    matched: usize,
    problem: Option<String>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for CheckMoments<'_, B> {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<B, D>>) {
        // A parameter without a state has not been stepped yet: Adam creates it then.
        let Some(AdaptorRecord::V1(r)) = self.records.get(&p.id) else {
            return;
        };
        self.matched += 1;
        let rank = match r {
            AdaptorRecordV1::Rank0(_) => 0,
            AdaptorRecordV1::Rank1(_) => 1,
            AdaptorRecordV1::Rank2(_) => 2,
            AdaptorRecordV1::Rank3(_) => 3,
            AdaptorRecordV1::Rank4(_) => 4,
            AdaptorRecordV1::Rank5(_) => 5,
            AdaptorRecordV1::Rank6(_) => 6,
            AdaptorRecordV1::Rank7(_) => 7,
            AdaptorRecordV1::Rank8(_) => 8,
        };
        let dims = p.val().dims();
        let fits = rank == D && {
            let s: AdamState<B::InnerBackend, D> = r.clone().into_state();
            s.momentum.moment_1.dims() == dims && s.momentum.moment_2.dims() == dims
        };
        if !fits && self.problem.is_none() {
            self.problem = Some(format!(
                "the saved optimiser's moments for a parameter of shape {dims:?} do not fit it"
            ));
        }
    }
}

/// The network configuration a training configuration implies for an environment.
pub fn model_config(cfg: &TrainConfig, env_id: EnvId) -> ActorCriticConfig {
    let spec = env_id.make().spec();
    ActorCriticConfig::new(
        spec.observation_space.flat_dim(),
        head_for(&spec.action_space),
    )
    .with_hidden(cfg.hidden.clone())
    .with_activation(cfg.activation)
    .with_value(cfg.model_value_network())
}

impl<B: AutodiffBackend> Learner<B> {
    /// Validates `cfg` and sets up the environments, the network and the optimiser, all
    /// seeded from `cfg.seed`.
    pub fn new(cfg: TrainConfig, device: B::Device) -> Result<Self, TrainError> {
        let env_id = cfg.validate()?;
        let mut envs = VecEnv::from_fn(cfg.n_envs, |_| make_env(&cfg, env_id))?;
        envs.reset(rng::stream(cfg.seed, STREAM_ENVS));
        let model_cfg = model_config(&cfg, env_id);
        let model = model_cfg.init_seeded::<B>(
            &mut rng::seeded(rng::stream(cfg.seed, STREAM_INIT)),
            &device,
        );
        let optim = adam();
        Ok(Self {
            advantage: cfg.algo.advantage(),
            head: model_cfg.action,
            obs_dim: model_cfg.obs_dim,
            env_id,
            device,
            model,
            optim,
            segments: vec![Segment::default(); cfg.n_envs],
            dirty: vec![false; cfg.n_envs],
            rng: rng::seeded(rng::stream(cfg.seed, STREAM_ACTIONS)),
            envs,
            flat: Segment::default(),
            episodes: 0,
            env_steps: 0,
            updates: 0,
            started: Instant::now(),
            elapsed_before: 0.0,
            cfg,
        })
    }

    /// The learner's whole state, to continue later with [`from_state`](Self::from_state).
    pub fn state(&self) -> Result<LearnerState, TrainError> {
        let rec = recorder();
        let model = Recorder::<B>::record(&rec, self.model.clone().into_record(), ())
            .map_err(|e| TrainError::State(format!("cannot record the network: {e}")))?;
        let optimizer = Recorder::<B>::record(&rec, self.optim.to_record(), ())
            .map_err(|e| TrainError::State(format!("cannot record the optimiser: {e}")))?;
        Ok(LearnerState {
            config: self.cfg.clone(),
            episodes: self.episodes,
            env_steps: self.env_steps,
            updates: self.updates,
            elapsed: self.elapsed(),
            rng: self.rng.clone(),
            envs: self.envs.state(),
            dirty: self.dirty.clone(),
            model,
            optimizer,
        })
    }

    /// A learner that continues exactly where `state` was taken. Everything is checked
    /// against the configuration first: a state that does not fit is an error, not a panic
    /// later.
    pub fn from_state(state: LearnerState, device: B::Device) -> Result<Self, TrainError> {
        let bad = |m: String| TrainError::State(m);
        let cfg = state.config;
        let env_id = cfg.validate()?;
        let envs = VecEnv::from_state(state.envs).map_err(|e| bad(e.to_string()))?;
        let want = make_env(&cfg, env_id).spec();
        if envs.spec() != &want || envs.len() != cfg.n_envs || state.dirty.len() != cfg.n_envs {
            return Err(bad(format!(
                "the saved environments ({} x {}) are not the configuration's ({} x {})",
                envs.len(),
                envs.spec().id,
                cfg.n_envs,
                want.id
            )));
        }
        let model_cfg = model_config(&cfg, env_id);
        let fresh = model_cfg.init::<B>(&device);
        let rec = recorder();
        let record = Recorder::<B>::load(&rec, state.model, &device)
            .map_err(|e| bad(format!("the saved network does not load: {e}")))?;
        let model = fresh.load_record_checked(record).map_err(bad)?;
        let optim_record: AdamRecord<B> = Recorder::<B>::load(&rec, state.optimizer, &device)
            .map_err(|e| bad(format!("the saved optimiser does not load: {e}")))?;
        let mut check = CheckMoments {
            records: &optim_record,
            matched: 0,
            problem: None,
        };
        model.visit(&mut check);
        if let Some(p) = check.problem {
            return Err(bad(p));
        }
        if check.matched != optim_record.len() {
            return Err(bad(format!(
                "the saved optimiser holds {} states, {} of which belong to the network",
                optim_record.len(),
                check.matched
            )));
        }
        let optim = adam().load_record(optim_record);
        Ok(Self {
            advantage: cfg.algo.advantage(),
            head: model_cfg.action,
            obs_dim: model_cfg.obs_dim,
            env_id,
            device,
            model,
            optim,
            segments: vec![Segment::default(); cfg.n_envs],
            dirty: state.dirty,
            rng: state.rng,
            envs,
            flat: Segment::default(),
            episodes: state.episodes,
            env_steps: state.env_steps,
            updates: state.updates,
            started: Instant::now(),
            elapsed_before: state.elapsed,
            cfg,
        })
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

    /// The environment.
    pub fn env_id(&self) -> EnvId {
        self.env_id
    }

    /// The network being trained.
    pub fn model(&self) -> &ActorCritic<B> {
        &self.model
    }

    /// Episodes finished so far.
    pub fn episodes(&self) -> u64 {
        self.episodes
    }

    /// Whether the episode budget is spent.
    pub fn is_done(&self) -> bool {
        self.episodes >= self.cfg.episodes as u64
    }

    /// Trains until the episode budget is spent or `on_update` breaks.
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

    /// One rollout and one optimiser step.
    pub fn update(&mut self) -> Result<UpdateReport, TrainError> {
        // Rollout.
        let episodes = self.rollout()?;
        self.flatten();

        // Advantages.
        let n = self.flat.rewards.len();
        let obs = Tensor::<B, 2>::from_data(
            TensorData::new(self.flat.obs.clone(), [n, self.obs_dim]),
            &self.device,
        );
        let (out, values) = self.model.forward(obs);
        let host_values: Vec<f32> = match (&values, self.advantage.needs_values()) {
            (Some(v), true) => read_f32(v.clone().inner()),
            _ => Vec::new(),
        };
        let truncation_values = self.truncation_values();
        let batch = Batch {
            rewards: &self.flat.rewards,
            terminated: &self.flat.terminated,
            truncated: &self.flat.truncated,
            values: &host_values,
            truncation_values: &truncation_values,
        };
        let est =
            self.advantage
                .compute(&batch, self.cfg.gamma as f32, self.cfg.normalize_returns)?;

        // Loss.
        let actions = self.action_batch(n);
        let advantages =
            Tensor::<B, 1>::from_data(TensorData::new(est.advantages, [n]), &self.device);
        let targets = Tensor::<B, 1>::from_data(TensorData::new(est.returns, [n]), &self.device);
        let coefs = LossCoefs {
            vf_coef: self.cfg.vf_coef as f32,
            ent_coef: self.cfg.ent_coef as f32,
        };
        let loss = pg_loss(
            &self.model.policy,
            out,
            values,
            actions,
            advantages,
            targets,
            coefs,
        );
        // One read-back for the three reported terms.
        let terms = read_f32(Tensor::cat(
            vec![
                loss.policy_loss.inner(),
                loss.value_loss.inner(),
                loss.entropy.inner(),
            ],
            0,
        ));
        let (policy_loss, value_loss, entropy) = (terms[0], terms[1], terms[2]);
        self.updates += 1;
        if !terms.iter().all(|t| t.is_finite()) {
            return Err(TrainError::NonFinite {
                update: self.updates,
                policy_loss,
                value_loss,
                entropy,
            });
        }

        // Optimiser step.
        let mut grads = GradientsParams::from_grads(loss.total.backward(), &self.model);
        let grad_norm = self
            .cfg
            .max_grad_norm
            .map(|m| clip_global_norm::<B, _>(&self.model, &mut grads, m as f32));
        if let Some(g) = grad_norm
            && !g.is_finite()
        {
            return Err(TrainError::NonFinite {
                update: self.updates,
                policy_loss,
                value_loss,
                entropy,
            });
        }
        self.model = self.optim.step(self.cfg.lr, self.model.clone(), grads);

        // Metrics.
        let wall_time = self.elapsed();
        Ok(UpdateReport {
            update: self.updates,
            episodes,
            env_steps: self.env_steps,
            policy_loss,
            value_loss,
            entropy,
            grad_norm,
            sps: self.env_steps as f64 / wall_time.max(1e-9),
            wall_time,
        })
    }

    /// Collects one batch with the inference copy of the network (no autodiff graph),
    /// one read-back per step of the vectorised environments.
    fn rollout(&mut self) -> Result<Vec<EpisodeRecord>, TrainError> {
        let mut actor = Actor::new(self.model.valid(), self.obs_dim, self.cfg.acting);
        let n = self.envs.len();
        let d = self.obs_dim;
        for (i, seg) in self.segments.iter_mut().enumerate() {
            seg.clear();
            if std::mem::take(&mut self.dirty[i]) {
                self.envs.reset_one(i)?;
            }
        }
        let steps_per_env = self.cfg.steps_per_update.map(|s| s / n);
        let quota = self.cfg.episodes_per_update / n;
        let mut active = vec![true; n];
        let mut records = Vec::new();
        let mut t = 0;
        loop {
            // Act.
            let obs = self.envs.observations();
            let actions = actor.act(obs, &mut self.rng, false, &self.device);
            for (i, seg) in self.segments.iter_mut().enumerate() {
                if active[i] {
                    seg.obs.extend_from_slice(&obs[i * d..(i + 1) * d]);
                    match actions {
                        Actions::Discrete(a) => seg.discrete.push(a[i] as i64),
                        Actions::Continuous(a) => {
                            let w = a.len() / n;
                            seg.continuous.extend_from_slice(&a[i * w..(i + 1) * w]);
                        }
                    }
                }
            }

            // Step.
            self.envs.step(actions)?;
            t += 1;
            for (i, seg) in self.segments.iter_mut().enumerate() {
                if !active[i] {
                    // Stepped with the old policy past its quota: reset before reuse.
                    self.dirty[i] = true;
                    continue;
                }
                self.env_steps += 1;
                let (term, trunc) = (self.envs.terminated()[i], self.envs.truncated()[i]);
                seg.rewards.push(self.envs.rewards()[i]);
                seg.terminated.push(term);
                seg.truncated.push(trunc);
                if trunc && !term {
                    seg.truncation_obs
                        .extend_from_slice(&self.envs.final_observations()[i * d..(i + 1) * d]);
                }
                if term || trunc {
                    seg.episodes += 1;
                    let end = self
                        .envs
                        .finished()
                        .iter()
                        .find(|e| e.env == i)
                        .expect("an ended episode is reported");
                    self.episodes += 1;
                    records.push(EpisodeRecord {
                        episode: self.episodes,
                        env_steps: self.env_steps,
                        episodic_return: end.episodic_return,
                        episodic_length: end.episodic_length,
                    });
                    if steps_per_env.is_none() && seg.episodes == quota {
                        active[i] = false;
                    }
                }
            }
            match steps_per_env {
                Some(steps) if t == steps => {
                    // The rollout cuts every unfinished episode: a truncation.
                    for (i, seg) in self.segments.iter_mut().enumerate() {
                        let last = seg.rewards.len() - 1;
                        if !(seg.terminated[last] || seg.truncated[last]) {
                            seg.truncated[last] = true;
                            seg.truncation_obs.extend_from_slice(
                                &self.envs.final_observations()[i * d..(i + 1) * d],
                            );
                        }
                    }
                    break;
                }
                None if !active.contains(&true) => break,
                _ => {}
            }
        }
        Ok(records)
    }

    /// Concatenates the segments, environment after environment.
    fn flatten(&mut self) {
        self.flat.clear();
        for s in &self.segments {
            self.flat.append(s);
        }
    }

    /// `V` of every truncated step's final observation, placed at its step, for the
    /// estimators that bootstrap (computed on the inference copy: no graph).
    fn truncation_values(&self) -> Vec<f32> {
        if !self.advantage.bootstraps() {
            return Vec::new();
        }
        let mut out = vec![0.0; self.flat.rewards.len()];
        let k = self.flat.truncation_obs.len() / self.obs_dim;
        if k == 0 {
            return out;
        }
        let obs = Tensor::<B::InnerBackend, 2>::from_data(
            TensorData::new(self.flat.truncation_obs.clone(), [k, self.obs_dim]),
            &self.device,
        );
        let values = self
            .model
            .valid()
            .value_forward(obs)
            .map(read_f32)
            .unwrap_or_else(|| vec![0.0; k]);
        let steps = (0..out.len()).filter(|&t| self.flat.truncated[t] && !self.flat.terminated[t]);
        for (t, v) in steps.zip(values) {
            out[t] = v;
        }
        out
    }

    fn action_batch(&self, n: usize) -> ActionBatch<B> {
        match self.head {
            ActionHead::Categorical { .. } => ActionBatch::Discrete(Tensor::from_data(
                TensorData::new(self.flat.discrete.clone(), [n]),
                &self.device,
            )),
            ActionHead::Gaussian { action_dim } => ActionBatch::Continuous(Tensor::from_data(
                TensorData::new(self.flat.continuous.clone(), [n, action_dim]),
                &self.device,
            )),
        }
    }
}
