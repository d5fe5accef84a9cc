//! Data-parallel training end to end: two `rl train` workers under `mpirun`, on this
//! machine only (shared memory between the processes, mpirun's own channel on the
//! loopback interface). Built with `--features mpi`; needs Open MPI's `mpirun`.
#![cfg(feature = "mpi")]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{rl, text};

/// `mpirun -np 2 rl train ARGS --workers 2`, loopback only, bounded in time.
fn mpirun(args: &[String]) -> Command {
    let mut c = Command::new("mpirun");
    c.args(["-np", "2", "--oversubscribe"])
        // Between the two processes: shared memory; mpirun's control: loopback only.
        .args([
            "--mca",
            "btl",
            "self,vader",
            "--mca",
            "oob_tcp_if_include",
            "lo",
        ])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .arg(env!("CARGO_BIN_EXE_rl"))
        .args(["train", "--worker-timeout", "20", "--quiet"])
        .args(args);
    c
}

/// PPO on CartPole for `steps` environment steps into `dir`, a checkpoint every 4
/// updates.
fn ppo(steps: &str, dir: &Path) -> Vec<String> {
    let args = [
        "--env",
        "CartPole-v1",
        "--algo",
        "ppo",
        "--hidden",
        "16,16",
        "--total-steps",
        steps,
        "--checkpoint-every",
        "4",
        "--out",
        dir.to_str().unwrap(),
        "--workers",
        "2",
    ];
    args.map(String::from).to_vec()
}

fn run(args: &[String]) -> Output {
    mpirun(args).output().expect("mpirun runs")
}

fn files(dir: &Path) -> [Vec<u8>; 2] {
    ["metrics.csv", "model.mpk"].map(|f| std::fs::read(dir.join(f)).unwrap())
}

/// The pid of `rank`'s process of the job training into `dir`.
fn rank_pid(dir: &Path, rank: u32) -> Option<u32> {
    let want = format!("OMPI_COMM_WORLD_RANK={rank}");
    let needle = dir.to_str().unwrap();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if !cmdline.contains(needle) || cmdline.starts_with("mpirun") {
            continue;
        }
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if environ.split(|&b| b == 0).any(|v| v == want.as_bytes()) {
            return Some(pid);
        }
    }
    None
}

#[test]
fn two_workers_train_reproducibly_and_resume_exactly_after_a_worker_is_killed() {
    let tmp = tempfile::tempdir().unwrap();

    // Two identical runs: every update checks that both workers hold the same weights
    // (a divergence stops the run), and the same seed gives the same bytes.
    let a = tmp.path().join("a");
    let out = run(&ppo("8192", &a));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("rank 1: done after"), "{}", text(&out));
    let b = tmp.path().join("b");
    let out = run(&ppo("8192", &b));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(files(&a), files(&b), "same seed, same bytes");
    // Rank 0's metrics cover both workers' episodes, up to the run's step count.
    let metrics = String::from_utf8(files(&a)[0].clone()).unwrap();
    let last = metrics.lines().last().unwrap();
    let steps: u64 = last.split(',').nth(1).unwrap().parse().unwrap();
    assert!(steps <= 8192 && steps > 7000, "{last}");

    // A worker killed mid-run: the job stops, with a message, within a bounded time.
    let budget = "60000";
    let k = tmp.path().join("killed");
    let job = mpirun(&ppo(budget, &k))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let victim = loop {
        let going = std::fs::read_to_string(k.join("metrics.csv"))
            .map(|m| m.lines().count() > 20)
            .unwrap_or(false);
        if going && let Some(pid) = rank_pid(&k, 1) {
            break pid;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the job never got going"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let killed_at = Instant::now();
    let kill = Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status();
    assert!(kill.unwrap().success());
    let out = job.wait_with_output().unwrap();
    let stopped_in = killed_at.elapsed();
    assert!(!out.status.success());
    assert!(stopped_in < Duration::from_secs(60), "{stopped_in:?}");
    let said = text(&out);
    assert!(
        said.contains("exited on signal 9") || said.contains("no answer from the other workers"),
        "{said}"
    );
    let partial = std::fs::read_to_string(k.join("metrics.csv")).unwrap();

    // Resumed on two workers, it ends exactly where the run left alone ends.
    let resume = ["--resume", k.to_str().unwrap(), "--workers", "2"].map(String::from);
    let out = run(&resume);
    assert!(out.status.success(), "{}", text(&out));
    let alone = tmp.path().join("alone");
    let out = run(&ppo(budget, &alone));
    assert!(out.status.success(), "{}", text(&out));
    let full = String::from_utf8(files(&alone)[0].clone()).unwrap();
    assert!(
        partial.lines().count() < full.lines().count(),
        "killed before the end"
    );
    assert_eq!(files(&k), files(&alone));

    // On a different number of workers, the run is refused, not resumed.
    let out = rl(&["train", "--resume", k.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("2 data-parallel workers"),
        "{}",
        text(&out)
    );
}

#[test]
fn workers_that_mpirun_did_not_start_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    // Three workers asked for, two started.
    let mut args = ppo("1024", &tmp.path().join("r"));
    let n = args.len();
    args[n - 1] = "3".into();
    let out = run(&args);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("--workers 3 but MPI started 2 process(es)"),
        "{}",
        text(&out)
    );
}
