//! Fused operations for the ndarray backend, forward and backward.
//!
//! Composed from Burn operations, a hidden layer `tanh(x W + b)` is a matrix product, a
//! broadcast bias add and `tanh(x) = 1 - 2 / (exp(2x) + 1)` (seven element-wise passes
//! forward, about ten backward, each allocating; Burn 0.21's ndarray `exp` and `tanh` call
//! libm per element). The bias gradient is a `sum_dim` that ndarray walks row by row
//! through dynamic-rank views, and the loss's log-softmax, gather and entropy are two
//! dozen such operations on `[batch, n_actions]` tensors. In the batched update these
//! were most of the time.
//!
//! - [`dense`] is one autodiff node: forward, the product and one vectorised host pass
//!   (`act(z + b)`, [`kernels::bias_act_rows`]); backward, one host pass for the
//!   activation's gradient and the bias gradient together
//!   ([`kernels::act_backward_rows`]) and the two products. The products
//!   ([`kernels::product`]) run on the operands' own strides: Burn's ndarray matmul
//!   first copies a transposed operand into standard layout element by element, which
//!   cost as much as the product.
//! - [`tanh`] does the same for a lone tanh.
//! - [`categorical`] computes the log-probability of the actions and the entropy from
//!   one log-softmax per row ([`kernels::categorical_rows`]), as two autodiff nodes whose
//!   backward steps apply the analytic gradients `[j = a] - p_j` and
//!   `-p_j (log p_j + H)`.
//! - [`gaussian`] computes a diagonal Gaussian's log-probability of the actions in one
//!   pass, as one autodiff node with the analytic gradients.
//! - [`read_f32`] copies a buffer in one go where Burn's `into_data` copies a shared one
//!   element by element.
//!
//! Each is tested against the composed form, forward and gradients. Models stay generic
//! over `B: Backend`: these functions recognise the two concrete backends this build can
//! fuse, `NdArray<f32>` and `Autodiff<NdArray<f32>>`, by their type (a safe `Any`
//! downcast, no allocation), and hand anything else, or tensors that are not f32, back
//! for the composed form.

use std::any::{Any, TypeId};
use std::sync::Arc;

use burn::backend::Autodiff;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::ndarray::{NdArray, NdArrayTensor, SharedArray};
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, TensorMetadata};
use ndarray::{Array2, ArrayView2};

use crate::kernels::{self, Act, product};

type Inner = NdArray<f32>;
type Ad = Autodiff<Inner, NoCheckpointing>;

/// Moves `t` into a `U` when `T` is `U`, and gives it back otherwise.
fn cast<T: 'static, U: 'static>(t: T) -> Result<U, T> {
    let mut slot = Some(t);
    match (&mut slot as &mut dyn Any).downcast_mut::<Option<U>>() {
        Some(u) => Ok(u.take().expect("the slot was just filled")),
        None => Err(slot.expect("the slot was not touched")),
    }
}

/// `tanh(x)` as one fused operation when `B` is ndarray (with or without autodiff);
/// `Err(x)` untouched for any other backend.
pub(crate) fn tanh<B: Backend, const D: usize>(
    x: Tensor<B, D>,
) -> Result<Tensor<B, D>, Tensor<B, D>> {
    if !fusable::<B>() {
        return Err(x);
    }
    let p = primitive(x);
    if p.dtype() != DType::F32 {
        return Err(Tensor::from_primitive(TensorPrimitive::Float(p)));
    }
    let y: Result<FloatTensor<B>, _> = match cast::<FloatTensor<B>, FloatTensor<Ad>>(p) {
        Ok(ad) => cast(autodiff_tanh(ad)).map_err(drop),
        Err(p) => {
            let nd = cast::<FloatTensor<B>, FloatTensor<Inner>>(p)
                .unwrap_or_else(|_| unreachable!("B is Inner"));
            cast(NdArrayTensor::from(inner_tanh(&f32s(nd)))).map_err(drop)
        }
    };
    let y = y.unwrap_or_else(|()| unreachable!("the output has the input's type"));
    Ok(Tensor::from_primitive(TensorPrimitive::Float(y)))
}

/// The values of an f32 tensor, in row-major order, by one copy of its buffer when `B` is
/// ndarray; `Err(t)` untouched otherwise. Burn's `into_data` copies a buffer that is
/// shared (a parameter's always is) element by element through dynamic-rank iterators,
/// which made copying the policy to the host a tenth of a batched update.
pub(crate) fn read_f32<B: Backend, const D: usize>(
    t: Tensor<B, D>,
) -> Result<Vec<f32>, Tensor<B, D>> {
    if !fusable::<B>() {
        return Err(t);
    }
    let p = primitive(t);
    if p.dtype() != DType::F32 {
        return Err(Tensor::from_primitive(TensorPrimitive::Float(p)));
    }
    let nd = match cast::<FloatTensor<B>, FloatTensor<Ad>>(p) {
        Ok(ad) => ad.primitive,
        Err(p) => cast::<FloatTensor<B>, FloatTensor<Inner>>(p)
            .unwrap_or_else(|_| unreachable!("B is Inner")),
    };
    let a = f32s(nd);
    Ok(match a.as_slice() {
        Some(values) => values.to_vec(),
        None => a.iter().copied().collect(),
    })
}

