//! The learner as one worker of a data-parallel run (see [`crate::collective`]).
//!
//! What a worker does beyond a lone learner: its environments are its slice of the run's
//! (seeds by rank), its generators are its own streams, every update starts by checking
//! that every worker holds the same weights, the episodes of every worker are gathered
//! (every worker keeps the run's counters), each minibatch's gradients are replaced by
//! the workers' mean before clipping and the optimiser step, and a state holds every
//! worker's generators and environments.

use burn::module::{ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use rl_core::rng::{self, Rng};
use rl_models::read_f32;
use serde::{Deserialize, Serialize};

use super::{Learner, LearnerState};
use crate::collective::{self, Collective, CollectiveError, f32s_to_u64, gather_f32, u64_to_f32s};
use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::registry::Registry;
use crate::report::EpisodeRecord;
use crate::rollout::Counters;

/// What a data-parallel worker after the first holds of its own: its generators and
/// environments (the network and the optimiser are every worker's).
#[derive(Clone, Serialize, Deserialize)]
pub struct WorkerState {
    rng: Rng,
    shuffle_rng: Rng,
    envs: Option<serde_bytes::ByteBuf>,
    dirty: Vec<bool>,
}

impl std::fmt::Debug for WorkerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerState")
            .field("dirty", &self.dirty)
            .finish_non_exhaustive()
    }
}

/// `(rank, workers)`: `(0, 1)` alone.
pub(super) fn rank_of(team: Option<&dyn Collective>) -> (usize, usize) {
    team.map_or((0, 1), |c| (c.rank(), c.workers()))
}

/// Worker `rank`'s seed for stream `stream`: rank 0's is a lone run's.
pub(super) fn worker_stream(seed: u64, stream: u64, rank: usize) -> u64 {
    match rank {
        0 => rng::stream(seed, stream),
        r => rng::stream(rng::stream(seed, stream), r as u64),
    }
}

/// Whether `cfg` splits over `workers`: a run of environment steps, its environments and
/// every minibatch divided evenly, no normalisation (its statistics would differ from
/// worker to worker).
pub(super) fn check_split(cfg: &TrainConfig, workers: usize) -> Result<(), TrainError> {
    if workers == 1 {
        return Ok(());
    }
    let no = |why: String| Err(TrainError::Workers(format!("{workers} workers: {why}")));
    let Some(steps) = cfg.steps_per_update else {
        return no(format!(
            "{} collects whole episodes per update; data-parallel training needs a learner that collects steps (a2c, ppo)",
            cfg.algo.name()
        ));
    };
    if !cfg.n_envs.is_multiple_of(workers) {
        return no(format!(
            "n_envs = {} is not a multiple of the number of workers",
            cfg.n_envs
        ));
    }
    let per_worker = steps / workers;
    if !steps.is_multiple_of(workers) || !per_worker.is_multiple_of(cfg.minibatches) {
        return no(format!(
            "each worker's {per_worker} steps per update do not split into minibatches = {} (steps_per_update = {steps})",
            cfg.minibatches
        ));
    }
    if cfg.normalize_obs || cfg.normalize_reward {
        return no(
            "normalize_obs and normalize_reward are not supported (each worker's statistics would differ)"
                .into(),
        );
    }
    Ok(())
}

/// Every gradient, flattened in the model's parameter order.
struct Flatten<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    parts: Vec<Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Flatten<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let n = g.shape().num_elements();
            self.parts.push(g.reshape([n]));
        }
    }
}

/// The gradients put back from a flat buffer, in the same order.
struct Unflatten<'a, B: AutodiffBackend> {
    grads: &'a mut GradientsParams,
    flat: &'a [f32],
    at: usize,
    device: &'a B::Device,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Unflatten<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            let shape = g.shape();
            let n = shape.num_elements();
            let values = self.flat[self.at..self.at + n].to_vec();
            self.at += n;
            let mean = Tensor::<B::InnerBackend, D>::from_data(
                TensorData::new(values, shape),
                self.device,
            );
            self.grads.register::<B::InnerBackend, D>(param.id, mean);
        }
    }
}

