//! `rl export`: a trained policy as safetensors in PyTorch's layout.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rl_models::backend::{Backend, device};
use rl_models::torch::{TorchTensor, write_safetensors};
use rl_train::Registry;

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

pub fn run(args: ExportArgs, registry: &Registry) -> Result<(), Failure> {
    if args.out.exists() && !args.force {
        return Err(Failure::Usage(anyhow::anyhow!(
            "{} exists: pass --force to overwrite it",
            args.out.display()
        )));
    }
    let dev = device();
    let run = usage(run_dir::load_run::<Backend>(&args.model, registry, &dev))?;
    let (info, spec, model) = (&run.info, &run.spec, &run.model);
    let cfg = rl_train::model_config(&info.train, spec);
    let (head, width) = (cfg.action.name(), cfg.action.width());
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
    let mut meta: std::collections::HashMap<String, String> =
        meta.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    if cfg.value == rl_models::ValueNetwork::Separate {
        // The separate value network's sizes (`value_trunk.*`): its own, or the trunk's.
        let sizes = cfg.value_hidden.as_ref().unwrap_or(&cfg.hidden);
        meta.insert("value_hidden".into(), format!("{sizes:?}"));
    }
    let mut tensors = model.to_torch();
    // Normalised observations: the frozen statistics, as f32 tensors and metadata, so
    // that the file alone reproduces the policy.
    let norm = usage(run_dir::load_normalizer(
        &args.model,
        &info.train,
        cfg.obs_dim,
    ))?;
    if let Some(o) = &norm.obs {
        let f32s = |v: &[f64]| TorchTensor {
            shape: vec![v.len()],
            data: v.iter().map(|&x| x as f32).collect(),
        };
        tensors.insert("obs_norm.mean".into(), f32s(&o.rms.mean));
        tensors.insert("obs_norm.var".into(), f32s(&o.rms.var));
        meta.insert("obs_norm_epsilon".into(), o.epsilon.to_string());
        meta.insert("obs_clip".into(), o.clip.to_string());
    }
    // How to act: a categorical takes the arg-max of its logits (or samples their
    // softmax), a multi-categorical does so per component (its logits split by `nvec`),
    // independent Bernoullis set each flag whose logit is positive.
    if let rl_models::ActionHead::MultiCategorical { nvec } = &cfg.action {
        meta.insert("nvec".into(), format!("{nvec:?}"));
    }
    // Masked actions: their logits are set to -1e8 before the arg-max or the softmax, as
    // sb3-contrib's MaskablePPO applies a mask; the environment gives one per step.
    let mut probe = usage(run.envs(1))?;
    usage(probe.reset(Some(0)).map_err(anyhow::Error::from))?;
    if probe.action_masks().is_some() {
        meta.insert("action_mask".into(), "masked logits set to -1e8".into());
    }
    if let rl_core::Space::Box { low, high, .. } = &spec.action_space {
        // How the Gaussian policy explores: `policy.log_std` is `[action_dim]` for
        // "diagonal", `[hidden[-1], action_dim]` (gSDE's exploration weights) for "gsde".
        let exploration = if cfg.sde { "gsde" } else { "diagonal" };
        meta.insert("exploration".into(), exploration.into());
        meta.insert("action_low".into(), format!("{low:?}"));
        meta.insert("action_high".into(), format!("{high:?}"));
    }
    let bytes = write_safetensors(tensors, meta).context("serialising the policy")?;
    std::fs::write(&args.out, bytes)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    outln!(
        "wrote {} ({} policy for {}, PyTorch layout)",
        args.out.display(),
        head,
        spec.id
    )
}
