"""Projected wall-clock of a full paper-preset MBPO run per env, from measured unit costs.

A run is a sum over its fits and env steps, so measured unit costs give its total without running it:

    warm-up steps x random env step
  + learning steps x (G x SAC update + policy env step + loop overhead)
  + evaluations x eval_episodes x episode length x deterministic env step (full-length episodes: an upper bound)
  + fits x (epochs per fit x fit epoch at that fit's data size + k x 100k-branch rollout step)

A fit epoch at N transitions is ``ceil(n_train / 256)`` train steps plus one holdout evaluation (n_train,
n_holdout as `fit_ensemble` splits N), both measured at one size and scaled by their row counts. The
only unmeasured input is the number of epochs per (warm-started) refit, which early stopping decides;
it is a parameter, stated next to every projection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mbpo.config import Config, resolve
from mbpo.schedule import rollout_length


@dataclass(frozen=True)
class UnitCosts:
    """Seconds per unit of work, for one env, on one machine."""

    sac_update: float  # one SAC update, batch sampling included
    train_step: float  # one ensemble minibatch step (7 members x 256)
    holdout_per_row: float  # holdout evaluation, per holdout transition
    rollout_step: float  # one step of 100k branches: policy + ensemble + termination
    policy_env_step: float  # one training env step with the stochastic policy, stored in the buffer
    random_env_step: float  # one warm-up env step
    eval_env_step: float  # one evaluation env step with the deterministic policy
    overhead_per_step: float  # the loop's own cost per env step (measured on Hopper)


def split_sizes(n: int, holdout_ratio: float = 0.2, max_holdout: int = 5000) -> tuple[int, int]:
    """(n_train, n_holdout) as `fit_ensemble` splits ``n`` transitions."""
    n_holdout = min(int(holdout_ratio * n), max_holdout, n - 1)
    return n - n_holdout, n_holdout


def fit_epoch_seconds(costs: UnitCosts, n: int, batch_size: int = 256) -> float:
    n_train, n_holdout = split_sizes(n)
    return math.ceil(n_train / batch_size) * costs.train_step + n_holdout * costs.holdout_per_row


def paper_config(env: str) -> Config:
    return resolve({"env": env, "algo": "mbpo"})


def project_seconds(env: str, costs: UnitCosts, epochs_per_fit: float) -> dict[str, float]:
    """Seconds per phase of a full paper-preset run of ``env`` (keys: sac, fit, rollout, env, eval, overhead)."""
    cfg = paper_config(env)
    warmup = cfg.init_exploration_steps
    learning = cfg.steps - warmup
    total = {
        "sac": learning * cfg.num_train_repeat * costs.sac_update,
        "env": warmup * costs.random_env_step + learning * costs.policy_env_step,
        "overhead": learning * costs.overhead_per_step,
        "eval": (cfg.steps // cfg.eval_every) * cfg.eval_episodes * 1000 * costs.eval_env_step,
        "fit": 0.0,
        "rollout": 0.0,
    }
    for learning_step in range(0, learning, cfg.model_train_freq):
        n = warmup + learning_step  # real transitions when this fit starts
        total["fit"] += epochs_per_fit * fit_epoch_seconds(costs, n)
        k = rollout_length(cfg.rollout_schedule, epoch=learning_step // cfg.epoch_length)
        total["rollout"] += k * costs.rollout_step * cfg.rollout_batch_size / 100_000
    return total