/// Every parameter's values, in the model's order.
struct Values<B: AutodiffBackend> {
    parts: Vec<Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Values<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let v = param.val().inner();
        let n = v.shape().num_elements();
        self.parts.push(v.reshape([n]));
    }
}

impl<B: AutodiffBackend> Learner<B> {
    /// A fresh worker of a data-parallel run with `cfg`'s `n_envs` environments in all
    /// (each worker steps `n_envs / workers`), from `registry`'s source for `cfg.env`:
    /// worker r's environments are seeded as environments `r n .. (r + 1) n` of one
    /// process with every environment, and every worker starts from the same network.
    /// Every worker must be given the same `cfg`.
    pub fn new_worker(
        registry: &Registry,
        cfg: TrainConfig,
        device: B::Device,
        team: Box<dyn Collective>,
    ) -> Result<Self, TrainError> {
        let source = registry.get(&cfg.env)?.clone();
        Self::fresh(source, cfg, device, Some(team))
    }

    /// A worker of a data-parallel run continuing from rank 0's `state` (read on rank 0
    /// only: it is sent to the others, which learn the environment from it), with as many
    /// workers as the run was trained by.
    pub fn resume_worker(
        registry: &Registry,
        state: Option<LearnerState>,
        device: B::Device,
        mut team: Box<dyn Collective>,
    ) -> Result<Self, TrainError> {
        let (rank, workers) = (team.rank(), team.workers());
        let bytes = match (&state, rank) {
            (Some(s), 0) => rmp_serde::to_vec_named(s)
                .map_err(|e| TrainError::State(format!("cannot encode the state: {e}")))?,
            _ => Vec::new(),
        };
        let bytes = collective::broadcast_bytes(team.as_mut(), &bytes)?;
        let mut state: LearnerState = rmp_serde::from_slice(&bytes).map_err(|e| {
            TrainError::State(format!("rank 0 sent a state that does not decode: {e}"))
        })?;
        if state.workers.len() + 1 != workers {
            return Err(TrainError::Workers(format!(
                "this run was trained by {} worker(s), not {workers}: resume it with as many",
                state.workers.len() + 1
            )));
        }
        if rank > 0 {
            let own = state.workers.swap_remove(rank - 1);
            state.rng = own.rng;
            state.shuffle_rng = own.shuffle_rng;
            state.envs = own.envs;
            state.dirty = own.dirty;
        }
        state.workers.clear();
        let source = registry.get(&state.config.env)?.clone();
        Self::restore(source, state, device, Some(team))
    }

    /// This worker's rank and the number of workers: `(0, 1)` alone.
    pub fn rank(&self) -> (usize, usize) {
        rank_of(self.team.as_deref())
    }

    /// The exchanges with the other workers so far and the time spent in them (waiting
    /// included), where the engine keeps count.
    pub fn exchanges(&self) -> Option<(u64, std::time::Duration)> {
        self.team.as_deref().and_then(|c| c.spent())
    }

    /// Whether `flag` is set on any worker (alone: `flag`). Every worker calls it at the
    /// same point: the workers agree to stop together.
    pub fn any_worker(&mut self, flag: bool) -> Result<bool, TrainError> {
        match self.team.as_deref_mut() {
            Some(c) => Ok(collective::any(c, flag)?),
            None => Ok(flag),
        }
    }

    fn team(&mut self) -> &mut dyn Collective {
        self.team.as_deref_mut().expect("a data-parallel learner")
    }

    /// A fingerprint of the network's parameters (one read-back).
    pub fn parameter_fingerprint(&self) -> u64 {
        let mut v = Values::<B> { parts: Vec::new() };
        self.model.visit(&mut v);
        collective::fingerprint(read_f32(Tensor::cat(v.parts, 0)))
    }

    /// Fails unless every worker holds the same weights.
    pub(super) fn check_same_weights(&mut self) -> Result<(), TrainError> {
        let print = self.parameter_fingerprint();
        Ok(collective::check_same(self.team(), print, "weights")?)
    }

