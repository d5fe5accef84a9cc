//! `rl train`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rl_models::backend::{TrainBackend, device};
use rl_models::{Activation, Init, ValueNetwork};
use rl_train::collective::Collective;
use rl_train::{Algo, Learner, OptimizerKind, Registry, TrainConfig, TrainError};

use crate::run_dir::{
    Logs, Metrics, RunCheckpoint, RunInfo, RunLock, checkpoint_path, prepare_out, save_model,
    save_normalizer,
};
use crate::tensorboard::EventWriter;
use crate::workers::{WorkerArgs, check_same_config, follow, report_exchanges};
use crate::{Failure, load_config_file, usage};

/// Every hyperparameter as an optional flag: a flag given overrides the config file,
/// which overrides the learner's preset for the environment, which overrides the
/// learner's defaults.
#[derive(Debug, Clone, Default, Args)]
pub struct HyperArgs {
    /// Environment id, e.g. cartpole-v1 (see `rl envs`).
    #[arg(long)]
    pub env: Option<String>,
    /// The learner: reinforce, baseline, a2c or ppo.
    #[arg(long)]
    pub algo: Option<Algo>,
    /// Start from the learner's own defaults, not its tuned preset for the environment.
    #[arg(long)]
    pub no_preset: bool,
    /// Budget of reinforce and baseline: episodes to train for [default: 500].
    #[arg(long)]
    pub episodes: Option<usize>,
    /// Budget of a2c and ppo: environment steps to train for (CleanRL's total_timesteps).
    #[arg(long)]
    pub total_steps: Option<u64>,
    /// The one seed of the run.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Hidden layer sizes, comma-separated [default: 64,64].
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Hidden layer sizes of a separate value network, comma-separated (baseline, a2c
    /// and ppo with --value-network separate) [default: --hidden's].
    #[arg(long, value_delimiter = ',')]
    pub value_hidden: Option<Vec<usize>>,
    /// Hidden activation: tanh or relu [default: tanh].
    #[arg(long)]
    pub activation: Option<Activation>,
    /// Weight initialisation: torch (nn.Linear's default) or orthogonal (CleanRL's and
    /// SB3's) [default: torch; orthogonal for a2c and ppo].
    #[arg(long)]
    pub init: Option<Init>,
    /// Where the value function lives: shared (a head on the policy's trunk) or separate
    /// [default: shared; separate for a2c and ppo]; reinforce has none and ignores it.
    #[arg(long, value_parser = parse_value_network)]
    pub value_network: Option<ValueNetwork>,
    /// The optimiser: adam or rmsprop [default: adam; rmsprop for a2c].
    #[arg(long)]
    pub optimizer: Option<OptimizerKind>,
    /// Learning rate [default: 0.003; ppo 2.5e-4; a2c 7e-4].
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Anneal the learning rate linearly to zero over the step budget: true or false
    /// (a2c and ppo).
    #[arg(long)]
    pub anneal_lr: Option<bool>,
    /// The optimiser's epsilon [default: 1e-8; 1e-5 for a2c and ppo].
    #[arg(long, allow_negative_numbers = true)]
    pub optimizer_eps: Option<f64>,
    /// RMSprop's smoothing constant alpha [default: 0.99].
    #[arg(long, allow_negative_numbers = true)]
    pub rmsprop_alpha: Option<f64>,
    /// Discount factor in [0, 1] [default: 0.99].
    #[arg(long, allow_negative_numbers = true)]
    pub gamma: Option<f64>,
    /// GAE's lambda in [0, 1] (a2c and ppo) [default: 0.95; a2c 1.0].
    #[arg(long, allow_negative_numbers = true)]
    pub gae_lambda: Option<f64>,
    /// Value-loss coefficient [default: 0.5].
    #[arg(long, allow_negative_numbers = true)]
    pub vf_coef: Option<f64>,
    /// Entropy-bonus coefficient [default: 0.01; a2c 0].
    #[arg(long, allow_negative_numbers = true)]
    pub ent_coef: Option<f64>,
    /// Per-batch return normalisation (reinforce and baseline): true or false
    /// [default: true].
    #[arg(long)]
    pub normalize_returns: Option<bool>,
    /// Per-minibatch advantage normalisation (a2c and ppo): true or false [default:
    /// true for ppo, false for a2c].
    #[arg(long)]
    pub norm_adv: Option<bool>,
    /// PPO's surrogate clipping coefficient, > 0 [default: 0.2].
    #[arg(long, allow_negative_numbers = true)]
    pub clip_coef: Option<f64>,
    /// PPO: clip the value loss too: true or false [default: true].
    #[arg(long)]
    pub clip_vloss: Option<bool>,
    /// PPO: anneal the clipping coefficient linearly to zero over the step budget: true
    /// or false [default: false].
    #[arg(long)]
    pub anneal_clip: Option<bool>,
    /// PPO: stop an update's epochs when the approximate KL exceeds this, or none
    /// [default: none].
    #[arg(long, value_parser = parse_number_or_none, allow_negative_numbers = true)]
    pub target_kl: Option<NumberOrNone>,
    /// PPO: passes over each rollout [default: 4].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// PPO: minibatches per pass, a divisor of --steps-per-update [default: 4].
    #[arg(long)]
    pub minibatches: Option<usize>,
    /// Clip the global gradient norm to this value, or none [default: none; 0.5 for
    /// a2c and ppo].
    #[arg(long, value_parser = parse_number_or_none, allow_negative_numbers = true)]
    pub max_grad_norm: Option<NumberOrNone>,
    /// Number of vectorised environments [default: 1; ppo 4].
    #[arg(long)]
    pub n_envs: Option<usize>,
    /// Complete episodes per update, a multiple of --n-envs (reinforce and baseline)
    /// [default: 1].
    #[arg(long)]
    pub episodes_per_update: Option<usize>,
    /// Steps per update over all environments, a multiple of --n-envs (--n-envs times
    /// SB3's and CleanRL's n_steps; replaces --episodes-per-update) [default: a2c 5, ppo
    /// 512].
    #[arg(long)]
    pub steps_per_update: Option<usize>,
    /// A2C and PPO: normalise observations by their running mean and variance (SB3's
    /// VecNormalize) [default: false].
    #[arg(long)]
    pub normalize_obs: Option<bool>,
    /// A2C and PPO: scale rewards by the running std of the discounted return
    /// [default: false].
    #[arg(long)]
    pub normalize_reward: Option<bool>,
    /// The initial log standard deviation of a Gaussian policy (continuous actions only)
    /// [default: 0].
    #[arg(long, allow_negative_numbers = true)]
    pub log_std_init: Option<f64>,
    /// A2C and PPO on continuous actions: explore by gSDE (generalised state-dependent
    /// exploration, SB3's use_sde) [default: false].
    #[arg(long)]
    pub use_sde: Option<bool>,
    /// With --use-sde: new exploration matrices every N steps of each environment; -1
    /// only at the start of each rollout [default: -1].
    #[arg(long, allow_negative_numbers = true)]
    pub sde_sample_freq: Option<i64>,
    /// Where the policy runs while acting: host (fast) or backend [default: host].
    #[arg(long)]
    pub acting: Option<rl_train::Acting>,
    /// Bandit arm probabilities, comma-separated (bandit-v0 only) [default: 0.2,0.8,0.5].
    #[arg(long, value_delimiter = ',')]
    pub bandit_probs: Option<Vec<f64>>,
    /// Write a checkpoint every this many updates (and at the start, the end and on
    /// Ctrl-C) [default: 100].
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    /// Write TensorBoard event files into the run folder [default: true].
    #[arg(long)]
    pub tensorboard: Option<bool>,
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

/// A flag's number, or `none` to switch the setting off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumberOrNone(pub Option<f64>);

fn parse_number_or_none(s: &str) -> Result<NumberOrNone, String> {
    if s == "none" {
        return Ok(NumberOrNone(None));
    }
    s.parse()
        .map(|x| NumberOrNone(Some(x)))
        .map_err(|_| format!("{s:?} is neither a number nor none"))
}

impl HyperArgs {
    /// Applies the flags that were given over `cfg`; with `only_used`, only those the
    /// configuration's learner uses (`rl compare` applies one set of flags to several
    /// learners).
    pub fn apply(&self, cfg: &mut TrainConfig, only_used: bool) {
        let algo = cfg.algo;
        let wanted = |name: &str| !only_used || algo.uses(name);
        macro_rules! set {
            ($($f:ident),*) => { $(
                if let Some(v) = &self.$f && wanted(stringify!($f)) { cfg.$f = v.clone(); }
            )* };
        }
        macro_rules! set_some {
            ($($f:ident),*) => { $(
                if let Some(v) = &self.$f && wanted(stringify!($f)) { cfg.$f = Some(v.clone()); }
            )* };
        }
        set!(
            env,
            algo,
            seed,
            hidden,
            activation,
            init,
            value_network,
            optimizer,
            lr,
            anneal_lr,
            optimizer_eps,
            rmsprop_alpha,
            gamma,
            gae_lambda,
            vf_coef,
            ent_coef,
            normalize_returns,
            norm_adv,
            clip_coef,
            clip_vloss,
            anneal_clip,
            epochs,
            minibatches,
            n_envs,
            episodes_per_update,
            normalize_obs,
            normalize_reward,
            log_std_init,
            use_sde,
            sde_sample_freq,
            acting,
            checkpoint_every,
            tensorboard
        );
        set_some!(
            episodes,
            total_steps,
            steps_per_update,
            bandit_probs,
            value_hidden
        );
        if let Some(v) = self.target_kl
            && wanted("target_kl")
        {
            cfg.target_kl = v.0;
        }
        if let Some(v) = self.max_grad_norm
            && wanted("max_grad_norm")
        {
            cfg.max_grad_norm = v.0;
        }
    }

    /// The names of the hyperparameters given as flags (as configuration fields).
    pub fn given(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        macro_rules! given {
            ($($f:ident),*) => { $( if self.$f.is_some() { out.push(stringify!($f)); } )* };
        }
        given!(
            env,
            algo,
            episodes,
            total_steps,
            seed,
            hidden,
            value_hidden,
            activation,
            init,
            value_network,
            optimizer,
            lr,
            anneal_lr,
            optimizer_eps,
            rmsprop_alpha,
            gamma,
            gae_lambda,
            vf_coef,
            ent_coef,
            normalize_returns,
            norm_adv,
            clip_coef,
            clip_vloss,
            target_kl,
            epochs,
            minibatches,
            max_grad_norm,
            n_envs,
            episodes_per_update,
            steps_per_update,
            normalize_obs,
            normalize_reward,
            log_std_init,
            use_sde,
            sde_sample_freq,
            acting,
            bandit_probs,
            checkpoint_every,
            tensorboard
        );
        out
    }

    /// The learner's defaults, its preset for the environment (unless --no-preset), the
    /// config file, then the flags; validated.
    pub fn resolve(
        &self,
        registry: &Registry,
        config: Option<&std::path::Path>,
    ) -> Result<TrainConfig, Failure> {
        let mut cfg = self.resolve_for(registry, config, self.algo)?;
        self.apply(&mut cfg, false);
        cfg.validate().map_err(|e| Failure::Usage(e.into()))?;
        Ok(cfg)
    }

    /// The learner's defaults, its preset and the config file, before the flags.
    pub fn resolve_for(
        &self,
        registry: &Registry,
        config: Option<&std::path::Path>,
        algo: Option<Algo>,
    ) -> Result<TrainConfig, Failure> {
        let file = config
            .map(load_config_file)
            .transpose()
            .map_err(Failure::Usage)?;
        registry
            .resolve(file.as_ref(), algo, self.env.as_deref(), !self.no_preset)
            .map_err(|e| {
                let path = config.map_or(String::new(), |p| format!(" {}", p.display()));
                Failure::Usage(anyhow::anyhow!("invalid config file{path}: {}", e.0))
            })
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
    #[command(flatten)]
    pub workers: WorkerArgs,
}

/// Set by Ctrl-C (or SIGTERM): the training loop writes a checkpoint after the current
/// update and stops.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether Ctrl-C was pressed.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The first Ctrl-C asks for a checkpoint and a clean stop; a second one stops at once
/// (the last checkpoint is intact: checkpoints are replaced atomically).
/// Installed once per process (`rl_cli::run` may be called again in the same one).
fn install_interrupt_handler() -> Result<(), Failure> {
    static INSTALLED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let installed = INSTALLED.get_or_init(|| {
        ctrlc::set_handler(|| {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                eprintln!("\nstopped at once; the last checkpoint is intact");
                std::process::exit(130);
            }
            eprintln!(
                "\ninterrupted: finishing this update and writing a checkpoint (Ctrl-C again to stop at once)"
            );
        })
        .map_err(|e| e.to_string())
    });
    installed
        .clone()
        .map_err(|e| Failure::Runtime(anyhow::anyhow!("installing the Ctrl-C handler: {e}")))
}

pub fn run(args: TrainArgs, registry: &Registry) -> Result<(), Failure> {
    install_interrupt_handler()?;
    let team = match args.workers.join()? {
        Some(team) if team.rank() > 0 => {
            // A worker after the first writes nothing: the run folder is rank 0's.
            let cfg = match &args.resume {
                Some(_) => None,
                None => Some(args.hyper.resolve(registry, args.config.as_deref())?),
            };
            eprintln!(
                "rank {} of {}: rank 0 writes the run folder{}",
                team.rank(),
                team.workers(),
                if cfg.is_none() {
                    " and sends this worker its state"
                } else {
                    ""
                }
            );
            return follow(registry, cfg, team);
        }
        team => team,
    };
    let (mut session, out) = match &args.resume {
        Some(dir) => (Session::resume(registry, dir, team)?, dir.clone()),
        None => {
            let out = args
                .out
                .clone()
                .expect("clap requires --out without --resume");
            let cfg = args.hyper.resolve(registry, args.config.as_deref())?;
            (Session::start(registry, &cfg, &out, args.force, team)?, out)
        }
    };
    for warning in session.learner.config().warnings(session.learner.spec()) {
        eprintln!("warning: {warning}");
    }
    let cfg = session.learner.config().clone();
    let (budget, unit) = cfg.budget();
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(budget)
    };
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{bar:30}} {{pos}}/{{len}} {unit}  {{msg}}  [{{elapsed_precise}}]"
        ))
        .expect("a valid template"),
    );
    bar.set_position(session.learner.progress());
    let resumed_at = session.learner.progress();
    if args.resume.is_some() && !session.learner.is_done() {
        bar.suspend(|| {
            eprintln!(
                "resuming {} at update {}, {resumed_at} {unit} of {budget}",
                out.display(),
                session.learner.updates(),
            );
            if session.learner.restarted_episodes() {
                eprintln!(
                    "{} cannot be saved, so its episodes restart: the network, optimiser, generators, counters and logs continue exactly, the episodes in progress do not",
                    session.learner.spec().id
                );
            }
        });
    }
    // The progress bar's mean starts from the episodes already logged (a resumed run).
    let mut live = LiveStats::new(session.logged_returns(LiveStats::WINDOW));
    let outcome = session.train(|report, progress| {
        bar.set_position(progress);
        bar.set_message(live.observe(report));
    });
    bar.finish_and_clear();
    report_exchanges(&session.learner);
    match outcome? {
        Outcome::Interrupted => Err(Failure::Interrupted(format!(
            "interrupted after update {} ({} {unit} of {budget}); checkpoint written. Continue with:\n  rl train --resume {}",
            session.learner.updates(),
            session.learner.progress(),
            out.display()
        ))),
        Outcome::Done if resumed_at >= budget && args.resume.is_some() => {
            crate::outln!(
                "{} is already complete ({} {unit}); nothing to do",
                out.display(),
                session.learner.progress()
            )
        }
        Outcome::Done => crate::outln!(
            "trained {} on {} for {} episodes, {} steps (seed {}): mean return of the last {} episodes {:.2}; run in {}",
            cfg.algo.name(),
            session.learner.spec().id,
            session.learner.episodes(),
            session.learner.env_steps(),
            cfg.seed,
            live.len(),
            live.mean(),
            out.display()
        ),
    }
}

