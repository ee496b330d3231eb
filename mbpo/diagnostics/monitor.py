"""The diagnostics' hook into the MBPO loop: one call at every model refit, *before* the fit.

At that moment the current ensemble was fitted at the previous refit and has never seen the transitions
collected since: they are held out by construction, without changing what training sees. A diagnostic pass
(every ``diagnostics.every`` epochs) then measures, on those transitions,

* the compounding error vs k of the ensemble (``mean`` and ``sample``, see `compounding`) and of the
  direct k-step models (``direct``, see `multistep`), into ``model_error.csv``;
* ε_m' (the ensemble's one-step error on data of the newer policy), ε_π (the policy's move since the
  previous refit, see `policy_shift`), and the k* minimising the Theorem 4.3 gap beside the schedule's k,
  into ``rollout_bound.csv``.

The diagnostics never touch the training RNG streams (their own generator draws the sampled rollouts and
the direct models' minibatches; nothing uses torch's global generator), never change a module they are
given, and write only their own two files: a run's ``metrics.csv`` is identical with them on or off.
"""

from __future__ import annotations

import copy
import csv
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mbpo.buffer import Batch, ReplayBuffer
from mbpo.diagnostics.bound import optimal_rollout_length
from mbpo.diagnostics.compounding import (
    ErrorScale,
    elite_one_step_mse,
    mean_stepper,
    open_loop_errors,
    sample_stepper,
)
from mbpo.diagnostics.files import BOUND_COLUMNS, BOUND_FILE, MODEL_ERROR_COLUMNS, MODEL_ERROR_FILE
from mbpo.diagnostics.multistep import DirectModel, direct_errors, fit_direct
from mbpo.diagnostics.policy_shift import policy_shift
from mbpo.diagnostics.segments import Segments, windows
from mbpo.models.ensemble import GaussianEnsemble
from mbpo.runtime import make_generator
from mbpo.sac import SAC
from mbpo.schedule import rollout_length

if TYPE_CHECKING:
    from mbpo.config import Config

SEED_OFFSET = 2_000_003  # the diagnostics' generator: distinct from, but fixed by, the run's seed


