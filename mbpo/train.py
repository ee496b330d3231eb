"""The MBPO training loop (Janner et al., 2019, Algorithm 2), at the official implementation's settings.

Read `train_mbpo` top to bottom: a random warm-up; then, every ``model_train_freq`` env steps, refit the
ensemble on all real data and branch ``rollout_batch_size`` k-step rollouts into the model buffer; every
env step, act in the real env and take G SAC updates on batches that are ``real_ratio`` real.
"""

from __future__ import annotations

from pathlib import Path

import torch

from mbpo.buffer import Batch, ReplayBuffer, sample_mixed
from mbpo.config import Config
from mbpo.diagnostics.monitor import ModelDiagnostics
from mbpo.models.ensemble import GaussianEnsemble
from mbpo.models.training import fit_ensemble, make_optimizer
from mbpo.rollout import branched_rollout, model_buffer_capacity, rollout_length
from mbpo.session import open_session
from mbpo.termination import termination_fn

MBPO_COLUMNS = (
    "model/holdout_mse",
    "model/holdout_mse_all",
    "model/holdout_mse_worst",
    "model/train_nll",
    "model/epochs",
    "model/seconds",
    "model/n_train",
    "model/n_holdout",
    "model/elites",
    "rollout/length",
    "rollout/transitions",
    "rollout/alive_fraction",
    "rollout/model_buffer_size",
    "time/model_s",
    "time/rollout_s",
)


def model_training_data(buffer: ReplayBuffer) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``(N, obs_dim + act_dim)`` = s ⊕ a and targets ``(N, obs_dim + 1)`` = (s' − s) ⊕ r."""
    data: Batch = buffer.all()
    inputs = torch.cat([data.obs, data.act], dim=-1)
    targets = torch.cat([data.next_obs - data.obs, data.rew.unsqueeze(-1)], dim=-1)
    return inputs, targets


def train_mbpo(cfg: Config, out_dir: str | Path, quiet: bool = False) -> None:
    """Run MBPO for ``cfg.steps`` env steps, writing ``config.yaml`` and ``metrics.csv`` to ``out_dir``."""
    run = open_session(cfg, out_dir, MBPO_COLUMNS, quiet=quiet)
    model = GaussianEnsemble(run.obs_dim, run.act_dim, cfg.model).to(run.device)
    model_optim = make_optimizer(model)
    is_terminal = termination_fn(cfg.env)
    model_buffer = ReplayBuffer(1, run.obs_dim, run.act_dim, run.device)  # sized when k is known
    model_log: dict[str, float] = {}
    diagnostics = ModelDiagnostics.if_enabled(cfg, out_dir, run.obs_dim, run.act_dim, run.device)  # None: off

    for step in run.env_steps():
        learning_step = step - 1 - cfg.init_exploration_steps  # env steps taken since learning began
        if learning_step >= 0 and learning_step % cfg.model_train_freq == 0:
            if diagnostics is not None:  # before the fit, while the newest real data is unseen by the model
                diagnostics.before_fit(step, learning_step // cfg.epoch_length, model, run.agent, run.env_buffer)
            with run.timed("model"):
                fit = fit_ensemble(model, model_optim, *model_training_data(run.env_buffer), cfg.model, run.generator)
            k = rollout_length(cfg.rollout_schedule, epoch=learning_step // cfg.epoch_length)
            with run.timed("rollout"):
                model_buffer.resize(model_buffer_capacity(cfg, k))
                start = run.env_buffer.sample(cfg.rollout_batch_size, run.generator).obs
                rollout = branched_rollout(model, run.agent, is_terminal, start, k, run.generator)
                model_buffer.add_batch(rollout.transitions)
            model_log = fit.as_metrics() | {
                "model/elites": " ".join(map(str, fit.elites)),
                "rollout/length": k,
                "rollout/transitions": len(rollout.transitions),
                "rollout/alive_fraction": float(rollout.alive_fraction),
            }

        with run.timed("env"):
            run.act_and_store(step)

        if learning_step >= 0:
            with run.timed("policy"):
                for _ in range(cfg.num_train_repeat):
                    batch = sample_mixed(
                        run.env_buffer, model_buffer, cfg.sac.batch_size, cfg.real_ratio, run.generator
                    )
                    run.update_metrics.add(run.agent.update(batch))

        if run.eval_due(step):
            run.evaluate_and_log(step, model_log | {"rollout/model_buffer_size": len(model_buffer)})
    run.close()
