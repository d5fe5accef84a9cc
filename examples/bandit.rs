//! Layer 1: REINFORCE on the lesson's 3-armed Bernoulli bandit, softmax gradient by hand.
//!
//! `cargo run --release --example bandit`

fn main() {
    let probs = rl_core::BANDIT_DEFAULT_PROBS;
    println!("arms pay 1 with probabilities {probs:?}");
    let pi = rl_examples::bandit::train(&probs, 500, 0.1, 0, |step, pi| {
        if [0, 50, 200, 500].contains(&step) {
            println!(
                "step {step:>3}: pi = [{}]",
                pi.iter()
                    .map(|p| format!("{p:.3}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    });
    let best = pi
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
        .unwrap_or(0);
    println!(
        "converged on arm {best} (p = {:.1}) with probability {:.3}",
        probs[best], pi[best]
    );
}
