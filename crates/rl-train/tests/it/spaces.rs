//! The richer spaces and action masks, learned end to end: a task that cannot be solved
//! without its masks (and is, with them), multi-discrete actions under a `Dict`
//! observation, multi-binary actions under a `Tuple` observation, and exact resume of
//! a masked run.

use std::ops::ControlFlow;

use rl_core::rng::{self, Rng, RngExt};
use rl_core::{Action, Env, EnvSpec, Space, Step};
use rl_models::backend::{TrainBackend as B, device};
use rl_train::{Algo, EnvSource, Learner, TrainConfig};
use serde::{Deserialize, Serialize};

/// Locks: four actions, two of them allowed at each step (drawn at random, shown only by
/// the mask); the observation names the preferred action. An allowed action pays 1 if it
/// is the preferred one, 0.2 otherwise; a forbidden one ends the episode with nothing.
/// Sixteen steps: the best policy with masks earns 0.6 a step (9.6), while without them
/// the best any policy can do is about 1 (it cannot see which actions are allowed).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Locks {
    rng: Rng,
    t: usize,
    preferred: usize,
    obs: [f32; 4],
    mask: [bool; 4],
    /// With `false`, the masks are hidden: the same task without them.
    show_mask: bool,
}

impl Locks {
    fn new(show_mask: bool) -> Self {
        Self {
            rng: rng::seeded(0),
            t: 0,
            preferred: 0,
            obs: [0.0; 4],
            mask: [true; 4],
            show_mask,
        }
    }

    fn draw(&mut self) {
        let first = self.rng.random_range(0..4);
        let second = (first + self.rng.random_range(1..4)) % 4;
        self.mask = [false; 4];
        self.mask[first] = true;
        self.mask[second] = true;
        self.preferred = self.rng.random_range(0..4);
        self.obs = [0.0; 4];
        self.obs[self.preferred] = 1.0;
    }
}

impl Env for Locks {
    fn spec(&self) -> EnvSpec {
        EnvSpec::new(
            "Locks-v0",
            Space::boxed(vec![0.0; 4], vec![1.0; 4]),
            Space::Discrete { n: 4 },
        )
        .with_time_limit(16)
    }

    fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        if let Some(seed) = seed {
            self.rng = rng::seeded(seed);
        }
        self.t = 0;
        self.draw();
        &self.obs
    }

    fn step(&mut self, action: Action<'_>) -> rl_core::Result<Step<'_>> {
        let Action::Discrete(a) = action else {
            unreachable!("Discrete(4) actions")
        };
        self.t += 1;
        let allowed = self.mask[a];
        let reward = match (allowed, a == self.preferred) {
            (false, _) => 0.0,
            (true, true) => 1.0,
            (true, false) => 0.2,
        };
        self.draw();
        Ok(Step {
            observation: &self.obs,
            reward,
            terminated: !allowed,
            truncated: allowed && self.t == 16,
        })
    }

    fn action_mask(&self) -> Option<&[bool]> {
        self.show_mask.then_some(&self.mask[..])
    }
}

/// Dials: three dials of 3, 2 and 4 positions; each step the observation (a `Dict` of the
/// dials' targets, one-hot, and a noise value) names a target per dial, and the
/// multi-discrete action sets the dials. A third of a point per dial on target; eight
/// steps, so at most 8.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Dials {
    rng: Rng,
    t: usize,
    targets: [usize; 3],
    obs: Vec<f32>,
}

const NVEC: [usize; 3] = [3, 2, 4];

impl Dials {
    fn new() -> Self {
        Self {
            rng: rng::seeded(0),
            t: 0,
            targets: [0; 3],
            obs: vec![0.0; 10],
        }
    }

    fn draw(&mut self) {
        // The Dict's keys in Gymnasium's (sorted) order: "dials", then "noise".
        self.obs.fill(0.0);
        let mut at = 0;
        for (k, &n) in NVEC.iter().enumerate() {
            self.targets[k] = self.rng.random_range(0..n);
            self.obs[at + self.targets[k]] = 1.0;
            at += n;
        }
        self.obs[9] = self.rng.random_range(-1.0..1.0);
    }
}

impl Env for Dials {
    fn spec(&self) -> EnvSpec {
        let obs = Space::dict([
            ("noise".into(), Space::boxed(vec![-1.0], vec![1.0])),
            (
                "dials".into(),
                Space::MultiDiscrete {
                    nvec: NVEC.to_vec(),
                },
            ),
        ]);
        EnvSpec::new(
            "Dials-v0",
            obs,
            Space::MultiDiscrete {
                nvec: NVEC.to_vec(),
            },
        )
        .with_time_limit(8)
    }

    fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        if let Some(seed) = seed {
            self.rng = rng::seeded(seed);
        }
        self.t = 0;
        self.draw();
        &self.obs
    }

    fn step(&mut self, action: Action<'_>) -> rl_core::Result<Step<'_>> {
        let Action::MultiDiscrete(a) = action else {
            unreachable!("MultiDiscrete actions")
        };
        self.t += 1;
        let hits = a
            .iter()
            .zip(self.targets)
            .filter(|(a, t)| **a == *t)
            .count();
        self.draw();
        Ok(Step {
            observation: &self.obs,
            reward: hits as f64 / 3.0,
            terminated: false,
            truncated: self.t == 8,
        })
    }
}

/// Switches: four switches; the observation (a `Tuple` of the wanted positions, as
/// multi-binary flags, and a discrete phase) says how each should be set, and the
/// multi-binary action sets them. A quarter of a point per switch set right; eight
/// steps, so at most 8.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Switches {
    rng: Rng,
    t: usize,
    wanted: [usize; 4],
    obs: [f32; 6],
}

