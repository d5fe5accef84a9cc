//! Tuned hyperparameters per (learner, environment), shipped with the library as
//! rl-baselines3-zoo ships its `hyperparams/*.yml`: `presets/<learner>.toml` holds one
//! table per environment, in the keys of a run's `config.toml` `[train]` table, and is
//! compiled into the binary (nothing to find on disk at run time).
//!
//! A built-in's presets ride with its [`EnvSource`](crate::EnvSource) in
//! [`Registry::builtin`](crate::Registry::builtin), which resolves configurations
//! ([`Registry::resolve`](crate::Registry::resolve)).

use crate::config::Algo;

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
