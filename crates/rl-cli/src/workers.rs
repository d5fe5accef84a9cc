//! `mpirun -np W rl train --workers W ...`: one worker of a data-parallel run (rl-train's
//! `collective`, over MPI).
//!
//! Every worker runs the same command; MPI gives each its rank. Rank 0 is the run: it
//! owns the run folder (lock, logs, checkpoints holding every worker's environments and
//! generators, the model) and reports every worker's episodes. The other ranks write
//! nothing; on `--resume` they receive their state from rank 0.

use std::time::Duration;

use anyhow::anyhow;
use clap::Args;
use rl_models::backend::{TrainBackend, device};
use rl_train::collective::Collective;
use rl_train::{Learner, Registry, TrainConfig, TrainError};

use crate::Failure;
use crate::train::{Outcome, failure, interrupted};

/// How many workers train the run, and how long they wait for each other.
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Train as one of W data-parallel workers started by `mpirun -np W`, each stepping
    /// n_envs / W of the run's environments (needs an rl built with `--features mpi`).
    #[arg(long, default_value_t = 1, value_name = "W")]
    pub workers: usize,
    /// Seconds a worker waits for the others (to start, and at each exchange) before it
    /// stops with an error.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub worker_timeout: u64,
}

impl WorkerArgs {
    /// Joins the other workers; `None` alone.
    pub fn join(&self) -> Result<Option<Box<dyn Collective>>, Failure> {
        if self.workers == 1 {
            return Ok(None);
        }
        let bad = |m: String| Err(Failure::Usage(anyhow!(m)));
        if self.workers == 0 {
            return bad("--workers must be at least 1".into());
        }
        if self.worker_timeout == 0 {
            return bad("--worker-timeout must be at least 1 second".into());
        }
        let team = connect(Duration::from_secs(self.worker_timeout))?;
        if team.workers() != self.workers {
            return bad(format!(
                "--workers {} but MPI started {} process(es): launch with `mpirun -np {} rl train ...`",
                self.workers,
                team.workers(),
                self.workers
            ));
        }
        Ok(Some(team))
    }
}

#[cfg(feature = "mpi")]
fn connect(timeout: Duration) -> Result<Box<dyn Collective>, Failure> {
    rl_train::collective::mpi::MpiCollective::join(timeout)
        .map(|c| Box::new(c) as Box<dyn Collective>)
        .map_err(|e| Failure::Runtime(anyhow!("{e}")))
}

#[cfg(not(feature = "mpi"))]
fn connect(_: Duration) -> Result<Box<dyn Collective>, Failure> {
    Err(Failure::Usage(anyhow!(
        "--workers needs an rl built with MPI: cargo build --release --features mpi (with Open MPI and libclang installed)"
    )))
}

/// One line on stderr: this worker's exchanges with the others and the time they took.
pub fn report_exchanges(learner: &Learner<TrainBackend>) {
    if let Some((n, t)) = learner.exchanges() {
        eprintln!(
            "rank {}: {n} exchanges with the other workers, {:.3} s in all ({:.0} µs each, waiting for them included)",
            learner.rank().0,
            t.as_secs_f64(),
            t.as_secs_f64() * 1e6 / n.max(1) as f64
        );
    }
}

/// Checks that every worker was given the same configuration (each fails with the same
/// message otherwise).
pub fn check_same_config(team: &mut dyn Collective, cfg: &TrainConfig) -> Result<(), Failure> {
    let text = toml::to_string(cfg).map_err(|e| Failure::Runtime(e.into()))?;
    let print = rl_train::collective::fingerprint(text.bytes().map(f32::from));
    rl_train::collective::check_same(team, print, "configurations").map_err(|e| {
        Failure::Usage(anyhow!(
            "{e}: every worker must be given the same training flags and config file"
        ))
    })
}

/// A worker after the first: trains in step with rank 0, taking part in every exchange
/// rank 0's [`Session`](crate::train::Session) makes (its checkpoints included), and
/// writes nothing.
pub fn follow(
    registry: &Registry,
    cfg: Option<TrainConfig>,
    mut team: Box<dyn Collective>,
) -> Result<(), Failure> {
    let rank = team.rank();
    let fresh = cfg.is_some();
    let mut learner = match cfg {
        Some(cfg) => {
            cfg.validate().map_err(|e| Failure::Usage(e.into()))?;
            check_same_config(team.as_mut(), &cfg)?;
            Learner::<TrainBackend>::new_worker(registry, cfg, device(), team)
        }
        None => Learner::<TrainBackend>::resume_worker(registry, None, device(), team),
    }
    .map_err(failure)?;
    let every = learner.config().checkpoint_every;
    let run = |learner: &mut Learner<TrainBackend>| -> Result<Outcome, TrainError> {
        // The same exchanges, in the same order, as Session::start and Session::train.
        if fresh {
            learner.state()?;
        }
        let mut last_checkpoint = learner.updates();
        while !learner.is_done() {
            learner.update()?;
            if learner.any_worker(interrupted())? {
                learner.state()?;
                return Ok(Outcome::Interrupted);
            }
            if learner.updates().is_multiple_of(every) {
                learner.state()?;
                last_checkpoint = learner.updates();
            }
        }
        if last_checkpoint != learner.updates() {
            learner.state()?;
        }
        Ok(Outcome::Done)
    };
    match run(&mut learner) {
        Ok(Outcome::Done) => {
            report_exchanges(&learner);
            eprintln!(
                "rank {rank}: done after {} updates ({} steps in the run)",
                learner.updates(),
                learner.env_steps()
            );
            Ok(())
        }
        Ok(Outcome::Interrupted) => Err(Failure::Interrupted(format!(
            "rank {rank}: the run was interrupted after update {}; rank 0 wrote its checkpoint",
            learner.updates()
        ))),
        Err(e) => Err(Failure::Runtime(anyhow!("rank {rank}: {e}"))),
    }
}