/// The log-probability of each row's action and each row's entropy (`[batch]` each)
/// under `logits` `[batch, n]`, from one pass over the logits, as two autodiff nodes
/// when `B` is ndarray; the inputs untouched otherwise, or when an action is out of
/// range (the composed form reports it).
pub(crate) fn categorical<B: Backend>(
    logits: Tensor<B, 2>,
    actions: Tensor<B, 1, Int>,
) -> CategoricalResult<B> {
    let [rows, n] = logits.dims();
    if !fusable::<B>() || logits.dtype() != DType::F32 {
        return Err((logits, actions));
    }
    let acts: Vec<usize> = match actions.to_data().convert::<i64>().to_vec::<i64>() {
        Ok(a) if a.len() == rows && a.iter().all(|&a| (0..n as i64).contains(&a)) => {
            a.into_iter().map(|a| a as usize).collect()
        }
        _ => return Err((logits, actions)),
    };
    let p = primitive(logits);
    let (ad, l) = match cast::<FloatTensor<B>, FloatTensor<Ad>>(p) {
        Ok(ad) => {
            let l = f32s(ad.primitive.clone());
            (Some(ad), l)
        }
        Err(p) => {
            let nd = cast::<FloatTensor<B>, FloatTensor<Inner>>(p)
                .unwrap_or_else(|_| unreachable!("B is Inner"));
            (None, f32s(nd))
        }
    };
    let l = l.as_standard_layout();
    let (mut probs, mut logp) = (vec![0.0; rows * n], vec![0.0; rows * n]);
    let (mut log_prob, mut entropy) = (vec![0.0; rows], vec![0.0; rows]);
    kernels::categorical_rows(
        l.as_slice().expect("standard layout"),
        n,
        &acts,
        &mut probs,
        &mut logp,
        &mut log_prob,
        &mut entropy,
    );
    let out = |v: Vec<f32>| NdArrayTensor::from(shaped(&[rows], v));
    let (log_prob, entropy): (FloatTensor<B>, FloatTensor<B>) = match ad {
        Some(ad) => {
            let state = Arc::new(CategoricalState {
                n,
                probs,
                logp,
                entropy: entropy.clone(),
                actions: acts,
            });
            let lp = categorical_node(&ad, Statistic::LogProb, state.clone(), out(log_prob));
            let h = categorical_node(&ad, Statistic::Entropy, state, out(entropy));
            (as_b::<B, _>(lp), as_b::<B, _>(h))
        }
        None => (as_b::<B, _>(out(log_prob)), as_b::<B, _>(out(entropy))),
    };
    let wrap = |p: FloatTensor<B>| Tensor::from_primitive(TensorPrimitive::Float(p));
    Ok((wrap(log_prob), wrap(entropy)))
}

/// What [`categorical`] hands back: the two `[batch]` tensors, or its inputs.
pub(crate) type CategoricalResult<B> =
    Result<(Tensor<B, 1>, Tensor<B, 1>), (Tensor<B, 2>, Tensor<B, 1, Int>)>;

/// `t` as `B`'s float primitive, which it is.
fn as_b<B: Backend, T: 'static>(t: T) -> FloatTensor<B> {
    cast(t).unwrap_or_else(|_| unreachable!("the output has the input's type"))
}

