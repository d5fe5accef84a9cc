//! `rl check-env`: does an environment keep the contract the learners rely on
//! (`rl_core::check_env`)?

use clap::Args;
use rl_train::{Registry, TrainConfig};

use crate::{Failure, emit, usage};

#[derive(Debug, Args)]
pub struct CheckEnvArgs {
    /// The environment's id (see `rl envs`).
    env: String,
    /// Random steps to play (allowed actions only, where the environment gives masks).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    steps: u64,
    /// The seed of the environments and of the random actions.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(args: CheckEnvArgs, registry: &Registry) -> Result<(), Failure> {
    let source = usage(registry.get(&args.env).map_err(anyhow::Error::from))?;
    let cfg = TrainConfig {
        env: source.id().to_string(),
        ..TrainConfig::default()
    };
    let report = rl_core::check_env(
        &mut || {
            source
                .make(&cfg, 1)
                .map_err(|e| rl_core::Error::new(rl_core::ErrorKind::InvalidConfig(e.0)))
        },
        args.steps,
        args.seed,
    );
    let mut text = String::new();
    for f in &report.findings {
        text += &format!("{f}\n");
    }
    let errors = report
        .findings
        .iter()
        .filter(|f| f.severity == rl_core::Severity::Error)
        .count();
    let warnings = report.findings.len() - errors;
    text += &format!(
        "{}: {} steps, {} episodes: {}\n",
        source.id(),
        report.steps,
        report.episodes,
        match (errors, warnings) {
            (0, 0) => "no problem found".to_string(),
            (e, w) => format!("{e} error(s), {w} warning(s)"),
        }
    );
    emit(&text)?;
    if report.failed() {
        return Err(Failure::Usage(anyhow::anyhow!(
            "{} breaks the environment contract (see above)",
            source.id()
        )));
    }
    Ok(())
}
