//! An environment checker: does an environment keep the contract the learners rely on?
//! Modelled on Stable-Baselines3's `check_env` and Gymnasium's `env_checker`.
//!
//! [`check_env`] makes environments with the given closure (each a [`VectorEnv`] of one
//! environment, so that any source checks the same way) and plays random actions (allowed
//! ones, where the environment gives masks) through several episodes, checking:
//!
//! - `spaces`: the observation and action spaces are well formed, and the learners can act
//!   in the action space;
//! - `reset` and `step`: the calls succeed and return what the contract says: an
//!   observation of the space's length, finite and inside the space, a finite reward
//!   (errors here are the [`Misbehaved`](crate::ErrorKind::Misbehaved) errors training
//!   would stop with);
//! - `determinism`: the same seed gives the same trajectory under the same actions;
//! - `reset(None)`: a reset without a seed continues the generator's stream
//!   (deterministically), and does not restart the last seed's;
//! - `time limit`: `truncated` is set when, and only when, the spec's time limit is
//!   reached (or never, without one);
//! - `masks`: every mask has the action space's width and allows at least one action per
//!   component;
//! - `render`: an environment that draws gives frames of one size.
//!
//! Each [`Finding`] names its check, the step (counted over the check's whole run) and a
//! hint. `rl check-env ENV` prints them and exits with code 2 on an error.

use std::fmt;

use crate::error::{ErrorKind, Result};
use crate::rng::{self, Rng, RngExt};
use crate::space::Space;
use crate::vector::{Actions, VectorEnv};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Allowed, but likely a mistake.
    Warning,
    /// The contract is broken: training would stop, or learn from wrong data.
    Error,
}

/// One thing the checker found.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The check (`spaces`, `reset`, `step`, `determinism`, `reset(None)`, `time limit`,
    /// `masks`, `render`).
    pub check: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// The step of the check's run at which it was found (`None`: before any step).
    pub step: Option<u64>,
    /// What was found.
    pub message: String,
    /// What to do about it.
    pub hint: &'static str,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{level} [{}]", self.check)?;
        if let Some(t) = self.step {
            write!(f, " at step {t}")?;
        }
        write!(f, ": {}\n  hint: {}", self.message, self.hint)
    }
}

/// What [`check_env`] did and found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CheckReport {
    /// Everything found, in the order found.
    pub findings: Vec<Finding>,
    /// Steps played.
    pub steps: u64,
    /// Episodes finished.
    pub episodes: u64,
}

impl CheckReport {
    /// Whether any finding is an error.
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// Makes one more environment to check.
pub type MakeEnv<'a> = dyn FnMut() -> Result<Box<dyn VectorEnv>> + 'a;

/// Checks the environments `make` makes (each of one environment) over `steps` random
/// steps from `seed`. See the [module documentation](self) for what is checked.
pub fn check_env(make: &mut MakeEnv<'_>, steps: u64, seed: u64) -> CheckReport {
    let mut c = Checker {
        report: CheckReport::default(),
        t: 0,
    };
    c.run(make, steps.max(1), seed);
    c.report.steps = c.t;
    c.report
}

/// [`check_env`] for an [`Env`](crate::Env) of yours, made by `make`.
///
/// ```
/// use rl_core::{CartPole, check_env_of};
///
/// let report = check_env_of(CartPole::new, 2_000, 0);
/// assert!(report.findings.is_empty(), "{:?}", report.findings);
/// assert!(report.episodes > 10);
/// ```
pub fn check_env_of<E, F>(mut make: F, steps: u64, seed: u64) -> CheckReport
where
    E: crate::Env + Send + 'static,
    F: FnMut() -> E,
{
    check_env(
        &mut || Ok(Box::new(crate::VecEnv::new(vec![make()])?) as Box<dyn VectorEnv>),
        steps,
        seed,
    )
}

struct Checker {
    report: CheckReport,
    /// Steps played so far.
    t: u64,
}

/// A trajectory, bit for bit: observations, rewards and end flags.
#[derive(Debug, PartialEq)]
struct Trace(Vec<u32>);

impl Checker {
    fn found(
        &mut self,
        check: &'static str,
        severity: Severity,
        message: String,
        hint: &'static str,
    ) {
        let step = (self.t > 0).then_some(self.t);
        self.report.findings.push(Finding {
            check,
            severity,
            step,
            message,
            hint,
        });
    }

