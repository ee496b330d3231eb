"""Worker: time MBPO's hot paths for one or more code trees in ONE process, alternating between them.

    python benchmarks/hotpaths.py --tree new=. --tree old=/tmp/landed [--sb3] --data X.npz --out result.json

Each ``--tree NAME=PATH`` gets its own copy of the ``mbpo`` package, imported from ``PATH`` (so the landed
commit and this checkout run side by side), and every measurement alternates between the trees round
by round: a busy machine slows both alike, so their ratio holds even when the absolute times do not.
``--sb3`` adds stable-baselines3's SAC to the SAC rounds. Only interfaces every tree has are used:
``SAC.update``, ``ReplayBuffer``, ``fit_ensemble`` (its per-epoch ``log`` callback),
``GaussianEnsemble.predict``, ``branched_rollout``. On CUDA, a tree whose ``SACConfig`` has
``cuda_graph`` also gets a ``NAME+graph`` side (the captured update). Figures are seconds: the median and
min wall-clock over rounds, and the median process CPU time. Without ``--data`` the inputs are noise of
the env's sizes (for projections: the timing does not depend on the values, epochs are fixed here).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import itertools
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

MODULES = ("buffer", "sac", "rollout", "termination", "envs", "models.ensemble", "models.training")
ELITES = [0, 2, 3, 5, 6]


def import_tree(path: str) -> SimpleNamespace:
    """A namespace of the ``mbpo`` modules found under ``path`` (an independent copy per tree)."""
    for name in [m for m in sys.modules if m == "mbpo" or m.startswith("mbpo.")]:
        del sys.modules[name]
    sys.path.insert(0, str(Path(path).resolve()))
    try:
        modules = {m.replace("models.", ""): importlib.import_module(f"mbpo.{m}") for m in MODULES}
    finally:
        sys.path.pop(0)
    return SimpleNamespace(**modules, path=str(Path(modules["sac"].__file__).resolve().parent))


def clock(device: torch.device) -> tuple[float, float]:
    """(wall, process CPU) seconds, once the device's queued work is done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter(), time.process_time()


class Rounds:
    """Per side, the wall and CPU seconds of each round (divided by ``per``)."""

    def __init__(self) -> None:
        self.wall: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}

    def time(self, side: str, fn: Callable[[], object], device: torch.device, per: int = 1) -> None:
        w0, c0 = clock(device)
        fn()
        w1, c1 = clock(device)
        self.add(side, (w1 - w0) / per, (c1 - c0) / per)

    def add(self, side: str, wall: float, cpu: float) -> None:
        self.wall.setdefault(side, []).append(wall)
        self.cpu.setdefault(side, []).append(cpu)

    def summary(self) -> dict[str, dict[str, float]]:
        return {
            side: {
                "median_s": statistics.median(walls),
                "min_s": min(walls),
                "cpu_s": statistics.median(self.cpu[side]),
                "rounds": len(walls),
            }
            for side, walls in self.wall.items()
        }


def load_data(path: str | None, obs_dim: int, act_dim: int, n: int) -> dict[str, torch.Tensor]:
    """``n`` transitions: the first ``n`` of ``path`` (an .npz of obs/act/rew/next_obs/terminated), or noise."""
    if path is None:
        g = torch.Generator().manual_seed(0)
        obs = torch.randn(n, obs_dim, generator=g)
        return {
            "obs": obs,
            "act": torch.rand(n, act_dim, generator=g) * 2 - 1,
            "rew": torch.randn(n, generator=g),
            "next_obs": obs + 0.1 * torch.randn(n, obs_dim, generator=g),
            "terminated": torch.zeros(n),
        }
    with np.load(path) as data:
        if len(data["obs"]) < n:
            raise SystemExit(f"{path} holds {len(data['obs'])} transitions, {n} requested")
        return {k: torch.as_tensor(data[k][:n], dtype=torch.float32) for k in data.files}


def target_entropy(spec) -> float:
    """MBPO's SAC entropy target for the env, in either tree (the landed commit called it ``target_entropy``)."""
    return getattr(spec, "mbpo_target_entropy", None) or spec.target_entropy


