//! Weights in PyTorch's layout, and safetensors files in it.
//!
//! Names: `trunk.0.weight`, `trunk.0.bias`, `trunk.1.weight`, ..., `policy.weight`,
//! `policy.bias` (and `policy.log_std` for a Gaussian head: `[action_dim]`, or gSDE's
//! `[hidden, action_dim]`), `value.weight`,
//! `value.bias`, and `value_trunk.0.weight`, ... for a separate value network. Weights
//! are `[out, in]` as `nn.Linear` stores them (Burn stores `[in, out]`); everything is
//! f32. A PyTorch user loads a file with `safetensors.torch.load_file(path)` and
//! `model.load_state_dict(...)`.

use std::collections::{BTreeMap, HashMap};

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;

use crate::read_f32;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::actor_critic::{ActorCritic, PolicyHead};
use crate::mlp::Mlp;

/// A named f32 tensor in PyTorch's layout.
#[derive(Debug, Clone, PartialEq)]
pub struct TorchTensor {
    /// The shape (`[out, in]` for a weight).
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<f32>,
}

/// Named tensors in PyTorch's layout, as a file holds them.
pub type TorchTensors = HashMap<String, TorchTensor>;

/// Errors of loading weights.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TorchError {
    /// A tensor the model needs is absent.
    #[error("tensor {0:?} is missing")]
    Missing(String),
    /// A tensor has the wrong shape.
    #[error("tensor {name:?} has shape {got:?}, the model needs {want:?}")]
    Shape {
        /// The tensor's name.
        name: String,
        /// Its shape in the file.
        got: Vec<usize>,
        /// The shape the model needs.
        want: Vec<usize>,
    },
    /// The file is not a valid safetensors file of f32 tensors.
    #[error("invalid safetensors data: {0}")]
    Format(String),
    /// Reading or writing the file failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn linear_out<B: Backend>(prefix: &str, l: &Linear<B>, out: &mut BTreeMap<String, TorchTensor>) {
    let [d_in, d_out] = l.weight.dims();
    let w = read_f32(l.weight.val().transpose());
    out.insert(
        format!("{prefix}.weight"),
        TorchTensor {
            shape: vec![d_out, d_in],
            data: w,
        },
    );
    if let Some(b) = &l.bias {
        out.insert(
            format!("{prefix}.bias"),
            TorchTensor {
                shape: vec![d_out],
                data: read_f32(b.val()),
            },
        );
    }
}

fn take(
    map: &HashMap<String, TorchTensor>,
    name: &str,
    want: &[usize],
) -> Result<Vec<f32>, TorchError> {
    let t = map
        .get(name)
        .ok_or_else(|| TorchError::Missing(name.to_string()))?;
    if t.shape != want || t.data.len() != want.iter().product::<usize>() {
        return Err(TorchError::Shape {
            name: name.to_string(),
            got: t.shape.clone(),
            want: want.to_vec(),
        });
    }
    Ok(t.data.clone())
}

fn linear_in<B: Backend>(
    prefix: &str,
    l: &Linear<B>,
    map: &HashMap<String, TorchTensor>,
) -> Result<Linear<B>, TorchError> {
    let device = l.weight.device();
    let [d_in, d_out] = l.weight.dims();
    let w = take(map, &format!("{prefix}.weight"), &[d_out, d_in])?;
    // Transposed on the host, so the weight has the standard layout of one trained here:
    // a transposed view would be multiplied differently by some backends (flex's product
    // rounds it differently), and the loaded model would not give the saved one's bits.
    let mut wt = vec![0.0; w.len()];
    for (o, row) in w.chunks_exact(d_in).enumerate() {
        for (i, &v) in row.iter().enumerate() {
            wt[i * d_out + o] = v;
        }
    }
    let weight = Tensor::<B, 2>::from_data(TensorData::new(wt, [d_in, d_out]), &device);
    let bias = match &l.bias {
        Some(_) => {
            let b = take(map, &format!("{prefix}.bias"), &[d_out])?;
            Some(Param::from_data(TensorData::new(b, [d_out]), &device))
        }
        None => None,
    };
    Ok(Linear {
        weight: Param::from_tensor(weight),
        bias,
    })
}

fn mlp_in<B: Backend>(
    prefix: &str,
    m: &Mlp<B>,
    map: &HashMap<String, TorchTensor>,
) -> Result<Mlp<B>, TorchError> {
    let mut m = m.clone();
    for (i, layer) in m.layers.iter_mut().enumerate() {
        *layer = linear_in(&format!("{prefix}.{i}"), layer, map)?;
    }
    Ok(m)
}

