//! The lesson's actor-critic: a shared trunk with policy and value heads, or separate
//! policy and value networks, or no value at all (vanilla REINFORCE).

use burn::prelude::*;
use rl_core::rng::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::distributions::{
    bernoulli_log_prob_and_entropy, categorical_entropy, categorical_log_prob, gaussian_entropy,
    gaussian_entropy_std, gaussian_log_prob, gaussian_log_prob_std,
    masked_categorical_log_prob_and_entropy, multi_categorical_log_prob_and_entropy,
};
use crate::heads::{
    BernoulliHead, CategoricalHead, CategoricalHeadConfig, GaussianHead, GaussianHeadConfig,
    MultiCategoricalHead, SdeHead, ValueHead, ValueHeadConfig,
};
use crate::init::Init;
use crate::mlp::{Mlp, MlpConfig};

/// The kind of policy head, from the environment's action space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionHead {
    /// A categorical distribution over `n_actions` (discrete action spaces).
    Categorical {
        /// Number of actions.
        n_actions: usize,
    },
    /// A diagonal Gaussian over `action_dim` components (box action spaces).
    Gaussian {
        /// Action dimension.
        action_dim: usize,
    },
    /// One categorical per component (multi-discrete action spaces).
    MultiCategorical {
        /// The number of values of each component.
        nvec: Vec<usize>,
    },
    /// Independent Bernoullis, one per flag (multi-binary action spaces).
    Bernoulli {
        /// The number of flags.
        n: usize,
    },
}

impl ActionHead {
    /// The width of the head's output: logits or means.
    pub fn width(&self) -> usize {
        match self {
            ActionHead::Categorical { n_actions } => *n_actions,
            ActionHead::Gaussian { action_dim } => *action_dim,
            ActionHead::MultiCategorical { nvec } => nvec.iter().sum(),
            ActionHead::Bernoulli { n } => *n,
        }
    }

    /// The number of values one action takes: one index, one per component or flag, or
    /// `action_dim` reals.
    pub fn action_width(&self) -> usize {
        match self {
            ActionHead::Categorical { .. } => 1,
            ActionHead::Gaussian { action_dim } => *action_dim,
            ActionHead::MultiCategorical { nvec } => nvec.len(),
            ActionHead::Bernoulli { n } => *n,
        }
    }

    /// Whether actions are integers (every head but the Gaussian).
    pub fn is_discrete(&self) -> bool {
        !matches!(self, ActionHead::Gaussian { .. })
    }

    /// The name export metadata and the PyTorch snippet use.
    pub fn name(&self) -> &'static str {
        match self {
            ActionHead::Categorical { .. } => "categorical",
            ActionHead::Gaussian { .. } => "gaussian",
            ActionHead::MultiCategorical { .. } => "multi_categorical",
            ActionHead::Bernoulli { .. } => "bernoulli",
        }
    }
}

/// Where the value function lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ValueNetwork {
    /// No value head: vanilla REINFORCE.
    None,
    /// A value head on the policy's trunk (the lesson).
    #[default]
    Shared,
    /// A value head on its own trunk of the same shape.
    Separate,
}

/// Configuration of an [`ActorCritic`]; the defaults are the lesson's.
#[derive(Config, Debug)]
pub struct ActorCriticConfig {
    /// Observation size.
    pub obs_dim: usize,
    /// The policy head.
    pub action: ActionHead,
    /// Hidden layer sizes of the trunk.
    #[config(default = "vec![64, 64]")]
    pub hidden: Vec<usize>,
    /// The trunk's activation.
    #[config(default = "Activation::Tanh")]
    pub activation: Activation,
    /// Where the value function lives.
    #[config(default = "ValueNetwork::Shared")]
    pub value: ValueNetwork,
    /// Hidden layer sizes of a separate value network (SB3's `net_arch=dict(vf=...)`);
    /// `None`, the trunk's.
    #[config(default = "None")]
    pub value_hidden: Option<Vec<usize>>,
    /// Initial log-std of a Gaussian head (of each exploration weight with `sde`).
    #[config(default = 0.0)]
    pub init_log_std: f32,
    /// A Gaussian head explores by gSDE ([`SdeHead`]) instead of a state-independent
    /// log-std.
    #[config(default = false)]
    pub sde: bool,
    /// How [`init_seeded`](Self::init_seeded) draws the weights.
    #[config(default = "Init::Torch")]
    pub init: Init,
}

