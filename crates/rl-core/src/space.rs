//! Observation and action spaces, as Gymnasium's `Discrete` and `Box`.

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
}

impl Space {
    /// A one-dimensional box with the given bounds.
    pub fn boxed(low: Vec<f32>, high: Vec<f32>) -> Self {
        debug_assert_eq!(low.len(), high.len(), "box bounds of different lengths");
        let shape = vec![low.len()];
        Space::Box { low, high, shape }
    }

    /// The number of f32 values one element takes in a flat buffer: `1` for a discrete
    /// space (used as an action index), the number of components for a box.
    pub fn flat_dim(&self) -> usize {
        match self {
            Space::Discrete { .. } => 1,
            Space::Box { shape, .. } => shape.iter().product(),
        }
    }

    /// Whether `x` (a flat box element) lies inside the bounds.
    pub fn contains(&self, x: &[f32]) -> bool {
        match self {
            Space::Discrete { n } => {
                x.len() == 1 && x[0] >= 0.0 && x[0].fract() == 0.0 && (x[0] as usize) < *n
            }
            Space::Box { low, high, .. } => {
                x.len() == low.len()
                    && x.iter()
                        .zip(low.iter().zip(high))
                        .all(|(v, (l, h))| l <= v && v <= h)
            }
        }
    }
}

impl Space {
    /// Flat box elements (any number of rows, row-major) clipped into the bounds, into
    /// `out`, as `np.clip(action, low, high)` does before a Gaussian policy's sample
    /// reaches the environment; a discrete space copies them as they are.
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_dims() {
        assert_eq!(Space::Discrete { n: 3 }.flat_dim(), 1);
        assert_eq!(Space::boxed(vec![-1.0; 3], vec![1.0; 3]).flat_dim(), 3);
    }

    #[test]
    fn clipping_keeps_rows_in_their_bounds() {
        let s = Space::boxed(vec![-1.0, 0.0], vec![1.0, 2.0]);
        let mut out = Vec::new();
        s.clip_rows_into(&[-3.0, 5.0, 0.5, 1.0, 2.0, -0.0], &mut out);
        assert_eq!(out, [-1.0, 2.0, 0.5, 1.0, 1.0, 0.0]);
    }

    #[test]
    fn box_contains_checks_every_bound() {
        let s = Space::boxed(vec![-1.0, 0.0], vec![1.0, f32::INFINITY]);
        assert!(s.contains(&[0.5, 1e30]));
        assert!(!s.contains(&[1.5, 0.0]));
        assert!(!s.contains(&[0.0, -0.1]));
        assert!(!s.contains(&[0.0]));
        assert!(Space::Discrete { n: 2 }.contains(&[1.0]));
        assert!(!Space::Discrete { n: 2 }.contains(&[2.0]));
    }
}