/// The diagonal Gaussian log-density of each row's action, summed over components
/// (`[batch]`), under means `[batch, d]` and a state-independent `log_std` `[d]`, from
/// one host pass, as one autodiff node when `B` is ndarray (its backward applies
/// `d/d mean = z / std` and `d/d log_std = sum over rows of (z^2 - 1)`, `z` the
/// standardised action); the inputs untouched otherwise. Composed from Burn operations
/// it is eight element-wise passes each way, and the broadcast `log_std`'s gradient a
/// `sum_dim` over the batch: about a tenth of a PPO update on Pendulum-v1.
pub(crate) fn gaussian<B: Backend>(
    mean: Tensor<B, 2>,
    log_std: Tensor<B, 1>,
    actions: Tensor<B, 2>,
) -> GaussianResult<B> {
    let [rows, d] = mean.dims();
    if !fusable::<B>()
        || [mean.dtype(), log_std.dtype(), actions.dtype()]
            .iter()
            .any(|t| *t != DType::F32)
        || log_std.dims() != [d]
        || actions.dims() != [rows, d]
    {
        return Err((mean, log_std, actions));
    }
    let a = read_f32(actions).unwrap_or_else(|_| unreachable!("fusable and f32"));
    let forward = |m: &[f32], ls: &[f32]| {
        let inv_std: Vec<f32> = ls.iter().map(|l| (-l).exp()).collect();
        let mut z = vec![0.0; rows * d];
        let mut log_prob = vec![0.0; rows];
        for (b, lp) in log_prob.iter_mut().enumerate() {
            for j in 0..d {
                let k = b * d + j;
                z[k] = (a[k] - m[k]) * inv_std[j];
                *lp += -0.5 * z[k] * z[k] - ls[j] - crate::distributions::HALF_LN_2PI;
            }
        }
        (Arc::new(GaussianState { d, z, inv_std }), log_prob)
    };
    let out = |v: Vec<f32>| NdArrayTensor::from(shaped(&[rows], v));
    let prims = [primitive(mean), primitive(log_std)];
    let log_prob: FloatTensor<B> = match cast::<[FloatTensor<B>; 2], [FloatTensor<Ad>; 2]>(prims) {
        Ok(ads) => {
            let nodes = ads.each_ref().map(|a| a.node.clone());
            let [m, ls] = ads.map(|a| standard(f32s(a.primitive)));
            let (state, log_prob) = forward(as_slice(&m), as_slice(&ls));
            let node = match GaussianBackward
                .prepare::<NoCheckpointing>(nodes)
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(state, out(log_prob)),
                OpsKind::UnTracked(prep) => prep.finish(out(log_prob)),
            };
            as_b::<B, _>(node)
        }
        Err(prims) => {
            let [m, ls] = cast::<[FloatTensor<B>; 2], [FloatTensor<Inner>; 2]>(prims)
                .unwrap_or_else(|_| unreachable!("B is Inner"))
                .map(|a| standard(f32s(a)));
            as_b::<B, _>(out(forward(as_slice(&m), as_slice(&ls)).1))
        }
    };
    Ok(Tensor::from_primitive(TensorPrimitive::Float(log_prob)))
}

/// What [`gaussian`] hands back: the `[batch]` log-densities, or its inputs.
pub(crate) type GaussianResult<B> =
    Result<Tensor<B, 1>, (Tensor<B, 2>, Tensor<B, 1>, Tensor<B, 2>)>;

/// The standardised actions `z = (a - mean) / std` and `1 / std`, for the backward.
#[derive(Debug)]
struct GaussianState {
    d: usize,
    z: Vec<f32>,
    inv_std: Vec<f32>,
}

#[derive(Debug)]
struct GaussianBackward;

impl Backward<Inner, 2> for GaussianBackward {
    type State = Arc<GaussianState>;

    /// `d log p_i / d mean_ij = z_ij / std_j`, `d log p_i / d log_std_j = z_ij^2 - 1`.
    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_mean, node_log_std] = ops.parents;
        let grad = f32s(grads.consume::<Inner>(&ops.node));
        let grad = grad.as_standard_layout();
        let g = grad.as_slice().expect("standard layout");
        let GaussianState { d, z, inv_std } = &*ops.state;
        let d = *d;
        if let Some(node) = node_mean {
            let dm: Vec<f32> = z
                .iter()
                .enumerate()
                .map(|(k, z)| g[k / d] * z * inv_std[k % d])
                .collect();
            grads.register::<Inner>(node.id, NdArrayTensor::from(shaped(&[g.len(), d], dm)));
        }
        if let Some(node) = node_log_std {
            let mut dl = vec![0.0; d];
            for (k, z) in z.iter().enumerate() {
                dl[k % d] += g[k / d] * (z * z - 1.0);
            }
            grads.register::<Inner>(node.id, NdArrayTensor::from(shaped(&[d], dl)));
        }
    }
}

/// What both backward steps of [`categorical`] need, shared.
#[derive(Debug)]
struct CategoricalState {
    n: usize,
    probs: Vec<f32>,
    logp: Vec<f32>,
    entropy: Vec<f32>,
    actions: Vec<usize>,
}

