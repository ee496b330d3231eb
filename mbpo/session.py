"""What every training loop sets up the same way: seeds, envs, agent, env buffer, run log, evaluation.

The loops themselves (`mbpo.train.train_mbpo`, `baselines.sac.train_sac`) stay short and read like the
algorithms they implement; this module is the machinery both call.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from tqdm.auto import tqdm

from mbpo.buffer import ReplayBuffer
from mbpo.config import Config
from mbpo.envs import make_env
from mbpo.interaction import EnvRunner, evaluate
from mbpo.runlog import SAC_COLUMNS, MetricMeans, RunLog
from mbpo.runtime import make_generator, resolve_device, seed_everything
from mbpo.sac import SAC

EVAL_SEED_OFFSET = 1_000_003  # the eval env's seed: distinct from, but fixed by, the run's seed


@dataclass
class Session:
    """One run's live state. Every piece is an explicit attribute so that it can be checkpointed."""

    cfg: Config
    device: torch.device
    env: gym.Env
    eval_env: gym.Env
    agent: SAC
    env_buffer: ReplayBuffer
    runner: EnvRunner
    generator: torch.Generator  # all sampling of batches and model rollouts
    log: RunLog
    quiet: bool = False
    update_metrics: MetricMeans = field(default_factory=MetricMeans)
    started: float = field(default_factory=time.perf_counter)
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Add the block's wall time to ``time/{phase}_s`` of the next metrics row (where time goes).

        On a GPU, queued kernels are charged to whichever phase next waits for them.
        """
        start = time.perf_counter()
        yield
        self.seconds[phase] += time.perf_counter() - start

    @property
    def obs_dim(self) -> int:
        return self.env.observation_space.shape[0]

    @property
    def act_dim(self) -> int:
        return self.env.action_space.shape[0]

    def env_steps(self) -> Iterator[int]:
        """1, 2, …, ``cfg.steps``, behind a progress bar (hidden with ``--quiet`` or off a terminal)."""
        disable = self.quiet or not sys.stderr.isatty()
        bar = tqdm(range(1, self.cfg.steps + 1), desc=f"{self.cfg.env}/{self.cfg.algo}", disable=disable)
        yield from bar

    def explore(self, step: int) -> bool:
        """Whether this env step belongs to the uniformly random warm-up."""
        return step <= self.cfg.init_exploration_steps

    def act_and_store(self, step: int) -> None:
        """One real env step (random during the warm-up, else the stochastic policy) into the env buffer."""
        explore = self.explore(step)
        action = self.runner.random_action() if explore else self.runner.policy_action(self.agent, self.device)
        self.runner.step(action)

    def eval_due(self, step: int) -> bool:
        """Every ``eval_every`` env steps, and always at the last one so every run reports its budget."""
        return step % self.cfg.eval_every == 0 or step == self.cfg.steps

    def evaluate_and_log(self, step: int, extra: Mapping[str, Any] | None = None) -> None:
        """Evaluate the deterministic policy and write one metrics row (the only host sync of the epoch)."""
        with self.timed("eval"):
            returns = evaluate(self.agent, self.eval_env, self.cfg.eval_episodes, self.device)
        row = {
            "env_step": step,
            "eval_return_mean": float(returns.mean()),
            "eval_return_std": float(returns.std()),
            "eval_episodes": len(returns),
            "eval/warmup": int(self.explore(step)),  # 1: the policy evaluated has never been updated
            "wall_time_s": time.perf_counter() - self.started,
            "train/episode_return": self.runner.drain_returns(),
            **self.update_metrics.pop(),
            **{f"time/{phase}_s": s for phase, s in self.seconds.items()},
            **(extra or {}),
        }
        self.seconds.clear()
        self.log.log(row)

    def close(self) -> None:
        self.log.close()
        self.env.close()
        self.eval_env.close()


def open_session(cfg: Config, out_dir: str | Path, extra_columns: tuple[str, ...] = (), quiet: bool = False) -> Session:
    """Seed everything from ``cfg.seed``, make the envs, the agent and the env buffer, open the run log."""
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    env, eval_env = make_env(cfg.env, cfg.env_dynamics), make_env(cfg.env, cfg.env_dynamics)
    eval_env.reset(seed=cfg.seed + EVAL_SEED_OFFSET)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    agent = SAC(obs_dim, act_dim, env.action_space.low, env.action_space.high, cfg.target_entropy, cfg.sac).to(device)
    env_buffer = ReplayBuffer(min(cfg.replay_size, cfg.steps), obs_dim, act_dim, device)
    return Session(
        cfg=cfg,
        device=device,
        env=env,
        eval_env=eval_env,
        agent=agent,
        env_buffer=env_buffer,
        runner=EnvRunner(env, env_buffer, cfg.seed),
        generator=make_generator(device, cfg.seed),
        log=RunLog(out_dir, cfg, ("eval/warmup", *SAC_COLUMNS, *extra_columns)),
        quiet=quiet,
    )
