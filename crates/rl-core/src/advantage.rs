//! Returns and advantages: pure functions over slices of plain f32, computed in exactly
//! one place.
//!
//! A batch is a sequence of steps, episodes one after another. An episode ends at a step
//! whose `terminated` or `truncated` flag is set, and the last step of a batch must end
//! one: a learner that cuts a rollout mid-episode marks the cut as `truncated`, which is
//! what it is (the episode was cut, the state had a future). Returns restart at every
//! end. Only the critic-based estimators ([`Advantage::Td0`], [`Advantage::Gae`])
//! bootstrap, and only on truncation: on termination the next state's value is zero.

use crate::error::{Error, Result};

/// The advantage estimator: the one pluggable piece of every policy-gradient learner
/// ("grad log pi times a scalar"; the estimators differ only in the scalar).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Advantage {
    /// `A_t = G_t`, the discounted return-to-go: vanilla REINFORCE.
    MonteCarlo,
    /// `A_t = G_t - V(s_t)`: REINFORCE with a learned baseline.
    Baseline,
    /// `A_t = r_t + gamma V(s_{t+1}) - V(s_t)`, the one-step TD error.
    Td0,
    /// Generalised advantage estimation (Schulman et al., 2016).
    Gae {
        /// The lambda of GAE, in [0, 1]: 0 is TD(0), 1 is Monte-Carlo minus baseline.
        lambda: f32,
    },
}

/// The inputs of [`Advantage::compute`]: per step, in time order.
#[derive(Debug, Clone, Copy, Default)]
pub struct Batch<'a> {
    /// `r_t`.
    pub rewards: &'a [f32],
    /// Step `t` reached a terminal state.
    pub terminated: &'a [bool],
    /// Step `t` was cut (time limit, or the end of a rollout).
    pub truncated: &'a [bool],
    /// `V(s_t)`; needed by every estimator but [`Advantage::MonteCarlo`] (empty there).
    pub values: &'a [f32],
    /// `V` of the observation step `t` produced (the final observation), read only at
    /// truncated, non-terminated steps; needed by [`Advantage::Td0`] and
    /// [`Advantage::Gae`] (empty for the others).
    pub truncation_values: &'a [f32],
}

/// The outputs of [`Advantage::compute`].
#[derive(Debug, Clone, PartialEq)]
pub struct Estimates {
    /// The scalar that multiplies `grad log pi(a_t|s_t)`.
    pub advantages: Vec<f32>,
    /// The value target of step `t` (`G_t` for the Monte-Carlo estimators, normalised
    /// when they normalise; `A_t + V(s_t)` for TD and GAE).
    pub returns: Vec<f32>,
}

impl Advantage {
    /// Whether the estimator reads `V(s_t)`.
    pub fn needs_values(self) -> bool {
        !matches!(self, Advantage::MonteCarlo)
    }

    /// Whether the estimator bootstraps from `V` on truncation.
    pub fn bootstraps(self) -> bool {
        matches!(self, Advantage::Td0 | Advantage::Gae { .. })
    }

    /// Checks the estimator's own parameter.
    pub fn validate(self) -> Result<()> {
        if let Advantage::Gae { lambda } = self
            && !(0.0..=1.0).contains(&lambda)
        {
            return Err(Error::config(format!(
                "gae_lambda is {lambda}: allowed [0, 1]"
            )));
        }
        Ok(())
    }

    /// Computes advantages and value targets.
    ///
    /// With `normalize`, [`MonteCarlo`](Advantage::MonteCarlo) and
    /// [`Baseline`](Advantage::Baseline) normalise the returns before subtracting the
    /// baseline, exactly as the lesson's PyTorch program does (so the value head learns
    /// normalised returns); [`Td0`](Advantage::Td0) and [`Gae`](Advantage::Gae) normalise
    /// the advantages and leave the value targets raw.
    pub fn compute(self, batch: &Batch<'_>, gamma: f32, normalize: bool) -> Result<Estimates> {
        self.validate()?;
        check_batch(batch, gamma, self)?;
        let mut est = match self {
            Advantage::MonteCarlo | Advantage::Baseline => {
                let mut returns =
                    discounted_returns(batch.rewards, batch.terminated, batch.truncated, gamma)?;
                if normalize {
                    normalize_in_place(&mut returns);
                }
                let advantages = match self {
                    Advantage::Baseline => returns
                        .iter()
                        .zip(batch.values)
                        .map(|(g, v)| g - v)
                        .collect(),
                    _ => returns.clone(),
                };
                return Ok(Estimates {
                    advantages,
                    returns,
                });
            }
            Advantage::Td0 => gae(batch, gamma, 0.0),
            Advantage::Gae { lambda } => gae(batch, gamma, lambda),
        };
        if normalize {
            normalize_in_place(&mut est.advantages);
        }
        Ok(est)
    }
}

