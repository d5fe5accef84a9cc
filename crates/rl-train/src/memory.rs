//! What a configuration needs in memory, estimated before anything is allocated, and the
//! check against what the machine has: a configuration that cannot fit is refused with
//! both figures instead of ending in an allocation abort.
//!
//! The estimate counts the large allocations of a learner: the network with its
//! gradients, the optimiser's state and the host copy used for acting; the rollout
//! buffers (observations, actions and the per-step columns, kept twice: per environment
//! while acting and concatenated for the update, plus one minibatch copy); the
//! activations of one forward and backward pass over a minibatch; and the environments.
//! It errs on the high side; it is not a profile.

use rl_core::{EnvSpec, Space};

use crate::config::{ConfigError, TrainConfig};

/// The estimate, in bytes, by part.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryEstimate {
    /// Parameters, gradients, optimiser state, the new parameters of a step and the
    /// host copy.
    pub network: f64,
    /// The rollout buffers.
    pub rollout: f64,
    /// One minibatch's forward and backward pass.
    pub activations: f64,
    /// The vectorised environments and their per-environment buffers.
    pub environments: f64,
}

impl MemoryEstimate {
    /// The total in bytes.
    pub fn total(&self) -> f64 {
        self.network + self.rollout + self.activations + self.environments
    }
}

/// `bytes` as a human reads it.
pub fn human(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// An environment's own state, as the estimate counts it (the built-ins hold under 200
/// bytes; an environment of its own may hold more, which the estimate cannot see).
const ENVIRONMENT_BYTES: f64 = 512.0;

/// The memory `cfg` needs for the environment of `spec` (f64 arithmetic: sizes that
/// overflow `usize` are estimated, not wrapped).
pub fn estimate(cfg: &TrainConfig, spec: &EnvSpec) -> MemoryEstimate {
    let f = |x: usize| x as f64;
    let obs = f(spec.observation_space.flat_dim());
    let act = f(spec.action_space.action_width());
    // Logits or means, and a Gaussian's log-std.
    let (width, log_std) = match &spec.action_space {
        Space::Box { .. } => (act, act),
        other => (f(other.mask_width().max(other.action_width())), 0.0),
    };
    // Parameters: each trunk layer, the policy head (and log-std), the value network.
    // An MLP on the observations: its parameters and its last layer's size.
    let mlp = |hidden: &[usize]| -> (f64, f64) {
        let sizes: Vec<f64> = std::iter::once(obs)
            .chain(hidden.iter().map(|&h| f(h)))
            .collect();
        let params = sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum();
        (params, *sizes.last().expect("at least the input"))
    };
    let (trunk, last) = mlp(&cfg.hidden);
    let value_hidden = cfg.value_hidden.as_deref().unwrap_or(&cfg.hidden);
    let value = match cfg.model_value_network() {
        rl_models::ValueNetwork::None => 0.0,
        rl_models::ValueNetwork::Shared => last + 1.0,
        rl_models::ValueNetwork::Separate => {
            let (value_trunk, value_last) = mlp(value_hidden);
            value_trunk + value_last + 1.0
        }
    };
    let params = trunk + last * width + width + log_std + value;
    // Weights, gradients, two optimiser moments, the step's new weights, the host copy.
    let network = 6.0 * 4.0 * params;

    let rows = match cfg.steps_per_update {
        Some(s) => f(s),
        None => f(cfg.episodes_per_update) * f(spec.max_episode_steps.unwrap_or(1)),
    };
    // Per step: the observation and a truncation observation, the action, the reward,
    // both flags, old log-probability and value, advantage and return; twice (per
    // environment and concatenated), plus a minibatch copy.
    let per_row = 4.0 * (2.0 * obs + act + 6.0) + 2.0;
    let rollout = rows * per_row * 3.0;

    // One minibatch through every layer: input, output, the gradient and the
    // activation's gradient of each, for the policy and a separate value network.
    let batch = rows / f(cfg.minibatches.max(1));
    let widths: f64 = cfg.hidden.iter().map(|&h| f(h)).sum::<f64>() + width + 1.0;
    let value_widths = match (cfg.model_value_network(), &cfg.value_hidden) {
        (rl_models::ValueNetwork::Separate, None) => widths,
        (rl_models::ValueNetwork::Separate, Some(v)) => v.iter().map(|&h| f(h)).sum::<f64>() + 1.0,
        _ => 0.0,
    };
    let activations = 4.0 * batch * (obs + 4.0 * (widths + value_widths));

    // Each environment's state and its row of the vectorised buffers, and acting's
    // per-environment activations.
    let per_env = ENVIRONMENT_BYTES + 4.0 * (2.0 * obs + act + 2.0 * widths) + 256.0;
    let environments = f(cfg.n_envs) * per_env;
    MemoryEstimate {
        network,
        rollout,
        activations,
        environments,
    }
}

/// The machine's memory, `(available, total)` in bytes, where the system says
/// (Linux's `/proc/meminfo`); `None` elsewhere, and then nothing is refused.
pub fn machine_memory() -> Option<(f64, f64)> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024.0)
    };
    Some((field("MemAvailable:")?, field("MemTotal:")?))
}

/// Refuses `cfg` when its estimate exceeds `available` bytes, naming both.
pub fn check(
    cfg: &TrainConfig,
    spec: &EnvSpec,
    available: Option<(f64, f64)>,
) -> Result<(), ConfigError> {
    let Some((available, total)) = available else {
        return Ok(());
    };
    let e = estimate(cfg, spec);
    if e.total() <= available {
        return Ok(());
    }
    Err(ConfigError(format!(
        "this configuration needs about {} (network and optimiser {}, rollout buffers {}, minibatch activations {}, environments {}), more than the {} this machine has available ({} in all): reduce hidden, n_envs, steps_per_update or episodes_per_update",
        human(e.total()),
        human(e.network),
        human(e.rollout),
        human(e.activations),
        human(e.environments),
        human(available),
        human(total)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Algo;

    #[test]
    fn the_lesson_fits_and_absurd_sizes_do_not() {
        let lesson = TrainConfig::default();
        let cartpole = rl_core::Builtin::CartPole.vector(1).unwrap().spec().clone();
        let e = estimate(&lesson, &cartpole);
        // 4-64-64 trunk, 2 logits, a shared value head: 4 675 parameters.
        assert_eq!(e.network, 6.0 * 4.0 * 4675.0);
        assert!(e.total() < 16e6, "{}", human(e.total()));
        let machine = Some((24e9, 25e9));
        assert!(check(&lesson, &cartpole, machine).is_ok());
        let cases = [
            TrainConfig {
                hidden: vec![100_000, 100_000],
                ..TrainConfig::default()
            },
            TrainConfig {
                n_envs: 100_000_000,
                episodes_per_update: 100_000_000,
                ..TrainConfig::default()
            },
            TrainConfig {
                steps_per_update: Some(4_000_000_000),
                ..TrainConfig::default()
            },
            TrainConfig {
                steps_per_update: Some(usize::MAX),
                n_envs: 1,
                ..TrainConfig::for_algo(Algo::Ppo)
            },
        ];
        for cfg in cases {
            let e = check(&cfg, &cartpole, machine).unwrap_err().to_string();
            assert!(
                e.contains("this configuration needs about")
                    && e.contains("22.4 GiB this machine has available"),
                "{e}"
            );
        }
        // Without a figure for the machine nothing is refused.
        assert!(
            check(
                &TrainConfig {
                    hidden: vec![100_000; 2],
                    ..TrainConfig::default()
                },
                &cartpole,
                None
            )
            .is_ok()
        );
    }
}
