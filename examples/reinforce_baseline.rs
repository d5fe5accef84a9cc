//! Layer 3: REINFORCE with a learned baseline and an entropy bonus on CartPole-v1, with
//! Burn's autodiff, through the library API. Generic over the backend: this binary runs
//! on the one compiled in (`--features wgpu` with `--no-default-features` for the GPU).
//!
//! `cargo run --release --example reinforce_baseline`

use std::ops::ControlFlow;

use burn::tensor::backend::AutodiffBackend;
use rl_models::backend::{NAME, TrainBackend, device};
use rl_train::{Algo, Learner, TrainConfig, TrainError};

/// Trains both learners with the lesson's defaults on any autodiff backend.
fn train<B: AutodiffBackend>(device: B::Device, algo: Algo) -> Result<Vec<f64>, TrainError> {
    let cfg = TrainConfig {
        algo,
        seed: 0,
        episodes: Some(500),
        ..TrainConfig::default()
    };
    let mut learner = Learner::<B>::new(cfg, device)?;
    let mut returns = Vec::new();
    learner.run(|report| {
        returns.extend(report.episodes.iter().map(|e| e.episodic_return));
        ControlFlow::Continue(())
    })?;
    Ok(returns)
}

fn main() -> Result<(), TrainError> {
    println!("backend: {NAME}");
    for algo in [Algo::Reinforce, Algo::Baseline] {
        let returns = train::<TrainBackend>(device(), algo)?;
        let means: Vec<String> = returns
            .chunks(100)
            .map(|c| format!("{:.0}", c.iter().sum::<f64>() / c.len() as f64))
            .collect();
        println!(
            "{:<9}: mean return per 100 episodes: {}",
            algo.name(),
            means.join(" ")
        );
    }
    Ok(())
}
