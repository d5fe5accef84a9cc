//! Acting: the policy without an autodiff graph, batched over environments, sampling on
//! the host from the run's generator.
//!
//! Two ways to run the policy, chosen by [`Acting`]: on the host ([`HostPolicy`], the
//! default: the weights are read once per update, no Burn call per step) or on the
//! inference backend (`model.valid()`, one tensor read-back per step batch). Both compute
//! the same function up to float rounding; the host is several times faster for the
//! small batches of a rollout (see the README's throughput section).

use burn::prelude::*;
use rl_core::rng::Rng;
use rl_core::{Actions, EnvSpec, Normalizer, Space};
use rl_models::distributions::{
    add_sde_noise, sample_bernoulli, sample_categorical, sample_gaussian,
    sample_masked_categorical, sample_multi_categorical, sample_sde_matrices,
};
use rl_models::host::HostPolicy;
use rl_models::{ActionHead, ActorCritic, PolicyHead, read_f32};
use serde::{Deserialize, Serialize};

/// Where the policy runs while acting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Acting {
    /// Plain f32 on the host, weights copied once per update.
    #[default]
    Host,
    /// The inference backend (`model.valid()`), one read-back per step batch.
    Backend,
}

impl std::str::FromStr for Acting {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "host" => Ok(Acting::Host),
            "backend" => Ok(Acting::Backend),
            _ => Err(format!(
                "unknown acting mode {s:?}: valid ones are host, backend"
            )),
        }
    }
}

/// The policy, ready to act. Build one per update from `model.valid()`.
#[derive(Debug)]
pub struct Actor<B: Backend> {
    model: ActorCritic<B>,
    host: Option<HostPolicy>,
    head: ActionHead,
    obs_dim: usize,
    log_std: Vec<f32>,
    /// gSDE's exploration, with a gSDE head.
    sde: Option<SdeNoise>,
    out: Vec<f32>,
    discrete: Vec<usize>,
    continuous: Vec<f32>,
    /// Masked logits, reused.
    scratch: Vec<f32>,
}

/// gSDE's exploration matrices, one per row acted for, and when to draw them again.
#[derive(Debug)]
struct SdeNoise {
    /// The head's log-std matrix, `[d, action_dim]` row-major.
    log_std: Vec<f32>,
    /// Draw new matrices every this many calls to `act`; 0: only at the first (SB3's
    /// `sde_sample_freq = -1`: a new actor is built for every rollout).
    every: u64,
    /// Calls to `act` since the last draw; `None`: none drawn yet.
    since: Option<u64>,
    matrices: Vec<f32>,
}