def sac_sides(trees: dict[str, SimpleNamespace], spec, data, device, updates: int) -> dict[str, Callable[[], object]]:
    """Per side, a function doing ``updates`` SAC updates, batch sampling included (2x256, batch 256)."""
    obs_dim, act_dim = data["obs"].shape[1], data["act"].shape[1]
    sides = {}
    for name, mbpo in trees.items():
        has_graph = "cuda_graph" in {f.name for f in dataclasses.fields(mbpo.sac.SACConfig)}
        variants = {name: False} | ({f"{name}+graph": True} if device.type == "cuda" and has_graph else {})
        for side, graph in variants.items():
            torch.manual_seed(0)
            config = mbpo.sac.SACConfig(**({"cuda_graph": graph} if has_graph else {}))
            agent = mbpo.sac.SAC(
                obs_dim, act_dim, -torch.ones(act_dim), torch.ones(act_dim), target_entropy(spec), config
            )
            agent = agent.to(device)
            buffer = mbpo.buffer.ReplayBuffer(len(data["obs"]), obs_dim, act_dim, device)
            fields = (data["obs"], data["act"], data["rew"], data["next_obs"], data["terminated"])
            buffer.add_batch(mbpo.buffer.Batch(*fields))
            gen = torch.Generator(device=device).manual_seed(0)
            sides[side] = lambda a=agent, b=buffer, g=gen, n=updates: [a.update(b.sample(256, g)) for _ in range(n)]
    return sides


def sb3_side(spec, data, device, updates: int) -> Callable[[], object]:
    """stable-baselines3's SAC at the same sizes; one call = ``train(gradient_steps=updates)``: its own loop,
    with its per-call work (learning-rate schedule, logging) spread over the updates, as ours is."""
    import gymnasium as gym
    from stable_baselines3 import SAC
    from stable_baselines3.common.logger import configure

    n = len(data["obs"])
    agent = SAC(
        "MlpPolicy",
        gym.make(spec.gym_id),
        learning_rate=3e-4,
        buffer_size=n,
        learning_starts=0,
        batch_size=256,
        tau=0.005,
        gamma=0.99,
        ent_coef="auto",
        target_entropy=target_entropy(spec),
        policy_kwargs={"net_arch": [256, 256]},
        device=device,
        seed=0,
    )
    agent.set_logger(configure(folder=None, format_strings=[]))
    buffer = agent.replay_buffer
    buffer.observations[:n, 0] = data["obs"].numpy()
    buffer.next_observations[:n, 0] = data["next_obs"].numpy()
    buffer.actions[:n, 0] = data["act"].numpy()
    buffer.rewards[:n, 0] = data["rew"].numpy()
    buffer.dones[:n, 0] = data["terminated"].numpy()
    buffer.pos, buffer.full = 0, True
    return lambda: agent.train(gradient_steps=updates, batch_size=256)


def time_sac(sides: dict[str, Callable[[], object]], device, updates: int, rounds: int) -> dict:
    """Seconds per update: each side's block of ``updates`` updates, the sides taking turns."""
    timing = Rounds()
    for block in sides.values():  # warm-up: allocator, caches, CUDA-graph capture
        block()
    for _ in range(rounds):
        for side, block in sides.items():
            timing.time(side, block, device, per=updates)
    return timing.summary()


def time_fit(trees: dict[str, SimpleNamespace], data, device, epochs: int, rounds: int) -> dict:
    """Seconds per fit epoch (minibatch steps + holdout evaluation), from the per-epoch callback: epoch i
    is the gap between the ends of epochs i-1 and i (the first epoch, with the fit's set-up, is dropped);
    plus the holdout evaluation alone."""
    inputs = torch.cat([data["obs"], data["act"]], dim=-1)
    targets = torch.cat([data["next_obs"] - data["obs"], data["rew"].unsqueeze(-1)], dim=-1)
    obs_dim, act_dim = data["obs"].shape[1], data["act"].shape[1]
    n = len(inputs)
    n_holdout = min(int(0.2 * n), 5000)
    epoch, holdout = Rounds(), Rounds()
    for r in range(rounds):
        for side, mbpo in trees.items():
            config = dataclasses.replace(mbpo.ensemble.EnsembleConfig(), max_epochs=epochs)
            gen = torch.Generator().manual_seed(r)
            model = mbpo.ensemble.GaussianEnsemble(obs_dim, act_dim, config, generator=gen).to(device)
            marks: list[tuple[float, float]] = []
            optimizer = mbpo.training.make_optimizer(model)
            fit_gen = torch.Generator(device=device).manual_seed(r)
            mbpo.training.fit_ensemble(
                model, optimizer, inputs, targets, config, fit_gen, log=lambda _row, m=marks: m.append(clock(device))
            )
            for a, b in itertools.pairwise(marks):
                epoch.add(side, b[0] - a[0], b[1] - a[1])
            x, y = inputs[:n_holdout].to(device), targets[:n_holdout].to(device)
            holdout.time(side, lambda model=model, x=x, y=y: model.holdout_mse(x, y), device)
    result = epoch.summary()
    for side, h in holdout.summary().items():
        result[side] |= {"holdout_s": h["median_s"], "n_train": n - n_holdout, "n_holdout": n_holdout}
    return result


