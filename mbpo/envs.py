"""The MuJoCo v5 tasks of the benchmark, made the way MBPO needs them.

One table (`ENV_SPECS`) holds every per-environment constant so that nothing else in the package has to
special-case an environment by name.

Dynamics: the paper trained on gym's v2 tasks; we train on gymnasium's v5 by default. ``dynamics="paper"``
restores the v2 behaviour that moves returns wherever gymnasium allows it without forking the env (the
README's "v5 vs the paper's v2" table lists every difference, restored or not):

- Walker2d: the right foot's friction 0.9 (v5: 1.9), through ``xml_file`` and a packaged XML;
- Hopper, Walker2d, Ant, InvertedPendulum: the healthy reward paid on the terminating step too
  (`mbpo.env_wrappers.TerminalHealthyReward`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

from mbpo.env_wrappers import TerminalHealthyReward

ENV_DYNAMICS = ("v5", "paper")  # gymnasium's v5 as it is; v5 with the paper's (v2) dynamics restored
ASSETS = Path(__file__).resolve().parent / "assets"


@dataclass(frozen=True)
class EnvSpec:
    """Static facts about one benchmark task.

    Attributes:
        short_name: the name used in configs, paths and the CLI (``hopper``).
        gym_id: the gymnasium id (``Hopper-v5``).
        action_dim: |A|, the action dimension (the published SAC's target entropy is -|A|).
        mbpo_target_entropy: SAC's entropy target in MBPO, from the official configs (``target_entropy``).
        max_episode_steps: the time limit; a cut at this limit is ``truncated``, never ``terminated``.
        make_kwargs: extra ``gym.make`` arguments (Ant drops contact forces, as MBPO's AntTruncatedObs).
        paper_make_kwargs: further ``gym.make`` arguments that restore the paper's (v2) dynamics.
        paper_terminal_reward: the healthy reward v2 also paid on the terminating step (0: none to restore).
    """

    short_name: str
    gym_id: str
    action_dim: int
    mbpo_target_entropy: float
    max_episode_steps: int = 1000
    make_kwargs: dict[str, Any] = field(default_factory=dict)
    paper_make_kwargs: dict[str, Any] = field(default_factory=dict)
    paper_terminal_reward: float = 0.0

    @property
    def published_target_entropy(self) -> float:
        """The SAC authors' heuristic (softlearning's ``target_entropy='auto'``): -|A|."""
        return -float(self.action_dim)


# Healthy rewards (v2's alive bonus and v5's default `healthy_reward`) are 1.0 in all four tasks.
ENV_SPECS: dict[str, EnvSpec] = {
    spec.short_name: spec
    for spec in (
        EnvSpec("hopper", "Hopper-v5", 3, mbpo_target_entropy=-1.0, paper_terminal_reward=1.0),
        EnvSpec(
            "walker2d",
            "Walker2d-v5",
            6,
            mbpo_target_entropy=-3.0,
            paper_make_kwargs={"xml_file": str(ASSETS / "walker2d_paper.xml")},
            paper_terminal_reward=1.0,
        ),
        EnvSpec("halfcheetah", "HalfCheetah-v5", 6, mbpo_target_entropy=-3.0),
        # 27-dim observation without the 84 contact-force entries, as the paper's AntTruncatedObs-v2. Its
        # contact cost stays: the paper's runs computed contact forces too (see the README).
        EnvSpec(
            "ant",
            "Ant-v5",
            8,
            mbpo_target_entropy=-4.0,
            make_kwargs={"include_cfrc_ext_in_observation": False},
            paper_terminal_reward=1.0,
        ),
        # Not in the paper's benchmark: a task that learns in minutes, for fast end-to-end checks.
        EnvSpec("invertedpendulum", "InvertedPendulum-v5", 1, mbpo_target_entropy=-0.05, paper_terminal_reward=1.0),
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


def make_env(name: str, dynamics: str = "v5") -> gym.Env:
    """A fresh gymnasium env for the task, with MBPO's settings and the standard 1000-step time limit.

    ``dynamics`` is ``"v5"`` (gymnasium's task as it is) or ``"paper"`` (the paper's v2 dynamics restored
    where gymnasium allows it; see the module docstring).
    """
    if dynamics not in ENV_DYNAMICS:
        raise ValueError(f"unknown env dynamics {dynamics!r}; allowed: {', '.join(ENV_DYNAMICS)}")
    spec = env_spec(name)
    paper = dynamics == "paper"
    kwargs = {**spec.make_kwargs, **(spec.paper_make_kwargs if paper else {})}
    env = gym.make(spec.gym_id, max_episode_steps=spec.max_episode_steps, **kwargs)
    if paper and spec.paper_terminal_reward:
        env = TerminalHealthyReward(env, spec.paper_terminal_reward)
    return env


def env_label(name: str, dynamics: str = "v5") -> str:
    """How tables name the task: ``Walker2d-v5``, or ``Walker2d-v5 (paper dynamics)``."""
    gym_id = env_spec(name).gym_id
    return gym_id if dynamics == "v5" else f"{gym_id} ({dynamics} dynamics)"
