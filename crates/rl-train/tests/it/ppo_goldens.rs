//! GAE, PPO and A2C against PyTorch: every case of `tests/goldens/ppo_loss.json` (copied
//! from the project's shared goldens), and of the file named by `RL_PPO_GOLDENS` when
//! set.
//!
//! - `gae`: a time-major `[T][N]` rollout with terminations, time-limit truncations
//!   (some on terminated steps, whose bootstrap value must be ignored) and the rollout's
//!   cut, laid out as the learners lay it out (environment after environment, the cut
//!   marked truncated) and given to rl-core's estimator: advantages, returns, and the
//!   TD errors as GAE(0).
//! - `ppo_discrete`, `ppo_gaussian`: the network's `evaluate`, the minibatch advantage
//!   normalisation, and `loss` with the clipped surrogate: every per-row term, each loss
//!   term, the diagnostics and the gradient of every parameter (`policy.log_std`
//!   included).
//! - `a2c`: the rollout's GAE, then `loss` with the vanilla objective and the mean
//!   squared value error.
//!
//! Tolerance: the golden README's, relative 1e-4 with an absolute floor of 1e-6;
//! `clipfrac` exactly (the same number of clipped rows).

use crate::common::{check, check_grads, f32s, f64s, golden_files, read, sizes, torch_weights};
use burn::optim::GradientsParams;
use burn::prelude::*;
use rl_core::{Advantage, Batch, normalize_in_place};
use rl_models::backend::{TrainBackend as B, device};
use rl_models::{ActionBatch, ActionHead, ActorCritic, ActorCriticConfig, ValueNetwork};
use rl_train::loss::{
    LossCoefs, Objective, PolicyObjective, Targets, ValueObjective, composed, loss,
};
use serde_json::Value;

/// A `[T][N]` array of booleans, flattened time-major.
fn bools(v: &Value) -> Vec<bool> {
    f64s(v).into_iter().map(|x| x != 0.0).collect()
}

/// A `[T][N]` array that may hold nulls, flattened time-major.
fn optional(v: &Value) -> Vec<Option<f32>> {
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter())
        .map(|x| x.as_f64().map(|x| x as f32))
        .collect()
}

/// A time-major rollout as the learners lay it out, with its GAE.
struct Rollout {
    t: usize,
    n: usize,
    advantages: Vec<f32>,
    returns: Vec<f32>,
    deltas: Vec<f32>,
}

impl Rollout {
    /// Row `t*N + n` of the time-major layout, from the learners' environment-major one.
    fn time_major(&self, x: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; x.len()];
        for env in 0..self.n {
            for step in 0..self.t {
                out[step * self.n + env] = x[env * self.t + step];
            }
        }
        out
    }
}

/// Runs rl-core's GAE on a golden rollout block (the `gae` case itself, or an `a2c`
/// case's `rollout`), and checks every expected array it has.
fn gae(name: &str, r: &Value, expected: Option<&Value>, failures: &mut Vec<String>) -> Rollout {
    let (t, n) = (
        r["T"].as_u64().unwrap() as usize,
        r["N"].as_u64().unwrap() as usize,
    );
    let batch = if r.get("rewards").is_some() {
        r
    } else {
        &r["batch"]
    };
    let (rewards, values) = (f32s(&batch["rewards"]), f32s(&batch["values"]));
    let (terminated, truncated) = (bools(&batch["terminated"]), bools(&batch["truncated"]));
    let bootstrap = optional(&batch["bootstrap_value"]);
    assert_eq!(rewards.len(), t * n, "{name}: [T][N] rewards");
    // Environment after environment; the rollout's last step is a cut (a truncation
    // bootstrapped from the next observation's value) unless it terminated.
    let (mut r_e, mut v_e, mut te_e, mut tr_e, mut tv_e) = (vec![], vec![], vec![], vec![], vec![]);
    for env in 0..n {
        for step in 0..t {
            let i = step * n + env;
            let cut = step == t - 1;
            let trunc = truncated[i] || (cut && !terminated[i]);
            r_e.push(rewards[i]);
            v_e.push(values[i]);
            te_e.push(terminated[i]);
            tr_e.push(trunc);
            tv_e.push(if trunc && !terminated[i] {
                bootstrap[i]
                    .unwrap_or_else(|| panic!("{name}: no bootstrap value at ({step}, {env})"))
            } else {
                0.0
            });
        }
    }
    let b = Batch {
        rewards: &r_e,
        terminated: &te_e,
        truncated: &tr_e,
        values: &v_e,
        truncation_values: &tv_e,
    };
    let (gamma, lambda) = (
        r["gamma"].as_f64().unwrap() as f32,
        r["gae_lambda"].as_f64().unwrap() as f32,
    );
    let est = Advantage::Gae { lambda }.compute(&b, gamma, false).unwrap();
    let td = Advantage::Td0.compute(&b, gamma, false).unwrap();
    let out = Rollout {
        t,
        n,
        advantages: est.advantages,
        returns: est.returns,
        deltas: td.advantages,
    };
    if let Some(e) = expected {
        for (what, got) in [
            ("deltas", &out.deltas),
            ("advantages", &out.advantages),
            ("returns", &out.returns),
        ] {
            check(name, what, &out.time_major(got), &f64s(&e[what]), failures);
        }
    }
    out
}