impl<B: Backend> Actor<B> {
    /// Wraps an inference network (e.g. `model.valid()`) for `obs_dim`-sized
    /// observations.
    pub fn new(model: ActorCritic<B>, obs_dim: usize, acting: Acting) -> Self {
        let (head, log_std) = match &model.policy {
            PolicyHead::Categorical(h) => (
                ActionHead::Categorical {
                    n_actions: h.linear.weight.dims()[1],
                },
                Vec::new(),
            ),
            PolicyHead::Gaussian(h) => {
                let ls = read_f32(h.log_std.val());
                (
                    ActionHead::Gaussian {
                        action_dim: ls.len(),
                    },
                    ls,
                )
            }
            PolicyHead::Sde(h) => (
                ActionHead::Gaussian {
                    action_dim: h.log_std.dims()[1],
                },
                Vec::new(),
            ),
            PolicyHead::MultiCategorical(h) => (
                ActionHead::MultiCategorical {
                    nvec: h.nvec.clone(),
                },
                Vec::new(),
            ),
            PolicyHead::Bernoulli(h) => (
                ActionHead::Bernoulli {
                    n: h.linear.weight.dims()[1],
                },
                Vec::new(),
            ),
        };
        // gSDE needs the trunk's features, which only host acting keeps (validation
        // refuses it with backend acting).
        let host = (acting == Acting::Host || matches!(model.policy, PolicyHead::Sde(_)))
            .then(|| HostPolicy::new(&model));
        let sde = host
            .as_ref()
            .and_then(|h| h.sde_log_std())
            .map(|ls| SdeNoise {
                log_std: ls.to_vec(),
                every: 0,
                since: None,
                matrices: Vec::new(),
            });
        Self {
            model,
            host,
            head,
            obs_dim,
            log_std,
            sde,
            out: Vec::new(),
            discrete: Vec::new(),
            continuous: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The head's kind.
    pub fn head(&self) -> &ActionHead {
        &self.head
    }

    /// With a gSDE head, draws new exploration matrices every `every` calls to
    /// [`act`](Self::act) (SB3's `sde_sample_freq`; 0 or less: only at the first call,
    /// the start of the rollout this actor is built for). No effect on other heads.
    pub fn with_sde_sample_freq(mut self, every: i64) -> Self {
        if let Some(sde) = &mut self.sde {
            sde.every = every.max(0) as u64;
        }
        self
    }

    /// One action per row of `obs` (`n * obs_dim` values): sampled, or the mode with
    /// `greedy`, never one `masks` forbids (`n *` the mask width flags, for categorical
    /// and multi-categorical heads). The returned actions are valid until the next call.
    pub fn act(
        &mut self,
        obs: &[f32],
        masks: Option<&[bool]>,
        rng: &mut Rng,
        greedy: bool,
        device: &B::Device,
    ) -> Actions<'_> {
        let n = obs.len() / self.obs_dim;
        match &mut self.host {
            Some(host) => host.forward(obs, self.obs_dim, &mut self.out),
            None => {
                let data = TensorData::new(obs.to_vec(), [n, self.obs_dim]);
                self.out = read_f32(self.model.policy_forward(Tensor::from_data(data, device)));
            }
        }
        match &self.head {
            ActionHead::Categorical { n_actions } => {
                self.discrete.resize(n, 0);
                match masks {
                    Some(m) => sample_masked_categorical(
                        &self.out,
                        *n_actions,
                        m,
                        rng,
                        greedy,
                        &mut self.discrete,
                        &mut self.scratch,
                    ),
                    None => {
                        sample_categorical(&self.out, *n_actions, rng, greedy, &mut self.discrete)
                    }
                }
                Actions::Discrete(&self.discrete)
            }
            ActionHead::MultiCategorical { nvec } => {
                self.discrete.resize(n * nvec.len(), 0);
                sample_multi_categorical(
                    &self.out,
                    nvec,
                    masks,
                    rng,
                    greedy,
                    &mut self.discrete,
                    &mut self.scratch,
                );
                Actions::Discrete(&self.discrete)
            }
            ActionHead::Bernoulli { n: flags } => {
                self.discrete.resize(n * flags, 0);
                sample_bernoulli(&self.out, rng, greedy, &mut self.discrete);
                Actions::Discrete(&self.discrete)
            }
            &ActionHead::Gaussian { action_dim } => {
                self.continuous.clear();
                self.continuous.extend_from_slice(&self.out);
                match (&mut self.sde, &self.host) {
                    (Some(sde), Some(host)) if !greedy => {
                        let d = sde.log_std.len() / action_dim;
                        let due = match sde.since {
                            None => true,
                            Some(k) => sde.every > 0 && k >= sde.every,
                        };
                        if due || sde.matrices.len() != n * d * action_dim {
                            sde.matrices.resize(n * d * action_dim, 0.0);
                            sample_sde_matrices(&sde.log_std, rng, &mut sde.matrices);
                            sde.since = Some(0);
                        }
                        sde.since = sde.since.map(|k| k + 1);
                        add_sde_noise(
                            host.features(),
                            &sde.matrices,
                            d,
                            action_dim,
                            &mut self.continuous,
                        );
                    }
                    (Some(_), _) => {}
                    (None, _) => {
                        sample_gaussian(&self.out, &self.log_std, rng, greedy, &mut self.continuous)
                    }
                }
                Actions::Continuous(&self.continuous)
            }
        }
    }
}

/// A trained policy as it plays: observations normalised with frozen statistics, the
/// actor on the host, Gaussian samples (or means, greedy) clipped to the action space's
/// bounds on their way to the environment. `rl eval`, `rl credit` and anything that
/// plays a saved run go through here.
#[derive(Debug)]
pub struct Agent<B: Backend> {
    actor: Actor<B>,
    norm: Normalizer,
    space: Space,
    observed: Vec<f32>,
    drawn: Vec<f32>,
    discrete: Vec<usize>,
    clipped: Vec<f32>,
}

impl<B: Backend> Agent<B> {
    /// `model` (an inference network) acting in environments with `spec`'s spaces,
    /// observations normalised by `norm` (frozen here).
    pub fn new(model: ActorCritic<B>, spec: &EnvSpec, norm: Normalizer) -> Self {
        let obs_dim = spec.observation_space.flat_dim();
        Self {
            actor: Actor::new(model, obs_dim, Acting::Host),
            norm: norm.freeze(),
            space: spec.action_space.clone(),
            observed: Vec::new(),
            drawn: Vec::new(),
            discrete: Vec::new(),
            clipped: Vec::new(),
        }
    }

