//! The optimiser: Adam (the lesson, PPO) or RMSprop (Stable-Baselines3's A2C), with its
//! state saved to bytes and loaded back only after it has been checked against the
//! network.
//!
//! Each is Burn's own optimiser computed as one host pass per parameter where the
//! backend allows it ([`rl_models::host_update`]): Burn composes an Adam step from about
//! a dozen tensor operations per parameter, each allocating, which for the small
//! networks of policy-gradient learners cost more than the gradients themselves. The
//! pass performs Burn's operations in Burn's order (no fused multiply-add), so it gives
//! the same bits, and the state is Burn's own state type, so a saved optimiser is the
//! same record either way. Other backends take Burn's step.

use burn::module::{ModuleVisitor, Param};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::record::{AdaptorRecord, AdaptorRecordV1};
use burn::optim::{
    Adam, AdamConfig, AdamState, AdaptiveMomentumState, CenteredState, GradientsParams,
    LearningRate, Optimizer, RmsProp, RmsPropConfig, RmsPropState, SimpleOptimizer, SquareAvgState,
};
use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use rl_models::ActorCritic;
use serde::{Deserialize, Serialize};

/// Which optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam (beta 0.9, 0.999), PyTorch's formula.
    #[default]
    Adam,
    /// RMSprop as PyTorch's `torch.optim.RMSprop` (no momentum, not centred): the
    /// squared-gradient average starts at zero, `p -= lr g / (sqrt(avg) + eps)`.
    RmsProp,
}

impl OptimizerKind {
    /// Every optimiser, as configurations name them.
    pub const ALL: [OptimizerKind; 2] = [OptimizerKind::Adam, OptimizerKind::RmsProp];

    /// The name in configurations and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Adam => "adam",
            OptimizerKind::RmsProp => "rmsprop",
        }
    }
}

impl std::str::FromStr for OptimizerKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        OptimizerKind::ALL
            .into_iter()
            .find(|o| o.name() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| format!("unknown optimizer {s:?}: valid ones are adam, rmsprop"))
    }
}

/// An optimiser's hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptimizerSettings {
    /// Which one.
    pub kind: OptimizerKind,
    /// Adam's or RMSprop's epsilon.
    pub eps: f64,
    /// RMSprop's smoothing constant (unused by Adam).
    pub alpha: f64,
}

type AdamOf<B> = OptimizerAdaptor<HostAdam, ActorCritic<B>, B>;
type RmsPropOf<B> = OptimizerAdaptor<HostRmsProp, ActorCritic<B>, B>;

/// Adam (beta 0.9, 0.999, no weight decay), as one host pass where the backend allows.
#[derive(Clone)]
pub(crate) struct HostAdam {
    burn: Adam,
    eps: f32,
}

const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;

