//! Helpers shared by the golden tests: JSON numbers, the golden README's tolerance,
//! PyTorch weights into a model, and gradients out in PyTorch's layout.

#![allow(dead_code)]

use std::collections::HashMap;

use burn::module::{ModuleMapper, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use rl_models::ActorCritic;
use rl_models::backend::TrainBackend as B;
use rl_models::torch::TorchTensor;
use serde_json::Value;

/// The golden README's float32 honesty: relative 1e-4, absolute 1e-6 near zero.
pub const REL: f64 = 1e-4;
/// See [`REL`].
pub const ABS: f64 = 1e-6;

/// Every number in `v`, flattened in row-major order (booleans as 0/1).
pub fn f64s(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(f64s).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        Value::Bool(b) => vec![f64::from(u8::from(*b))],
        _ => panic!("not numeric: {v}"),
    }
}

/// A JSON list of layer sizes.
pub fn sizes(v: &Value) -> Vec<usize> {
    f64s(v).into_iter().map(|x| x as usize).collect()
}

/// `f64s` as f32.
pub fn f32s(v: &Value) -> Vec<f32> {
    f64s(v).into_iter().map(|x| x as f32).collect()
}

/// The shape of a nested JSON array.
pub fn shape(v: &Value) -> Vec<usize> {
    match v {
        Value::Array(a) => {
            let mut s = vec![a.len()];
            if let Some(first) = a.first() {
                s.extend(shape(first));
            }
            s
        }
        _ => vec![],
    }
}

/// Records a failure unless every value is within the tolerance.
pub fn check(case: &str, what: &str, got: &[f32], want: &[f64], failures: &mut Vec<String>) {
    if got.len() != want.len() {
        failures.push(format!(
            "{case}: {what} has {} values, want {}",
            got.len(),
            want.len()
        ));
        return;
    }
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        if (f64::from(g) - w).abs() > ABS.max(REL * w.abs()) {
            failures.push(format!("{case}: {what}[{i}] = {g}, want {w}"));
            return;
        }
    }
}

/// A tensor's values.
pub fn read<B2: Backend, const D: usize>(t: Tensor<B2, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec().unwrap()
}

/// A case's `weights` object (`{"trunk.0": {"weight": .., "bias": ..}, ..}`) as named
/// PyTorch tensors.
pub fn torch_weights(weights: &Value) -> HashMap<String, TorchTensor> {
    let mut tensors = HashMap::new();
    for (layer, wb) in weights.as_object().unwrap() {
        for (kind, v) in wb.as_object().unwrap() {
            tensors.insert(
                format!("{layer}.{kind}"),
                TorchTensor {
                    shape: shape(v),
                    data: f32s(v),
                },
            );
        }
    }
    tensors
}

/// Compares the gradient of every parameter, in PyTorch's layout, with a case's
/// `expected.grads`.
pub fn check_grads(
    case: &str,
    model: &ActorCritic<B>,
    grads: &GradientsParams,
    want: &Value,
    failures: &mut Vec<String>,
) {
    // The model with each parameter replaced by its gradient, exported by the same code
    // that writes safetensors files.
    let got = map_to_grads(model.clone(), grads).to_torch();
    for (layer, wb) in want.as_object().unwrap() {
        for (kind, v) in wb.as_object().unwrap() {
            let key = format!("{layer}.{kind}");
            match got.get(&key) {
                Some(g) => check(case, &format!("grad {key}"), &g.data, &f64s(v), failures),
                None => failures.push(format!("{case}: no gradient for {key}")),
            }
        }
    }
}

/// Replaces every parameter of the model with its gradient.
fn map_to_grads(model: ActorCritic<B>, grads: &GradientsParams) -> ActorCritic<B> {
    struct ToGrad<'a>(&'a GradientsParams);
    impl ModuleMapper<B> for ToGrad<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let (id, _, mapper) = param.consume();
            let g = self
                .0
                .get::<<B as AutodiffBackend>::InnerBackend, D>(id)
                .expect("every parameter has a gradient");
            Param::from_mapped_value(id, Tensor::<B, D>::from_inner(g), mapper)
        }
    }
    model.map(&mut ToGrad(grads))
}

/// The golden files `tests/goldens/NAME` for each of `names`, and the one named by the
/// environment variable `var` if set: `(path, parsed)` each.
pub fn golden_files(names: &[&str], var: &str) -> Vec<(std::path::PathBuf, Value)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/goldens");
    let mut paths: Vec<std::path::PathBuf> = names.iter().map(|n| dir.join(n)).collect();
    if let Some(extra) = std::env::var_os(var) {
        paths.push(extra.into());
    }
    paths
        .into_iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, v)
        })
        .collect()
}
