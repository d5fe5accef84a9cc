//! Training that survives: a real `rl train` process killed (SIGKILL) at random points, or
//! interrupted with Ctrl-C (SIGINT), and resumed, ends with the same bytes as the run left
//! alone: `metrics.csv` and `model.mpk`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::tfevents;
use rl_core::rng::{self, RngExt};

fn rl() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rl"));
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn train(out: &Path, flags: &[&str]) -> Command {
    let mut c = rl();
    c.arg("train")
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .args(flags);
    c
}

fn resume(out: &Path) -> Command {
    let mut c = rl();
    c.arg("train").arg("--resume").arg(out).arg("--quiet");
    c
}

/// The files that must match, byte for byte (`normalization.json` is empty for a run
/// that does not normalise).
fn result(out: &Path) -> [Vec<u8>; 4] {
    let norm = std::fs::read(out.join("normalization.json")).unwrap_or_default();
    let [m, u, k] = ["metrics.csv", "updates.csv", "model.mpk"]
        .map(|f| std::fs::read(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")));
    [m, u, k, norm]
}

fn rows(out: &Path, file: &str) -> usize {
    std::fs::read_to_string(out.join(file))
        .map(|t| t.lines().count().saturating_sub(1))
        .unwrap_or(0)
}

/// Waits until `path` exists (the run has written its first checkpoint).
fn wait_for(path: &Path, child: &mut Child) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "rl train exited before writing {}",
            path.display()
        );
        assert!(start.elapsed() < Duration::from_secs(60), "no checkpoint");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The reference run, and how long it took.
fn reference(dir: &Path, flags: &[&str]) -> (PathBuf, Duration) {
    let out = dir.join("reference");
    let start = Instant::now();
    let o = train(&out, flags).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    (out, start.elapsed())
}

/// Starts the run, then kills it with SIGKILL `kills` times at random moments (the last
/// ones while it is resuming), then resumes it to the end.
fn kill_and_resume(flags: &[&str], kills: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (reference, took) = reference(dir.path(), flags);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut r = rng::seeded(seed);
    let out = dir.path().join("killed");
    let mut child = train(&out, flags).spawn().unwrap();
    wait_for(&out.join("checkpoint.bin"), &mut child);
    let mut log = Vec::new();
    for k in 0..kills {
        let after = took.mul_f64(r.random_range(0.0..0.7));
        std::thread::sleep(after);
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok();
        child.wait().unwrap();
        log.push(format!(
            "kill {k} after {after:?}: {} rows{}",
            rows(&out, "metrics.csv"),
            if finished { " (had finished)" } else { "" }
        ));
        child = resume(&out).spawn().unwrap();
    }
    let o = child.wait_with_output().unwrap();
    let log = format!("seed {seed}, reference {took:?}\n{}", log.join("\n"));
    assert!(o.status.success(), "{log}\n{}", text(&o));
    println!("{log}");
    assert!(
        result(&out) == result(&reference),
        "the resumed run differs from the one left alone\n{log}"
    );
    // TensorBoard shows the same points, none twice and none missing: each resume's START
    // event supersedes what the killed process wrote after its checkpoint. Only the
    // speed differs from run to run.
    let (mut got, mut want) = (tfevents::series(&out), tfevents::series(&reference));
    for s in [&mut got, &mut want] {
        for (_, v) in s.get_mut("charts/SPS").expect("SPS") {
            *v = 0.0;
        }
    }
    assert!(
        got == want,
        "TensorBoard's view of the resumed run differs\n{log}"
    );
    assert!(
        tfevents::files(&out).len() > 1,
        "a resumed run writes a new event file"
    );
    assert_eq!(
        rows(&out, "timing.csv"),
        rows(&out, "metrics.csv"),
        "timing.csv has a row per episode"
    );
}

#[test]
fn a_run_killed_at_random_points_resumes_to_the_same_bytes() {
    kill_and_resume(
        &[
            "--episodes",
            "400",
            "--seed",
            "5",
            "--checkpoint-every",
            "3",
        ],
        4,
    );
}

#[test]
fn a_batched_run_killed_while_checkpointing_resumes_to_the_same_bytes() {
    // A checkpoint after every update: kills land inside checkpoint writes too.
    kill_and_resume(
        &[
            "--episodes",
            "600",
            "--seed",
            "9",
            "--n-envs",
            "4",
            "--episodes-per-update",
            "8",
            "--checkpoint-every",
            "1",
        ],
        3,
    );
}

#[test]
fn ppo_and_a2c_killed_at_random_points_resume_to_the_same_bytes() {
    // PPO's minibatch generator, annealed learning rate and Adam state; A2C's RMSprop.
    kill_and_resume(
        &[
            "--algo",
            "ppo",
            "--total-steps",
            "30000",
            "--seed",
            "3",
            "--checkpoint-every",
            "2",
        ],
        3,
    );
    kill_and_resume(
        &[
            "--algo",
            "a2c",
            "--total-steps",
            "60000",
            "--seed",
            "4",
            "--checkpoint-every",
            "20",
        ],
        3,
    );
}

#[test]
fn a_normalised_gaussian_run_killed_at_random_points_resumes_to_the_same_bytes() {
    // The running statistics of observations and discounted returns, the per-environment
    // returns, clipped Gaussian actions.
    kill_and_resume(
        &[
            "--env",
            "pendulum-v1",
            "--algo",
            "ppo",
            "--no-preset",
            "--total-steps",
            "16384",
            "--normalize-obs",
            "true",
            "--normalize-reward",
            "true",
            "--log-std-init",
            "-0.5",
            "--seed",
            "6",
            "--checkpoint-every",
            "1",
        ],
        3,
    );
}

#[test]
fn a_gsde_run_killed_at_random_points_resumes_to_the_same_bytes() {
    // gSDE's exploration matrices, drawn at each rollout's start and every 4 steps, from
    // the run's generator.
    kill_and_resume(
        &[
            "--env",
            "mountaincarcontinuous-v0",
            "--algo",
            "a2c",
            "--no-preset",
            "--total-steps",
            "4000",
            "--steps-per-update",
            "20",
            "--use-sde",
            "true",
            "--sde-sample-freq",
            "4",
            "--seed",
            "2",
            "--checkpoint-every",
            "10",
        ],
        3,
    );
}

#[test]
fn ctrl_c_writes_a_checkpoint_and_says_how_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        "--episodes",
        "500",
        "--seed",
        "2",
        "--checkpoint-every",
        "1000",
    ];
    let (reference, _) = reference(dir.path(), &flags);
    let out = dir.path().join("interrupted");
    let mut child = train(&out, &flags).spawn().unwrap();
    wait_for(&out.join("checkpoint.bin"), &mut child);
    while rows(&out, "metrics.csv") < 50 && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(130), "{t}");
    assert!(
        t.contains(&format!("rl train --resume {}", out.display())),
        "{t}"
    );
    assert!(!t.contains("panicked"), "{t}");
    // What was written so far is the reference's beginning; no model yet.
    let partial = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let full = std::fs::read_to_string(reference.join("metrics.csv")).unwrap();
    assert!(rows(&out, "metrics.csv") < 500, "stopped early");
    assert!(full.starts_with(&partial), "{t}");
    assert!(!out.join("model.mpk").exists());

    let o = resume(&out).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("resuming"), "{}", text(&o));
    assert!(result(&out) == result(&reference));

    // Resuming a finished run changes nothing.
    let before = result(&out);
    let o = resume(&out).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("already complete"), "{}", text(&o));
    assert!(result(&out) == before);
}

