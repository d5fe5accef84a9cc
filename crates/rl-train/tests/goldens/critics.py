"""Golden cases whose critic is shaped differently from the actor (a separate value
network with its own hidden sizes, SB3's `net_arch=dict(pi=[...], vf=[...])`), for the
lesson's learners (`pg_loss_critics.json`, `pg_loss.json`'s format) and for PPO and A2C
(`ppo_loss_critics.json`, `ppo_loss.json`'s format): PyTorch, float64.

The shared golden files (`../shared/goldens/`) have separate critics of the actor's
shape only. This script starts from their cases, gives each a critic of other sizes
(new weights drawn by `nn.Linear`'s default initialisation from a fixed seed), and
computes every expected number again with the formulas of the goldens' README. It first
recomputes every shared case unchanged and checks it reproduces the shared numbers to
1e-12, so the formulas here are the ones the shared files were made with.

    python critics.py ../../../../../shared/goldens   # writes the two files here

Needs torch (`pip install torch numpy`); the result is committed, so the tests need
neither Python nor the shared folder.
"""

import json
import math
import pathlib
import sys

import torch

torch.set_default_dtype(torch.float64)
HERE = pathlib.Path(__file__).parent


def t(x):
    return torch.tensor(x, dtype=torch.float64)


def tanh_mlp(weights, prefix, count, x):
    for i in range(count):
        layer = weights[f"{prefix}.{i}"]
        x = torch.tanh(x @ layer["weight"].T + layer["bias"])
    return x


def linear(layer, x):
    return x @ layer["weight"].T + layer["bias"]


def as_params(raw):
    """JSON weights as tensors that need a gradient."""
    return {
        name: {k: t(v).requires_grad_(True) for k, v in layer.items()}
        for name, layer in raw.items()
    }


def grads_of(params):
    return {
        name: {k: (v.grad if v.grad is not None else torch.zeros_like(v)).tolist() for k, v in layer.items()}
        for name, layer in params.items()
    }


def network(case, params, obs):
    """The policy head's output and the values, as the README's conventions say."""
    hidden = case["hidden"]
    h = tanh_mlp(params, "trunk", len(hidden), obs)
    out = linear(params["policy"], h)
    if case.get("shared_trunk", True):
        hv = h
    else:
        hv = tanh_mlp(params, "value_trunk", len(case["value_hidden"]), obs)
    values = linear(params["value"], hv).squeeze(-1) if "value" in params else None
    return out, values


