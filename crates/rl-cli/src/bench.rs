//! `rl bench`: training throughput, updates included.

use std::time::Instant;

use clap::Args;
use rl_models::backend::{NAME, TrainBackend, device};
use rl_train::{Algo, Learner, TrainConfig};

use crate::Failure;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Episodes of the lesson's configuration (1 environment, one update per episode).
    #[arg(long, default_value_t = 500)]
    episodes: usize,
    /// Updates of the batched configuration.
    #[arg(long, default_value_t = 1000)]
    updates: usize,
    /// Environments of the batched configuration.
    #[arg(long, default_value_t = 64)]
    n_envs: usize,
    /// Steps per update of the batched configuration.
    #[arg(long, default_value_t = 2048)]
    steps_per_update: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn measure(cfg: TrainConfig, max_updates: usize) -> Result<(u64, f64, f64), Failure> {
    let mut learner = Learner::<TrainBackend>::new(cfg, device()).map_err(crate::train::failure)?;
    let start = Instant::now();
    let mut steps = 0;
    let mut returns = Vec::new();
    for _ in 0..max_updates {
        if learner.is_done() {
            break;
        }
        let r = learner.update().map_err(crate::train::failure)?;
        steps = r.env_steps;
        returns.extend(r.episodes.iter().map(|e| e.episodic_return));
    }
    let secs = start.elapsed().as_secs_f64();
    let tail = &returns[returns.len().saturating_sub(100)..];
    let mean = tail.iter().sum::<f64>() / tail.len().max(1) as f64;
    Ok((steps, secs, mean))
}

pub fn run(args: BenchArgs) -> Result<(), Failure> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    crate::outln!("backend {NAME}, {cores} cores available")?;
    for algo in [Algo::Baseline, Algo::Reinforce] {
        let cfg = TrainConfig {
            algo,
            seed: args.seed,
            episodes: Some(args.episodes),
            ..TrainConfig::default()
        };
        let (steps, secs, mean) = measure(cfg, usize::MAX)?;
        crate::outln!(
            "(a) lesson defaults, {:<9} 1 env, update per episode, {} episodes: {steps} steps in {secs:.2} s = {:.0} steps/s (last-100 mean return {mean:.1})",
            algo.name(),
            args.episodes,
            steps as f64 / secs
        )?;
    }
    let cfg = TrainConfig {
        algo: Algo::Baseline,
        seed: args.seed,
        episodes: Some(usize::MAX),
        n_envs: args.n_envs,
        steps_per_update: Some(args.steps_per_update),
        ..TrainConfig::default()
    };
    let (steps, secs, _) = measure(cfg, args.updates)?;
    crate::outln!(
        "(b) batched, baseline, {} envs, {} steps per update, {} updates: {steps} steps in {secs:.2} s = {:.0} steps/s",
        args.n_envs,
        args.steps_per_update,
        args.updates,
        steps as f64 / secs
    )
}
