//! Data-parallel learners: workers in threads of one process (rl-train's thread
//! collective, the reference the MPI engine is tested against end to end in rl-cli).

use rl_models::backend::{TrainBackend as B, device};
use rl_train::collective::Collective;
use rl_train::collective::threads::team;
use rl_train::{Algo, Learner, LearnerState, Registry, TrainConfig, TrainError, UpdateReport};

fn ppo() -> TrainConfig {
    TrainConfig {
        hidden: vec![16, 16],
        n_envs: 4,
        steps_per_update: Some(128),
        minibatches: 4,
        epochs: 2,
        target_kl: Some(0.5),
        total_steps: Some(100_000),
        ..TrainConfig::for_algo(Algo::Ppo)
    }
}

/// Everything an update reports but the timing.
fn key(r: &UpdateReport) -> String {
    let r = UpdateReport {
        sps: 0.0,
        wall_time: 0.0,
        ..r.clone()
    };
    format!("{r:?}")
}

/// What one worker saw: its rank, each update's report and weight fingerprint, and its
/// learner's state at the end.
type Seen = (usize, Vec<(String, u64)>, LearnerState);

/// The run's part of a report: its episodes and counters (the losses are each worker's).
fn run_part(k: &str) -> &str {
    &k[..k.find("learning_rate").expect("a report")]
}