/// The policy head.
#[derive(Module, Debug)]
pub enum PolicyHead<B: Backend> {
    /// Logits of a categorical policy.
    Categorical(CategoricalHead<B>),
    /// Means and log-std of a diagonal Gaussian policy.
    Gaussian(GaussianHead<B>),
    /// Means and state-dependent standard deviations of gSDE: its output is the means
    /// then the standard deviations, `[batch, 2 * action_dim]`.
    Sde(SdeHead<B>),
    /// Logits of one categorical per component of a multi-discrete action.
    MultiCategorical(MultiCategoricalHead<B>),
    /// Logits of independent Bernoullis.
    Bernoulli(BernoulliHead<B>),
}

/// The means and standard deviations of an [`SdeHead`]'s output.
fn split_sde<B: Backend>(out: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let n = out.dims()[1] / 2;
    (out.clone().narrow(1, 0, n), out.narrow(1, n, n))
}

/// A batch of actions, as the policy head's kind wants them.
#[derive(Debug, Clone)]
pub enum ActionBatch<B: Backend> {
    /// `[batch]` indices.
    Discrete(Tensor<B, 1, Int>),
    /// `[batch, action_dim]` values.
    Continuous(Tensor<B, 2>),
    /// `[batch, components]` indices (multi-discrete) or 0/1 flags (multi-binary).
    MultiDiscrete(Tensor<B, 2, Int>),
}

impl<B: Backend> ActionBatch<B> {
    /// `rows` actions from host buffers, as `head` wants them: integer ones from
    /// `discrete` (the action's width per row), Gaussian ones from `continuous`.
    pub fn from_host(
        head: &ActionHead,
        discrete: &[i64],
        continuous: &[f32],
        rows: usize,
        device: &B::Device,
    ) -> Self {
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
}

impl<B: Backend> PolicyHead<B> {
    /// Trunk features to logits or means.
    pub fn forward(&self, h: Tensor<B, 2>) -> Tensor<B, 2> {
        match self {
            PolicyHead::Categorical(head) => head.forward(h),
            PolicyHead::Gaussian(head) => head.forward(h),
            PolicyHead::Sde(head) => head.forward(h),
            PolicyHead::MultiCategorical(head) => head.forward(h),
            PolicyHead::Bernoulli(head) => head.forward(h),
        }
    }

    /// `log pi(a|s)` per row, from this head's output: `[batch]`.
    ///
    /// # Panics
    /// If the actions' kind is not the head's (a programming error, not bad input).
    pub fn log_prob(&self, out: Tensor<B, 2>, actions: ActionBatch<B>) -> Tensor<B, 1> {
        match (self, actions) {
            (PolicyHead::Categorical(_), ActionBatch::Discrete(a)) => categorical_log_prob(out, a),
            (head @ (PolicyHead::MultiCategorical(_) | PolicyHead::Bernoulli(_)), a) => {
                head.log_prob_and_entropy(out, a, None).0
            }
            (PolicyHead::Gaussian(head), ActionBatch::Continuous(a)) => {
                gaussian_log_prob(out, head.log_std.val(), a)
            }
            (PolicyHead::Sde(_), ActionBatch::Continuous(a)) => {
                let (mean, std) = split_sde(out);
                gaussian_log_prob_std(mean, std, a)
            }
            _ => panic!("action batch of the wrong kind for the policy head"),
        }
    }

