//! Exact resume: a learner rebuilt from a checkpoint taken after any update continues bit
//! for bit like the learner that was never stopped.

use rl_models::ValueNetwork;
use rl_models::backend::{TrainBackend as B, device};
use rl_train::checkpoint::{decode, encode};
use rl_train::{Algo, Learner, LearnerState, TrainConfig, TrainError, UpdateReport};

/// Everything an update reports but the timing.
fn key(r: &UpdateReport) -> String {
    let r = UpdateReport {
        sps: 0.0,
        wall_time: 0.0,
        ..r.clone()
    };
    format!("{r:?}")
}

/// The network's saved bytes (weights and parameter ids).
fn weights(l: &Learner<B>) -> Vec<u8> {
    use burn::module::Module;
    use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
    Recorder::<B>::record(
        &NamedMpkBytesRecorder::<FullPrecisionSettings>::new(),
        l.model().clone().into_record(),
        (),
    )
    .unwrap()
}

/// Runs `total` updates straight, and again stopped after `stop` updates, written to
/// checkpoint bytes, read back and resumed; both must agree on every report and weight.
fn check_resume(cfg: TrainConfig, stop: usize, total: usize) {
    let mut straight = Learner::<B>::new(cfg.clone(), device()).unwrap();
    let want: Vec<String> = (0..total)
        .map(|_| key(&straight.update().unwrap()))
        .collect();

    let mut first = Learner::<B>::new(cfg.clone(), device()).unwrap();
    let mut got: Vec<String> = (0..stop).map(|_| key(&first.update().unwrap())).collect();
    let bytes = encode(1, &first.state().unwrap()).unwrap();
    drop(first);
    let state: LearnerState = decode(&bytes, 1).unwrap();
    let mut resumed = Learner::<B>::from_state(state, device()).unwrap();
    assert_eq!(resumed.updates(), stop as u64);
    got.extend((stop..total).map(|_| key(&resumed.update().unwrap())));

    assert_eq!(got, want, "{cfg:?}");
    assert_eq!(weights(&resumed), weights(&straight), "{cfg:?}");
    // And the optimiser state too: one more update each must still agree.
    assert_eq!(
        key(&resumed.update().unwrap()),
        key(&straight.update().unwrap())
    );
}

fn small() -> TrainConfig {
    TrainConfig {
        hidden: vec![16, 16],
        ..TrainConfig::default()
    }
}

#[test]
fn resume_is_exact_for_the_lesson_learners() {
    for algo in [Algo::Reinforce, Algo::Baseline] {
        check_resume(
            TrainConfig {
                algo,
                seed: 3,
                ..small()
            },
            7,
            15,
        );
    }
}

#[test]
fn resume_is_exact_with_batches_clipping_and_a_separate_value_network() {
    // Episodes mode over several environments (an environment past its quota is reset
    // before the next rollout: that flag must survive the checkpoint).
    check_resume(
        TrainConfig {
            n_envs: 2,
            episodes_per_update: 4,
            max_grad_norm: Some(0.5),
            value_network: ValueNetwork::Separate,
            ..small()
        },
        3,
        6,
    );
    // Steps mode: episodes cut by the rollout continue across the checkpoint.
    check_resume(
        TrainConfig {
            n_envs: 4,
            steps_per_update: Some(64),
            ..small()
        },
        5,
        9,
    );
    // A Gaussian policy and a continuous environment.
    check_resume(
        TrainConfig {
            env: "Pendulum-v1".into(),
            algo: Algo::Reinforce,
            steps_per_update: Some(128),
            ..small()
        },
        2,
        4,
    );
}