/// Runs `f` for each worker, each in its own thread, in rank order.
fn on_workers<T, F>(workers: usize, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Box<dyn Collective>) -> T + Send + Sync + 'static,
{
    let f = std::sync::Arc::new(f);
    let handles: Vec<_> = team(workers)
        .into_iter()
        .map(|c| {
            let f = f.clone();
            std::thread::spawn(move || f(Box::new(c)))
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn train(mut l: Learner<B>, updates: usize) -> Seen {
    let rank = l.rank().0;
    let seen = (0..updates)
        .map(|_| {
            let r = l.update().unwrap();
            (key(&r), l.parameter_fingerprint())
        })
        .collect();
    (rank, seen, l.state().unwrap())
}

#[test]
fn workers_hold_the_same_weights_and_report_the_whole_run() {
    let out = on_workers(2, |c| {
        train(
            Learner::new_worker(&Registry::builtin(), ppo(), device(), c).unwrap(),
            3,
        )
    });
    let (_, first, _) = &out[0];
    for (_, seen, _) in &out {
        // Same weights after every update, and the same report (rank 0's is the run's:
        // the episodes of both workers, the run's counters).
        assert_eq!(seen.len(), 3);
        for ((k0, w0), (k, w)) in first.iter().zip(seen) {
            assert_eq!(w0, w);
            assert_eq!(run_part(k0), run_part(k));
        }
    }
    // The run's counters: 128 steps per update in all, episodes numbered in order.
    let mut l = Learner::<B>::new(ppo(), device()).unwrap();
    let alone = l.update().unwrap();
    assert_eq!(alone.env_steps, 128);
    let state = &out[0].2;
    assert_eq!(state.env_steps, 3 * 128);
    assert_eq!(state.updates, 3);
}

#[test]
fn episodes_are_gathered_in_the_order_one_process_finishes_them() {
    let out = on_workers(2, |c| {
        let mut l = Learner::<B>::new_worker(&Registry::builtin(), ppo(), device(), c).unwrap();
        let rank = l.rank().0;
        let r = l.update().unwrap();
        let eps: Vec<String> = r
            .episodes
            .iter()
            .map(|e| format!("{} {} {}", e.episode, e.env_steps, e.episodic_length))
            .collect();
        (rank, vec![(eps.join(";"), 0)], l.state().unwrap())
    });
    assert_eq!(out[0].1, out[1].1, "every worker sees the run's episodes");
    let eps: Vec<(u64, u64)> = out[0].1[0]
        .0
        .split(';')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let v: Vec<u64> = s.split(' ').map(|x| x.parse().unwrap()).collect();
            (v[0], v[1])
        })
        .collect();
    assert!(!eps.is_empty(), "CartPole episodes end within 128 steps");
    for (k, w) in eps.windows(2).enumerate() {
        assert_eq!(w[0].0, k as u64 + 1);
        assert!(w[0].1 < w[1].1, "{eps:?}");
    }
    assert!(eps.iter().all(|&(_, s)| s <= 128));
}

#[test]
fn a_data_parallel_run_resumes_exactly() {
    // Straight: 4 updates. Stopped: 2 updates, the state taken, then 2 more from it.
    let straight = on_workers(2, |c| {
        train(
            Learner::new_worker(&Registry::builtin(), ppo(), device(), c).unwrap(),
            4,
        )
    });
    let first = on_workers(2, |c| {
        train(
            Learner::new_worker(&Registry::builtin(), ppo(), device(), c).unwrap(),
            2,
        )
    });
    let state = first[0].2.clone();
    let state = std::sync::Arc::new(state);
    let resumed = on_workers(2, move |c| {
        let s = (c.rank() == 0).then(|| (*state).clone());
        train(
            Learner::resume_worker(&Registry::builtin(), s, device(), c).unwrap(),
            2,
        )
    });
    for r in 0..2 {
        let want = &straight[r].1[2..];
        assert_eq!(&resumed[r].1[..], want, "rank {r}");
        assert_eq!(first[r].1[..], straight[r].1[..2]);
    }
    // Rank 1 continuing exactly (above) is the state carrying its environments and
    // generators: it has no other source for them.
}

#[test]
fn a_state_resumes_only_on_as_many_workers() {
    let two = on_workers(2, |c| {
        train(
            Learner::new_worker(&Registry::builtin(), ppo(), device(), c).unwrap(),
            1,
        )
    });
    let state = two[0].2.clone();
    match Learner::<B>::from_state(state.clone(), device()) {
        Err(TrainError::Workers(m)) => assert!(m.contains("2 data-parallel workers"), "{m}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    let state = std::sync::Arc::new(state);
    let three = on_workers(3, move |c| {
        let s = (c.rank() == 0).then(|| (*state).clone());
        match Learner::<B>::resume_worker(&Registry::builtin(), s, device(), c) {
            Err(e) => e.to_string(),
            Ok(_) => "resumed".into(),
        }
    });
    for m in three {
        assert!(m.contains("trained by 2 worker(s), not 3"), "{m}");
    }
}

#[test]
fn configurations_that_do_not_split_are_refused() {
    let cases = [
        (
            TrainConfig {
                n_envs: 3,
                steps_per_update: Some(96),
                ..ppo()
            },
            "n_envs = 3",
        ),
        (
            TrainConfig {
                normalize_obs: true,
                ..ppo()
            },
            "normalize_obs",
        ),
        (TrainConfig::for_algo(Algo::Reinforce), "whole episodes"),
        (
            TrainConfig {
                steps_per_update: Some(132),
                ..ppo()
            },
            "minibatches = 4",
        ),
    ];
    for (cfg, want) in cases {
        let mut c = team(2);
        let _other = c.pop();
        match Learner::<B>::new_worker(
            &Registry::builtin(),
            cfg,
            device(),
            Box::new(c.pop().unwrap()),
        ) {
            Err(TrainError::Workers(m)) => assert!(m.contains(want), "{m}"),
            other => panic!("{want}: {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn diverged_weights_stop_every_worker() {
    // Worker 1 starts from a different seed: its first weights differ from rank 0's.
    let out = on_workers(2, |c| {
        let rank = c.rank();
        let cfg = TrainConfig {
            seed: if rank == 1 { 7 } else { ppo().seed },
            ..ppo()
        };
        let mut l = Learner::<B>::new_worker(&Registry::builtin(), cfg, device(), c).unwrap();
        (rank, l.update().unwrap_err().to_string())
    });
    for (rank, e) in out {
        assert!(e.contains("weights have diverged"), "rank {rank}: {e}");
    }
}
