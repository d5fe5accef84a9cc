//! Fused operations: each is one autodiff node with its own backward, written once over
//! any backend, with a host specialisation for ndarray (and, for the dense layer's and
//! tanh's element-wise steps, for flex).
//!
//! Composed from Burn operations, a hidden layer `tanh(x W + b)` is a matrix product, a
//! broadcast bias add and the seven element-wise operations of
//! `tanh(x) = 1 - 2 / (exp(2x) + 1)`: nine autodiff nodes, each recording its inputs and
//! running its own backward step (about fifteen operations back). The loss's
//! log-softmax, gather and entropy are two dozen such nodes on `[batch, n_actions]`
//! tensors, a diagonal Gaussian's log-density about a dozen. Each operation here is one
//! node whose backward applies the analytic gradient in a few whole-tensor operations:
//!
//! | operation | forward | backward |
//! | --- | --- | --- |
//! | [`dense`]: `act(x W + b)` | product, bias add, activation | `dz = g act'(y)`; `dz Wᵀ`, `xᵀ dz`, column sums of `dz` |
//! | [`tanh`] | as [`crate::fast_tanh`] | `g (1 - y²)` |
//! | [`categorical`]: `log p(a)`, `H` per row | one log-softmax | `[j = a] - p_j`, `-p_j (log p_j + H)` |
//! | [`gaussian`]: `log N(a; μ, σ)` per row | `z = (a - μ) / σ` | `z / σ`, column sums of `z² - 1` |
//!
//! Each operation's module holds the three parts: the forward and the backward over any
//! backend `I` (Burn's tensor operations, so flex and wgpu run them as they run anything
//! else, fusion included), and `host`, the same node on ndarray computed by the
//! vectorised loops of [`crate::kernels`] (one pass forward and one back over the
//! buffers, where ndarray's own operations allocate and walk dynamic-rank views per
//! operation). [`host`] has what only ndarray has: one-copy reads, in-place parameter
//! updates, scalar functions computed on the host. On flex, `flex.rs` runs the generic
//! dense and tanh nodes' element-wise steps as the same host loops on flex's buffers
//! (flex's own element-wise operations are a scalar loop each), the products staying
//! flex's.
//!
//! Models stay generic over `B: Backend`. The entry points recognise the backend this
//! build was compiled for ([`crate::backend::Backend`]), with or without autodiff, by its
//! type (a safe `Any` downcast, no allocation), and hand anything else, or tensors that
//! are not f32, back for the composed form. Every operation is tested against the
//! composed form, forward and gradients, through its entry point (the host node on
//! ndarray) and through its generic node, on every backend a build is compiled for.

use std::any::{Any, TypeId};

use burn::backend::Autodiff;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn::tensor::{DType, TensorMetadata, TensorPrimitive};

use crate::kernels::Act;

// On ndarray builds the host nodes run and the generic ones are their tests' reference.
#[cfg_attr(all(feature = "ndarray", not(test)), allow(dead_code))]
mod categorical;
#[cfg_attr(all(feature = "ndarray", not(test)), allow(dead_code))]
mod dense;
#[cfg(feature = "flex")]
mod flex;
#[cfg_attr(all(feature = "ndarray", not(test)), allow(dead_code))]
mod gaussian;
#[cfg(feature = "ndarray")]
pub(crate) mod host;

/// The backend this build was compiled for, without autodiff.
type Inner = crate::backend::Backend;
/// The same, with autodiff: what training runs on.
type Ad = Autodiff<Inner>;

/// Moves `t` into a `U` when `T` is `U`, and gives it back otherwise.
fn cast<T: 'static, U: 'static>(t: T) -> Result<U, T> {
    let mut slot = Some(t);
    match (&mut slot as &mut dyn Any).downcast_mut::<Option<U>>() {
        Some(u) => Ok(u.take().expect("the slot was just filled")),
        None => Err(slot.expect("the slot was not touched")),
    }
}

/// `t` as `B`'s float primitive, which it is.
fn as_b<B: Backend, T: 'static>(t: T) -> FloatTensor<B> {
    cast(t).unwrap_or_else(|_| unreachable!("the output has the input's type"))
}

