//! The lesson's credit table: for each step of an episode, the norm of
//! `grad_theta log pi(a_t | s_t)` over the policy's parameters.

use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use rl_models::{ActionBatch, ActionHead, ActorCritic};

use crate::grad_clip::global_norm;

/// `|grad_theta log pi(a_t | s_t)|` for every step: one backward pass per step, through
/// the trunk and the policy head (the value head gets no gradient from `log pi`).
/// `obs` holds `T * obs_dim` values; `actions` holds one index per step for a categorical
/// head, `action_dim` values per step for a Gaussian one.
pub fn grad_log_prob_norms<B: AutodiffBackend>(
    model: &ActorCritic<B>,
    head: &ActionHead,
    obs: &[f32],
    obs_dim: usize,
    actions: &[f32],
    masks: &[bool],
    device: &B::Device,
) -> Vec<f32> {
    let t_len = obs.len() / obs_dim;
    let width = actions.len() / t_len.max(1);
    let mask_width = masks.len() / t_len.max(1);
    (0..t_len)
        .map(|t| {
            let o = Tensor::<B, 2>::from_data(
                TensorData::new(obs[t * obs_dim..(t + 1) * obs_dim].to_vec(), [1, obs_dim]),
                device,
            );
            let a = &actions[t * width..(t + 1) * width];
            let ints: Vec<i64> = a.iter().map(|&x| x as i64).collect();
            let batch = ActionBatch::from_host(head, &ints, a, 1, device);
            let mask = (mask_width > 0).then(|| {
                let m = masks[t * mask_width..(t + 1) * mask_width].to_vec();
                Tensor::<B, 2, Bool>::from_data(TensorData::new(m, [1, mask_width]), device)
            });
            let out = model.policy_forward(o);
            let logp = match mask {
                Some(mask) => model.policy.log_prob_and_entropy(out, batch, Some(mask)).0,
                None => model.policy.log_prob(out, batch),
            }
            .sum();
            let grads = GradientsParams::from_grads(logp.backward(), model);
            global_norm::<B, _>(model, &grads, device)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::AutodiffModule;
    use rl_models::ActorCriticConfig;
    use rl_models::backend::{TrainBackend as B, device};

    #[test]
    fn norm_of_the_policy_gradient_by_hand_for_a_linear_policy() {
        // No hidden layer: logits = W s + b, so grad_W log pi(a) = (e_a - p) s^T and
        // grad_b = e_a - p; the norm is |e_a - p| * sqrt(|s|^2 + 1).
        let dev = device();
        let cfg = ActorCriticConfig::new(2, ActionHead::Categorical { n_actions: 2 })
            .with_hidden(vec![])
            .with_value(rl_models::ValueNetwork::None);
        let model = cfg.init_seeded::<B>(&mut rl_core::rng::seeded(0), &dev);
        let obs = [0.5_f32, -1.0];
        let logits = model.valid().policy_forward(Tensor::from_data(
            TensorData::new(obs.to_vec(), [1, 2]),
            &dev,
        ));
        let l: Vec<f32> = logits.into_data().to_vec().unwrap();
        let p1 = 1.0 / (1.0 + (l[0] - l[1]).exp());
        let diff = ((1.0_f32 - p1).powi(2) * 2.0).sqrt(); // e_1 - p = (-p0, 1 - p1), p0 = 1 - p1
        let want = diff * (0.25_f32 + 1.0 + 1.0).sqrt();
        let got = grad_log_prob_norms(&model, &cfg.action, &obs, 2, &[1.0], &[], &dev);
        assert!((got[0] - want).abs() < 1e-5, "{got:?} vs {want}");
    }
}
