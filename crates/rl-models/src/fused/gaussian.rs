//! A diagonal Gaussian's log-density of each row's action, summed over components, under
//! means `[batch, d]` and a state-independent `log_std` `[d]`: one node whose backward
//! applies `d log p_i / d mean_ij = z_ij / std_j` and
//! `d log p_i / d log_std_j = z_ij² - 1` (summed over rows), `z = (a - mean) / std`.

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::prelude::*;
use burn::tensor::ops::FloatTensor;

use super::{Ad, Inner, primitive, tensor};
use crate::distributions::HALF_LN_2PI;

/// The node on this build's backend: the host one on ndarray, the generic one elsewhere.
pub(super) fn node(
    mean: FloatTensor<Ad>,
    log_std: FloatTensor<Ad>,
    actions: FloatTensor<Ad>,
) -> FloatTensor<Ad> {
    #[cfg(feature = "ndarray")]
    return host::node(mean, log_std, actions);
    #[cfg(not(feature = "ndarray"))]
    generic_node::<Inner>(mean, log_std, actions)
}

/// The log-densities alone on this build's backend.
pub(super) fn forward(
    mean: FloatTensor<Inner>,
    log_std: FloatTensor<Inner>,
    actions: FloatTensor<Inner>,
) -> FloatTensor<Inner> {
    #[cfg(feature = "ndarray")]
    return host::forward(mean, log_std, actions);
    #[cfg(not(feature = "ndarray"))]
    generic_forward::<Inner>(mean, log_std, actions).0
}

/// The log-densities over any backend, as the composed form computes them, and the
/// backward's state: `z` and `1 / std` (`[1, d]`).
fn generic_forward<I: Backend>(
    mean: FloatTensor<I>,
    log_std: FloatTensor<I>,
    actions: FloatTensor<I>,
) -> (FloatTensor<I>, (FloatTensor<I>, FloatTensor<I>)) {
    let log_std = tensor::<I, 1>(log_std).unsqueeze_dim::<2>(0);
    let inv_std = log_std.clone().neg().exp();
    let z = (tensor::<I, 2>(actions) - tensor(mean)) * inv_std.clone();
    let log_prob = (z.clone().powi_scalar(2).mul_scalar(-0.5) - log_std)
        .sub_scalar(HALF_LN_2PI)
        .sum_dim(1)
        .squeeze_dim::<1>(1);
    (primitive(log_prob), (primitive(z), primitive(inv_std)))
}

/// The node over any backend. The actions get no gradient.
pub(super) fn generic_node<I: Backend>(
    mean: FloatTensor<Autodiff<I>>,
    log_std: FloatTensor<Autodiff<I>>,
    actions: FloatTensor<Autodiff<I>>,
) -> FloatTensor<Autodiff<I>> {
    let nodes = [mean.node.clone(), log_std.node.clone()];
    let (log_prob, state) =
        generic_forward::<I>(mean.primitive, log_std.primitive, actions.primitive);
    match GaussianBackward
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state, log_prob),
        OpsKind::UnTracked(prep) => prep.finish(log_prob),
    }
}

#[derive(Debug)]
struct GaussianBackward;

impl<I: Backend> Backward<I, 2> for GaussianBackward {
    /// `z` `[batch, d]` and `1 / std` `[1, d]`.
    type State = (FloatTensor<I>, FloatTensor<I>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_mean, node_log_std] = ops.parents;
        let g = tensor::<I, 1>(grads.consume::<I>(&ops.node)).unsqueeze_dim::<2>(1);
        let z = tensor::<I, 2>(ops.state.0);
        if let Some(node) = node_mean {
            let dm = z.clone() * tensor(ops.state.1) * g.clone();
            grads.register::<I>(node.id, primitive(dm));
        }
        if let Some(node) = node_log_std {
            let dl = ((z.clone() * z).sub_scalar(1.0) * g)
                .sum_dim(0)
                .squeeze_dim::<1>(0);
            grads.register::<I>(node.id, primitive(dl));
        }
    }
}

/// The ndarray specialisation: one host pass forward, one back.
#[cfg(feature = "ndarray")]
mod host {
    use std::sync::Arc;

