//! The training configuration: plain data, serialisable, validated once at the edge.

use rl_core::{Advantage, EnvId};

use crate::actor::Acting;
use crate::loss::Objective;
use crate::optim::{OptimizerKind, OptimizerSettings};
use rl_models::{Activation, ValueNetwork};
use serde::{Deserialize, Serialize};

/// The learner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algo {
    /// Vanilla REINFORCE: `A_t = G_t`, no value head, no value loss.
    Reinforce,
    /// REINFORCE with a learned baseline: `A_t = G_t - V(s_t)`, plus the value loss.
    Baseline,
}

impl Algo {
    /// Every learner, as `rl train --algo` names them.
    pub const ALL: [Algo; 2] = [Algo::Reinforce, Algo::Baseline];

    /// The name used on the command line and in configs.
    pub fn name(self) -> &'static str {
        match self {
            Algo::Reinforce => "reinforce",
            Algo::Baseline => "baseline",
        }
    }

    /// The advantage estimator this learner uses.
    pub fn advantage(self) -> Advantage {
        match self {
            Algo::Reinforce => Advantage::MonteCarlo,
            Algo::Baseline => Advantage::Baseline,
        }
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
    /// batch (the lesson's), TD and GAE the advantages.
    pub normalize_returns: bool,
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

/// Everything a training run depends on. The defaults are the lesson's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Environment id (Gymnasium's, case-insensitive), e.g. `CartPole-v1`.
    pub env: String,
    /// The learner.
    pub algo: Algo,
    /// The one seed: environments, action sampling and weight initialisation.
    pub seed: u64,
    /// Training stops after the update in which this many episodes have finished.
    pub episodes: usize,
    /// Hidden layer sizes of the trunk.
    pub hidden: Vec<usize>,
    /// The trunk's activation.
    pub activation: Activation,
    /// Adam's learning rate.
    pub lr: f64,
    /// Discount factor.
    pub gamma: f64,
    /// Weight of the value loss (baseline only).
    pub vf_coef: f64,
    /// Weight of the entropy bonus.
    pub ent_coef: f64,
    /// Per-batch return normalisation, `(G - mean) / (std + 1e-8)`.
    pub normalize_returns: bool,
    /// Clip the global gradient norm to this value (PyTorch's `clip_grad_norm_`); off
    /// when absent.
    pub max_grad_norm: Option<f64>,
    /// Number of vectorised environments.
    pub n_envs: usize,
    /// Complete episodes per update (each environment contributes
    /// `episodes_per_update / n_envs`); ignored when `steps_per_update` is set.
    pub episodes_per_update: usize,
    /// A fixed number of steps per update, over all environments (each contributes
    /// `steps_per_update / n_envs`); episodes cut at the end of a rollout are marked
    /// truncated and continue in the next one.
    pub steps_per_update: Option<usize>,
    /// Where the baseline's value function lives: `shared` (the lesson) or `separate`;
    /// vanilla REINFORCE has none and ignores it.
    pub value_network: ValueNetwork,
    /// Where the policy runs during rollouts: `host` (fast) or `backend`.
    pub acting: Acting,
    /// The bandit's arm probabilities (`Bandit-v0` only; the lesson's when absent).
    pub bandit_probs: Option<Vec<f64>>,
    /// How often `rl train` writes a checkpoint, in updates (it also writes one at the
    /// start, at the end and on Ctrl-C). Never changes a result.
    pub checkpoint_every: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            env: "CartPole-v1".into(),
            algo: Algo::Baseline,
            seed: 0,
            episodes: 500,
            hidden: vec![64, 64],
            activation: Activation::Tanh,
            lr: 3e-3,
            gamma: 0.99,
            vf_coef: 0.5,
            ent_coef: 0.01,
            normalize_returns: true,
            max_grad_norm: None,
            n_envs: 1,
            episodes_per_update: 1,
            steps_per_update: None,
            value_network: ValueNetwork::Shared,
            acting: Acting::Host,
            bandit_probs: None,
            checkpoint_every: 100,
        }
    }
}

/// A configuration value out of its allowed range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl TrainConfig {
    /// Checks every field once; the training code trusts a validated config. The message
    /// names the field, the value and the allowed range.
    pub fn validate(&self) -> Result<EnvId, ConfigError> {
        let err = |m: String| Err(ConfigError(m));
        let id: EnvId = self
            .env
            .parse()
            .map_err(|e: rl_core::Error| ConfigError(format!("env: {e}")))?;
        if self.episodes == 0 {
            return err("episodes is 0: allowed 1 or more".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return err(format!("lr is {}: allowed a finite number > 0", self.lr));
        }
        if !(0.0..=1.0).contains(&self.gamma) {
            return err(format!("gamma is {}: allowed [0, 1]", self.gamma));
        }
        for (name, v) in [("vf_coef", self.vf_coef), ("ent_coef", self.ent_coef)] {
            if !(v.is_finite() && v >= 0.0) {
                return err(format!("{name} is {v}: allowed a finite number >= 0"));
            }
        }
        if let Some(m) = self.max_grad_norm
            && !(m.is_finite() && m > 0.0)
        {
            return err(format!("max_grad_norm is {m}: allowed a finite number > 0"));
        }
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return err(format!(
                "hidden is {:?}: allowed one or more sizes, each >= 1",
                self.hidden
            ));
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
        if let Some(p) = &self.bandit_probs {
            if id != EnvId::Bandit {
                return err(format!(
                    "bandit_probs is set, but env is {id}: it applies to Bandit-v0 only"
                ));
            }
            rl_core::Bandit::new(p.clone())
                .map_err(|e| ConfigError(format!("bandit_probs: {e}")))?;
        }
        Ok(id)
    }

    /// What the learner does with a rollout.
    pub fn recipe(&self) -> Recipe {
        Recipe {
            estimator: self.algo.advantage(),
            normalize_returns: self.normalize_returns,
            objective: Objective::VANILLA,
            epochs: 1,
            minibatches: 1,
        }
    }

    /// The optimiser and its hyperparameters.
    pub fn optimizer(&self) -> OptimizerSettings {
        OptimizerSettings {
            kind: OptimizerKind::Adam,
            eps: 1e-8,
            alpha: 0.99,
        }
    }

    /// The value network the model gets: none for vanilla REINFORCE.
    pub fn model_value_network(&self) -> ValueNetwork {
        match self.algo {
            Algo::Reinforce => ValueNetwork::None,
            Algo::Baseline => self.value_network,
        }
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
        assert_eq!(c.validate().unwrap(), EnvId::CartPole);
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
                    episodes: 0,
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
                    env: "Pong".into(),
                    ..Default::default()
                },
                "unknown environment \"Pong\"",
            ),
            (
                TrainConfig {
                    bandit_probs: Some(vec![0.5]),
                    ..Default::default()
                },
                "applies to Bandit-v0 only",
            ),
            (
                TrainConfig {
                    env: "bandit".into(),
                    bandit_probs: Some(vec![2.0]),
                    ..Default::default()
                },
                "probability 2",
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
            "ppo"
                .parse::<Algo>()
                .unwrap_err()
                .contains("reinforce, baseline")
        );
    }
}