class ModelDiagnostics:
    """Held-out model diagnostics of one MBPO run. Checkpoint it with `state_dict` / `load_state_dict`."""

    def __init__(self, cfg: Config, out_dir: str | Path, obs_dim: int, act_dim: int, device: torch.device) -> None:
        self.settings = cfg.diagnostics
        self.gamma = cfg.sac.gamma
        self.schedule = cfg.rollout_schedule
        self.out_dir = Path(out_dir)
        self.device = torch.device(device)
        self.generator = make_generator(self.device, cfg.seed + SEED_OFFSET)
        init = torch.Generator().manual_seed(cfg.seed + SEED_OFFSET)  # CPU: module weights are made on the CPU
        self.direct = {
            k: DirectModel(obs_dim, act_dim, k, cfg.model.hidden_size, cfg.model.num_layers, init).to(self.device)
            for k in self.settings.multistep_horizons
        }
        self.direct_optim = {k: torch.optim.Adam(m.parameters(), lr=cfg.model.lr) for k, m in self.direct.items()}
        self.last_refit_step: int | None = None  # env step of the previous refit (None: no model fitted yet)
        self.next_pass_epoch = 0
        self.last_written_step: int | None = None
        self.policy_snapshot: dict[str, torch.Tensor] | None = None  # the actor at the previous refit
        self._started: set[str] = set()  # files this run has begun writing (a fresh run rewrites a stale one)

    @classmethod
    def if_enabled(
        cls, cfg: Config, out_dir: str | Path, obs_dim: int, act_dim: int, device: torch.device
    ) -> ModelDiagnostics | None:
        """The run's diagnostics, or None when ``cfg.diagnostics.every == 0`` (then nothing at all happens)."""
        return cls(cfg, out_dir, obs_dim, act_dim, device) if cfg.diagnostics.enabled else None

    # ------------------------------------------------------------------ the hook

    def before_fit(
        self, env_step: int, epoch: int, model: GaussianEnsemble, agent: SAC, env_buffer: ReplayBuffer
    ) -> None:
        """Call at every model refit, before fitting: maybe run a pass, then remember this refit's policy.

        Args:
            env_step: the loop's env step (``env_buffer`` holds ``env_step - 1`` transitions so far).
            epoch: the rollout schedule's epoch of this refit.
            model: the ensemble as fitted at the previous refit (not changed here).
            agent: the current agent (its actor is read, never changed).
            env_buffer: the real transitions (read only).
        """
        due = self.last_refit_step is not None and epoch >= self.next_pass_epoch
        if due:
            self._run_pass(env_step, epoch, model, agent, env_buffer, env_step - self.last_refit_step)
            self.next_pass_epoch = (epoch // self.settings.every + 1) * self.settings.every
        self.policy_snapshot = {name: t.detach().clone() for name, t in agent.actor.state_dict().items()}
        self.last_refit_step = env_step

    # ------------------------------------------------------------------ one pass

    def _run_pass(
        self, env_step: int, epoch: int, model: GaussianEnsemble, agent: SAC, env_buffer: ReplayBuffer, n_new: int
    ) -> None:
        started = time.perf_counter()
        data = env_buffer.all()
        n_new = min(n_new, len(data))
        if n_new < 1:
            return
        cut = len(data) - n_new
        old, new = Batch(*(x[:cut] for x in data)), Batch(*(x[cut:] for x in data))
        scale = ErrorScale.of(data)
        segments = Segments.from_transitions(new, self.settings.horizon, self.settings.max_segments)

        mean = open_loop_errors(mean_stepper(model), segments, scale)
        stepper = sample_stepper(model, len(segments), self.settings.horizon, self.generator)
        sample = open_loop_errors(stepper, segments, scale)
        rows = mean.rows(env_step, "mean") + sample.rows(env_step, "sample")

        direct_started = time.perf_counter()
        for k, direct in self.direct.items():
            obs, actions, delta, ret = windows(old, k)
            if len(obs) < 20:  # too little real data of that length yet
                continue
            pick = torch.randperm(len(obs), generator=self.generator, device=self.generator.device)
            pick = pick[: self.settings.multistep_windows].to(obs.device)
            fit_direct(
                direct,
                self.direct_optim[k],
                obs[pick],
                actions[pick],
                delta[pick],
                ret[pick],
                self.generator,
                self.settings.multistep_max_epochs,
            )
            errors = direct_errors(direct, segments, scale.state, scale.reward)
            if errors["n_segments"]:
                rows.append({"env_step": env_step, "k": k, "kind": "direct", "reward_err": math.nan, **errors})
        seconds_direct = time.perf_counter() - direct_started

        previous = copy.deepcopy(agent.actor)
        previous.load_state_dict(self.policy_snapshot)
        shift = policy_shift(previous, agent.actor, new.obs)
        eps_model = math.sqrt(mean.state_err[0])  # normalised RMS one-step error on the new policy's data
        finite = math.isfinite(eps_model) and math.isfinite(shift.tv_mean)  # a diverging model must not stop a run
        bound_k = (
            optimal_rollout_length(eps_model, shift.tv_mean, self.gamma, self.settings.bound_max_k)
            if finite
            else math.nan
        )
        bound_row = {
            "env_step": env_step,
            "epoch": epoch,
            "schedule_k": rollout_length(self.schedule, epoch),
            "bound_k": bound_k,
            "eps_model": eps_model,
            "eps_model_raw": elite_one_step_mse(model, new),
            "eps_policy": shift.tv_mean,
            "eps_policy_max": shift.tv_max,
            "policy_kl": shift.kl_mean,
            "gamma": self.gamma,
            "n_new": n_new,
            "seconds": time.perf_counter() - started,
            "seconds_direct": seconds_direct,
        }
        self._append(MODEL_ERROR_FILE, MODEL_ERROR_COLUMNS, rows)
        self._append(BOUND_FILE, BOUND_COLUMNS, [bound_row])
        self.last_written_step = env_step

    # ------------------------------------------------------------------ files

    def _append(self, name: str, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
        """Append rows; a file this run has not started yet is (re)written from its header."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        started = name in self._started
        with open(self.out_dir / name, "a" if started else "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            if not started:
                writer.writeheader()
            writer.writerows(rows)
        self._started.add(name)

    def _trim_files(self) -> None:
        """Drop rows written after the checkpoint (a resumed run writes them again)."""
        for name in (MODEL_ERROR_FILE, BOUND_FILE):
            path = self.out_dir / name
            if not path.exists():
                continue
            with open(path, newline="") as f:
                reader = csv.DictReader(f)
                columns = reader.fieldnames or []
                kept = [
                    r
                    for r in reader
                    if self.last_written_step is not None and int(r["env_step"]) <= self.last_written_step
                ]
            with open(path, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=columns)
                writer.writeheader()
                writer.writerows(kept)
            self._started.add(name)

    # ------------------------------------------------------------------ checkpointing

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue the diagnostics exactly (a few MB at most)."""
        return {
            "last_refit_step": self.last_refit_step,
            "next_pass_epoch": self.next_pass_epoch,
            "last_written_step": self.last_written_step,
            "policy_snapshot": self.policy_snapshot,
            "generator": self.generator.get_state(),
            "direct": {k: m.state_dict() for k, m in self.direct.items()},
            "direct_optim": {k: o.state_dict() for k, o in self.direct_optim.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from `state_dict`, and cut the CSVs back to the rows written before that checkpoint."""
        self.last_refit_step = state["last_refit_step"]
        self.next_pass_epoch = state["next_pass_epoch"]
        self.last_written_step = state["last_written_step"]
        snapshot = state["policy_snapshot"]
        self.policy_snapshot = None if snapshot is None else {n: t.to(self.device) for n, t in snapshot.items()}
        self.generator.set_state(state["generator"])
        for k, m in self.direct.items():
            m.load_state_dict(state["direct"][k])
            self.direct_optim[k].load_state_dict(state["direct_optim"][k])
        self._trim_files()
