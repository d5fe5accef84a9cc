//! `rl bench`: training throughput, updates included: environment steps per second and
//! gradient samples (rows through a forward and backward pass) per second.

use std::time::Instant;

use clap::Args;
use rl_models::backend::{NAME, TrainBackend, describe_device, device};
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
    /// Environment steps of the PPO and A2C configurations [default: their presets'].
    #[arg(long)]
    total_steps: Option<u64>,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Which configurations: `small` (the lesson's, batched, and the PPO and A2C
    /// presets), `large` (PPO with 1 024 and 4 096 environments and a 256-256 network,
    /// where a GPU should win) or `all`.
    #[arg(long, value_enum, default_value_t = Configs::Small)]
    configs: Configs,
    /// Updates of each large configuration (16 steps of every environment each).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    large_updates: u64,
}

/// The configuration sets of `rl bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Configs {
    Small,
    Large,
    All,
}

/// What a measured run did.
struct Measured {
    steps: u64,
    secs: f64,
    /// Rows through a forward and backward pass.
    samples: u64,
    /// Mean return of the last 100 episodes.
    mean: f64,
}

impl Measured {
    fn rates(&self) -> String {
        format!(
            "{} steps in {:.2} s = {:.0} steps/s, {:.0} gradient samples/s",
            self.steps,
            self.secs,
            self.steps as f64 / self.secs,
            self.samples as f64 / self.secs
        )
    }
}

fn measure(cfg: TrainConfig, max_updates: usize) -> Result<Measured, Failure> {
    let mut learner = Learner::<TrainBackend>::new(cfg, device()).map_err(crate::train::failure)?;
    let start = Instant::now();
    let (mut steps, mut samples) = (0, 0);
    let mut returns = Vec::new();
    for _ in 0..max_updates {
        if learner.is_done() {
            break;
        }
        let before = learner.env_steps();
        let r = learner.update().map_err(crate::train::failure)?;
        samples += (r.env_steps - before) * r.epochs as u64;
        steps = r.env_steps;
        returns.extend(r.episodes.iter().map(|e| e.episodic_return));
    }
    let secs = start.elapsed().as_secs_f64();
    let tail = &returns[returns.len().saturating_sub(100)..];
    let mean = tail.iter().sum::<f64>() / tail.len().max(1) as f64;
    Ok(Measured {
        steps,
        secs,
        samples,
        mean,
    })
}

pub fn run(args: BenchArgs) -> Result<(), Failure> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    crate::outln!(
        "backend {NAME} on {}, {cores} cores available",
        describe_device()
    )?;
    if args.configs != Configs::Large {
        small(&args)?;
    }
    if args.configs != Configs::Small {
        large(&args)?;
    }
    Ok(())
}

/// PPO on CartPole-v1 at the scale where a GPU should pay: 1 024 and 4 096 environments,
/// 16 steps each per update, a 256-256 network, CleanRL's 4 epochs of 4 minibatches.
fn large(args: &BenchArgs) -> Result<(), Failure> {
    for (label, n_envs) in [("(e)", 1024), ("(f)", 4096)] {
        let mut cfg = TrainConfig::for_algo(Algo::Ppo);
        cfg.env = "CartPole-v1".into();
        cfg.seed = args.seed;
        cfg.n_envs = n_envs;
        cfg.steps_per_update = Some(16 * n_envs);
        cfg.hidden = vec![256, 256];
        cfg.epochs = 4;
        cfg.minibatches = 4;
        cfg.total_steps = Some(args.large_updates * 16 * n_envs as u64);
        cfg.validate().map_err(|e| Failure::Usage(e.into()))?;
        let m = measure(cfg, usize::MAX)?;
        crate::outln!(
            "{label} large PPO, {n_envs} envs, 16 steps each per update, 256-256 network, 4 epochs x 4 minibatches, {} updates: {}",
            args.large_updates,
            m.rates()
        )?;
    }
    Ok(())
}

/// The lesson's defaults, the batched configuration and the PPO and A2C presets.
fn small(args: &BenchArgs) -> Result<(), Failure> {
    for algo in [Algo::Baseline, Algo::Reinforce] {
        let cfg = TrainConfig {
            algo,
            seed: args.seed,
            episodes: Some(args.episodes),
            ..TrainConfig::default()
        };
        let m = measure(cfg, usize::MAX)?;
        crate::outln!(
            "(a) lesson defaults, {:<9} 1 env, update per episode, {} episodes: {} (last-100 mean return {:.1})",
            algo.name(),
            args.episodes,
            m.rates(),
            m.mean
        )?;
    }
    let cfg = TrainConfig {
        algo: Algo::Baseline,
        seed: args.seed,
        episodes: Some(i64::MAX as usize),
        n_envs: args.n_envs,
        steps_per_update: Some(args.steps_per_update),
        ..TrainConfig::default()
    };
    let m = measure(cfg, args.updates)?;
    crate::outln!(
        "(b) batched, baseline, {} envs, {} steps per update, {} updates: {}",
        args.n_envs,
        args.steps_per_update,
        args.updates,
        m.rates()
    )?;
    for (label, algo) in [("(c)", Algo::Ppo), ("(d)", Algo::A2c)] {
        let mut cfg = rl_train::Registry::builtin()
            .resolve(None, Some(algo), Some("CartPole-v1"), true)
            .map_err(|e| Failure::Runtime(e.into()))?;
        cfg.seed = args.seed;
        if let Some(s) = args.total_steps {
            cfg.total_steps = Some(s);
        }
        cfg.validate().map_err(|e| Failure::Usage(e.into()))?;
        let m = measure(cfg.clone(), usize::MAX)?;
        crate::outln!(
            "{label} {} preset ({}), {} envs, {} steps per update, {} epochs x {} minibatches: {} (last-100 mean return {:.1})",
            algo.name(),
            cfg.preset.as_deref().unwrap_or("none"),
            cfg.n_envs,
            cfg.steps_per_update.unwrap_or(0),
            cfg.epochs,
            cfg.minibatches,
            m.rates(),
            m.mean
        )?;
    }
    Ok(())
}