fn categorical_node(
    logits: &FloatTensor<Ad>,
    statistic: Statistic,
    state: Arc<CategoricalState>,
    out: NdArrayTensor,
) -> FloatTensor<Ad> {
    match CategoricalBackward(statistic)
        .prepare::<NoCheckpointing>([logits.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state, out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

/// The gradient of `[batch]` per-row values into the `[batch, n]` logits, `d(i, j)` per
/// element.
fn logits_grad(
    s: &CategoricalState,
    grad: NdArrayTensor,
    d: impl Fn(usize, usize, f32) -> f32,
) -> NdArrayTensor {
    let g = f32s(grad);
    let g = g.as_standard_layout();
    let gs = g.as_slice().expect("standard layout");
    let mut out = vec![0.0; s.probs.len()];
    for (i, (row, &gi)) in out.chunks_exact_mut(s.n).zip(gs).enumerate() {
        for (j, o) in row.iter_mut().enumerate() {
            *o = d(i, j, gi);
        }
    }
    NdArrayTensor::from(shaped(&[gs.len(), s.n], out))
}

/// Which of [`categorical`]'s two outputs a node is.
#[derive(Debug, Clone, Copy)]
enum Statistic {
    LogProb,
    Entropy,
}

#[derive(Debug)]
struct CategoricalBackward(Statistic);

impl Backward<Inner, 1> for CategoricalBackward {
    type State = Arc<CategoricalState>;

    /// `d log p(a_i) / d l_ij = [j = a_i] - p_ij` and `d H_i / d l_ij = -p_ij (log p_ij + H_i)`.
    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (s, statistic) = (ops.state, self.0);
        unary::<Inner, _>(ops.parents, ops.node, grads, |grad| {
            logits_grad(&s, grad, |i, j, g| {
                let k = i * s.n + j;
                match statistic {
                    Statistic::LogProb => {
                        let onehot = if s.actions[i] == j { 1.0 } else { 0.0 };
                        g * (onehot - s.probs[k])
                    }
                    Statistic::Entropy => -g * s.probs[k] * (s.logp[k] + s.entropy[i]),
                }
            })
        });
    }
}

/// Hands `f` the values of `tensors` (f32, one shape) as vectors to update in place, and
/// returns the tensors made of them (no copy back), when `B` is ndarray without
/// autodiff, where parameter values and optimiser states live; `Err(tensors)` untouched
/// otherwise, or when a tensor is not f32 or the shapes differ.
pub(crate) fn host_update<B: Backend, const D: usize, const N: usize>(
    tensors: [Tensor<B, D>; N],
    f: impl FnOnce(&mut [Vec<f32>; N]),
) -> Result<[Tensor<B, D>; N], [Tensor<B, D>; N]> {
    let shape = tensors[0].dims();
    if !is_inner::<B>()
        || tensors
            .iter()
            .any(|t| t.dtype() != DType::F32 || t.dims() != shape)
    {
        return Err(tensors);
    }
    let mut values = tensors.map(|t| match read_f32(t) {
        Ok(v) => v,
        Err(_) => unreachable!("B is Inner and the tensor f32"),
    });
    f(&mut values);
    Ok(values.map(|v| {
        let t = NdArrayTensor::from(shaped(&shape, v));
        Tensor::from_primitive(TensorPrimitive::Float(as_b::<B, _>(t)))
    }))
}

/// A scalar function of `N` one-dimensional tensors, computed on the host with its
/// gradient: the value and any statistics that ride along (no gradient), and the
/// gradient of the value with respect to each input, scaled by the output's gradient.
pub trait HostScalarFn<const N: usize>: Send + Sync + std::fmt::Debug {
    /// `(value, statistics)` at `x`.
    fn forward(&self, x: [&[f32]; N]) -> (f32, Vec<f32>);
    /// `g * d value / d x_k` for every input `k`.
    fn backward(&self, x: [&[f32]; N], g: f32) -> [Vec<f32>; N];
}

/// `f` as one autodiff node (one host pass forward, one backward) when `B` is ndarray
/// (with or without autodiff): the value `[1]` and the statistics; `Err(inputs)`
/// otherwise, or when an input is not f32.
#[allow(clippy::type_complexity)]
pub(crate) fn host_scalar<B: Backend, const N: usize>(
    inputs: [Tensor<B, 1>; N],
    f: Arc<dyn HostScalarFn<N>>,
) -> Result<(Tensor<B, 1>, Vec<f32>), [Tensor<B, 1>; N]> {
    if !fusable::<B>() || inputs.iter().any(|t| t.dtype() != DType::F32) {
        return Err(inputs);
    }
    let prims = inputs.map(primitive);
    let (stats, out): (Vec<f32>, FloatTensor<B>) =
        match cast::<[FloatTensor<B>; N], [FloatTensor<Ad>; N]>(prims) {
            Ok(ads) => {
                let nodes = ads.each_ref().map(|a| a.node.clone());
                let xs = ads.map(|a| standard(f32s(a.primitive)));
                let (value, stats) = f.forward(xs.each_ref().map(as_slice));
                let out = NdArrayTensor::from(shaped(&[1], vec![value]));
                let node = match ScalarBackward
                    .prepare::<NoCheckpointing>(nodes)
                    .compute_bound()
                    .stateful()
                {
                    OpsKind::Tracked(prep) => prep.finish(ScalarState { f, xs }, out),
                    OpsKind::UnTracked(prep) => prep.finish(out),
                };
                (stats, as_b::<B, _>(node))
            }
            Err(prims) => {
                let nd = cast::<[FloatTensor<B>; N], [FloatTensor<Inner>; N]>(prims)
                    .unwrap_or_else(|_| unreachable!("B is Inner"));
                let xs = nd.map(|a| standard(f32s(a)));
                let (value, stats) = f.forward(xs.each_ref().map(as_slice));
                let out = NdArrayTensor::from(shaped(&[1], vec![value]));
                (stats, as_b::<B, _>(out))
            }
        };
    Ok((Tensor::from_primitive(TensorPrimitive::Float(out)), stats))
}

/// `a` in standard layout (the same shared buffer when it already is).
fn standard(a: SharedArray<f32>) -> SharedArray<f32> {
    if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned().into_shared()
    }
}

fn as_slice(a: &SharedArray<f32>) -> &[f32] {
    a.as_slice().expect("standard layout")
}

/// What [`ScalarBackward`] keeps: the function and its inputs.
#[derive(Clone)]
struct ScalarState<const N: usize> {
    f: Arc<dyn HostScalarFn<N>>,
    xs: [SharedArray<f32>; N],
}

impl<const N: usize> std::fmt::Debug for ScalarState<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScalarState")
            .field("f", &self.f)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct ScalarBackward;

impl<const N: usize> Backward<Inner, N> for ScalarBackward {
    type State = ScalarState<N>;

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let g = f32s(grads.consume::<Inner>(&ops.node));
        let g = g.iter().copied().next().unwrap_or(0.0);
        let ScalarState { f, xs } = ops.state;
        let dxs = f.backward(xs.each_ref().map(as_slice), g);
        for ((parent, dx), x) in ops.parents.into_iter().zip(dxs).zip(&xs) {
            if let Some(node) = parent {
                grads.register::<Inner>(node.id, NdArrayTensor::from(shaped(x.shape(), dx)));
            }
        }
    }
}

