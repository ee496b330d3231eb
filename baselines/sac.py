"""Model-free SAC: the paper's baseline. Same agent, buffer, envs, logging and checkpoints as MBPO; no model."""

from __future__ import annotations

from pathlib import Path

from mbpo.checkpoint import Checkpoint
from mbpo.config import Config
from mbpo.session import open_session


def train_sac(cfg: Config, out_dir: str | Path, quiet: bool = False, resume: Checkpoint | None = None) -> None:
    """Run SAC for ``cfg.steps`` env steps: a random warm-up, then ``num_train_repeat`` updates per step;
    with ``resume`` (a checkpoint of this run), continue after the checkpoint's env step instead."""
    run = open_session(cfg, out_dir, quiet=quiet)
    run.start(resume)
    for step in run.env_steps():
        with run.timed("env"):
            run.act_and_store(step)
        if not run.explore(step):
            with run.timed("policy"), run.sac_updates() as updates:
                for _ in range(cfg.num_train_repeat):
                    batch = run.env_buffer.sample(cfg.sac.batch_size, run.generator)
                    updates.append(run.agent.update(batch))
        if run.eval_due(step):
            run.evaluate_and_log(step)
        if run.checkpoint_due(step):
            run.save_checkpoint(step)
    run.finish()
