//! One update, top to bottom: rollout, old statistics, advantages, epochs of minibatch
//! losses and optimiser steps, metrics.

use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use rl_core::rng::{Rng, RngExt};
use rl_core::{Batch, normalize_in_place};
use rl_models::{ActionBatch, ActionHead, Evaluation, read_f32};

use super::Learner;
use crate::actor::Actor;
use crate::error::TrainError;
use crate::grad_clip::clip_global_norm;
use crate::loss::{LossCoefs, Objective, PolicyObjective, Targets, ValueObjective, loss};
use crate::report::{Stats, UpdateReport};
use crate::rollout::Plan;

impl<B: AutodiffBackend> Learner<B> {
    /// One rollout, then the recipe's epochs of minibatch steps.
    pub fn update(&mut self) -> Result<UpdateReport, TrainError> {
        let recipe = self.recipe;
        if self.team.is_some() {
            self.check_same_weights()?;
        }
        let before = self.counters;
        // Rollout.
        // A new actor per rollout: gSDE draws fresh exploration matrices at its start.
        let mut actor = Actor::new(self.model.valid(), self.obs_dim, self.cfg.acting)
            .with_sde_sample_freq(self.cfg.sde_sample_freq);
        let plan = self.plan();
        let episodes = self.rollout.collect(
            &mut *self.envs,
            &mut self.norm,
            &mut actor,
            &mut self.rng,
            &self.device,
            plan,
            &mut self.counters,
        )?;
        drop(actor);
        let episodes = match self.team.is_some() {
            true => self.gather_episodes(before, episodes)?,
            false => episodes,
        };
        self.updates += 1;
        let n = self.rollout.len();
        let all: Vec<usize> = (0..n).collect();

        // Old statistics. A single full-batch step takes V(s_t) from its own forward (the
        // bits an inference forward gives, one forward fewer); several steps need the
        // rollout's log-probabilities and values as they were before the first one.
        let mut single = None;
        let mut truncation_values = None;
        if recipe.is_single_step() {
            self.rollout.gather(&all, &mut self.minibatch);
            let (obs, actions, masks) = self.inputs();
            let eval = self.model.evaluate_masked(obs, actions, masks);
            if recipe.estimator.needs_values()
                && let Some(v) = &eval.value
            {
                self.rollout.old_values = read_f32(v.clone().inner());
            }
            single = Some(eval);
        } else {
            truncation_values = self.old_statistics(&all);
        }

        // Advantages.
        let truncation_values = truncation_values.unwrap_or_else(|| self.truncation_values());
        let est = recipe.estimator.compute(
            &Batch {
                rewards: &self.rollout.rewards,
                terminated: &self.rollout.terminated,
                truncated: &self.rollout.truncated,
                values: &self.rollout.old_values,
                truncation_values: &truncation_values,
            },
            self.cfg.gamma as f32,
            recipe.normalize_returns,
        )?;
        self.rollout.advantages = est.advantages;
        self.rollout.returns = est.returns;

        // Epochs of minibatch steps.
        let lr = self.learning_rate();
        let objective = self.objective();
        let coefs = LossCoefs {
            vf_coef: self.cfg.vf_coef as f32,
            ent_coef: self.cfg.ent_coef as f32,
        };
        let mut rows = all;
        let mut stats = Stats::default();
        let mut epochs = 0;
        for _ in 0..recipe.epochs {
            epochs += 1;
            if single.is_none() {
                shuffle(&mut rows, &mut self.shuffle_rng);
            }
            let mut last_kl = None;
            let mut last_team_kl = None;
            for mb in rows.chunks(n / recipe.minibatches) {
                // Loss.
                self.rollout.gather(mb, &mut self.minibatch);
                if recipe.norm_adv {
                    normalize_in_place(&mut self.minibatch.advantages);
                }
                let eval = match single.take() {
                    Some(eval) => eval,
                    None => {
                        let (obs, actions, masks) = self.inputs();
                        self.model.evaluate_masked(obs, actions, masks)
                    }
                };
                let l = loss(eval, self.targets(), objective, coefs);

                // Optimiser step.
                let mut grads = GradientsParams::from_grads(l.total.backward(), &self.model);
                let kl = l.diagnostics.as_ref().map(|d| d.approx_kl.clone().inner());
                let team_kl = match self.team.is_some() {
                    true => self.mean_gradients(&mut grads, kl.clone())?,
                    false => None,
                };
                let grad_norm = self.cfg.max_grad_norm.map(|m| {
                    clip_global_norm::<B, _>(&self.model, &mut grads, m as f32, &self.device)
                });
                self.model = self.optim.step(lr, self.model.clone(), grads);
                last_kl = kl;
                last_team_kl = team_kl;
                stats.add(&l, grad_norm);
            }
            // CleanRL's early stop: the last minibatch's KL estimate, read only when a
            // target is set (the workers' mean in a data-parallel run, so all stop
            // together).
            let kl = match (last_team_kl, last_kl) {
                (Some(mean), _) => Some(mean),
                (None, Some(kl)) if self.cfg.target_kl.is_some() => Some(read_f32(kl)[0]),
                _ => None,
            };
            if let (Some(target), Some(kl)) = (self.cfg.target_kl, kl)
                && f64::from(kl) > target
            {
                break;
            }
        }

        // Metrics: one read-back for the update.
        let m = stats.read();
        if !m.finite() {
            return Err(TrainError::NonFinite {
                update: self.updates,
                policy_loss: m.policy_loss,
                value_loss: m.value_loss,
                entropy: m.entropy,
            });
        }
        let wall_time = self.elapsed();
        Ok(UpdateReport {
            update: self.updates,
            episodes,
            env_steps: self.counters.env_steps,
            learning_rate: lr,
            policy_loss: m.policy_loss,
            value_loss: m.value_loss,
            entropy: m.entropy,
            grad_norm: m.grad_norm,
            approx_kl: m.approx_kl,
            old_approx_kl: m.old_approx_kl,
            clipfrac: m.clipfrac,
            explained_variance: self.explained_variance(),
            epochs,
            sps: self.counters.env_steps as f64 / wall_time.max(1e-9),
            wall_time,
        })
    }

