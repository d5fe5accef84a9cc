//! The environments, and the list of them by Gymnasium id.

pub(crate) mod acrobot;
mod bandit;
mod cartpole;
mod mountain_car;
mod mountain_car_continuous;
mod pendulum;

use std::fmt;

pub use acrobot::Acrobot;
pub use bandit::{Bandit, DEFAULT_PROBS as BANDIT_DEFAULT_PROBS};
pub use cartpole::CartPole;
pub use mountain_car::MountainCar;
pub use mountain_car_continuous::MountainCarContinuous;
pub use pendulum::Pendulum;

use crate::env::{Env, InternalState};
use crate::error::Result;
use crate::vec_env::VecEnv;
use crate::vector::VectorEnv;

/// The environments this crate provides, by Gymnasium id. rl-train's registry names them
/// to the learners and `rl`; everything else reaches an environment through
/// [`VectorEnv`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
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

impl Builtin {
    /// Every environment, in the order `rl envs` lists them.
    pub const ALL: [Builtin; 6] = [
        Builtin::Bandit,
        Builtin::CartPole,
        Builtin::Acrobot,
        Builtin::MountainCar,
        Builtin::MountainCarContinuous,
        Builtin::Pendulum,
    ];

    /// Gymnasium's id.
    pub fn id(self) -> &'static str {
        match self {
            Builtin::Bandit => "Bandit-v0",
            Builtin::CartPole => "CartPole-v1",
            Builtin::Acrobot => "Acrobot-v1",
            Builtin::MountainCar => "MountainCar-v0",
            Builtin::MountainCarContinuous => "MountainCarContinuous-v0",
            Builtin::Pendulum => "Pendulum-v1",
        }
    }

    /// The environment with this id, case-insensitively (`cartpole-v1` works; `bandit`
    /// also names the bandit).
    pub fn from_id(id: &str) -> Option<Self> {
        let wanted = id.trim().to_ascii_lowercase();
        Builtin::ALL.into_iter().find(|b| {
            b.id().to_ascii_lowercase() == wanted || (wanted == "bandit" && *b == Builtin::Bandit)
        })
    }

    /// A fresh, unseeded instance, with its internal state exposed.
    pub fn make(self) -> Box<dyn InternalState + Send> {
        match self {
            Builtin::Bandit => Box::new(Bandit::default()),
            Builtin::CartPole => Box::new(CartPole::new()),
            Builtin::Acrobot => Box::new(Acrobot::new()),
            Builtin::MountainCar => Box::new(MountainCar::new()),
            Builtin::MountainCarContinuous => Box::new(MountainCarContinuous::new()),
            Builtin::Pendulum => Box::new(Pendulum::new()),
        }
    }

    /// `n` instances stepped together, each of its own concrete type (no dispatch per
    /// environment), with snapshots (a learner resumes exactly).
    pub fn vector(self, n: usize) -> Result<Box<dyn VectorEnv>> {
        fn of<E>(n: usize, make: impl FnMut(usize) -> E) -> Result<Box<dyn VectorEnv>>
        where
            E: Env + Clone + Send + serde::Serialize + serde::de::DeserializeOwned + 'static,
        {
            Ok(Box::new(VecEnv::from_fn(n, make)?.resumable()))
        }
        match self {
            Builtin::Bandit => of(n, |_| Bandit::default()),
            Builtin::CartPole => of(n, |_| CartPole::new()),
            Builtin::Acrobot => of(n, |_| Acrobot::new()),
            Builtin::MountainCar => of(n, |_| MountainCar::new()),
            Builtin::MountainCarContinuous => of(n, |_| MountainCarContinuous::new()),
            Builtin::Pendulum => of(n, |_| Pendulum::new()),
        }
    }
}

impl fmt::Display for Builtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_match_the_environments() {
        for b in Builtin::ALL {
            assert_eq!(Builtin::from_id(b.id()), Some(b));
            assert_eq!(b.make().spec().id, b.id());
            assert_eq!(b.vector(2).unwrap().spec().id, b.id());
        }
        assert_eq!(Builtin::from_id("cartpole-v1"), Some(Builtin::CartPole));
        assert_eq!(Builtin::from_id("bandit"), Some(Builtin::Bandit));
        assert_eq!(Builtin::from_id("CartPole-v0"), None);
    }

    #[test]
    fn time_limits_and_thresholds_are_gymnasiums() {
        let specs: Vec<_> = Builtin::ALL.iter().map(|b| b.make().spec()).collect();
        let limits: Vec<_> = specs.iter().map(|s| s.max_episode_steps).collect();
        assert_eq!(
            limits,
            [None, Some(500), Some(500), Some(200), Some(999), Some(200)]
        );
        let thresholds: Vec<_> = specs.iter().map(|s| s.reward_threshold).collect();
        assert_eq!(
            thresholds,
            [
                None,
                Some(475.0),
                Some(-100.0),
                Some(-110.0),
                Some(90.0),
                None
            ]
        );
        assert!(specs[0].single_step && !specs[1].single_step);
    }
}