    /// The run's episodes of this update from every worker's, in the order one process
    /// stepping every environment would finish them, with the run's counters: worker r's
    /// environment i is the run's environment `r n + i`.
    pub(super) fn gather_episodes(
        &mut self,
        before: Counters,
        local: Vec<EpisodeRecord>,
    ) -> Result<Vec<EpisodeRecord>, TrainError> {
        let steps = self.counters.env_steps - before.env_steps;
        let n = self.envs.num_envs() as u64;
        let w = self.team().workers() as u64;
        let mut mine = Vec::with_capacity(local.len() * 12);
        for e in &local {
            // The step within this update: (t - 1) n + i.
            mine.extend(u64_to_f32s(e.env_steps - before.env_steps - 1));
            mine.extend(u64_to_f32s(e.episodic_return.to_bits()));
            mine.extend(u64_to_f32s(e.episodic_length as u64));
        }
        let all = gather_f32(self.team(), &mine)?;
        let garbled = || CollectiveError("episode records arrived garbled".into());
        let mut out = Vec::new();
        for (r, v) in all.iter().enumerate() {
            for rec in v.chunks(12) {
                let at = f32s_to_u64(&rec[..4]).ok_or_else(garbled)?;
                let ret = f32s_to_u64(&rec[4..8]).ok_or_else(garbled)?;
                let len = f32s_to_u64(&rec[8..]).ok_or_else(garbled)?;
                out.push(EpisodeRecord {
                    episode: 0,
                    env_steps: before.env_steps + (at / n) * w * n + r as u64 * n + at % n + 1,
                    episodic_return: f64::from_bits(ret),
                    episodic_length: len as usize,
                });
            }
        }
        out.sort_by_key(|e| e.env_steps);
        for (k, e) in out.iter_mut().enumerate() {
            e.episode = before.episodes + k as u64 + 1;
        }
        self.counters = Counters {
            episodes: before.episodes + out.len() as u64,
            env_steps: before.env_steps + steps * w,
        };
        Ok(out)
    }

    /// Replaces `grads` by the workers' mean (one flat buffer, one collective sum), and
    /// returns the workers' mean of `kl` when given.
    pub(super) fn mean_gradients(
        &mut self,
        grads: &mut GradientsParams,
        kl: Option<Tensor<B::InnerBackend, 1>>,
    ) -> Result<Option<f32>, TrainError> {
        let mut f = Flatten::<B> {
            grads,
            parts: Vec::new(),
        };
        self.model.visit(&mut f);
        let with_kl = kl.is_some();
        let mut parts = f.parts;
        parts.extend(kl);
        let w = self.team().workers() as f32;
        let mut flat = self.team().sum(read_f32(Tensor::cat(parts, 0)))?;
        for x in &mut flat {
            *x /= w;
        }
        let mut u = Unflatten::<B> {
            grads,
            flat: &flat,
            at: 0,
            device: &self.device,
        };
        self.model.visit(&mut u);
        Ok(with_kl.then(|| flat[flat.len() - 1]))
    }

    /// Every other worker's generators and environments (`own` is this worker's state),
    /// as rank 0 saves them.
    pub(super) fn gather_workers(
        &mut self,
        own: &LearnerState,
    ) -> Result<Vec<WorkerState>, TrainError> {
        let mine = WorkerState {
            rng: own.rng.clone(),
            shuffle_rng: own.shuffle_rng.clone(),
            envs: own.envs.clone(),
            dirty: own.dirty.clone(),
        };
        let bytes = rmp_serde::to_vec_named(&mine)
            .map_err(|e| TrainError::State(format!("cannot encode this worker's state: {e}")))?;
        let all = collective::gather_bytes(self.team(), &bytes)?;
        all.iter()
            .skip(1)
            .map(|b| {
                rmp_serde::from_slice(b).map_err(|e| {
                    TrainError::State(format!("a worker's state does not decode: {e}"))
                })
            })
            .collect()
    }
}
