//! `rl export`: a trained policy as safetensors in PyTorch's layout.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rl_core::Env;
use rl_models::backend::{Backend, device};

use crate::{Failure, outln, run_dir, usage};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The run folder written by `rl train`.
    #[arg(long)]
    model: PathBuf,
    /// The safetensors file to write.
    #[arg(long)]
    out: PathBuf,
    /// Overwrite --out if it exists.
    #[arg(long)]
    force: bool,
}

pub fn run(args: ExportArgs) -> Result<(), Failure> {
    if args.out.exists() && !args.force {
        return Err(Failure::Usage(anyhow::anyhow!(
            "{} exists: pass --force to overwrite it",
            args.out.display()
        )));
    }
    let dev = device();
    let (info, env_id, model) = usage(run_dir::load_run::<Backend>(&args.model, &dev))?;
    let spec = env_id.make().spec();
    let cfg = rl_train::model_config(&info.train, env_id);
    let (head, width) = match cfg.action {
        rl_models::ActionHead::Categorical { n_actions } => ("categorical", n_actions),
        rl_models::ActionHead::Gaussian { action_dim } => ("gaussian", action_dim),
    };
    let meta = [
        ("format", "pytorch".to_string()),
        ("env", spec.id.to_string()),
        ("activation", info.train.activation.name().to_string()),
        ("hidden", format!("{:?}", info.train.hidden)),
        ("obs_dim", cfg.obs_dim.to_string()),
        ("action_head", head.to_string()),
        ("action_dim", width.to_string()),
        ("value_network", format!("{:?}", cfg.value).to_lowercase()),
    ];
    let bytes = model
        .to_safetensors(meta.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
        .context("serialising the policy")?;
    std::fs::write(&args.out, bytes)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    outln!(
        "wrote {} ({} policy for {}, PyTorch layout)",
        args.out.display(),
        head,
        spec.id
    )
}