    /// [`PolicyHead::log_prob`] and [`PolicyHead::entropy`] together, sharing one
    /// log-softmax for a categorical head, with the actions `mask` `[batch, mask width]`
    /// forbids removed (categorical and multi-categorical heads: sb3-contrib's
    /// MaskablePPO).
    ///
    /// # Panics
    /// If the actions' kind is not the head's, or a mask is given to a head without
    /// masks (programming errors, not bad input).
    pub fn log_prob_and_entropy(
        &self,
        out: Tensor<B, 2>,
        actions: ActionBatch<B>,
        mask: Option<Tensor<B, 2, Bool>>,
    ) -> (Tensor<B, 1>, Tensor<B, 1>) {
        let masked = mask.is_some();
        match (self, actions) {
            (PolicyHead::Categorical(_), ActionBatch::Discrete(a)) => {
                masked_categorical_log_prob_and_entropy(out, a, mask)
            }
            (PolicyHead::MultiCategorical(h), ActionBatch::MultiDiscrete(a)) => {
                multi_categorical_log_prob_and_entropy(out, &h.nvec, a, mask)
            }
            (PolicyHead::Bernoulli(_), ActionBatch::MultiDiscrete(a)) if !masked => {
                bernoulli_log_prob_and_entropy(out, a)
            }
            (PolicyHead::Gaussian(_) | PolicyHead::Sde(_), _) if masked => {
                panic!("a Gaussian policy takes no action mask")
            }
            (PolicyHead::Gaussian(head), ActionBatch::Continuous(a)) => {
                let log_std = head.log_std.val();
                (
                    gaussian_log_prob(out, log_std.clone(), a),
                    gaussian_entropy(log_std),
                )
            }
            (PolicyHead::Sde(_), ActionBatch::Continuous(a)) => {
                let (mean, std) = split_sde(out);
                (
                    gaussian_log_prob_std(mean, std.clone(), a),
                    gaussian_entropy_std(std),
                )
            }
            _ => panic!("action batch of the wrong kind for the policy head"),
        }
    }

    /// The policy's entropy per row (`[batch]`), or once for a Gaussian head with a
    /// state-independent log-std (`[1]`).
    pub fn entropy(&self, out: Tensor<B, 2>) -> Tensor<B, 1> {
        match self {
            PolicyHead::Categorical(_) => categorical_entropy(out),
            PolicyHead::Gaussian(head) => gaussian_entropy(head.log_std.val()),
            PolicyHead::Sde(_) => gaussian_entropy_std(split_sde(out).1),
            PolicyHead::MultiCategorical(h) => {
                let mut at = 0;
                let mut sum: Option<Tensor<B, 1>> = None;
                for &n in &h.nvec {
                    let e = categorical_entropy(out.clone().narrow(1, at, n));
                    sum = Some(match sum {
                        Some(s) => s + e,
                        None => e,
                    });
                    at += n;
                }
                sum.expect("at least one component")
            }
            PolicyHead::Bernoulli(_) => {
                let zeros = out.zeros_like().int();
                bernoulli_log_prob_and_entropy(out, zeros).1
            }
        }
    }
}

/// What [`ActorCritic::evaluate`] gives for a batch of (observation, action) rows.
#[derive(Debug, Clone)]
pub struct Evaluation<B: Backend> {
    /// `log pi(a_t|s_t)`, `[batch]`.
    pub log_prob: Tensor<B, 1>,
    /// The policy's entropy: `[batch]` for a categorical or gSDE head, `[1]` for a
    /// Gaussian head (its standard deviation does not depend on the state); its mean is
    /// the batch's.
    pub entropy: Tensor<B, 1>,
    /// `V(s_t)`, `[batch]`, if the network has a value head.
    pub value: Option<Tensor<B, 1>>,
}

/// The lesson's actor-critic network.
#[derive(Module, Debug)]
pub struct ActorCritic<B: Backend> {
    /// The policy's trunk (shared with the value head when [`ValueNetwork::Shared`]).
    pub trunk: Mlp<B>,
    /// The policy head.
    pub policy: PolicyHead<B>,
    /// The value head, unless [`ValueNetwork::None`].
    pub value: Option<ValueHead<B>>,
    /// The value's own trunk with [`ValueNetwork::Separate`].
    pub value_trunk: Option<Mlp<B>>,
}

impl ActorCriticConfig {
    fn trunk(&self) -> MlpConfig {
        MlpConfig::new(self.obs_dim)
            .with_hidden(self.hidden.clone())
            .with_activation(self.activation)
            .with_init(self.init)
    }

