"""The MuJoCo v5 tasks of the benchmark, made the way MBPO needs them.

One table (`ENV_SPECS`) holds every per-environment constant so that nothing else in the package has to
special-case an environment by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym


@dataclass(frozen=True)
class EnvSpec:
    """Static facts about one benchmark task.

    Attributes:
        short_name: the name used in configs, paths and the CLI (``hopper``).
        gym_id: the gymnasium id (``Hopper-v5``).
        target_entropy: SAC's entropy target, from the official MBPO configs (``target_entropy``).
        max_episode_steps: the time limit; a cut at this limit is ``truncated``, never ``terminated``.
        make_kwargs: extra ``gym.make`` arguments (Ant drops contact forces, as MBPO's AntTruncatedObs).
    """

    short_name: str
    gym_id: str
    target_entropy: float
    max_episode_steps: int = 1000
    make_kwargs: dict[str, Any] = field(default_factory=dict)


ENV_SPECS: dict[str, EnvSpec] = {
    spec.short_name: spec
    for spec in (
        EnvSpec("hopper", "Hopper-v5", target_entropy=-1.0),
        EnvSpec("walker2d", "Walker2d-v5", target_entropy=-3.0),
        EnvSpec("halfcheetah", "HalfCheetah-v5", target_entropy=-3.0),
        # 27-dim observation without the 84 contact-force entries, as the paper's AntTruncatedObs-v2.
        EnvSpec("ant", "Ant-v5", target_entropy=-4.0, make_kwargs={"include_cfrc_ext_in_observation": False}),
        # Not in the paper's benchmark: a task that learns in minutes, for fast end-to-end checks.
        EnvSpec("invertedpendulum", "InvertedPendulum-v5", target_entropy=-0.05),
    )
}
_BY_GYM_ID = {spec.gym_id.lower(): spec for spec in ENV_SPECS.values()}


def env_spec(name: str) -> EnvSpec:
    """Look a task up by short name (``hopper``) or gymnasium id (``Hopper-v5``), case-insensitively."""
    key = name.lower()
    spec = ENV_SPECS.get(key) or _BY_GYM_ID.get(key)
    if spec is None:
        allowed = sorted(ENV_SPECS) + sorted(s.gym_id for s in ENV_SPECS.values())
        raise ValueError(f"unknown env {name!r}; allowed: {', '.join(allowed)}")
    return spec


def make_env(name: str) -> gym.Env:
    """A fresh gymnasium env for the task, with MBPO's settings and the standard 1000-step time limit."""
    spec = env_spec(name)
    return gym.make(spec.gym_id, max_episode_steps=spec.max_episode_steps, **spec.make_kwargs)
