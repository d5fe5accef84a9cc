//! The environment sources known by name, and the configuration a name resolves to.
//!
//! The [`Registry`] holds the sources `rl` and the learners know by name: the six
//! built-ins, each with its shipped presets ([`crate::presets`]), and any a user adds.
//! [`Registry::resolve`] layers a configuration: the learner's defaults, its preset for
//! the environment, a configuration file; the caller applies its flags on top.

use rl_core::{Bandit, Builtin};

use crate::config::{Algo, ConfigError, TrainConfig};
use crate::env_source::EnvSource;

/// The environment sources known by name.
///
/// ```
/// use rl_core::CartPole;
/// use rl_train::{EnvSource, Registry, TrainConfig};
///
/// let registry = Registry::builtin()
///     .with(EnvSource::resumable("MyCartPole-v0", |_cfg: &TrainConfig| Ok(CartPole::new())));
/// assert!(registry.get("cartpole-v1").is_ok());
/// assert!(registry.get("mycartpole-v0").is_ok());
/// assert!(registry.get("Pong-v5").unwrap_err().to_string().contains("MyCartPole-v0"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Registry {
    sources: Vec<EnvSource>,
}

impl Registry {
    /// No source at all.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The built-in environments, each with its shipped presets.
    pub fn builtin() -> Self {
        // Built once: the presets are parsed from their files.
        static BUILTIN: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
        BUILTIN.get_or_init(Self::make_builtin).clone()
    }

    fn make_builtin() -> Self {
        let mut r = Self::empty();
        for b in Builtin::ALL {
            let source = match b {
                Builtin::Bandit => {
                    EnvSource::resumable(b.id(), |cfg: &TrainConfig| match &cfg.bandit_probs {
                        Some(p) => Bandit::new(p.clone()).map_err(|e| format!("bandit_probs: {e}")),
                        None => Ok(Bandit::default()),
                    })
                }
                _ => EnvSource::vector(b.id(), move |_, n| b.vector(n).map_err(|e| e.to_string())),
            };
            let mut source = source;
            for (algo, values) in crate::presets::shipped(b.id()) {
                source = source.with_preset_table(algo, values);
            }
            r = r.with(source);
        }
        r
    }

    /// With `source` added (replacing one of the same id).
    pub fn with(mut self, source: EnvSource) -> Self {
        match self
            .sources
            .iter_mut()
            .find(|s| s.id().eq_ignore_ascii_case(source.id()))
        {
            Some(s) => *s = source,
            None => self.sources.push(source),
        }
        self
    }

    /// The source named `id` (case-insensitively; `bandit` also names the bandit).
    pub fn get(&self, id: &str) -> Result<&EnvSource, ConfigError> {
        let wanted = id.trim();
        let wanted = match Builtin::from_id(wanted) {
            Some(b) => b.id(),
            None => wanted,
        };
        self.sources
            .iter()
            .find(|s| s.id().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| {
                ConfigError(format!(
                    "env: unknown environment {id:?}: valid ones are {}",
                    self.ids().join(", ")
                ))
            })
    }

    /// Every source's id, in the order they were added.
    pub fn ids(&self) -> Vec<&str> {
        self.sources.iter().map(EnvSource::id).collect()
    }

    /// Every source, in the order they were added.
    pub fn sources(&self) -> &[EnvSource] {
        &self.sources
    }