/// What a progress bar shows of a run as it trains: the mean return of the last episodes,
/// steps per second and, for PPO, `approx_kl` and the clip fraction.
pub struct LiveStats {
    recent: std::collections::VecDeque<f64>,
}

impl LiveStats {
    /// How many of the last episodes the mean covers.
    pub const WINDOW: usize = 20;

    /// Starting from the returns already logged (a resumed run).
    pub fn new(logged: Vec<f64>) -> Self {
        Self {
            recent: logged.into(),
        }
    }

    /// Takes in an update's episodes; the bar's message.
    pub fn observe(&mut self, report: &rl_train::UpdateReport) -> String {
        for e in &report.episodes {
            if self.recent.len() == Self::WINDOW {
                self.recent.pop_front();
            }
            self.recent.push_back(e.episodic_return);
        }
        let mut msg = format!(
            "mean return (last {}) {:8.2}  {:>9.0} steps/s",
            Self::WINDOW,
            self.mean(),
            report.sps
        );
        if let (Some(kl), Some(clip)) = (report.approx_kl, report.clipfrac) {
            msg += &format!("  approx_kl {kl:.4}  clipfrac {clip:.3}");
        }
        msg
    }

    /// The episodes the mean covers.
    pub fn len(&self) -> usize {
        self.recent.len()
    }