impl Env for Switches {
    fn spec(&self) -> EnvSpec {
        let obs = Space::Tuple(vec![Space::MultiBinary { n: 4 }, Space::Discrete { n: 2 }]);
        EnvSpec::new("Switches-v0", obs, Space::MultiBinary { n: 4 }).with_time_limit(8)
    }

    fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        if let Some(seed) = seed {
            self.rng = rng::seeded(seed);
        }
        self.t = 0;
        self.draw();
        &self.obs
    }

    fn step(&mut self, action: Action<'_>) -> rl_core::Result<Step<'_>> {
        let Action::MultiDiscrete(a) = action else {
            unreachable!("MultiBinary actions")
        };
        self.t += 1;
        let right = a.iter().zip(self.wanted).filter(|(a, w)| **a == *w).count();
        self.draw();
        Ok(Step {
            observation: &self.obs,
            reward: right as f64 / 4.0,
            terminated: false,
            truncated: self.t == 8,
        })
    }
}

impl Switches {
    fn new() -> Self {
        Self {
            rng: rng::seeded(0),
            t: 0,
            wanted: [0; 4],
            obs: [0.0; 6],
        }
    }

    fn draw(&mut self) {
        for k in 0..4 {
            self.wanted[k] = self.rng.random_range(0..2);
            self.obs[k] = self.wanted[k] as f32;
        }
        let phase = self.t % 2;
        self.obs[4] = (phase == 0) as u8 as f32;
        self.obs[5] = (phase == 1) as u8 as f32;
    }
}

/// PPO on the environments `source` makes; the mean return of the last `last` episodes.
fn train(source: EnvSource, total_steps: u64, last: usize) -> f64 {
    let cfg = TrainConfig {
        env: source.id().to_string(),
        n_envs: 8,
        steps_per_update: Some(256),
        minibatches: 4,
        epochs: 4,
        lr: 3e-3,
        anneal_lr: false,
        total_steps: Some(total_steps),
        hidden: vec![32, 32],
        ..TrainConfig::for_algo(Algo::Ppo)
    };
    let mut learner = Learner::<B>::with_env(source, cfg, device()).unwrap();
    let mut returns = Vec::new();
    learner
        .run(|r| {
            returns.extend(r.episodes.iter().map(|e| e.episodic_return));
            ControlFlow::Continue(())
        })
        .unwrap();
    let tail = &returns[returns.len().saturating_sub(last)..];
    tail.iter().sum::<f64>() / tail.len() as f64
}

#[test]
fn a_task_that_needs_its_masks_is_solved_with_them_and_not_without() {
    let with = train(
        EnvSource::resumable("Locks-v0", |_: &TrainConfig| Ok(Locks::new(true))),
        40_000,
        100,
    );
    // The best masked policy earns 9.6, acting at random among the allowed 6.4.
    assert!(with > 8.8, "with masks: {with}");
    let without = train(
        EnvSource::resumable("Locks-v0", |_: &TrainConfig| Ok(Locks::new(false))),
        40_000,
        100,
    );
    assert!(without < 2.0, "without masks: {without}");
}

#[test]
fn multi_discrete_actions_learn_under_a_dict_observation() {
    let mean = train(
        EnvSource::resumable("Dials-v0", |_: &TrainConfig| Ok(Dials::new())),
        40_000,
        100,
    );
    // Random dials score (1/3 + 1/2 + 1/4) / 3 a step, 2.9 an episode; the best, 8.
    assert!(mean > 7.5, "{mean}");
}

#[test]
fn multi_binary_actions_learn_under_a_tuple_observation() {
    let mean = train(
        EnvSource::resumable("Switches-v0", |_: &TrainConfig| Ok(Switches::new())),
        40_000,
        100,
    );
    // Random switches score 4 an episode; the best, 8.
    assert!(mean > 7.5, "{mean}");
}

#[test]
fn masked_and_multi_discrete_runs_resume_exactly() {
    // The masks and the multi-discrete actions are in the rollout, the environments'
    // snapshot in the state.
    type Make = fn() -> EnvSource;
    let sources: [(&str, Make); 2] = [
        ("Locks-v0", || {
            EnvSource::resumable("Locks-v0", |_: &TrainConfig| Ok(Locks::new(true)))
        }),
        ("Dials-v0", || {
            EnvSource::resumable("Dials-v0", |_: &TrainConfig| Ok(Dials::new()))
        }),
    ];
    for (id, source) in sources {
        let cfg = TrainConfig {
            env: id.into(),
            n_envs: 2,
            steps_per_update: Some(32),
            minibatches: 2,
            epochs: 2,
            total_steps: Some(32 * 6),
            hidden: vec![8],
            ..TrainConfig::for_algo(Algo::Ppo)
        };
        let report = |l: &mut Learner<B>| {
            let r = l.update().unwrap();
            format!(
                "{:?} {} {} {}",
                r.episodes, r.policy_loss, r.value_loss, r.entropy
            )
        };
        let mut straight = Learner::<B>::with_env(source(), cfg.clone(), device()).unwrap();
        let want: Vec<String> = (0..6).map(|_| report(&mut straight)).collect();
        let mut first = Learner::<B>::with_env(source(), cfg, device()).unwrap();
        let mut got: Vec<String> = (0..3).map(|_| report(&mut first)).collect();
        let state = first.state().unwrap();
        let mut resumed = Learner::<B>::from_state_with_env(source(), state, device()).unwrap();
        assert!(!resumed.restarted_episodes());
        got.extend((0..3).map(|_| report(&mut resumed)));
        assert_eq!(got, want, "{id}");
    }
}