    fn error(&mut self, check: &'static str, message: String, hint: &'static str) {
        self.found(check, Severity::Error, message, hint);
    }

    fn warn(&mut self, check: &'static str, message: String, hint: &'static str) {
        self.found(check, Severity::Warning, message, hint);
    }

    fn run(&mut self, make: &mut MakeEnv<'_>, steps: u64, seed: u64) {
        let mut env = match make() {
            Ok(env) => env,
            Err(e) => {
                return self.error(
                    "spaces",
                    format!("the environment could not be made: {e}"),
                    "check the environment's constructor",
                );
            }
        };
        if env.num_envs() != 1 {
            return self.error(
                "spaces",
                format!(
                    "the checker was given {} environments, not one",
                    env.num_envs()
                ),
                "make one environment per call",
            );
        }
        let spec = env.spec().clone();
        if let Some(p) = spec.observation_space.observation_space_problem() {
            self.error(
                "spaces",
                p,
                "give the observation space bounds and a shape that agree",
            );
        }
        if let Some(p) = spec.action_space.action_space_problem() {
            self.error(
                "spaces",
                p,
                "the learners act in Discrete, MultiDiscrete, MultiBinary and bounded Box spaces",
            );
        }
        if self.report.failed() {
            return;
        }

        // The run: random allowed actions, every observation checked.
        let mut r = rng::seeded(rng::stream(seed, 1));
        if let Err(e) = env.reset(Some(seed)) {
            return self.broken("reset", e);
        }
        self.observation(&*env, "reset");
        let mut frame_size = None;
        let mut elapsed = 0usize;
        let mut trace = Trace(Vec::new());
        while self.t < steps {
            self.mask(&*env);
            // Frames cost milliseconds: the first steps are enough to compare sizes.
            if self.t < 50 {
                self.frame(&*env, &mut frame_size);
            }
            let action = random_action(&spec.action_space, env.action_masks(), &mut r);
            self.t += 1;
            if let Err(e) = step(&mut *env, &action) {
                return self.broken("step", e);
            }
            record(&*env, &mut trace);
            elapsed += 1;
            let (term, trunc) = (env.terminated()[0], env.truncated()[0]);
            self.time_limit(spec.max_episode_steps, elapsed, term, trunc);
            if self.report.failed() {
                return;
            }
            if term || trunc {
                self.report.episodes += 1;
                elapsed = 0;
            }
            self.final_observation(&*env);
            self.observation(&*env, "step");
            if self.report.failed() {
                return;
            }
        }

        // Determinism: the same seed and actions, again, in a new environment.
        self.determinism(make, &spec.action_space, steps.min(500), seed);
        // reset(None) continues the stream.
        self.reset_none(make, seed);
    }

    fn broken(&mut self, call: &'static str, e: crate::Error) {
        let hint = match e.kind() {
            ErrorKind::Misbehaved { .. } => {
                "training stops on this too: fix the environment's code"
            }
            ErrorKind::EpisodeOver | ErrorKind::NotReset => {
                "an environment steps only a running episode: keep Gymnasium's reset/step order"
            }
            _ => "a valid action must step the environment",
        };
        self.error(call, e.to_string(), hint);
    }

    fn observation(&mut self, env: &dyn VectorEnv, after: &str) {
        let space = &env.spec().observation_space;
        let obs = env.observations();
        if !space.contains(obs) {
            self.error(
                if after == "reset" { "reset" } else { "step" },
                format!(
                    "the observation after {after} is not inside the observation space {space}: {obs:?}"
                ),
                "widen the space's bounds, or return observations inside them (flattened: one-hot for discrete parts)",
            );
        }
    }

