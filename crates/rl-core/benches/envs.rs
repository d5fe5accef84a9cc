//! Environment steps per second, single and vectorised.
//!
//! `cargo bench -p rl-core --bench envs`. Actions are drawn before timing, so the figures
//! are the environments' own cost (automatic resets included). Target: CartPole-v1
//! vectorised at >= 30 million steps/s on one core.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rl_core::rng::{self, RngExt};
use rl_core::{Action, Actions, Builtin, Env, Space, VecEnv, VectorEnv};

const STEPS: usize = 4096;
const N_ENVS: usize = 64;

/// Pre-drawn random actions: indices for discrete spaces, values for boxes.
fn random_actions(space: &Space, n: usize) -> (Vec<usize>, Vec<f32>) {
    let mut r = rng::seeded(1);
    match space {
        Space::Discrete { n: k } => ((0..n).map(|_| r.random_range(0..*k)).collect(), vec![]),
        Space::Box { low, high, .. } => {
            let v = (0..n * low.len())
                .map(|i| {
                    let j = i % low.len();
                    r.random_range(low[j]..=high[j])
                })
                .collect();
            (vec![], v)
        }
        other => unimplemented!("no built-in environment acts in {other}"),
    }
}

fn single(c: &mut Criterion) {
    let mut group = c.benchmark_group("single");
    group.throughput(Throughput::Elements(STEPS as u64));
    for id in Builtin::ALL {
        let mut env = id.make();
        let (discrete, continuous) = random_actions(&env.spec().action_space, STEPS);
        env.reset(Some(0));
        group.bench_function(BenchmarkId::from_parameter(id.id()), |b| {
            b.iter(|| {
                for t in 0..STEPS {
                    let action = if discrete.is_empty() {
                        Action::Continuous(&continuous[t..t + 1])
                    } else {
                        Action::Discrete(discrete[t])
                    };
                    let s = env.step(action).expect("valid action");
                    if s.terminated || s.truncated {
                        env.reset(None);
                    }
                }
            })
        });
    }
    group.finish();
}

fn vectorised(c: &mut Criterion) {
    let mut group = c.benchmark_group("vectorised");
    let batches = STEPS / N_ENVS;
    group.throughput(Throughput::Elements((batches * N_ENVS) as u64));
    // What the learners step: each environment of its own concrete type, one dynamic
    // call per batch step.
    for id in Builtin::ALL {
        let mut envs = id.vector(N_ENVS).expect("one or more envs");
        let space = envs.spec().action_space.clone();
        let (discrete, continuous) = random_actions(&space, batches * N_ENVS);
        let d = space.action_width();
        envs.reset(Some(0)).expect("a reset");
        group.bench_function(BenchmarkId::new(format!("{N_ENVS}x"), id.id()), |b| {
            b.iter(|| {
                for k in 0..batches {
                    let actions = if discrete.is_empty() {
                        Actions::Continuous(&continuous[k * N_ENVS * d..(k + 1) * N_ENVS * d])
                    } else {
                        Actions::Discrete(&discrete[k * N_ENVS..(k + 1) * N_ENVS])
                    };
                    envs.step(actions).expect("valid actions");
                }
                black_box(envs.observations());
            })
        });
    }
    // The concrete vector type, called without the trait object.
    let mut envs = VecEnv::from_fn(N_ENVS, |_| rl_core::CartPole::new()).expect("envs");
    let (discrete, _) = random_actions(&envs.spec().action_space.clone(), batches * N_ENVS);
    envs.reset(Some(0)).expect("a reset");
    group.bench_function(
        BenchmarkId::new(format!("{N_ENVS}x"), "CartPole (concrete)"),
        |b| {
            b.iter(|| {
                for k in 0..batches {
                    envs.step(Actions::Discrete(&discrete[k * N_ENVS..(k + 1) * N_ENVS]))
                        .expect("valid");
                }
                black_box(envs.observations());
            })
        },
    );
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1))
}

criterion_group! { name = benches; config = config(); targets = single, vectorised }
criterion_main!(benches);
