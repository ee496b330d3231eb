"""How MBPO uses its model in rollouts, as the config's ablation keys choose (see `mbpo.variants`).

Three choices, each one config key, whose defaults are MBPO as published:

* ``rollout_fixed_length``: ``None`` follows ``rollout_schedule``; an int k rolls k steps at every epoch;
  ``"max"`` rolls the schedule's largest k from the first epoch (``fixed-k1``, ``fixed-kmax``).
* ``rollout_termination``: ``static`` (the env's own rule, `mbpo.termination`), ``learned`` (a classifier
  trained on real transitions, `mbpo.models.termination_net`) or ``none`` (branches never stop).
* ``rollout_penalty`` λ and ``rollout_uncertainty``: model rewards ``r − λ·u(s, a)`` (`mbpo.uncertainty`).

The training loop asks this module for its components, so that with the defaults it runs exactly the code
(and draws exactly the random numbers) it ran before these keys existed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch

from mbpo.models.termination_net import TerminationNet
from mbpo.schedule import LONGEST, fixed_length
from mbpo.termination import TerminationFn, termination_fn
from mbpo.uncertainty import UNCERTAINTIES, RewardPenalty

if TYPE_CHECKING:
    from mbpo.config import Config

TERMINATIONS = ("static", "learned", "none")

PENALTY_COLUMNS = ("rollout/uncertainty", "rollout/penalty", "rollout/penalty_share")
TERMINATION_COLUMNS = (
    "termination/precision",
    "termination/recall",
    "termination/positives",
    "termination/n_holdout",
    "termination/loss",
    "time/termination_s",
)


def rollout_schedule(cfg: Config) -> tuple[int, int, int, int]:
    """The ``[e0, e1, k0, k1]`` schedule the run follows: ``rollout_schedule``, or a constant one when
    ``rollout_fixed_length`` is set (``[0, 0, k, k]`` gives k at every epoch)."""
    k = fixed_length(cfg.rollout_schedule, cfg.rollout_fixed_length)
    return cfg.rollout_schedule if k is None else (0, 0, k, k)


def never_terminates(next_obs: torch.Tensor) -> torch.Tensor:
    """The ``none`` termination: every branch runs its full k steps (the design note's rollouts)."""
    return torch.zeros(next_obs.shape[:-1], dtype=torch.bool, device=next_obs.device)


def rollout_termination(cfg: Config, learned: TerminationNet | None = None) -> TerminationFn:
    """The function that decides where a model branch ends, as ``rollout_termination`` says.

    ``learned`` needs the run's classifier (``learned``), refit before every round of rollouts.
    """
    if cfg.rollout_termination == "static":
        return termination_fn(cfg.env)
    if cfg.rollout_termination == "none":
        return never_terminates
    if learned is None:
        raise ValueError("rollout_termination = learned needs the run's termination classifier")
    return learned.predict


def reward_penalty(cfg: Config) -> RewardPenalty | None:
    """The penalty on model rewards, or None (λ = 0: rollouts run exactly as without this feature)."""
    if cfg.rollout_penalty == 0:
        return None
    return RewardPenalty(cfg.rollout_penalty, cfg.rollout_uncertainty)


def usage_columns(cfg: Config) -> tuple[str, ...]:
    """The metrics columns of the active ablations (none for MBPO as published, so its log is unchanged)."""
    columns: tuple[str, ...] = ()
    if cfg.rollout_penalty != 0:
        columns += PENALTY_COLUMNS
    if cfg.rollout_termination == "learned":
        columns += TERMINATION_COLUMNS
    return columns


def validate_usage(cfg: Config) -> list[str]:
    """Problems with the ablation keys, each naming the value and what is allowed (empty: none)."""
    problems = []
    fixed = cfg.rollout_fixed_length
    if not (fixed is None or fixed == LONGEST or (isinstance(fixed, int) and fixed >= 1)):
        problems.append(f"rollout_fixed_length must be null, a positive integer or {LONGEST!r}, got {fixed!r}")
    if cfg.rollout_termination not in TERMINATIONS:
        problems.append(f"unknown rollout_termination {cfg.rollout_termination!r}; allowed: {', '.join(TERMINATIONS)}")
    penalty: Any = cfg.rollout_penalty
    if not (math.isfinite(penalty) and penalty >= 0):
        problems.append(f"rollout_penalty (λ) must be a finite number >= 0, got {penalty}")
    if cfg.rollout_uncertainty not in UNCERTAINTIES:
        problems.append(f"unknown rollout_uncertainty {cfg.rollout_uncertainty!r}; allowed: {', '.join(UNCERTAINTIES)}")
    return problems
