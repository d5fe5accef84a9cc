//! Observation and action spaces, as Gymnasium's `Discrete`, `Box`, `MultiDiscrete`,
//! `MultiBinary`, `Tuple` and `Dict`.
//!
//! Observations are flat f32 vectors in Gymnasium's `flatten` order
//! ([`flat_dim`](Space::flat_dim) values): a `Box` of any shape row-major, a `Discrete`
//! one-hot, a `MultiDiscrete` one one-hot per component, a `MultiBinary` its 0/1 values,
//! a `Tuple` its parts in order and a `Dict` its parts in key order (sorted, as
//! Gymnasium sorts the keys of a `Dict` made from a plain dict). Actions are integer
//! indices for the integer spaces (one for `Discrete`, one per component for
//! `MultiDiscrete` and `MultiBinary`) and f32 values for a `Box`
//! ([`action_width`](Space::action_width) of them).

use crate::error::{Error, ErrorKind, Result};

/// A space of observations or actions.
#[derive(Debug, Clone, PartialEq)]
pub enum Space {
    /// The integers `0..n`.
    Discrete {
        /// Number of elements.
        n: usize,
    },
    /// A box of f32 values with per-component bounds (which may be infinite).
    Box {
        /// Lower bounds, one per component (row-major over `shape`).
        low: Vec<f32>,
        /// Upper bounds, one per component.
        high: Vec<f32>,
        /// The shape; the product of its entries is the number of components.
        shape: Vec<usize>,
    },
    /// One integer per component `k`, in `0..nvec[k]` (SB3's MultiDiscrete actions: one
    /// categorical per component).
    MultiDiscrete {
        /// The number of values of each component.
        nvec: Vec<usize>,
    },
    /// `n` flags, each 0 or 1 (SB3's MultiBinary actions: independent Bernoullis).
    MultiBinary {
        /// The number of flags.
        n: usize,
    },
    /// Spaces one after another (observations only).
    Tuple(Vec<Space>),
    /// Named spaces, in key order (observations only); make one with [`Space::dict`].
    Dict(Vec<(String, Space)>),
}

impl Space {
    /// A one-dimensional box with the given bounds.
    pub fn boxed(low: Vec<f32>, high: Vec<f32>) -> Self {
        debug_assert_eq!(low.len(), high.len(), "box bounds of different lengths");
        let shape = vec![low.len()];
        Space::Box { low, high, shape }
    }

    /// A `Dict` of the given named spaces, their keys sorted as Gymnasium sorts them.
    pub fn dict(entries: impl IntoIterator<Item = (String, Space)>) -> Self {
        let mut entries: Vec<_> = entries.into_iter().collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Space::Dict(entries)
    }

    /// Gymnasium's `flatdim`: the number of f32 values of a flattened element (a
    /// `Discrete` space one-hot, so `n`).
    pub fn flat_dim(&self) -> usize {
        match self {
            Space::Discrete { n } | Space::MultiBinary { n } => *n,
            Space::Box { shape, .. } => shape.iter().product(),
            Space::MultiDiscrete { nvec } => nvec.iter().sum(),
            Space::Tuple(parts) => parts.iter().map(Space::flat_dim).sum(),
            Space::Dict(parts) => parts.iter().map(|(_, s)| s.flat_dim()).sum(),
        }
    }

    /// The number of values one action of this space takes in an action buffer: `1` for
    /// `Discrete` (its index), one index per component of `MultiDiscrete` and
    /// `MultiBinary`, the number of components of a `Box`.
    pub fn action_width(&self) -> usize {
        match self {
            Space::Discrete { .. } => 1,
            Space::MultiDiscrete { nvec } => nvec.len(),
            Space::MultiBinary { n } => *n,
            other => other.flat_dim(),
        }
    }

    /// The number of flags of an action mask: one per action of a `Discrete` space, one
    /// per value of each component of a `MultiDiscrete` one; 0 for spaces without masks.
    pub fn mask_width(&self) -> usize {
        match self {
            Space::Discrete { n } => *n,
            Space::MultiDiscrete { nvec } => nvec.iter().sum(),
            _ => 0,
        }
    }

    /// Whether actions of this space are integer indices (`Discrete`, `MultiDiscrete`,
    /// `MultiBinary`).
    pub fn is_discrete(&self) -> bool {
        matches!(
            self,
            Space::Discrete { .. } | Space::MultiDiscrete { .. } | Space::MultiBinary { .. }
        )
    }

