//! The bandit end to end, and the bugs it showed: the environment's shape read from the
//! environment that was made (not rebuilt from its name), a trained policy evaluated and
//! exported on a machine smaller than the one that trained it, and the preset that lets
//! the lesson's learners learn on it.

use std::path::Path;

use crate::common::{rl, text};

/// `rl eval`'s mean return.
fn eval(run: &Path, greedy: bool) -> f64 {
    let mut args = vec![
        "eval",
        "--model",
        run.to_str().unwrap(),
        "--episodes",
        "400",
    ];
    if greedy {
        args.push("--greedy");
    }
    let o = rl(&args);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    let at = out.find("return ").expect("a return") + "return ".len();
    out[at..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn train(args: &[&str], out: &Path) -> String {
    let mut all = vec!["train", "--env", "bandit-v0", "--quiet"];
    all.extend_from_slice(args);
    all.extend(["--out", out.to_str().unwrap()]);
    let o = rl(&all);
    assert!(o.status.success(), "{args:?}: {}", text(&o));
    text(&o)
}

#[test]
fn bandit_probs_set_the_arms_the_policy_trains_and_evaluates_on() {
    // Two arms: training failed at update 1 with "action 2 is out of range: allowed
    // 0..2" (the policy had the default bandit's three actions).
    let dir = tempfile::tempdir().unwrap();
    let two = dir.path().join("two");
    train(&["--algo", "reinforce", "--bandit-probs", "0.1,0.9"], &two);
    assert!(eval(&two, true) > 0.8, "the 0.9 arm is learned");
    // Four arms: the policy had three actions (the 0.9 arm could never be pulled) and
    // `rl eval` scored it on the default arms.
    let four = dir.path().join("four");
    train(
        &["--algo", "reinforce", "--bandit-probs", "0.1,0.2,0.3,0.9"],
        &four,
    );
    let greedy = eval(&four, true);
    assert!(greedy > 0.8, "the fourth arm (0.9) is pulled: {greedy}");
    let exported = dir.path().join("four.safetensors");
    let o = rl(&[
        "export",
        "--model",
        four.to_str().unwrap(),
        "--out",
        exported.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let bytes = std::fs::read(&exported).unwrap();
    let header = String::from_utf8_lossy(&bytes[8..]).to_string();
    assert!(header.contains("\"action_dim\":\"4\""), "{header}");
}

#[test]
fn a_run_too_large_for_this_machine_still_evaluates_and_exports() {
    // Trained on a larger machine: its configuration (a billion environments here)
    // does not fit this one. Evaluating or exporting the policy needs none of that
    // memory; they refused it with the training-time memory check.
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let o = rl(&[
        "train",
        "--episodes",
        "5",
        "--hidden",
        "8",
        "--quiet",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let config = run.join("config.toml");
    let text_before = std::fs::read_to_string(&config).unwrap();
    let huge = text_before
        .replace("n_envs = 1\n", "n_envs = 1000000000\n")
        .replace(
            "episodes_per_update = 1\n",
            "episodes_per_update = 1000000000\n",
        );
    assert_ne!(huge, text_before);
    std::fs::write(&config, huge).unwrap();
    // Training with it is refused, by the memory check.
    let big = dir.path().join("big.toml");
    std::fs::write(
        &big,
        "n_envs = 1000000000\nepisodes_per_update = 1000000000\nhidden = [8]\n",
    )
    .unwrap();
    let refused = rl(&[
        "train",
        "--config",
        big.to_str().unwrap(),
        "--out",
        dir.path().join("again").to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("this configuration needs about"));
    // Evaluating and exporting are not.
    let o = rl(&["eval", "--model", run.to_str().unwrap(), "--episodes", "2"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.path().join("policy.safetensors");
    let o = rl(&[
        "export",
        "--model",
        run.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn the_bandit_learns_with_the_lesson_learners_presets() {
    // With the lesson's defaults (one one-step episode per update, normalised returns)
    // every normalised return is 0: greedy 0.52 after 600 episodes. The presets update
    // every 16 pulls.
    let dir = tempfile::tempdir().unwrap();
    for algo in ["reinforce", "baseline"] {
        let run = dir.path().join(algo);
        let out = train(&["--algo", algo], &run);
        assert!(!out.contains("warning"), "{out}");
        let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
        assert!(
            config.contains(&format!("preset = \"{algo}/Bandit-v0\"")),
            "{config}"
        );
        // The best arm pays 0.8.
        let sampled = eval(&run, false);
        assert!(sampled > 0.75, "{algo}: {sampled}");
    }
}

#[test]
fn normalised_returns_of_one_step_batches_are_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let out = train(
        &["--algo", "reinforce", "--no-preset", "--episodes", "5"],
        &dir.path().join("run"),
    );
    assert!(
        out.contains(
            "warning: normalize_returns is true, but every batch of Bandit-v0 is one step"
        ),
        "{out}"
    );
}