/// Whether `B` is this build's backend, with or without autodiff. The backend type, not
/// the primitive's, is checked: every `NdArray<E>` shares one primitive type.
pub(crate) fn fusable<B: Backend>() -> bool {
    let backend = TypeId::of::<B>();
    backend == TypeId::of::<Ad>() || backend == TypeId::of::<Inner>()
}

/// Whether `B` is this build's backend without autodiff.
#[cfg(feature = "ndarray")]
pub(crate) fn is_inner<B: Backend>() -> bool {
    TypeId::of::<B>() == TypeId::of::<Inner>()
}

fn primitive<B: Backend, const D: usize>(t: Tensor<B, D>) -> FloatTensor<B> {
    t.into_primitive().tensor()
}

fn tensor<B: Backend, const D: usize>(p: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(p))
}

/// Where a fused operation runs: a node on the build's backend under autodiff, or the
/// forward alone on the build's backend.
enum Route<const N: usize> {
    Autodiff([FloatTensor<Ad>; N]),
    Inner([FloatTensor<Inner>; N]),
}

/// The route for `inputs`, or the inputs back when `B` is another backend or an input
/// is not f32.
fn route<B: Backend, const N: usize>(
    inputs: [FloatTensor<B>; N],
) -> Result<Route<N>, [FloatTensor<B>; N]> {
    if !fusable::<B>() || inputs.iter().any(|t| t.dtype() != DType::F32) {
        return Err(inputs);
    }
    Ok(match cast::<_, [FloatTensor<Ad>; N]>(inputs) {
        Ok(ad) => Route::Autodiff(ad),
        Err(inputs) => Route::Inner(cast(inputs).unwrap_or_else(|_| unreachable!("B is Inner"))),
    })
}

/// `act(x W + b)` for an f32 layer with a bias as one fused operation on this build's
/// backend (with or without autodiff); `Err(x)` untouched otherwise.
pub(crate) fn dense<B: Backend>(
    layer: &Linear<B>,
    x: Tensor<B, 2>,
    act: Act,
) -> Result<Tensor<B, 2>, Tensor<B, 2>> {
    let Some(bias) = layer.bias.as_ref() else {
        return Err(x);
    };
    let inputs = [x, layer.weight.val(), bias.val().unsqueeze()].map(primitive);
    let y = match route::<B, 3>(inputs) {
        Ok(Route::Autodiff([x, w, b])) => as_b::<B, _>(dense::node(x, w, b, act)),
        Ok(Route::Inner([x, w, b])) => as_b::<B, _>(dense::forward(x, w, b, act)),
        Err([x, _, _]) => return Err(tensor(x)),
    };
    Ok(tensor(y))
}

/// `tanh(x)` as [`crate::fast_tanh`] computes it, as one fused operation on this build's
/// backend; `Err(x)` untouched otherwise.
pub(crate) fn tanh<B: Backend, const D: usize>(
    x: Tensor<B, D>,
) -> Result<Tensor<B, D>, Tensor<B, D>> {
    let y = match route::<B, 1>([primitive(x)]) {
        Ok(Route::Autodiff([x])) => as_b::<B, _>(dense::tanh_node(x)),
        Ok(Route::Inner([x])) => as_b::<B, _>(dense::tanh_forward(x)),
        Err([x]) => return Err(tensor(x)),
    };
    Ok(tensor(y))
}

/// The log-probability of each row's action and each row's entropy (`[batch]` each)
/// under `logits` `[batch, n]`, from one log-softmax, as two autodiff nodes on this
/// build's backend; the inputs untouched otherwise, or when (on ndarray, which reads the
/// actions) an action is out of range, for the composed form to report.
pub(crate) fn categorical<B: Backend>(
    logits: Tensor<B, 2>,
    actions: Tensor<B, 1, Int>,
) -> CategoricalResult<B> {
    let [rows, _] = logits.dims();
    if actions.dims() != [rows] {
        return Err((logits, actions));
    }
    let a: IntTensor<B> = actions.into_primitive();
    // The same integer primitive with and without autodiff.
    let a = match cast::<IntTensor<B>, IntTensor<Inner>>(a) {
        Ok(a) => a,
        Err(a) => return Err((logits, Tensor::from_primitive(a))),
    };
    let back = |l: FloatTensor<B>, a: IntTensor<Inner>| {
        let a = cast::<IntTensor<Inner>, IntTensor<B>>(a)
            .unwrap_or_else(|_| unreachable!("the type it was cast from"));
        (tensor(l), Tensor::from_primitive(a))
    };
    let (lp, h) = match route::<B, 1>([primitive(logits)]) {
        Ok(Route::Autodiff([l])) => match categorical::nodes(l, a) {
            Ok((lp, h)) => (as_b::<B, _>(lp), as_b::<B, _>(h)),
            Err((l, a)) => return Err(back(as_b::<B, _>(l), a)),
        },
        Ok(Route::Inner([l])) => match categorical::forward(l, a) {
            Ok((lp, h)) => (as_b::<B, _>(lp), as_b::<B, _>(h)),
            Err((l, a)) => return Err(back(as_b::<B, _>(l), a)),
        },
        Err([l]) => return Err(back(l, a)),
    };
    Ok((tensor(lp), tensor(h)))
}