    /// The rollout plan of the configuration.
    fn plan(&self) -> Plan {
        let n = self.cfg.n_envs;
        match self.cfg.steps_per_update {
            Some(s) => Plan::Steps { per_env: s / n },
            None => Plan::Episodes {
                per_env: self.cfg.episodes_per_update / n,
            },
        }
    }

    /// CleanRL's annealing fraction of the current update, `1 - (update - 1) / updates`:
    /// a function of the update's number only, so a resumed run continues the schedule
    /// exactly.
    fn anneal_fraction(&self) -> f64 {
        match self.cfg.planned_updates() {
            Some(total) => (1.0 - (self.updates - 1) as f64 / total.max(1) as f64).max(0.0),
            None => 1.0,
        }
    }

    /// The learning rate of the current update, annealed with `anneal_lr`.
    fn learning_rate(&self) -> f64 {
        if self.cfg.anneal_lr {
            self.cfg.lr * self.anneal_fraction()
        } else {
            self.cfg.lr
        }
    }

    /// The objective of the current update: with `anneal_clip`, PPO's clipping
    /// coefficients annealed as the learning rate (rl-zoo's `lin_` clip ranges).
    fn objective(&self) -> Objective {
        let mut o = self.recipe.objective;
        if self.cfg.anneal_clip {
            let frac = self.anneal_fraction() as f32;
            if let PolicyObjective::Clipped { clip_coef } = &mut o.policy {
                *clip_coef *= frac;
            }
            if let ValueObjective::HalfMse { clip: Some(c) } = &mut o.value {
                *c *= frac;
            }
        }
        o
    }