#[test]
fn resume_is_exact_for_ppo_and_a2c() {
    // PPO: shuffled minibatches over several epochs (the shuffling generator), the
    // annealed learning rate (its position), the clipped value loss, gradient clipping
    // and target_kl's early stop.
    check_resume(
        TrainConfig {
            hidden: vec![16, 16],
            n_envs: 2,
            steps_per_update: Some(64),
            minibatches: 4,
            epochs: 3,
            total_steps: Some(64 * 20),
            target_kl: Some(0.01),
            ..TrainConfig::for_algo(Algo::Ppo)
        },
        5,
        12,
    );
    // A2C: RMSprop's state, n-step rollouts over several environments.
    check_resume(
        TrainConfig {
            hidden: vec![16, 16],
            n_envs: 4,
            steps_per_update: Some(20),
            total_steps: Some(20 * 30),
            ..TrainConfig::for_algo(Algo::A2c)
        },
        7,
        15,
    );
    // PPO on a Gaussian policy.
    check_resume(
        TrainConfig {
            env: "Pendulum-v1".into(),
            hidden: vec![16],
            n_envs: 2,
            steps_per_update: Some(128),
            total_steps: Some(128 * 10),
            ..TrainConfig::for_algo(Algo::Ppo)
        },
        2,
        5,
    );
}

#[test]
fn a_state_that_does_not_fit_its_configuration_is_an_error() {
    let mut l = Learner::<B>::new(small(), device()).unwrap();
    l.update().unwrap();
    let state = l.state().unwrap();
    type Edit = fn(&mut TrainConfig);
    let edits: [(&str, Edit); 4] = [
        ("hidden", |c| c.hidden = vec![8, 8]),
        ("n_envs", |c| {
            c.n_envs = 2;
            c.episodes_per_update = 2;
        }),
        ("env", |c| c.env = "Acrobot-v1".into()),
        ("algo", |c| c.algo = Algo::Reinforce),
    ];
    for (what, edit) in edits {
        let mut s = state.clone();
        edit(&mut s.config);
        match Learner::<B>::from_state(s, device()) {
            Err(TrainError::State(m)) => println!("{what}: {m}"),
            Err(e) => panic!("{what}: wrong error {e}"),
            Ok(_) => panic!("{what}: a mismatched state was accepted"),
        }
    }
    let mut s = state;
    s.config.lr = -1.0;
    assert!(matches!(
        Learner::<B>::from_state(s, device()),
        Err(TrainError::Config(_))
    ));
}

/// CartPole as an environment of a user's that cannot be saved: not `Serialize`.
#[derive(Debug)]
struct Unsaved(rl_core::CartPole);

impl rl_core::Env for Unsaved {
    fn spec(&self) -> rl_core::EnvSpec {
        self.0.spec()
    }
    fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        self.0.reset(seed)
    }
    fn step(&mut self, action: rl_core::Action<'_>) -> rl_core::Result<rl_core::Step<'_>> {
        self.0.step(action)
    }
}

#[test]
fn environments_that_cannot_be_saved_restart_their_episodes_and_nothing_else() {
    let source = || {
        rl_train::EnvSource::new("Unsaved-v0", |_: &TrainConfig| {
            Ok(Unsaved(rl_core::CartPole::new()))
        })
    };
    let cfg = TrainConfig {
        env: "Unsaved-v0".into(),
        n_envs: 2,
        steps_per_update: Some(64),
        total_steps: Some(64 * 8),
        hidden: vec![8],
        ..TrainConfig::for_algo(Algo::Ppo)
    };
    let mut first = Learner::<B>::with_env(source(), cfg, device()).unwrap();
    for _ in 0..3 {
        first.update().unwrap();
    }
    let bytes = encode(1, &first.state().unwrap()).unwrap();
    let resume = || {
        let state: LearnerState = decode(&bytes, 1).unwrap();
        Learner::<B>::from_state_with_env(source(), state, device()).unwrap()
    };
    let mut a = resume();
    // The network, the optimiser's state and the counters continue exactly; the
    // episodes restart.
    assert!(a.restarted_episodes());
    assert_eq!(weights(&a), weights(&first));
    assert_eq!(
        (a.updates(), a.env_steps(), a.episodes()),
        (first.updates(), first.env_steps(), first.episodes())
    );
    // From the next seed of the run's environment stream: resuming the same state
    // twice gives the same run.
    let mut b = resume();
    for _ in 0..3 {
        assert_eq!(key(&a.update().unwrap()), key(&b.update().unwrap()));
    }
    // A run in one stretch has the episodes in progress at update 3 go on, so the two
    // differ from there (the first update after a restart starts fresh episodes).
    let straight = key(&first.update().unwrap());
    let restarted = key(&resume().update().unwrap());
    assert_ne!(straight, restarted);
}
