//! Where a run's environments come from: a named source that makes them.
//!
//! An [`EnvSource`] makes a run's vectorised environments (any [`VectorEnv`]) for a
//! configuration, and carries the tuned presets of its environment; the
//! [`Registry`](crate::Registry) knows the sources by name. Everything about an
//! environment (its spaces, its time limit, whether it can be saved) is read from the
//! environments the source made, never rebuilt from its name.

use std::fmt;
use std::sync::Arc;

use rl_core::{Env, EnvSpec, VecEnv, VectorEnv};
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
    pub fn with_preset(self, algo: Algo, values: &str) -> Result<Self, ConfigError> {
        let table: toml::Table = values.parse().map_err(|e: toml::de::Error| {
            ConfigError(format!(
                "the {} preset of {}: {}",
                algo.name(),
                self.id,
                e.message()
            ))
        })?;
        Ok(self.with_preset_table(algo, table))
    }

    /// With `table` as the preset for `algo` (replacing any).
    pub(crate) fn with_preset_table(mut self, algo: Algo, table: toml::Table) -> Self {
        self.presets.retain(|(a, _)| *a != algo);
        self.presets.push((algo, table));
        self
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

#[cfg(test)]
mod tests {
    use super::*;
    use rl_core::CartPole;

    #[test]
    fn a_source_that_makes_the_wrong_number_is_an_error() {
        let s = EnvSource::vector("Two-v0", |_, _| {
            Ok(Box::new(VecEnv::from_fn(2, |_| CartPole::new()).unwrap()) as Box<dyn VectorEnv>)
        });
        let e = s.make(&TrainConfig::default(), 3).unwrap_err().to_string();
        assert!(e.contains("made 2 environments, 3 were asked for"), "{e}");
    }
}