    /// `log pi_old` and `V_old` of every step of the rollout, from the inference network
    /// (no autodiff graph), and, for an estimator that bootstraps, `V` of every truncated
    /// step's final observation placed at its step: one forward over the rollout's
    /// observations and the final ones, one read-back.
    fn old_statistics(&mut self, all: &[usize]) -> Option<Vec<f32>> {
        self.rollout.gather(all, &mut self.minibatch);
        let n = all.len();
        let bootstraps = self.recipe.estimator.bootstraps();
        let k = if bootstraps {
            self.rollout.truncation_obs.len() / self.obs_dim
        } else {
            0
        };
        // The final observations ride along with any action (their log-probabilities
        // are not read).
        let mb = &mut self.minibatch;
        mb.obs
            .extend_from_slice(&self.rollout.truncation_obs[..k * self.obs_dim]);
        let w = self.head.action_width();
        match self.head {
            ActionHead::Gaussian { .. } => mb.continuous.resize((n + k) * w, 0.0),
            _ => mb.discrete.resize((n + k) * w, 0),
        }
        if !mb.masks.is_empty() {
            // Every action allowed: the rows are a value's, their actions made up.
            let mask_w = mb.masks.len() / n;
            mb.masks.resize((n + k) * mask_w, true);
        }
        let (obs, actions, masks) = mb.tensors(self.obs_dim, &self.head, &self.device);
        let Evaluation {
            log_prob, value, ..
        } = self.model.valid().evaluate_masked(obs, actions, masks);
        let all = match value {
            Some(v) => read_f32(Tensor::cat(vec![log_prob, v], 0)),
            None => read_f32(log_prob),
        };
        let (log_probs, values) = all.split_at(n + k);
        self.rollout.old_log_probs = log_probs[..n].to_vec();
        self.rollout.old_values = values.get(..n).unwrap_or_default().to_vec();
        bootstraps.then(|| {
            let mut out = vec![0.0; n];
            let finals = values.get(n..).unwrap_or_default();
            for (t, &v) in self.rollout.truncation_steps().zip(finals) {
                out[t] = v;
            }
            out
        })
    }

    /// `V` of every truncated step's final observation, placed at its step, for the
    /// estimators that bootstrap (computed on the inference copy: no graph).
    fn truncation_values(&self) -> Vec<f32> {
        if !self.recipe.estimator.bootstraps() {
            return Vec::new();
        }
        let mut out = vec![0.0; self.rollout.len()];
        let k = self.rollout.truncation_obs.len() / self.obs_dim;
        if k == 0 {
            return out;
        }
        let obs = Tensor::<B::InnerBackend, 2>::from_data(
            TensorData::new(self.rollout.truncation_obs.clone(), [k, self.obs_dim]),
            &self.device,
        );
        let values = self
            .model
            .valid()
            .value_forward(obs)
            .map(read_f32)
            .unwrap_or_else(|| vec![0.0; k]);
        for (t, v) in self.rollout.truncation_steps().zip(values) {
            out[t] = v;
        }
        out
    }

    /// `1 - Var(R - V_old) / Var(R)` over the rollout, population variances in f64, as
    /// CleanRL computes it; `None` without values.
    fn explained_variance(&self) -> Option<f64> {
        let (y, v) = (&self.rollout.returns, &self.rollout.old_values);
        if v.len() != y.len() || y.is_empty() {
            return None;
        }
        let var = |x: &mut dyn Iterator<Item = f64>| {
            let x: Vec<f64> = x.collect();
            let mean = x.iter().sum::<f64>() / x.len() as f64;
            x.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / x.len() as f64
        };
        let var_y = var(&mut y.iter().map(|&a| f64::from(a)));
        let var_d = var(&mut y.iter().zip(v).map(|(&a, &b)| f64::from(a) - f64::from(b)));
        Some(if var_y == 0.0 {
            f64::NAN
        } else {
            1.0 - var_d / var_y
        })
    }

    /// The minibatch's observations, actions and action masks on the autodiff backend.
    fn inputs(&self) -> (Tensor<B, 2>, ActionBatch<B>, Option<Tensor<B, 2, Bool>>) {
        self.minibatch
            .tensors(self.obs_dim, &self.head, &self.device)
    }

    /// The minibatch's constants.
    fn targets(&self) -> Targets<B> {
        let mb = &self.minibatch;
        let t = |v: &Vec<f32>| {
            Tensor::<B, 1>::from_data(TensorData::new(v.clone(), [v.len()]), &self.device)
        };
        let objective = self.recipe.objective;
        Targets {
            advantages: t(&mb.advantages),
            returns: t(&mb.returns),
            old_log_probs: objective
                .needs_old_log_probs()
                .then(|| t(&mb.old_log_probs)),
            old_values: objective.needs_old_values().then(|| t(&mb.old_values)),
        }
    }
}

