//! Bad environments never corrupt a run. An environment of a user's that panics, returns
//! a NaN or infinite value, an observation of the wrong length or a mask that allows no
//! action stops training with an error naming the environment, its index and the step;
//! the last good checkpoint is kept, nothing is learned from the bad step, and the exit
//! code is 1. `rl check-env` finds the same faults and exits with 2.
//!
//! These run the command line in this process (`rl_cli::run`), over a registry holding
//! the faulty environments, as a user's own `main.rs` would.

use std::path::Path;

use rl_core::{Action, CartPole, Env, EnvSpec, Result, Step, VecEnv, VectorEnv};
use rl_train::{EnvSource, Registry, TrainConfig};

/// CartPole whose environment `1` goes wrong, as `fault` says, at its 100th step.
#[derive(Debug, Clone)]
struct Faulty {
    inner: CartPole,
    fault: &'static str,
    faulty: bool,
    steps: usize,
    obs: Vec<f32>,
    mask: [bool; 2],
}

impl Env for Faulty {
    fn spec(&self) -> EnvSpec {
        let mut spec = self.inner.spec();
        spec.id = format!("Faulty-{}-v0", self.fault.replace(' ', "-"));
        spec
    }

    fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        self.obs = self.inner.reset(seed).to_vec();
        &self.obs
    }

    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        self.steps += 1;
        let bad = self.faulty && self.steps == 100;
        let step = self.inner.step(action)?;
        let (mut reward, terminated, truncated) = (step.reward, step.terminated, step.truncated);
        self.obs = step.observation.to_vec();
        if bad {
            match self.fault {
                "panic" => panic!("the physics engine diverged"),
                "nan" => self.obs[2] = f32::NAN,
                "infinite reward" => reward = f64::INFINITY,
                "wrong length" => self.obs.push(0.0),
                "empty mask" => self.mask = [false, false],
                other => unreachable!("{other}"),
            }
        }
        Ok(Step {
            observation: &self.obs,
            reward,
            terminated,
            truncated,
        })
    }

    fn action_mask(&self) -> Option<&[bool]> {
        (self.fault == "empty mask").then_some(&self.mask[..])
    }
}

const FAULTS: [(&str, &str); 5] = [
    ("panic", "it panicked: the physics engine diverged"),
    ("nan", "it returned the observation value NaN at index 2"),
    ("infinite reward", "it returned the reward inf"),
    ("wrong length", "it returned an observation of 5 values"),
    ("empty mask", "its action mask allows no action"),
];

/// The source of the environment that goes wrong as `fault` says, environment `index`
/// of each vector being the faulty one.
fn source(fault: &'static str, index: usize) -> EnvSource {
    let id = format!("Faulty-{}-v0", fault.replace(' ', "-"));
    EnvSource::vector(id, move |_: &TrainConfig, n| {
        let v = VecEnv::from_fn(n, |i| Faulty {
            inner: CartPole::new(),
            fault,
            faulty: i == index,
            steps: 0,
            obs: Vec::new(),
            mask: [true, true],
        })
        .map_err(|e| e.to_string())?;
        Ok(Box::new(v) as Box<dyn VectorEnv>)
    })
}

/// The built-ins, and every faulty environment with environment `index` the faulty one.
fn registry(index: usize) -> Registry {
    FAULTS.iter().fold(Registry::builtin(), |r, &(fault, _)| {
        r.with(source(fault, index))
    })
}

fn run(registry: &Registry, args: &[&str]) -> std::result::Result<(), rl_cli::CliError> {
    let mut all = vec!["rl"];
    all.extend_from_slice(args);
    rl_cli::run(registry, all)
}

/// The update of the run folder's checkpoint.
fn checkpoint_update(dir: &Path) -> u64 {
    #[derive(serde::Deserialize)]
    struct Head {
        learner: rl_train::LearnerState,
    }
    let bytes = std::fs::read(dir.join("checkpoint.bin")).unwrap();
    let head: Head = rl_train::checkpoint::decode(&bytes, 3).unwrap();
    head.learner.updates
}

#[test]
fn a_misbehaving_environment_stops_training_with_its_name_and_keeps_the_last_checkpoint() {
    let registry = registry(1);
    for (fault, what) in FAULTS {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let env = format!("faulty-{}-v0", fault.replace(' ', "-"));
        // Two environments of 32 steps an update: environment 1's 100th step is in
        // update 4; a checkpoint after every update.
        let e = run(
            &registry,
            &[
                "train",
                "--env",
                &env,
                "--algo",
                "ppo",
                "--n-envs",
                "2",
                "--steps-per-update",
                "64",
                "--minibatches",
                "2",
                "--total-steps",
                "6400",
                "--hidden",
                "8",
                "--checkpoint-every",
                "1",
                "--quiet",
                "--out",
                out.to_str().unwrap(),
            ],
        )
        .unwrap_err();
        let message = e.to_string();
        assert_eq!(e.code(), 1, "{fault}: {message}");
        assert!(message.contains(what), "{fault}: {message}");
        assert!(
            message.contains(&format!(
                "environment 1 (Faulty-{}-v0) misbehaved at step",
                fault.replace(' ', "-")
            )),
            "{fault}: {message}"
        );
        assert!(
            message.contains("The last good checkpoint (update 3,"),
            "{fault}: {message}"
        );
        assert!(!message.contains("panicked at"), "no backtrace: {message}");
        // The checkpoint is the one before the bad update: nothing was learned from it.
        assert_eq!(checkpoint_update(&out), 3, "{fault}");
        assert!(!out.join("model.mpk").exists(), "{fault}");
        let metrics = std::fs::read_to_string(out.join("updates.csv")).unwrap();
        assert_eq!(metrics.lines().count(), 1 + 3, "{fault}: {metrics}");
    }
}

#[test]
fn check_env_finds_each_fault_and_exits_with_2() {
    // The checker steps one environment: environment 0, the faulty one here.
    let registry = registry(0);
    for (fault, _) in FAULTS {
        let env = format!("Faulty-{}-v0", fault.replace(' ', "-"));
        let e = run(&registry, &["check-env", &env, "--steps", "300"]).unwrap_err();
        assert_eq!(e.code(), 2, "{fault}: {e}");
        assert!(
            e.to_string().contains("breaks the environment contract"),
            "{e}"
        );
    }
    // The built-ins pass.
    assert!(run(&registry, &["check-env", "cartpole-v1", "--steps", "500"]).is_ok());
}