/// `t.powi_scalar(2).sum()` for an f32 ndarray tensor without autodiff, computed as Burn
/// computes it (ndarray's owned product of the array with itself, then ndarray's sum in
/// memory order): the same bits, without two tensor operations and their allocations'
/// dispatch. `Err(t)` for anything else.
pub(crate) fn sum_squares<B: Backend, const D: usize>(
    t: Tensor<B, D>,
) -> Result<f32, Tensor<B, D>> {
    if !is_inner::<B>() || t.dtype() != DType::F32 {
        return Err(t);
    }
    let nd = cast::<FloatTensor<B>, FloatTensor<Inner>>(primitive(t))
        .unwrap_or_else(|_| unreachable!("B is Inner"));
    let a = f32s(nd);
    let squares = a.clone() * a;
    Ok(squares.view().sum())
}

/// Whether `B` is ndarray without autodiff.
pub(crate) fn is_inner<B: Backend>() -> bool {
    TypeId::of::<B>() == TypeId::of::<Inner>()
}

/// Whether `B` is one of the two backends fused here. The backend type, not the
/// primitive's, is checked: every `NdArray<E>` shares one primitive type.
pub(crate) fn fusable<B: Backend>() -> bool {
    let backend = TypeId::of::<B>();
    backend == TypeId::of::<Ad>() || backend == TypeId::of::<Inner>()
}

fn primitive<B: Backend, const D: usize>(t: Tensor<B, D>) -> FloatTensor<B> {
    t.into_primitive().tensor()
}

/// `act(x W + b)` for an f32 layer with a bias as one fused operation when `B` is
/// ndarray (with or without autodiff); `Err(x)` untouched otherwise.
pub(crate) fn dense<B: Backend>(
    layer: &Linear<B>,
    x: Tensor<B, 2>,
    act: Act,
) -> Result<Tensor<B, 2>, Tensor<B, 2>> {
    let Some(bias) = layer.bias.as_ref().filter(|_| fusable::<B>()) else {
        return Err(x);
    };
    let [x, w, b] = [x, layer.weight.val(), bias.val().unsqueeze()].map(primitive);
    if [&x, &w, &b].iter().any(|t| t.dtype() != DType::F32) {
        return Err(Tensor::from_primitive(TensorPrimitive::Float(x)));
    }
    let y: Result<FloatTensor<B>, _> =
        match cast::<[FloatTensor<B>; 3], [FloatTensor<Ad>; 3]>([x, w, b]) {
            Ok([x, w, b]) => cast(autodiff_dense(x, w, b, act)).map_err(drop),
            Err(xwb) => {
                let [x, w, b] = cast::<_, [FloatTensor<Inner>; 3]>(xwb)
                    .unwrap_or_else(|_| unreachable!("B is Inner"));
                let y = inner_dense(&f32s(x), &f32s(w), &f32s(b), act);
                cast(NdArrayTensor::from(y)).map_err(drop)
            }
        };
    let y = y.unwrap_or_else(|()| unreachable!("the output has the input's type"));
    Ok(Tensor::from_primitive(TensorPrimitive::Float(y)))
}

