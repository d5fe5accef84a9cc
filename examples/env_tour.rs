//! A tour of the environments: each one's spaces and time limit, and the return of a few
//! seeded episodes under a simple hand-written controller or random actions.
//!
//! `cargo run --release --example env_tour`

use rl_core::rng::{self, RngExt};
use rl_core::{Action, Builtin, Env, Space};

fn main() -> Result<(), rl_core::Error> {
    let mut r = rng::seeded(0);
    for id in Builtin::ALL {
        let mut env = id.make();
        let spec = env.spec();
        println!("{}", spec.id);
        println!("  observation space: {}", spec.observation_space);
        println!("  action space:      {}", spec.action_space);
        match spec.max_episode_steps {
            Some(n) => println!("  time limit:        {n} steps (sets truncated)"),
            None => println!("  time limit:        none"),
        }
        for episode in 0..3 {
            let mut obs = env.reset(Some(episode)).to_vec();
            let (mut total, mut steps) = (0.0, 0);
            loop {
                let continuous;
                let action = match (&spec.action_space, id) {
                    // The balancing controller of the conformance traces.
                    (_, Builtin::CartPole) => {
                        Action::Discrete(usize::from(obs[2] + 0.5 * obs[3] > 0.0))
                    }
                    // Push with the velocity: builds the swing that reaches the flag.
                    (_, Builtin::MountainCar) => Action::Discrete(if obs[1] > 0.0 { 2 } else { 0 }),
                    (Space::Discrete { n }, _) => Action::Discrete(r.random_range(0..*n)),
                    (Space::Box { low, high, .. }, _) => {
                        continuous = [r.random_range(low[0]..=high[0])];
                        Action::Continuous(&continuous)
                    }
                    (other, _) => unreachable!("no built-in environment acts in {other}"),
                };
                let step = env.step(action)?;
                total += step.reward;
                steps += 1;
                obs.copy_from_slice(step.observation);
                if step.terminated || step.truncated {
                    let how = if step.terminated {
                        "terminated"
                    } else {
                        "truncated"
                    };
                    println!(
                        "  episode {episode}: return {total:9.3} over {steps:3} steps ({how})"
                    );
                    break;
                }
            }
        }
    }
    Ok(())
}
