//! `rl credit`: the lesson's credit table computed from a trained model.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rl_core::{discounted_returns, rng};
use rl_models::backend::{TrainBackend, device};
use rl_train::credit::grad_log_prob_norms;
use rl_train::{Agent, Registry, model_config};

use crate::run_dir::load_run;
use crate::{Failure, emit, usage};

#[derive(Debug, Args)]
pub struct CreditArgs {
    /// The run folder written by `rl train`.
    #[arg(long)]
    model: PathBuf,
    /// Seed of the episode and its action sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print CSV instead of the table.
    #[arg(long)]
    csv: bool,
}

pub fn run(args: CreditArgs, registry: &Registry) -> Result<(), Failure> {
    let dev = device();
    let run = usage(load_run::<TrainBackend>(&args.model, registry, &dev))?;
    let (info, spec, model) = (&run.info, &run.spec, &run.model);
    let cfg = model_config(&info.train, spec);
    let obs_dim = cfg.obs_dim;

    // Play one episode with the trained policy, sampling its actions.
    let mut envs = usage(run.envs(1))?;
    envs.reset(Some(args.seed))
        .context("resetting the environment")?;
    let norm = usage(run.normalizer(&args.model))?;
    let mut agent = Agent::new(burn::module::AutodiffModule::valid(model), spec, norm);
    let mut r = rng::seeded(rng::stream(args.seed, 1));
    let (mut obs, mut actions, mut rewards) = (Vec::new(), Vec::new(), Vec::new());
    let mut masks = Vec::new();
    loop {
        // The network's inputs and its draws (before clipping): what log pi is of.
        if let Some(m) = envs.action_masks() {
            masks.extend_from_slice(m);
        }
        let step = agent.act(
            envs.observations(),
            envs.action_masks(),
            &mut r,
            false,
            &dev,
        );
        envs.step(step).context("step")?;
        obs.extend_from_slice(agent.observed());
        actions.extend_from_slice(agent.drawn());
        rewards.push(envs.rewards()[0]);
        if !envs.finished().is_empty() {
            break;
        }
    }
    let n = rewards.len();
    let mut ends = vec![false; n];
    ends[n - 1] = true;
    let returns = discounted_returns(&rewards, &ends, &vec![false; n], info.train.gamma as f32)
        .context("returns")?;
    let norms = grad_log_prob_norms(model, &cfg.action, &obs, obs_dim, &actions, &masks, &dev);

    let (mut sum_r, mut sum_norm, mut sum_scaled) = (0.0_f64, 0.0_f64, 0.0_f64);
    let mut text = if args.csv {
        "t,reward,return_to_go,grad_log_pi_norm,grad_log_pi_norm_times_return\n".to_string()
    } else {
        format!(
            "{} episode of {} (seed {}), gamma {}\n{:>5} {:>8} {:>10} {:>14} {:>18}\n",
            spec.id,
            args.model.display(),
            args.seed,
            info.train.gamma,
            "t",
            "r_t",
            "G_t",
            "|grad log pi|",
            "|grad log pi|*G_t"
        )
    };
    for t in 0..n {
        let scaled = f64::from(norms[t]) * f64::from(returns[t]);
        sum_r += f64::from(rewards[t]);
        sum_norm += f64::from(norms[t]);
        sum_scaled += scaled;
        text += &if args.csv {
            format!("{t},{},{},{},{scaled}\n", rewards[t], returns[t], norms[t])
        } else {
            format!(
                "{t:>5} {:>8.3} {:>10.3} {:>14.5} {scaled:>18.5}\n",
                rewards[t], returns[t], norms[t]
            )
        };
    }
    if !args.csv {
        text += &format!(
            "{:>5} {sum_r:>8.3} {:>10} {sum_norm:>14.5} {sum_scaled:>18.5}\n",
            "sum", ""
        );
    }
    emit(&text)
}
