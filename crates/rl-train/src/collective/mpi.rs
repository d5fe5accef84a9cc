//! Workers in separate processes, on one machine or several, joined by MPI (Open MPI,
//! started with `mpirun`), through rsmpi: one `MPI_Allreduce` (sum) per exchange.
//!
//! MPI waits for its peers without a deadline, and a process that dies is noticed by
//! `mpirun` (which then stops the job), not by the survivors' calls. So MPI lives on a
//! thread of its own (it initialises MPI there and makes every call), and each
//! exchange is awaited here with a deadline: a worker that died or stalled makes the
//! others fail with a clear error instead of hanging, whoever notices first.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mpi::collective::SystemOperation;
use mpi::traits::{Communicator, CommunicatorCollectives};

use super::{Collective, CollectiveError};

/// This process's place in an MPI job: one worker of a run.
pub struct MpiCollective {
    rank: usize,
    workers: usize,
    timeout: Duration,
    jobs: Option<Sender<Vec<f32>>>,
    results: Receiver<Result<Vec<f32>, CollectiveError>>,
    thread: Option<JoinHandle<()>>,
    broken: Option<CollectiveError>,
    /// Exchanges made, and the time spent in them.
    spent: (u64, Duration),
}

impl std::fmt::Debug for MpiCollective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpiCollective")
            .field("rank", &self.rank)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl MpiCollective {
    /// Initialises MPI (once per process) and joins the job `mpirun` started; waits at
    /// most `timeout` for MPI to start and at each exchange after.
    pub fn join(timeout: Duration) -> Result<Self, CollectiveError> {
        let (jobs, job_rx) = mpsc::channel::<Vec<f32>>();
        let (result_tx, results) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("rl-mpi".into())
            .spawn(move || serve(job_rx, result_tx))
            .map_err(|e| CollectiveError(format!("cannot start the MPI thread: {e}")))?;
        let mut c = Self {
            rank: 0,
            workers: 1,
            timeout,
            jobs: Some(jobs),
            results,
            thread: Some(thread),
            broken: None,
            spent: (0, Duration::ZERO),
        };
        let place = c.wait("starting MPI")?;
        c.rank = place[0] as usize;
        c.workers = place[1] as usize;
        Ok(c)
    }

    fn wait(&mut self, what: &str) -> Result<Vec<f32>, CollectiveError> {
        let out = match self.results.recv_timeout(self.timeout) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => Err(CollectiveError(format!(
                "no answer from the other workers within {} s while {what}: a worker has stopped or cannot be reached",
                self.timeout.as_secs_f64()
            ))),
            Err(RecvTimeoutError::Disconnected) => {
                Err(CollectiveError(format!("MPI stopped while {what}")))
            }
        };
        if let Err(e) = &out {
            self.broken = Some(e.clone());
        }
        out
    }
}

/// The MPI thread: initialises MPI, reports `[rank, size]`, then sums each job's buffer
/// over the job's processes; finalises MPI when the jobs end.
fn serve(jobs: Receiver<Vec<f32>>, results: Sender<Result<Vec<f32>, CollectiveError>>) {
    // Only this thread calls MPI.
    let Some((universe, _)) = mpi::initialize_with_threading(mpi::Threading::Funneled) else {
        let _ = results.send(Err(CollectiveError(
            "MPI was already initialised in this process".into(),
        )));
        return;
    };
    let world = universe.world();
    let place = vec![world.rank() as f32, world.size() as f32];
    if results.send(Ok(place)).is_err() {
        return;
    }
    for values in jobs {
        let mut out = vec![0.0f32; values.len()];
        world.all_reduce_into(&values[..], &mut out[..], SystemOperation::sum());
        if results.send(Ok(out)).is_err() {
            return;
        }
    }
    // `universe` drops here: MPI_Finalize, once every worker is done.
}

impl Drop for MpiCollective {
    /// Ends the MPI thread, which finalises MPI (waiting for the others at most the
    /// timeout: a broken job is left to `mpirun`).
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(t) = self.thread.take()
            && self.broken.is_none()
        {
            let (done_tx, done) = mpsc::channel();
            std::thread::spawn(move || {
                let _ = t.join();
                let _ = done_tx.send(());
            });
            let _ = done.recv_timeout(self.timeout);
        }
    }
}

impl Collective for MpiCollective {
    fn rank(&self) -> usize {
        self.rank
    }

    fn workers(&self) -> usize {
        self.workers
    }

    fn sum(&mut self, values: Vec<f32>) -> Result<Vec<f32>, CollectiveError> {
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        let n = values.len();
        let start = Instant::now();
        let sent = self.jobs.as_ref().map(|j| j.send(values));
        if !matches!(sent, Some(Ok(()))) {
            return Err(CollectiveError("the MPI thread has stopped".into()));
        }
        let out = self.wait("exchanging gradients or records")?;
        debug_assert_eq!(out.len(), n);
        self.spent.0 += 1;
        self.spent.1 += start.elapsed();
        Ok(out)
    }

    fn spent(&self) -> Option<(u64, Duration)> {
        Some(self.spent)
    }
}
