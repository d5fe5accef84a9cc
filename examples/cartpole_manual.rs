//! Layer 2: REINFORCE on CartPole-v1 with a 4-16-2 tanh policy and hand-written backprop.
//!
//! `cargo run --release --example cartpole_manual`

fn main() {
    let mut window = Vec::new();
    rl_examples::manual::train(1000, 0.5, 0.99, 0, |episode, ret| {
        window.push(ret);
        if (episode + 1) % 100 == 0 {
            let mean = window.iter().sum::<f64>() / window.len() as f64;
            println!(
                "episodes {:>4}-{:>4}: mean return {mean:6.1}",
                episode + 2 - window.len(),
                episode + 1
            );
            window.clear();
        }
    });
}