/// The case's network, with its PyTorch weights.
fn model(case: &Value) -> ActorCritic<B> {
    let name = case["name"].as_str().unwrap();
    assert_eq!(
        case["activation"], "tanh",
        "{name}: only tanh cases are known"
    );
    let hidden = sizes(&case["hidden"]);
    let shared = case["shared_trunk"].as_bool().unwrap();
    let value_hidden = (!shared).then(|| sizes(&case["value_hidden"]));
    let action = match case.get("n_actions").and_then(Value::as_u64) {
        Some(n) => ActionHead::Categorical {
            n_actions: n as usize,
        },
        None => ActionHead::Gaussian {
            action_dim: case["action_dim"].as_u64().unwrap() as usize,
        },
    };
    ActorCriticConfig::new(case["obs_dim"].as_u64().unwrap() as usize, action)
        .with_hidden(hidden)
        .with_value(if shared {
            ValueNetwork::Shared
        } else {
            ValueNetwork::Separate
        })
        .with_value_hidden(value_hidden)
        .init::<B>(&device())
        .load_torch(&torch_weights(&case["weights"]))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The batch's actions, for the network's head.
fn actions(model: &ActorCritic<B>, batch: &Value) -> ActionBatch<B> {
    let dev = device();
    match &model.policy {
        rl_models::PolicyHead::Categorical(_) => {
            let a: Vec<i64> = f64s(&batch["actions"]).iter().map(|&a| a as i64).collect();
            let n = a.len();
            ActionBatch::Discrete(Tensor::from_data(TensorData::new(a, [n]), &dev))
        }
        rl_models::PolicyHead::Gaussian(h) => {
            let d = h.log_std.dims()[0];
            let a = f32s(&batch["actions"]);
            let n = a.len() / d;
            ActionBatch::Continuous(Tensor::from_data(TensorData::new(a, [n, d]), &dev))
        }
        _ => unreachable!("the goldens have categorical and Gaussian heads only"),
    }
}

fn tensor(v: Vec<f32>) -> Tensor<B, 1> {
    let n = v.len();
    Tensor::from_data(TensorData::new(v, [n]), &device())
}

/// Checks the policy head's outputs: logits, or the Gaussian's means and stds.
fn check_head(
    name: &str,
    model: &ActorCritic<B>,
    obs: Tensor<B, 2>,
    e: &Value,
    failures: &mut Vec<String>,
) {
    let out = read(model.policy_forward(obs));
    match &model.policy {
        rl_models::PolicyHead::Categorical(_) => {
            check(name, "logits", &out, &f64s(&e["logits"]), failures)
        }
        rl_models::PolicyHead::Gaussian(h) => {
            check(
                name,
                "action_mean",
                &out,
                &f64s(&e["action_mean"]),
                failures,
            );
            let std: Vec<f32> = read(h.log_std.val().exp());
            check(name, "action_std", &std, &f64s(&e["action_std"]), failures);
        }
        _ => unreachable!("the goldens have categorical and Gaussian heads only"),
    }
}

fn ppo(case: &Value, failures: &mut Vec<String>) {
    let name = case["name"].as_str().unwrap();
    let (batch, e) = (&case["batch"], &case["expected"]);
    let model = model(case);
    let obs_dim = case["obs_dim"].as_u64().unwrap() as usize;
    let obs = f32s(&batch["obs"]);
    let rows = obs.len() / obs_dim;
    let obs = Tensor::<B, 2>::from_data(TensorData::new(obs, [rows, obs_dim]), &device());
    check_head(name, &model, obs.clone(), e, failures);

    // The learner's steps: evaluate with the graph, normalise the minibatch's advantages
    // on the host, the loss with the clipped surrogate (and clipped value loss).
    let eval = model.evaluate(obs, actions(&model, batch));
    check(
        name,
        "new_log_probs",
        &read(eval.log_prob.clone()),
        &f64s(&e["new_log_probs"]),
        failures,
    );
    let entropies = read(eval.entropy.clone());
    let entropies = if entropies.len() == 1 {
        vec![entropies[0]; rows]
    } else {
        entropies
    };
    check(
        name,
        "entropies",
        &entropies,
        &f64s(&e["entropies"]),
        failures,
    );
    check(
        name,
        "values",
        &read(eval.value.clone().unwrap()),
        &f64s(&e["values"]),
        failures,
    );
    let mut advantages = f32s(&batch["advantages"]);
    if case["norm_adv"].as_bool().unwrap() {
        normalize_in_place(&mut advantages);
    }
    check(
        name,
        "advantages_used",
        &advantages,
        &f64s(&e["advantages_used"]),
        failures,
    );
    let clip_coef = case["clip_coef"].as_f64().unwrap() as f32;
    let clip_vloss = case["clip_vloss"].as_bool().unwrap();
    let objective = Objective {
        policy: PolicyObjective::Clipped { clip_coef },
        value: ValueObjective::HalfMse {
            clip: clip_vloss.then_some(clip_coef),
        },
    };
    let coefs = LossCoefs {
        vf_coef: case["vf_coef"].as_f64().unwrap() as f32,
        ent_coef: case["ent_coef"].as_f64().unwrap() as f32,
    };
    let targets = || Targets {
        advantages: tensor(advantages.clone()),
        returns: tensor(f32s(&batch["returns"])),
        old_log_probs: Some(tensor(f32s(&batch["old_log_probs"]))),
        old_values: Some(tensor(f32s(&batch["old_values"]))),
    };
    // Every per-row term, from the composed form (the one every backend has).
    let l = composed(eval, targets(), objective, coefs);
    let s = l.surrogate.clone().expect("the clipped surrogate's rows");
    check(
        name,
        "logratio",
        &read(s.log_ratio),
        &f64s(&e["logratio"]),
        failures,
    );
    check(name, "ratio", &read(s.ratio), &f64s(&e["ratio"]), failures);
    check(
        name,
        "pg_losses",
        &read(s.terms),
        &f64s(&e["pg_losses"]),
        failures,
    );
    let v = l.value_rows.clone().expect("a value head");
    // Without value clipping, the loss has no clipped value (PyTorch's is a by-product).
    if let Some(vc) = v.v_clipped {
        check(
            name,
            "v_clipped",
            &read(vc),
            &f64s(&e["v_clipped"]),
            failures,
        );
    }
    check(
        name,
        "v_losses",
        &read(v.terms),
        &f64s(&e["v_losses"]),
        failures,
    );
    check_totals(name, "composed", &model, l, rows, e, failures);
    // And the learners' loss (one host node on ndarray): every term and gradient.
    let eval = model.evaluate(obs_again(case), actions(&model, batch));
    let l = loss(eval, targets(), objective, coefs);
    check_totals(name, "loss", &model, l, rows, e, failures);
}

/// The observations of a case's batch.
fn obs_again(case: &Value) -> Tensor<B, 2> {
    let obs_dim = case["obs_dim"].as_u64().unwrap() as usize;
    let obs = f32s(&case["batch"]["obs"]);
    let rows = obs.len() / obs_dim;
    Tensor::<B, 2>::from_data(TensorData::new(obs, [rows, obs_dim]), &device())
}

/// Each loss term, PPO's diagnostics and every gradient of `l` against the case.
fn check_totals(
    name: &str,
    form: &str,
    model: &ActorCritic<B>,
    l: rl_train::loss::Loss<B>,
    rows: usize,
    e: &Value,
    failures: &mut Vec<String>,
) {
    let label = format!("{name} ({form})");
    let d = l
        .diagnostics
        .clone()
        .expect("the clipped surrogate's diagnostics");
    for (what, t) in [
        ("pg_loss", l.policy_loss.clone()),
        ("v_loss", l.value_loss.clone()),
        ("entropy_loss", l.entropy.clone()),
        ("entropy_mean", l.entropy.clone()),
        ("loss", l.total.clone()),
        ("approx_kl", d.approx_kl),
        ("old_approx_kl", d.old_approx_kl),
    ] {
        check(&label, what, &read(t), &f64s(&e[what]), failures);
    }
    // A fraction of rows: the same rows must be clipped (f32 holds k/rows to 1 ulp).
    let clipped = f64::from(read(d.clipfrac)[0]) * rows as f64;
    let want = e["clipfrac"].as_f64().unwrap() * rows as f64;
    if clipped.round() != want.round() || (clipped - clipped.round()).abs() > 1e-4 {
        failures.push(format!(
            "{label}: {clipped} of {rows} rows clipped, want {want}"
        ));
    }
    let grads = GradientsParams::from_grads(l.total.backward(), model);
    check_grads(&label, model, &grads, &e["grads"], failures);
}

fn a2c(case: &Value, failures: &mut Vec<String>) {
    let name = case["name"].as_str().unwrap();
    let (batch, e) = (&case["batch"], &case["expected"]);
    // The rollout's GAE, as the learner computes it, gives the batch's constants.
    let r = gae(name, &case["rollout"], None, failures);
    check(
        name,
        "rollout advantages",
        &r.time_major(&r.advantages),
        &f64s(&batch["advantages"]),
        failures,
    );
    check(
        name,
        "rollout returns",
        &r.time_major(&r.returns),
        &f64s(&batch["returns"]),
        failures,
    );

    let model = model(case);
    let obs_dim = case["obs_dim"].as_u64().unwrap() as usize;
    let obs = f32s(&batch["obs"]);
    let rows = obs.len() / obs_dim;
    let obs = Tensor::<B, 2>::from_data(TensorData::new(obs, [rows, obs_dim]), &device());
    check_head(name, &model, obs.clone(), e, failures);
    let eval = model.evaluate(obs, actions(&model, batch));
    check(
        name,
        "log_probs",
        &read(eval.log_prob.clone()),
        &f64s(&e["log_probs"]),
        failures,
    );
    let entropies = read(eval.entropy.clone());
    let entropies = if entropies.len() == 1 {
        vec![entropies[0]; rows]
    } else {
        entropies
    };
    check(
        name,
        "entropies",
        &entropies,
        &f64s(&e["entropies"]),
        failures,
    );
    check(
        name,
        "values",
        &read(eval.value.clone().unwrap()),
        &f64s(&e["values"]),
        failures,
    );
    let mut advantages = f32s(&batch["advantages"]);
    if case["normalize_advantage"].as_bool().unwrap() {
        normalize_in_place(&mut advantages);
    }
    check(
        name,
        "advantages_used",
        &advantages,
        &f64s(&e["advantages_used"]),
        failures,
    );
    let coefs = LossCoefs {
        vf_coef: case["vf_coef"].as_f64().unwrap() as f32,
        ent_coef: case["ent_coef"].as_f64().unwrap() as f32,
    };
    let l = loss(
        eval,
        Targets {
            advantages: tensor(advantages),
            returns: tensor(f32s(&batch["returns"])),
            old_log_probs: None,
            old_values: None,
        },
        Objective::VANILLA,
        coefs,
    );
    // SB3 names the entropy term with its sign in the loss: -mean(entropy).
    let entropy_loss: Vec<f32> = read(l.entropy.clone()).iter().map(|h| -h).collect();
    check(
        name,
        "entropy_loss",
        &entropy_loss,
        &f64s(&e["entropy_loss"]),
        failures,
    );
    for (what, t) in [
        ("policy_loss", l.policy_loss.clone()),
        ("value_loss", l.value_loss.clone()),
        ("entropy_mean", l.entropy.clone()),
        ("loss", l.total.clone()),
    ] {
        check(name, what, &read(t), &f64s(&e[what]), failures);
    }
    let grads = GradientsParams::from_grads(l.total.backward(), &model);
    check_grads(name, &model, &grads, &e["grads"], failures);
}

#[test]
fn gae_ppo_and_a2c_match_pytorch() {
    let mut total = 0;
    for (path, file) in golden_files(
        &["ppo_loss.json", "ppo_loss_critics.json"],
        "RL_PPO_GOLDENS",
    ) {
        let cases = file["cases"].as_array().expect("cases");
        let mut failures = Vec::new();
        let mut kinds = std::collections::BTreeMap::<String, usize>::new();
        for case in cases {
            let kind = case["kind"].as_str().unwrap();
            match kind {
                "gae" => {
                    gae(
                        case["name"].as_str().unwrap(),
                        case,
                        Some(&case["expected"]),
                        &mut failures,
                    );
                }
                "ppo_discrete" | "ppo_gaussian" => ppo(case, &mut failures),
                "a2c" => a2c(case, &mut failures),
                other => failures.push(format!("unknown case kind {other:?}")),
            }
            *kinds.entry(kind.to_string()).or_default() += 1;
        }
        assert!(
            failures.is_empty(),
            "{}:\n{}",
            path.display(),
            failures.join("\n")
        );
        println!(
            "{}: every number of {kinds:?} matches PyTorch",
            path.display()
        );
        total += cases.len();
    }
    assert!(total > 0, "no golden case found");
}
