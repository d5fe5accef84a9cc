//! Replays Gymnasium 1.4.0's golden episodes and demands bit-exact agreement.
//!
//! Every `*.json` under `tests/conformance/` is replayed, and, when the environment
//! variable `RL_CONFORMANCE_DIR` names a folder, every `*.json` in it too. Each case sets
//! the recorded initial state, applies the recorded actions, and compares at every step
//! the f64 state, the f32 observation and the f64 reward by bits, and both flags exactly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rl_core::{Action, Builtin, Env, InternalState};
use serde_json::Value;

fn trace_files() -> Vec<PathBuf> {
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")];
    if let Some(extra) = std::env::var_os("RL_CONFORMANCE_DIR") {
        dirs.push(PathBuf::from(extra));
    }
    let mut files = Vec::new();
    for dir in dirs {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// Replays one case; returns its number of steps or a description of the first mismatch.
fn replay(env: &mut dyn InternalState, case: &Value) -> Result<usize, String> {
    let mismatch = |t: usize, what: &str, got: String, want: String| {
        format!("step {t}: {what} {got} != {want}")
    };
    let initial = f64s(&case["initial_state"]);
    let obs0 = env.set_state(&initial).map_err(|e| e.to_string())?.to_vec();
    let want0: Vec<f32> = f64s(&case["initial_observation"])
        .iter()
        .map(|&v| v as f32)
        .collect();
    if obs0
        .iter()
        .map(|v| v.to_bits())
        .ne(want0.iter().map(|v| v.to_bits()))
    {
        return Err(mismatch(
            0,
            "observation",
            format!("{obs0:?}"),
            format!("{want0:?}"),
        ));
    }
    let steps = case["steps"].as_array().expect("steps");
    if steps.len() as u64 != case["n_steps"].as_u64().expect("n_steps") {
        return Err(format!(
            "n_steps disagrees with the {} recorded steps",
            steps.len()
        ));
    }
    let mut episode_return = 0.0_f64;
    for step in steps {
        let t = step["t"].as_u64().expect("t") as usize;
        let action_value = &step["action"];
        let continuous;
        let action = if let Some(a) = action_value.as_u64() {
            Action::Discrete(a as usize)
        } else {
            let a = action_value.as_f64().expect("numeric action");
            assert_eq!(
                f64::from(a as f32),
                a,
                "continuous actions are f32-representable"
            );
            continuous = [a as f32];
            Action::Continuous(&continuous)
        };
        let got = env.step(action).map_err(|e| format!("step {t}: {e}"))?;
        let (reward, terminated, truncated) = (got.reward, got.terminated, got.truncated);
        let obs = got.observation.to_vec();
        let want_obs: Vec<f32> = f64s(&step["observation"])
            .iter()
            .map(|&v| v as f32)
            .collect();
        if obs
            .iter()
            .map(|v| v.to_bits())
            .ne(want_obs.iter().map(|v| v.to_bits()))
        {
            return Err(mismatch(
                t,
                "observation",
                format!("{obs:?}"),
                format!("{want_obs:?}"),
            ));
        }
        let state = env.state();
        let want_state = f64s(&step["state"]);
        if state
            .iter()
            .map(|v| v.to_bits())
            .ne(want_state.iter().map(|v| v.to_bits()))
        {
            return Err(mismatch(
                t,
                "state",
                format!("{state:?}"),
                format!("{want_state:?}"),
            ));
        }
        let want_reward = step["reward"].as_f64().expect("reward");
        if reward.to_bits() != want_reward.to_bits() {
            return Err(mismatch(
                t,
                "reward",
                format!("{reward:?}"),
                format!("{want_reward:?}"),
            ));
        }
        for (name, got, key) in [
            ("terminated", terminated, "terminated"),
            ("truncated", truncated, "truncated"),
        ] {
            let want = step[key].as_bool().expect("flag");
            if got != want {
                return Err(mismatch(t, name, got.to_string(), want.to_string()));
            }
        }
        episode_return += reward;
    }
    let want_return = case["episode_return"].as_f64().expect("episode_return");
    if episode_return.to_bits() != want_return.to_bits() {
        return Err(format!("episode return {episode_return} != {want_return}"));
    }
    // The episode is over: stepping again must be refused.
    if env.step(Action::Discrete(0)).is_ok() || env.step(Action::Continuous(&[0.0])).is_ok() {
        return Err("stepping the finished episode was not refused".to_string());
    }
    Ok(steps.len())
}

#[test]
fn gymnasium_traces_replay_bit_for_bit() {
    let mut passed: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    let files = trace_files();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let file: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let env_id = file["env_id"].as_str().expect("env_id");
        let id = Builtin::from_id(env_id)
            .unwrap_or_else(|| panic!("{}: no environment {env_id}", path.display()));
        let limit = file["max_episode_steps"].as_u64().map(|l| l as usize);
        for case in file["cases"].as_array().expect("cases") {
            let mut env = id.make();
            assert_eq!(env.spec().max_episode_steps, limit, "{env_id}: time limit");
            let name = case["name"].as_str().unwrap_or("?");
            match replay(&mut *env, case) {
                Ok(steps) => {
                    let e = passed.entry(env_id.to_string()).or_default();
                    e.0 += 1;
                    e.1 += steps;
                }
                Err(msg) => failures.push(format!("{} {env_id}/{name}: {msg}", path.display())),
            }
        }
    }
    for (env, (cases, steps)) in &passed {
        println!("{env}: {cases} cases, {steps} steps bit-exact");
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(!passed.is_empty(), "no conformance case found in {files:?}");
}
