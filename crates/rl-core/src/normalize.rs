//! Running normalisation of observations and rewards, as Stable-Baselines3's
//! `VecNormalize`.
//!
//! - Observations: `clip((obs - mean) / sqrt(var + eps), -clip, clip)` with the running
//!   mean and variance of every observation seen while training (those a reset gives
//!   included), updated with each step's batch *before* the batch is normalised.
//! - Rewards: `clip(r / sqrt(var_R + eps), -clip, clip)` where `var_R` is the running
//!   variance of each environment's discounted return `R <- gamma * R + r` (reset to 0
//!   when its episode ends), again updated before the reward is scaled.
//!
//! The statistics are f64, as SB3's `RunningMeanStd` (count starting at 1e-4, mean 0,
//! variance 1), and merged batch by batch with Chan et al.'s parallel formula, the same
//! arithmetic in the same order. [`Normalizer::freeze`]d statistics (evaluation, export,
//! the credit table) normalise observations without moving.

use serde::{Deserialize, Serialize};

/// SB3's defaults: `clip_obs = clip_reward = 10`, `epsilon = 1e-8`.
pub const NORM_CLIP: f64 = 10.0;
/// See [`NORM_CLIP`].
pub const NORM_EPSILON: f64 = 1e-8;
/// The count a [`RunningMeanStd`] starts from (SB3's `epsilon=1e-4`).
const COUNT_START: f64 = 1e-4;

/// A running mean and (population) variance per component, merged batch by batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningMeanStd {
    /// The mean of every component.
    pub mean: Vec<f64>,
    /// The variance of every component.
    pub var: Vec<f64>,
    /// How many samples (plus the starting 1e-4).
    pub count: f64,
}

impl RunningMeanStd {
    /// Mean 0, variance 1, count 1e-4, for `dim` components.
    pub fn new(dim: usize) -> Self {
        Self {
            mean: vec![0.0; dim],
            var: vec![1.0; dim],
            count: COUNT_START,
        }
    }

    /// Folds in a batch of `rows` samples of `dim` components each (row-major, f32
    /// observations or f64 returns, widened to f64), as SB3's `update`: the batch's mean
    /// and population variance, then the parallel merge.
    pub fn update<T: Copy + Into<f64>>(&mut self, batch: &[T], rows: usize) {
        let dim = self.mean.len();
        debug_assert_eq!(batch.len(), rows * dim);
        if rows == 0 {
            return;
        }
        let n = rows as f64;
        let tot = self.count + n;
        for j in 0..dim {
            let col = || batch.iter().skip(j).step_by(dim).map(|&x| x.into());
            let batch_mean = col().sum::<f64>() / n;
            let batch_var = col().map(|x| (x - batch_mean).powi(2)).sum::<f64>() / n;
            let delta = batch_mean - self.mean[j];
            let m2 =
                self.var[j] * self.count + batch_var * n + delta * delta * self.count * n / tot;
            self.mean[j] += delta * n / tot;
            self.var[j] = m2 / tot;
        }
        self.count = tot;
    }

    /// Whether every statistic is usable: finite, variances not negative, a positive
    /// count.
    pub fn is_valid(&self) -> bool {
        self.mean.len() == self.var.len()
            && self.mean.iter().all(|m| m.is_finite())
            && self.var.iter().all(|v| v.is_finite() && *v >= 0.0)
            && self.count.is_finite()
            && self.count > 0.0
    }
}

/// The observation half of a [`Normalizer`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObsNorm {
    /// The running statistics.
    pub rms: RunningMeanStd,
    /// Normalised values are clipped to `[-clip, clip]`.
    pub clip: f64,
    /// Added to the variance under the square root.
    pub epsilon: f64,
}

impl ObsNorm {
    /// Fresh statistics for `dim`-sized observations, SB3's clip and epsilon.
    pub fn new(dim: usize) -> Self {
        Self {
            rms: RunningMeanStd::new(dim),
            clip: NORM_CLIP,
            epsilon: NORM_EPSILON,
        }
    }

    /// Normalises `raw` (any number of rows) into `out`, without moving the statistics.
    pub fn apply(&self, raw: &[f32], out: &mut Vec<f32>) {
        let dim = self.rms.mean.len();
        out.clear();
        out.extend(raw.iter().enumerate().map(|(k, &x)| {
            let j = k % dim;
            let z = (f64::from(x) - self.rms.mean[j]) / (self.rms.var[j] + self.epsilon).sqrt();
            z.clamp(-self.clip, self.clip) as f32
        }));
    }
}