/// The autodiff node of [`dense`]. The state keeps `x`, `W` and the output (shared
/// buffers, no copies); parents that do not require a gradient (the observations) get
/// none computed.
fn autodiff_dense(
    x: FloatTensor<Ad>,
    w: FloatTensor<Ad>,
    b: FloatTensor<Ad>,
    act: Act,
) -> FloatTensor<Ad> {
    let nodes = [x.node.clone(), w.node.clone(), b.node.clone()];
    let (x, w) = (f32s(x.primitive), f32s(w.primitive));
    let y = inner_dense(&x, &w, &f32s(b.primitive), act);
    match DenseBackward(act)
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((x, w, y.clone()), NdArrayTensor::from(y)),
        OpsKind::UnTracked(prep) => prep.finish(NdArrayTensor::from(y)),
    }
}

#[derive(Debug)]
struct DenseBackward(Act);

impl Backward<Inner, 3> for DenseBackward {
    /// `x`, `W` and the output `y`.
    type State = (SharedArray<f32>, SharedArray<f32>, SharedArray<f32>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = f32s(grads.consume::<Inner>(&ops.node));
        let (x, w, y) = ops.state;
        let grad = grad.as_standard_layout();
        let (ys, gs) = (
            y.as_slice().expect("the forward's own output"),
            grad.as_slice().expect("standard layout"),
        );
        let mut dz = Array2::zeros((y.shape()[0], y.shape()[1]));
        let mut db = Array2::zeros((1, y.shape()[1]));
        let (dzs, dbs) = (
            dz.as_slice_mut().expect("a fresh array"),
            db.as_slice_mut().expect("a fresh array"),
        );
        kernels::act_backward_rows(ys, gs, self.0, dzs, dbs);
        let register = |grads: &mut Gradients, id: NodeId, g: Array2<f32>| {
            grads.register::<Inner>(id, NdArrayTensor::from(g.into_dyn().into_shared()));
        };
        if let Some(node) = node_x {
            register(grads, node.id, product(dz.view(), view2(&w).t()));
        }
        if let Some(node) = node_w {
            register(grads, node.id, product(view2(&x).t(), dz.view()));
        }
        if let Some(node) = node_b {
            register(grads, node.id, db);
        }
    }
}

/// The f32 array inside an ndarray tensor; [`dense`] and [`tanh`] checked the type.
fn f32s(t: NdArrayTensor) -> SharedArray<f32> {
    match t {
        NdArrayTensor::F32(storage) => storage.into_shared(),
        other => unreachable!("dense checked for f32, got {:?}", other.dtype()),
    }
}

fn view2(a: &SharedArray<f32>) -> ArrayView2<'_, f32> {
    a.view().into_dimensionality().expect("a rank-2 tensor")
}

/// `act(x W + b)`, `b` of shape `[1, out]`.
fn inner_dense(
    x: &SharedArray<f32>,
    w: &SharedArray<f32>,
    b: &SharedArray<f32>,
    act: Act,
) -> SharedArray<f32> {
    let mut z = product(view2(x), view2(w));
    let b: Vec<f32> = b.iter().copied().collect();
    kernels::bias_act_rows(z.as_slice_mut().expect("a fresh array"), &b, act);
    z.into_dyn().into_shared()
}

/// The autodiff node of [`tanh`]: the output is saved for the backward.
fn autodiff_tanh(x: FloatTensor<Ad>) -> FloatTensor<Ad> {
    let node = x.node.clone();
    let y = inner_tanh(&f32s(x.primitive));
    match TanhBackward
        .prepare::<NoCheckpointing>([node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(y.clone(), NdArrayTensor::from(y)),
        OpsKind::UnTracked(prep) => prep.finish(NdArrayTensor::from(y)),
    }
}

#[derive(Debug)]
struct TanhBackward;

impl Backward<Inner, 1> for TanhBackward {
    /// The forward's output `y`.
    type State = SharedArray<f32>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let y = ops.state;
        unary::<Inner, _>(ops.parents, ops.node, grads, |grad| {
            let grad = f32s(grad);
            let grad = grad.as_standard_layout();
            let (ys, gs) = (
                y.as_slice().expect("the forward's own output"),
                grad.as_slice().expect("standard layout"),
            );
            let mut dx = vec![0.0; ys.len()];
            kernels::tanh_backward(ys, gs, &mut dx);
            NdArrayTensor::from(shaped(y.shape(), dx))
        });
    }
}

fn shaped(shape: &[usize], v: Vec<f32>) -> SharedArray<f32> {
    SharedArray::from_shape_vec(shape, v).expect("one value per element")
}

