//! The dense layer `act(x W + b)` and the lone tanh: forward, backward, and their host
//! specialisation.
//!
//! Backward from the output `y`: `dz = g act'(y)` (`g (1 - y²)` for tanh, `g [y > 0]` for
//! relu), then `dx = dz Wᵀ`, `dW = xᵀ dz` and `db` the column sums of `dz`, each only
//! for a parent that requires a gradient (the observations do not).

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::ops::FloatTensor;

#[cfg(feature = "ndarray")]
use super::host::f32s;
use super::{Ad, Inner, primitive, tensor};
use crate::activation::composed_tanh;
use crate::kernels::Act;

/// The node on this build's backend: the host one on ndarray, the generic one elsewhere.
pub(super) fn node(
    x: FloatTensor<Ad>,
    w: FloatTensor<Ad>,
    b: FloatTensor<Ad>,
    act: Act,
) -> FloatTensor<Ad> {
    #[cfg(feature = "ndarray")]
    return host::node(x, w, b, act);
    #[cfg(not(feature = "ndarray"))]
    generic_node::<Inner>(x, w, b, act)
}

/// The forward alone on this build's backend.
pub(super) fn forward(
    x: FloatTensor<Inner>,
    w: FloatTensor<Inner>,
    b: FloatTensor<Inner>,
    act: Act,
) -> FloatTensor<Inner> {
    #[cfg(feature = "ndarray")]
    return host::forward(&f32s(x), &f32s(w), &f32s(b), act).into();
    #[cfg(not(feature = "ndarray"))]
    generic_forward::<Inner>(x, w, b, act)
}

/// `act(x W + b)` over any backend, `b` of shape `[1, out]`.
pub(super) fn generic_forward<I: Backend>(
    x: FloatTensor<I>,
    w: FloatTensor<I>,
    b: FloatTensor<I>,
    act: Act,
) -> FloatTensor<I> {
    let z = I::float_matmul(x, w);
    #[cfg(feature = "flex")]
    let [z, b] = match super::flex::bias_act::<I>(z, b, act) {
        Ok(y) => return y,
        Err(back) => back,
    };
    let z = tensor::<I, 2>(z) + tensor(b);
    match act {
        Act::Identity => primitive(z),
        Act::Tanh => composed_tanh::<I>(primitive(z)),
        Act::Relu => primitive(relu(z)),
    }
}

