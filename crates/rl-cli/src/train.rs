//! `rl train`.

use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rl_models::backend::{TrainBackend, device};
use rl_models::{Activation, ValueNetwork};
use rl_train::{Algo, Learner, TrainConfig, TrainError};

use crate::run_dir::{Metrics, RunInfo, prepare_out, save_model};
use crate::{Failure, load_config_file, usage};

/// Every hyperparameter as an optional flag: a flag given overrides the config file,
/// which overrides the lesson's defaults.
#[derive(Debug, Clone, Default, Args)]
pub struct HyperArgs {
    /// Environment id, e.g. cartpole-v1 (see `rl envs`).
    #[arg(long)]
    pub env: Option<String>,
    /// The learner: reinforce or baseline.
    #[arg(long)]
    pub algo: Option<Algo>,
    /// Episodes to train for.
    #[arg(long)]
    pub episodes: Option<usize>,
    /// The one seed of the run.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Hidden layer sizes, comma-separated [default: 64,64].
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Hidden activation: tanh or relu [default: tanh].
    #[arg(long)]
    pub activation: Option<Activation>,
    /// Adam learning rate [default: 0.003].
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Discount factor in [0, 1] [default: 0.99].
    #[arg(long, allow_negative_numbers = true)]
    pub gamma: Option<f64>,
    /// Value-loss coefficient [default: 0.5].
    #[arg(long, allow_negative_numbers = true)]
    pub vf_coef: Option<f64>,
    /// Entropy-bonus coefficient [default: 0.01].
    #[arg(long, allow_negative_numbers = true)]
    pub ent_coef: Option<f64>,
    /// Per-batch return normalisation: true or false [default: true].
    #[arg(long)]
    pub normalize_returns: Option<bool>,
    /// Clip the global gradient norm to this value [default: off].
    #[arg(long, allow_negative_numbers = true)]
    pub max_grad_norm: Option<f64>,
    /// Number of vectorised environments [default: 1].
    #[arg(long)]
    pub n_envs: Option<usize>,
    /// Complete episodes per update, a multiple of --n-envs [default: 1].
    #[arg(long)]
    pub episodes_per_update: Option<usize>,
    /// Steps per update over all environments, a multiple of --n-envs (replaces
    /// --episodes-per-update).
    #[arg(long)]
    pub steps_per_update: Option<usize>,
    /// Baseline's value network: shared or separate [default: shared]; reinforce has none
    /// and ignores it.
    #[arg(long, value_parser = parse_value_network)]
    pub value_network: Option<ValueNetwork>,
    /// Bandit arm probabilities, comma-separated (bandit-v0 only) [default: 0.2,0.8,0.5].
    #[arg(long, value_delimiter = ',')]
    pub bandit_probs: Option<Vec<f64>>,
}

fn parse_value_network(s: &str) -> Result<ValueNetwork, String> {
    match s {
        "shared" => Ok(ValueNetwork::Shared),
        "separate" => Ok(ValueNetwork::Separate),
        _ => Err(format!(
            "unknown value network {s:?}: valid ones are shared, separate"
        )),
    }
}

impl HyperArgs {
    /// Applies the flags that were given over `cfg`.
    pub fn apply(&self, mut cfg: TrainConfig) -> TrainConfig {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = &self.$f { cfg.$f = v.clone(); } )* };
        }
        set!(
            env,
            algo,
            episodes,
            seed,
            hidden,
            activation,
            lr,
            gamma,
            vf_coef,
            ent_coef,
            normalize_returns,
            n_envs,
            episodes_per_update,
            value_network
        );
        if let Some(m) = self.max_grad_norm {
            cfg.max_grad_norm = Some(m);
        }
        if let Some(s) = self.steps_per_update {
            cfg.steps_per_update = Some(s);
        }
        if let Some(p) = &self.bandit_probs {
            cfg.bandit_probs = Some(p.clone());
        }
        cfg
    }

    /// Defaults, then the config file, then the flags; validated.
    pub fn resolve(&self, config: Option<&std::path::Path>) -> Result<TrainConfig, Failure> {
        let base = match config {
            Some(p) => usage(load_config_file(p))?,
            None => TrainConfig::default(),
        };
        let cfg = self.apply(base);
        cfg.validate().map_err(|e| Failure::Usage(e.into()))?;
        Ok(cfg)
    }
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The run folder to write.
    #[arg(long)]
    pub out: PathBuf,
    /// A TOML file of hyperparameters (field names as in config.toml's [train]).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Overwrite --out if it already holds a run.
    #[arg(long)]
    pub force: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub hyper: HyperArgs,
}

pub fn run(args: TrainArgs) -> Result<(), Failure> {
    let cfg = args.hyper.resolve(args.config.as_deref())?;
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(cfg.episodes as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} episodes  {msg}  [{elapsed_precise}]")
            .expect("a valid template"),
    );
    let mut recent = std::collections::VecDeque::with_capacity(20);
    let summary = execute(&cfg, &args.out, args.force, |report| {
        for e in &report.episodes {
            if recent.len() == 20 {
                recent.pop_front();
            }
            recent.push_back(e.episodic_return);
        }
        let mean = recent.iter().sum::<f64>() / recent.len().max(1) as f64;
        bar.set_position(report.episodes.last().map_or(bar.position(), |e| e.episode));
        bar.set_message(format!(
            "mean return (last 20) {mean:8.2}  {:>9.0} steps/s",
            report.sps
        ));
    });
    bar.finish_and_clear();
    let summary = summary?;
    crate::outln!(
        "trained {} on {} for {} episodes (seed {}): mean return of the last {} episodes {:.2}; run in {}",
        cfg.algo.name(),
        summary.env,
        summary.episodes,
        cfg.seed,
        recent.len(),
        recent.iter().sum::<f64>() / recent.len().max(1) as f64,
        args.out.display()
    )
}

/// A configuration error is the user's (exit 2); anything else failed at run time.
pub fn failure(e: TrainError) -> Failure {
    match e {
        TrainError::Config(_) => Failure::Usage(e.into()),
        _ => Failure::Runtime(e.into()),
    }
}

/// What a finished run reports.
#[derive(Debug)]
pub struct RunSummary {
    /// The environment.
    pub env: rl_core::EnvId,
    /// Episodes trained.
    pub episodes: u64,
}

/// One training run into `out`: `config.toml`, `metrics.csv`, `model.mpk`. `rl train` and
/// every run of `rl compare` go through here, so they are the same run.
pub fn execute(
    cfg: &TrainConfig,
    out: &std::path::Path,
    force: bool,
    mut on_update: impl FnMut(&rl_train::UpdateReport),
) -> Result<RunSummary, Failure> {
    cfg.validate().map_err(|e| Failure::Usage(e.into()))?;
    usage(prepare_out(out, force))?;
    RunInfo::new(cfg.clone()).save(out)?;
    let mut metrics = Metrics::create(out)?;
    let mut learner = Learner::<TrainBackend>::new(cfg.clone(), device()).map_err(failure)?;
    let mut write_error = None;
    let result = learner.run(|report| {
        if let Err(e) = metrics.write(report) {
            write_error = Some(e);
            return ControlFlow::Break(());
        }
        on_update(report);
        ControlFlow::Continue(())
    });
    metrics.flush()?;
    if let Some(e) = write_error {
        return Err(Failure::Runtime(e));
    }
    result.map_err(failure)?;
    save_model(out, learner.model()).context("saving the model")?;
    Ok(RunSummary {
        env: learner.env_id(),
        episodes: learner.episodes(),
    })
}