    fn final_observation(&mut self, env: &dyn VectorEnv) {
        let space = &env.spec().observation_space;
        let obs = env.final_observations();
        if !space.contains(obs) {
            self.error(
                "step",
                format!("the observation a step returned is not inside the observation space {space}: {obs:?}"),
                "widen the space's bounds, or return observations inside them (flattened: one-hot for discrete parts)",
            );
        }
    }

    fn mask(&mut self, env: &dyn VectorEnv) {
        // The vector has checked each mask's width and that it allows some action; a
        // mask for a space without masks is the one thing left.
        if env.action_masks().is_some() && env.spec().action_space.mask_width() == 0 {
            let space = env.spec().action_space.clone();
            self.error(
                "masks",
                format!("the environment gives action masks for {space}, which takes none"),
                "masks apply to Discrete and MultiDiscrete action spaces; return None",
            );
        }
    }

    fn frame(&mut self, env: &dyn VectorEnv, size: &mut Option<(u32, u32)>) {
        let Some(f) = env.render(0, None) else {
            return;
        };
        let now = (f.width(), f.height());
        match *size {
            None => *size = Some(now),
            Some(first) if first != now => {
                self.warn(
                    "render",
                    format!("frames of {}x{} and {}x{}", first.0, first.1, now.0, now.1),
                    "draw every frame at one size: an animation needs it",
                );
                *size = Some(now);
            }
            _ => {}
        }
    }

    fn time_limit(&mut self, limit: Option<usize>, elapsed: usize, term: bool, trunc: bool) {
        match limit {
            Some(l) if elapsed >= l && !trunc => self.error(
                "time limit",
                format!("step {elapsed} of an episode reached the time limit {l} without truncated"),
                "set truncated on the step that reaches max_episode_steps (both flags may be set)",
            ),
            Some(l) if trunc && elapsed < l => self.warn(
                "time limit",
                format!("truncated after {elapsed} steps, before the time limit {l}"),
                "truncated means the episode was cut; if it ended by itself, set terminated",
            ),
            None if trunc && !term => self.warn(
                "time limit",
                format!("truncated after {elapsed} steps, and the spec has no time limit"),
                "declare the limit with EnvSpec::with_time_limit, or set terminated if the episode ended by itself",
            ),
            _ => {}
        }
    }

    /// Plays `steps` random steps from `seed` in a new environment; `None` (and a finding)
    /// if it cannot be made or stepped.
    fn play(
        &mut self,
        make: &mut MakeEnv<'_>,
        space: &Space,
        steps: u64,
        seed: u64,
    ) -> Option<Trace> {
        let mut env = make().ok()?;
        let mut r = rng::seeded(rng::stream(seed, 1));
        env.reset(Some(seed)).ok()?;
        let mut trace = Trace(Vec::new());
        record_observations(env.observations(), &mut trace);
        for _ in 0..steps {
            let action = random_action(space, env.action_masks(), &mut r);
            step(&mut *env, &action).ok()?;
            record(&*env, &mut trace);
        }
        Some(trace)
    }

    fn determinism(&mut self, make: &mut MakeEnv<'_>, space: &Space, steps: u64, seed: u64) {
        let (Some(a), Some(b)) = (
            self.play(make, space, steps, seed),
            self.play(make, space, steps, seed),
        ) else {
            return self.error(
                "determinism",
                "a second environment could not be made or stepped".into(),
                "make every environment the same way",
            );
        };
        if let Some(k) = a.0.iter().zip(&b.0).position(|(x, y)| x != y) {
            self.error(
                "determinism",
                format!("two environments reset with seed {seed} and given the same actions differ (at value {k} of their trajectories)"),
                "draw every random number from a generator seeded in reset(Some(seed)), never from the OS or a global one",
            );
        }
    }