def time_rollout(trees: dict[str, SimpleNamespace], spec, data, device, branches: int, rounds: int) -> dict:
    """One step of ``branches`` model rollouts: the ensemble step alone (each sample's own elite, then the
    termination rule), and the whole step with the policy (``branched_rollout`` with k = 1)."""
    obs_dim, act_dim = data["obs"].shape[1], data["act"].shape[1]
    pick = torch.randint(len(data["obs"]), (branches,), generator=torch.Generator().manual_seed(1))
    obs, act = data["obs"][pick].to(device), data["act"][pick].to(device)
    model_steps, rollout_steps = {}, {}
    for side, mbpo in trees.items():
        torch.manual_seed(0)
        config = mbpo.ensemble.EnsembleConfig()
        model = mbpo.ensemble.GaussianEnsemble(obs_dim, act_dim, config, generator=torch.Generator().manual_seed(0))
        model.fit_input_stats(torch.cat([data["obs"], data["act"]], dim=-1))
        model.set_elites(ELITES)
        model = model.to(device)
        low, high = -torch.ones(act_dim), torch.ones(act_dim)
        agent = mbpo.sac.SAC(obs_dim, act_dim, low, high, target_entropy(spec), mbpo.sac.SACConfig()).to(device)
        is_terminal = mbpo.termination.termination_fn(spec.short_name)
        gen = torch.Generator(device=device).manual_seed(0)

        @torch.no_grad()
        def model_step(model=model, gen=gen, is_terminal=is_terminal) -> None:
            members, counts = model.sample_elite_members(branches, gen)
            next_obs, _ = model.predict(obs, act, members, gen, counts=counts)
            is_terminal(next_obs)

        def rollout_step(mbpo=mbpo, model=model, agent=agent, is_terminal=is_terminal, gen=gen) -> None:
            mbpo.rollout.branched_rollout(model, agent, is_terminal, obs, 1, gen)

        model_steps[side], rollout_steps[side] = model_step, rollout_step
    result = {}
    for name, steps in (("model_step", model_steps), ("rollout_step", rollout_steps)):
        timing = Rounds()
        for step in steps.values():
            step()
        for _ in range(rounds):
            for side, step in steps.items():
                timing.time(side, step, device)
        result[name] = timing.summary()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", required=True, metavar="NAME=PATH", help="a code tree (repeatable)")
    parser.add_argument("--sb3", action="store_true", help="add stable-baselines3's SAC to the SAC rounds")
    parser.add_argument("--env", default="hopper")
    parser.add_argument("--data", help=".npz of real transitions (default: noise of the env's sizes)")
    parser.add_argument("--n", type=int, default=25_000, help="transitions to use")
    parser.add_argument("--what", default="sac,fit,rollout")
    parser.add_argument("--updates", type=int, default=100, help="SAC updates per round")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per fit (the first is not timed)")
    parser.add_argument("--branches", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3, help="rounds")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    trees = {name: import_tree(path) for name, path in (t.split("=", 1) for t in args.tree)}
    first = next(iter(trees.values()))
    spec = first.envs.env_spec(args.env)
    env = first.envs.make_env(spec.short_name)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    env.close()
    device = torch.device(args.device)
    data = load_data(args.data, obs_dim, act_dim, args.n)
    what = set(args.what.split(","))
    result: dict[str, object] = {
        "trees": {name: tree.path for name, tree in trees.items()},
        "env": spec.short_name,
        "n": args.n,
        "threads": torch.get_num_threads(),
        "device": str(device),
    }
    if "sac" in what:
        sides = sac_sides(trees, spec, data, device, args.updates)
        if args.sb3:
            sides["sb3"] = sb3_side(spec, data, device, args.updates)
        result["sac_update"] = time_sac(sides, device, args.updates, args.repeats)
    if "fit" in what:
        result["fit_epoch"] = time_fit(trees, data, device, args.epochs, max(1, args.repeats - 1))
    if "rollout" in what:
        result |= time_rollout(trees, spec, data, device, args.branches, args.repeats)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    sys.exit(main())
