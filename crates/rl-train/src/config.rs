//! The training configuration: plain data, serialisable, validated once at the edge.
//!
//! A configuration is resolved in layers, lowest first: the learner's defaults
//! ([`TrainConfig::for_algo`]: the lesson's for REINFORCE and the baseline, CleanRL's
//! `ppo.py` for PPO, Stable-Baselines3's for A2C), the tuned preset for the (learner,
//! environment) pair if one ships ([`crate::presets`]), a configuration file, then the
//! command line's flags. [`TrainConfig::validate`] then checks every field once.

use rl_core::{Advantage, EnvSpec, Space};

use crate::actor::Acting;
use crate::loss::{Objective, PolicyObjective, ValueObjective};
use crate::optim::{OptimizerKind, OptimizerSettings};
use rl_models::{Activation, Init, ValueNetwork};
use serde::{Deserialize, Serialize};

/// The learner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algo {
    /// Vanilla REINFORCE: `A_t = G_t`, no value head, no value loss.
    Reinforce,
    /// REINFORCE with a learned baseline: `A_t = G_t - V(s_t)`, plus the value loss.
    Baseline,
    /// Stable-Baselines3's A2C: n-step rollouts over vectorised environments, GAE, one
    /// gradient step per rollout.
    A2c,
    /// CleanRL's PPO: GAE, the clipped surrogate, epochs of shuffled minibatches.
    Ppo,
}

impl Algo {
    /// Every learner, as `rl train --algo` names them.
    pub const ALL: [Algo; 4] = [Algo::Reinforce, Algo::Baseline, Algo::A2c, Algo::Ppo];

    /// The name used on the command line and in configs.
    pub fn name(self) -> &'static str {
        match self {
            Algo::Reinforce => "reinforce",
            Algo::Baseline => "baseline",
            Algo::A2c => "a2c",
            Algo::Ppo => "ppo",
        }
    }

    /// Whether the budget is environment steps (`total_steps`) rather than episodes.
    pub fn counts_steps(self) -> bool {
        matches!(self, Algo::A2c | Algo::Ppo)
    }
}

impl std::str::FromStr for Algo {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Algo::ALL
            .into_iter()
            .find(|a| a.name() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                let valid: Vec<_> = Algo::ALL.iter().map(|a| a.name()).collect();
                format!(
                    "unknown algorithm {s:?}: valid ones are {}",
                    valid.join(", ")
                )
            })
    }
}

/// What a learner does with a rollout: the one place where the learners differ.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recipe {
    /// The advantage estimator.
    pub estimator: Advantage,
    /// Passed to the estimator: the Monte-Carlo estimators normalise the returns over the
    /// batch (the lesson's).
    pub normalize_returns: bool,
    /// Normalise each minibatch's advantages, `(A - mean) / (std + 1e-8)`, before the
    /// loss (CleanRL's `norm_adv`, SB3's `normalize_advantage`).
    pub norm_adv: bool,
    /// The loss.
    pub objective: Objective,
    /// Passes over the rollout.
    pub epochs: usize,
    /// Minibatches per pass (they divide the rollout).
    pub minibatches: usize,
}

impl Recipe {
    /// Whether the learner takes one step on the whole rollout and needs nothing of the
    /// policy as it was before that step.
    pub fn is_single_step(&self) -> bool {
        self.epochs == 1
            && self.minibatches == 1
            && !self.objective.needs_old_log_probs()
            && !self.objective.needs_old_values()
    }
}

/// `Option<f64>` in a configuration file as a number or `"none"` (TOML has no null), so
/// that a file or a flag can switch off what a learner's defaults switch on.
mod number_or_none {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(x) => s.serialize_f64(*x),
            None => s.serialize_str("none"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Number(f64),
            Int(i64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Number(x) => Ok(Some(x)),
            Repr::Int(x) => Ok(Some(x as f64)),
            Repr::Text(t) if t == "none" => Ok(None),
            Repr::Text(t) => Err(serde::de::Error::custom(format!(
                "expected a number or \"none\", found {t:?}"
            ))),
        }
    }
}

/// The default of a field that is absent when its key is (not the lesson's value).
fn unset<T>() -> Option<T> {
    None
}

