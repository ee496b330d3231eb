"""The rollout length k at each epoch: the paper's linear schedule, or a fixed k (the ``fixed-k*`` ablations).

Plain arithmetic on config values, without torch, so that the ablation report can say which k each run
rolled without loading the training stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LONGEST = "max"  # rollout_fixed_length: the schedule's largest k


def rollout_length(schedule: tuple[int, int, int, int], epoch: int) -> int:
    """The rollout length k at ``epoch``: ``k0`` until ``e0``, then linear to ``k1`` at ``e1``, then ``k1``.

    ``schedule`` is the official ``[e0, e1, k0, k1]``; k is rounded down, as in jannerm/mbpo.
    """
    e0, e1, k0, k1 = schedule
    if epoch <= e0:
        return k0
    progress = 1.0 if e1 == e0 else min((epoch - e0) / (e1 - e0), 1.0)
    return int(k0 + progress * (k1 - k0))


def fixed_length(schedule: tuple[int, int, int, int], fixed: int | str | None) -> int | None:
    """The k that ``rollout_fixed_length = fixed`` rolls at every epoch; None: follow ``schedule``."""
    if fixed is None:
        return None
    return max(schedule[2], schedule[3]) if fixed == LONGEST else int(fixed)


def rollout_lengths(cfg: Mapping[str, Any]) -> list[int]:
    """The k of each epoch a run reaches (epoch 0 starts when the warm-up ends), from a resolved config
    as a dict (`Config.to_dict`, or a run's ``config.yaml``; a missing ``rollout_fixed_length`` is None)."""
    schedule = tuple(cfg["rollout_schedule"])
    learning_steps = cfg["steps"] - cfg["init_exploration_steps"]
    if learning_steps <= 0:
        return []
    k = fixed_length(schedule, cfg.get("rollout_fixed_length"))
    epochs = range((learning_steps - 1) // cfg["epoch_length"] + 1)
    return [k if k is not None else rollout_length(schedule, epoch) for epoch in epochs]
