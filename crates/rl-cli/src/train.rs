//! `rl train`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rl_models::backend::{TrainBackend, device};
use rl_models::{Activation, ValueNetwork};
use rl_train::{Algo, Learner, TrainConfig, TrainError};

use crate::run_dir::{Metrics, RunCheckpoint, RunInfo, checkpoint_path, prepare_out, save_model};
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
    /// Write a checkpoint every this many updates (and at the start, the end and on
    /// Ctrl-C) [default: 100].
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
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
            value_network,
            checkpoint_every
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
    #[arg(long, required_unless_present = "resume")]
    pub out: Option<PathBuf>,
    /// Continue the stopped run in this folder from its checkpoint, exactly as if it had
    /// never stopped (takes no other training flag: the run's configuration is fixed).
    #[arg(long, value_name = "RUN", conflicts_with_all = ["out", "config", "force", "HyperArgs"])]
    pub resume: Option<PathBuf>,
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

/// Set by Ctrl-C (or SIGTERM): the training loop writes a checkpoint after the current
/// update and stops.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The first Ctrl-C asks for a checkpoint and a clean stop; a second one stops at once
/// (the last checkpoint is intact: checkpoints are replaced atomically).
fn install_interrupt_handler() -> Result<(), Failure> {
    ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            eprintln!("\nstopped at once; the last checkpoint is intact");
            std::process::exit(130);
        }
        eprintln!(
            "\ninterrupted: finishing this update and writing a checkpoint (Ctrl-C again to stop at once)"
        );
    })
    .context("installing the Ctrl-C handler")?;
    Ok(())
}

pub fn run(args: TrainArgs) -> Result<(), Failure> {
    install_interrupt_handler()?;
    let (mut session, out) = match &args.resume {
        Some(dir) => (Session::resume(dir)?, dir.clone()),
        None => {
            let out = args
                .out
                .clone()
                .expect("clap requires --out without --resume");
            let cfg = args.hyper.resolve(args.config.as_deref())?;
            (Session::start(&cfg, &out, args.force)?, out)
        }
    };
    let cfg = session.learner.config().clone();
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(cfg.episodes as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} episodes  {msg}  [{elapsed_precise}]")
            .expect("a valid template"),
    );
    bar.set_position(session.learner.episodes());
    let resumed_at = session.learner.episodes();
    if args.resume.is_some() && !session.learner.is_done() {
        bar.suspend(|| {
            eprintln!(
                "resuming {} at update {}, episode {} of {}",
                out.display(),
                session.learner.updates(),
                resumed_at,
                cfg.episodes
            )
        });
    }
    // The progress bar's mean starts from the episodes already logged (a resumed run).
    let mut recent: std::collections::VecDeque<f64> = session.logged_returns(20).into();
    let outcome = session.train(|report| {
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
    match outcome? {
        Outcome::Interrupted => Err(Failure::Interrupted(format!(
            "interrupted after update {} (episode {} of {}); checkpoint written. Continue with:\n  rl train --resume {}",
            session.learner.updates(),
            session.learner.episodes(),
            cfg.episodes,
            out.display()
        ))),
        Outcome::Done if resumed_at >= cfg.episodes as u64 && args.resume.is_some() => {
            crate::outln!(
                "{} is already complete ({} episodes); nothing to do",
                out.display(),
                session.learner.episodes()
            )
        }
        Outcome::Done => crate::outln!(
            "trained {} on {} for {} episodes (seed {}): mean return of the last {} episodes {:.2}; run in {}",
            cfg.algo.name(),
            session.learner.env_id(),
            session.learner.episodes(),
            cfg.seed,
            recent.len(),
            recent.iter().sum::<f64>() / recent.len().max(1) as f64,
            out.display()
        ),
    }
}

/// A configuration error is the user's (exit 2); anything else failed at run time.
pub fn failure(e: TrainError) -> Failure {
    match e {
        TrainError::Config(_) => Failure::Usage(e.into()),
        _ => Failure::Runtime(e.into()),
    }
}

/// How a training session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The episode budget is spent; the model is written.
    Done,
    /// Ctrl-C: a checkpoint is written.
    Interrupted,
}

/// A learner writing into its run folder: logs, checkpoints, the final model.
pub struct Session {
    learner: Learner<TrainBackend>,
    dir: PathBuf,
    metrics: Metrics,
    /// (updates, episodes) of the last checkpoint written.
    last_checkpoint: (u64, u64),
}

impl Session {
    /// A new run in `out`. The checkpoint of update 0 is written before `config.toml`,
    /// so any folder that has a configuration can be resumed.
    pub fn start(cfg: &TrainConfig, out: &Path, force: bool) -> Result<Self, Failure> {
        cfg.validate().map_err(|e| Failure::Usage(e.into()))?;
        usage(prepare_out(out, force))?;
        let learner = Learner::<TrainBackend>::new(cfg.clone(), device()).map_err(failure)?;
        let metrics = Metrics::create(out)?;
        let mut session = Self {
            learner,
            dir: out.into(),
            metrics,
            last_checkpoint: (0, 0),
        };
        session.checkpoint()?;
        RunInfo::new(cfg.clone()).save(out)?;
        Ok(session)
    }