/// Everything a training run depends on. [`Default`] is the lesson's configuration;
/// [`TrainConfig::for_algo`] gives each learner's own defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Environment id (Gymnasium's, case-insensitive), e.g. `CartPole-v1`.
    pub env: String,
    /// The learner.
    pub algo: Algo,
    /// The tuned preset these values started from, `learner/Environment` (set by
    /// resolution, never read from a file).
    pub preset: Option<String>,
    /// The one seed: environments, action sampling, weight initialisation, minibatches.
    pub seed: u64,
    /// The budget of REINFORCE and the baseline: training stops after the update in
    /// which this many episodes have finished. (A file without the key leaves it unset,
    /// not at the lesson's 500: the layers of [`Registry::resolve`](crate::Registry::resolve) supply it.)
    #[serde(default = "unset")]
    pub episodes: Option<usize>,
    /// The budget of A2C and PPO, in environment steps (CleanRL's `total_timesteps`):
    /// training stops after the update that reaches it.
    pub total_steps: Option<u64>,
    /// Hidden layer sizes of the trunk (and of a separate value network, unless
    /// `value_hidden` is set).
    pub hidden: Vec<usize>,
    /// Hidden layer sizes of a separate value network (SB3's
    /// `net_arch=dict(pi=[...], vf=[...])`); absent, the trunk's.
    pub value_hidden: Option<Vec<usize>>,
    /// The trunk's activation.
    pub activation: Activation,
    /// Weight initialisation: `torch` (`nn.Linear`'s default, the lesson's) or
    /// `orthogonal` (CleanRL's and SB3's for PPO and A2C).
    pub init: Init,
    /// Where the value function lives: `shared` (a head on the policy's trunk, the
    /// lesson's) or `separate` (its own trunk, as CleanRL and SB3); vanilla REINFORCE has
    /// none and ignores it.
    pub value_network: ValueNetwork,
    /// The optimiser: `adam` or `rmsprop`.
    pub optimizer: OptimizerKind,
    /// The learning rate.
    pub lr: f64,
    /// Anneal the learning rate linearly to zero over the step budget (CleanRL's
    /// `anneal_lr`, rl-zoo's `lin_` schedules).
    pub anneal_lr: bool,
    /// The optimiser's epsilon (PyTorch's Adam default 1e-8 for the lesson; 1e-5 for PPO
    /// and A2C, as CleanRL and SB3).
    pub optimizer_eps: f64,
    /// RMSprop's smoothing constant.
    pub rmsprop_alpha: f64,
    /// Discount factor.
    pub gamma: f64,
    /// The lambda of GAE (A2C and PPO).
    pub gae_lambda: f64,
    /// Weight of the value loss.
    pub vf_coef: f64,
    /// Weight of the entropy bonus.
    pub ent_coef: f64,
    /// Per-batch return normalisation, `(G - mean) / (std + 1e-8)` (REINFORCE and the
    /// baseline).
    pub normalize_returns: bool,
    /// Per-minibatch advantage normalisation (A2C and PPO).
    pub norm_adv: bool,
    /// PPO's surrogate clipping coefficient (also the value clip with `clip_vloss`).
    pub clip_coef: f64,
    /// PPO: clip the value loss as the surrogate.
    pub clip_vloss: bool,
    /// PPO: anneal the clipping coefficient linearly to zero over the step budget, as
    /// the learning rate (rl-zoo's `clip_range: lin_0.2`).
    pub anneal_clip: bool,
    /// PPO: stop an update's epochs once the approximate KL divergence of the last
    /// minibatch exceeds this; `"none"` for never.
    #[serde(with = "number_or_none")]
    pub target_kl: Option<f64>,
    /// PPO: passes over each rollout.
    pub epochs: usize,
    /// PPO: minibatches per pass; they must divide `steps_per_update`.
    pub minibatches: usize,
    /// Clip the global gradient norm to this value (PyTorch's `clip_grad_norm_`);
    /// `"none"` for no clipping.
    #[serde(with = "number_or_none")]
    pub max_grad_norm: Option<f64>,
    /// Number of vectorised environments.
    pub n_envs: usize,
    /// Complete episodes per update (each environment contributes
    /// `episodes_per_update / n_envs`); ignored when `steps_per_update` is set.
    pub episodes_per_update: usize,
    /// A fixed number of steps per update, over all environments (each contributes
    /// `steps_per_update / n_envs`, SB3's and CleanRL's `n_steps`); episodes cut at the
    /// end of a rollout are marked truncated and continue in the next one. A2C and PPO
    /// always collect this way.
    pub steps_per_update: Option<usize>,
    /// A2C and PPO: normalise observations by their running mean and variance (SB3's
    /// `VecNormalize(norm_obs=True)`, clipped to +-10); the statistics are frozen for
    /// evaluation and exported with the policy.
    pub normalize_obs: bool,
    /// A2C and PPO: scale rewards by the running standard deviation of the discounted
    /// return (SB3's `VecNormalize(norm_reward=True)`, with this run's `gamma`).
    pub normalize_reward: bool,
    /// The initial log standard deviation of a Gaussian policy (continuous actions
    /// only; SB3's `log_std_init`).
    pub log_std_init: f64,
    /// A2C and PPO on continuous actions: explore by generalised state-dependent
    /// exploration (gSDE, SB3's `use_sde`) instead of a state-independent log-std.
    pub use_sde: bool,
    /// With `use_sde`: draw new exploration matrices every this many steps of each
    /// environment; -1 only at the start of each rollout (SB3's `sde_sample_freq`).
    pub sde_sample_freq: i64,
    /// Where the policy runs during rollouts: `host` (fast) or `backend`.
    pub acting: Acting,
    /// The bandit's arm probabilities (`Bandit-v0` only; the lesson's when absent).
    pub bandit_probs: Option<Vec<f64>>,
    /// How often `rl train` writes a checkpoint, in updates (it also writes one at the
    /// start, at the end and on Ctrl-C). Never changes a result.
    pub checkpoint_every: u64,
    /// Whether `rl train` writes TensorBoard event files into the run folder. Never
    /// changes a result.
    pub tensorboard: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            env: "CartPole-v1".into(),
            algo: Algo::Baseline,
            preset: None,
            seed: 0,
            episodes: Some(500),
            total_steps: None,
            hidden: vec![64, 64],
            value_hidden: None,
            activation: Activation::Tanh,
            init: Init::Torch,
            value_network: ValueNetwork::Shared,
            optimizer: OptimizerKind::Adam,
            lr: 3e-3,
            anneal_lr: false,
            optimizer_eps: 1e-8,
            rmsprop_alpha: 0.99,
            gamma: 0.99,
            gae_lambda: 0.95,
            vf_coef: 0.5,
            ent_coef: 0.01,
            normalize_returns: true,
            norm_adv: false,
            clip_coef: 0.2,
            clip_vloss: true,
            anneal_clip: false,
            target_kl: None,
            epochs: 1,
            minibatches: 1,
            max_grad_norm: None,
            n_envs: 1,
            episodes_per_update: 1,
            steps_per_update: None,
            normalize_obs: false,
            normalize_reward: false,
            log_std_init: 0.0,
            use_sde: false,
            sde_sample_freq: -1,
            acting: Acting::Host,
            bandit_probs: None,
            checkpoint_every: 100,
            tensorboard: true,
        }
    }
}

