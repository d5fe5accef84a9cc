//! Bad input never panics and never loses data. Every case below feeds `rl` one malformed
//! input (a flag, a config file, a checkpoint, a run folder, a truncated file) and checks:
//! the exit code (2 for the user's mistake, 1 for a runtime failure), a message naming
//! what is wrong, no panic, and every file of the run folder unchanged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// A finished run to copy and damage: trained once per test process.
fn template() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_rl"))
            .args(["train", "--episodes", "5", "--hidden", "8,8", "--quiet"])
            .arg("--out")
            .arg(dir.path().join("run"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        dir
    })
    .path()
}

/// Every file under `dir`, with its bytes; but `rl.lock`, which holds the process id of
/// the last `rl` that locked the folder, not data.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name() != Some(std::ffi::OsStr::new("rl.lock")) {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

type Setup = fn(&Path);

struct Case {
    /// The arguments; `{run}` is the damaged run folder, `{dir}` the case's folder.
    args: &'static str,
    /// What to damage before running (the run folder is `dir/run`).
    setup: Setup,
    code: i32,
    /// A piece of the message.
    want: &'static str,
}

fn case(args: &'static str, code: i32, want: &'static str) -> Case {
    Case {
        args,
        setup: |_| {},
        code,
        want,
    }
}

fn with(args: &'static str, setup: Setup, code: i32, want: &'static str) -> Case {
    Case {
        args,
        setup,
        code,
        want,
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn edit(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut b = std::fs::read(path).unwrap();
    f(&mut b);
    std::fs::write(path, b).unwrap();
}

fn ckpt(dir: &Path) -> PathBuf {
    dir.join("run/checkpoint.bin")
}

fn cases() -> Vec<Case> {
    vec![
        // Flags: values out of range, named with what is allowed.
        case(
            "train --out {dir}/new --lr -0.1",
            2,
            "lr is -0.1: allowed a finite number > 0",
        ),
        case("train --out {dir}/new --lr 0", 2, "lr is 0"),
        case("train --out {dir}/new --lr nan", 2, "lr is NaN"),
        case("train --out {dir}/new --lr inf", 2, "lr is inf"),
        case(
            "train --out {dir}/new --lr abc",
            2,
            "invalid value 'abc' for '--lr",
        ),
        case(
            "train --out {dir}/new --gamma 1.5",
            2,
            "gamma is 1.5: allowed [0, 1]",
        ),
        case("train --out {dir}/new --gamma -0.01", 2, "gamma is -0.01"),
        case("train --out {dir}/new --episodes 0", 2, "episodes is 0"),
        case("train --out {dir}/new --episodes -5", 2, "'-5'"),
        case("train --out {dir}/new --episodes 1.5", 2, "'1.5'"),
        case("train --out {dir}/new --seed -1", 2, "'-1'"),
        case(
            "train --out {dir}/new --env pong-v5",
            2,
            "unknown environment \"pong-v5\": valid ones are",
        ),
        case("train --out {dir}/new --env cartpole-v0", 2, "CartPole-v1"),
        case(
            "train --out {dir}/new --algo dqn",
            2,
            "unknown algorithm \"dqn\": valid ones are reinforce, baseline, a2c, ppo",
        ),
        case(
            "train --out {dir}/new --hidden 64,0",
            2,
            "hidden is [64, 0]",
        ),
        case("train --out {dir}/new --hidden=", 2, "'--hidden"),
        case(
            "train --out {dir}/new --activation sigmoid",
            2,
            "valid ones are tanh, relu",
        ),
        case("train --out {dir}/new --vf-coef -1", 2, "vf_coef is -1"),
        case("train --out {dir}/new --ent-coef nan", 2, "ent_coef is NaN"),
        case(
            "train --out {dir}/new --max-grad-norm 0",
            2,
            "max_grad_norm is 0",
        ),
        case(
            "train --out {dir}/new --max-grad-norm -2",
            2,
            "max_grad_norm is -2",
        ),
        case("train --out {dir}/new --n-envs 0", 2, "n_envs is 0"),
        case(
            "train --out {dir}/new --n-envs 2",
            2,
            "episodes_per_update is 1: allowed a positive multiple of n_envs (2)",
        ),
        case(
            "train --out {dir}/new --n-envs 3 --steps-per-update 100",
            2,
            "steps_per_update is 100",
        ),
        case(
            "train --out {dir}/new --steps-per-update 0",
            2,
            "steps_per_update is 0",
        ),
        case(
            "train --out {dir}/new --normalize-returns maybe",
            2,
            "possible values: true, false",
        ),
        case(
            "train --out {dir}/new --value-network tied",
            2,
            "valid ones are shared, separate",
        ),
        case(
            "train --out {dir}/new --algo ppo --value-hidden 8,0",
            2,
            "value_hidden is [8, 0]: allowed one or more sizes, each >= 1",
        ),
        case(
            "train --out {dir}/new --algo ppo --value-network shared --value-hidden 8",
            2,
            "value_hidden is [8], but value_network is \"shared\"",
        ),
        case(
            "train --out {dir}/new --algo reinforce --value-hidden 8",
            2,
            "value_hidden is [8], but reinforce does not use it",
        ),
        case(
            "train --out {dir}/new --env bandit-v0 --bandit-probs 0.5,1.5",
            2,
            "bandit_probs",
        ),
        case(
            "train --out {dir}/new --bandit-probs 0.5",
            2,
            "applies to Bandit-v0 only",
        ),
        case(
            "train --out {dir}/new --checkpoint-every 0",
            2,
            "checkpoint_every is 0",
        ),
        // The learners' own flags.
        case(
            "train --out {dir}/new --algo ppo --clip-coef 0",
            2,
            "clip_coef is 0: allowed a finite number > 0",
        ),
        case(
            "train --out {dir}/new --algo ppo --clip-coef -0.2",
            2,
            "clip_coef is -0.2",
        ),
        case(
            "train --out {dir}/new --algo ppo --gae-lambda 1.5",
            2,
            "gae_lambda is 1.5: allowed [0, 1]",
        ),
        case(
            "train --out {dir}/new --algo a2c --gae-lambda -0.1",
            2,
            "gae_lambda is -0.1",
        ),
        case(
            "train --out {dir}/new --algo ppo --minibatches 3",
            2,
            "minibatches is 3: allowed a divisor of steps_per_update (256)",
        ),
        case(
            "train --out {dir}/new --algo ppo --minibatches 0",
            2,
            "minibatches is 0",
        ),
        case(
            "train --out {dir}/new --algo ppo --epochs 0",
            2,
            "epochs is 0",
        ),
        case(
            "train --out {dir}/new --algo ppo --target-kl 0",
            2,
            "target_kl is 0: allowed a finite number > 0, or \"none\"",
        ),
        case(
            "train --out {dir}/new --algo ppo --target-kl soon",
            2,
            "is neither a number nor none",
        ),
        case(
            "train --out {dir}/new --algo ppo --max-grad-norm -1",
            2,
            "max_grad_norm is -1",
        ),
        case(
            "train --out {dir}/new --algo ppo --total-steps 0",
            2,
            "total_steps is 0",
        ),
        case(
            "train --out {dir}/new --algo ppo --total-steps 99999999999999999999",
            2,
            "'99999999999999999999'",
        ),
        case(
            "train --out {dir}/new --algo ppo --episodes 100",
            2,
            "episodes is 100, but ppo does not use it (it applies to reinforce and baseline)",
        ),
        case(
            "train --out {dir}/new --total-steps 1000",
            2,
            "total_steps is 1000, but baseline does not use it (it applies to a2c and ppo)",
        ),
        case(
            "train --out {dir}/new --algo a2c --epochs 4",
            2,
            "epochs is 4, but a2c does not use it (it applies to ppo)",
        ),
        case(
            "train --out {dir}/new --norm-adv true",
            2,
            "norm_adv is true, but baseline does not use it",
        ),
        case(
            "train --out {dir}/new --anneal-lr true",
            2,
            "anneal_lr is true, but baseline does not use it",
        ),
        case(
            "train --out {dir}/new --algo a2c --anneal-clip true",
            2,
            "anneal_clip is true, but a2c does not use it (it applies to ppo)",
        ),
        case(
            "train --out {dir}/new --algo baseline --normalize-obs true",
            2,
            "normalize_obs is true, but baseline does not use it (it applies to a2c and ppo)",
        ),
        case(
            "train --out {dir}/new --algo ppo --env bandit-v0 --normalize-reward true",
            2,
            "normalize_reward is true, but Bandit-v0 has no observation to normalise",
        ),
        case(
            "train --out {dir}/new --algo ppo --log-std-init -1",
            2,
            "log_std_init is -1, but CartPole-v1 has discrete actions",
        ),
        case(
            "train --out {dir}/new --algo ppo --env pendulum-v1 --log-std-init 50",
            2,
            "log_std_init is 50: allowed a finite number in [-20, 2]",
        ),
        case(
            "train --out {dir}/new --algo ppo --env pendulum-v1 --log-std-init nan",
            2,
            "log_std_init is NaN",
        ),
        case(
            "train --out {dir}/new --algo ppo --use-sde true",
            2,
            "use_sde is true, but CartPole-v1 has discrete actions: gSDE applies to a Gaussian policy",
        ),
        case(
            "train --out {dir}/new --algo baseline --env pendulum-v1 --use-sde true",
            2,
            "use_sde is true, but baseline does not use it (it applies to a2c and ppo)",
        ),
        case(
            "train --out {dir}/new --algo ppo --env pendulum-v1 --use-sde true --acting backend",
            2,
            "use_sde is true with acting = \"backend\"",
        ),
        case(
            "train --out {dir}/new --algo ppo --env pendulum-v1 --use-sde true --sde-sample-freq 0",
            2,
            "sde_sample_freq is 0: allowed -1 (new exploration matrices at the start of each rollout only) or a positive number of steps",
        ),
        case(
            "train --out {dir}/new --algo ppo --env pendulum-v1 --sde-sample-freq 4",
            2,
            "sde_sample_freq is 4, but use_sde is false",
        ),
        case(
            "train --out {dir}/new --algo ppo --normalize-returns true",
            2,
            "normalize_returns is true, but ppo does not use it",
        ),
        case(
            "train --out {dir}/new --algo ppo --steps-per-update 100",
            2,
            "steps_per_update is 100: allowed a positive multiple of n_envs (8)",
        ),
        case(
            "train --out {dir}/new --optimizer sgd",
            2,
            "valid ones are adam, rmsprop",
        ),
        case(
            "train --out {dir}/new --optimizer-eps 0",
            2,
            "optimizer_eps is 0",
        ),
        case(
            "train --out {dir}/new --rmsprop-alpha 1",
            2,
            "rmsprop_alpha is 1: allowed [0, 1)",
        ),
        case(
            "train --out {dir}/new --init xavier",
            2,
            "valid ones are torch, orthogonal",
        ),
        case(
            "train --out {dir}/new --acting gpu",
            2,
            "valid ones are host, backend",
        ),
        case(
            "train --out {dir}/new --seed 18446744073709551615",
            2,
            "seed is 18446744073709551615: allowed 0 to 9223372036854775807",
        ),
        // Sizes that cannot fit: refused with the estimate and the machine's memory,
        // before anything is allocated.
        case(
            "train --out {dir}/new --hidden 100000,100000",
            2,
            "this configuration needs about",
        ),
        case(
            "train --out {dir}/new --n-envs 100000000 --episodes-per-update 100000000",
            2,
            "this machine has available",
        ),
        case(
            "train --out {dir}/new --steps-per-update 4000000000",
            2,
            "this configuration needs about",
        ),
        case(
            "compare --algos reinforce --clip-coef 0.3 --out {dir}/cmp",
            2,
            "--clip-coef is not used by reinforce",
        ),
        case("train --out {dir}/new --no-such-flag", 2, "--no-such-flag"),
        case("train", 2, "--out"),
        case("frobnicate", 2, "frobnicate"),
        // Config files.
        with(
            "train --out {dir}/new --config {dir}/c.toml",
            |d| write(d, "c.toml", b"lr = \n"),
            2,
            "invalid config file",
        ),
        with(
            "train --out {dir}/new --config {dir}/c.toml",
            |d| write(d, "c.toml", b"lr = \"fast\"\n"),
            2,
            "invalid config file",
        ),
        with(
            "train --out {dir}/new --config {dir}/c.toml",
            |d| write(d, "c.toml", b"learning_rate = 0.1\n"),
            2,
            "learning_rate",
        ),
        with(
            "train --out {dir}/new --config {dir}/c.toml",
            |d| write(d, "c.toml", b"gamma = 2.0\n"),
            2,
            "gamma is 2",
        ),
        with(
            "train --out {dir}/new --config {dir}/c.toml",
            |d| write(d, "c.toml", b"env = \"nope\"\n"),
            2,
            "unknown environment \"nope\"",
        ),
        with(
            "train --out {dir}/new --config {dir}/c.toml",
            |d| write(d, "c.toml", b"algo = \"dqn\"\n"),
            2,
            "unknown algorithm \"dqn\"",
        ),
        with(
            "train --out {dir}/new --config {dir}/c.toml",
            |d| write(d, "c.toml", b"episodes = -3\n"),
            2,
            "expected usize",
        ),
        with(
            "train --out {dir}/new --config {dir}/c.toml",
            |d| write(d, "c.toml", b"hidden = []\n"),
            2,
            "hidden is []",
        ),
        with(
            "train --out {dir}/new --config {dir}/c.toml",
            |d| write(d, "c.toml", b"algo = \"ppo\"\ntarget_kl = \"sometimes\"\n"),
            2,
            "expected a number or \"none\"",
        ),
        with(
            "train --out {dir}/new --config {dir}/c.toml",
            |d| write(d, "c.toml", b"algo = \"ppo\"\nclip_coef = -1\n"),
            2,
            "clip_coef is -1",
        ),
        with(
            "train --out {dir}/new --config {dir}/c.toml",
            |d| write(d, "c.toml", b"\xff\xfe\x00garbage"),
            2,
            "cannot read config file",
        ),
        case(
            "train --out {dir}/new --config {dir}/missing.toml",
            2,
            "cannot read config file",
        ),
        case(
            "train --out {dir}/new --config {dir}",
            2,
            "cannot read config file",
        ),
        // --out: never silently overwritten.
        case(
            "train --out {run} --episodes 3",
            2,
            "already holds a run (baseline on CartPole-v1, seed 0): continue it with `rl train --resume",
        ),
        with(
            "train --out {dir}/file --episodes 3",
            |d| write(d, "file", b"precious"),
            2,
            "is a file, not a folder",
        ),
        // --resume: the run's configuration cannot change.
        case("train --resume {run} --lr 0.1", 2, "cannot be used with"),
        case(
            "train --resume {run} --out {dir}/other",
            2,
            "cannot be used with",
        ),
        case("train --resume {run} --force", 2, "cannot be used with"),
        case(
            "train --resume {run} --config {dir}/c.toml",
            2,
            "cannot be used with",
        ),
        case(
            "train --resume {dir}/nothing",
            2,
            "is not a folder: no run to resume",
        ),
        case(
            "train --resume {dir}",
            2,
            "has no checkpoint (checkpoint.bin is missing)",
        ),
        // Checkpoints: missing, truncated, corrupt, foreign, from another version.
        with(
            "train --resume {run}",
            |d| std::fs::remove_file(ckpt(d)).unwrap(),
            2,
            "has no checkpoint",
        ),
        with(
            "train --resume {run}",
            |d| write(&d.join("run"), "checkpoint.bin", b""),
            2,
            "is truncated: 0 bytes",
        ),
        with(
            "train --resume {run}",
            |d| edit(&ckpt(d), |b| b.truncate(10)),
            2,
            "is truncated: 10 bytes",
        ),
        with(
            "train --resume {run}",
            |d| edit(&ckpt(d), |b| b.truncate(b.len() / 2)),
            2,
            "is truncated",
        ),
        with(
            "train --resume {run}",
            |d| {
                edit(&ckpt(d), |b| {
                    b.pop();
                })
            },
            2,
            "is truncated",
        ),
        with(
            "train --resume {run}",
            |d| edit(&ckpt(d), |b| b.push(0)),
            2,
            "is truncated",
        ),
        with(
            "train --resume {run}",
            |d| {
                edit(&ckpt(d), |b| {
                    let i = b.len() - 100;
                    b[i] ^= 1;
                })
            },
            2,
            "is corrupt (checksum mismatch)",
        ),
        with(
            "train --resume {run}",
            |d| edit(&ckpt(d), |b| b[30] = b[30].wrapping_add(1)),
            2,
            "is corrupt",
        ),
        with(
            "train --resume {run}",
            |d| edit(&ckpt(d), |b| b[8..12].copy_from_slice(&99u32.to_le_bytes())),
            2,
            "format version 99; this rl reads version 3",
        ),
        with(
            "train --resume {run}",
            |d| {
                write(
                    &d.join("run"),
                    "checkpoint.bin",
                    b"episode,env_steps\n1,2\n",
                )
            },
            2,
            "not an rl checkpoint",
        ),
        with(
            "train --resume {run}",
            |d| {
                std::fs::remove_file(ckpt(d)).unwrap();
                std::fs::create_dir(ckpt(d)).unwrap();
            },
            2,
            "cannot read",
        ),
        // The run folder around the checkpoint.
        with(
            "train --resume {run}",
            |d| {
                edit(&d.join("run/config.toml"), |b| {
                    *b = String::from_utf8(b.clone())
                        .unwrap()
                        .replace("seed = 0", "seed = 1")
                        .into_bytes()
                })
            },
            2,
            "config.toml differs from the run's checkpoint",
        ),
        with(
            "train --resume {run}",
            |d| write(&d.join("run"), "config.toml", b"\x00\x01 not toml"),
            2,
            "not a valid run configuration",
        ),
        with(
            "train --resume {run}",
            |d| {
                std::fs::remove_file(d.join("run/config.toml")).unwrap();
                edit(&ckpt(d), |b| b.truncate(50));
            },
            2,
            "is truncated",
        ),
        with(
            "train --resume {run}",
            |d| {
                edit(&d.join("run/config.toml"), |b| {
                    *b = String::from_utf8(b.clone())
                        .unwrap()
                        .replace("format = 1", "format = 99")
                        .into_bytes()
                })
            },
            2,
            "format version 99",
        ),
        with(
            "eval --model {run}",
            |d| std::fs::remove_file(d.join("run/model.mpk")).unwrap(),
            2,
            "has no trained model",
        ),
        with(
            "eval --model {run}",
            |d| edit(&d.join("run/model.mpk"), |b| b.truncate(b.len() / 3)),
            2,
            "corrupt",
        ),
        with(
            "eval --model {run}",
            |d| write(&d.join("run"), "model.mpk", b"not a model"),
            2,
            "corrupt",
        ),
        with(
            "eval --model {run}",
            |d| {
                edit(&d.join("run/config.toml"), |b| {
                    *b = String::from_utf8(b.clone())
                        .unwrap()
                        .replace("hidden = [\n    8,\n    8,\n]", "hidden = [16]")
                        .into_bytes()
                })
            },
            2,
            "corrupt or from another network",
        ),
        with(
            "eval --model {run}",
            |d| write(&d.join("run"), "config.toml", b""),
            2,
            "not a valid run configuration",
        ),
        with(
            "eval --model {run}",
            |d| std::fs::remove_file(d.join("run/config.toml")).unwrap(),
            2,
            "a run folder?",
        ),
        case("eval --model {dir}/nothing", 2, "a run folder?"),
        with(
            "export --model {run} --out {dir}/p.safetensors",
            |d| std::fs::remove_file(d.join("run/model.mpk")).unwrap(),
            2,
            "its training has not finished; continue it with `rl train --resume",
        ),
        case("eval --model {run} --episodes 0", 2, "'0'"),
        with(
            "export --model {run} --out {dir}/p.safetensors",
            |d| write(d, "p.safetensors", b"precious"),
            2,
            "exists: pass --force",
        ),
        case(
            "export --model {dir}/nothing --out {dir}/p.safetensors",
            2,
            "a run folder?",
        ),
        // Comparison folders.
        with(
            "plot {dir}",
            |d| std::fs::remove_dir_all(d.join("run")).unwrap(),
            2,
            "holds no run",
        ),
        with(
            "plot {dir}",
            |d| {
                edit(&d.join("run/metrics.csv"), |b| {
                    b.extend_from_slice(b"6,60,lots,1,0,0,0\n")
                })
            },
            2,
            "has no numeric return",
        ),
        case("compare --seeds 0 --out {dir}/cmp", 2, "'0'"),
        // Data-parallel training.
        case(
            "train --out {dir}/new --workers 0",
            2,
            "--workers must be at least 1",
        ),
        #[cfg(not(feature = "mpi"))]
        case(
            "train --out {dir}/new --workers 2",
            2,
            "--workers needs an rl built with MPI: cargo build --release --features mpi",
        ),
    ]
}

#[test]
fn fifty_and_more_malformed_inputs_get_a_clear_error_and_lose_nothing() {
    let cases = cases();
    assert!(cases.len() >= 50, "{} cases", cases.len());
    println!("{} malformed inputs", cases.len());
    let mut failures = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir(&run).unwrap();
        for f in std::fs::read_dir(template().join("run")).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, run.join(f.file_name().unwrap())).unwrap();
        }
        (c.setup)(dir.path());
        let before = snapshot(dir.path());
        let args: Vec<String> = c
            .args
            .split(' ')
            .map(|a| {
                a.replace("{run}", run.to_str().unwrap())
                    .replace("{dir}", dir.path().to_str().unwrap())
            })
            .collect();
        let o = Command::new(env!("CARGO_BIN_EXE_rl"))
            .args(&args)
            .output()
            .unwrap();
        let t = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let mut problems = Vec::new();
        if o.status.code() != Some(c.code) {
            problems.push(format!("exit {:?}, want {}", o.status.code(), c.code));
        }
        if !t.contains(c.want) {
            problems.push(format!("message lacks {:?}", c.want));
        }
        if t.contains("panicked") || !t.contains("error") {
            problems.push("no clear error (or a panic)".into());
        }
        if snapshot(dir.path()) != before {
            problems.push("files changed".into());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "case {i} `{}`: {}\n{t}",
                c.args,
                problems.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