fn check_batch(b: &Batch<'_>, gamma: f32, est: Advantage) -> Result<()> {
    if !(0.0..=1.0).contains(&gamma) {
        return Err(Error::config(format!("gamma is {gamma}: allowed [0, 1]")));
    }
    let n = b.rewards.len();
    let mut lens = vec![
        ("terminated", b.terminated.len()),
        ("truncated", b.truncated.len()),
    ];
    if est.needs_values() {
        lens.push(("values", b.values.len()));
    }
    if est.bootstraps() {
        lens.push(("truncation_values", b.truncation_values.len()));
    }
    for (name, len) in lens {
        if len != n {
            return Err(Error::length(format!(
                "{name} has {len} entries for {n} rewards"
            )));
        }
    }
    Ok(())
}

/// Errors unless the flags have the rewards' length and the last step ends an episode.
fn check_ends(rewards: &[f32], terminated: &[bool], truncated: &[bool]) -> Result<()> {
    let n = rewards.len();
    if terminated.len() != n || truncated.len() != n {
        return Err(Error::length(format!(
            "{n} rewards but {} terminated and {} truncated flags",
            terminated.len(),
            truncated.len()
        )));
    }
    if n > 0 && !(terminated[n - 1] || truncated[n - 1]) {
        return Err(Error::length(
            "the last step of a batch must end an episode: mark a rollout cut as truncated"
                .to_string(),
        ));
    }
    Ok(())
}

/// Discounted returns-to-go `G_t = r_t + gamma G_{t+1}`, restarting at every episode end
/// (terminated or truncated; no bootstrap). Accumulated in f64.
pub fn discounted_returns(
    rewards: &[f32],
    terminated: &[bool],
    truncated: &[bool],
    gamma: f32,
) -> Result<Vec<f32>> {
    check_ends(rewards, terminated, truncated)?;
    let gamma = f64::from(gamma);
    let mut out = vec![0.0; rewards.len()];
    let mut g = 0.0_f64;
    for t in (0..rewards.len()).rev() {
        if terminated[t] || truncated[t] {
            g = 0.0;
        }
        g = f64::from(rewards[t]) + gamma * g;
        out[t] = g as f32;
    }
    Ok(out)
}

/// `(x - mean) / (std + 1e-8)` over the whole slice, with the unbiased (Bessel-corrected)
/// std, as `torch.std`: the lesson's per-batch return normalisation. Computed in f64. A
/// slice of one value has no spread; it becomes 0 (torch would give NaN).
pub fn normalize_in_place(x: &mut [f32]) {
    let n = x.len();
    if n == 0 {
        return;
    }
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
    let var = if n > 1 {
        x.iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / (n - 1) as f64
    } else {
        0.0
    };
    let denom = var.sqrt() + 1e-8;
    for v in x {
        *v = ((f64::from(*v) - mean) / denom) as f32;
    }
}

