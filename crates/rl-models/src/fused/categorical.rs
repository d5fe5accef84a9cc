//! A categorical policy's statistics, `log p(a)` and the entropy `H` per row, from one
//! log-softmax of the logits: two nodes sharing one state, whose backward steps apply
//! `d log p(a_i) / d l_ij = [j = a_i] - p_ij` and `d H_i / d l_ij = -p_ij (log p_ij + H_i)`.
// A refused call hands its inputs back, moved, for the composed form to report.
#![allow(clippy::result_large_err)]

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use burn::tensor::ops::{FloatTensor, IntTensor};

use super::{Ad, Inner, primitive, tensor};

/// Two outputs, or the inputs back.
type Outcome<B> = Result<(FloatTensor<B>, FloatTensor<B>), (FloatTensor<B>, IntTensor<Inner>)>;

/// The two nodes on this build's backend: the host ones on ndarray (which hand the
/// inputs back when an action is out of range), the generic ones elsewhere.
pub(super) fn nodes(logits: FloatTensor<Ad>, actions: IntTensor<Inner>) -> Outcome<Ad> {
    #[cfg(feature = "ndarray")]
    return host::nodes(logits, actions);
    #[cfg(not(feature = "ndarray"))]
    Ok(generic_nodes::<Inner>(logits, actions))
}

/// The two statistics alone on this build's backend.
pub(super) fn forward(logits: FloatTensor<Inner>, actions: IntTensor<Inner>) -> Outcome<Inner> {
    #[cfg(feature = "ndarray")]
    return host::forward(logits, actions);
    #[cfg(not(feature = "ndarray"))]
    {
        let (lp, h, _) = generic_forward::<Inner>(logits, actions);
        Ok((lp, h))
    }
}

/// What both backward steps need: the probabilities, their logarithms, the entropies
/// and the actions.
#[derive(Debug, Clone)]
struct State<I: Backend> {
    p: FloatTensor<I>,
    logp: FloatTensor<I>,
    entropy: FloatTensor<I>,
    actions: IntTensor<I>,
}

/// `log p(a)` and `H` per row over any backend, as the composed form computes them.
fn generic_forward<I: Backend>(
    logits: FloatTensor<I>,
    actions: IntTensor<I>,
) -> (FloatTensor<I>, FloatTensor<I>, State<I>) {
    let logp = log_softmax(tensor::<I, 2>(logits), 1);
    let a = Tensor::<I, 1, Int>::from_primitive(actions);
    let log_prob = logp
        .clone()
        .gather(1, a.clone().unsqueeze_dim(1))
        .squeeze_dim::<1>(1);
    let p = logp.clone().exp();
    let entropy = (p.clone() * logp.clone())
        .sum_dim(1)
        .neg()
        .squeeze_dim::<1>(1);
    let state = State {
        p: primitive(p),
        logp: primitive(logp),
        entropy: primitive(entropy.clone()),
        actions: a.into_primitive(),
    };
    (primitive(log_prob), primitive(entropy), state)
}

