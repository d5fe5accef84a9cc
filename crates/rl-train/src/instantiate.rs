//! Build time, not behaviour: the learner on this build's backends, compiled once here.
//!
//! Burn's code is generic, so every crate that trains or acts on a concrete backend
//! monomorphises and optimises the learner and Burn's autodiff and tensor code itself:
//! the `rl` binary, the integration tests and the examples, each for tens of seconds. At
//! `opt-level` 1, the dev and test profile's, rustc shares generics between crates: a
//! crate links an instantiation that a crate it depends on already compiled instead of
//! compiling its own. Taking the addresses of the entry points below makes rl-train
//! compile them (and everything they call) once for every crate downstream: measured,
//! the `rl` binary's own compilation went from 34 s to 11 s (see the README's "Tests").
//!
//! Only in builds with debug assertions (the dev and test profiles): an optimised build
//! does not share generics, so the release binary would compile them twice.

use rl_models::backend::{Backend, TrainBackend};

use crate::{Agent, Learner};

/// The addresses of the learner's and the agent's entry points on this build's backends;
/// never called for its value.
#[doc(hidden)]
pub fn entry_points() -> [*const (); 9] {
    [
        Learner::<TrainBackend>::new as *const (),
        Learner::<TrainBackend>::from_state as *const (),
        Learner::<TrainBackend>::state as *const (),
        Learner::<TrainBackend>::update as *const (),
        Learner::<TrainBackend>::new_worker as *const (),
        Learner::<TrainBackend>::resume_worker as *const (),
        Learner::<TrainBackend>::any_worker as *const (),
        Agent::<Backend>::new as *const (),
        Agent::<Backend>::act as *const (),
    ]
}
