//! Learning is demonstrated, not assumed: short seeded runs on the real CartPole-v1 must
//! improve clearly. These fail if the policy loss's sign is flipped (the policy then
//! unlearns) or if the value leaks into the advantage's gradient.

use rl_models::backend::{TrainBackend as B, device};
use rl_train::{Algo, Learner, TrainConfig};

/// Mean return of the first and the last `k` episodes of a run.
fn first_and_last(cfg: TrainConfig, k: usize) -> (f64, f64) {
    let mut learner = Learner::<B>::new(cfg, device()).unwrap();
    let mut returns = Vec::new();
    learner
        .run(|r| {
            returns.extend(r.episodes.iter().map(|e| e.episodic_return));
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    (mean(&returns[..k]), mean(&returns[returns.len() - k..]))
}

fn check_improves(algo: Algo) {
    // The lesson's hyperparameters; a budget of a few seconds.
    for seed in [0, 1] {
        let cfg = TrainConfig {
            algo,
            seed,
            episodes: Some(200),
            ..TrainConfig::default()
        };
        let (first, last) = first_and_last(cfg, 25);
        println!("{algo:?} seed {seed}: first 25 episodes {first:.1}, last 25 {last:.1}");
        assert!(
            last > 3.0 * first && last > 100.0,
            "{algo:?} seed {seed}: {first:.1} -> {last:.1}"
        );
    }
}

#[test]
fn reinforce_improves_on_cartpole() {
    check_improves(Algo::Reinforce);
}

#[test]
fn baseline_improves_on_cartpole() {
    check_improves(Algo::Baseline);
}

/// The value inside the advantage must be detached: with `vf_coef = 0` the value head
/// receives no gradient at all, so an update (Adam with a zero gradient takes a zero
/// step) leaves its weights bit-identical while the trunk and policy head move. A value
/// that leaked into the policy term would move them.
#[test]
fn policy_loss_sends_no_gradient_into_the_value_head() {
    let cfg = TrainConfig {
        algo: Algo::Baseline,
        vf_coef: 0.0,
        episodes_per_update: 1,
        ..TrainConfig::default()
    };
    let mut learner = Learner::<B>::new(cfg, device()).unwrap();
    let before = learner.model().to_torch();
    for _ in 0..3 {
        learner.update().unwrap();
    }
    let after = learner.model().to_torch();
    for name in ["value.weight", "value.bias"] {
        assert_eq!(
            before[name], after[name],
            "{name} moved although vf_coef = 0"
        );
    }
    assert_ne!(
        before["trunk.0.weight"], after["trunk.0.weight"],
        "the trunk must learn"
    );
    assert_ne!(
        before["policy.weight"], after["policy.weight"],
        "the policy head must learn"
    );
}

/// PPO at its CartPole-v1 preset, A2C at its preset on a shortened budget: the last 20
/// episodes must be far better than the first 20 (a flipped sign, a value leaking into
/// the advantage or a broken ratio would not learn).
#[test]
fn ppo_and_a2c_presets_improve_on_cartpole() {
    for (algo, steps) in [(Algo::Ppo, 100_000), (Algo::A2c, 200_000)] {
        let mut cfg = rl_train::Registry::builtin()
            .resolve(None, Some(algo), Some("CartPole-v1"), true)
            .unwrap();
        cfg.total_steps = Some(steps);
        cfg.seed = 1;
        let (first, last) = first_and_last(cfg, 20);
        println!("{algo:?}: first 20 episodes {first:.1}, last 20 {last:.1}");
        assert!(
            last > 5.0 * first && last > 150.0,
            "{algo:?}: {first:.1} -> {last:.1}"
        );
    }
}

/// The continuous heads learn: PPO at its Pendulum-v1 preset, with plain Gaussian noise
/// (clipped actions) and with gSDE (the zoo's sde_sample_freq), swings the pendulum up
/// from about -1 200 to better than -400 within the preset's 100 000 steps.
#[test]
fn ppo_learns_pendulum_with_gaussian_noise_and_with_gsde() {
    for sde in [false, true] {
        let mut cfg = rl_train::Registry::builtin()
            .resolve(None, Some(Algo::Ppo), Some("Pendulum-v1"), true)
            .unwrap();
        if sde {
            cfg.use_sde = true;
            cfg.sde_sample_freq = 4;
        }
        cfg.validate().unwrap();
        let (first, last) = first_and_last(cfg, 20);
        println!("gSDE {sde}: first 20 episodes {first:.1}, last 20 {last:.1}");
        assert!(
            first < -900.0 && last > -400.0,
            "gSDE {sde}: {first:.1} -> {last:.1}"
        );
    }
}
