//! rl-cli: the `rl` command line, as a library: every subcommand (train, eval, compare,
//! plot, render, export, credit, bench, envs) over any [`Registry`] of environments, so
//! that a few lines of your own `main.rs` give you `rl` for your environments, with the
//! same flags, files and exit codes.
//!
//! ```no_run
//! use rl_core::CartPole;
//! use rl_train::{EnvSource, Registry, TrainConfig};
//!
//! fn main() -> std::process::ExitCode {
//!     // Your environments beside the built-ins (here a CartPole under another name).
//!     let registry = Registry::builtin()
//!         .with(EnvSource::resumable("MyCartPole-v0", |_: &TrainConfig| Ok(CartPole::new())));
//!     // `my-rl train --env mycartpole-v0 --algo ppo --out runs/mine`, `my-rl eval ...`
//!     rl_cli::main(registry)
//! }
//! ```
//!
//! Exit codes: 0 success, 1 runtime failure, 2 usage error (bad flags or values, an
//! unknown environment or algorithm, an `--out` folder that holds another run, a
//! checkpoint that cannot be resumed), 130 stopped by Ctrl-C after writing a checkpoint.
#![warn(missing_docs)]

mod bench;
mod check_env;
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
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use rl_train::{Algo, Registry};

/// The allocator the `rl` binary uses (see the workspace Cargo.toml for why, measured
/// with `rl bench`); a binary of your own gets the same speed by declaring it too:
/// `#[global_allocator] static ALLOCATOR: rl_cli::Allocator = rl_cli::Allocator;`.
pub use mimalloc::MiMalloc as Allocator;

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
    /// Check that an environment keeps the contract the learners rely on (its spaces,
    /// observations, rewards, seeding, time limit and masks), as SB3's check_env; exit
    /// code 2 on a failure.
    CheckEnv(check_env::CheckEnvArgs),
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
pub(crate) enum Failure {
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
pub(crate) fn emit(text: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::Runtime(e.into())),
        _ => Ok(()),
    }
}

/// `emit` with `format!` arguments and a newline.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::emit(&format!("{}\n", format!($($arg)*))) };
}
pub(crate) use outln;

/// Marks an error as the user's.
pub(crate) fn usage<T>(r: Result<T>) -> Result<T, Failure> {
    r.map_err(Failure::Usage)
}

/// Runs the command line of this process's arguments over `registry`'s environments,
/// prints any error, and returns the exit code: what the `rl` binary's `main` is, with
/// [`Registry::builtin`].
pub fn main(registry: Registry) -> ExitCode {
    match run(&registry, std::env::args_os()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Clap's own errors in its colours, where the terminal takes them.
            match &e.usage {
                Some(clap) => {
                    let _ = clap.print();
                }
                None => eprintln!("{e}"),
            }
            ExitCode::from(e.code())
        }
    }
}

/// Why a command line failed, and the exit code it maps to.
#[derive(Debug)]
pub struct CliError {
    code: u8,
    message: String,
    /// A malformed command line, as clap reports it.
    usage: Option<clap::Error>,
}

impl CliError {
    /// The exit code: 1 a runtime failure, 2 a usage error, 130 stopped by Ctrl-C
    /// after writing a checkpoint.
    pub fn code(&self) -> u8 {
        self.code
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// Runs the command line `args` (the binary's name first, as `std::env::args_os` gives
/// it) over `registry`'s environments. What is printed on success goes to stdout; a
/// failure is returned, with its exit code, for the caller to print.
pub fn run<I, T>(registry: &Registry, args: I) -> Result<(), CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    // Usage lines name the binary as it was started (a binary of your own, say).
    let name = args
        .first()
        .and_then(|a| {
            std::path::Path::new(a)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "rl".into());
    let cli = match Cli::command()
        .bin_name(name)
        .try_get_matches_from(args)
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => {
            let code = e.exit_code();
            // Help and the version are printed on stdout, and are no failure.
            if !e.use_stderr() {
                let _ = e.print();
                return Ok(());
            }
            return Err(CliError {
                code: u8::try_from(code).unwrap_or(2),
                message: e.render().to_string().trim_end().to_string(),
                usage: Some(e),
            });
        }
    };
    quiet_environment_panics();
    let result = match cli.command {
        Command::Train(args) => train::run(*args, registry),
        Command::Eval(args) => eval::run(args, registry),
        Command::Envs => envs(registry),
        Command::CheckEnv(args) => check_env::run(args, registry),
        Command::Export(args) => export::run(args, registry),
        Command::Bench(args) => bench::run(args),
        Command::Compare(args) => compare::compare(*args, registry),
        Command::Plot(args) => compare::plot(args, registry),
        Command::Credit(args) => credit::run(args, registry),
        Command::Render(args) => render::run(args, registry),
    };
    result.map_err(|f| match f {
        Failure::Usage(e) => CliError {
            code: 2,
            message: format!("error: {e:#}"),
            usage: None,
        },
        Failure::Runtime(e) => CliError {
            code: 1,
            message: format!("error: {e:#}"),
            usage: None,
        },
        Failure::Interrupted(m) => CliError {
            code: 130,
            message: m,
            usage: None,
        },
    })
}

/// A panic inside an environment becomes an error naming it (see
/// `rl_core::VecEnv`): its message is part of that error, so the default hook's report
/// (and any backtrace) is left out. Every other panic is reported as usual.
fn quiet_environment_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !rl_core::in_environment() {
                default(info);
            }
        }));
    });
}

fn envs(registry: &Registry) -> Result<(), Failure> {
    let mut text = String::new();
    for source in registry.sources() {
        let spec = usage(
            source
                .spec(&rl_train::TrainConfig::default())
                .map_err(anyhow::Error::from),
        )?;
        let limit = match (spec.max_episode_steps, spec.single_step) {
            (Some(n), _) => format!("{n} steps"),
            (None, true) => "none (one step per episode)".to_string(),
            (None, false) => "none".to_string(),
        };
        text += &format!(
            "{}\n  actions:      {}\n  observations: {}\n  time limit:   {limit}\n",
            spec.id, spec.action_space, spec.observation_space
        );
    }
    text += &format!("\nalgorithms: {}\n", Algo::ALL.map(|a| a.name()).join(", "));
    text += &format!(
        "tuned presets (rl train --algo A --env E uses them): {}\n",
        registry.preset_names().join(", ")
    );
    emit(&text)
}

/// Reads `--config FILE.toml`: a table of `[train]` keys, checked when it is layered over
/// the learner's defaults and preset.
pub(crate) fn load_config_file(path: &std::path::Path) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    text.parse()
        .with_context(|| format!("invalid config file {}", path.display()))
}
