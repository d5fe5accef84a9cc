//! What only ndarray has: reads of a whole buffer in one copy, parameter updates in
//! place, scalar functions computed on the host with their gradient, and the helpers the
//! host specialisations of the fused operations share.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ndarray::{NdArrayTensor, SharedArray};
use burn::prelude::*;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, TensorMetadata, TensorPrimitive};
use ndarray::ArrayView2;

use super::{Ad, Inner, as_b, cast, fusable, is_inner, primitive};

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
pub(super) fn standard(a: SharedArray<f32>) -> SharedArray<f32> {
    if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned().into_shared()
    }
}

pub(super) fn as_slice(a: &SharedArray<f32>) -> &[f32] {
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

/// The f32 array inside an ndarray tensor (the entry points checked the type).
pub(super) fn f32s(t: NdArrayTensor) -> SharedArray<f32> {
    match t {
        NdArrayTensor::F32(storage) => storage.into_shared(),
        other => unreachable!("checked for f32, got {:?}", other.dtype()),
    }
}

pub(super) fn view2(a: &SharedArray<f32>) -> ArrayView2<'_, f32> {
    a.view().into_dimensionality().expect("a rank-2 tensor")
}

pub(super) fn shaped(shape: &[usize], v: Vec<f32>) -> SharedArray<f32> {
    SharedArray::from_shape_vec(shape, v).expect("one value per element")
}