/// The two nodes over any backend.
pub(super) fn generic_nodes<I: Backend>(
    logits: FloatTensor<Autodiff<I>>,
    actions: IntTensor<I>,
) -> (FloatTensor<Autodiff<I>>, FloatTensor<Autodiff<I>>) {
    let (log_prob, entropy, state) = generic_forward::<I>(logits.primitive, actions);
    let node = |statistic: Statistic, out: FloatTensor<I>| match CategoricalBackward(statistic)
        .prepare::<NoCheckpointing>([logits.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state.clone(), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    (
        node(Statistic::LogProb, log_prob),
        node(Statistic::Entropy, entropy),
    )
}

/// Which of the two outputs a node is.
#[derive(Debug, Clone, Copy)]
enum Statistic {
    LogProb,
    Entropy,
}

#[derive(Debug)]
struct CategoricalBackward(Statistic);

impl<I: Backend> Backward<I, 1> for CategoricalBackward {
    type State = State<I>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (s, statistic) = (ops.state, self.0);
        unary::<I, _>(ops.parents, ops.node, grads, |g| {
            let g = tensor::<I, 1>(g).unsqueeze_dim::<2>(1);
            let p = tensor::<I, 2>(s.p);
            let d = match statistic {
                Statistic::LogProb => {
                    let [_, n] = p.dims();
                    let onehot = Tensor::<I, 1, Int>::from_primitive(s.actions)
                        .one_hot::<2>(n)
                        .float();
                    onehot - p
                }
                Statistic::Entropy => {
                    let h = tensor::<I, 1>(s.entropy).unsqueeze_dim::<2>(1);
                    (tensor::<I, 2>(s.logp) + h).mul(p).neg()
                }
            };
            primitive(d * g)
        });
    }
}

/// The ndarray specialisation: one host pass over the logits
/// ([`kernels::categorical_rows`]) and one per backward step.
#[cfg(feature = "ndarray")]
mod host {
    use std::sync::Arc;

    use burn::backend::ndarray::NdArrayTensor;
    use burn::tensor::TensorMetadata;

    use super::*;
    use crate::fused::host::{f32s, shaped};
    use crate::kernels;

    /// The actions as indices, when every one is in `0..n`.
    fn indices(actions: &IntTensor<Inner>, rows: usize, n: usize) -> Option<Vec<usize>> {
        let a = Tensor::<Inner, 1, Int>::from_primitive(actions.clone());
        match a.to_data().convert::<i64>().to_vec::<i64>() {
            Ok(a) if a.len() == rows && a.iter().all(|&a| (0..n as i64).contains(&a)) => {
                Some(a.into_iter().map(|a| a as usize).collect())
            }
            _ => None,
        }
    }

    /// The statistics and the state, from one pass.
    fn compute(logits: &NdArrayTensor, acts: Vec<usize>) -> (Vec<f32>, Vec<f32>, State) {
        let l = f32s(logits.clone());
        let (rows, n) = (l.shape()[0], l.shape()[1]);
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
        let state = State {
            n,
            probs,
            logp,
            entropy: entropy.clone(),
            actions: acts,
        };
        (log_prob, entropy, state)
    }

    fn out(v: Vec<f32>) -> NdArrayTensor {
        let n = v.len();
        NdArrayTensor::from(shaped(&[n], v))
    }

    pub(super) fn forward(logits: NdArrayTensor, actions: IntTensor<Inner>) -> Outcome<Inner> {
        let [rows, n] = TensorMetadata::shape(&logits).dims::<2>();
        let Some(acts) = indices(&actions, rows, n) else {
            return Err((logits, actions));
        };
        let (log_prob, entropy, _) = compute(&logits, acts);
        Ok((out(log_prob), out(entropy)))
    }

    pub(super) fn nodes(logits: FloatTensor<Ad>, actions: IntTensor<Inner>) -> Outcome<Ad> {
        let [rows, n] = TensorMetadata::shape(&logits.primitive).dims::<2>();
        let Some(acts) = indices(&actions, rows, n) else {
            return Err((logits, actions));
        };
        let (log_prob, entropy, state) = compute(&logits.primitive, acts);
        let state = Arc::new(state);
        let node = |statistic: Statistic, v: Vec<f32>| match HostBackward(statistic)
            .prepare::<NoCheckpointing>([logits.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(state.clone(), out(v)),
            OpsKind::UnTracked(prep) => prep.finish(out(v)),
        };
        Ok((
            node(Statistic::LogProb, log_prob),
            node(Statistic::Entropy, entropy),
        ))
    }

    /// What both backward steps need, shared.
    #[derive(Debug)]
    struct State {
        n: usize,
        probs: Vec<f32>,
        logp: Vec<f32>,
        entropy: Vec<f32>,
        actions: Vec<usize>,
    }

    #[derive(Debug)]
    struct HostBackward(Statistic);

    impl Backward<Inner, 1> for HostBackward {
        type State = Arc<State>;

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let (s, statistic) = (ops.state, self.0);
            unary::<Inner, _>(ops.parents, ops.node, grads, |grad| {
                let g = f32s(grad);
                let g = g.as_standard_layout();
                let gs = g.as_slice().expect("standard layout");
                let mut out = vec![0.0; s.probs.len()];
                for (i, (row, &gi)) in out.chunks_exact_mut(s.n).zip(gs).enumerate() {
                    for (j, o) in row.iter_mut().enumerate() {
                        let k = i * s.n + j;
                        *o = match statistic {
                            Statistic::LogProb => {
                                let onehot = if s.actions[i] == j { 1.0 } else { 0.0 };
                                gi * (onehot - s.probs[k])
                            }
                            Statistic::Entropy => -gi * s.probs[k] * (s.logp[k] + s.entropy[i]),
                        };
                    }
                }
                NdArrayTensor::from(shaped(&[gs.len(), s.n], out))
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distributions::{categorical_entropy, categorical_log_prob};
    use crate::fused::categorical;
    use crate::fused::tests::{agree, close, spread};

    #[test]
    fn the_categorical_nodes_match_log_softmax_gather_and_entropy() {
        let dev = Default::default();
        let logits = spread::<Ad, 2>([9, 3], 6.0, &dev);
        let actions = Tensor::<Ad, 1, Int>::from_ints([0, 1, 2, 2, 1, 0, 0, 2, 1], &dev);
        let (wl, we) = (
            spread::<Ad, 1>([9], 1.0, &dev),
            spread::<Ad, 1>([9], 2.0, &dev),
        );
        let run = |fused: bool, generic: bool| {
            let l = logits.clone().require_grad();
            let (lp, h) = match (fused, generic) {
                (false, _) => (
                    categorical_log_prob(l.clone(), actions.clone()),
                    categorical_entropy(l.clone()),
                ),
                (true, false) => {
                    categorical(l.clone(), actions.clone()).unwrap_or_else(|_| panic!("fused"))
                }
                (true, true) => {
                    let (lp, h) = generic_nodes::<Inner>(
                        primitive(l.clone()),
                        actions.clone().inner().into_primitive(),
                    );
                    (tensor(lp), tensor(h))
                }
            };
            let loss = (lp.clone() * wl.clone()).sum() + (h.clone() * we.clone()).sum();
            let g = l.grad(&loss.backward()).expect("logits require grad");
            vec![
                crate::read_f32(lp.inner()),
                crate::read_f32(h.inner()),
                crate::read_f32(g),
            ]
        };
        agree(|fused| run(fused, false), 2e-6);
        agree(|fused| run(fused, true), 2e-6);
        // The inference backend gives the same values.
        let want = run(false, false);
        let (lp, h) = categorical(logits.clone().inner(), actions.clone().inner())
            .unwrap_or_else(|_| panic!("fused"));
        close(&crate::read_f32(lp), &want[0], 2e-6);
        close(&crate::read_f32(h), &want[1], 2e-6);
        // On ndarray, which reads the actions, one out of range is handed back for the
        // composed form to report.
        #[cfg(feature = "ndarray")]
        {
            let bad = Tensor::<Ad, 1, Int>::from_ints([0, 1, 2, 3, 1, 0, 0, 2, 1], &dev);
            assert!(categorical(logits, bad).is_err());
        }
    }
}
