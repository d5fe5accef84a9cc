//! `rl`: train, evaluate, export and benchmark policy-gradient agents.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 usage error (bad flags or values, an
//! unknown environment or algorithm, an `--out` folder that holds another run, a
//! checkpoint that cannot be resumed), 130 stopped by Ctrl-C after writing a checkpoint.

mod bench;
mod compare;
mod credit;
mod eval;
mod export;
mod plot;
mod png_file;
mod render;
mod run_dir;
mod stats;
mod tensorboard;
mod train;
mod workers;

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use rl_core::{Env, EnvId};
use rl_train::Algo;

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
    Eval(eval::EvalArgs),
    /// List the environments with their spaces and time limits.
    Envs,
    /// Export a trained policy as safetensors in PyTorch's layout.
    Export(export::ExportArgs),
    /// Measure training throughput (environment steps per second, updates included).
    Bench(bench::BenchArgs),
    /// Train several learners over several seeds; aggregate, summarise and plot.
    Compare(Box<compare::CompareArgs>),
    /// Aggregate, summarise and plot a comparison folder again, without training.
    Plot(compare::PlotArgs),
    /// Play one episode with a trained model and print the lesson's credit table.
    Credit(credit::CreditArgs),
    /// Play one episode with a trained model and write it as an animated GIF (and PNG
    /// frames), drawn as Gymnasium draws the environment.
    Render(render::RenderArgs),
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
        Command::Eval(args) => eval::run(args),
        Command::Envs => envs(),
        Command::Export(args) => export::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Compare(args) => compare::compare(*args),
        Command::Plot(args) => compare::plot(args),
        Command::Credit(args) => credit::run(args),
        Command::Render(args) => render::run(args),
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
    text += &format!(
        "tuned presets (rl train --algo A --env E uses them): {}\n",
        rl_train::presets::names().join(", ")
    );
    emit(&text)
}

/// Reads `--config FILE.toml`: a table of `[train]` keys, checked when it is layered over
/// the learner's defaults and preset.
pub fn load_config_file(path: &std::path::Path) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    text.parse()
        .with_context(|| format!("invalid config file {}", path.display()))
}