    /// Whether an action of this space is one index (a `Discrete` space).
    pub fn is_scalar(&self) -> bool {
        matches!(self, Space::Discrete { .. })
    }

    /// The number of values each integer component takes: `[n]` for `Discrete`, `nvec`
    /// for `MultiDiscrete`, `2` for each flag of `MultiBinary`; empty otherwise.
    pub fn component_sizes(&self) -> Vec<usize> {
        match self {
            Space::Discrete { n } => vec![*n],
            Space::MultiDiscrete { nvec } => nvec.clone(),
            Space::MultiBinary { n } => vec![2; *n],
            _ => Vec::new(),
        }
    }

    /// Checks one integer action (`action_width` indices) against the space (without
    /// allocating: it runs for every environment at every step).
    pub fn check_indices(&self, action: &[usize]) -> Result<()> {
        let wrong_length = |want: usize| {
            Err(Error::new(ErrorKind::InvalidAction(format!(
                "an action of {} indices given to {self}, which takes {want}",
                action.len()
            ))))
        };
        let out_of_range =
            |action: usize, n: usize| Err(Error::new(ErrorKind::ActionOutOfRange { action, n }));
        match self {
            Space::Discrete { n } => match action {
                [a] if a < n => Ok(()),
                [a] => out_of_range(*a, *n),
                _ => wrong_length(1),
            },
            Space::MultiDiscrete { nvec } => {
                if action.len() != nvec.len() {
                    return wrong_length(nvec.len());
                }
                match action.iter().zip(nvec).find(|(a, n)| a >= n) {
                    Some((&a, &n)) => out_of_range(a, n),
                    None => Ok(()),
                }
            }
            Space::MultiBinary { n } => {
                if action.len() != *n {
                    return wrong_length(*n);
                }
                match action.iter().find(|&&a| a > 1) {
                    Some(&a) => out_of_range(a, 2),
                    None => Ok(()),
                }
            }
            other => Err(Error::new(ErrorKind::InvalidAction(format!(
                "integer actions given to {other}"
            )))),
        }
    }

    /// The first component of `mask` (`mask_width` flags) that allows no action, if any
    /// (without allocating: it runs for every environment at every step).
    pub fn empty_mask_component(&self, mask: &[bool]) -> Option<usize> {
        let sizes: &[usize] = match self {
            Space::Discrete { n } => std::slice::from_ref(n),
            Space::MultiDiscrete { nvec } => nvec,
            _ => return None,
        };
        let mut at = 0;
        for (k, &n) in sizes.iter().enumerate() {
            let part = mask.get(at..at + n)?;
            if !part.contains(&true) {
                return Some(k);
            }
            at += n;
        }
        None
    }

    /// Whether `x` (a flattened element, [`flat_dim`](Self::flat_dim) values) lies in the
    /// space: inside a box's bounds, one-hot where the space is discrete, 0 or 1 for
    /// binary flags.
    pub fn contains(&self, x: &[f32]) -> bool {
        if x.len() != self.flat_dim() {
            return false;
        }
        let one_hot = |x: &[f32]| {
            x.iter().all(|&v| v == 0.0 || v == 1.0) && x.iter().filter(|&&v| v == 1.0).count() == 1
        };
        match self {
            Space::Discrete { .. } => one_hot(x),
            Space::Box { low, high, .. } => x
                .iter()
                .zip(low.iter().zip(high))
                .all(|(v, (l, h))| l <= v && v <= h),
            Space::MultiDiscrete { nvec } => {
                let mut at = 0;
                nvec.iter().all(|&n| {
                    at += n;
                    one_hot(&x[at - n..at])
                })
            }
            Space::MultiBinary { .. } => x.iter().all(|&v| v == 0.0 || v == 1.0),
            Space::Tuple(parts) => Self::parts_contain(parts.iter(), x),
            Space::Dict(parts) => Self::parts_contain(parts.iter().map(|(_, s)| s), x),
        }
    }

