//! The environments, and a registry that makes them by name.

pub(crate) mod acrobot;
mod bandit;
mod cartpole;
mod mountain_car;
mod mountain_car_continuous;
mod pendulum;

use std::fmt;
use std::str::FromStr;

pub use acrobot::Acrobot;
pub use bandit::{Bandit, DEFAULT_PROBS as BANDIT_DEFAULT_PROBS};
pub use cartpole::CartPole;
pub use mountain_car::MountainCar;
pub use mountain_car_continuous::MountainCarContinuous;
pub use pendulum::Pendulum;

use crate::env::{Action, Env, EnvSpec, Step};
use crate::error::{Error, ErrorKind, Result};
use crate::render::Frame;

/// The environments this crate provides, by Gymnasium id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnvId {
    /// [`Bandit`] with the lesson's arms `[0.2, 0.8, 0.5]`.
    Bandit,
    /// [`CartPole`].
    CartPole,
    /// [`Acrobot`].
    Acrobot,
    /// [`MountainCar`].
    MountainCar,
    /// [`MountainCarContinuous`].
    MountainCarContinuous,
    /// [`Pendulum`].
    Pendulum,
}

impl EnvId {
    /// Every environment, in the order `rl envs` lists them.
    pub const ALL: [EnvId; 6] = [
        EnvId::Bandit,
        EnvId::CartPole,
        EnvId::Acrobot,
        EnvId::MountainCar,
        EnvId::MountainCarContinuous,
        EnvId::Pendulum,
    ];

    /// Gymnasium's id.
    pub fn name(self) -> &'static str {
        match self {
            EnvId::Bandit => "Bandit-v0",
            EnvId::CartPole => "CartPole-v1",
            EnvId::Acrobot => "Acrobot-v1",
            EnvId::MountainCar => "MountainCar-v0",
            EnvId::MountainCarContinuous => "MountainCarContinuous-v0",
            EnvId::Pendulum => "Pendulum-v1",
        }
    }

    /// Gymnasium's `reward_threshold`, the average return over 100 episodes at which the
    /// task counts as solved; Pendulum-v1 registers none, and the bandit is ours.
    pub fn reward_threshold(self) -> Option<f64> {
        match self {
            EnvId::CartPole => Some(475.0),
            EnvId::Acrobot => Some(-100.0),
            EnvId::MountainCar => Some(-110.0),
            EnvId::MountainCarContinuous => Some(90.0),
            EnvId::Pendulum | EnvId::Bandit => None,
        }
    }

    /// A fresh, unseeded instance.
    pub fn make(self) -> AnyEnv {
        match self {
            EnvId::Bandit => AnyEnv::Bandit(Bandit::default()),
            EnvId::CartPole => AnyEnv::CartPole(CartPole::new()),
            EnvId::Acrobot => AnyEnv::Acrobot(Acrobot::new()),
            EnvId::MountainCar => AnyEnv::MountainCar(MountainCar::new()),
            EnvId::MountainCarContinuous => {
                AnyEnv::MountainCarContinuous(MountainCarContinuous::new())
            }
            EnvId::Pendulum => AnyEnv::Pendulum(Pendulum::new()),
        }
    }
}

impl fmt::Display for EnvId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EnvId {
    type Err = Error;

    /// Gymnasium's id, case-insensitively (`cartpole-v1` works); `bandit` also names the
    /// bandit.
    fn from_str(s: &str) -> Result<Self> {
        let wanted = s.trim().to_ascii_lowercase();
        EnvId::ALL
            .into_iter()
            .find(|id| {
                id.name().to_ascii_lowercase() == wanted
                    || (wanted == "bandit" && *id == EnvId::Bandit)
            })
            .ok_or_else(|| {
                let valid: Vec<_> = EnvId::ALL.iter().map(|id| id.name()).collect();
                Error::new(ErrorKind::Unknown(format!(
                    "unknown environment {s:?}: valid ones are {}",
                    valid.join(", ")
                )))
            })
    }
}

/// Any of the environments, dispatched by a `match` (cheaper than a trait object and
/// `Clone`). Learners that pick the environment at run time step a `VecEnv<AnyEnv>`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[allow(missing_docs)]
pub enum AnyEnv {
    Bandit(Bandit),
    CartPole(CartPole),
    Acrobot(Acrobot),
    MountainCar(MountainCar),
    MountainCarContinuous(MountainCarContinuous),
    Pendulum(Pendulum),
}

macro_rules! dispatch {
    ($self:expr, $e:ident => $body:expr) => {
        match $self {
            AnyEnv::Bandit($e) => $body,
            AnyEnv::CartPole($e) => $body,
            AnyEnv::Acrobot($e) => $body,
            AnyEnv::MountainCar($e) => $body,
            AnyEnv::MountainCarContinuous($e) => $body,
            AnyEnv::Pendulum($e) => $body,
        }
    };
}

impl Env for AnyEnv {
    fn spec(&self) -> EnvSpec {
        dispatch!(self, e => e.spec())
    }

    fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        dispatch!(self, e => e.reset(seed))
    }

    #[inline]
    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        dispatch!(self, e => e.step(action))
    }

    fn state(&self) -> Vec<f64> {
        dispatch!(self, e => e.state())
    }

    fn set_state(&mut self, state: &[f64]) -> Result<&[f32]> {
        dispatch!(self, e => e.set_state(state))
    }

    fn render(&self) -> Option<Frame> {
        dispatch!(self, e => e.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_unknown_names_list_the_valid_ones() {
        for id in EnvId::ALL {
            assert_eq!(id.name().parse::<EnvId>().unwrap(), id);
            assert_eq!(id.make().spec().id, id.name());
        }
        assert_eq!("cartpole-v1".parse::<EnvId>().unwrap(), EnvId::CartPole);
        let e = "CartPole-v0".parse::<EnvId>().unwrap_err();
        assert!(e.to_string().contains("CartPole-v0") && e.to_string().contains("Pendulum-v1"));
    }

    #[test]
    fn time_limits_are_gymnasiums() {
        let limits: Vec<_> = EnvId::ALL
            .iter()
            .map(|id| id.make().spec().max_episode_steps)
            .collect();
        assert_eq!(
            limits,
            [None, Some(500), Some(500), Some(200), Some(999), Some(200)]
        );
    }
}