/// What [`categorical`] hands back: the two `[batch]` tensors, or its inputs.
pub(crate) type CategoricalResult<B> =
    Result<(Tensor<B, 1>, Tensor<B, 1>), (Tensor<B, 2>, Tensor<B, 1, Int>)>;

/// The diagonal Gaussian log-density of each row's action, summed over components
/// (`[batch]`), under means `[batch, d]` and a state-independent `log_std` `[d]`, as one
/// autodiff node on this build's backend; the inputs untouched otherwise. Composed from
/// Burn operations it is eight element-wise passes each way, and the broadcast
/// `log_std`'s gradient a `sum_dim` over the batch: about a tenth of a PPO update on
/// Pendulum-v1 with ndarray.
pub(crate) fn gaussian<B: Backend>(
    mean: Tensor<B, 2>,
    log_std: Tensor<B, 1>,
    actions: Tensor<B, 2>,
) -> GaussianResult<B> {
    let [rows, d] = mean.dims();
    if log_std.dims() != [d] || actions.dims() != [rows, d] {
        return Err((mean, log_std, actions));
    }
    let lp = match route::<B, 3>([primitive(mean), primitive(log_std), primitive(actions)]) {
        Ok(Route::Autodiff([m, l, a])) => as_b::<B, _>(gaussian::node(m, l, a)),
        Ok(Route::Inner([m, l, a])) => as_b::<B, _>(gaussian::forward(m, l, a)),
        Err([m, l, a]) => return Err((tensor(m), tensor(l), tensor(a))),
    };
    Ok(tensor(lp))
}

/// What [`gaussian`] hands back: the `[batch]` log-densities, or its inputs.
pub(crate) type GaussianResult<B> =
    Result<Tensor<B, 1>, (Tensor<B, 2>, Tensor<B, 1>, Tensor<B, 2>)>;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Values spread over [-scale, scale], the same on every run.
    pub(crate) fn spread<B: Backend, const D: usize>(
        shape: [usize; D],
        scale: f32,
        dev: &B::Device,
    ) -> Tensor<B, D> {
        let n = shape.iter().product::<usize>();
        let v: Vec<f32> = (0..n).map(|i| scale * (i as f32 * 0.731).sin()).collect();
        Tensor::from_data(burn::tensor::TensorData::new(v, shape), dev)
    }

    pub(crate) fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol, "{x} vs {y}");
        }
    }

    /// Every output of `run(fused)` within `tol` of `run(composed)`.
    pub(crate) fn agree(run: impl Fn(bool) -> Vec<Vec<f32>>, tol: f32) {
        let (fused, reference) = (run(true), run(false));
        assert_eq!(fused.len(), reference.len());
        for (f, r) in fused.iter().zip(&reference) {
            close(f, r, tol);
        }
    }

    #[test]
    fn only_this_builds_backend_is_fused() {
        assert!(fusable::<Inner>() && fusable::<Ad>());
        #[cfg(feature = "ndarray")]
        {
            use burn::backend::NdArray;
            let dev = Default::default();
            let x = Tensor::<NdArray<f64>, 2>::from_floats([[0.5, -2.0]], &dev);
            let back = tanh(x.clone()).expect_err("f64 ndarray is not fused");
            assert_eq!(back.into_data(), x.clone().into_data());
            let back = host::read_f32(x.clone()).expect_err("f64 ndarray is not read here");
            assert_eq!(back.into_data(), x.into_data());
        }
    }
}
