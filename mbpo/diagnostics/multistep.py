"""The direct k-step model of the design note's §9.3, as a diagnostic comparator only.

``s_{t+k} − s_t`` and ``r_t + … + r_{t+k−1}`` predicted at once from ``(s_t, a_t, …, a_{t+k−1})`` by one
deterministic MLP of the ensemble members' shape (hidden sizes and SiLU from the run's ``model`` config).
It is never used to train the policy: it answers whether predicting k steps directly beats iterating the
one-step ensemble k times on the same held-out segments. It is fitted on the same real data the one-step
model saw (every real k-step window of it), warm-started from the previous pass as the ensemble is, with
MSE on standardised targets and early stopping on a 10% holdout (best snapshot restored).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mbpo.diagnostics.segments import Segments
from mbpo.models.ensemble import EnsembleLinear

_IMPROVEMENT = 0.01  # a holdout MSE counts as better when it improves by more than 1% (as the ensemble)
_PATIENCE = 5  # epochs without improvement before stopping (as the ensemble)
_BATCH = 256
_HOLDOUT = 0.1


class DirectModel(nn.Module):
    """``(s (B, obs_dim), actions (B, k, act_dim)) -> (Δs (B, obs_dim), return (B,))``, standardised inside."""

    def __init__(
        self, obs_dim: int, act_dim: int, k: int, hidden_size: int, num_layers: int, generator: torch.Generator
    ) -> None:
        super().__init__()
        self.obs_dim, self.act_dim, self.k = obs_dim, act_dim, k
        sizes = [obs_dim + k * act_dim] + [hidden_size] * num_layers + [obs_dim + 1]
        # One-member EnsembleLinear layers: the ensemble's initialisation, drawn from our own generator.
        self.layers = nn.ModuleList(EnsembleLinear(1, a, b, generator) for a, b in itertools.pairwise(sizes))
        self.register_buffer("in_mean", torch.zeros(sizes[0]))
        self.register_buffer("in_std", torch.ones(sizes[0]))
        self.register_buffer("out_mean", torch.zeros(obs_dim + 1))
        self.register_buffer("out_std", torch.ones(obs_dim + 1))

    def inputs(self, obs: Tensor, actions: Tensor) -> Tensor:
        return torch.cat([obs, actions.flatten(1)], dim=-1)

    def standardised(self, x: Tensor) -> Tensor:
        """The network's output in standardised target units, for raw inputs ``x (B, in)``."""
        h = ((x - self.in_mean) / self.in_std).unsqueeze(0)
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = F.silu(h)
        return h.squeeze(0)

    def forward(self, obs: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        out = self.standardised(self.inputs(obs, actions)) * self.out_std + self.out_mean
        return out[:, : self.obs_dim], out[:, self.obs_dim]

    @torch.no_grad()
    def fit_stats(self, x: Tensor, y: Tensor) -> None:
        for mean, std, data in ((self.in_mean, self.in_std, x), (self.out_mean, self.out_std, y)):
            s = data.std(dim=0, correction=0)
            mean.copy_(data.mean(dim=0))
            std.copy_(torch.where(s < 1e-12, torch.ones_like(s), s))


@dataclass(frozen=True)
class DirectFit:
    epochs: int
    holdout_mse: float  # standardised units, best snapshot


def fit_direct(
    model: DirectModel,
    optimizer: torch.optim.Optimizer,
    obs: Tensor,
    actions: Tensor,
    delta: Tensor,
    ret: Tensor,
    generator: torch.Generator,
    max_epochs: int,
) -> DirectFit:
    """Fit on windows ``obs (W, obs_dim)``, ``actions (W, k, act_dim)``, ``delta (W, obs_dim)``, ``ret (W,)``."""
    x = model.inputs(obs, actions)
    y = torch.cat([delta, ret.unsqueeze(-1)], dim=-1)
    perm = torch.randperm(len(x), generator=generator, device=generator.device).to(x.device)
    n_hold = max(1, int(_HOLDOUT * len(x)))
    hold, train = perm[:n_hold], perm[n_hold:]
    model.fit_stats(x[train], y[train])
    y_std = (y - model.out_mean) / model.out_std

    def holdout_mse() -> Tensor:
        with torch.no_grad():
            return (model.standardised(x[hold]) - y_std[hold]).square().mean()

    best = holdout_mse()
    snapshot = [p.detach().clone() for p in model.parameters()]
    since, epoch = 0, 0
    with torch.enable_grad():
        while epoch < max_epochs and since < _PATIENCE:
            order = train[torch.randperm(len(train), generator=generator, device=generator.device).to(x.device)]
            for start in range(0, len(order), _BATCH):
                idx = order[start : start + _BATCH]
                loss = (model.standardised(x[idx]) - y_std[idx]).square().mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            epoch += 1
            current = holdout_mse()
            if bool(best - current > _IMPROVEMENT * best):
                best, since = current, 0
                snapshot = [p.detach().clone() for p in model.parameters()]
            else:
                since += 1
    with torch.no_grad():
        for p, s in zip(model.parameters(), snapshot, strict=True):
            p.copy_(s)
    return DirectFit(epoch, float(best))


@torch.no_grad()
def direct_errors(model: DirectModel, segments: Segments, state_scale: Tensor, reward_scale: float) -> dict:
    """The direct model's errors at its k on the segments that reach k, in the units of `HorizonErrors`."""
    k = model.k
    reach = segments.length >= k
    n = int(reach.sum())
    if n == 0:
        return {"state_err": float("nan"), "return_err": float("nan"), "n_segments": 0}
    start = segments.start[reach]
    delta, ret = model(start, segments.actions[reach, :k])
    state_sq = ((start + delta - segments.next_obs[reach, k - 1]) / state_scale).square().mean(dim=-1)
    return_sq = ((ret - segments.rewards[reach, :k].sum(dim=1)) / (k * reward_scale)).square()
    return {"state_err": float(state_sq.mean()), "return_err": float(return_sq.mean()), "n_segments": n}
