"""The MBPO training loop (Janner et al., 2019, Algorithm 2), at the official implementation's settings.

Read `train_mbpo` top to bottom: a random warm-up; then, every ``model_train_freq`` env steps, refit the
ensemble on all real data and branch ``rollout_batch_size`` k-step rollouts into the model buffer; every
env step, act in the real env and take G SAC updates on batches that are ``real_ratio`` real. The run's
state lives in the `Session` and in `ModelSide`, both checkpointed every ``checkpoint_every`` env steps.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mbpo.buffer import Batch, ReplayBuffer, sample_mixed
from mbpo.checkpoint import Checkpoint
from mbpo.config import Config
from mbpo.diagnostics.monitor import ModelDiagnostics
from mbpo.guards import DROPPED_ROLLOUT, NONFINITE_MODEL, finite_rows
from mbpo.model_buffer import RolloutRound, RoundLog, load_model_buffer_state, model_buffer_state
from mbpo.model_usage import reward_penalty, rollout_schedule, rollout_termination, usage_columns
from mbpo.models.ensemble import GaussianEnsemble
from mbpo.models.termination_net import TerminationNet, fit_termination, make_termination_optimizer
from mbpo.models.training import fit_ensemble, make_optimizer
from mbpo.rollout import Rollout, branched_rollout, model_buffer_capacity
from mbpo.sac import SAC
from mbpo.schedule import rollout_length
from mbpo.session import Session, open_session
from mbpo.uncertainty import penalty_metrics

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
    NONFINITE_MODEL,
    DROPPED_ROLLOUT,
    "time/model_s",
    "time/rollout_s",
)


def model_training_data(buffer: ReplayBuffer) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``(N, obs_dim + act_dim)`` = s ⊕ a and targets ``(N, obs_dim + 1)`` = (s' − s) ⊕ r."""
    data: Batch = buffer.all()
    inputs = torch.cat([data.obs, data.act], dim=-1)
    targets = torch.cat([data.next_obs - data.obs, data.rew.unsqueeze(-1)], dim=-1)
    return inputs, targets


@dataclass
class ModelSide:
    """MBPO's state beyond SAC's: the ensemble, its optimizer (kept across refits, as official), the model
    buffer with the rounds of rollouts that filled it, and the last refit's diagnostics (repeated in every
    metrics row until the next refit); with ``rollout_termination = learned`` (an ablation), also the
    termination classifier and its optimizer."""

    run: Session
    ensemble: GaussianEnsemble
    optim: torch.optim.Optimizer
    buffer: ReplayBuffer
    rounds: RoundLog = field(default_factory=RoundLog)
    log: dict[str, Any] = field(default_factory=dict)
    termination: TerminationNet | None = None
    termination_optim: torch.optim.Optimizer | None = None

    @classmethod
    def create(cls, run: Session) -> ModelSide:
        cfg = run.cfg
        ensemble = GaussianEnsemble(run.obs_dim, run.act_dim, cfg.model).to(run.device)
        buffer = ReplayBuffer(1, run.obs_dim, run.act_dim, run.device)  # sized when k is known
        side = cls(run, ensemble, make_optimizer(ensemble), buffer)
        if cfg.rollout_termination == "learned":
            side.termination = TerminationNet(run.obs_dim, cfg.termination_net, seed=cfg.seed).to(run.device)
            side.termination_optim = make_termination_optimizer(side.termination)
        return side

    def branch(self, k: int) -> tuple[Rollout, Batch]:
        """One round of ``rollout_batch_size`` k-step branches into the model buffer, recorded so that a
        checkpoint can rerun it instead of storing its transitions; returns the rollout and what was kept."""
        run = self.run
        recipe = RolloutRound.capture(
            self.ensemble, run.agent.actor, self.termination, run.generator, len(run.env_buffer), k
        )
        rollout = self._roll(recipe, self.ensemble, run.agent, self.termination, run.generator)
        transitions = run.guards.finite_transitions(rollout.transitions)
        self.buffer.resize(model_buffer_capacity(run.cfg, k))
        self.buffer.add_batch(transitions)
        recipe.added = len(transitions)
        self.rounds.record(recipe, len(self.buffer))
        return rollout, transitions

    def _roll(
        self,
        recipe: RolloutRound,
        ensemble: GaussianEnsemble,
        agent: SAC,
        termination: TerminationNet | None,
        generator: torch.Generator,
    ) -> Rollout:
        """The rollout itself, the same code for the live round and for its rerun from a checkpoint."""
        cfg = self.run.cfg
        start = self.run.env_buffer.sample(cfg.rollout_batch_size, generator, among=recipe.env_rows).obs
        # The env's termination rule and no reward penalty, unless an ablation says otherwise.
        is_terminal = rollout_termination(cfg, termination)
        return branched_rollout(
            ensemble, agent, is_terminal, start, recipe.length, generator, penalty=reward_penalty(cfg)
        )

    def _rerun(self, recipe: RolloutRound) -> Batch:
        """A recorded round again, on copies of the modules holding its snapshots (on resume only): the
        transitions it added."""
        ensemble, agent, termination = copy.deepcopy((self.ensemble, self.run.agent, self.termination))
        ensemble.load_state_dict(recipe.ensemble)
        agent.actor.load_state_dict(recipe.actor)
        if termination is not None:
            termination.load_state_dict(recipe.termination)
        generator = torch.Generator(self.run.generator.device)
        generator.set_state(recipe.generator)
        return finite_rows(self._roll(recipe, ensemble, agent, termination, generator).transitions)

    def state_dict(self) -> dict[str, Any]:
        # Rerunning a round needs its start states, still in the env buffer unless it can wrap in this run.
        rerunnable = self.run.env_buffer.capacity >= self.run.cfg.steps
        state = {
            "ensemble": self.ensemble.state_dict(),
            "optim": self.optim.state_dict(),
            "buffer": model_buffer_state(self.buffer, self.rounds, rerunnable),
            "log": dict(self.log),
        }
        if self.termination is not None and self.termination_optim is not None:
            state["termination"] = self.termination.state_dict()
            state["termination_optim"] = self.termination_optim.state_dict()
        return state

    def load_state_dict(self, state: Checkpoint) -> None:
        """Put the state back; the env buffer and the agent must already be (`Session._load`'s order)."""
        self.ensemble.load_state_dict(state["ensemble"])
        self.optim.load_state_dict(state["optim"])
        if self.termination is not None and self.termination_optim is not None:
            self.termination.load_state_dict(state["termination"])
            self.termination_optim.load_state_dict(state["termination_optim"])
        self.rounds = load_model_buffer_state(self.buffer, state["buffer"], self._rerun)
        self.log = dict(state["log"])


