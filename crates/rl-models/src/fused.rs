//! A fused tanh for the ndarray backend, forward and backward.
//!
//! Composed from Burn operations, `tanh(x) = 1 - 2 / (exp(2x) + 1)` is seven
//! element-wise passes forward and about ten backward, each allocating, and Burn 0.21's
//! ndarray `exp` and `tanh` call libm per element. In the batched update those passes
//! were a third of the time. Here the forward is one vectorised host pass
//! ([`kernels::tanh_into`]) and the backward another (`grad * (1 - y^2)`, from the saved
//! output), registered as one autodiff node with a custom [`Backward`] step.
//!
//! Models stay generic over `B: Backend`: [`tanh`] recognises the two concrete tensor
//! types this build can fuse, `NdArray<f32>` and `Autodiff<NdArray<f32>>`, by their type
//! (a safe `Any` downcast, no allocation), and hands any other tensor back for the
//! composed form.

use std::any::{Any, TypeId};

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::ndarray::{NdArray, NdArrayTensor, SharedArray};
use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn::tensor::ops::{FloatTensor, FloatTensorOps};

use crate::kernels;

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
    // The backend type, not the primitive's: every `NdArray<E>` shares one primitive.
    let backend = TypeId::of::<B>();
    if backend != TypeId::of::<Ad>() && backend != TypeId::of::<Inner>() {
        return Err(x);
    }
    let p = x.into_primitive().tensor();
    let y: Result<FloatTensor<B>, _> = match cast::<FloatTensor<B>, FloatTensor<Ad>>(p) {
        Ok(ad) => cast(autodiff_tanh(ad)).map_err(drop),
        Err(p) => {
            let nd = cast::<FloatTensor<B>, FloatTensor<Inner>>(p)
                .unwrap_or_else(|_| unreachable!("B is Inner"));
            cast(inner_tanh(nd)).map_err(drop)
        }
    };
    let y = y.unwrap_or_else(|()| unreachable!("the output has the input's type"));
    Ok(Tensor::from_primitive(TensorPrimitive::Float(y)))
}

/// The autodiff node: forward on the inner tensor, the output saved for the backward.
fn autodiff_tanh(x: FloatTensor<Ad>) -> FloatTensor<Ad> {
    let node = x.node.clone();
    let y = inner_tanh(x.primitive);
    match TanhBackward
        .prepare::<NoCheckpointing>([node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(y.clone(), y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}

#[derive(Debug)]
struct TanhBackward;

impl Backward<Inner, 1> for TanhBackward {
    /// The forward's output `y`.
    type State = FloatTensor<Inner>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let y = ops.state;
        unary::<Inner, _>(ops.parents, ops.node, grads, |grad| {
            inner_tanh_backward(y, grad)
        });
    }
}

/// An f32 array as a standard-layout slice, if it is one.
fn f32_array(t: NdArrayTensor) -> Result<SharedArray<f32>, NdArrayTensor> {
    match t {
        NdArrayTensor::F32(storage) => {
            let a = storage.into_shared();
            if a.is_standard_layout() {
                Ok(a)
            } else {
                Err(NdArrayTensor::from(a))
            }
        }
        other => Err(other),
    }
}

fn from_vec(shape: &[usize], v: Vec<f32>) -> NdArrayTensor {
    let a = SharedArray::from_shape_vec(shape, v).expect("one value per element");
    NdArrayTensor::from(a)
}

fn inner_tanh(x: FloatTensor<Inner>) -> FloatTensor<Inner> {
    match f32_array(x) {
        Ok(a) => {
            let x = a.as_slice().expect("standard layout");
            let mut y = vec![0.0; x.len()];
            kernels::tanh_into(x, &mut y);
            from_vec(a.shape(), y)
        }
        // Other float widths and layouts: the composed form, on the inner backend.
        Err(x) => crate::activation::composed_tanh::<Inner>(x),
    }
}

fn inner_tanh_backward(y: FloatTensor<Inner>, grad: FloatTensor<Inner>) -> FloatTensor<Inner> {
    match (f32_array(y), f32_array(grad)) {
        (Ok(y), Ok(g)) if y.shape() == g.shape() => {
            let (ys, gs) = (
                y.as_slice().expect("standard"),
                g.as_slice().expect("standard"),
            );
            let mut out = vec![0.0; ys.len()];
            kernels::tanh_backward(ys, gs, &mut out);
            from_vec(y.shape(), out)
        }
        (y, g) => {
            let back = |r: Result<SharedArray<f32>, NdArrayTensor>| {
                r.map_or_else(|t| t, NdArrayTensor::from)
            };
            let y = back(y);
            let one_minus_y2 = Inner::float_add_scalar(
                Inner::float_neg(Inner::float_mul(y.clone(), y)),
                1.0.into(),
            );
            Inner::float_mul(back(g), one_minus_y2)
        }
    }
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
    fn other_backends_are_handed_back_untouched() {
        let dev = Default::default();
        let x = Tensor::<NdArray<f64>, 2>::from_floats([[0.5, -2.0]], &dev);
        let back = tanh(x.clone()).expect_err("f64 ndarray is not fused");
        assert_eq!(back.into_data(), x.into_data());
    }
}