/// GAE (and TD(0) as lambda = 0): `delta_t = r_t + gamma V(s_{t+1}) - V(s_t)`, with
/// `V(s_{t+1})` zero after termination, the truncation value after truncation, and
/// `values[t + 1]` inside an episode; `A_t = delta_t + gamma lambda A_{t+1}` within the
/// episode. Value targets are `A_t + V(s_t)`.
fn gae(b: &Batch<'_>, gamma: f32, lambda: f32) -> Estimates {
    let (gamma, lambda) = (f64::from(gamma), f64::from(lambda));
    let n = b.rewards.len();
    let mut advantages = vec![0.0; n];
    let mut returns = vec![0.0; n];
    let mut next_adv = 0.0_f64;
    for t in (0..n).rev() {
        let (next_value, carry) = if b.terminated[t] {
            (0.0, 0.0)
        } else if b.truncated[t] {
            (f64::from(b.truncation_values[t]), 0.0)
        } else {
            (f64::from(b.values[t + 1]), next_adv)
        };
        let v = f64::from(b.values[t]);
        let delta = f64::from(b.rewards[t]) + gamma * next_value - v;
        next_adv = delta + gamma * lambda * carry;
        advantages[t] = next_adv as f32;
        returns[t] = (next_adv + v) as f32;
    }
    Estimates {
        advantages,
        returns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-6 * y.abs().max(1.0), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn returns_by_hand() {
        // Episode 1: rewards 1, 2, 3 (terminated); episode 2: reward 4 (truncated).
        let g = discounted_returns(
            &[1.0, 2.0, 3.0, 4.0],
            &[false, false, true, false],
            &[false, false, false, true],
            0.5,
        )
        .unwrap();
        // G_2 = 3; G_1 = 2 + 0.5*3 = 3.5; G_0 = 1 + 0.5*3.5 = 2.75; G_3 = 4.
        close(&g, &[2.75, 3.5, 3.0, 4.0]);
    }

    #[test]
    fn truncated_episode_does_not_see_the_next_episodes_rewards() {
        // Regression (SB3 #633, CleanRL #198): an episode cut by the time limit followed
        // by another; the first's returns must not contain the second's rewards.
        let rewards = [1.0, 1.0, 100.0, 100.0];
        let terminated = [false, false, false, true];
        let truncated = [false, true, false, false];
        let g = discounted_returns(&rewards, &terminated, &truncated, 0.9).unwrap();
        close(&g, &[1.9, 1.0, 190.0, 100.0]);
        let est = Advantage::Baseline
            .compute(
                &Batch {
                    rewards: &rewards,
                    terminated: &terminated,
                    truncated: &truncated,
                    values: &[0.0; 4],
                    ..Batch::default()
                },
                0.9,
                false,
            )
            .unwrap();
        close(&est.advantages, &[1.9, 1.0, 190.0, 100.0]);
        // TD and GAE bootstrap from the truncation value, never from the next episode.
        let tv = [0.0, 10.0, 0.0, 0.0];
        let values = [0.5, 0.25, 7.0, 3.0];
        for est in [Advantage::Td0, Advantage::Gae { lambda: 0.95 }] {
            let e = est
                .compute(
                    &Batch {
                        rewards: &rewards,
                        terminated: &terminated,
                        truncated: &truncated,
                        values: &values,
                        truncation_values: &tv,
                    },
                    0.9,
                    false,
                )
                .unwrap();
            // Step 1 (truncated): delta = 1 + 0.9*10 - 0.25 = 9.75, whatever follows.
            assert!(
                (e.advantages[1] - 9.75).abs() < 1e-6,
                "{est:?}: {:?}",
                e.advantages
            );
        }
    }

    #[test]
    fn last_step_must_end_an_episode() {
        assert!(discounted_returns(&[1.0, 1.0], &[false, false], &[false, false], 0.9).is_err());
        assert!(discounted_returns(&[1.0], &[false, false], &[true], 0.9).is_err());
        assert_eq!(
            discounted_returns(&[], &[], &[], 0.9).unwrap(),
            Vec::<f32>::new()
        );
    }

    #[test]
    fn normalization_uses_the_unbiased_std() {
        let mut x = [1.0, 2.0, 3.0, 4.0];
        normalize_in_place(&mut x);
        // mean 2.5, unbiased std sqrt(5/3) = 1.2909944.
        let s = (5.0_f64 / 3.0).sqrt() + 1e-8;
        close(
            &x,
            &[
                (-1.5 / s) as f32,
                (-0.5 / s) as f32,
                (0.5 / s) as f32,
                (1.5 / s) as f32,
            ],
        );
        let mut one = [5.0];
        normalize_in_place(&mut one);
        assert_eq!(one, [0.0]);
        let mut same = [2.0, 2.0];
        normalize_in_place(&mut same);
        assert_eq!(same, [0.0, 0.0]);
    }

    #[test]
    fn monte_carlo_normalizes_returns_and_baseline_subtracts_after() {
        let b = Batch {
            rewards: &[1.0, 1.0, 1.0],
            terminated: &[false, false, true],
            truncated: &[false; 3],
            values: &[0.5, 0.0, -0.5],
            ..Batch::default()
        };
        let mc = Advantage::MonteCarlo.compute(&b, 1.0, true).unwrap();
        // G = 3, 2, 1: normalised with std 1 -> 1, 0, -1 (to 1e-8).
        close(&mc.returns, &[1.0, 0.0, -1.0]);
        close(&mc.advantages, &mc.returns);
        let bl = Advantage::Baseline.compute(&b, 1.0, true).unwrap();
        close(&bl.returns, &[1.0, 0.0, -1.0]);
        close(&bl.advantages, &[0.5, 0.0, -0.5]);
    }

    #[test]
    fn td0_by_hand() {
        let b = Batch {
            rewards: &[1.0, 2.0, 3.0],
            terminated: &[false, false, true],
            truncated: &[false; 3],
            values: &[10.0, 20.0, 30.0],
            truncation_values: &[0.0; 3],
        };
        let e = Advantage::Td0.compute(&b, 0.5, false).unwrap();
        // delta_0 = 1 + 0.5*20 - 10 = 1; delta_1 = 2 + 0.5*30 - 20 = -3; delta_2 = 3 - 30 = -27.
        close(&e.advantages, &[1.0, -3.0, -27.0]);
        close(&e.returns, &[11.0, 17.0, 3.0]);
    }

    #[test]
    fn gae_by_hand() {
        let b = Batch {
            rewards: &[1.0, 2.0, 3.0],
            terminated: &[false, false, true],
            truncated: &[false; 3],
            values: &[10.0, 20.0, 30.0],
            truncation_values: &[0.0; 3],
        };
        let e = Advantage::Gae { lambda: 0.5 }
            .compute(&b, 0.5, false)
            .unwrap();
        // A_2 = -27; A_1 = -3 + 0.25*(-27) = -9.75; A_0 = 1 + 0.25*(-9.75) = -1.4375.
        close(&e.advantages, &[-1.4375, -9.75, -27.0]);
    }

    /// Rewards, terminated, truncated, values, truncation values.
    type Columns = (Vec<f32>, Vec<bool>, Vec<bool>, Vec<f32>, Vec<f32>);

    /// A deterministic batch of several complete episodes with arbitrary values.
    fn episodes(truncate_last: bool) -> Columns {
        let lens = [5, 1, 8, 3];
        let (mut r, mut te, mut tr, mut v, mut tv) = (vec![], vec![], vec![], vec![], vec![]);
        let mut k = 0.0_f32;
        for (e, &len) in lens.iter().enumerate() {
            for t in 0..len {
                k += 1.0;
                r.push((k * 0.37).sin() + 0.5);
                v.push((k * 0.11).cos() * 3.0);
                tv.push((k * 0.7).sin());
                let end = t == len - 1;
                let trunc = end && truncate_last && e == lens.len() - 1;
                te.push(end && !trunc);
                tr.push(trunc);
            }
        }
        (r, te, tr, v, tv)
    }

    #[test]
    fn gae_lambda_one_is_baseline_on_complete_episodes() {
        let (r, te, tr, v, tv) = episodes(false);
        let b = Batch {
            rewards: &r,
            terminated: &te,
            truncated: &tr,
            values: &v,
            truncation_values: &tv,
        };
        let gae1 = Advantage::Gae { lambda: 1.0 }
            .compute(&b, 0.97, false)
            .unwrap();
        let base = Advantage::Baseline.compute(&b, 0.97, false).unwrap();
        close(&gae1.advantages, &base.advantages);
        close(&gae1.returns, &base.returns);
    }

    #[test]
    fn gae_lambda_zero_is_td0() {
        let (r, te, tr, v, tv) = episodes(true);
        let b = Batch {
            rewards: &r,
            terminated: &te,
            truncated: &tr,
            values: &v,
            truncation_values: &tv,
        };
        let gae0 = Advantage::Gae { lambda: 0.0 }
            .compute(&b, 0.97, false)
            .unwrap();
        let td = Advantage::Td0.compute(&b, 0.97, false).unwrap();
        assert_eq!(gae0, td);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let b = Batch {
            rewards: &[1.0],
            terminated: &[true],
            truncated: &[false],
            ..Batch::default()
        };
        assert!(
            Advantage::Baseline.compute(&b, 0.9, false).is_err(),
            "missing values"
        );
        assert!(
            Advantage::Td0
                .compute(
                    &Batch {
                        values: &[0.0],
                        ..b
                    },
                    0.9,
                    false
                )
                .is_err()
        );
        assert!(Advantage::MonteCarlo.compute(&b, 1.5, false).is_err());
        assert!(Advantage::Gae { lambda: -0.1 }.validate().is_err());
        assert!(Advantage::MonteCarlo.compute(&b, 0.9, false).is_ok());
    }
}