    fn parts_contain<'a>(parts: impl Iterator<Item = &'a Space>, x: &[f32]) -> bool {
        let mut at = 0;
        for s in parts {
            let d = s.flat_dim();
            if !s.contains(&x[at..at + d]) {
                return false;
            }
            at += d;
        }
        true
    }

    /// What is wrong with this space as a learner's action space, if anything: actions
    /// come from a categorical per component, Bernoullis, or a Gaussian within finite
    /// bounds.
    pub fn action_space_problem(&self) -> Option<String> {
        match self {
            Space::Discrete { n: 0 } => Some("Discrete(0) has no action".into()),
            Space::MultiDiscrete { nvec } if nvec.is_empty() || nvec.contains(&0) => {
                Some(format!("{self}: every component needs at least one value"))
            }
            Space::MultiBinary { n: 0 } => Some("MultiBinary(0) has no flag".into()),
            Space::Box { low, high, .. } => {
                if low.is_empty() {
                    Some(format!("{self} has no component"))
                } else if low.iter().chain(high).any(|v| !v.is_finite()) {
                    Some(format!(
                        "{self}: a continuous action space needs finite bounds (actions are clipped into them)"
                    ))
                } else {
                    low.iter()
                        .zip(high)
                        .position(|(l, h)| l > h)
                        .map(|k| format!("{self}: component {k} has low > high"))
                }
            }
            Space::Tuple(_) | Space::Dict(_) => Some(format!(
                "{self} is not supported as an action space (only as observations)"
            )),
            _ => None,
        }
    }

    /// What is wrong with this space as an observation space, if anything.
    pub fn observation_space_problem(&self) -> Option<String> {
        match self {
            _ if self.flat_dim() == 0 => Some(format!("{self} has no value to observe")),
            Space::Box { low, high, shape } => {
                let n: usize = shape.iter().product();
                if low.len() != n || high.len() != n {
                    Some(format!(
                        "{self}: its bounds have {} and {} values for a shape of {n}",
                        low.len(),
                        high.len()
                    ))
                } else {
                    low.iter()
                        .zip(high)
                        .position(|(l, h)| l > h || l.is_nan() || h.is_nan())
                        .map(|k| format!("{self}: component {k} has no value between its bounds"))
                }
            }
            Space::Tuple(parts) => parts.iter().find_map(Space::observation_space_problem),
            Space::Dict(parts) => parts
                .iter()
                .find_map(|(_, s)| s.observation_space_problem()),
            _ => None,
        }
    }

    /// Whether every value of the space is the same (a box with `low == high`): nothing
    /// to learn from, or to normalise.
    pub fn is_constant(&self) -> bool {
        match self {
            Space::Box { low, high, .. } => low == high,
            Space::Discrete { n } => *n == 1,
            _ => false,
        }
    }

    /// Flat box elements (any number of rows, row-major) clipped into the bounds, into
    /// `out`, as `np.clip(action, low, high)` does before a Gaussian policy's sample
    /// reaches the environment; any other space copies them as they are.
    pub fn clip_rows_into(&self, rows: &[f32], out: &mut Vec<f32>) {
        out.clear();
        out.extend_from_slice(rows);
        if let Space::Box { low, high, .. } = self {
            let d = low.len().max(1);
            for (k, x) in out.iter_mut().enumerate() {
                *x = x.max(low[k % d]).min(high[k % d]);
            }
        }
    }
}

impl std::fmt::Display for Space {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Space::Discrete { n } => write!(f, "Discrete({n})"),
            Space::Box { low, high, shape } => {
                write!(f, "Box(low={low:?}, high={high:?}, shape={shape:?})")
            }
            Space::MultiDiscrete { nvec } => write!(f, "MultiDiscrete({nvec:?})"),
            Space::MultiBinary { n } => write!(f, "MultiBinary({n})"),
            Space::Tuple(parts) => {
                f.write_str("Tuple(")?;
                for (k, s) in parts.iter().enumerate() {
                    if k > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{s}")?;
                }
                f.write_str(")")
            }
            Space::Dict(parts) => {
                f.write_str("Dict(")?;
                for (k, (name, s)) in parts.iter().enumerate() {
                    if k > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "'{name}': {s}")?;
                }
                f.write_str(")")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_are_gymnasiums_flatdim_and_sb3s_action_shapes() {
        let d = Space::Discrete { n: 3 };
        assert_eq!((d.flat_dim(), d.action_width(), d.mask_width()), (3, 1, 3));
        let b = Space::boxed(vec![-1.0; 3], vec![1.0; 3]);
        assert_eq!((b.flat_dim(), b.action_width(), b.mask_width()), (3, 3, 0));
        let md = Space::MultiDiscrete { nvec: vec![3, 2] };
        assert_eq!(
            (md.flat_dim(), md.action_width(), md.mask_width()),
            (5, 2, 5)
        );
        let mb = Space::MultiBinary { n: 4 };
        assert_eq!(
            (mb.flat_dim(), mb.action_width(), mb.mask_width()),
            (4, 4, 0)
        );
        let image = Space::Box {
            low: vec![0.0; 12],
            high: vec![1.0; 12],
            shape: vec![2, 3, 2],
        };
        assert_eq!(image.flat_dim(), 12);
        let t = Space::Tuple(vec![d.clone(), b.clone()]);
        assert_eq!(t.flat_dim(), 6);
        let dict = Space::dict([("velocity".into(), b), ("gear".into(), d)]);
        assert_eq!(dict.flat_dim(), 6);
        let Space::Dict(parts) = &dict else {
            unreachable!()
        };
        assert_eq!(parts[0].0, "gear", "keys sorted, as Gymnasium sorts them");
    }

