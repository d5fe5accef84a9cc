//! `rl eval`: the return of a trained policy over seeded episodes.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use rl_core::{Env, VecEnv, rng};
use rl_models::backend::{Backend, device};
use rl_train::Agent;

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
pub fn returns(dir: &Path, episodes: u64, seed: u64, greedy: bool) -> anyhow::Result<Vec<f64>> {
    let dev = device();
    let (info, env_id, model) = run_dir::load_run::<Backend>(dir, &dev)?;
    let spec = env_id.make().spec();
    let norm = run_dir::load_normalizer(dir, &info.train, spec.observation_space.flat_dim())?;
    let mut agent = Agent::new(model, &spec, norm);
    let mut envs = VecEnv::from_fn(1, |_| env_id.make()).context("environment")?;
    envs.reset(seed);
    let mut r = rng::seeded(rng::stream(seed, 1));
    let mut returns = Vec::with_capacity(episodes as usize);
    while (returns.len() as u64) < episodes {
        let actions = agent.act(envs.observations(), &mut r, greedy, &dev);
        envs.step(actions).context("stepping the environment")?;
        returns.extend(envs.finished().iter().map(|e| e.episodic_return));
    }
    Ok(returns)
}

pub fn run(args: EvalArgs) -> Result<(), Failure> {
    let returns = usage(returns(&args.model, args.episodes, args.seed, args.greedy))?;
    let env = usage(run_dir::RunInfo::load(&args.model).and_then(|i| Ok(i.train.validate()?)))?;
    let stats::Spread { mean, std, .. } = stats::spread(&returns);
    let how = if args.greedy { "greedy" } else { "sampled" };
    outln!(
        "{}: {} episodes ({how} actions, seed {}): return {mean:.2} ± {std:.2}",
        env,
        returns.len(),
        args.seed
    )
}