/// The reward half of a [`Normalizer`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RewardNorm {
    /// The running statistics of the discounted returns.
    pub rms: RunningMeanStd,
    /// Each environment's discounted return so far.
    pub returns: Vec<f64>,
    /// The discount of the returns.
    pub gamma: f64,
    /// Scaled rewards are clipped to `[-clip, clip]`.
    pub clip: f64,
    /// Added to the variance under the square root.
    pub epsilon: f64,
}

/// Running normalisation of a vectorised environment's observations and rewards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalizer {
    /// Observations, when normalised.
    pub obs: Option<ObsNorm>,
    /// Rewards, when scaled.
    pub reward: Option<RewardNorm>,
    /// Whether the statistics still move.
    pub training: bool,
}

impl Normalizer {
    /// Fresh statistics for `n_envs` environments with `obs_dim`-sized observations;
    /// `reward_gamma` is the discount of the returns whose spread scales the rewards.
    pub fn new(obs_dim: usize, n_envs: usize, obs: bool, reward_gamma: Option<f64>) -> Self {
        Self {
            obs: obs.then(|| ObsNorm::new(obs_dim)),
            reward: reward_gamma.map(|gamma| RewardNorm {
                rms: RunningMeanStd::new(1),
                returns: vec![0.0; n_envs],
                gamma,
                clip: NORM_CLIP,
                epsilon: NORM_EPSILON,
            }),
            training: true,
        }
    }

    /// Whether it does anything.
    pub fn is_active(&self) -> bool {
        self.obs.is_some() || self.reward.is_some()
    }

    /// The same statistics, no longer moving (evaluation).
    pub fn freeze(mut self) -> Self {
        self.training = false;
        self
    }

    /// A batch of fresh observations (after a reset, or a step's, auto-reset ones
    /// included): folds them into the statistics when training, then normalises them
    /// into `out`.
    pub fn observe(&mut self, raw: &[f32], out: &mut Vec<f32>) {
        match &mut self.obs {
            Some(o) => {
                if self.training {
                    let dim = o.rms.mean.len();
                    o.rms.update(raw, raw.len() / dim.max(1));
                }
                o.apply(raw, out);
            }
            None => {
                out.clear();
                out.extend_from_slice(raw);
            }
        }
    }

    /// Normalises observations (a truncated episode's final ones) without moving the
    /// statistics.
    pub fn normalize_obs(&self, raw: &[f32], out: &mut Vec<f32>) {
        match &self.obs {
            Some(o) => o.apply(raw, out),
            None => {
                out.clear();
                out.extend_from_slice(raw);
            }
        }
    }

    /// A step's rewards and end flags (`done = terminated || truncated`, per
    /// environment): updates the discounted returns and their statistics when training,
    /// scales the rewards into `out`, then forgets the returns of ended episodes.
    pub fn rewards(&mut self, raw: &[f32], done: &[bool], out: &mut Vec<f32>) {
        out.clear();
        let Some(r) = &mut self.reward else {
            out.extend_from_slice(raw);
            return;
        };
        if self.training {
            for (ret, &x) in r.returns.iter_mut().zip(raw) {
                *ret = *ret * r.gamma + f64::from(x);
            }
            r.rms.update(&r.returns, r.returns.len());
        }
        let scale = (r.rms.var[0] + r.epsilon).sqrt();
        out.extend(
            raw.iter()
                .map(|&x| (f64::from(x) / scale).clamp(-r.clip, r.clip) as f32),
        );
        for (ret, &d) in r.returns.iter_mut().zip(done) {
            if d {
                *ret = 0.0;
            }
        }
    }

