//! The one error type of rl-core.

use std::fmt;

/// What went wrong, with the offending values.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `step` was called before the first `reset`.
    NotReset,
    /// `step` was called on an episode that already ended (terminated or truncated).
    EpisodeOver,
    /// A discrete action outside `0..n`.
    ActionOutOfRange {
        /// The action given.
        action: usize,
        /// The number of actions of the space.
        n: usize,
    },
    /// An action of the wrong kind (discrete for a box space or the reverse) or length,
    /// or a non-finite continuous action.
    InvalidAction(String),
    /// A state of the wrong length or with non-finite values given to `set_state`.
    InvalidState(String),
    /// A configuration value out of its allowed range.
    InvalidConfig(String),
    /// Slices that must have the same length do not.
    LengthMismatch(String),
    /// A name that does not denote anything known (an environment id, say).
    Unknown(String),
    /// Something an implementation does not offer (a snapshot of environments that
    /// cannot be saved, say).
    Unsupported(String),
    /// An environment broke its contract: it panicked, returned a non-finite value, an
    /// observation of the wrong length or a mask that allows nothing. Nothing it
    /// returned in that call was kept.
    Misbehaved {
        /// The environment's id.
        id: String,
        /// Which environment of the vector.
        env: usize,
        /// The steps its episode had taken before the call (0: in `reset`).
        step: usize,
        /// What it did.
        what: String,
    },
}

/// The error returned by rl-core's fallible functions.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    kind: ErrorKind,
}

impl Error {
    /// Wraps a kind.
    pub fn new(kind: ErrorKind) -> Self {
        Self { kind }
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    pub(crate) fn config(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidConfig(msg.into()))
    }

    pub(crate) fn action(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidAction(msg.into()))
    }

    pub(crate) fn state(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidState(msg.into()))
    }

    pub(crate) fn length(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::LengthMismatch(msg.into()))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::NotReset => write!(f, "step called before reset: call reset first"),
            ErrorKind::EpisodeOver => write!(
                f,
                "step called on a finished episode (terminated or truncated): call reset first"
            ),
            ErrorKind::ActionOutOfRange { action, n } => {
                write!(f, "action {action} is out of range: allowed 0..{n}")
            }
            ErrorKind::Misbehaved {
                id,
                env,
                step,
                what,
            } => write!(
                f,
                "environment {env} ({id}) misbehaved at step {step} of its episode: {what}"
            ),
            ErrorKind::InvalidAction(m)
            | ErrorKind::InvalidState(m)
            | ErrorKind::InvalidConfig(m)
            | ErrorKind::LengthMismatch(m)
            | ErrorKind::Unknown(m)
            | ErrorKind::Unsupported(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand for results of rl-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;