    /// The mean return of the last episodes (0 before any).
    pub fn mean(&self) -> f64 {
        self.recent.iter().sum::<f64>() / self.recent.len().max(1) as f64
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
    /// The budget is spent; the model is written.
    Done,
    /// Ctrl-C: a checkpoint is written.
    Interrupted,
}

/// A learner writing into its run folder: logs, checkpoints, the final model.
pub struct Session {
    learner: Learner<TrainBackend>,
    dir: PathBuf,
    /// Held while training: no other process writes this run.
    _lock: RunLock,
    metrics: Metrics,
    /// TensorBoard's event file, unless `tensorboard = false`.
    events: Option<EventWriter>,
    /// (updates, episodes) of the last checkpoint written.
    last_checkpoint: (u64, u64),
}

impl Session {
    /// A new run in `out`. The checkpoint of update 0 is written before `config.toml`,
    /// so any folder that has a configuration can be resumed.
    /// With a `team`, this is rank 0 of a data-parallel run.
    pub fn start(
        registry: &Registry,
        cfg: &TrainConfig,
        out: &Path,
        force: bool,
        team: Option<Box<dyn Collective>>,
    ) -> Result<Self, Failure> {
        cfg.validate().map_err(|e| Failure::Usage(e.into()))?;
        let source = registry
            .get(&cfg.env)
            .map_err(|e| Failure::Usage(e.into()))?
            .clone();
        let lock = usage(prepare_out(out, force))?;
        let learner = match team {
            None => Learner::<TrainBackend>::with_env(source, cfg.clone(), device()),
            Some(mut team) => {
                check_same_config(team.as_mut(), cfg)?;
                Learner::<TrainBackend>::new_worker(registry, cfg.clone(), device(), team)
            }
        }
        .map_err(failure)?;
        let metrics = Metrics::create(out)?;
        let events = match cfg.tensorboard {
            true => {
                let mut w = EventWriter::create(out, None)?;
                w.text(0, "hyperparameters", &hyperparameters(cfg))?;
                Some(w)
            }
            false => None,
        };
        let mut session = Self {
            learner,
            dir: out.into(),
            _lock: lock,
            metrics,
            events,
            last_checkpoint: (0, 0),
        };
        session.checkpoint()?;
        RunInfo::new(cfg.clone()).save(out)?;
        Ok(session)
    }