    /// The separate value network's trunk: `value_hidden`'s sizes, or the trunk's.
    fn value_trunk(&self) -> MlpConfig {
        MlpConfig::new(self.obs_dim)
            .with_hidden(
                self.value_hidden
                    .clone()
                    .unwrap_or_else(|| self.hidden.clone()),
            )
            .with_activation(self.activation)
            .with_init(self.init)
    }

    /// The size of the features the value head reads.
    fn value_features(&self) -> usize {
        match self.value {
            ValueNetwork::Separate => self.value_trunk().d_output(),
            _ => self.trunk().d_output(),
        }
    }

    /// Burn's standard initialisation, from the backend's generator.
    pub fn init<B: Backend>(&self, device: &B::Device) -> ActorCritic<B> {
        let trunk = self.trunk();
        let d = trunk.d_output();
        let policy = match self.action {
            ActionHead::Categorical { n_actions } => {
                PolicyHead::Categorical(CategoricalHeadConfig::new(d, n_actions).init(device))
            }
            ActionHead::Gaussian { action_dim } if self.sde => PolicyHead::Sde(
                GaussianHeadConfig::new(d, action_dim)
                    .with_init_log_std(self.init_log_std)
                    .init_sde(device),
            ),
            ActionHead::Gaussian { action_dim } => PolicyHead::Gaussian(
                GaussianHeadConfig::new(d, action_dim)
                    .with_init_log_std(self.init_log_std)
                    .init(device),
            ),
            ActionHead::MultiCategorical { ref nvec } => {
                PolicyHead::MultiCategorical(MultiCategoricalHead {
                    linear: CategoricalHeadConfig::new(d, self.action.width())
                        .init::<B>(device)
                        .linear,
                    nvec: nvec.clone(),
                })
            }
            ActionHead::Bernoulli { n } => PolicyHead::Bernoulli(BernoulliHead {
                linear: CategoricalHeadConfig::new(d, n).init::<B>(device).linear,
            }),
        };
        ActorCritic {
            trunk: trunk.init(device),
            policy,
            value: (self.value != ValueNetwork::None)
                .then(|| ValueHeadConfig::new(self.value_features()).init(device)),
            value_trunk: (self.value == ValueNetwork::Separate)
                .then(|| self.value_trunk().init(device)),
        }
    }

