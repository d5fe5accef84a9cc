//! Tuned hyperparameters per (learner, environment), shipped with the library as
//! rl-baselines3-zoo ships its `hyperparams/*.yml`: `presets/<learner>.toml` holds one
//! table per environment, in the keys of a run's `config.toml` `[train]` table, and is
//! compiled into the binary (nothing to find on disk at run time).
//!
//! [`resolve`] layers a configuration: the learner's defaults, its preset for the
//! environment, a configuration file; the caller applies its flags on top.

use crate::config::{Algo, ConfigError, TrainConfig};
use crate::env_source::Registry;

/// The preset files, by learner.
const FILES: [(Algo, &str); 4] = [
    (Algo::Reinforce, include_str!("../presets/reinforce.toml")),
    (Algo::Baseline, include_str!("../presets/baseline.toml")),
    (Algo::Ppo, include_str!("../presets/ppo.toml")),
    (Algo::A2c, include_str!("../presets/a2c.toml")),
];

/// The presets shipped for the built-in environment `env` (its Gymnasium id), by
/// learner.
pub(crate) fn shipped(env: &str) -> Vec<(Algo, toml::Table)> {
    FILES
        .iter()
        .filter_map(|(algo, text)| {
            let file: toml::Table = text.parse().expect("the shipped presets are valid TOML");
            match file.get(env) {
                Some(toml::Value::Table(t)) => Some((*algo, t.clone())),
                _ => None,
            }
        })
        .collect()
}

/// Every preset's name in `registry`, `learner/Environment`.
pub fn names(registry: &Registry) -> Vec<String> {
    let mut out = Vec::new();
    for algo in Algo::ALL {
        for source in registry.sources() {
            if source.preset(algo).is_some() {
                out.push(format!("{}/{}", algo.name(), source.id()));
            }
        }
    }
    out
}

/// The configuration that `file` (a table of `[train]` keys) gives over the learner's
/// defaults and, with `use_preset`, the preset for its (learner, environment) in
/// `registry`. The learner and the environment are `algo` and `env` when given (the
/// caller's flags), else the file's, else the lesson's (`baseline`, `CartPole-v1`). The
/// caller applies its remaining flags to the result and validates it. An error here is
/// the file's: a key or a value the configuration does not have.
pub fn resolve(
    registry: &Registry,
    file: Option<&toml::Table>,
    algo: Option<Algo>,
    env: Option<&str>,
    use_preset: bool,
) -> Result<TrainConfig, ConfigError> {
    let from_file = |key: &str| file.and_then(|f| f.get(key));
    let algo = match (algo, from_file("algo")) {
        (Some(a), _) => a,
        (None, Some(v)) => {
            let name = v
                .as_str()
                .ok_or_else(|| ConfigError(format!("algo is {v}: expected a learner's name")))?;
            name.parse().map_err(ConfigError)?
        }
        (None, None) => TrainConfig::default().algo,
    };
    let env = match (env, from_file("env")) {
        (Some(e), _) => e.to_string(),
        (None, Some(toml::Value::String(e))) => e.clone(),
        _ => TrainConfig::default().env,
    };
    let mut table = toml::Table::try_from(TrainConfig::for_algo(algo))
        .expect("a configuration serialises to TOML");
    // An unknown environment has no preset; validation names it.
    let preset = match registry.get(&env) {
        Ok(source) if use_preset => source
            .preset(algo)
            .map(|values| (format!("{}/{}", algo.name(), source.id()), values)),
        _ => None,
    };
    if let Some((_, values)) = &preset {
        table.extend((*values).clone());
    }
    if let Some(f) = file {
        table.extend(f.clone());
    }
    table.insert("algo".into(), toml::Value::String(algo.name().into()));
    table.insert("env".into(), toml::Value::String(env));
    let mut cfg: TrainConfig = table
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError(e.message().to_string()))?;
    cfg.preset = preset.map(|(name, _)| name);
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_preset_resolves_to_a_valid_configuration() {
        let registry = Registry::builtin();
        let names = names(&registry);
        assert!(names.contains(&"ppo/CartPole-v1".to_string()), "{names:?}");
        assert!(names.contains(&"a2c/CartPole-v1".to_string()), "{names:?}");
        for algo in Algo::ALL {
            for env in rl_core::Builtin::ALL {
                let cfg = resolve(&registry, None, Some(algo), Some(env.id()), true).unwrap();
                assert_eq!(cfg.validate(), Ok(()), "{algo:?} on {env}");
                let spec = registry.get(env.id()).unwrap().spec(&cfg).unwrap();
                assert_eq!(cfg.check_with(&spec), Ok(()), "{algo:?} on {env}");
            }
        }
    }

    #[test]
    fn layers_override_in_order_and_the_preset_is_named() {
        let cfg = resolve(
            &Registry::builtin(),
            None,
            Some(Algo::Ppo),
            Some("cartpole-v1"),
            true,
        )
        .unwrap();
        assert_eq!(cfg.preset.as_deref(), Some("ppo/CartPole-v1"));
        assert_eq!((cfg.n_envs, cfg.gamma), (8, 0.98));
        let file: toml::Table = "gamma = 0.9\nalgo = \"ppo\"\n".parse().unwrap();
        let cfg = resolve(
            &Registry::builtin(),
            Some(&file),
            None,
            Some("CartPole-v1"),
            true,
        )
        .unwrap();
        assert_eq!((cfg.algo, cfg.gamma, cfg.n_envs), (Algo::Ppo, 0.9, 8));
        let cfg = resolve(&Registry::builtin(), None, Some(Algo::Ppo), None, false).unwrap();
        assert_eq!(cfg.preset, None);
        assert_eq!(cfg, TrainConfig::for_algo(Algo::Ppo));
        // The lesson's learners have no preset on CartPole: their defaults are the
        // lesson's.
        let cfg = resolve(&Registry::builtin(), None, None, None, true).unwrap();
        assert_eq!(cfg, TrainConfig::default());
    }

    #[test]
    fn a_files_bad_key_or_value_is_an_error() {
        for bad in [
            "learning_rate = 0.1",
            "lr = \"fast\"",
            "algo = 3",
            "algo = \"dqn\"",
            "episodes = -3",
        ] {
            let file: toml::Table = bad.parse().unwrap();
            assert!(
                resolve(&Registry::builtin(), Some(&file), None, None, true).is_err(),
                "{bad}"
            );
        }
    }
}