impl<B: Backend> SimpleOptimizer<B> for HostAdam {
    type State<const D: usize> = AdamState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        if !rl_models::host_updatable::<B>() {
            return self.burn.step(lr, tensor, grad, state);
        }
        let (m, v, time, first) = match state {
            Some(s) => (
                s.momentum.moment_1,
                s.momentum.moment_2,
                s.momentum.time + 1,
                false,
            ),
            None => (tensor.zeros_like(), tensor.zeros_like(), 1, true),
        };
        // Burn's scalars, computed as Burn computes them.
        let t = time as i32;
        let bc2 = (1.0 - BETA_2.powi(t)).sqrt();
        let combined = bc2 / (1.0 - BETA_1.powi(t));
        let eps = self.eps * bc2;
        let lr = lr as f32;
        let (f1, f2) = (1.0 - BETA_1, 1.0 - BETA_2);
        let updated = rl_models::host_update([tensor, grad, m, v], |[p, g, m, v]| {
            rl_models::kernels::wide(
                #[inline(always)]
                || {
                    for (((p, &g), m), v) in p
                        .iter_mut()
                        .zip(g.iter())
                        .zip(m.iter_mut())
                        .zip(v.iter_mut())
                    {
                        // moment_1 = moment_1 * beta_1 + grad * (1 - beta_1), and so on:
                        // `mul_scalar`, `add`, `square`, `sqrt`, `add_scalar`, `div`.
                        if first {
                            *m = g * f1;
                            *v = (g * g) * f2;
                        } else {
                            *m = *m * BETA_1 + g * f1;
                            *v = *v * BETA_2 + (g * g) * f2;
                        }
                        let update = (*m * combined) / (v.sqrt() + eps);
                        *p -= update * lr;
                    }
                },
            )
        });
        let [p, _, m, v] = updated.unwrap_or_else(|_| unreachable!("host_updatable said so"));
        let momentum = AdaptiveMomentumState {
            time,
            moment_1: m,
            moment_2: v,
            max_moment_2: None,
        };
        (p, Some(AdamState { momentum }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        <Adam as SimpleOptimizer<B>>::to_device(state, device)
    }
}

/// RMSprop (no momentum, not centred), as one host pass where the backend allows.
#[derive(Clone)]
pub(crate) struct HostRmsProp {
    burn: RmsProp,
    alpha: f32,
    eps: f32,
}

impl<B: Backend> SimpleOptimizer<B> for HostRmsProp {
    type State<const D: usize> = RmsPropState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        if !rl_models::host_updatable::<B>() {
            return self.burn.step(lr, tensor, grad, state);
        }
        let (avg, first) = match state {
            Some(s) => (s.square_avg.square_avg, false),
            None => (tensor.zeros_like(), true),
        };
        let (alpha, f, eps, lr) = (self.alpha, 1.0 - self.alpha, self.eps, lr as f32);
        let updated = rl_models::host_update([tensor, grad, avg], |[p, g, avg]| {
            rl_models::kernels::wide(
                #[inline(always)]
                || {
                    for ((p, &g), a) in p.iter_mut().zip(g.iter()).zip(avg.iter_mut()) {
                        // Burn's `SquareAvgState` and `RmsPropMomentum` transforms.
                        *a = if first {
                            (g * g) * f
                        } else {
                            *a * alpha + (g * g) * f
                        };
                        *p -= (g / (a.sqrt() + eps)) * lr;
                    }
                },
            )
        });
        let [p, _, avg] = updated.unwrap_or_else(|_| unreachable!("host_updatable said so"));
        let state = RmsPropState {
            square_avg: SquareAvgState {
                square_avg: avg.clone(),
            },
            centered: CenteredState {
                grad_avg: None,
                avg,
            },
            momentum: None,
        };
        (p, Some(state))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        <RmsProp as SimpleOptimizer<B>>::to_device(state, device)
    }
}
type RecordOf<O, B> = <O as Optimizer<ActorCritic<B>, B>>::Record;

/// The optimiser of a learner's network.
pub(crate) enum Optim<B: AutodiffBackend> {
    Adam(AdamOf<B>),
    RmsProp(RmsPropOf<B>),
}

fn recorder() -> NamedMpkBytesRecorder<FullPrecisionSettings> {
    NamedMpkBytesRecorder::new()
}

impl<B: AutodiffBackend> Optim<B> {
    /// A fresh optimiser.
    pub fn new(s: OptimizerSettings) -> Self {
        match s.kind {
            // Burn scales Adam's epsilon by sqrt(1 - beta2^t), which is PyTorch's formula
            // rearranged, so PyTorch's epsilon gives PyTorch's steps.
            OptimizerKind::Adam => Optim::Adam(OptimizerAdaptor::from(HostAdam {
                burn: AdamConfig::new()
                    .with_beta_1(BETA_1)
                    .with_beta_2(BETA_2)
                    .with_epsilon(s.eps as f32)
                    .build(),
                eps: s.eps as f32,
            })),
            // Burn's RMSprop defaults to momentum 0.9; PyTorch's (and SB3's) has none.
            OptimizerKind::RmsProp => Optim::RmsProp(OptimizerAdaptor::from(HostRmsProp {
                burn: RmsPropConfig::new()
                    .with_alpha(s.alpha as f32)
                    .with_epsilon(s.eps as f32)
                    .with_momentum(0.0)
                    .build(),
                alpha: s.alpha as f32,
                eps: s.eps as f32,
            })),
        }
    }