def train_mbpo(cfg: Config, out_dir: str | Path, quiet: bool = False, resume: Checkpoint | None = None) -> None:
    """Run MBPO for ``cfg.steps`` env steps, writing ``config.yaml`` and ``metrics.csv`` to ``out_dir``;
    with ``resume`` (a checkpoint of this run), continue after the checkpoint's env step instead."""
    run = open_session(cfg, out_dir, MBPO_COLUMNS + usage_columns(cfg), quiet=quiet)
    model = ModelSide.create(run)
    schedule, penalty = rollout_schedule(cfg), reward_penalty(cfg)
    diagnostics = ModelDiagnostics.if_enabled(cfg, out_dir, run.obs_dim, run.act_dim, run.device)  # None: off
    run.start(resume, model=model, **({"diagnostics": diagnostics} if diagnostics is not None else {}))

    for step in run.env_steps():
        learning_step = step - 1 - cfg.init_exploration_steps  # env steps taken since learning began
        if learning_step >= 0 and learning_step % cfg.model_train_freq == 0:
            if diagnostics is not None:  # before the fit, while the newest real data is unseen by the model
                epoch = learning_step // cfg.epoch_length
                diagnostics.before_fit(step, epoch, model.ensemble, run.agent, run.env_buffer)
            with run.timed("model"), run.guards.model_fit(step, model.ensemble, model.optim) as fitted:
                fit = fit_ensemble(
                    model.ensemble, model.optim, *model_training_data(run.env_buffer), cfg.model, run.generator
                )
            if fitted.ok:  # else the fit went non-finite: the model is back as it was, and no rollouts
                usage_log = {}
                if model.termination is not None:  # the learned-termination ablation: refit the classifier
                    with run.timed("termination"):
                        real = run.env_buffer.all()
                        termination_fit = fit_termination(
                            model.termination, model.termination_optim, real.next_obs, real.terminated, run.generator
                        )
                    usage_log |= termination_fit.as_metrics()
                k = rollout_length(schedule, epoch=learning_step // cfg.epoch_length)
                with run.timed("rollout"):
                    rollout, transitions = model.branch(k)
                if penalty is not None:
                    usage_log |= penalty_metrics(rollout.transitions.rew, rollout.uncertainty, penalty.coef)
                model.log = (
                    fit.as_metrics()
                    | {
                        "model/elites": " ".join(map(str, fit.elites)),
                        "rollout/length": k,
                        "rollout/transitions": len(transitions),
                        "rollout/alive_fraction": float(rollout.alive_fraction),
                    }
                    | usage_log
                )

        with run.timed("env"):
            run.act_and_store(step)

        if learning_step >= 0:
            with run.timed("policy"), run.sac_updates() as updates:
                for _ in range(cfg.num_train_repeat):
                    batch = sample_mixed(
                        run.env_buffer, model.buffer, cfg.sac.batch_size, cfg.real_ratio, run.generator
                    )
                    updates.append(run.agent.update(batch))

        if run.eval_due(step):
            run.evaluate_and_log(step, model.log | {"rollout/model_buffer_size": len(model.buffer)})
        if run.checkpoint_due(step):
            run.save_checkpoint(step)
    run.finish()