/// Fisher-Yates, drawing from `rng` (numpy's `shuffle` in CleanRL; any fixed algorithm
/// does, since the draws are ours).
fn shuffle(rows: &mut [usize], rng: &mut Rng) {
    for i in (1..rows.len()).rev() {
        let j = rng.random_range(0..=i);
        rows.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Algo, TrainConfig};
    use rl_models::backend::{TrainBackend as B, device};

    fn tiny_ppo() -> TrainConfig {
        TrainConfig {
            hidden: vec![4],
            n_envs: 2,
            steps_per_update: Some(16),
            minibatches: 2,
            epochs: 2,
            total_steps: Some(4 * 16),
            ..TrainConfig::for_algo(Algo::Ppo)
        }
    }

    #[test]
    fn the_learning_rate_anneals_as_cleanrl_over_the_step_budget() {
        let mut l = Learner::<B>::new(tiny_ppo(), device()).unwrap();
        let lrs: Vec<f64> = (0..4).map(|_| l.update().unwrap().learning_rate).collect();
        let lr = tiny_ppo().lr;
        assert_eq!(lrs, [lr, lr * 0.75, lr * 0.5, lr * 0.25]);
        assert!(l.is_done());
        // Without annealing, the rate stays.
        let mut l = Learner::<B>::new(
            TrainConfig {
                anneal_lr: false,
                ..tiny_ppo()
            },
            device(),
        )
        .unwrap();
        assert_eq!(l.update().unwrap().learning_rate, lr);
        assert_eq!(l.update().unwrap().learning_rate, lr);
    }

    #[test]
    fn annealing_the_clip_scales_both_clipping_coefficients() {
        let mut l = Learner::<B>::new(
            TrainConfig {
                anneal_clip: true,
                ..tiny_ppo()
            },
            device(),
        )
        .unwrap();
        l.update().unwrap();
        l.update().unwrap();
        // The third of four updates: fraction 0.5.
        l.updates = 2 + 1;
        let o = l.objective();
        assert_eq!(o.policy, PolicyObjective::Clipped { clip_coef: 0.1 });
        assert_eq!(o.value, ValueObjective::HalfMse { clip: Some(0.1) });
    }

    #[test]
    fn ppo_reports_its_diagnostics_and_a2c_does_not() {
        let mut l = Learner::<B>::new(tiny_ppo(), device()).unwrap();
        let r = l.update().unwrap();
        assert_eq!(r.epochs, 2);
        // The first minibatch starts at the rollout's policy: ratio 1 there.
        assert!(r.approx_kl.is_some() && r.clipfrac.is_some() && r.old_approx_kl.is_some());
        assert!(r.explained_variance.is_some() && r.grad_norm.is_some());
        let a2c = TrainConfig {
            hidden: vec![4],
            total_steps: Some(100),
            ..TrainConfig::for_algo(Algo::A2c)
        };
        let r = Learner::<B>::new(a2c, device()).unwrap().update().unwrap();
        assert!(r.approx_kl.is_none() && r.clipfrac.is_none());
        assert_eq!(r.epochs, 1);
        // The lesson's learners have no value network to explain with, or (baseline) one.
        let r = Learner::<B>::new(
            TrainConfig {
                algo: Algo::Reinforce,
                ..TrainConfig::default()
            },
            device(),
        )
        .unwrap()
        .update()
        .unwrap();
        assert!(r.explained_variance.is_none() && r.grad_norm.is_none());
    }

    #[test]
    fn target_kl_stops_the_epochs_early() {
        let cfg = TrainConfig {
            epochs: 10,
            lr: 0.05,
            target_kl: Some(1e-6),
            anneal_lr: false,
            ..tiny_ppo()
        };
        let mut l = Learner::<B>::new(cfg, device()).unwrap();
        let r = l.update().unwrap();
        assert!(r.epochs < 10, "{} epochs ran", r.epochs);
    }
}