/// A configuration value out of its allowed range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

/// Which learners use a field; a field set away from a learner's default for a learner
/// that does not use it is an error, not a silent no-op.
const ONLY_FOR: &[(&str, &[Algo])] = &[
    ("episodes", &[Algo::Reinforce, Algo::Baseline]),
    ("value_hidden", &[Algo::Baseline, Algo::A2c, Algo::Ppo]),
    ("total_steps", &[Algo::A2c, Algo::Ppo]),
    ("normalize_returns", &[Algo::Reinforce, Algo::Baseline]),
    ("episodes_per_update", &[Algo::Reinforce, Algo::Baseline]),
    ("anneal_lr", &[Algo::A2c, Algo::Ppo]),
    ("gae_lambda", &[Algo::A2c, Algo::Ppo]),
    ("norm_adv", &[Algo::A2c, Algo::Ppo]),
    ("clip_coef", &[Algo::Ppo]),
    ("clip_vloss", &[Algo::Ppo]),
    ("anneal_clip", &[Algo::Ppo]),
    ("target_kl", &[Algo::Ppo]),
    ("epochs", &[Algo::Ppo]),
    ("minibatches", &[Algo::Ppo]),
    ("normalize_obs", &[Algo::A2c, Algo::Ppo]),
    ("normalize_reward", &[Algo::A2c, Algo::Ppo]),
    ("use_sde", &[Algo::A2c, Algo::Ppo]),
    ("sde_sample_freq", &[Algo::A2c, Algo::Ppo]),
];

impl Algo {
    /// Whether this learner reads the configuration field `name` (every field but the
    /// few that belong to some learners only).
    pub fn uses(self, name: &str) -> bool {
        ONLY_FOR
            .iter()
            .find(|(field, _)| *field == name)
            .is_none_or(|(_, users)| users.contains(&self))
    }
}

impl TrainConfig {
    /// The learner's own defaults: the lesson's for REINFORCE and the baseline, CleanRL
    /// `ppo.py`'s for PPO, Stable-Baselines3's for A2C (with orthogonal initialisation and
    /// a separate value network, as both ship them).
    pub fn for_algo(algo: Algo) -> Self {
        let lesson = TrainConfig {
            algo,
            ..TrainConfig::default()
        };
        match algo {
            Algo::Reinforce | Algo::Baseline => lesson,
            Algo::Ppo => TrainConfig {
                episodes: None,
                total_steps: Some(500_000),
                init: Init::Orthogonal,
                value_network: ValueNetwork::Separate,
                lr: 2.5e-4,
                anneal_lr: true,
                optimizer_eps: 1e-5,
                gae_lambda: 0.95,
                normalize_returns: false,
                norm_adv: true,
                epochs: 4,
                minibatches: 4,
                max_grad_norm: Some(0.5),
                n_envs: 4,
                steps_per_update: Some(4 * 128),
                ..lesson
            },
            Algo::A2c => TrainConfig {
                episodes: None,
                total_steps: Some(500_000),
                init: Init::Orthogonal,
                value_network: ValueNetwork::Separate,
                optimizer: OptimizerKind::RmsProp,
                lr: 7e-4,
                optimizer_eps: 1e-5,
                gae_lambda: 1.0,
                ent_coef: 0.0,
                normalize_returns: false,
                max_grad_norm: Some(0.5),
                steps_per_update: Some(5),
                ..lesson
            },
        }
    }

