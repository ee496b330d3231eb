"""Model-free SAC: the paper's baseline. Same agent, buffer, envs and logging as MBPO; no model."""

from __future__ import annotations

from pathlib import Path

from mbpo.config import Config
from mbpo.session import open_session


def train_sac(cfg: Config, out_dir: str | Path, quiet: bool = False) -> None:
    """Run SAC for ``cfg.steps`` env steps: a random warm-up, then ``num_train_repeat`` updates per step."""
    run = open_session(cfg, out_dir, quiet=quiet)
    for step in run.env_steps():
        with run.timed("env"):
            run.act_and_store(step)
        if not run.explore(step):
            with run.timed("policy"):
                for _ in range(cfg.num_train_repeat):
                    batch = run.env_buffer.sample(cfg.sac.batch_size, run.generator)
                    run.update_metrics.add(run.agent.update(batch))
        if run.eval_due(step):
            run.evaluate_and_log(step)
    run.close()
