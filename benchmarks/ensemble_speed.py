"""Side-by-side speed of the ensemble's design choices, measured in one process on the same inputs.

    python benchmarks/ensemble_speed.py [--threads 1] [--device cpu] [--repeats 20]

1. Model training step: one batched module (weights [E, in, out], one baddbmm per layer) vs a Python
   loop over E separate MLPs, each with the same sizes (7 x 4 x 200, Hopper dims, 256 samples/member).
2. Rollout prediction for 100k branches: each sample through its own random elite, computing only that
   member (grouped by member) vs running all E members and picking each sample's row afterwards (what
   the official code does). Both give the same distribution.
Prints milliseconds per call and the ratio; no assertion (timings belong here, not in tests).
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable

import torch
from torch import nn

from mbpo.models.ensemble import EnsembleConfig, GaussianEnsemble
from mbpo.models.training import make_optimizer

OBS, ACT = 11, 3  # Hopper


def timed(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median milliseconds per call, after two warm-up calls."""
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return 1000 * sorted(times)[len(times) // 2]


def training_step(device: torch.device, repeats: int) -> tuple[float, float]:
    cfg = EnsembleConfig()
    model = GaussianEnsemble(OBS, ACT, cfg).to(device)
    optim = make_optimizer(model)
    x = torch.randn(cfg.num_networks, cfg.batch_size, OBS + ACT, device=device)
    y = torch.randn(cfg.num_networks, cfg.batch_size, OBS + 1, device=device)

    def batched() -> None:
        loss, _ = model.loss(x, y)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()

    def member_mlp() -> nn.Sequential:
        sizes = [OBS + ACT] + [cfg.hidden_size] * cfg.num_layers
        layers: list[nn.Module] = []
        for n_in, n_out in itertools.pairwise(sizes):
            layers += [nn.Linear(n_in, n_out), nn.SiLU()]
        return nn.Sequential(*layers, nn.Linear(cfg.hidden_size, 2 * (OBS + 1))).to(device)

    members = [member_mlp() for _ in range(cfg.num_networks)]
    loop_optim = torch.optim.Adam([p for m in members for p in m.parameters()], lr=cfg.lr, fused=True)

    def looped() -> None:
        loss = torch.zeros((), device=device)
        for m, xm, ym in zip(members, x, y, strict=True):
            mean, logvar = m(xm).chunk(2, dim=-1)
            loss = loss + ((mean - ym).square() * torch.exp(-logvar) + logvar).mean()
        loop_optim.zero_grad(set_to_none=True)
        loss.backward()
        loop_optim.step()

    return timed(batched, repeats, device), timed(looped, repeats, device)


def rollout_prediction(device: torch.device, repeats: int, n: int = 100_000) -> tuple[float, float]:
    model = GaussianEnsemble(OBS, ACT, EnsembleConfig()).to(device)
    obs, act = torch.randn(n, OBS, device=device), torch.randn(n, ACT, device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    members, counts = model.sample_elite_members(n, gen)

    def grouped() -> None:
        model.predict(obs, act, members, gen, counts=counts)

    @torch.no_grad()
    def all_then_pick() -> None:
        mean, logvar = model.predict_all(obs, act)  # (E, n, O)
        rows = torch.arange(n, device=device)
        mean, logvar = mean[members, rows], logvar[members, rows]
        mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=gen, device=device)

    return timed(grouped, repeats, device), timed(all_then_pick, repeats, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device={device} threads={args.threads} torch={torch.__version__}")
    fast, slow = training_step(device, args.repeats)
    print(f"model train step   batched {fast:8.2f} ms   loop of 7 MLPs {slow:8.2f} ms   ratio {slow / fast:5.2f}x")
    fast, slow = rollout_prediction(device, max(3, args.repeats // 4))
    print(f"predict 100k       grouped {fast:8.2f} ms   all 7 + pick   {slow:8.2f} ms   ratio {slow / fast:5.2f}x")


if __name__ == "__main__":
    main()