    use burn::backend::ndarray::NdArrayTensor;

    use super::*;
    use crate::fused::host::{as_slice, f32s, shaped, standard};

    /// The standardised actions `z = (a - mean) / std` and `1 / std`, for the backward.
    #[derive(Debug)]
    struct State {
        d: usize,
        z: Vec<f32>,
        inv_std: Vec<f32>,
    }

    fn compute(m: &[f32], ls: &[f32], a: &[f32]) -> (State, NdArrayTensor) {
        let d = ls.len();
        let rows = m.len() / d;
        let inv_std: Vec<f32> = ls.iter().map(|l| (-l).exp()).collect();
        let mut z = vec![0.0; rows * d];
        let mut log_prob = vec![0.0; rows];
        for (b, lp) in log_prob.iter_mut().enumerate() {
            for j in 0..d {
                let k = b * d + j;
                z[k] = (a[k] - m[k]) * inv_std[j];
                *lp += -0.5 * z[k] * z[k] - ls[j] - HALF_LN_2PI;
            }
        }
        let out = NdArrayTensor::from(shaped(&[rows], log_prob));
        (State { d, z, inv_std }, out)
    }

    pub(super) fn forward(
        mean: NdArrayTensor,
        log_std: NdArrayTensor,
        actions: NdArrayTensor,
    ) -> NdArrayTensor {
        let [m, ls, a] = [mean, log_std, actions].map(|t| standard(f32s(t)));
        compute(as_slice(&m), as_slice(&ls), as_slice(&a)).1
    }

    pub(super) fn node(
        mean: FloatTensor<Ad>,
        log_std: FloatTensor<Ad>,
        actions: FloatTensor<Ad>,
    ) -> FloatTensor<Ad> {
        let nodes = [mean.node.clone(), log_std.node.clone()];
        let [m, ls, a] = [mean, log_std, actions].map(|t| standard(f32s(t.primitive)));
        let (state, out) = compute(as_slice(&m), as_slice(&ls), as_slice(&a));
        match HostBackward
            .prepare::<NoCheckpointing>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(Arc::new(state), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    #[derive(Debug)]
    struct HostBackward;

    impl Backward<Inner, 2> for HostBackward {
        type State = Arc<State>;

        fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [node_mean, node_log_std] = ops.parents;
            let grad = f32s(grads.consume::<Inner>(&ops.node));
            let grad = grad.as_standard_layout();
            let g = grad.as_slice().expect("standard layout");
            let State { d, z, inv_std } = &*ops.state;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distributions::composed_gaussian_log_prob;
    use crate::fused::gaussian;
    use crate::fused::tests::{agree, close, spread};

    #[test]
    fn the_gaussian_node_matches_the_composed_log_density() {
        let dev = Default::default();
        let mean = spread::<Ad, 2>([7, 2], 1.5, &dev);
        let log_std = spread::<Ad, 1>([2], 0.8, &dev);
        // A flipped (non-standard layout on ndarray) tensor of actions.
        let actions = spread::<Ad, 2>([7, 2], 2.5, &dev).flip([0]);
        let w = spread::<Ad, 1>([7], 1.0, &dev);
        let run = |fused: bool, generic: bool| {
            let (m, l) = (mean.clone().require_grad(), log_std.clone().require_grad());
            let lp = match (fused, generic) {
                (false, _) => composed_gaussian_log_prob(m.clone(), l.clone(), actions.clone()),
                (true, false) => gaussian(m.clone(), l.clone(), actions.clone())
                    .unwrap_or_else(|_| panic!("fused")),
                (true, true) => tensor(generic_node::<Inner>(
                    primitive(m.clone()),
                    primitive(l.clone()),
                    primitive(actions.clone()),
                )),
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
        agree(|fused| run(fused, false), 2e-6);
        agree(|fused| run(fused, true), 2e-6);
        // The inference backend gives the same values.
        let want = run(false, false);
        let lp = gaussian(
            mean.clone().inner(),
            log_std.clone().inner(),
            actions.clone().inner(),
        )
        .unwrap_or_else(|_| panic!("fused"));
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
}