    /// One step of `model` along `grads` with learning rate `lr`.
    pub fn step(
        &mut self,
        lr: f64,
        model: ActorCritic<B>,
        grads: GradientsParams,
    ) -> ActorCritic<B> {
        match self {
            Optim::Adam(o) => o.step(lr, model, grads),
            Optim::RmsProp(o) => o.step(lr, model, grads),
        }
    }

    /// The state as bytes (Burn's named MessagePack record, full precision).
    pub fn to_bytes(&self) -> Result<Vec<u8>, String> {
        let bytes = match self {
            Optim::Adam(o) => Recorder::<B>::record(&recorder(), o.to_record(), ()),
            Optim::RmsProp(o) => Recorder::<B>::record(&recorder(), o.to_record(), ()),
        };
        bytes.map_err(|e| format!("cannot record the optimiser: {e}"))
    }

    /// An optimiser of kind `s` continuing from `bytes`, once every saved state has been
    /// found to belong to a parameter of `model` and to have its shape (Burn would panic
    /// at the next step otherwise).
    pub fn from_bytes(
        s: OptimizerSettings,
        bytes: Vec<u8>,
        model: &ActorCritic<B>,
        device: &B::Device,
    ) -> Result<Self, String> {
        let load_err = |e| format!("the saved optimiser does not load: {e}");
        Ok(match Self::new(s) {
            Optim::Adam(o) => {
                let record: RecordOf<AdamOf<B>, B> =
                    Recorder::<B>::load(&recorder(), bytes, device).map_err(load_err)?;
                check_states::<B, HostAdam>(&record, model)?;
                Optim::Adam(o.load_record(record))
            }
            Optim::RmsProp(o) => {
                let record: RecordOf<RmsPropOf<B>, B> =
                    Recorder::<B>::load(&recorder(), bytes, device).map_err(load_err)?;
                check_states::<B, HostRmsProp>(&record, model)?;
                Optim::RmsProp(o.load_record(record))
            }
        })
    }
}

/// The shapes of the tensors an optimiser keeps per parameter.
trait StateShapes<B: Backend>: SimpleOptimizer<B> {
    /// The shape of every tensor in `state`, or why it cannot be used.
    fn shapes<const D: usize>(state: &Self::State<D>) -> Result<Vec<Vec<usize>>, String>;
}

impl<B: Backend> StateShapes<B> for HostAdam {
    fn shapes<const D: usize>(s: &AdamState<B, D>) -> Result<Vec<Vec<usize>>, String> {
        let m = &s.momentum;
        // Adam raises its betas to the step count as an i32.
        if m.time > i32::MAX as usize - 1 {
            return Err(format!(
                "the saved Adam state's step count {} is out of range",
                m.time
            ));
        }
        let mut out = vec![m.moment_1.dims().to_vec(), m.moment_2.dims().to_vec()];
        out.extend(m.max_moment_2.as_ref().map(|t| t.dims().to_vec()));
        Ok(out)
    }
}

impl<B: Backend> StateShapes<B> for HostRmsProp {
    fn shapes<const D: usize>(s: &RmsPropState<B, D>) -> Result<Vec<Vec<usize>>, String> {
        if s.momentum.is_some() {
            return Err(
                "the saved RMSprop state has a momentum buffer; this learner uses none".into(),
            );
        }
        let mut out = vec![
            s.square_avg.square_avg.dims().to_vec(),
            s.centered.avg.dims().to_vec(),
        ];
        out.extend(s.centered.grad_avg.as_ref().map(|t| t.dims().to_vec()));
        Ok(out)
    }
}

