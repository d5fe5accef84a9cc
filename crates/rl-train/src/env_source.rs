//! Where a run's environments come from: a named source that makes them, and the registry
//! of sources a configuration's `env` names.
//!
//! An [`EnvSource`] makes a run's vectorised environments (any [`VectorEnv`]) for a
//! configuration, and carries the tuned presets of its environment. The [`Registry`]
//! holds the sources `rl` and the learners know by name: the six built-ins, each with its
//! presets, and any a user adds. Everything about an environment (its spaces, its time
//! limit, whether it can be saved) is read from the environments the source made, never
//! rebuilt from its name.

use std::fmt;
use std::sync::Arc;

use rl_core::{Bandit, Builtin, Env, EnvSpec, VecEnv, VectorEnv};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::{Algo, ConfigError, TrainConfig};

/// Makes `n` vectorised environments for a configuration.
type MakeFn =
    dyn Fn(&TrainConfig, usize) -> Result<Box<dyn VectorEnv>, String> + Send + Sync + 'static;

/// A named source of environments, with the presets tuned for it.
///
/// ```
/// use rl_core::CartPole;
/// use rl_train::{EnvSource, TrainConfig};
///
/// // Any `Env`, made by a closure; `resumable` because CartPole is Serialize + Deserialize.
/// let source = EnvSource::resumable("MyCartPole-v0", |_cfg: &TrainConfig| Ok(CartPole::new()));
/// let envs = source.make(&TrainConfig::default(), 4).unwrap();
/// assert_eq!(envs.num_envs(), 4);
/// ```
#[derive(Clone)]
pub struct EnvSource {
    id: String,
    make: Arc<MakeFn>,
    presets: Vec<(Algo, toml::Table)>,
}

impl fmt::Debug for EnvSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvSource")
            .field("id", &self.id)
            .field("presets", &self.presets.len())
            .finish_non_exhaustive()
    }
}

impl EnvSource {
    /// Environments of type `E`, one made by `make` per environment of a run. A run on
    /// them resumes with its network, optimiser, generators and logs exact, but restarts
    /// every episode (use [`resumable`](Self::resumable) when `E` can be saved).
    pub fn new<E, F>(id: impl Into<String>, make: F) -> Self
    where
        E: Env + Send + 'static,
        F: Fn(&TrainConfig) -> Result<E, String> + Send + Sync + 'static,
    {
        Self::vector(id, move |cfg, n| {
            let envs = (0..n)
                .map(|_| make(cfg))
                .collect::<Result<Vec<E>, String>>()?;
            let v = VecEnv::new(envs).map_err(|e| e.to_string())?;
            Ok(Box::new(v) as Box<dyn VectorEnv>)
        })
    }

    /// Like [`new`](Self::new), for an environment that can be saved: a run on it resumes
    /// exactly, its episodes included.
    pub fn resumable<E, F>(id: impl Into<String>, make: F) -> Self
    where
        E: Env + Clone + Send + Serialize + DeserializeOwned + 'static,
        F: Fn(&TrainConfig) -> Result<E, String> + Send + Sync + 'static,
    {
        Self::vector(id, move |cfg, n| {
            let envs = (0..n)
                .map(|_| make(cfg))
                .collect::<Result<Vec<E>, String>>()?;
            let v = VecEnv::new(envs).map_err(|e| e.to_string())?.resumable();
            Ok(Box::new(v) as Box<dyn VectorEnv>)
        })
    }

    /// Any [`VectorEnv`]: `make(cfg, n)` gives `n` environments stepped together.
    pub fn vector<F>(id: impl Into<String>, make: F) -> Self
    where
        F: Fn(&TrainConfig, usize) -> Result<Box<dyn VectorEnv>, String> + Send + Sync + 'static,
    {
        Self {
            id: id.into(),
            make: Arc::new(make),
            presets: Vec::new(),
        }
    }

    /// With a tuned preset for `algo`: a TOML table in the keys of `config.toml`'s
    /// `[train]` (see [`crate::presets`]).
    pub fn with_preset(mut self, algo: Algo, values: &str) -> Result<Self, ConfigError> {
        let table: toml::Table = values.parse().map_err(|e: toml::de::Error| {
            ConfigError(format!(
                "the {} preset of {}: {}",
                algo.name(),
                self.id,
                e.message()
            ))
        })?;
        self.presets.retain(|(a, _)| *a != algo);
        self.presets.push((algo, table));
        Ok(self)
    }

    /// The name a configuration's `env` gives.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The preset for `algo`, if one ships.
    pub fn preset(&self, algo: Algo) -> Option<&toml::Table> {
        self.presets
            .iter()
            .find(|(a, _)| *a == algo)
            .map(|(_, t)| t)
    }

    /// `n` environments for `cfg` (not reset yet).
    pub fn make(&self, cfg: &TrainConfig, n: usize) -> Result<Box<dyn VectorEnv>, ConfigError> {
        let envs = (self.make)(cfg, n).map_err(|e| ConfigError(format!("env {}: {e}", self.id)))?;
        if envs.num_envs() != n {
            return Err(ConfigError(format!(
                "env {}: its source made {} environments, {n} were asked for",
                self.id,
                envs.num_envs()
            )));
        }
        Ok(envs)
    }

    /// The spaces and episode rules, read from one environment made for `cfg`.
    pub fn spec(&self, cfg: &TrainConfig) -> Result<EnvSpec, ConfigError> {
        Ok(self.make(cfg, 1)?.spec().clone())
    }
}

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
                source.presets.push((algo, values));
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
            .find(|s| s.id.eq_ignore_ascii_case(&source.id))
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
            .find(|s| s.id.eq_ignore_ascii_case(wanted))
            .ok_or_else(|| {
                ConfigError(format!(
                    "env: unknown environment {id:?}: valid ones are {}",
                    self.ids().join(", ")
                ))
            })
    }

    /// Every source's id, in the order they were added.
    pub fn ids(&self) -> Vec<&str> {
        self.sources.iter().map(|s| s.id.as_str()).collect()
    }

    /// Every source, in the order they were added.
    pub fn sources(&self) -> &[EnvSource] {
        &self.sources
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
    fn a_source_that_makes_the_wrong_number_is_an_error() {
        let s = EnvSource::vector("Two-v0", |_, _| {
            Ok(Box::new(VecEnv::from_fn(2, |_| CartPole::new()).unwrap()) as Box<dyn VectorEnv>)
        });
        let e = s.make(&TrainConfig::default(), 3).unwrap_err().to_string();
        assert!(e.contains("made 2 environments, 3 were asked for"), "{e}");
    }
}
