//! `rl`: train, evaluate, export and benchmark policy-gradient agents.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 usage error (bad flags or values, an
//! unknown environment or algorithm, an `--out` folder that holds another run, a
//! checkpoint that cannot be resumed), 130 stopped by Ctrl-C after writing a checkpoint.

mod bench;
mod compare;
mod credit;
mod plot;
mod run_dir;
mod stats;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use rl_core::rng;
use rl_core::{Env, EnvId, VecEnv};
use rl_models::backend::{Backend, device};
use rl_train::{Actor, Algo};

/// See the workspace Cargo.toml for why (measured with `rl bench`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Policy-gradient reinforcement learning on Burn.
#[derive(Debug, Parser)]
#[command(name = "rl", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train an agent (or --resume one); writes config.toml, metrics.csv, timing.csv,
    /// checkpoint.bin and model.mpk into --out.
    Train(Box<train::TrainArgs>),
    /// Evaluate a trained agent: mean and std of the return over seeded episodes.
    Eval(EvalArgs),
    /// List the environments with their spaces and time limits.
    Envs,
    /// Export a trained policy as safetensors in PyTorch's layout.
    Export(ExportArgs),
    /// Measure training throughput (environment steps per second, updates included).
    Bench(bench::BenchArgs),
    /// Train several learners over several seeds; aggregate, summarise and plot.
    Compare(Box<compare::CompareArgs>),
    /// Aggregate, summarise and plot a comparison folder again, without training.
    Plot(compare::PlotArgs),
    /// Play one episode with a trained model and print the lesson's credit table.
    Credit(credit::CreditArgs),
}

#[derive(Debug, Args)]
struct EvalArgs {
    /// The run folder written by `rl train`.
    #[arg(long)]
    model: PathBuf,
    /// Number of episodes.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    episodes: u64,
    /// Take the most likely action (the mean for Gaussian policies) instead of sampling.
    #[arg(long)]
    greedy: bool,
    /// Seed of the evaluation episodes and action sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Debug, Args)]
struct ExportArgs {
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

/// A failure, with the exit code it maps to.
#[derive(Debug)]
pub enum Failure {
    /// Bad input from the user: exit code 2.
    Usage(anyhow::Error),
    /// Anything else: exit code 1.
    Runtime(anyhow::Error),
    /// Stopped by Ctrl-C after writing a checkpoint: exit code 130, the shell's code for
    /// an interrupt, with how to continue.
    Interrupted(String),
}

impl Failure {
    /// Adds context to the error, keeping its exit code.
    pub fn context(self, c: String) -> Self {
        match self {
            Failure::Usage(e) => Failure::Usage(e.context(c)),
            Failure::Runtime(e) => Failure::Runtime(e.context(c)),
            Failure::Interrupted(m) => Failure::Interrupted(m),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Runtime(e)
    }
}

/// Writes to stdout; a closed pipe (`rl credit | head`) ends the output quietly, any
/// other write error is a runtime failure.
pub fn emit(text: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::Runtime(e.into())),
        _ => Ok(()),
    }
}

/// `emit` with `format!` arguments and a newline.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => { $crate::emit(&format!("{}\n", format!($($arg)*))) };
}

/// Marks an error as the user's.
pub fn usage<T>(r: Result<T>) -> Result<T, Failure> {
    r.map_err(Failure::Usage)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => train::run(*args),
        Command::Eval(args) => eval(args),
        Command::Envs => envs(),
        Command::Export(args) => export(args),
        Command::Bench(args) => bench::run(args),
        Command::Compare(args) => compare::compare(*args),
        Command::Plot(args) => compare::plot(args),
        Command::Credit(args) => credit::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
        Err(Failure::Interrupted(m)) => {
            eprintln!("{m}");
            ExitCode::from(130)
        }
    }
}

fn envs() -> Result<(), Failure> {
    let mut text = String::new();
    for id in EnvId::ALL {
        let spec = id.make().spec();
        let limit = spec
            .max_episode_steps
            .map_or("none (one step per episode)".to_string(), |n| {
                format!("{n} steps")
            });
        text += &format!(
            "{}\n  actions:      {}\n  observations: {}\n  time limit:   {limit}\n",
            spec.id, spec.action_space, spec.observation_space
        );
    }
    text += &format!("\nalgorithms: {}\n", Algo::ALL.map(|a| a.name()).join(", "));
    emit(&text)
}

fn eval(args: EvalArgs) -> Result<(), Failure> {
    let dev = device();
    let (_, env_id, model) = usage(run_dir::load_run::<Backend>(&args.model, &dev))?;
    let obs_dim = env_id.make().spec().observation_space.flat_dim();
    let mut actor = Actor::new(model, obs_dim, rl_train::Acting::Host);
    let mut envs = VecEnv::from_fn(1, |_| env_id.make()).context("environment")?;
    envs.reset(args.seed);
    let mut r = rng::seeded(rng::stream(args.seed, 1));
    let mut returns = Vec::with_capacity(args.episodes as usize);
    while (returns.len() as u64) < args.episodes {
        let actions = actor.act(envs.observations(), &mut r, args.greedy, &dev);
        envs.step(actions).context("stepping the environment")?;
        returns.extend(envs.finished().iter().map(|e| e.episodic_return));
    }
    let stats::Spread { mean, std, .. } = stats::spread(&returns);
    let how = if args.greedy { "greedy" } else { "sampled" };
    outln!(
        "{}: {} episodes ({how} actions, seed {}): return {mean:.2} ± {std:.2}",
        env_id,
        returns.len(),
        args.seed
    )
}

fn export(args: ExportArgs) -> Result<(), Failure> {
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

/// Reads `--config FILE.toml`: a table of `[train]` keys, checked when it is layered over
/// the learner's defaults and preset.
pub fn load_config_file(path: &std::path::Path) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    text.parse()
        .with_context(|| format!("invalid config file {}", path.display()))
}