    /// The run in `dir`, continued from its checkpoint: the logs are put back as the
    /// checkpoint holds them.
    pub fn resume(dir: &Path) -> Result<Self, Failure> {
        let ckpt = usage(RunCheckpoint::load(dir))?;
        let cfg = ckpt.learner.config.clone();
        // Killed between the first checkpoint and the configuration: written below, once
        // the checkpoint has proved usable.
        let missing_config = !dir.join("config.toml").exists();
        if !missing_config {
            let info = usage(RunInfo::load(dir))?;
            if info.train != cfg {
                return Err(Failure::Usage(anyhow::anyhow!(
                    "{}/config.toml differs from the run's checkpoint: a run's configuration cannot change when it resumes (start a new run with --out instead)",
                    dir.display()
                )));
            }
        }
        let last_checkpoint = (ckpt.learner.updates, ckpt.learner.episodes);
        let learner = Learner::<TrainBackend>::from_state(ckpt.learner, device()).map_err(|e| {
            Failure::Usage(anyhow::Error::new(e).context(format!(
                "{} cannot be resumed",
                checkpoint_path(dir).display()
            )))
        })?;
        if missing_config {
            RunInfo::new(cfg).save(dir)?;
        }
        let metrics = Metrics::restore(dir, &ckpt.metrics, &ckpt.timing)?;
        Ok(Self {
            learner,
            dir: dir.into(),
            metrics,
            last_checkpoint,
        })
    }

    /// The returns of the last `k` episodes in `metrics.csv` (for display only: an
    /// unreadable log shows as none).
    pub fn logged_returns(&self, k: usize) -> Vec<f64> {
        let all = crate::run_dir::episodic_returns(&self.dir).unwrap_or_default();
        all[all.len().saturating_sub(k)..].to_vec()
    }

    /// Writes the checkpoint of the learner as it stands.
    fn checkpoint(&mut self) -> Result<(), Failure> {
        let (metrics, timing) = self.metrics.contents()?;
        let state = self.learner.state().map_err(failure)?;
        let key = (state.updates, state.episodes);
        RunCheckpoint {
            backend: rl_models::backend::NAME.into(),
            rl_version: env!("CARGO_PKG_VERSION").into(),
            learner: state,
            metrics,
            timing,
        }
        .save(&self.dir)?;
        self.last_checkpoint = key;
        Ok(())
    }

    /// Trains until the budget is spent (then writes the final checkpoint and the model)
    /// or Ctrl-C (then writes a checkpoint).
    pub fn train(
        &mut self,
        mut on_update: impl FnMut(&rl_train::UpdateReport),
    ) -> Result<Outcome, Failure> {
        let every = self.learner.config().checkpoint_every;
        while !self.learner.is_done() {
            let report = match self.learner.update() {
                Ok(r) => r,
                Err(e) => {
                    self.metrics.flush()?;
                    let (u, ep) = self.last_checkpoint;
                    return Err(Failure::Runtime(anyhow::anyhow!(
                        "{e}. The last good checkpoint (update {u}, episode {ep}) is kept in {}",
                        checkpoint_path(&self.dir).display()
                    )));
                }
            };
            self.metrics.write(&report)?;
            on_update(&report);
            if INTERRUPTED.load(Ordering::SeqCst) {
                self.checkpoint()?;
                return Ok(Outcome::Interrupted);
            }
            if self.learner.updates().is_multiple_of(every) {
                self.checkpoint()?;
            }
        }
        // The final checkpoint first: if the model write is cut short, resuming writes it.
        if self.last_checkpoint.0 != self.learner.updates() {
            self.checkpoint()?;
        }
        save_model(&self.dir, self.learner.model()).context("saving the model")?;
        Ok(Outcome::Done)
    }
}

/// One training run into `out`: `config.toml`, `metrics.csv`, `timing.csv`,
/// `checkpoint.bin`, `model.mpk`. `rl train` and every run of `rl compare` go through
/// here, so they are the same run.
pub fn execute(
    cfg: &TrainConfig,
    out: &Path,
    force: bool,
    on_update: impl FnMut(&rl_train::UpdateReport),
) -> Result<(), Failure> {
    let mut session = Session::start(cfg, out, force)?;
    match session.train(on_update)? {
        Outcome::Done => Ok(()),
        Outcome::Interrupted => Err(Failure::Interrupted(format!(
            "interrupted; {} can be continued with `rl train --resume {}`",
            out.display(),
            out.display()
        ))),
    }
}