    /// Seeded initialisation (PyTorch's default or orthogonal, see [`Init`]), every weight
    /// drawn from `rng` in a fixed order (trunk, policy head, value trunk, value head):
    /// the same seed gives the same network on every backend, with the same parameter
    /// ids (so the same saved bytes).
    pub fn init_seeded<B: Backend>(&self, rng: &mut Rng, device: &B::Device) -> ActorCritic<B> {
        let trunk_cfg = self.trunk();
        let d = trunk_cfg.d_output();
        let trunk = trunk_cfg.init_seeded(rng, device);
        let policy = match self.action {
            ActionHead::Categorical { n_actions } => PolicyHead::Categorical(
                CategoricalHeadConfig::new(d, n_actions)
                    .with_init(self.init)
                    .init_seeded(rng, device),
            ),
            ActionHead::Gaussian { action_dim } if self.sde => PolicyHead::Sde(
                GaussianHeadConfig::new(d, action_dim)
                    .with_init_log_std(self.init_log_std)
                    .with_init(self.init)
                    .init_seeded_sde(rng, device),
            ),
            ActionHead::Gaussian { action_dim } => PolicyHead::Gaussian(
                GaussianHeadConfig::new(d, action_dim)
                    .with_init_log_std(self.init_log_std)
                    .with_init(self.init)
                    .init_seeded(rng, device),
            ),
            ActionHead::MultiCategorical { ref nvec } => {
                PolicyHead::MultiCategorical(MultiCategoricalHead {
                    linear: CategoricalHeadConfig::new(d, self.action.width())
                        .with_init(self.init)
                        .init_seeded::<B>(rng, device)
                        .linear,
                    nvec: nvec.clone(),
                })
            }
            ActionHead::Bernoulli { n } => PolicyHead::Bernoulli(BernoulliHead {
                linear: CategoricalHeadConfig::new(d, n)
                    .with_init(self.init)
                    .init_seeded::<B>(rng, device)
                    .linear,
            }),
        };
        let value_trunk = (self.value == ValueNetwork::Separate)
            .then(|| self.value_trunk().init_seeded(rng, device));
        let value = (self.value != ValueNetwork::None).then(|| {
            ValueHeadConfig::new(self.value_features())
                .with_init(self.init)
                .init_seeded(rng, device)
        });
        let model = ActorCritic {
            trunk,
            policy,
            value,
            value_trunk,
        };
        // Parameter ids from the same generator, drawn after every weight.
        model.map(&mut crate::init::SeededIds {
            next: rng.random::<u64>() >> 1,
        })
    }
}

impl<B: Backend> ActorCritic<B> {
    /// Loads `record` (a saved network) into this one if it has this network's layers,
    /// heads and shapes; otherwise says what differs. Burn's `load_record` would panic on
    /// some mismatches and silently take wrong shapes on others.
    pub fn load_record_checked(self, record: ActorCriticRecord<B>) -> Result<Self, String> {
        let layers = |what: &str, want: usize, got: usize| {
            if want == got {
                Ok(())
            } else {
                Err(format!(
                    "the {what} has {got} layers, the configuration {want}"
                ))
            }
        };
        layers(
            "saved trunk",
            self.trunk.layers.len(),
            record.trunk.layers.len(),
        )?;
        match (&self.value_trunk, &record.value_trunk) {
            (Some(m), Some(r)) => layers("saved value trunk", m.layers.len(), r.layers.len())?,
            (None, None) => {}
            _ => return Err("the saved value network is not the configuration's".into()),
        }
        if self.value.is_some() != record.value.is_some() {
            return Err(format!(
                "the saved network {} a value head, the configuration {}",
                if record.value.is_some() {
                    "has"
                } else {
                    "has no"
                },
                if self.value.is_some() {
                    "has one"
                } else {
                    "has none"
                }
            ));
        }
        match (&self.policy, &record.policy) {
            (PolicyHead::Categorical(_), PolicyHeadRecord::Categorical(_))
            | (PolicyHead::Gaussian(_), PolicyHeadRecord::Gaussian(_))
            | (PolicyHead::Sde(_), PolicyHeadRecord::Sde(_))
            | (PolicyHead::MultiCategorical(_), PolicyHeadRecord::MultiCategorical(_))
            | (PolicyHead::Bernoulli(_), PolicyHeadRecord::Bernoulli(_)) => {}
            _ => return Err("the saved policy head is of another kind".into()),
        }
        let want = crate::param_shapes(&self);
        let loaded = self.load_record(record);
        let got = crate::param_shapes(&loaded);
        if got != want {
            return Err(format!(
                "the saved parameter shapes {got:?} are not the configuration's {want:?}"
            ));
        }
        Ok(loaded)
    }

    /// Logits (categorical) or means (Gaussian), `[batch, width]`, without the value; a
    /// gSDE head gives its means then its standard deviations (`[batch, 2 * width]`).
    pub fn policy_forward(&self, obs: Tensor<B, 2>) -> Tensor<B, 2> {
        self.policy.forward(self.trunk.forward(obs))
    }

    /// The policy head's output and, if there is a value head, `V(s)` `[batch]`; the
    /// shared trunk runs once.
    pub fn forward(&self, obs: Tensor<B, 2>) -> (Tensor<B, 2>, Option<Tensor<B, 1>>) {
        let h = self.trunk.forward(obs.clone());
        let value = self.value.as_ref().map(|head| match &self.value_trunk {
            Some(vt) => head.forward(vt.forward(obs)),
            None => head.forward(h.clone()),
        });
        (self.policy.forward(h), value)
    }