    /// The value of the learner-specific field `name` (one of [`ONLY_FOR`]'s) as written
    /// in a configuration file, for comparison and messages.
    fn field(&self, name: &str) -> String {
        let opt = |v: Option<f64>| v.map_or("\"none\"".to_string(), |v| v.to_string());
        match name {
            "episodes" => self.episodes.map_or("unset".into(), |v| v.to_string()),
            "value_hidden" => self
                .value_hidden
                .as_ref()
                .map_or("unset".into(), |v| format!("{v:?}")),
            "total_steps" => self.total_steps.map_or("unset".into(), |v| v.to_string()),
            "normalize_returns" => self.normalize_returns.to_string(),
            "episodes_per_update" => self.episodes_per_update.to_string(),
            "anneal_lr" => self.anneal_lr.to_string(),
            "gae_lambda" => self.gae_lambda.to_string(),
            "norm_adv" => self.norm_adv.to_string(),
            "clip_coef" => self.clip_coef.to_string(),
            "clip_vloss" => self.clip_vloss.to_string(),
            "anneal_clip" => self.anneal_clip.to_string(),
            "target_kl" => opt(self.target_kl),
            "epochs" => self.epochs.to_string(),
            "minibatches" => self.minibatches.to_string(),
            "normalize_obs" => self.normalize_obs.to_string(),
            "normalize_reward" => self.normalize_reward.to_string(),
            "use_sde" => self.use_sde.to_string(),
            "sde_sample_freq" => self.sde_sample_freq.to_string(),
            other => unreachable!("{other} is not a learner-specific field"),
        }
    }

