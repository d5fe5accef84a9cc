//! `rl eval`: the return of a trained policy over seeded episodes.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use rl_core::rng;
use rl_models::backend::{Backend, device};
use rl_train::{Agent, Registry};

use crate::{Failure, outln, run_dir, stats, usage};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The run folder written by `rl train`.
    #[arg(long)]
    model: PathBuf,
    /// Number of episodes.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    episodes: u64,
    /// Take the most likely action (the mean, clipped, for Gaussian policies) instead of
    /// sampling.
    #[arg(long)]
    greedy: bool,
    /// Seed of the evaluation episodes and action sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// The returns of `episodes` episodes of the run's trained policy: the environments
/// seeded from `seed`, actions sampled from the policy (or its mode with `greedy`) with
/// a generator seeded from `seed` too. The same arguments give the same returns.
pub fn returns(
    dir: &Path,
    registry: &Registry,
    episodes: u64,
    seed: u64,
    greedy: bool,
) -> anyhow::Result<Vec<f64>> {
    let dev = device();
    let run = run_dir::load_run::<Backend>(dir, registry, &dev)?;
    let norm = run.normalizer(dir)?;
    let mut envs = run.envs(1)?;
    let mut agent = Agent::new(run.model, &run.spec, norm);
    envs.reset(Some(seed))
        .context("resetting the environment")?;
    let mut r = rng::seeded(rng::stream(seed, 1));
    let mut returns = Vec::with_capacity(episodes as usize);
    while (returns.len() as u64) < episodes {
        let actions = agent.act(
            envs.observations(),
            envs.action_masks(),
            &mut r,
            greedy,
            &dev,
        );
        envs.step(actions).context("stepping the environment")?;
        returns.extend(envs.finished().iter().map(|e| e.episodic_return));
    }
    Ok(returns)
}

pub fn run(args: EvalArgs, registry: &Registry) -> Result<(), Failure> {
    let returns = usage(returns(
        &args.model,
        registry,
        args.episodes,
        args.seed,
        args.greedy,
    ))?;
    let info = usage(run_dir::RunInfo::load(&args.model))?;
    let env = usage(registry.get(&info.train.env).map_err(anyhow::Error::from))?.id();
    let stats::Spread { mean, std, .. } = stats::spread(&returns);
    let how = if args.greedy { "greedy" } else { "sampled" };
    outln!(
        "{}: {} episodes ({how} actions, seed {}): return {mean:.2} ± {std:.2}",
        env,
        returns.len(),
        args.seed
    )
}