/// Checks that every saved state belongs to a parameter of `model` and has its rank and
/// shape.
fn check_states<B, O>(
    records: &RecordOf<OptimizerAdaptor<O, ActorCritic<B>, B>, B>,
    model: &ActorCritic<B>,
) -> Result<(), String>
where
    B: AutodiffBackend,
    O: StateShapes<B::InnerBackend>,
{
    struct Check<'a, B: AutodiffBackend, O: SimpleOptimizer<B::InnerBackend> + 'a> {
        records: &'a RecordOf<OptimizerAdaptor<O, ActorCritic<B>, B>, B>,
        matched: usize,
        problem: Option<String>,
    }
    impl<B: AutodiffBackend, O: StateShapes<B::InnerBackend>> ModuleVisitor<B> for Check<'_, B, O> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<B, D>>) {
            // A parameter without a state has not been stepped yet: the optimiser
            // creates it then.
            let Some(AdaptorRecord::V1(r)) = self.records.get(&p.id) else {
                return;
            };
            self.matched += 1;
            let dims = p.val().dims().to_vec();
            let shapes = match r {
                AdaptorRecordV1::Rank1(s) if D == 1 => O::shapes(s),
                AdaptorRecordV1::Rank2(s) if D == 2 => O::shapes(s),
                _ => Err(format!(
                    "the saved optimiser state for a parameter of shape {dims:?} has another rank"
                )),
            };
            let problem = match shapes {
                Ok(s) if s.iter().all(|s| *s == dims) => None,
                Ok(_) => Some(format!(
                    "the saved optimiser state for a parameter of shape {dims:?} does not fit it"
                )),
                Err(e) => Some(e),
            };
            if self.problem.is_none() {
                self.problem = problem;
            }
        }
    }
    let mut check = Check::<B, O> {
        records,
        matched: 0,
        problem: None,
    };
    model.visit(&mut check);
    if let Some(p) = check.problem {
        return Err(p);
    }
    if check.matched != records.len() {
        return Err(format!(
            "the saved optimiser holds {} states, {} of which belong to the network",
            records.len(),
            check.matched
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rl_models::backend::{TrainBackend as B, device};
    use rl_models::{ActionHead, ActorCriticConfig};

    /// The gradients of a loss that differs at every step, for `model`.
    fn grads(model: &ActorCritic<B>, step: usize) -> GradientsParams {
        let dev = device();
        let obs = Tensor::<B, 2>::from_floats(
            [
                [0.5, -1.0, 2.0],
                [1.0, 0.0, -0.5],
                [step as f32, 0.25, -3.0],
            ],
            &dev,
        );
        let (logits, value) = model.forward(obs);
        let loss =
            logits.powi_scalar(2).sum() * (step as f32 + 0.5) + value.expect("a value head").sum();
        GradientsParams::from_grads(loss.backward(), model)
    }

    fn bits(m: &ActorCritic<B>) -> Vec<Vec<u32>> {
        m.to_torch()
            .into_values()
            .map(|t| t.data.iter().map(|x| x.to_bits()).collect())
            .collect()
    }

    /// The host pass gives Burn's own optimisers' bits, step after step.
    #[test]
    fn the_host_steps_are_burns_steps_bit_for_bit() {
        let model = ActorCriticConfig::new(3, ActionHead::Categorical { n_actions: 2 })
            .with_hidden(vec![8, 8])
            .init_seeded::<B>(&mut rl_core::rng::seeded(2), &device());
        for kind in OptimizerKind::ALL {
            let s = OptimizerSettings {
                kind,
                eps: 1e-5,
                alpha: 0.99,
            };
            let mut host = Optim::<B>::new(s);
            let mut burn: Box<dyn FnMut(f64, ActorCritic<B>, GradientsParams) -> ActorCritic<B>> =
                match kind {
                    OptimizerKind::Adam => {
                        let mut o = AdamConfig::new().with_epsilon(1e-5).init();
                        Box::new(move |lr, m, g| o.step(lr, m, g))
                    }
                    OptimizerKind::RmsProp => {
                        let mut o = RmsPropConfig::new()
                            .with_alpha(0.99)
                            .with_epsilon(1e-5)
                            .with_momentum(0.0)
                            .init();
                        Box::new(move |lr, m, g| o.step(lr, m, g))
                    }
                };
            let (mut a, mut b) = (model.clone(), model.clone());
            for step in 0..4 {
                let lr = 3e-3 / (step as f64 + 1.0);
                a = host.step(lr, a.clone(), grads(&a, step));
                b = burn(lr, b.clone(), grads(&b, step));
                assert_eq!(bits(&a), bits(&b), "{kind:?}, step {step}");
            }
            assert_ne!(bits(&a), bits(&model), "{kind:?} moved the weights");
        }
    }
}