/// The dense layer as one node over any backend. The state keeps `x`, `W` and the output
/// (shared buffers, no copies).
pub(super) fn generic_node<I: Backend>(
    x: FloatTensor<Autodiff<I>>,
    w: FloatTensor<Autodiff<I>>,
    b: FloatTensor<Autodiff<I>>,
    act: Act,
) -> FloatTensor<Autodiff<I>> {
    let nodes = [x.node.clone(), w.node.clone(), b.node.clone()];
    let (x, w) = (x.primitive, w.primitive);
    let y = generic_forward::<I>(x.clone(), w.clone(), b.primitive, act);
    match DenseBackward(act)
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((x, w, y.clone()), y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}

/// `dz = g act'(y)`, from the output, and its column sums (the bias gradient).
fn act_backward<I: Backend>(act: Act, y: Tensor<I, 2>, g: Tensor<I, 2>) -> [Tensor<I, 2>; 2] {
    #[cfg(feature = "flex")]
    let (y, g) = match super::flex::act_backward::<I>(primitive(y), primitive(g), act) {
        Ok(grads) => return grads.map(tensor),
        Err([y, g]) => (tensor(y), tensor(g)),
    };
    let dz = match act {
        Act::Identity => g,
        Act::Tanh => g.clone() - g * y.clone() * y,
        Act::Relu => g.mask_fill(y.lower_equal_elem(0.0), 0.0),
    };
    [dz.clone(), dz.sum_dim(0)]
}

#[derive(Debug)]
struct DenseBackward(Act);

impl<I: Backend> Backward<I, 3> for DenseBackward {
    /// `x`, `W` and the output `y`.
    type State = (FloatTensor<I>, FloatTensor<I>, FloatTensor<I>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let (x, w, y) = ops.state;
        let g = tensor::<I, 2>(grads.consume::<I>(&ops.node));
        let [dz, db] = act_backward(self.0, tensor(y), g);
        if let Some(node) = node_x {
            let dx = dz.clone().matmul(tensor::<I, 2>(w).transpose());
            grads.register::<I>(node.id, primitive(dx));
        }
        if let Some(node) = node_w {
            let dw = tensor::<I, 2>(x).transpose().matmul(dz.clone());
            grads.register::<I>(node.id, primitive(dw));
        }
        if let Some(node) = node_b {
            grads.register::<I>(node.id, primitive(db));
        }
    }
}

/// The lone tanh's node on this build's backend.
pub(super) fn tanh_node(x: FloatTensor<Ad>) -> FloatTensor<Ad> {
    #[cfg(feature = "ndarray")]
    return host::tanh_node(x);
    #[cfg(not(feature = "ndarray"))]
    generic_tanh_node::<Inner>(x)
}

/// The lone tanh's forward on this build's backend.
pub(super) fn tanh_forward(x: FloatTensor<Inner>) -> FloatTensor<Inner> {
    #[cfg(feature = "ndarray")]
    return host::tanh_forward(&f32s(x)).into();
    #[cfg(not(feature = "ndarray"))]
    generic_tanh::<Inner>(x)
}

/// `tanh(x)` as [`crate::fast_tanh`] computes it, over any backend.
fn generic_tanh<I: Backend>(x: FloatTensor<I>) -> FloatTensor<I> {
    #[cfg(feature = "flex")]
    let x = match super::flex::tanh::<I>(x) {
        Ok(y) => return y,
        Err(x) => x,
    };
    composed_tanh::<I>(x)
}

/// The lone tanh as one node over any backend; the output is saved for the backward.
pub(super) fn generic_tanh_node<I: Backend>(
    x: FloatTensor<Autodiff<I>>,
) -> FloatTensor<Autodiff<I>> {
    let node = x.node.clone();
    let y = generic_tanh::<I>(x.primitive);
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

impl<I: Backend> Backward<I, 1> for TanhBackward {
    /// The forward's output `y`.
    type State = FloatTensor<I>;

    /// `g (1 - y²)`, as `g - g y y` (element-wise, so of any rank).
    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let y = ops.state;
        unary::<I, _>(ops.parents, ops.node, grads, |g| {
            #[cfg(feature = "flex")]
            let g = match super::flex::tanh_backward::<I>(y.clone(), g) {
                Ok(d) => return d,
                Err([_, g]) => g,
            };
            I::float_sub(g.clone(), I::float_mul(I::float_mul(g, y.clone()), y))
        });
    }
}

/// The ndarray specialisation: one vectorised host pass for the bias and activation
/// ([`kernels::bias_act_rows`]), one for the activation's gradient and the bias gradient
/// together ([`kernels::act_backward_rows`]), and products on the operands' own strides
/// ([`kernels::product`]; Burn's ndarray matmul first copies a transposed operand into
/// standard layout element by element, which cost as much as the product).
#[cfg(feature = "ndarray")]
mod host {
    use burn::backend::autodiff::NodeId;
    use burn::backend::ndarray::{NdArrayTensor, SharedArray};
    use ndarray::Array2;

    use super::*;
    use crate::fused::host::{shaped, view2};
    use crate::kernels::{self, product};

    pub(super) fn node(
        x: FloatTensor<Ad>,
        w: FloatTensor<Ad>,
        b: FloatTensor<Ad>,
        act: Act,
    ) -> FloatTensor<Ad> {
        let nodes = [x.node.clone(), w.node.clone(), b.node.clone()];
        let (x, w) = (f32s(x.primitive), f32s(w.primitive));
        let y = forward(&x, &w, &f32s(b.primitive), act);
        match DenseBackward(act)
            .prepare::<NoCheckpointing>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((x, w, y.clone()), NdArrayTensor::from(y)),
            OpsKind::UnTracked(prep) => prep.finish(NdArrayTensor::from(y)),
        }
    }

    /// `act(x W + b)`, `b` of shape `[1, out]`.
    pub(super) fn forward(
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

    /// The lone tanh's node: the output is saved for the backward.
    pub(super) fn tanh_node(x: FloatTensor<Ad>) -> FloatTensor<Ad> {
        let node = x.node.clone();
        let y = tanh_forward(&f32s(x.primitive));
        match TanhBackward
            .prepare::<NoCheckpointing>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(y.clone(), NdArrayTensor::from(y)),
            OpsKind::UnTracked(prep) => prep.finish(NdArrayTensor::from(y)),
        }
    }

    /// `tanh(x)`, in standard layout whatever `x`'s.
    pub(super) fn tanh_forward(x: &SharedArray<f32>) -> SharedArray<f32> {
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        let mut y = vec![0.0; xs.len()];
        kernels::tanh_into(xs, &mut y);
        shaped(x.shape(), y)
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::tests::{agree, close, spread};
    use crate::fused::{dense, tanh};

    fn composed<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
        tensor(composed_tanh::<B>(primitive(x)))
    }

    /// Which form of the node: the entry point (the host node on ndarray) or the generic
    /// one (on any build).
    #[derive(Clone, Copy, Debug)]
    enum Form {
        Entry,
        Generic,
    }

    #[test]
    fn the_tanh_node_matches_the_composed_form_forward_and_backward() {
        let dev = Default::default();
        // A rank-2 input in standard and in transposed layout.
        let x = spread::<Ad, 2>([33, 17], 4.0, &dev);
        let w = spread::<Ad, 2>([33, 17], 1.0, &dev);
        for form in [Form::Entry, Form::Generic] {
            for transpose in [false, true] {
                agree(
                    |fused| {
                        let xp = x.clone().require_grad();
                        let input = match transpose {
                            true => xp.clone().transpose().transpose(),
                            false => xp.clone(),
                        };
                        let y = match (fused, form) {
                            (false, _) => composed(input),
                            (true, Form::Entry) => tanh(input).unwrap_or_else(|_| panic!("fused")),
                            (true, Form::Generic) => {
                                tensor(generic_tanh_node::<Inner>(primitive(input)))
                            }
                        };
                        let loss = (y.clone() * w.clone()).sum();
                        let g = xp.grad(&loss.backward()).expect("x requires grad");
                        vec![crate::read_f32(y.inner()), crate::read_f32(g)]
                    },
                    // Each form is within 1.8e-7 of tanh.
                    1e-6,
                );
            }
        }
        // Rank 3, on the inference backend.
        let x3 = spread::<Inner, 3>([4, 5, 6], 4.0, &dev);
        let fused = tanh(x3.clone()).unwrap_or_else(|_| panic!("fused"));
        assert_eq!(fused.dims(), [4, 5, 6]);
        close(
            &crate::read_f32(fused),
            &crate::read_f32(composed(x3)),
            3.6e-7,
        );
        // Rank 3 through the generic node, backward included.
        let x3 = spread::<Ad, 3>([4, 5, 6], 4.0, &dev);
        agree(
            |fused| {
                let xp = x3.clone().require_grad();
                let y = match fused {
                    true => tensor(generic_tanh_node::<Inner>(primitive(xp.clone()))),
                    false => composed(xp.clone()),
                };
                let g = xp
                    .grad(&(y.clone() * y.clone()).sum().backward())
                    .expect("grad");
                vec![crate::read_f32(y.inner()), crate::read_f32(g)]
            },
            1e-6,
        );
    }

    #[test]
    fn the_dense_node_matches_linear_then_activation() {
        use burn::module::Param;
        let dev = Default::default();
        let layer = burn::nn::Linear {
            weight: Param::from_tensor(spread::<Ad, 2>([7, 5], 0.8, &dev)),
            bias: Some(Param::from_tensor(spread::<Ad, 1>([5], 0.3, &dev))),
        };
        let x = spread::<Ad, 2>([11, 7], 2.0, &dev);
        let w = spread::<Ad, 2>([11, 5], 1.0, &dev);
        for form in [Form::Entry, Form::Generic] {
            for act in [Act::Identity, Act::Tanh, Act::Relu] {
                // The input requires a gradient (a hidden layer) or not (the observations).
                for x_grad in [true, false] {
                    agree(
                        |fused| {
                            let xp = match x_grad {
                                true => x.clone().require_grad(),
                                false => x.clone(),
                            };
                            let y = match (fused, form) {
                                (false, _) => {
                                    let z = layer.forward(xp.clone());
                                    match act {
                                        Act::Identity => z,
                                        Act::Tanh => composed(z),
                                        Act::Relu => relu(z),
                                    }
                                }
                                (true, Form::Entry) => dense(&layer, xp.clone(), act)
                                    .unwrap_or_else(|_| panic!("fused")),
                                (true, Form::Generic) => {
                                    let bias = layer.bias.as_ref().expect("a bias");
                                    tensor(generic_node::<Inner>(
                                        primitive(xp.clone()),
                                        primitive(layer.weight.val()),
                                        primitive(bias.val().unsqueeze::<2>()),
                                        act,
                                    ))
                                }
                            };
                            let grads = (y.clone() * w.clone()).sum().backward();
                            let bias = layer.bias.as_ref().expect("a bias");
                            let mut all = vec![crate::read_f32(y.inner())];
                            all.push(crate::read_f32(layer.weight.grad(&grads).expect("W")));
                            all.push(crate::read_f32(bias.grad(&grads).expect("b")));
                            assert_eq!(xp.grad(&grads).is_some(), x_grad);
                            all.extend(xp.grad(&grads).map(crate::read_f32));
                            all
                        },
                        2e-6,
                    );
                }
            }
        }
        // The inference backend, and an input in a transposed layout.
        let inner = burn::module::AutodiffModule::valid(&layer);
        let xt = spread::<Inner, 2>([7, 11], 2.0, &dev).transpose();
        let fused = dense(&inner, xt.clone(), Act::Tanh).unwrap_or_else(|_| panic!("fused"));
        close(
            &crate::read_f32(fused),
            &crate::read_f32(composed(inner.forward(xt))),
            3.6e-7,
        );
    }
}