def gaussian(params, mean, actions):
    log_std = params["policy"]["log_std"]
    std = torch.exp(log_std)
    log_prob = (-((actions - mean) ** 2) / (2 * std**2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
    entropy = (0.5 + 0.5 * math.log(2 * math.pi) + log_std).sum().expand(mean.shape[0])
    return log_prob, entropy, std


def categorical(logits, actions):
    logp = torch.log_softmax(logits, -1)
    log_prob = logp.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
    entropy = -(torch.softmax(logits, -1) * logp).sum(-1)
    return log_prob, entropy


def ppo_expected(case):
    params = as_params(case["weights"])
    b = case["batch"]
    obs = t(b["obs"])
    out, v = network(case, params, obs)
    e = {}
    if case["kind"] == "ppo_discrete":
        log_prob, entropy = categorical(out, t(b["actions"]))
        e["logits"] = out
    else:
        log_prob, entropy, std = gaussian(params, out, t(b["actions"]))
        e["action_mean"] = out
        e["action_std"] = std
    clip = case["clip_coef"]
    logratio = log_prob - t(b["old_log_probs"])
    ratio = torch.exp(logratio)
    adv = t(b["advantages"])
    if case["norm_adv"]:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    pg_losses = torch.max(-adv * ratio, -adv * torch.clamp(ratio, 1 - clip, 1 + clip))
    old_v, returns = t(b["old_values"]), t(b["returns"])
    v_clipped = old_v + torch.clamp(v - old_v, -clip, clip)
    if case["clip_vloss"]:
        v_losses = torch.max((v - returns) ** 2, (v_clipped - returns) ** 2)
    else:
        v_losses = (v - returns) ** 2
    pg_loss = pg_losses.mean()
    v_loss = 0.5 * v_losses.mean()
    entropy_loss = entropy.mean()
    loss = pg_loss - case["ent_coef"] * entropy_loss + case["vf_coef"] * v_loss
    loss.backward()
    e.update(
        new_log_probs=log_prob,
        entropies=entropy,
        values=v,
        logratio=logratio,
        ratio=ratio,
        advantages_used=adv,
        pg_losses=pg_losses,
        v_clipped=v_clipped,
        v_losses=v_losses,
        pg_loss=pg_loss,
        v_loss=v_loss,
        entropy_loss=entropy_loss,
        entropy_mean=entropy_loss,
        loss=loss,
        approx_kl=((ratio - 1) - logratio).mean(),
        old_approx_kl=(-logratio).mean(),
        clipfrac=((ratio - 1).abs() > clip).double().mean(),
    )
    out = {k: v.detach().tolist() for k, v in e.items()}
    out["grads"] = grads_of(params)
    return out


def gae(r):
    """The README's recursion over a time-major rollout: advantages and returns."""
    T, N = r["T"], r["N"]
    g, lam = r["gamma"], r["gae_lambda"]
    adv = [[0.0] * N for _ in range(T)]
    ret = [[0.0] * N for _ in range(T)]
    for n in range(N):
        a_next = 0.0
        for s in reversed(range(T)):
            term, trunc = r["terminated"][s][n], r["truncated"][s][n]
            v = r["values"][s][n]
            if trunc or s == T - 1:
                v_next = r["bootstrap_value"][s][n]
                v_next = 0.0 if v_next is None else v_next
            else:
                v_next = r["values"][s + 1][n]
            delta = r["rewards"][s][n] + g * v_next * (1 - term) - v
            done = term or trunc
            a = delta + (0.0 if s == T - 1 else g * lam * (1 - done) * a_next)
            adv[s][n] = a
            ret[s][n] = a + v
            a_next = a
    return adv, ret


def a2c_expected(case):
    params = as_params(case["weights"])
    b = case["batch"]
    obs = t(b["obs"])
    out, v = network(case, params, obs)
    e = {}
    if case["policy_type"] == "categorical":
        log_prob, entropy = categorical(out, t(b["actions"]))
        e["logits"] = out
    else:
        log_prob, entropy, std = gaussian(params, out, t(b["actions"]))
        e["action_mean"] = out
        e["action_std"] = std
    adv = t(b["advantages"])
    if case["normalize_advantage"]:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    policy_loss = -(adv * log_prob).mean()
    value_loss = ((t(b["returns"]) - v) ** 2).mean()
    entropy_loss = -entropy.mean()
    loss = policy_loss + case["ent_coef"] * entropy_loss + case["vf_coef"] * value_loss
    loss.backward()
    e.update(
        log_probs=log_prob,
        entropies=entropy,
        values=v,
        advantages_used=adv,
        policy_loss=policy_loss,
        value_loss=value_loss,
        entropy_loss=entropy_loss,
        entropy_mean=entropy.mean(),
        loss=loss,
    )
    out = {k: v.detach().tolist() for k, v in e.items()}
    out["grads"] = grads_of(params)
    return out


def pg_expected(case):
    """The lesson's layer-3 loss (pg_loss.json), with a separate critic if the case has
    one."""
    params = as_params(case["weights"])
    b = case["batch"]
    obs = t(b["obs"])
    out, v = network(case, params, obs)
    log_prob, entropy = categorical(out, t(b["actions"]))
    rewards = b["rewards"]
    returns = [0.0] * len(rewards)
    g = 0.0
    for i in reversed(range(len(rewards))):
        if b["terminated"][i] or b["truncated"][i]:
            g = 0.0
        g = rewards[i] + case["gamma"] * g
        returns[i] = g
    returns = t(returns)
    targets = (returns - returns.mean()) / (returns.std() + 1e-8) if case["normalize_returns"] else returns
    if case["baseline"]:
        policy_loss = -(log_prob * (targets - v.detach())).mean()
        value_loss = ((v - targets) ** 2).mean()
    else:
        policy_loss = -(log_prob * targets).mean()
        value_loss = torch.zeros(())
    entropy_mean = entropy.mean()
    loss = policy_loss + case["vf_coef"] * value_loss - case["ent_coef"] * entropy_mean
    loss.backward()
    e = dict(
        returns=returns,
        targets=targets,
        log_probs=log_prob,
        entropy=entropy,
        policy_loss=policy_loss,
        value_loss=value_loss,
        entropy_mean=entropy_mean,
        loss=loss,
    )
    out = {k: v.detach().tolist() for k, v in e.items()}
    out["values"] = v.detach().tolist() if v is not None else []
    out["grads"] = grads_of(params)
    return out


def compare(name, got, want, path=""):
    """Asserts `got` reproduces `want` to 1e-12 (relative, or absolute near zero)."""
    if isinstance(want, dict):
        for k in want:
            compare(name, got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert len(got) == len(want), f"{name}{path}: length {len(got)} != {len(want)}"
        for i, (a, b) in enumerate(zip(got, want)):
            compare(name, a, b, f"{path}[{i}]")
    elif isinstance(want, (int, float)) and not isinstance(want, bool):
        assert abs(got - want) <= 1e-12 * max(1.0, abs(want)), f"{name}{path}: {got} != {want}"


def critic(obs_dim, sizes, generator):
    """A tanh MLP critic of `sizes` and its value head, nn.Linear's default init."""
    weights = {}
    d = obs_dim
    for i, h in enumerate(sizes):
        layer = torch.nn.Linear(d, h)
        weights[f"value_trunk.{i}"] = layer
        d = h
    weights["value"] = torch.nn.Linear(d, 1)
    out = {}
    for name, layer in weights.items():
        with torch.no_grad():
            bound = 1 / math.sqrt(layer.in_features)
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-bound, bound, generator=generator)
        out[name] = {"weight": layer.weight.tolist(), "bias": layer.bias.tolist()}
    return out


def with_critic(case, sizes, name, generator):
    """`case` with a separate critic of `sizes` in place of its value network."""
    new = json.loads(json.dumps(case))
    new["name"] = name
    new["shared_trunk"] = False
    new["value_hidden"] = sizes
    weights = {k: v for k, v in new["weights"].items() if not k.startswith("value")}
    weights.update(critic(new["obs_dim"], sizes, generator))
    new["weights"] = weights
    return new


def main(shared):
    shared = pathlib.Path(shared)
    ppo = json.loads((shared / "ppo_loss.json").read_text())
    pg = json.loads((shared / "pg_loss.json").read_text())
    # The formulas here are the shared files' formulas.
    for case in ppo["cases"]:
        kind = case["kind"]
        if kind in ("ppo_discrete", "ppo_gaussian"):
            compare(case["name"], ppo_expected(case), case["expected"])
        elif kind == "a2c":
            compare(case["name"], a2c_expected(case), case["expected"])
    for case in pg["cases"]:
        compare(case["name"], pg_expected(case), case["expected"])
    print("the shared cases are reproduced to 1e-12")

    generator = torch.Generator().manual_seed(20261208)
    by_name = {c["name"]: c for c in ppo["cases"]}
    cases = []
    # PPO: the critic's values change, so the batch's old values and returns move with
    # them by the same amount per row: every value change and clipped-term comparison
    # is the shared case's, which keeps its margins from the clipping boundaries.
    for base, sizes in [
        ("ppo-discrete-separate-critic", [16, 4]),
        ("ppo-discrete-shared", [6]),
        ("ppo-gaussian-pendulum", [5]),
        ("ppo-gaussian-2d-shared", [12, 6, 3]),
    ]:
        old = by_name[base]
        _, old_v = network(old, as_params(old["weights"]), t(old["batch"]["obs"]))
        case = with_critic(old, sizes, f"{base}-critic-{'-'.join(map(str, sizes))}", generator)
        _, v = network(case, as_params(case["weights"]), t(case["batch"]["obs"]))
        shift = (v - old_v).detach().tolist()
        for key in ("old_values", "returns"):
            case["batch"][key] = [x + s for x, s in zip(case["batch"][key], shift)]
        case["expected"] = ppo_expected(case)
        cases.append(case)
    # A2C: the rollout's values are the network's, and its advantages and returns their
    # GAE.
    for base, sizes in [("a2c-categorical", [10, 5]), ("a2c-gaussian-2d", [4])]:
        old = by_name[base]
        case = with_critic(old, sizes, f"{base}-critic-{'-'.join(map(str, sizes))}", generator)
        r = case["rollout"]
        _, v = network(case, as_params(case["weights"]), t(case["batch"]["obs"]))
        v = v.detach().tolist()
        r["values"] = [[v[s * r["N"] + n] for n in range(r["N"])] for s in range(r["T"])]
        adv, ret = gae(r)
        case["batch"]["advantages"] = [adv[s][n] for s in range(r["T"]) for n in range(r["N"])]
        case["batch"]["returns"] = [ret[s][n] for s in range(r["T"]) for n in range(r["N"])]
        case["expected"] = a2c_expected(case)
        cases.append(case)
    out = {
        "meta": {
            **ppo["meta"],
            "generator": f"PyTorch {torch.__version__}, float64 (crates/rl-train/tests/goldens/critics.py)",
            "critics": "every case has a separate critic shaped differently from the actor (value_hidden)",
        },
        "cases": cases,
    }
    (HERE / "ppo_loss_critics.json").write_text(json.dumps(out, indent=1))

    # The lesson's baseline learner with a separate critic of its own sizes.
    pg_cases = []
    for case, sizes in [(pg["cases"][0], [32]), (pg["cases"][2], [8, 12])]:
        assert case["baseline"]
        new = with_critic(case, sizes, f"{case['name']}-critic-{'-'.join(map(str, sizes))}", generator)
        new["loss_formula"] += "; value = value(value_trunk(obs)), a separate tanh MLP of value_hidden sizes"
        new["expected"] = pg_expected(new)
        pg_cases.append(new)
    out = {
        "meta": {
            **pg["meta"],
            "generator": f"PyTorch {torch.__version__}, float64 (crates/rl-train/tests/goldens/critics.py)",
            "critics": "where shared_trunk is false, value reads a separate tanh MLP value_trunk.0, value_trunk.1, ... of value_hidden sizes",
        },
        "cases": pg_cases,
    }
    (HERE / "pg_loss_critics.json").write_text(json.dumps(out, indent=1))
    print(f"wrote {len(cases)} PPO/A2C cases and {len(pg_cases)} lesson cases")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../../../../../shared/goldens")