#[test]
fn a_non_finite_loss_stops_naming_the_update_and_keeps_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nan");
    // A learning rate this large sends the weights to infinity in one step.
    let o = train(
        &out,
        &[
            "--lr",
            "1e30",
            "--episodes",
            "50",
            "--checkpoint-every",
            "1",
        ],
    )
    .output()
    .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("update 2: the loss is not finite"), "{t}");
    assert!(
        t.contains("last good checkpoint (update 1, episode 1)"),
        "{t}"
    );
    assert!(!t.contains("panicked"), "{t}");
    assert!(out.join("checkpoint.bin").exists());
    assert!(!out.join("model.mpk").exists());
}

#[test]
fn the_checkpoint_alone_restores_the_whole_run_folder() {
    // The first checkpoint is written before config.toml, so a run killed in between has
    // only the checkpoint. Whatever else is lost, resuming from the checkpoint alone
    // writes the configuration, the logs and the model again, identically.
    let dir = tempfile::tempdir().unwrap();
    let (reference, _) = reference(dir.path(), &["--episodes", "30", "--seed", "4"]);
    let out = dir.path().join("bare");
    std::fs::create_dir(&out).unwrap();
    std::fs::copy(reference.join("checkpoint.bin"), out.join("checkpoint.bin")).unwrap();
    let o = resume(&out).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(result(&out) == result(&reference));
    for f in ["config.toml", "timing.csv"] {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(reference.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn a_second_process_on_the_same_run_folder_is_refused_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("busy");
    // Long enough to be alive while the others try.
    let mut first = train(
        &out,
        &[
            "--algo",
            "ppo",
            "--total-steps",
            "100000000",
            "--checkpoint-every",
            "1",
        ],
    )
    .spawn()
    .unwrap();
    wait_for(&out.join("config.toml"), &mut first);
    let pid = first.id().to_string();
    let before = std::fs::read(out.join("config.toml")).unwrap();
    for second in [resume(&out), train(&out, &["--force", "--episodes", "3"])] {
        let o = { second }.output().unwrap();
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{t}");
        assert!(
            t.contains(&format!(
                "{} is in use by another rl process (pid {pid})",
                out.display()
            )),
            "{t}"
        );
    }
    // Nothing of the first run's was touched, and it is still training.
    assert_eq!(std::fs::read(out.join("config.toml")).unwrap(), before);
    assert!(first.try_wait().unwrap().is_none());
    first.kill().unwrap();
    first.wait().unwrap();
    // Once it is gone, the folder is free.
    let o = train(&out, &["--force", "--episodes", "3"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}