    /// Checks every field on its own and against the others; the training code trusts a
    /// validated config. The message names the field, the value and the allowed range.
    /// What depends on the environment is [`check_with`](Self::check_with)'s, and what
    /// depends on the machine, [`crate::memory::check`]'s.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |m: String| Err(ConfigError(m));
        if self.env.trim().is_empty() {
            return err("env is empty: allowed an environment's id (see `rl envs`)".into());
        }
        let algo = self.algo.name();
        // Fields of other learners stay at this learner's defaults.
        let defaults = TrainConfig::for_algo(self.algo);
        for (name, users) in ONLY_FOR {
            if !users.contains(&self.algo) && self.field(name) != defaults.field(name) {
                let users: Vec<_> = users.iter().map(|a| a.name()).collect();
                return err(format!(
                    "{name} is {}, but {algo} does not use it (it applies to {})",
                    self.field(name),
                    users.join(" and ")
                ));
            }
        }
        match (self.algo.counts_steps(), self.episodes, self.total_steps) {
            (false, None, _) => {
                return err(format!(
                    "episodes is not set: {algo} counts its budget in episodes"
                ));
            }
            (true, _, None) => {
                return err(format!(
                    "total_steps is not set: {algo} counts its budget in environment steps"
                ));
            }
            _ => {}
        }
        // Counts are written to config.toml, whose integers are 64-bit signed.
        const MAX: u64 = i64::MAX as u64;
        for (name, v, min) in [
            ("episodes", self.episodes.map(|e| e as u64), 1),
            ("total_steps", self.total_steps, 1),
            ("seed", Some(self.seed), 0),
            ("checkpoint_every", Some(self.checkpoint_every), 1),
        ] {
            if let Some(v) = v
                && !(min..=MAX).contains(&v)
            {
                return err(format!("{name} is {v}: allowed {min} to {MAX}"));
            }
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return err(format!("lr is {}: allowed a finite number > 0", self.lr));
        }
        if !(0.0..=1.0).contains(&self.gamma) {
            return err(format!("gamma is {}: allowed [0, 1]", self.gamma));
        }
        if !(0.0..=1.0).contains(&self.gae_lambda) {
            return err(format!("gae_lambda is {}: allowed [0, 1]", self.gae_lambda));
        }
        for (name, v) in [("vf_coef", self.vf_coef), ("ent_coef", self.ent_coef)] {
            if !(v.is_finite() && v >= 0.0) {
                return err(format!("{name} is {v}: allowed a finite number >= 0"));
            }
        }
        if !(self.optimizer_eps.is_finite() && self.optimizer_eps > 0.0) {
            return err(format!(
                "optimizer_eps is {}: allowed a finite number > 0",
                self.optimizer_eps
            ));
        }
        if !(0.0..1.0).contains(&self.rmsprop_alpha) {
            return err(format!(
                "rmsprop_alpha is {}: allowed [0, 1)",
                self.rmsprop_alpha
            ));
        }
        if !(self.clip_coef.is_finite() && self.clip_coef > 0.0) {
            return err(format!(
                "clip_coef is {}: allowed a finite number > 0",
                self.clip_coef
            ));
        }
        for (name, v) in [
            ("max_grad_norm", self.max_grad_norm),
            ("target_kl", self.target_kl),
        ] {
            if let Some(m) = v
                && !(m.is_finite() && m > 0.0)
            {
                return err(format!(
                    "{name} is {m}: allowed a finite number > 0, or \"none\""
                ));
            }
        }
        if self.epochs == 0 {
            return err("epochs is 0: allowed 1 or more".into());
        }
        if self.minibatches == 0 {
            return err("minibatches is 0: allowed 1 or more".into());
        }
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return err(format!(
                "hidden is {:?}: allowed one or more sizes, each >= 1",
                self.hidden
            ));
        }
        if let Some(v) = &self.value_hidden {
            if v.is_empty() || v.contains(&0) {
                return err(format!(
                    "value_hidden is {v:?}: allowed one or more sizes, each >= 1 (or absent: the trunk's)"
                ));
            }
            let network = self.model_value_network();
            if network != ValueNetwork::Separate {
                let what = match network {
                    ValueNetwork::None => format!("{} has no value network", self.algo.name()),
                    _ => "value_network is \"shared\"".to_string(),
                };
                return err(format!(
                    "value_hidden is {v:?}, but {what}: it sizes a separate value network (value_network = \"separate\")"
                ));
            }
        }
        if self.n_envs == 0 {
            return err("n_envs is 0: allowed 1 or more".into());
        }
        if self.checkpoint_every == 0 {
            return err("checkpoint_every is 0: allowed 1 or more (updates)".into());
        }
        match self.steps_per_update {
            Some(s) if s == 0 || !s.is_multiple_of(self.n_envs) => {
                return err(format!(
                    "steps_per_update is {s}: allowed a positive multiple of n_envs ({})",
                    self.n_envs
                ));
            }
            Some(s) if !s.is_multiple_of(self.minibatches) => {
                return err(format!(
                    "minibatches is {}: allowed a divisor of steps_per_update ({s})",
                    self.minibatches
                ));
            }
            None if self.algo.counts_steps() => {
                return err(format!(
                    "steps_per_update is not set: {algo} collects a fixed number of steps per update"
                ));
            }
            None if self.episodes_per_update == 0
                || !self.episodes_per_update.is_multiple_of(self.n_envs) =>
            {
                return err(format!(
                    "episodes_per_update is {}: allowed a positive multiple of n_envs ({})",
                    self.episodes_per_update, self.n_envs
                ));
            }
            _ => {}
        }
        if !(self.log_std_init.is_finite() && (-20.0..=2.0).contains(&self.log_std_init)) {
            return err(format!(
                "log_std_init is {}: allowed a finite number in [-20, 2]",
                self.log_std_init
            ));
        }
        if self.use_sde && self.acting == Acting::Backend {
            return err(
                "use_sde is true with acting = \"backend\": gSDE's noise needs the trunk's features, which host acting keeps; allowed acting = \"host\""
                    .into(),
            );
        }
        if !(self.sde_sample_freq == -1 || self.sde_sample_freq >= 1) {
            return err(format!(
                "sde_sample_freq is {}: allowed -1 (new exploration matrices at the start of each rollout only) or a positive number of steps",
                self.sde_sample_freq
            ));
        }
        if !self.use_sde && self.sde_sample_freq != -1 {
            return err(format!(
                "sde_sample_freq is {}, but use_sde is false: it applies to gSDE only",
                self.sde_sample_freq
            ));
        }
        if self.bandit_probs.is_some()
            && rl_core::Builtin::from_id(&self.env) != Some(rl_core::Builtin::Bandit)
        {
            return err(format!(
                "bandit_probs is set, but env is {}: it applies to Bandit-v0 only",
                self.env
            ));
        }
        Ok(())
    }

    /// Checks what depends on the environment, against its `spec` (read from the
    /// environments that were made): options that only some spaces take, and
    /// normalisation that would leave nothing to learn from.
    pub fn check_with(&self, spec: &EnvSpec) -> Result<(), ConfigError> {
        let err = |m: String| Err(ConfigError(m));
        let id = &spec.id;
        if let Some(problem) = spec.action_space.action_space_problem() {
            return err(format!("env {id}: {problem}"));
        }
        if let Some(problem) = spec.observation_space.observation_space_problem() {
            return err(format!("env {id}: {problem}"));
        }
        let constant = spec.observation_space.is_constant();
        for (name, on) in [
            ("normalize_obs", self.normalize_obs),
            ("normalize_reward", self.normalize_reward),
        ] {
            // A bandit: nothing to observe, one reward per episode.
            if on && constant && spec.single_step {
                return err(format!(
                    "{name} is true, but {id} has no observation to normalise and one reward per episode: allowed false"
                ));
            }
        }
        if self.normalize_obs && constant {
            return err(format!(
                "normalize_obs is true, but {id} has no observation to normalise (its observations are constant): allowed false"
            ));
        }
        let continuous = matches!(spec.action_space, Space::Box { .. });
        if !continuous && self.log_std_init != 0.0 {
            return err(format!(
                "log_std_init is {}, but {id} has discrete actions: it applies to a Gaussian policy (a Box action space)",
                self.log_std_init
            ));
        }
        if self.use_sde && !continuous {
            return err(format!(
                "use_sde is true, but {id} has discrete actions: gSDE applies to a Gaussian policy (a Box action space); allowed false"
            ));
        }
        Ok(())
    }

    /// What `spec`'s environment makes of this configuration that is allowed but likely
    /// a mistake, one sentence each (`rl train` prints them).
    pub fn warnings(&self, spec: &EnvSpec) -> Vec<String> {
        let mut out = Vec::new();
        let one_step_batches = self.steps_per_update == Some(1)
            || (self.steps_per_update.is_none()
                && self.episodes_per_update == 1
                && spec.single_step);
        if self.recipe().normalize_returns && one_step_batches {
            out.push(format!(
                "normalize_returns is true, but every batch of {} is one step: the normalised return of a single step is always 0, so the policy gets no gradient; set normalize_returns = false or episodes_per_update >= 2",
                spec.id
            ));
        }
        out
    }

    /// The value network the model gets: none for vanilla REINFORCE.
    pub fn model_value_network(&self) -> ValueNetwork {
        match self.algo {
            Algo::Reinforce => ValueNetwork::None,
            _ => self.value_network,
        }
    }

    /// What the learner does with a rollout.
    pub fn recipe(&self) -> Recipe {
        let gae = Advantage::Gae {
            lambda: self.gae_lambda as f32,
        };
        let (estimator, objective) = match self.algo {
            Algo::Reinforce => (Advantage::MonteCarlo, Objective::VANILLA),
            Algo::Baseline => (Advantage::Baseline, Objective::VANILLA),
            Algo::A2c => (gae, Objective::VANILLA),
            Algo::Ppo => {
                let clip = self.clip_coef as f32;
                let objective = Objective {
                    policy: PolicyObjective::Clipped { clip_coef: clip },
                    value: ValueObjective::HalfMse {
                        clip: self.clip_vloss.then_some(clip),
                    },
                };
                (gae, objective)
            }
        };
        Recipe {
            estimator,
            normalize_returns: !self.algo.counts_steps() && self.normalize_returns,
            norm_adv: self.algo.counts_steps() && self.norm_adv,
            objective,
            epochs: self.epochs,
            minibatches: self.minibatches,
        }
    }

    /// The optimiser and its hyperparameters.
    pub fn optimizer(&self) -> OptimizerSettings {
        OptimizerSettings {
            kind: self.optimizer,
            eps: self.optimizer_eps,
            alpha: self.rmsprop_alpha,
        }
    }

    /// The budget, with its unit (`"episodes"` or `"steps"`), of a validated
    /// configuration.
    pub fn budget(&self) -> (u64, &'static str) {
        match (self.total_steps, self.episodes) {
            (Some(steps), _) if self.algo.counts_steps() => (steps, "steps"),
            (_, Some(episodes)) => (episodes as u64, "episodes"),
            _ => (0, "episodes"),
        }
    }

    /// Updates in the run, when the budget is in steps (what `anneal_lr` spreads the
    /// learning rate over): `ceil(total_steps / steps_per_update)`.
    pub fn planned_updates(&self) -> Option<u64> {
        let steps = self.steps_per_update? as u64;
        Some(self.total_steps?.div_ceil(steps))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_lessons_and_valid() {
        let c = TrainConfig::default();
        assert_eq!(
            (c.lr, c.gamma, c.vf_coef, c.ent_coef),
            (3e-3, 0.99, 0.5, 0.01)
        );
        assert_eq!(c.hidden, vec![64, 64]);
        assert!(c.normalize_returns && c.max_grad_norm.is_none() && c.episodes_per_update == 1);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn every_bad_value_is_named() {
        let cases: Vec<(TrainConfig, &str)> = vec![
            (
                TrainConfig {
                    lr: -1.0,
                    ..Default::default()
                },
                "lr is -1",
            ),
            (
                TrainConfig {
                    lr: f64::NAN,
                    ..Default::default()
                },
                "lr is NaN",
            ),
            (
                TrainConfig {
                    gamma: 1.5,
                    ..Default::default()
                },
                "gamma is 1.5",
            ),
            (
                TrainConfig {
                    episodes: Some(0),
                    ..Default::default()
                },
                "episodes is 0",
            ),
            (
                TrainConfig {
                    ent_coef: -0.1,
                    ..Default::default()
                },
                "ent_coef is -0.1",
            ),
            (
                TrainConfig {
                    vf_coef: f64::INFINITY,
                    ..Default::default()
                },
                "vf_coef is inf",
            ),
            (
                TrainConfig {
                    max_grad_norm: Some(0.0),
                    ..Default::default()
                },
                "max_grad_norm is 0",
            ),
            (
                TrainConfig {
                    hidden: vec![],
                    ..Default::default()
                },
                "hidden is []",
            ),
            (
                TrainConfig {
                    hidden: vec![64, 0],
                    ..Default::default()
                },
                "hidden is [64, 0]",
            ),
            (
                TrainConfig {
                    n_envs: 0,
                    ..Default::default()
                },
                "n_envs is 0",
            ),
            (
                TrainConfig {
                    n_envs: 4,
                    steps_per_update: Some(10),
                    ..Default::default()
                },
                "steps_per_update is 10",
            ),
            (
                TrainConfig {
                    n_envs: 2,
                    episodes_per_update: 3,
                    ..Default::default()
                },
                "episodes_per_update is 3",
            ),
            (
                TrainConfig {
                    env: " ".into(),
                    ..Default::default()
                },
                "env is empty",
            ),
            (
                TrainConfig {
                    bandit_probs: Some(vec![0.5]),
                    ..Default::default()
                },
                "applies to Bandit-v0 only",
            ),
        ];
        for (cfg, want) in cases {
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }
    }

    #[test]
    fn algo_names_round_trip() {
        for a in Algo::ALL {
            assert_eq!(a.name().parse::<Algo>().unwrap(), a);
        }
        assert!(
            "dqn"
                .parse::<Algo>()
                .unwrap_err()
                .contains("reinforce, baseline, a2c, ppo")
        );
    }

    #[test]
    fn every_learners_defaults_are_valid() {
        for a in Algo::ALL {
            let c = TrainConfig::for_algo(a);
            assert_eq!(c.validate(), Ok(()), "{a:?}");
        }
        let ppo = TrainConfig::for_algo(Algo::Ppo);
        // CleanRL's ppo.py.
        assert_eq!(
            (
                ppo.lr,
                ppo.n_envs,
                ppo.steps_per_update,
                ppo.epochs,
                ppo.minibatches
            ),
            (2.5e-4, 4, Some(512), 4, 4)
        );
        assert_eq!(
            (
                ppo.gae_lambda,
                ppo.clip_coef,
                ppo.max_grad_norm,
                ppo.optimizer_eps
            ),
            (0.95, 0.2, Some(0.5), 1e-5)
        );
        assert!(ppo.anneal_lr && ppo.norm_adv && ppo.clip_vloss && ppo.target_kl.is_none());
        // Stable-Baselines3's A2C.
        let a2c = TrainConfig::for_algo(Algo::A2c);
        assert_eq!(
            (a2c.optimizer, a2c.lr, a2c.rmsprop_alpha, a2c.optimizer_eps),
            (OptimizerKind::RmsProp, 7e-4, 0.99, 1e-5)
        );
        assert_eq!((a2c.gae_lambda, a2c.steps_per_update), (1.0, Some(5)));
        assert!(!a2c.norm_adv && !a2c.anneal_lr);
    }

    #[test]
    fn the_new_learners_values_are_named_when_out_of_range_or_misapplied() {
        let ppo = || TrainConfig::for_algo(Algo::Ppo);
        let cases: Vec<(TrainConfig, &str)> = vec![
            (
                TrainConfig {
                    clip_coef: 0.0,
                    ..ppo()
                },
                "clip_coef is 0: allowed a finite number > 0",
            ),
            (
                TrainConfig {
                    clip_coef: -0.2,
                    ..ppo()
                },
                "clip_coef is -0.2",
            ),
            (
                TrainConfig {
                    gae_lambda: 1.5,
                    ..ppo()
                },
                "gae_lambda is 1.5: allowed [0, 1]",
            ),
            (
                TrainConfig {
                    gae_lambda: -0.1,
                    ..ppo()
                },
                "gae_lambda is -0.1",
            ),
            (TrainConfig { epochs: 0, ..ppo() }, "epochs is 0"),
            (
                TrainConfig {
                    minibatches: 0,
                    ..ppo()
                },
                "minibatches is 0",
            ),
            (
                TrainConfig {
                    minibatches: 3,
                    ..ppo()
                },
                "minibatches is 3: allowed a divisor of steps_per_update (512)",
            ),
            (
                TrainConfig {
                    target_kl: Some(0.0),
                    ..ppo()
                },
                "target_kl is 0",
            ),
            (
                TrainConfig {
                    total_steps: Some(0),
                    ..ppo()
                },
                "total_steps is 0",
            ),
            (
                TrainConfig {
                    total_steps: None,
                    ..ppo()
                },
                "total_steps is not set",
            ),
            (
                TrainConfig {
                    episodes: Some(10),
                    ..ppo()
                },
                "episodes is 10, but ppo does not use it (it applies to reinforce and baseline)",
            ),
            (
                TrainConfig {
                    steps_per_update: None,
                    ..ppo()
                },
                "steps_per_update is not set: ppo collects",
            ),
            (
                TrainConfig {
                    optimizer_eps: 0.0,
                    ..ppo()
                },
                "optimizer_eps is 0",
            ),
            (
                TrainConfig {
                    rmsprop_alpha: 1.0,
                    ..ppo()
                },
                "rmsprop_alpha is 1: allowed [0, 1)",
            ),
            (
                TrainConfig {
                    normalize_returns: true,
                    ..ppo()
                },
                "normalize_returns is true, but ppo does not use it",
            ),
            (
                TrainConfig {
                    epochs: 4,
                    ..TrainConfig::for_algo(Algo::A2c)
                },
                "epochs is 4, but a2c does not use it (it applies to ppo)",
            ),
            (
                TrainConfig {
                    clip_coef: 0.3,
                    ..TrainConfig::default()
                },
                "clip_coef is 0.3, but baseline does not use it",
            ),
            (
                TrainConfig {
                    total_steps: Some(100),
                    ..TrainConfig::default()
                },
                "total_steps is 100, but baseline does not use it (it applies to a2c and ppo)",
            ),
            (
                TrainConfig {
                    anneal_lr: true,
                    ..TrainConfig::default()
                },
                "anneal_lr is true, but baseline does not use it",
            ),
        ];
        for (cfg, want) in cases {
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }
    }

    #[test]
    fn what_depends_on_the_environment_is_checked_against_its_spec() {
        let spec = |b: rl_core::Builtin| {
            crate::Registry::builtin()
                .get(b.id())
                .unwrap()
                .spec(&TrainConfig::default())
                .unwrap()
        };
        let cartpole = spec(rl_core::Builtin::CartPole);
        let bandit = spec(rl_core::Builtin::Bandit);
        let pendulum = spec(rl_core::Builtin::Pendulum);
        let ppo = TrainConfig::for_algo(Algo::Ppo);
        let cases = [
            (
                TrainConfig {
                    use_sde: true,
                    ..ppo.clone()
                },
                &cartpole,
                "use_sde is true, but CartPole-v1 has discrete actions",
            ),
            (
                TrainConfig {
                    log_std_init: -1.0,
                    ..ppo.clone()
                },
                &cartpole,
                "log_std_init is -1, but CartPole-v1 has discrete actions",
            ),
            (
                TrainConfig {
                    normalize_reward: true,
                    ..ppo.clone()
                },
                &bandit,
                "normalize_reward is true, but Bandit-v0 has no observation to normalise",
            ),
            (
                TrainConfig {
                    normalize_obs: true,
                    ..ppo.clone()
                },
                &bandit,
                "normalize_obs is true, but Bandit-v0",
            ),
        ];
        for (cfg, spec, want) in cases {
            let e = cfg.check_with(spec).unwrap_err().to_string();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }
        assert_eq!(
            TrainConfig {
                use_sde: true,
                ..ppo
            }
            .check_with(&pendulum),
            Ok(())
        );
    }

    #[test]
    fn normalised_returns_of_one_step_batches_are_warned_about() {
        let registry = crate::Registry::builtin();
        let bandit = registry
            .get("bandit")
            .unwrap()
            .spec(&TrainConfig::default())
            .unwrap();
        let cartpole = registry
            .get("cartpole-v1")
            .unwrap()
            .spec(&TrainConfig::default())
            .unwrap();
        let reinforce = TrainConfig {
            algo: Algo::Reinforce,
            ..TrainConfig::default()
        };
        let w = reinforce.warnings(&bandit);
        assert!(w.len() == 1 && w[0].contains("always 0"), "{w:?}");
        assert!(reinforce.warnings(&cartpole).is_empty());
        let batched = TrainConfig {
            episodes_per_update: 16,
            ..reinforce.clone()
        };
        assert!(batched.warnings(&bandit).is_empty());
        let raw = TrainConfig {
            normalize_returns: false,
            ..reinforce
        };
        assert!(raw.warnings(&bandit).is_empty());
    }
}