    #[test]
    fn clipping_keeps_rows_in_their_bounds() {
        let s = Space::boxed(vec![-1.0, 0.0], vec![1.0, 2.0]);
        let mut out = Vec::new();
        s.clip_rows_into(&[-3.0, 5.0, 0.5, 1.0, 2.0, -0.0], &mut out);
        assert_eq!(out, [-1.0, 2.0, 0.5, 1.0, 1.0, 0.0]);
    }

    #[test]
    fn contains_checks_bounds_and_one_hot_parts() {
        let s = Space::boxed(vec![-1.0, 0.0], vec![1.0, f32::INFINITY]);
        assert!(s.contains(&[0.5, 1e30]));
        assert!(!s.contains(&[1.5, 0.0]));
        assert!(!s.contains(&[0.0, -0.1]));
        assert!(!s.contains(&[0.0]));
        let d = Space::Discrete { n: 3 };
        assert!(d.contains(&[0.0, 1.0, 0.0]));
        assert!(!d.contains(&[1.0, 1.0, 0.0]) && !d.contains(&[0.0, 0.0, 0.0]));
        let md = Space::MultiDiscrete { nvec: vec![2, 2] };
        assert!(md.contains(&[1.0, 0.0, 0.0, 1.0]));
        assert!(!md.contains(&[1.0, 1.0, 0.0, 1.0]));
        let t = Space::Tuple(vec![d, Space::MultiBinary { n: 2 }]);
        assert!(t.contains(&[0.0, 0.0, 1.0, 1.0, 0.0]));
        assert!(!t.contains(&[0.0, 0.0, 1.0, 0.5, 0.0]));
    }

    #[test]
    fn integer_actions_and_masks_are_checked_per_component() {
        let md = Space::MultiDiscrete { nvec: vec![3, 2] };
        assert!(md.check_indices(&[2, 1]).is_ok());
        assert!(matches!(
            md.check_indices(&[2, 2]).unwrap_err().kind(),
            ErrorKind::ActionOutOfRange { action: 2, n: 2 }
        ));
        assert!(md.check_indices(&[0]).is_err());
        assert!(Space::MultiBinary { n: 2 }.check_indices(&[1, 0]).is_ok());
        assert!(Space::MultiBinary { n: 2 }.check_indices(&[2, 0]).is_err());
        assert_eq!(
            md.empty_mask_component(&[true, false, false, false, true]),
            None
        );
        assert_eq!(
            md.empty_mask_component(&[true, false, false, false, false]),
            Some(1)
        );
        let d = Space::Discrete { n: 2 };
        assert_eq!(d.empty_mask_component(&[false, false]), Some(0));
    }

    #[test]
    fn spaces_a_learner_cannot_use_are_named() {
        assert!(Space::Discrete { n: 2 }.action_space_problem().is_none());
        let unbounded = Space::boxed(vec![f32::NEG_INFINITY], vec![1.0]);
        assert!(
            unbounded
                .action_space_problem()
                .unwrap()
                .contains("finite bounds")
        );
        let t = Space::Tuple(vec![Space::Discrete { n: 2 }]);
        assert!(
            t.action_space_problem()
                .unwrap()
                .contains("only as observations")
        );
        assert!(t.observation_space_problem().is_none());
        let bad = Space::Box {
            low: vec![0.0],
            high: vec![1.0, 2.0],
            shape: vec![2],
        };
        assert!(bad.observation_space_problem().is_some());
        assert!(Space::boxed(vec![0.0], vec![0.0]).is_constant());
    }
}
