//! The optimiser: Adam (the lesson, PPO) or RMSprop (Stable-Baselines3's A2C), with its
//! state saved to bytes and loaded back only after it has been checked against the
//! network.

use burn::module::{ModuleVisitor, Param};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::record::{AdaptorRecord, AdaptorRecordV1};
use burn::optim::{
    Adam, AdamConfig, AdamState, GradientsParams, Optimizer, RmsProp, RmsPropConfig, RmsPropState,
    SimpleOptimizer,
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

type AdamOf<B> = OptimizerAdaptor<Adam, ActorCritic<B>, B>;
type RmsPropOf<B> = OptimizerAdaptor<RmsProp, ActorCritic<B>, B>;
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
            OptimizerKind::Adam => Optim::Adam(AdamConfig::new().with_epsilon(s.eps as f32).init()),
            // Burn's RMSprop defaults to momentum 0.9; PyTorch's (and SB3's) has none.
            OptimizerKind::RmsProp => Optim::RmsProp(
                RmsPropConfig::new()
                    .with_alpha(s.alpha as f32)
                    .with_epsilon(s.eps as f32)
                    .with_momentum(0.0)
                    .init(),
            ),
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
                check_states::<B, Adam>(&record, model)?;
                Optim::Adam(o.load_record(record))
            }
            Optim::RmsProp(o) => {
                let record: RecordOf<RmsPropOf<B>, B> =
                    Recorder::<B>::load(&recorder(), bytes, device).map_err(load_err)?;
                check_states::<B, RmsProp>(&record, model)?;
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

impl<B: Backend> StateShapes<B> for Adam {
    fn shapes<const D: usize>(s: &AdamState<B, D>) -> Result<Vec<Vec<usize>>, String> {
        let m = &s.momentum;
        let mut out = vec![m.moment_1.dims().to_vec(), m.moment_2.dims().to_vec()];
        out.extend(m.max_moment_2.as_ref().map(|t| t.dims().to_vec()));
        Ok(out)
    }
}

impl<B: Backend> StateShapes<B> for RmsProp {
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
