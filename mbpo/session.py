"""What every training loop sets up the same way: seeds, envs, agent, env buffer, run log, evaluation,
checkpoints and numerical guards.

The loops themselves (`mbpo.train.train_mbpo`, `baselines.sac.train_sac`) stay short and read like the
algorithms they implement; this module is the machinery both call. A session holds the run's whole live
state as explicit attributes, so `save_checkpoint` can write all of it and `start` can put all of it
back: a resumed run continues as if it had never stopped.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import torch
from tqdm.auto import tqdm

from mbpo.buffer import ReplayBuffer
from mbpo.checkpoint import (
    CHECKPOINT_NAME,
    Checkpoint,
    buffer_state,
    env_state,
    load_buffer_state,
    load_env_state,
    load_rng_state,
    rng_state,
    save_checkpoint,
    to_cpu,
)
from mbpo.config import Config
from mbpo.envs import make_env
from mbpo.failpoints import fault_point
from mbpo.guards import Guards
from mbpo.interaction import EnvRunner, evaluate
from mbpo.runlog import SAC_COLUMNS, MetricMeans, RunLog
from mbpo.runtime import make_generator, resolve_device, seed_everything
from mbpo.sac import SAC

EVAL_SEED_OFFSET = 1_000_003  # the eval env's seed: distinct from, but fixed by, the run's seed


class Resumable(Protocol):
    """A loop's own state (MBPO's model side), checkpointed with the session."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


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
    guards: Guards
    quiet: bool = False
    update_metrics: MetricMeans = field(default_factory=MetricMeans)
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    parts: dict[str, Resumable] = field(default_factory=dict)
    first_step: int = 1  # 1, or the step after the checkpoint this session resumed from
    step: int = 0  # the env step in progress
    wall_offset: float = 0.0  # training seconds of the run's earlier sessions
    started: float = field(default_factory=time.perf_counter)

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

    @property
    def checkpoint_path(self) -> Path:
        return self.log.out_dir / CHECKPOINT_NAME

    # ------------------------------------------------------------------ the run's life

    def start(self, checkpoint: Checkpoint | None = None, **parts: Resumable) -> None:
        """Begin at env step 1, or put everything back as ``checkpoint`` left it and go on after its step.

        ``parts`` are the loop's own resumable state (MBPO's model side), checkpointed from now on. A fresh
        run writes a checkpoint at step 0 at once: the run directory then records the run's config and W&B
        id, so even a run killed before its first regular checkpoint resumes as the same run.
        """
        self.parts = parts
        if checkpoint is None:
            self.log.open()
            self.save_checkpoint(0)
        else:
            with warnings.catch_warnings(record=True) as caught:  # to keep them in provenance.yaml too
                warnings.simplefilter("always")
                self._load(checkpoint)
            for caught_warning in caught:
                warnings.warn(caught_warning.message, stacklevel=2)
            self.log.open(rows=checkpoint["log"]["rows"], wandb_id=checkpoint["log"]["wandb_id"])
            self.log.resumed(at_env_step=checkpoint["step"], warnings=[str(w.message) for w in caught])
        self.started = time.perf_counter()

    def env_steps(self) -> Iterator[int]:
        """The env steps still to take (1 … ``cfg.steps``, or from just after the checkpoint), behind a
        progress bar (hidden with ``--quiet`` or off a terminal)."""
        disable = self.quiet or not sys.stderr.isatty()
        steps = range(self.first_step, self.cfg.steps + 1)
        desc = f"{self.cfg.env}/{self.cfg.algo}"
        bar = tqdm(steps, initial=self.first_step - 1, total=self.cfg.steps, desc=desc, disable=disable)
        for step in bar:
            self.step = step
            yield step

    def finish(self) -> None:
        """Close the log (``metrics.csv`` reaches the disk first), then delete the checkpoint or, with
        ``keep_checkpoint``, replace it by the final state."""
        self.log.close()
        if self.cfg.keep_checkpoint:
            self.save_checkpoint(self.cfg.steps)
        else:
            self.checkpoint_path.unlink(missing_ok=True)
        self.env.close()
        self.eval_env.close()

    # ------------------------------------------------------------------ each env step

    def explore(self, step: int) -> bool:
        """Whether this env step belongs to the uniformly random warm-up."""
        return step <= self.cfg.init_exploration_steps

    def act_and_store(self, step: int) -> None:
        """One real env step (random during the warm-up, else the stochastic policy) into the env buffer."""
        explore = self.explore(step)
        action = self.runner.random_action() if explore else self.runner.policy_action(self.agent, self.device)
        self.runner.step(action)
        fault_point("env_step")

    def sac_updates(self):
        """Context for one env step's SAC updates: append each ``agent.update(...)`` result to the list it
        yields; on exit they are checked for non-finite values once, and committed or rolled back
        (`mbpo.guards`)."""
        return self.guards.sac_updates(self.step, self.update_metrics)

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
            "wall_time_s": self.wall_offset + time.perf_counter() - self.started,
            "train/episode_return": self.runner.drain_returns(),
            **self.update_metrics.pop(),
            **self.guards.pop_counts(self.log.columns),
            **{f"time/{phase}_s": s for phase, s in self.seconds.items()},
            **(extra or {}),
        }
        self.seconds.clear()
        self.log.log(row)

    # ------------------------------------------------------------------ checkpoints

    def checkpoint_due(self, step: int) -> bool:
        """Every ``checkpoint_every`` env steps (default: every epoch), except the last: a finished run
        keeps its checkpoint only with ``keep_checkpoint``."""
        every = self.cfg.checkpoint_every or self.cfg.epoch_length
        return step % every == 0 and step < self.cfg.steps

    def save_checkpoint(self, step: int) -> None:
        """Write everything needed to continue after env ``step`` to ``checkpoint.pt``, atomically."""
        with self.timed("checkpoint"):
            state = {
                "step": step,
                "config": self.cfg.to_dict(),
                "device": self.device.type,
                "log": self.log.state_dict(),
                "session": {
                    "agent": self.agent.state_dict(),
                    "agent_optim": self.agent.optimizer_state_dict(),
                    "env_buffer": buffer_state(self.env_buffer),
                    "runner": self.runner.state_dict(),
                    "eval_env": env_state(self.eval_env),
                    "update_metrics": self.update_metrics.state_dict(),
                    "guards": self.guards.state_dict(),
                    "seconds": dict(self.seconds),
                    "wall_time_s": self.wall_offset + time.perf_counter() - self.started,
                    "rng": rng_state(self.generator),
                },
                "parts": {name: part.state_dict() for name, part in self.parts.items()},
            }
            save_checkpoint(to_cpu(state), self.checkpoint_path)

    def _load(self, checkpoint: Checkpoint) -> None:
        saved = checkpoint["session"]
        self.agent.load_state_dict(saved["agent"])
        self.agent.load_optimizer_state_dict(saved["agent_optim"])
        load_buffer_state(self.env_buffer, saved["env_buffer"])
        self.runner.load_state_dict(saved["runner"])
        load_env_state(self.eval_env, saved["eval_env"])
        self.update_metrics.load_state_dict(saved["update_metrics"], self.device)
        self.guards.load_state_dict(saved["guards"])
        self.seconds = defaultdict(float, saved["seconds"])
        self.wall_offset = saved["wall_time_s"]
        for name, part in self.parts.items():
            part.load_state_dict(checkpoint["parts"][name])
        load_rng_state(saved["rng"], self.generator)  # last: nothing may draw a random number after it
        self.first_step = checkpoint["step"] + 1


def open_session(cfg: Config, out_dir: str | Path, extra_columns: tuple[str, ...] = (), quiet: bool = False) -> Session:
    """Seed everything from ``cfg.seed``, make the envs, the agent and the env buffer; nothing is written
    until `Session.start`."""
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    cfg = cfg.on_device(device.type)  # what the run does on this device is what config.yaml records
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
        guards=Guards(agent),
        quiet=quiet,
    )