    /// The actions for the environments' raw observations `obs`, ready to step them
    /// with: sampled, or the mode with `greedy`, never one `masks` forbids, and clipped
    /// into the action space.
    pub fn act(
        &mut self,
        obs: &[f32],
        masks: Option<&[bool]>,
        rng: &mut Rng,
        greedy: bool,
        device: &B::Device,
    ) -> Actions<'_> {
        self.norm.normalize_obs(obs, &mut self.observed);
        match self.actor.act(&self.observed, masks, rng, greedy, device) {
            Actions::Discrete(a) => {
                self.discrete.clear();
                self.discrete.extend_from_slice(a);
                self.drawn.clear();
                self.drawn.extend(a.iter().map(|&x| x as f32));
                Actions::Discrete(&self.discrete)
            }
            Actions::Continuous(a) => {
                self.drawn.clear();
                self.drawn.extend_from_slice(a);
                self.space.clip_rows_into(a, &mut self.clipped);
                Actions::Continuous(&self.clipped)
            }
        }
    }

    /// The observations of the last [`act`](Self::act) as the network saw them.
    pub fn observed(&self) -> &[f32] {
        &self.observed
    }

    /// The actions of the last [`act`](Self::act) as the policy drew them (indices as
    /// f32, or Gaussian samples before clipping): what `log pi(a|s)` is of.
    pub fn drawn(&self) -> &[f32] {
        &self.drawn
    }
}

/// The policy head an action space calls for (one [`TrainConfig::check_with`] accepted):
/// SB3's distribution for each space.
///
/// [`TrainConfig::check_with`]: crate::TrainConfig::check_with
pub fn head_for(space: &Space) -> ActionHead {
    match space {
        Space::Discrete { n } => ActionHead::Categorical { n_actions: *n },
        s @ Space::Box { .. } => ActionHead::Gaussian {
            action_dim: s.action_width(),
        },
        Space::MultiDiscrete { nvec } => ActionHead::MultiCategorical { nvec: nvec.clone() },
        Space::MultiBinary { n } => ActionHead::Bernoulli { n: *n },
        other => unreachable!("{other} has no policy head: check_with refuses it"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rl_models::ActorCriticConfig;
    use rl_models::backend::{Backend as B, device};

    #[test]
    fn host_and_backend_acting_agree() {
        let dev = device();
        let cfg = ActorCriticConfig::new(4, ActionHead::Categorical { n_actions: 2 });
        let model = cfg.init_seeded::<B>(&mut rl_core::rng::seeded(0), &dev);
        let obs: Vec<f32> = (0..256).map(|i| ((i as f32) * 0.37).sin()).collect();
        let draw = |acting| {
            let mut actor = Actor::new(model.clone(), 4, acting);
            let mut r = rl_core::rng::seeded(1);
            let mut all = Vec::new();
            for _ in 0..20 {
                match actor.act(&obs, None, &mut r, false, &dev) {
                    Actions::Discrete(a) => all.extend_from_slice(a),
                    Actions::Continuous(_) => unreachable!("a categorical head"),
                }
            }
            all
        };
        // Same seed, same logits up to rounding: the same 1280 sampled actions.
        assert_eq!(draw(Acting::Host), draw(Acting::Backend));
    }
}