    /// The run in `dir`, continued from its checkpoint: the logs are put back as the
    /// checkpoint holds them.
    pub fn resume(
        registry: &Registry,
        dir: &Path,
        team: Option<Box<dyn Collective>>,
    ) -> Result<Self, Failure> {
        // Only a run folder is locked, and what is read is read under the lock.
        usage(RunCheckpoint::load(dir))?;
        let lock = usage(RunLock::acquire(dir))?;
        let ckpt = usage(RunCheckpoint::load(dir))?;
        let cfg = ckpt.learner.config.clone();
        let cfg_tensorboard = cfg.tensorboard;
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
        let resumed_at = ckpt.learner.env_steps;
        let source = registry
            .get(&cfg.env)
            .map_err(|e| Failure::Usage(e.into()))?
            .clone();
        let learner = match team {
            None => Learner::<TrainBackend>::from_state_with_env(source, ckpt.learner, device()),
            Some(team) => {
                Learner::<TrainBackend>::resume_worker(registry, Some(ckpt.learner), device(), team)
            }
        }
        .map_err(|e| {
            Failure::Usage(anyhow::Error::new(e).context(format!(
                "{} cannot be resumed",
                checkpoint_path(dir).display()
            )))
        })?;
        if missing_config {
            RunInfo::new(cfg).save(dir)?;
        }
        let metrics = Metrics::restore(
            dir,
            &Logs {
                metrics: ckpt.metrics,
                timing: ckpt.timing,
                updates: ckpt.updates,
            },
        )?;
        // A new event file whose first event supersedes what the killed run wrote after
        // its checkpoint.
        let events = match cfg_tensorboard {
            true => Some(EventWriter::create(dir, Some(resumed_at))?),
            false => None,
        };
        Ok(Self {
            learner,
            dir: dir.into(),
            _lock: lock,
            metrics,
            events,
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
        if let Some(events) = &mut self.events {
            events.flush()?;
        }
        let logs = self.metrics.contents()?;
        let state = self.learner.state().map_err(failure)?;
        let key = (state.updates, state.episodes);
        RunCheckpoint {
            backend: rl_models::backend::NAME.into(),
            rl_version: env!("CARGO_PKG_VERSION").into(),
            learner: state,
            metrics: logs.metrics,
            timing: logs.timing,
            updates: logs.updates,
        }
        .save(&self.dir)?;
        self.last_checkpoint = key;
        Ok(())
    }

    /// Trains until the budget is spent (then writes the final checkpoint and the model)
    /// or Ctrl-C (then writes a checkpoint).
    pub fn train(
        &mut self,
        mut on_update: impl FnMut(&rl_train::UpdateReport, u64),
    ) -> Result<Outcome, Failure> {
        let every = self.learner.config().checkpoint_every;
        while !self.learner.is_done() {
            let report = match self.learner.update() {
                Ok(r) => r,
                Err(e) => {
                    self.metrics.flush()?;
                    if let Some(events) = &mut self.events {
                        events.flush()?;
                    }
                    let (u, ep) = self.last_checkpoint;
                    return Err(Failure::Runtime(anyhow::anyhow!(
                        "{e}. The last good checkpoint (update {u}, episode {ep}) is kept in {}",
                        checkpoint_path(&self.dir).display()
                    )));
                }
            };
            self.metrics.write(&report)?;
            if let Some(events) = &mut self.events {
                write_events(events, &report)?;
            }
            on_update(&report, self.learner.progress());
            // Every worker of a data-parallel run stops together.
            if self.learner.any_worker(interrupted()).map_err(failure)? {
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
        if self.learner.normalizer().is_active() {
            save_normalizer(&self.dir, self.learner.normalizer())
                .context("saving the normalisation")?;
        }
        save_model(&self.dir, self.learner.model()).context("saving the model")?;
        if let Some(events) = &mut self.events {
            events.flush()?;
        }
        Ok(Outcome::Done)
    }
}

/// An update's points in TensorBoard, CleanRL's tags at the environment step: each
/// finished episode's return and length, then the update's speed, learning rate and
/// losses (and PPO's diagnostics).
fn write_events(events: &mut EventWriter, r: &rl_train::UpdateReport) -> anyhow::Result<()> {
    for e in &r.episodes {
        events.scalars(
            e.env_steps,
            &[
                ("charts/episodic_return", e.episodic_return),
                ("charts/episodic_length", e.episodic_length as f64),
            ],
        )?;
    }
    let mut values = vec![
        ("charts/SPS", r.sps),
        ("charts/learning_rate", r.learning_rate),
        ("losses/policy_loss", f64::from(r.policy_loss)),
        ("losses/value_loss", f64::from(r.value_loss)),
        ("losses/entropy", f64::from(r.entropy)),
    ];
    for (tag, v) in [
        ("losses/approx_kl", r.approx_kl),
        ("losses/old_approx_kl", r.old_approx_kl),
        ("losses/clipfrac", r.clipfrac),
    ] {
        if let Some(v) = v {
            values.push((tag, f64::from(v)));
        }
    }
    if let Some(v) = r.explained_variance {
        values.push(("losses/explained_variance", v));
    }
    events.scalars(r.env_steps, &values)
}

/// The resolved configuration as CleanRL writes it to TensorBoard: a Markdown table.
fn hyperparameters(cfg: &TrainConfig) -> String {
    let mut out = String::from("|param|value|\n|-|-|\n");
    if let Ok(table) = toml::Table::try_from(cfg) {
        for (k, v) in table {
            out += &format!("|{k}|{v}|\n");
        }
    }
    out
}

/// One training run into `out`: `config.toml`, `metrics.csv`, `timing.csv`,
/// `checkpoint.bin`, `model.mpk`. `rl train` and every run of `rl compare` go through
/// here, so they are the same run.
pub fn execute(
    registry: &Registry,
    cfg: &TrainConfig,
    out: &Path,
    force: bool,
    on_update: impl FnMut(&rl_train::UpdateReport, u64),
) -> Result<(), Failure> {
    let mut session = Session::start(registry, cfg, out, force, None)?;
    match session.train(on_update)? {
        Outcome::Done => Ok(()),
        Outcome::Interrupted => Err(Failure::Interrupted(format!(
            "interrupted; {} can be continued with `rl train --resume {}`",
            out.display(),
            out.display()
        ))),
    }
}