    /// Every preset's name, `learner/Environment`.
    pub fn preset_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for algo in Algo::ALL {
            for source in self.sources() {
                if source.preset(algo).is_some() {
                    out.push(format!("{}/{}", algo.name(), source.id()));
                }
            }
        }
        out
    }

    /// The configuration that `file` (a table of `[train]` keys) gives over the learner's
    /// defaults and, with `use_preset`, the preset for its (learner, environment) in
    /// this registry. The learner and the environment are `algo` and `env` when given (the
    /// caller's flags), else the file's, else the lesson's (`baseline`, `CartPole-v1`). The
    /// caller applies its remaining flags to the result and validates it. An error here is
    /// the file's: a key or a value the configuration does not have.
    pub fn resolve(
        &self,
        file: Option<&toml::Table>,
        algo: Option<Algo>,
        env: Option<&str>,
        use_preset: bool,
    ) -> Result<TrainConfig, ConfigError> {
        let from_file = |key: &str| file.and_then(|f| f.get(key));
        let algo = match (algo, from_file("algo")) {
            (Some(a), _) => a,
            (None, Some(v)) => {
                let name = v.as_str().ok_or_else(|| {
                    ConfigError(format!("algo is {v}: expected a learner's name"))
                })?;
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
        let preset = match self.get(&env) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use rl_core::CartPole;

    #[test]
    fn the_built_ins_make_what_their_names_say_and_read_the_bandits_arms() {
        let r = Registry::builtin();
        for b in Builtin::ALL {
            let spec = r
                .get(b.id())
                .unwrap()
                .spec(&TrainConfig::default())
                .unwrap();
            assert_eq!(spec.id, b.id());
        }
        let cfg = TrainConfig {
            env: "Bandit-v0".into(),
            bandit_probs: Some(vec![0.1, 0.2, 0.3, 0.9]),
            ..TrainConfig::default()
        };
        let spec = r.get("bandit").unwrap().spec(&cfg).unwrap();
        assert_eq!(spec.action_space, rl_core::Space::Discrete { n: 4 });
        let bad = TrainConfig {
            bandit_probs: Some(vec![2.0]),
            ..cfg
        };
        let e = r.get("bandit").unwrap().spec(&bad).unwrap_err().to_string();
        assert!(
            e.contains("bandit_probs") && e.contains("probability 2"),
            "{e}"
        );
    }

    #[test]
    fn unknown_names_list_the_known_ones_and_sources_replace_by_id() {
        let e = Registry::builtin()
            .get("CartPole-v0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown environment \"CartPole-v0\"") && e.contains("Pendulum-v1"));
        let mine = EnvSource::new("cartpole-v1", |_: &TrainConfig| Ok(CartPole::new()));
        let r = Registry::builtin().with(mine);
        assert_eq!(r.ids().len(), 6);
        // The replacement has no preset; the built-in had one.
        assert!(r.get("CartPole-v1").unwrap().preset(Algo::Ppo).is_none());
        assert!(
            Registry::builtin()
                .get("CartPole-v1")
                .unwrap()
                .preset(Algo::Ppo)
                .is_some()
        );
    }

    #[test]
    fn every_shipped_preset_resolves_to_a_valid_configuration() {
        let registry = Registry::builtin();
        let names = registry.preset_names();
        assert!(names.contains(&"ppo/CartPole-v1".to_string()), "{names:?}");
        assert!(names.contains(&"a2c/CartPole-v1".to_string()), "{names:?}");
        for algo in Algo::ALL {
            for env in rl_core::Builtin::ALL {
                let cfg = registry
                    .resolve(None, Some(algo), Some(env.id()), true)
                    .unwrap();
                assert_eq!(cfg.validate(), Ok(()), "{algo:?} on {env}");
                let spec = registry.get(env.id()).unwrap().spec(&cfg).unwrap();
                assert_eq!(cfg.check_with(&spec), Ok(()), "{algo:?} on {env}");
            }
        }
    }

    #[test]
    fn layers_override_in_order_and_the_preset_is_named() {
        let cfg = Registry::builtin()
            .resolve(None, Some(Algo::Ppo), Some("cartpole-v1"), true)
            .unwrap();
        assert_eq!(cfg.preset.as_deref(), Some("ppo/CartPole-v1"));
        assert_eq!((cfg.n_envs, cfg.gamma), (8, 0.98));
        let file: toml::Table = "gamma = 0.9\nalgo = \"ppo\"\n".parse().unwrap();
        let cfg = Registry::builtin()
            .resolve(Some(&file), None, Some("CartPole-v1"), true)
            .unwrap();
        assert_eq!((cfg.algo, cfg.gamma, cfg.n_envs), (Algo::Ppo, 0.9, 8));
        let cfg = Registry::builtin()
            .resolve(None, Some(Algo::Ppo), None, false)
            .unwrap();
        assert_eq!(cfg.preset, None);
        assert_eq!(cfg, TrainConfig::for_algo(Algo::Ppo));
        // The lesson's learners have no preset on CartPole: their defaults are the
        // lesson's.
        let cfg = Registry::builtin().resolve(None, None, None, true).unwrap();
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
                Registry::builtin()
                    .resolve(Some(&file), None, None, true)
                    .is_err(),
                "{bad}"
            );
        }
    }
}
