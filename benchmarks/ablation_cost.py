"""What the ablations cost per refit, side by side in ONE process (rounds alternate, so load hits all alike).

    python benchmarks/ablation_cost.py [--env hopper] [--batch 100000] [--length 1] [--rounds 7]

Rollouts of ``--batch`` branches for ``--length`` steps through a paper-sized ensemble (7 x 4 x 200, 5
elites) and SAC actor (256, 256), as `mbpo.train` branches them: plain (`default`), with the uncertainty
penalty (every elite on every branch), and with the learned termination classifier in place of the env's
rule; and one refit of the classifier (500 Adam steps) on ``--real`` transitions. Weights are random: the
timing does not depend on them. Prints the median seconds per call over rounds and the ratio to plain.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mbpo.config import resolve
from mbpo.envs import make_env
from mbpo.model_usage import rollout_termination
from mbpo.models.ensemble import GaussianEnsemble
from mbpo.models.termination_net import TerminationNet, fit_termination, make_termination_optimizer
from mbpo.rollout import branched_rollout
from mbpo.sac import SAC
from mbpo.uncertainty import RewardPenalty


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="hopper")
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--length", type=int, default=1)
    parser.add_argument("--real", type=int, default=100_000, help="real transitions the classifier refits on")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    cfg = resolve({"env": args.env, "algo": "mbpo"})
    env = make_env(cfg.env)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    torch.manual_seed(0)
    model = GaussianEnsemble(obs_dim, act_dim, cfg.model)
    model.set_elites([0, 2, 3, 5, 6])
    agent = SAC(obs_dim, act_dim, env.action_space.low, env.action_space.high, cfg.target_entropy, cfg.sac)
    start = torch.randn(args.batch, obs_dim)
    net = TerminationNet(obs_dim, cfg.termination_net)
    net.trained.fill_(True)
    static, learned = rollout_termination(cfg), net.predict
    penalty = RewardPenalty(1.0)
    real_obs = torch.randn(args.real, obs_dim)
    real_done = (torch.rand(args.real) < 0.02).float()
    optim = make_termination_optimizer(TerminationNet(obs_dim, cfg.termination_net))

    def rollout(is_terminal, with_penalty=None):
        return lambda: branched_rollout(model, agent, is_terminal, start, args.length, torch.Generator(), with_penalty)

    sides = {
        "default (plain rollout)": rollout(static),
        "penalty (all elites per branch)": rollout(static, penalty),
        "learned-termination (rollout)": rollout(learned),
        "learned-termination (classifier refit)": lambda: fit_termination(
            TerminationNet(obs_dim, cfg.termination_net), optim, real_obs, real_done, torch.Generator().manual_seed(0)
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.rounds):
        for name, fn in sides.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["default (plain rollout)"])
    print(f"{cfg.env}: {args.batch} branches x k={args.length}, {args.threads} thread(s), {args.rounds} rounds")
    for name, ts in times.items():
        median = statistics.median(ts)
        print(f"  {name:42s} {median:8.3f} s   {median / base:5.2f}x plain rollout")


if __name__ == "__main__":
    main()