    fn reset_none(&mut self, make: &mut MakeEnv<'_>, seed: u64) {
        let first = |env: &mut Box<dyn VectorEnv>, s: Option<u64>| -> Option<Vec<f32>> {
            env.reset(s).ok()?;
            Some(env.observations().to_vec())
        };
        let (Ok(mut a), Ok(mut b)) = (make(), make()) else {
            return;
        };
        let (Some(seeded_a), Some(_)) = (first(&mut a, Some(seed)), first(&mut b, Some(seed)))
        else {
            return;
        };
        let (Some(next_a), Some(next_b)) = (first(&mut a, None), first(&mut b, None)) else {
            return self.error(
                "reset(None)",
                "reset(None) failed after a seeded reset".into(),
                "reset(None) continues the generator seeded by the last reset(Some(seed))",
            );
        };
        if bits(&next_a) != bits(&next_b) {
            self.error(
                "reset(None)",
                "two environments reset with the same seed, then with None, start different episodes".into(),
                "reset(None) continues the generator seeded by the last reset(Some(seed)); it must not reseed",
            );
        }
        // Does the start depend on the seed at all? Then reset(None) should not repeat it.
        let Ok(mut c) = make() else { return };
        let Some(other) = first(&mut c, Some(seed.wrapping_add(1_000_003))) else {
            return;
        };
        if bits(&other) != bits(&seeded_a) && bits(&next_a) == bits(&seeded_a) {
            self.warn(
                "reset(None)",
                format!("reset(None) after reset(Some({seed})) starts the same episode again"),
                "reset(None) continues the generator's stream: reseed only when given a seed",
            );
        }
    }
}

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

fn record_observations(obs: &[f32], trace: &mut Trace) {
    trace.0.extend(obs.iter().map(|v| v.to_bits()));
}

fn record(env: &dyn VectorEnv, trace: &mut Trace) {
    record_observations(env.final_observations(), trace);
    trace.0.push(env.rewards()[0].to_bits());
    trace
        .0
        .push(u32::from(env.terminated()[0]) | (u32::from(env.truncated()[0]) << 1));
}

/// An action of `space` for one environment.
enum OneAction {
    Discrete(Vec<usize>),
    Continuous(Vec<f32>),
}

fn step(env: &mut dyn VectorEnv, action: &OneAction) -> Result<()> {
    match action {
        OneAction::Discrete(a) => env.step(Actions::Discrete(a)),
        OneAction::Continuous(a) => env.step(Actions::Continuous(a)),
    }
}

/// A random action of `space`, never one `mask` forbids.
fn random_action(space: &Space, mask: Option<&[bool]>, r: &mut Rng) -> OneAction {
    let pick = |n: usize, allowed: Option<&[bool]>, r: &mut Rng| -> usize {
        match allowed {
            Some(m) if m.contains(&true) => {
                let ok: Vec<usize> = (0..n).filter(|&i| m[i]).collect();
                ok[r.random_range(0..ok.len())]
            }
            _ => r.random_range(0..n),
        }
    };
    match space {
        Space::Discrete { n } => OneAction::Discrete(vec![pick(*n, mask, r)]),
        Space::MultiDiscrete { nvec } => {
            let mut at = 0;
            let a = nvec
                .iter()
                .map(|&n| {
                    let m = mask.map(|m| &m[at..at + n]);
                    at += n;
                    pick(n, m, r)
                })
                .collect();
            OneAction::Discrete(a)
        }
        Space::MultiBinary { n } => {
            OneAction::Discrete((0..*n).map(|_| r.random_range(0..2)).collect())
        }
        Space::Box { low, high, .. } => OneAction::Continuous(
            low.iter()
                .zip(high)
                .map(|(&l, &h)| l + (h - l) * r.random::<f32>())
                .collect(),
        ),
        Space::Tuple(_) | Space::Dict(_) => unreachable!("refused as action spaces above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{Action, Env, EnvSpec, Step};
    use crate::envs::Builtin;

    #[test]
    fn the_built_in_environments_pass() {
        for b in Builtin::ALL {
            let report = check_env(&mut || b.vector(1), 3_000, 7);
            assert!(report.findings.is_empty(), "{b}: {:#?}", report.findings);
            assert_eq!(report.steps, 3_000);
        }
    }

    /// A two-state environment broken as told.
    #[derive(Debug, Clone)]
    struct Broken {
        fault: &'static str,
        rng: Rng,
        last_seed: u64,
        t: usize,
        obs: Vec<f32>,
        mask: Vec<bool>,
    }

    impl Broken {
        fn new(fault: &'static str) -> Self {
            Self {
                fault,
                rng: rng::from_entropy(),
                last_seed: 0,
                t: 0,
                obs: vec![0.0],
                mask: vec![true, true],
            }
        }
    }

    impl Env for Broken {
        fn spec(&self) -> EnvSpec {
            let spec = EnvSpec::new(
                "Broken-v0",
                Space::boxed(vec![-1.0], vec![1.0]),
                Space::Discrete { n: 2 },
            );
            match self.fault {
                "no limit" => spec,
                "bad space" => EnvSpec::new(
                    "Broken-v0",
                    Space::boxed(vec![1.0], vec![-1.0]),
                    Space::Discrete { n: 2 },
                ),
                _ => spec.with_time_limit(10),
            }
        }
        fn reset(&mut self, seed: Option<u64>) -> &[f32] {
            match (self.fault, seed) {
                // Ignores the seed.
                ("os generator", _) => self.rng = rng::from_entropy(),
                // Restarts the last seed's stream instead of continuing it.
                ("reseeds", None) => self.rng = rng::seeded(self.last_seed),
                (_, Some(s)) => {
                    self.rng = rng::seeded(s);
                    self.last_seed = s;
                }
                _ => {}
            }
            self.t = 0;
            self.obs = vec![self.rng.random_range(-0.5..0.5)];
            &self.obs
        }
        fn step(&mut self, _action: Action<'_>) -> crate::Result<Step<'_>> {
            self.t += 1;
            self.obs = vec![match self.fault {
                "outside" if self.t == 4 => 3.0,
                _ => self.rng.random_range(-0.5..0.5),
            }];
            if self.fault == "empty mask" && self.t == 5 {
                self.mask = vec![false, false];
            }
            let (terminated, truncated) = match self.fault {
                "ignores limit" => (false, false),
                "early truncation" => (false, self.t == 3),
                "no limit" => (false, self.t == 6),
                _ => (false, self.t == 10),
            };
            Ok(Step {
                observation: &self.obs,
                reward: 1.0,
                terminated,
                truncated,
            })
        }
        fn action_mask(&self) -> Option<&[bool]> {
            (self.fault == "empty mask").then_some(&self.mask[..])
        }
    }

    #[test]
    fn each_broken_contract_is_named_with_its_check_and_step() {
        let cases = [
            ("bad space", "spaces", Severity::Error, None),
            ("outside", "step", Severity::Error, Some(4)),
            ("ignores limit", "time limit", Severity::Error, Some(10)),
            ("early truncation", "time limit", Severity::Warning, Some(3)),
            ("no limit", "time limit", Severity::Warning, Some(6)),
            ("empty mask", "step", Severity::Error, Some(5)),
            ("os generator", "determinism", Severity::Error, Some(600)),
            ("reseeds", "reset(None)", Severity::Warning, Some(600)),
        ];
        for (fault, check, severity, step) in cases {
            let report = check_env_of(|| Broken::new(fault), 600, 1);
            let found = report
                .findings
                .iter()
                .find(|f| f.check == check)
                .unwrap_or_else(|| panic!("{fault}: nothing from {check}: {:#?}", report.findings));
            assert_eq!(
                (found.severity, found.step),
                (severity, step),
                "{fault}: {found}"
            );
            assert!(!found.hint.is_empty());
            assert_eq!(report.failed(), severity == Severity::Error, "{fault}");
        }
        // The well-behaved version passes.
        let report = check_env_of(|| Broken::new("none"), 600, 1);
        assert!(report.findings.is_empty(), "{:#?}", report.findings);
    }
}
