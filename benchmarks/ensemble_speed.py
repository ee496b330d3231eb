"""Side-by-side speed of the ensemble's design choices, measured in one process on the same inputs.

    python benchmarks/ensemble_speed.py [--threads 1] [--device cpu] [--repeats 20]

1. Model training step: one batched module (weights [E, in, out], one baddbmm per layer, the weight-decay
   gradient added after backward, as `fit_ensemble` does) vs the same with the decay through autograd (the
   landed code) vs a Python loop over E separate MLPs doing the same work (7 x 4 x 200, Hopper dims, 256
   samples/member). An earlier version of this loop left out the weight decay and the log-variance bounds,
   which made the loop look as fast as the batched step on CPU: with equal work, the batched step wins.
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


def timed(fns: list[Callable[[], object]], repeats: int, device: torch.device) -> list[float]:
    """Median milliseconds per call of each function, after two warm-up calls; the functions take turns
    call by call, so a machine that gets busier slows them alike."""
    for fn in fns:
        for _ in range(2):
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times, strict=True):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            out.append(time.perf_counter() - start)
    return [1000 * sorted(t)[len(t) // 2] for t in times]


def training_step(device: torch.device, repeats: int) -> tuple[float, float, float]:
    """Milliseconds per train step: batched as `fit_ensemble` does it, batched with the weight decay through
    autograd (the landed code), and a loop of 7 MLPs doing the same work (NLL with the shared soft-clamped
    log-variance bounds, bound penalty, per-layer weight decay through autograd, one fused Adam)."""
    cfg = EnsembleConfig()
    model = GaussianEnsemble(OBS, ACT, cfg).to(device)
    optim = make_optimizer(model)
    x = torch.randn(cfg.num_networks, cfg.batch_size, OBS + ACT, device=device)
    y = torch.randn(cfg.num_networks, cfg.batch_size, OBS + 1, device=device)

    def batched() -> None:
        loss, _ = model.loss(x, y, weight_decay=False)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        model.add_weight_decay_grad()
        optim.step()

    def batched_autograd_decay() -> None:
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
    bounds = [model.max_logvar, model.min_logvar]
    loop_params = [p for m in members for p in m.parameters()] + bounds
    loop_optim = torch.optim.Adam(loop_params, lr=cfg.lr, fused=True)
    linears = [[m for m in member if isinstance(m, nn.Linear)] for member in members]

    def looped() -> None:
        loss = model.logvar_bound_loss()
        for m, xm, ym, layers in zip(members, x, y, linears, strict=True):
            mean, raw = m(xm).chunk(2, dim=-1)
            logvar = model.soft_clamp_logvar(raw)
            loss = loss + ((mean - ym).square() * torch.exp(-logvar)).mean() + logvar.mean()
            for decay, layer in zip(cfg.weight_decays, layers, strict=True):
                loss = loss + decay * 0.5 * layer.weight.square().sum()
        loop_optim.zero_grad(set_to_none=True)
        loss.backward()
        loop_optim.step()

    fast, landed, loop = timed([batched, batched_autograd_decay, looped], repeats, device)
    return fast, landed, loop


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

    fast, slow = timed([grouped, all_then_pick], repeats, device)
    return fast, slow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device={device} threads={args.threads} torch={torch.__version__}")
    fast, landed, loop = training_step(device, args.repeats)
    print(
        f"model train step   batched {fast:8.2f} ms   decay via autograd {landed:8.2f} ms   ratio {landed / fast:5.2f}x"
    )
    print(f"                   batched {fast:8.2f} ms   loop of 7 MLPs     {loop:8.2f} ms   ratio {loop / fast:5.2f}x")
    fast, slow = rollout_prediction(device, max(3, args.repeats // 4))
    print(f"predict 100k       grouped {fast:8.2f} ms   all 7 + pick   {slow:8.2f} ms   ratio {slow / fast:5.2f}x")


if __name__ == "__main__":
    main()