    /// Checks saved statistics against `want`, the fresh normaliser of the configuration
    /// they belong to: the same halves, `want`'s observation size and number of
    /// environments, finite values, positive clips and epsilons, `gamma` in [0, 1].
    pub fn check(&self, want: &Normalizer) -> Result<(), String> {
        if self.obs.is_some() != want.obs.is_some()
            || self.reward.is_some() != want.reward.is_some()
        {
            return Err(format!(
                "the normalisation does not match the configuration (normalize_obs {}, normalize_reward {})",
                want.obs.is_some(),
                want.reward.is_some()
            ));
        }
        let bounds_ok = |clip: f64, epsilon: f64| {
            clip > 0.0 && epsilon > 0.0 && clip.is_finite() && epsilon.is_finite()
        };
        if let (Some(o), Some(w)) = (&self.obs, &want.obs) {
            let obs_dim = w.rms.mean.len();
            if o.rms.mean.len() != obs_dim || !o.rms.is_valid() || !bounds_ok(o.clip, o.epsilon) {
                return Err(format!(
                    "the observation statistics are not those of {obs_dim}-sized observations with finite values"
                ));
            }
        }
        if let (Some(r), Some(w)) = (&self.reward, &want.reward) {
            let n_envs = w.returns.len();
            if r.rms.mean.len() != 1
                || !r.rms.is_valid()
                || r.returns.len() != n_envs
                || !r.returns.iter().all(|x| x.is_finite())
                || !(0.0..=1.0).contains(&r.gamma)
                || !bounds_ok(r.clip, r.epsilon)
            {
                return Err(format!(
                    "the reward statistics are not those of {n_envs} environments with finite values"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_statistics_match_the_whole_sample() {
        // Merged batch by batch, the statistics are those of every sample at once (up
        // to the 1e-4 starting count's weight).
        let mut rms = RunningMeanStd::new(2);
        let data: Vec<f64> = (0..60)
            .map(|i| ((i * 37 % 11) as f64) * 0.5 - 1.0)
            .collect();
        for chunk in data.chunks(6) {
            rms.update(chunk, 3);
        }
        for j in 0..2 {
            let col: Vec<f64> = data.iter().skip(j).step_by(2).copied().collect();
            let mean = col.iter().sum::<f64>() / 30.0;
            let var = col.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 30.0;
            assert!((rms.mean[j] - mean).abs() < 1e-5, "{} {mean}", rms.mean[j]);
            assert!((rms.var[j] - var).abs() < 1e-4, "{} {var}", rms.var[j]);
        }
        assert!((rms.count - 30.0001).abs() < 1e-9);
    }

    #[test]
    fn sb3_vecnormalize_by_hand() {
        // Two environments, one-dimensional observations, worked through SB3's
        // VecNormalize.step_wait by hand.
        let mut n = Normalizer::new(1, 2, true, Some(0.5));
        let mut out = Vec::new();
        n.observe(&[1.0, 3.0], &mut out);
        // count 2.0001, mean = 2 * 2 / 2.0001, var = (1e-4 + 2 + 4 * 1e-4 * 2 / 2.0001) / 2.0001.
        let c = 2.0001_f64;
        let mean = 4.0 / c;
        let var = (1e-4 + 2.0 + 4.0 * 1e-4 * 2.0 / c) / c;
        let o = n.obs.as_ref().unwrap();
        assert!((o.rms.mean[0] - mean).abs() < 1e-12);
        assert!((o.rms.var[0] - var).abs() < 1e-12);
        let want = ((1.0 - mean) / (var + 1e-8).sqrt()) as f32;
        assert_eq!(out[0], want);

        // Rewards: returns [2, -2] -> mean 0, var 4 (weighted with the start).
        n.rewards(&[2.0, -2.0], &[false, true], &mut out);
        let r = n.reward.as_ref().unwrap();
        let var_r = (1e-4 + 4.0 * 2.0 + 0.0) / c;
        assert!((r.rms.var[0] - var_r).abs() < 1e-12);
        assert_eq!(out[0], (2.0 / (var_r + 1e-8).sqrt()) as f32);
        assert_eq!(r.returns, vec![2.0, 0.0]);

        // Clipping, and frozen statistics do not move.
        let frozen = n.clone().freeze();
        let mut f = frozen.clone();
        f.observe(&[1e9, -1e9], &mut out);
        assert_eq!(out, vec![10.0, -10.0]);
        assert_eq!(f, frozen);
    }

    #[test]
    fn saved_statistics_are_checked() {
        let n = Normalizer::new(3, 2, true, Some(0.99));
        assert!(n.check(&Normalizer::new(3, 2, true, Some(0.99))).is_ok());
        assert!(n.check(&Normalizer::new(4, 2, true, Some(0.99))).is_err());
        assert!(n.check(&Normalizer::new(3, 1, true, Some(0.99))).is_err());
        let e = n.check(&Normalizer::new(3, 2, true, None)).unwrap_err();
        assert!(e.contains("normalize_reward false"), "{e}");
        let want = n.clone();
        let mut bad = n.clone();
        bad.obs.as_mut().unwrap().rms.var[1] = -1.0;
        assert!(bad.check(&want).is_err());
        let mut bad = n;
        bad.reward.as_mut().unwrap().rms.count = f64::NAN;
        assert!(bad.check(&want).is_err());
    }
}
