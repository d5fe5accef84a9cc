//! flex's specialisation of the generic nodes' element-wise steps. flex's tensors are
//! host buffers, and its element-wise operations are a scalar loop each (its `exp` a libm
//! call per element), so the activation and its gradient take the vectorised host passes
//! of [`crate::kernels`] that ndarray's host nodes use; the products stay flex's.
//!
//! Each function takes the generic node's tensors over any backend `I` and hands them
//! back untouched unless `I` is flex and they are f32.

use std::borrow::Cow;

use burn::backend::flex::FlexTensor;
use burn::prelude::*;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, TensorData};

use super::cast;
use crate::kernels::{self, Act};

/// `f` over the tensors as flex's, or the tensors back.
fn on_flex<I: Backend, const N: usize, const R: usize>(
    inputs: [FloatTensor<I>; N],
    f: impl FnOnce([FlexTensor; N]) -> [FlexTensor; R],
) -> Result<[FloatTensor<I>; R], [FloatTensor<I>; N]> {
    let flex = cast::<[FloatTensor<I>; N], [FlexTensor; N]>(inputs)?;
    if flex.iter().any(|t| t.dtype() != DType::F32) {
        return Err(cast(flex).unwrap_or_else(|_| unreachable!("the type it was cast from")));
    }
    let out = f(flex);
    Ok(cast(out).unwrap_or_else(|_| unreachable!("I is flex")))
}

/// `t`'s values in standard (row-major) order, borrowed when it is laid out so.
fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(
            t.to_contiguous()
                .as_slice::<f32>()
                .expect("contiguous")
                .to_vec(),
        ),
    }
}

fn shaped(dims: &[usize], v: Vec<f32>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(v, dims.to_vec()))
}

fn dims(t: &FlexTensor) -> Vec<usize> {
    t.layout().shape().to_vec()
}

/// `act(z + b)`, `z` `[rows, out]` and `b` `[1, out]`: one host pass.
pub(super) fn bias_act<I: Backend>(
    z: FloatTensor<I>,
    b: FloatTensor<I>,
    act: Act,
) -> Result<FloatTensor<I>, [FloatTensor<I>; 2]> {
    on_flex::<I, 2, 1>([z, b], |[z, b]| {
        let mut v = values(&z).into_owned();
        kernels::bias_act_rows(&mut v, &values(&b), act);
        [shaped(&dims(&z), v)]
    })
    .map(|[y]| y)
}

/// `dz = g act'(y)` and its column sums `db` `[1, out]`, from the output `y`: one host
/// pass.
pub(super) fn act_backward<I: Backend>(
    y: FloatTensor<I>,
    g: FloatTensor<I>,
    act: Act,
) -> Result<[FloatTensor<I>; 2], [FloatTensor<I>; 2]> {
    on_flex::<I, 2, 2>([y, g], |[y, g]| {
        let shape = dims(&y);
        let (ys, gs) = (values(&y), values(&g));
        let mut dz = vec![0.0; ys.len()];
        let mut db = vec![0.0; shape[1]];
        kernels::act_backward_rows(&ys, &gs, act, &mut dz, &mut db);
        [shaped(&shape, dz), shaped(&[1, shape[1]], db)]
    })
}

/// `tanh(x)` as [`crate::fast_tanh`] computes it, any rank.
pub(super) fn tanh<I: Backend>(x: FloatTensor<I>) -> Result<FloatTensor<I>, FloatTensor<I>> {
    on_flex::<I, 1, 1>([x], |[x]| {
        let xs = values(&x);
        let mut y = vec![0.0; xs.len()];
        kernels::tanh_into(&xs, &mut y);
        [shaped(&dims(&x), y)]
    })
    .map(|[y]| y)
    .map_err(|[x]| x)
}

/// `g (1 - y²)`, any rank.
pub(super) fn tanh_backward<I: Backend>(
    y: FloatTensor<I>,
    g: FloatTensor<I>,
) -> Result<FloatTensor<I>, [FloatTensor<I>; 2]> {
    on_flex::<I, 2, 1>([y, g], |[y, g]| {
        let (ys, gs) = (values(&y), values(&g));
        let mut dx = vec![0.0; ys.len()];
        kernels::tanh_backward(&ys, &gs, &mut dx);
        [shaped(&dims(&y), dx)]
    })
    .map(|[d]| d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::composed_tanh;
    use crate::fused::tests::{close, spread};
    use crate::fused::{Inner, primitive, tensor};

    /// The host passes read a transposed view in its logical order, and leave other
    /// backends' tensors untouched.
    #[test]
    fn the_host_passes_read_any_layout() {
        let dev = Default::default();
        let x = spread::<Inner, 2>([5, 3], 4.0, &dev).transpose();
        let y = tanh::<Inner>(primitive(x.clone())).unwrap_or_else(|_| panic!("flex"));
        let reference = composed_tanh::<Inner>(primitive(x));
        close(
            &tensor::<Inner, 2>(y)
                .into_data()
                .to_vec::<f32>()
                .expect("f32"),
            &tensor::<Inner, 2>(reference)
                .into_data()
                .to_vec::<f32>()
                .expect("f32"),
            3.6e-7,
        );
        let other = Tensor::<burn::backend::Autodiff<Inner>, 1>::from_floats([0.5], &dev);
        assert!(tanh::<burn::backend::Autodiff<Inner>>(primitive(other)).is_err());
    }
}