impl<B: Backend> ActorCritic<B> {
    /// Every parameter, named and laid out as PyTorch would (one read-back per tensor).
    pub fn to_torch(&self) -> BTreeMap<String, TorchTensor> {
        let mut out = BTreeMap::new();
        for (i, l) in self.trunk.layers.iter().enumerate() {
            linear_out(&format!("trunk.{i}"), l, &mut out);
        }
        match &self.policy {
            PolicyHead::Categorical(h) => linear_out("policy", &h.linear, &mut out),
            PolicyHead::MultiCategorical(h) => linear_out("policy", &h.linear, &mut out),
            PolicyHead::Bernoulli(h) => linear_out("policy", &h.linear, &mut out),
            PolicyHead::Gaussian(h) => {
                linear_out("policy", &h.mean, &mut out);
                let d = h.log_std.dims()[0];
                out.insert(
                    "policy.log_std".into(),
                    TorchTensor {
                        shape: vec![d],
                        data: read_f32(h.log_std.val()),
                    },
                );
            }
            PolicyHead::Sde(h) => {
                linear_out("policy", &h.mean, &mut out);
                out.insert(
                    "policy.log_std".into(),
                    TorchTensor {
                        shape: h.log_std.dims().to_vec(),
                        data: read_f32(h.log_std.val()),
                    },
                );
            }
        }
        if let Some(v) = &self.value {
            linear_out("value", &v.linear, &mut out);
        }
        if let Some(vt) = &self.value_trunk {
            for (i, l) in vt.layers.iter().enumerate() {
                linear_out(&format!("value_trunk.{i}"), l, &mut out);
            }
        }
        out
    }

    /// This network with every parameter replaced by the PyTorch-layout tensor of the
    /// same name; every tensor the network has must be present with its shape.
    pub fn load_torch(&self, map: &HashMap<String, TorchTensor>) -> Result<Self, TorchError> {
        let policy = match &self.policy {
            PolicyHead::Categorical(h) => {
                let mut h = h.clone();
                h.linear = linear_in("policy", &h.linear, map)?;
                PolicyHead::Categorical(h)
            }
            PolicyHead::MultiCategorical(h) => {
                let mut h = h.clone();
                h.linear = linear_in("policy", &h.linear, map)?;
                PolicyHead::MultiCategorical(h)
            }
            PolicyHead::Bernoulli(h) => {
                let mut h = h.clone();
                h.linear = linear_in("policy", &h.linear, map)?;
                PolicyHead::Bernoulli(h)
            }
            PolicyHead::Gaussian(h) => {
                let mut h = h.clone();
                h.mean = linear_in("policy", &h.mean, map)?;
                let d = h.log_std.dims()[0];
                let ls = take(map, "policy.log_std", &[d])?;
                h.log_std = Param::from_data(TensorData::new(ls, [d]), &h.log_std.device());
                PolicyHead::Gaussian(h)
            }
            PolicyHead::Sde(h) => {
                let mut h = h.clone();
                h.mean = linear_in("policy", &h.mean, map)?;
                let dims = h.log_std.dims();
                let ls = take(map, "policy.log_std", &dims)?;
                h.log_std = Param::from_data(TensorData::new(ls, dims), &h.log_std.device());
                PolicyHead::Sde(h)
            }
        };
        let value = match &self.value {
            Some(v) => {
                let mut v = v.clone();
                v.linear = linear_in("value", &v.linear, map)?;
                Some(v)
            }
            None => None,
        };
        let value_trunk = match &self.value_trunk {
            Some(vt) => Some(mlp_in("value_trunk", vt, map)?),
            None => None,
        };
        Ok(ActorCritic {
            trunk: mlp_in("trunk", &self.trunk, map)?,
            policy,
            value,
            value_trunk,
        })
    }

    /// The network as a safetensors file in PyTorch's layout, with `metadata` (e.g. the
    /// activation, the environment, the observation and action sizes) in its header.
    pub fn to_safetensors(&self, metadata: HashMap<String, String>) -> Result<Vec<u8>, TorchError> {
        write_safetensors(self.to_torch(), metadata)
    }
}

