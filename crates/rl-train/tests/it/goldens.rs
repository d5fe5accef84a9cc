//! The REINFORCE and baseline losses against PyTorch: every case of
//! `tests/goldens/pg_loss.json`, and of the file named by `RL_GOLDENS` when set.
//!
//! Per case: load the PyTorch weights, run the same pipeline the learners run (forward,
//! read values back, rl-core's estimator, `loss`, backward), and compare returns,
//! normalised targets, log-probabilities, entropies, values, each loss term, the total,
//! and the gradient of every weight and bias. Tolerance: the golden README's float32
//! honesty, relative 1e-4 with an absolute floor of 1e-6 near zero.

use crate::common::{check, check_grads, f64s, golden_files, read, sizes, torch_weights};
use burn::optim::GradientsParams;
use burn::prelude::*;
use rl_core::{Advantage, Batch};
use rl_models::backend::{TrainBackend as B, device};
use rl_models::{ActionBatch, ActionHead, ActorCriticConfig, ValueNetwork};
use rl_train::loss::{LossCoefs, Objective, Targets, loss};
use serde_json::Value;

fn run_case(case: &Value, failures: &mut Vec<String>) {
    let name = case["name"].as_str().unwrap();
    assert_eq!(
        case["activation"], "tanh",
        "{name}: only tanh cases are known"
    );
    let dev = device();
    let obs_dim = case["obs_dim"].as_u64().unwrap() as usize;
    let n_actions = case["n_actions"].as_u64().unwrap() as usize;
    let hidden = sizes(&case["hidden"]);
    let baseline = case["baseline"].as_bool().unwrap();
    // A case without `shared_trunk` is the lesson's: the value head on the policy's trunk.
    let separate = case.get("shared_trunk").and_then(Value::as_bool) == Some(false);
    let cfg = ActorCriticConfig::new(obs_dim, ActionHead::Categorical { n_actions })
        .with_hidden(hidden)
        .with_value(match (baseline, separate) {
            (false, _) => ValueNetwork::None,
            (true, false) => ValueNetwork::Shared,
            (true, true) => ValueNetwork::Separate,
        })
        .with_value_hidden(separate.then(|| sizes(&case["value_hidden"])));
    let tensors = torch_weights(&case["weights"]);
    let model = cfg
        .init::<B>(&dev)
        .load_torch(&tensors)
        .unwrap_or_else(|e| panic!("{name}: {e}"));

    let batch = &case["batch"];
    let obs: Vec<f32> = f64s(&batch["obs"]).iter().map(|&x| x as f32).collect();
    let n = obs.len() / obs_dim;
    let actions: Vec<i64> = f64s(&batch["actions"]).iter().map(|&a| a as i64).collect();
    let rewards: Vec<f32> = f64s(&batch["rewards"]).iter().map(|&r| r as f32).collect();
    let flags = |k: &str| -> Vec<bool> {
        batch[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_bool().unwrap())
            .collect()
    };
    let (terminated, truncated) = (flags("terminated"), flags("truncated"));

    // The learners' pipeline: one evaluation with the graph, values read back once,
    // estimator.
    let obs_t = Tensor::<B, 2>::from_data(TensorData::new(obs, [n, obs_dim]), &dev);
    let actions_t = Tensor::<B, 1, Int>::from_data(TensorData::new(actions, [n]), &dev);
    let out = model.policy_forward(obs_t.clone());
    let eval = model.evaluate(obs_t, ActionBatch::Discrete(actions_t.clone()));
    let host_values = eval
        .value
        .as_ref()
        .map(|v| read(v.clone()))
        .unwrap_or_default();
    let estimator = if baseline {
        Advantage::Baseline
    } else {
        Advantage::MonteCarlo
    };
    let gamma = case["gamma"].as_f64().unwrap() as f32;
    let normalize = case["normalize_returns"].as_bool().unwrap();
    let raw = rl_core::discounted_returns(&rewards, &terminated, &truncated, gamma).unwrap();
    let est = estimator
        .compute(
            &Batch {
                rewards: &rewards,
                terminated: &terminated,
                truncated: &truncated,
                values: &host_values,
                truncation_values: &[],
            },
            gamma,
            normalize,
        )
        .unwrap();
    let expected = &case["expected"];
    check(name, "returns", &raw, &f64s(&expected["returns"]), failures);
    check(
        name,
        "targets",
        &est.returns,
        &f64s(&expected["targets"]),
        failures,
    );
    if baseline {
        check(
            name,
            "values",
            &host_values,
            &f64s(&expected["values"]),
            failures,
        );
    }

    check(
        name,
        "log_probs",
        &read(eval.log_prob.clone()),
        &f64s(&expected["log_probs"]),
        failures,
    );
    check(
        name,
        "entropy (evaluate)",
        &read(eval.entropy.clone()),
        &f64s(&expected["entropy"]),
        failures,
    );
    check(
        name,
        "entropy",
        &read(model.policy.entropy(out.clone())),
        &f64s(&expected["entropy"]),
        failures,
    );

    let coefs = LossCoefs {
        vf_coef: case["vf_coef"].as_f64().unwrap() as f32,
        ent_coef: case["ent_coef"].as_f64().unwrap() as f32,
    };
    let adv = Tensor::<B, 1>::from_data(TensorData::new(est.advantages, [n]), &dev);
    let targets = Tensor::<B, 1>::from_data(TensorData::new(est.returns, [n]), &dev);
    let loss = loss(
        eval,
        Targets {
            advantages: adv,
            returns: targets,
            old_log_probs: None,
            old_values: None,
        },
        Objective::VANILLA,
        coefs,
    );
    check(
        name,
        "policy_loss",
        &read(loss.policy_loss.clone()),
        &f64s(&expected["policy_loss"]),
        failures,
    );
    check(
        name,
        "value_loss",
        &read(loss.value_loss.clone()),
        &f64s(&expected["value_loss"]),
        failures,
    );
    check(
        name,
        "entropy_mean",
        &read(loss.entropy.clone()),
        &f64s(&expected["entropy_mean"]),
        failures,
    );
    check(
        name,
        "loss",
        &read(loss.total.clone()),
        &f64s(&expected["loss"]),
        failures,
    );

    let grads = GradientsParams::from_grads(loss.total.backward(), &model);
    check_grads(name, &model, &grads, &expected["grads"], failures);
}

#[test]
fn losses_and_gradients_match_pytorch() {
    let mut n = 0;
    for (path, file) in golden_files(&["pg_loss.json", "pg_loss_critics.json"], "RL_GOLDENS") {
        let cases = file["cases"].as_array().expect("cases");
        let mut failures = Vec::new();
        for case in cases {
            run_case(case, &mut failures);
        }
        assert!(
            failures.is_empty(),
            "{}:\n{}",
            path.display(),
            failures.join("\n")
        );
        println!("{}: {} cases match PyTorch", path.display(), cases.len());
        n += cases.len();
    }
    assert!(n > 0, "no golden case found");
}