    /// Everything a policy-gradient loss needs on a batch of observations `[batch,
    /// obs_dim]` and the actions taken there, from one forward (the shared trunk runs
    /// once): `log pi(a|s)`, the policy's entropy and `V(s)`. The same function serves
    /// the old statistics of a rollout (on the inference network), every loss and the
    /// golden tests.
    ///
    /// # Panics
    /// If the actions' kind is not the policy head's (a programming error).
    pub fn evaluate(&self, obs: Tensor<B, 2>, actions: ActionBatch<B>) -> Evaluation<B> {
        self.evaluate_masked(obs, actions, None)
    }

    /// [`evaluate`](Self::evaluate) under action masks `[batch, mask width]`, as
    /// sb3-contrib's MaskablePPO evaluates: the masked actions' logits replaced, the
    /// entropy over the allowed actions only.
    pub fn evaluate_masked(
        &self,
        obs: Tensor<B, 2>,
        actions: ActionBatch<B>,
        mask: Option<Tensor<B, 2, Bool>>,
    ) -> Evaluation<B> {
        let (out, value) = self.forward(obs);
        let (log_prob, entropy) = self.policy.log_prob_and_entropy(out, actions, mask);
        Evaluation {
            log_prob,
            entropy,
            value,
        }
    }

    /// `V(s)` `[batch]`, if there is a value head.
    pub fn value_forward(&self, obs: Tensor<B, 2>) -> Option<Tensor<B, 1>> {
        let head = self.value.as_ref()?;
        Some(match &self.value_trunk {
            Some(vt) => head.forward(vt.forward(obs)),
            None => head.forward(self.trunk.forward(obs)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend as B, device};
    use burn::module::Module;
    use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};

    fn record_bytes(seed: u64) -> Vec<u8> {
        let cfg = ActorCriticConfig::new(4, ActionHead::Categorical { n_actions: 2 })
            .with_value(ValueNetwork::Separate);
        let model = cfg.init_seeded::<B>(&mut rl_core::rng::seeded(seed), &device());
        NamedMpkBytesRecorder::<FullPrecisionSettings>::new()
            .record(model.into_record(), ())
            .unwrap()
    }

    #[test]
    fn a_seeded_network_is_the_same_bytes_every_time() {
        assert_eq!(record_bytes(3), record_bytes(3));
        assert_ne!(record_bytes(3), record_bytes(4));
    }

    #[test]
    fn a_record_of_another_network_is_an_error_not_a_panic() {
        let dev = device();
        let cfg = |hidden: Vec<usize>, action, value| {
            ActorCriticConfig::new(4, action)
                .with_hidden(hidden)
                .with_value(value)
        };
        let cat = ActionHead::Categorical { n_actions: 2 };
        let gauss = ActionHead::Gaussian { action_dim: 2 };
        let base = cfg(vec![8, 8], cat.clone(), ValueNetwork::Shared);
        let others = [
            cfg(vec![8], cat.clone(), ValueNetwork::Shared),
            cfg(vec![8, 16], cat.clone(), ValueNetwork::Shared),
            cfg(vec![8, 8], gauss, ValueNetwork::Shared),
            cfg(vec![8, 8], cat.clone(), ValueNetwork::None),
            cfg(vec![8, 8], cat.clone(), ValueNetwork::Separate),
            cfg(
                vec![8, 8],
                ActionHead::MultiCategorical { nvec: vec![2] },
                ValueNetwork::Shared,
            ),
            cfg(
                vec![8, 8],
                ActionHead::Bernoulli { n: 2 },
                ValueNetwork::Shared,
            ),
        ];
        for other in others {
            let record = other.init::<B>(&dev).into_record();
            let e = base
                .init::<B>(&dev)
                .load_record_checked(record)
                .unwrap_err();
            assert!(e.contains("saved"), "{e}");
        }
        let same = base.init::<B>(&dev).into_record();
        assert!(base.init::<B>(&dev).load_record_checked(same).is_ok());
    }
}