/// f32 tensors (the network's [`ActorCritic::to_torch`] and any others, such as the
/// observation normalisation's statistics) as one safetensors file with `metadata`.
pub fn write_safetensors(
    tensors: BTreeMap<String, TorchTensor>,
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>, TorchError> {
    {
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
            .into_iter()
            .map(|(name, t)| {
                (
                    name,
                    t.shape,
                    t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                )
            })
            .collect();
        let views = bytes
            .iter()
            .map(|(name, shape, b)| {
                TensorView::new(Dtype::F32, shape.clone(), b)
                    .map(|v| (name.clone(), v))
                    .map_err(|e| TorchError::Format(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let bytes = safetensors::tensor::serialize(views, &Some(metadata))
            .map_err(|e| TorchError::Format(e.to_string()))?;
        sorted_header(bytes)
    }
}

/// The file with its JSON header's keys sorted, the metadata's included: safetensors
/// writes the metadata map in hash order, which made the same policy different bytes
/// from one export to the next. The header keeps its length (the same keys and values,
/// compact), so the data that follows it does not move.
fn sorted_header(mut bytes: Vec<u8>) -> Result<Vec<u8>, TorchError> {
    let bad = |what: &str| TorchError::Format(format!("cannot sort the header: {what}"));
    let len = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("eight bytes")) as usize)
        .ok_or_else(|| bad("no length"))?;
    let header = bytes.get(8..8 + len).ok_or_else(|| bad("too short"))?;
    // serde_json's maps are sorted by key.
    let value: serde_json::Value =
        serde_json::from_slice(header.trim_ascii_end()).map_err(|e| bad(&e.to_string()))?;
    let mut sorted = serde_json::to_vec(&value).map_err(|e| bad(&e.to_string()))?;
    if sorted.len() > len {
        return Err(bad("it grew"));
    }
    // The safetensors alignment padding.
    sorted.resize(len, b' ');
    bytes[8..8 + len].copy_from_slice(&sorted);
    Ok(bytes)
}

/// The tensors and metadata of a safetensors file of f32 tensors.
pub fn read_safetensors(
    bytes: &[u8],
) -> Result<(TorchTensors, HashMap<String, String>), TorchError> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| TorchError::Format(e.to_string()))?;
    let mut map = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(TorchError::Format(format!(
                "tensor {name:?} is {:?}, not F32",
                view.dtype()
            )));
        }
        let data = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        map.insert(
            name,
            TorchTensor {
                shape: view.shape().to_vec(),
                data,
            },
        );
    }
    let (_, meta) =
        SafeTensors::read_metadata(bytes).map_err(|e| TorchError::Format(e.to_string()))?;
    Ok((map, meta.metadata().clone().unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend as B, device};
    use crate::{ActionHead, ActorCriticConfig, ValueNetwork};

    #[test]
    fn safetensors_round_trip_gives_the_same_outputs() {
        let dev = device();
        for (action, value, value_hidden) in [
            (
                ActionHead::Categorical { n_actions: 3 },
                ValueNetwork::Shared,
                None,
            ),
            (
                ActionHead::Gaussian { action_dim: 2 },
                ValueNetwork::Separate,
                None,
            ),
            (
                ActionHead::MultiCategorical { nvec: vec![2, 3] },
                ValueNetwork::Separate,
                Some(vec![12, 4, 3]),
            ),
            (ActionHead::Bernoulli { n: 4 }, ValueNetwork::Shared, None),
        ] {
            let cfg = ActorCriticConfig::new(5, action)
                .with_hidden(vec![8, 6])
                .with_value(value)
                .with_value_hidden(value_hidden);
            let model = cfg.init_seeded::<B>(&mut rl_core::rng::seeded(1), &dev);
            let meta = HashMap::from([("activation".to_string(), "tanh".to_string())]);
            let bytes = model.to_safetensors(meta.clone()).unwrap();
            let (tensors, got_meta) = read_safetensors(&bytes).unwrap();
            assert_eq!(got_meta, meta);
            if cfg.value_hidden.is_some() {
                assert_eq!(tensors["value_trunk.2.weight"].shape, vec![3, 4]);
                assert_eq!(tensors["value.weight"].shape, vec![1, 3]);
            }
            assert_eq!(
                tensors["trunk.0.weight"].shape,
                vec![8, 5],
                "PyTorch layout [out, in]"
            );
            let other = cfg.init_seeded::<B>(&mut rl_core::rng::seeded(2), &dev);
            let loaded = other.load_torch(&tensors).unwrap();
            let obs =
                Tensor::<B, 2>::random([4, 5], burn::tensor::Distribution::Normal(0.0, 1.0), &dev);
            let (a, va) = model.forward(obs.clone());
            let (b, vb) = loaded.forward(obs);
            assert_eq!(read_f32(a), read_f32(b));
            assert_eq!(read_f32(va.unwrap()), read_f32(vb.unwrap()));
        }
    }

    #[test]
    fn the_same_policy_is_the_same_file_bytes() {
        let dev = device();
        let cfg = ActorCriticConfig::new(3, ActionHead::Categorical { n_actions: 2 });
        let model = cfg.init_seeded::<B>(&mut rl_core::rng::seeded(1), &dev);
        let meta: HashMap<String, String> = (0..20)
            .map(|i| (format!("key{i}"), format!("value {i}")))
            .collect();
        let first = model.to_safetensors(meta.clone()).unwrap();
        for _ in 0..5 {
            // A map of the same entries, in another hash order.
            let again: HashMap<String, String> = meta.clone().into_iter().collect();
            assert_eq!(model.to_safetensors(again).unwrap(), first);
        }
        let (_, got) = read_safetensors(&first).unwrap();
        assert_eq!(got, meta);
    }

    #[test]
    fn wrong_shapes_and_missing_tensors_are_errors() {
        let dev = device();
        let cfg = ActorCriticConfig::new(4, ActionHead::Categorical { n_actions: 2 });
        let model = cfg.init_seeded::<B>(&mut rl_core::rng::seeded(1), &dev);
        let mut tensors: HashMap<_, _> = model.to_torch().into_iter().collect();
        tensors.get_mut("trunk.1.weight").unwrap().shape = vec![64, 63];
        assert!(matches!(
            model.load_torch(&tensors),
            Err(TorchError::Shape { .. })
        ));
        tensors.remove("value.bias");
        tensors.insert(
            "trunk.1.weight".into(),
            model.to_torch()["trunk.1.weight"].clone(),
        );
        assert!(
            matches!(model.load_torch(&tensors), Err(TorchError::Missing(n)) if n == "value.bias")
        );
        assert!(read_safetensors(b"not a safetensors file").is_err());
    }
}
