//! The `rl` binary end to end: what it writes, and how it refuses bad input (a message
//! naming the value, exit code 2, never a panic).

use std::path::Path;
use std::process::Command;

use crate::common::{rl, text};
use crate::tfevents;

#[test]
fn envs_lists_every_environment() {
    let o = rl(&["envs"]);
    assert!(o.status.success());
    for id in [
        "Bandit-v0",
        "CartPole-v1",
        "Acrobot-v1",
        "MountainCar-v0",
        "MountainCarContinuous-v0",
        "Pendulum-v1",
    ] {
        assert!(text(&o).contains(id), "{id} missing from:\n{}", text(&o));
    }
    assert!(text(&o).contains("500 steps"));
}

#[test]
fn train_eval_export_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let out_s = out.to_str().unwrap();
    let o = rl(&[
        "train",
        "--env",
        "cartpole-v1",
        "--algo",
        "baseline",
        "--episodes",
        "30",
        "--seed",
        "3",
        "--out",
        out_s,
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let mut lines = metrics.lines();
    assert_eq!(
        lines.next().unwrap(),
        "episode,env_steps,episodic_return,episodic_length,policy_loss,value_loss,entropy"
    );
    assert_eq!(lines.count(), 30, "one row per episode");
    let timing = std::fs::read_to_string(out.join("timing.csv")).unwrap();
    let mut lines = timing.lines();
    assert_eq!(lines.next().unwrap(), "episode,env_steps,sps,wall_time");
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 30, "one row per episode");
    assert!(
        rows.iter().all(|r| r[2] > 0.0) && rows.windows(2).all(|w| w[1][3] >= w[0][3]),
        "steps per second positive, wall time non-decreasing:\n{timing}"
    );
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    for want in [
        "backend = \"ndarray\"",
        "seed = 3",
        "gamma = 0.99",
        "burn_version = \"0.21.0\"",
    ] {
        assert!(
            config.contains(want),
            "{want} missing from config.toml:\n{config}"
        );
    }
    assert!(out.join("model.mpk").exists());

    let o = rl(&["eval", "--model", out_s, "--episodes", "5", "--seed", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("5 episodes"), "{}", text(&o));

    // The credit table: one row per step, G_t restarting from the last reward.
    let o = rl(&["credit", "--model", out_s, "--seed", "2", "--csv"]);
    assert!(o.status.success(), "{}", text(&o));
    let rows: Vec<Vec<f64>> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert!(!rows.is_empty());
    let last = rows.last().unwrap();
    assert_eq!(last[2], last[1], "G_T = r_T at the last step");
    assert!(
        rows.iter()
            .all(|r| r[3] > 0.0 && (r[4] - r[3] * r[2]).abs() <= 1e-3 * r[4].abs().max(1.0))
    );
    let o = rl(&["credit", "--model", out_s]);
    assert!(text(&o).contains("sum"), "{}", text(&o));

    let file = dir.path().join("policy.safetensors");
    let o = rl(&["export", "--model", out_s, "--out", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let bytes = std::fs::read(&file).unwrap();
    let (tensors, meta) = rl_models::torch::read_safetensors(&bytes).unwrap();
    assert_eq!(tensors["trunk.0.weight"].shape, vec![64, 4]);
    assert_eq!(tensors["policy.weight"].shape, vec![2, 64]);
    assert_eq!(meta["env"], "CartPole-v1");
    assert_eq!(meta["activation"], "tanh");
    // Refuses to overwrite without --force.
    let o = rl(&["export", "--model", out_s, "--out", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // Refuses to train into a folder that holds a run without --force.
    let o = rl(&["train", "--episodes", "1", "--out", out_s, "--quiet"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("already holds a run"), "{}", text(&o));
    // --force replaces the run's files, leftovers of a killed write included.
    std::fs::write(out.join("checkpoint.bin.tmp"), b"torn").unwrap();
    std::fs::write(out.join("notes.txt"), b"mine").unwrap();
    let o = rl(&[
        "train",
        "--episodes",
        "2",
        "--out",
        out_s,
        "--quiet",
        "--force",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 3, "{metrics}");
    assert!(!out.join("checkpoint.bin.tmp").exists());
    assert_eq!(std::fs::read(out.join("notes.txt")).unwrap(), b"mine");
}

/// The same command with the same seed gives the same bytes: metrics and weights, whether
/// the run is alone or shares the machine with two others.
#[test]
fn same_seed_same_bytes_whatever_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let args = |name: &str| {
        let out = dir.path().join(name);
        vec![
            "train".to_string(),
            "--episodes".into(),
            "60".into(),
            "--seed".into(),
            "7".into(),
            "--out".into(),
            out.to_str().unwrap().into(),
            "--quiet".into(),
        ]
    };
    let files = |name: &str| {
        let out = dir.path().join(name);
        ["metrics.csv", "model.mpk"].map(|f| std::fs::read(out.join(f)).unwrap())
    };
    let o = Command::new(env!("CARGO_BIN_EXE_rl"))
        .args(args("alone"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // Three at once on two cores.
    let children: Vec<_> = ["busy1", "busy2", "busy3"]
        .iter()
        .map(|n| {
            Command::new(env!("CARGO_BIN_EXE_rl"))
                .args(args(n))
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let want = files("alone");
    for n in ["busy1", "busy2", "busy3"] {
        assert!(files(n) == want, "{n} differs from the run alone");
    }
    // A different seed gives a different run (the comparison can fail).
    let mut other = args("other");
    other[4] = "8".into();
    assert!(
        rl(&other.iter().map(String::as_str).collect::<Vec<_>>())
            .status
            .success()
    );
    assert!(files("other")[0] != want[0]);
}

#[test]
fn bad_input_is_a_usage_error_naming_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let out = out.to_str().unwrap();
    let bad_config = dir.path().join("bad.toml");
    std::fs::write(&bad_config, "lr = \"fast\"\n").unwrap();
    let unknown_field = dir.path().join("unknown.toml");
    std::fs::write(&unknown_field, "learning_rate = 0.1\n").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["train", "--out", out, "--lr", "-0.1"], "lr is -0.1"),
        (
            vec!["train", "--out", out, "--gamma", "1.5"],
            "gamma is 1.5",
        ),
        (
            vec!["train", "--out", out, "--episodes", "0"],
            "episodes is 0",
        ),
        (
            vec!["train", "--out", out, "--env", "pong-v5"],
            "unknown environment \"pong-v5\"",
        ),
        (
            vec!["train", "--out", out, "--algo", "dqn"],
            "unknown algorithm \"dqn\"",
        ),
        (
            vec!["train", "--out", out, "--hidden", "64,0"],
            "hidden is [64, 0]",
        ),
        (
            vec![
                "train",
                "--out",
                out,
                "--n-envs",
                "3",
                "--steps-per-update",
                "100",
            ],
            "steps_per_update is 100",
        ),
        (vec!["train", "--out", out, "--lr", "abc"], "abc"),
        (
            vec!["train", "--out", out, "--no-such-flag"],
            "--no-such-flag",
        ),
        (vec!["train"], "--out"),
        (
            vec![
                "train",
                "--out",
                out,
                "--config",
                bad_config.to_str().unwrap(),
            ],
            "invalid config file",
        ),
        (
            vec![
                "train",
                "--out",
                out,
                "--config",
                unknown_field.to_str().unwrap(),
            ],
            "learning_rate",
        ),
        (
            vec!["train", "--out", out, "--config", "/no/such/file.toml"],
            "cannot read config file",
        ),
        (vec!["eval", "--model", "/no/such/run"], "/no/such/run"),
        (vec!["eval", "--model", out, "--episodes", "0"], "0"),
        (
            vec![
                "export",
                "--model",
                "/no/such/run",
                "--out",
                "/tmp/never-written.safetensors",
            ],
            "/no/such/run",
        ),
        (vec!["frobnicate"], "frobnicate"),
    ];
    for (args, want) in cases {
        let o = rl(&args);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?} should exit 2:\n{t}");
        assert!(
            t.contains(want),
            "{args:?}: message should name {want:?}:\n{t}"
        );
        assert!(!t.contains("panicked"), "{args:?} panicked:\n{t}");
    }
    assert!(
        !Path::new(out).join("config.toml").exists(),
        "nothing was written for bad input"
    );
}

/// A PNG of the plots' size: signature, IHDR width and height, and a final IEND chunk.
fn assert_png(path: &Path) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        b.len() > 1000,
        "{} is only {} bytes",
        path.display(),
        b.len()
    );
    assert_eq!(
        &b[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    assert_eq!(&b[12..16], b"IHDR");
    let width = u32::from_be_bytes([b[16], b[17], b[18], b[19]]);
    let height = u32::from_be_bytes([b[20], b[21], b[22], b[23]]);
    assert_eq!((width, height), (1100, 650));
    assert_eq!(
        &b[b.len() - 8..b.len() - 4],
        b"IEND",
        "{} is truncated",
        path.display()
    );
}

/// An SVG document with drawn lines and text.
fn assert_svg(path: &Path) {
    let s = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        s.trim_start().starts_with("<svg") && s.trim_end().ends_with("</svg>"),
        "{} is not an SVG",
        path.display()
    );
    assert!(
        s.contains("<polyline") || s.contains("<path"),
        "{} draws no line",
        path.display()
    );
    assert!(
        s.contains("episode"),
        "{} has no axis label",
        path.display()
    );
}

#[test]
fn compare_runs_every_pair_aggregates_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cmp");
    let o = rl(&[
        "compare",
        "--env",
        "cartpole-v1",
        "--algos",
        "reinforce,baseline",
        "--seeds",
        "2",
        "--episodes",
        "15",
        "--jobs",
        "2",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("| baseline | 2 |") && text(&o).contains("| reinforce | 2 |"),
        "{}",
        text(&o)
    );
    let agg = std::fs::read_to_string(out.join("aggregate.csv")).unwrap();
    assert_eq!(
        agg.lines().count(),
        1 + 2 * 15,
        "one row per learner and episode"
    );
    assert!(out.join("summary.md").exists());
    for f in ["returns_seed0.png", "returns_mean_std.png"] {
        assert_png(&out.join(f));
    }
    for f in ["returns_seed0.svg", "returns_mean_std.svg"] {
        assert_svg(&out.join(f));
    }
    // Every compared run is the `rl train` run with the same flags, whatever the
    // parallelism.
    let single = dir.path().join("single");
    let o = rl(&[
        "train",
        "--algo",
        "baseline",
        "--seed",
        "1",
        "--episodes",
        "15",
        "--out",
        single.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    for f in ["metrics.csv", "model.mpk"] {
        let a = std::fs::read(out.join("baseline-seed1").join(f)).unwrap();
        let b = std::fs::read(single.join(f)).unwrap();
        assert!(a == b, "{f} differs between rl compare and rl train");
    }
    // --algo / --seed belong to rl train.
    let o = rl(&[
        "compare",
        "--algo",
        "baseline",
        "--out",
        dir.path().join("c2").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // An existing comparison is not overwritten without --force.
    let o = rl(&[
        "compare",
        "--seeds",
        "1",
        "--episodes",
        "2",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn compare_takes_each_learners_preset_and_plots_against_steps() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cmp");
    let o = rl(&[
        "compare",
        "--env",
        "cartpole-v1",
        "--algos",
        "ppo,a2c",
        "--seeds",
        "2",
        "--total-steps",
        "2048",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("| ppo | 2 |") && t.contains("| a2c | 2 |"),
        "{t}"
    );
    // Each run's final policy is evaluated greedily.
    assert!(t.contains("/2 ≥ 475)"), "{t}");
    let agg = std::fs::read_to_string(out.join("aggregate.csv")).unwrap();
    assert!(
        agg.starts_with("algo,env_steps,mean,std,min,max,seeds\n"),
        "{agg}"
    );
    for f in ["returns_seed0.png", "returns_mean_std.png"] {
        assert_png(&out.join(f));
    }
    // A compared run is `rl train` with its learner's preset and the same flags.
    let single = dir.path().join("single");
    let o = rl(&[
        "train",
        "--algo",
        "ppo",
        "--seed",
        "1",
        "--total-steps",
        "2048",
        "--out",
        single.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let config = std::fs::read_to_string(single.join("config.toml")).unwrap();
    assert!(config.contains("preset = \"ppo/CartPole-v1\""), "{config}");
    for f in ["metrics.csv", "updates.csv", "model.mpk"] {
        let a = std::fs::read(out.join("ppo-seed1").join(f)).unwrap();
        let b = std::fs::read(single.join(f)).unwrap();
        assert!(a == b, "{f} differs between rl compare and rl train");
    }
    // A flag no compared learner uses is refused.
    let o = rl(&[
        "compare",
        "--algos",
        "reinforce,baseline",
        "--clip-coef",
        "0.3",
        "--out",
        dir.path().join("c3").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("--clip-coef is not used by reinforce or baseline"),
        "{}",
        text(&o)
    );
}

#[test]
fn plot_redraws_from_the_csvs_of_a_fixture() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cmp");
    let dir = tempfile::tempdir().unwrap();
    for run in std::fs::read_dir(&fixture).unwrap() {
        let run = run.unwrap().path();
        let dest = dir.path().join(run.file_name().unwrap());
        std::fs::create_dir(&dest).unwrap();
        for f in ["config.toml", "metrics.csv"] {
            std::fs::copy(run.join(f), dest.join(f)).unwrap();
        }
    }
    let o = rl(&["plot", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_png(&dir.path().join("returns_seed0.png"));
    assert_png(&dir.path().join("returns_mean_std.png"));
    assert_svg(&dir.path().join("returns_seed0.svg"));
    assert_svg(&dir.path().join("returns_mean_std.svg"));
    // A folder without runs is a usage error.
    let empty = tempfile::tempdir().unwrap();
    let o = rl(&["plot", empty.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("holds no run"), "{}", text(&o));
}

/// A Gaussian policy with normalised observations and rewards: trained, evaluated (the
/// frozen statistics, the mean clipped), its credit table, and exported with the
/// statistics so that the file alone reproduces the policy.
#[test]
fn a_normalised_gaussian_run_evaluates_and_exports_its_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pendulum");
    let out_s = out.to_str().unwrap();
    let o = rl(&[
        "train",
        "--env",
        "pendulum-v1",
        "--algo",
        "ppo",
        "--no-preset",
        "--total-steps",
        "2048",
        "--normalize-obs",
        "true",
        "--normalize-reward",
        "true",
        "--log-std-init",
        "-1",
        "--out",
        out_s,
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let norm: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("normalization.json")).unwrap())
            .unwrap();
    let mean: Vec<f64> = serde_json::from_value(norm["obs"]["rms"]["mean"].clone()).unwrap();
    let var: Vec<f64> = serde_json::from_value(norm["obs"]["rms"]["var"].clone()).unwrap();
    assert_eq!(mean.len(), 3);
    assert!(var.iter().all(|&v| v > 0.0 && v != 1.0), "{var:?}");

    let o = rl(&["eval", "--model", out_s, "--greedy", "--episodes", "2"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Pendulum-v1: 2 episodes"), "{}", text(&o));
    let o = rl(&["credit", "--model", out_s, "--csv"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 201);

    let file = dir.path().join("policy.safetensors");
    let o = rl(&["export", "--model", out_s, "--out", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let (tensors, meta) =
        rl_models::torch::read_safetensors(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(tensors["policy.log_std"].shape, vec![1]);
    assert_eq!(tensors["obs_norm.mean"].shape, vec![3]);
    let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
    assert_eq!(tensors["obs_norm.mean"].data, f32s(&mean));
    assert_eq!(tensors["obs_norm.var"].data, f32s(&var));
    assert_eq!(meta["obs_norm_epsilon"], "0.00000001");
    assert_eq!(meta["obs_clip"], "10");
    assert_eq!(meta["action_head"], "gaussian");
    assert_eq!(meta["exploration"], "diagonal");
    assert_eq!(meta["action_low"], "[-2.0]");
}

#[test]
fn a_gsde_run_evaluates_credits_and_exports_its_exploration_weights() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gsde");
    let out_s = out.to_str().unwrap();
    let o = rl(&[
        "train",
        "--env",
        "mountaincarcontinuous-v0",
        "--algo",
        "ppo",
        "--no-preset",
        "--total-steps",
        "2048",
        "--hidden",
        "16,8",
        "--value-network",
        "separate",
        "--value-hidden",
        "12",
        "--use-sde",
        "true",
        "--sde-sample-freq",
        "8",
        "--log-std-init",
        "-2",
        "--out",
        out_s,
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    for greedy in [true, false] {
        let mut args = vec!["eval", "--model", out_s, "--episodes", "2"];
        if greedy {
            args.push("--greedy");
        }
        let o = rl(&args);
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            text(&o).contains("MountainCarContinuous-v0: 2 episodes"),
            "{}",
            text(&o)
        );
    }
    let o = rl(&["credit", "--model", out_s, "--csv"]);
    assert!(o.status.success(), "{}", text(&o));

    let file = dir.path().join("policy.safetensors");
    let o = rl(&["export", "--model", out_s, "--out", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let (tensors, meta) =
        rl_models::torch::read_safetensors(&std::fs::read(&file).unwrap()).unwrap();
    // One weight per (feature of the last hidden layer, action component); they started
    // at -2 and training moved them.
    let ls = &tensors["policy.log_std"];
    assert_eq!(ls.shape, vec![8, 1]);
    assert!(ls.data.iter().any(|&v| v != -2.0), "{:?}", ls.data);
    assert_eq!(meta["exploration"], "gsde");
    // The critic has its own sizes: one hidden layer of 12 on the two observations.
    assert_eq!(tensors["value_trunk.0.weight"].shape, vec![12, 2]);
    assert_eq!(tensors["value.weight"].shape, vec![1, 12]);
    assert!(!tensors.contains_key("value_trunk.1.weight"));
    assert_eq!(meta["value_hidden"], "[12]");
}

#[test]
fn a_run_writes_tensorboard_events_with_cleanrls_tags_at_the_environment_step() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tb");
    let out_s = out.to_str().unwrap();
    let o = rl(&[
        "train",
        "--env",
        "cartpole-v1",
        "--algo",
        "ppo",
        "--total-steps",
        "2048",
        "--out",
        out_s,
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let files = tfevents::files(&out);
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("events.out.tfevents."), "{name}");
    let events = tfevents::read(&files[0]);
    assert_eq!(events[0].file_version.as_deref(), Some("brain.Event:2"));
    let (tag, plugin, config) = &events[1].texts[0];
    assert_eq!((tag.as_str(), plugin.as_str()), ("hyperparameters", "text"));
    assert!(config.starts_with("|param|value|\n|-|-|\n"), "{config}");
    assert!(config.contains("|algo|\"ppo\"|"), "{config}");

    let series = tfevents::series(&out);
    let csv = |file: &str| -> Vec<Vec<String>> {
        std::fs::read_to_string(out.join(file))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    };
    let points = |rows: &[Vec<String>], step: usize, col: usize| -> Vec<(i64, f32)> {
        rows.iter()
            .map(|r| (r[step].parse().unwrap(), r[col].parse().unwrap()))
            .collect()
    };
    // Per episode, from metrics.csv (episode, env_steps, episodic_return, episodic_length).
    let episodes = csv("metrics.csv");
    assert!(episodes.len() > 10);
    assert_eq!(series["charts/episodic_return"], points(&episodes, 1, 2));
    assert_eq!(series["charts/episodic_length"], points(&episodes, 1, 3));
    // Per update, from updates.csv (update, env_steps, learning_rate, policy_loss,
    // value_loss, entropy, old_approx_kl, approx_kl, clipfrac, explained_variance, ...).
    let updates = csv("updates.csv");
    assert_eq!(updates.len(), 8);
    for (tag, col) in [
        ("charts/learning_rate", 2),
        ("losses/policy_loss", 3),
        ("losses/value_loss", 4),
        ("losses/entropy", 5),
        ("losses/old_approx_kl", 6),
        ("losses/approx_kl", 7),
        ("losses/clipfrac", 8),
        ("losses/explained_variance", 9),
    ] {
        assert_eq!(series[tag], points(&updates, 1, col), "{tag}");
    }
    let sps = &series["charts/SPS"];
    assert_eq!(sps.len(), 8);
    assert!(sps.iter().all(|&(_, v)| v > 0.0), "{sps:?}");
    assert_eq!(series.len(), 11, "{:?}", series.keys().collect::<Vec<_>>());

    // Turned off, no event file; a forced new run replaces the old run's.
    let o = rl(&[
        "train",
        "--env",
        "cartpole-v1",
        "--algo",
        "a2c",
        "--total-steps",
        "400",
        "--out",
        out_s,
        "--force",
        "--quiet",
        "--tensorboard",
        "false",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(tfevents::files(&out).is_empty());
}

#[test]
fn bench_names_the_device_and_runs_the_large_configurations() {
    let o = rl(&["bench", "--configs", "large", "--large-updates", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.starts_with("backend ndarray on the CPU"), "{out}");
    for (label, envs, steps) in [("(e)", 1024, 16384), ("(f)", 4096, 65536)] {
        let line = out
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no {label} line in {out}"));
        assert!(line.contains(&format!("{envs} envs")), "{line}");
        assert!(line.contains(&format!("{steps} steps in")), "{line}");
    }
    let o = rl(&["bench", "--configs", "huge"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("huge"), "{}", text(&o));
}

#[test]
fn sharded_compares_fill_the_same_folder_as_one_compare() {
    let dir = tempfile::tempdir().unwrap();
    let common = [
        "compare",
        "--env",
        "cartpole-v1",
        "--algos",
        "reinforce,baseline",
        "--seeds",
        "2",
        "--episodes",
        "8",
        "--jobs",
        "1",
        "--quiet",
    ];
    let whole = dir.path().join("whole");
    let mut args = common.to_vec();
    args.extend(["--out", whole.to_str().unwrap()]);
    let o = rl(&args);
    assert!(o.status.success(), "{}", text(&o));

    // Three shards of a four-run grid, run separately (one gets a single run), then
    // `rl plot` over the folder they filled.
    let sharded = dir.path().join("sharded");
    for shard in ["2/3", "0/3", "1/3"] {
        let mut args = common.to_vec();
        args.extend(["--out", sharded.to_str().unwrap(), "--shard", shard]);
        let o = rl(&args);
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains(&format!("shard {shard}")), "{}", text(&o));
        assert!(
            !sharded.join("summary.md").exists(),
            "a shard does not aggregate"
        );
    }
    let o = rl(&["plot", sharded.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));

    let runs = |d: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(runs(&whole), runs(&sharded));
    assert_eq!(runs(&whole).len(), 4);
    for run in runs(&whole) {
        for f in ["metrics.csv", "model.mpk"] {
            let a = std::fs::read(whole.join(&run).join(f)).unwrap();
            let b = std::fs::read(sharded.join(&run).join(f)).unwrap();
            assert!(a == b, "{run:?}/{f} differs");
        }
    }
    let a = std::fs::read(whole.join("aggregate.csv")).unwrap();
    let b = std::fs::read(sharded.join("aggregate.csv")).unwrap();
    assert!(a == b, "aggregate.csv differs");

    for bad in ["3/3", "1/0", "x/2", "2"] {
        let mut args = common.to_vec();
        let out = dir.path().join("bad");
        args.extend(["--out", out.to_str().unwrap(), "--shard", bad]);
        let o = rl(&args);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o));
        assert!(text(&o).contains("not a shard"), "{bad}: {}", text(&o));
        assert!(!out.exists(), "{bad}: nothing written");
    }
}