/// `tanh(x)`, in standard layout whatever `x`'s.
fn inner_tanh(x: &SharedArray<f32>) -> SharedArray<f32> {
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let mut y = vec![0.0; xs.len()];
    kernels::tanh_into(xs, &mut y);
    shaped(x.shape(), y)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values spread over [-scale, scale], the same on every run.
    fn spread<B: Backend, const D: usize>(
        shape: [usize; D],
        scale: f32,
        dev: &B::Device,
    ) -> Tensor<B, D> {
        let n = shape.iter().product::<usize>();
        let v: Vec<f32> = (0..n).map(|i| scale * (i as f32 * 0.731).sin()).collect();
        Tensor::from_data(burn::tensor::TensorData::new(v, shape), dev)
    }

    type Composed<B, const D: usize> = fn(Tensor<B, D>) -> Tensor<B, D>;

    fn composed<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
        let p = crate::activation::composed_tanh::<B>(x.into_primitive().tensor());
        Tensor::from_primitive(TensorPrimitive::Float(p))
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol, "{x} vs {y}");
        }
    }

    #[test]
    fn the_fused_node_matches_the_composed_form_forward_and_backward() {
        let dev = Default::default();
        // A transposed (non-standard layout) input and a rank-3 one take the fallback
        // and the fast path respectively; both must agree with the composed form.
        let x = spread::<Ad, 2>([33, 17], 4.0, &dev);
        let w = spread::<Ad, 2>([33, 17], 1.0, &dev);
        for transpose in [false, true] {
            let grads_of = |f: Composed<Ad, 2>| {
                let xp = x.clone().require_grad();
                let input = if transpose {
                    xp.clone().transpose().transpose()
                } else {
                    xp.clone()
                };
                let y = f(input);
                let loss = (y.clone() * w.clone()).sum();
                let g = xp.grad(&loss.backward()).expect("x requires grad");
                (crate::read_f32(y.inner()), crate::read_f32(g))
            };
            let (y_fused, g_fused) = grads_of(|x| tanh(x).unwrap_or_else(|_| panic!("fusable")));
            let (y_ref, g_ref) = grads_of(composed::<Ad, 2>);
            // Each form is within 1.8e-7 of tanh.
            close(&y_fused, &y_ref, 3.6e-7);
            close(&g_fused, &g_ref, 1e-6);
        }
        let x3 = spread::<Inner, 3>([4, 5, 6], 4.0, &dev);
        let fused = tanh(x3.clone()).unwrap_or_else(|_| panic!("fusable"));
        assert_eq!(fused.dims(), [4, 5, 6]);
        close(
            &crate::read_f32(fused),
            &crate::read_f32(composed(x3)),
            2e-7,
        );
    }

    #[test]
    fn the_fused_dense_node_matches_linear_then_activation() {
        use burn::module::Param;
        let dev = Default::default();
        let layer = burn::nn::Linear {
            weight: Param::from_tensor(spread::<Ad, 2>([7, 5], 0.8, &dev)),
            bias: Some(Param::from_tensor(spread::<Ad, 1>([5], 0.3, &dev))),
        };
        let x = spread::<Ad, 2>([11, 7], 2.0, &dev);
        let w = spread::<Ad, 2>([11, 5], 1.0, &dev);
        for act in [Act::Identity, Act::Tanh, Act::Relu] {
            // The input requires a gradient (a hidden layer) or not (the observations).
            for x_grad in [true, false] {
                let run = |fused: bool| {
                    let xp = if x_grad {
                        x.clone().require_grad()
                    } else {
                        x.clone()
                    };
                    let y = if fused {
                        dense(&layer, xp.clone(), act).unwrap_or_else(|_| panic!("fusable"))
                    } else {
                        let z = layer.forward(xp.clone());
                        match act {
                            Act::Identity => z,
                            Act::Tanh => composed(z),
                            Act::Relu => burn::tensor::activation::relu(z),
                        }
                    };
                    let grads = (y.clone() * w.clone()).sum().backward();
                    let bias = layer.bias.as_ref().expect("a bias");
                    let mut all = vec![crate::read_f32(y.inner())];
                    all.push(crate::read_f32(layer.weight.grad(&grads).expect("W grad")));
                    all.push(crate::read_f32(bias.grad(&grads).expect("b grad")));
                    assert_eq!(xp.grad(&grads).is_some(), x_grad);
                    all.extend(xp.grad(&grads).map(crate::read_f32));
                    all
                };
                let (fused, reference) = (run(true), run(false));
                assert_eq!(fused.len(), reference.len());
                for (f, r) in fused.iter().zip(&reference) {
                    close(f, r, 2e-6);
                }
            }
        }
        // The inference backend, and an input in a transposed layout.
        let inner = burn::module::AutodiffModule::valid(&layer);
        let xt = spread::<Inner, 2>([7, 11], 2.0, &dev).transpose();
        let fused = dense(&inner, xt.clone(), Act::Tanh).unwrap_or_else(|_| panic!("fusable"));
        close(
            &crate::read_f32(fused),
            &crate::read_f32(composed(inner.forward(xt))),
            3.6e-7,
        );
    }

    #[test]
    fn reading_back_gives_what_into_data_gives_in_every_layout() {
        let dev = Default::default();
        let x = spread::<Ad, 2>([3, 4], 1.0, &dev);
        for t in [
            x.clone(),
            x.clone().transpose(),
            x.clone().require_grad().mul_scalar(2.0),
        ] {
            let want: Vec<f32> = t.clone().into_data().to_vec().expect("f32");
            assert_eq!(read_f32(t).unwrap_or_else(|_| panic!("fusable")), want);
        }
        let inner = spread::<Inner, 2>([5, 2], 1.0, &dev).transpose();
        let want: Vec<f32> = inner.clone().into_data().to_vec().expect("f32");
        assert_eq!(read_f32(inner).unwrap_or_else(|_| panic!("fusable")), want);
    }

    #[test]
    fn the_fused_categorical_matches_log_softmax_gather_and_entropy() {
        use crate::distributions::{categorical_entropy, categorical_log_prob};
        let dev = Default::default();
        let logits = spread::<Ad, 2>([9, 3], 6.0, &dev);
        let actions = Tensor::<Ad, 1, Int>::from_ints([0, 1, 2, 2, 1, 0, 0, 2, 1], &dev);
        let (wl, we) = (
            spread::<Ad, 1>([9], 1.0, &dev),
            spread::<Ad, 1>([9], 2.0, &dev),
        );
        let run = |fused: bool| {
            let l = logits.clone().require_grad();
            let (lp, h) = if fused {
                categorical(l.clone(), actions.clone()).unwrap_or_else(|_| panic!("fusable"))
            } else {
                (
                    categorical_log_prob(l.clone(), actions.clone()),
                    categorical_entropy(l.clone()),
                )
            };
            let loss = (lp.clone() * wl.clone()).sum() + (h.clone() * we.clone()).sum();
            let g = l.grad(&loss.backward()).expect("logits require grad");
            [lp.inner(), h.inner()]
                .map(crate::read_f32)
                .into_iter()
                .chain([crate::read_f32(g)])
                .collect::<Vec<_>>()
        };
        for (f, r) in run(true).iter().zip(&run(false)) {
            close(f, r, 2e-6);
        }
        // The inference backend gives the same values.
        let (lp, h) = categorical(logits.clone().inner(), actions.clone().inner())
            .unwrap_or_else(|_| panic!("fusable"));
        close(&crate::read_f32(lp), &run(false)[0], 2e-6);
        close(&crate::read_f32(h), &run(false)[1], 2e-6);
        // An action out of range is handed back for the composed form to report.
        let bad = Tensor::<Ad, 1, Int>::from_ints([0, 1, 2, 3, 1, 0, 0, 2, 1], &dev);
        assert!(categorical(logits, bad).is_err());
    }

    #[test]
    fn the_fused_gaussian_matches_the_composed_log_density() {
        use crate::distributions::composed_gaussian_log_prob;
        let dev = Default::default();
        let mean = spread::<Ad, 2>([7, 2], 1.5, &dev);
        let log_std = spread::<Ad, 1>([2], 0.8, &dev);
        let actions = spread::<Ad, 2>([7, 2], 2.5, &dev).flip([0]);
        let w = spread::<Ad, 1>([7], 1.0, &dev);
        let run = |fused: bool| {
            let (m, l) = (mean.clone().require_grad(), log_std.clone().require_grad());
            let lp = if fused {
                gaussian(m.clone(), l.clone(), actions.clone())
                    .unwrap_or_else(|_| panic!("fusable"))
            } else {
                composed_gaussian_log_prob(m.clone(), l.clone(), actions.clone())
            };
            let grads = (lp.clone() * w.clone()).sum().backward();
            let gm = m.grad(&grads).expect("the means require grad");
            let gl = l.grad(&grads).expect("the log-std requires grad");
            vec![
                crate::read_f32(lp.inner()),
                crate::read_f32(gm),
                crate::read_f32(gl),
            ]
        };
        for (f, r) in run(true).iter().zip(&run(false)) {
            close(f, r, 2e-6);
        }
        // The inference backend gives the same values.
        let want = run(false);
        let lp = gaussian(
            mean.clone().inner(),
            log_std.clone().inner(),
            actions.clone().inner(),
        )
        .unwrap_or_else(|_| panic!("fusable"));
        close(&crate::read_f32(lp), &want[0], 2e-6);
        // Shapes that do not fit are handed back for the composed form to report.
        assert!(
            gaussian(
                mean,
                spread::<Ad, 1>([3], 0.8, &dev),
                spread([7, 2], 1.0, &dev)
            )
            .is_err()
        );
    }

    #[test]
    fn other_backends_are_handed_back_untouched() {
        let dev = Default::default();
        let x = Tensor::<NdArray<f64>, 2>::from_floats([[0.5, -2.0]], &dev);
        let back = tanh(x.clone()).expect_err("f64 ndarray is not fused");
        assert_eq!(back.into_data(), x.clone().into_data());
        let back = read_f32(x.clone()).expect_err("f64 ndarray is not read here");
        assert_eq!(back.into_data(), x.into_data());
    }
}
