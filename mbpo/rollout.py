"""Branched model rollouts: short imagined trajectories started from real states (MBPO, Alg. 2).

Each branch starts at a state from the env buffer, acts with the current stochastic policy, and steps
through the ensemble, each sample through a uniformly random *elite* of its own (not one elite for the
whole batch). A branch stops at its first predicted termination; the terminating transition is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mbpo.buffer import Batch
from mbpo.config import Config
from mbpo.models.ensemble import GaussianEnsemble
from mbpo.sac import SAC
from mbpo.termination import TerminationFn
from mbpo.uncertainty import RewardPenalty


def model_buffer_capacity(cfg: Config, length: int) -> int:
    """Room for ``model_retain_epochs`` epochs of rollouts at length k (jannerm/mbpo's pool size)."""
    rollouts_per_epoch = cfg.rollout_batch_size * cfg.epoch_length / cfg.model_train_freq
    return int(cfg.model_retain_epochs * rollouts_per_epoch * length)


@dataclass(frozen=True)
class Rollout:
    """The transitions of one round of branched rollouts, and what to log about them."""

    transitions: Batch  # every live step of every branch, flattened: (N, ...)
    length: int  # the k the branches were rolled for
    alive_fraction: torch.Tensor  # () share of branches still running after k steps
    uncertainty: torch.Tensor | None = None  # (N,) u(s, a) of each transition, with a reward penalty only


@torch.no_grad()
def branched_rollout(
    model: GaussianEnsemble,
    agent: SAC,
    is_terminal: TerminationFn,
    start_obs: torch.Tensor,
    length: int,
    generator: torch.Generator | None = None,
    penalty: RewardPenalty | None = None,
) -> Rollout:
    """Roll ``start_obs (B, obs_dim)`` forward ``length`` steps through the model.

    Every sample's elite is drawn up front for all steps, so the whole rollout syncs with the host twice
    (counting members per step, and keeping the live transitions at the end), never per step. Branches
    that terminated keep computing to keep shapes static; their later steps are dropped at the end.
    With a ``penalty`` (an ablation), every step runs all elites on the batch and stores penalised rewards.
    """
    batch = start_obs.shape[0]
    members, counts = model.sample_elite_members((length, batch), generator)
    obs = start_obs
    alive = torch.ones(batch, dtype=torch.bool, device=start_obs.device)
    steps: list[Batch] = []
    live: list[torch.Tensor] = []
    uncertainties: list[torch.Tensor] = []
    for t in range(length):
        act = agent.act(obs, generator=generator)
        if penalty is None:
            next_obs, rew = model.predict(obs, act, members[t], generator, counts=counts[t])
        else:  # ablation hook (mbpo.uncertainty): r - λ·u(s, a), u from every elite
            next_obs, rew, u = penalty.predict(model, obs, act, members[t], generator)
            uncertainties.append(u)
        terminated = is_terminal(next_obs)
        steps.append(Batch(obs, act, rew, next_obs, terminated.float()))
        live.append(alive)
        alive = alive & ~terminated
        obs = next_obs
    keep = torch.cat(live)
    transitions = Batch(*(torch.cat(field)[keep] for field in zip(*steps, strict=True)))
    uncertainty = torch.cat(uncertainties)[keep] if uncertainties else None
    return Rollout(transitions, length, alive.float().mean(), uncertainty)
