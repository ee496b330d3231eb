"""Numerical guards: a NaN or inf never silently poisons a run, and no check costs a host sync per update.

* **SAC updates.** The diagnostics of an env step's G updates (losses, α, entropy, Q) are checked once,
  after the G updates: one flag read per env step, where the loop waits for the policy's next action
  anyway. If any is non-finite, the agent (networks, temperature and optimizer states) goes back to its
  last snapshot, and those G updates' diagnostics are dropped from the metrics row. A snapshot is taken
  before an env step's updates once ``SNAPSHOT_UPDATES`` updates have passed since the last one (every
  5th env step for MBPO's G = 20, every 100th for SAC's G = 1), so a rollback undoes at most that many
  good updates besides the bad ones: nothing next to a run's millions of updates, at a snapshot cost of
  a few MB copied per 100 updates. Counted in ``guard/nonfinite_sac`` (env steps rolled back).
* **Model fits.** The ensemble and its optimizer are copied before each fit and checked after it (one
  sync per fit): any non-finite parameter or optimizer state restores the pre-fit copy, and that round
  has no rollouts (the model buffer keeps the previous rounds' and SAC trains on). Counted in
  ``guard/nonfinite_model`` (fits rolled back). A non-finite batch cannot improve any member's holdout
  error, so such a fit stops early after ``max_epochs_since_update + 1`` epochs.
* **Rollouts.** Model transitions with any non-finite entry are dropped before the model buffer (one sync
  per rollout round). Counted in ``guard/dropped_rollout`` (transitions dropped).

A run whose guard fires ``MAX_CONSECUTIVE_SAC`` env steps or ``MAX_CONSECUTIVE_FITS`` fits in a row
stops with `NumericalError`: by then the cause is in the data or the config, not a fluke.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from mbpo.buffer import Batch
from mbpo.errors import UserError
from mbpo.failpoints import fault_point, fault_point_in_forward
from mbpo.sac import SAC

SNAPSHOT_UPDATES = 100
MAX_CONSECUTIVE_SAC = 10
MAX_CONSECUTIVE_FITS = 3
NONFINITE_SAC = "guard/nonfinite_sac"
NONFINITE_MODEL = "guard/nonfinite_model"
DROPPED_ROLLOUT = "guard/dropped_rollout"


def finite_rows(batch: Batch) -> Batch:
    """``batch`` without the transitions that have a non-finite entry (one host sync)."""
    n = len(batch)
    if n == 0:
        return batch
    finite = torch.stack([torch.isfinite(x.reshape(n, -1)).all(dim=1) for x in batch]).all(dim=0)
    if int(finite.sum()) == n:
        return batch
    return Batch(*(x[finite] for x in batch))


class NumericalError(UserError, RuntimeError):
    """Training kept producing non-finite numbers; the message says where and how often."""


def _tensors(state: Any) -> list[Tensor]:
    """Every tensor of a nested state dict, in a fixed order."""
    if isinstance(state, Tensor):
        return [state]
    if isinstance(state, Mapping):
        return [t for v in state.values() for t in _tensors(v)]
    if isinstance(state, list | tuple):
        return [t for v in state for t in _tensors(v)]
    return []


def _clone(state: Any, device: torch.device | None = None) -> Any:
    """A deep copy of a nested state whose tensors own their memory (on ``device`` if given)."""
    memo = {id(t): t.detach().to(device).clone() if device else t.detach().clone() for t in _tensors(state)}
    return copy.deepcopy(state, memo=memo)


def all_finite(tensors: list[Tensor]) -> bool:
    """Whether every floating-point entry of many (large) tensors is finite (one host sync)."""
    flags = [torch.isfinite(t).all() for t in tensors if t.is_floating_point()]
    return bool(torch.stack(flags).all()) if flags else True


@dataclass
class FitOutcome:
    ok: bool = True  # False: the fit went non-finite and the model is back in its pre-fit state


class Guards:
    """The guards of one run and their counts since the last metrics row."""

    def __init__(self, agent: SAC) -> None:
        self.agent = agent
        self._optimizers = [getattr(agent, name) for name in agent.optimizer_state_dict()]
        self.counts: dict[str, int] = {}
        self.snapshot: dict[str, Any] | None = None
        # (optimizer states counted, snapshot tensors, the live tensors they copy), while that count holds
        self._pairs: tuple[int, list[Tensor], list[Tensor]] | None = None
        self.updates_since_snapshot = 0
        self.consecutive_sac = 0
        self.consecutive_fits = 0

    # ------------------------------------------------------------------ SAC

    def _agent_state(self) -> dict[str, Any]:
        return {"agent": self.agent.state_dict(), "optim": self.agent.optimizer_state_dict()}

    def _optimizer_states(self) -> int:
        return sum(len(optim.state) for optim in self._optimizers)

    def _take_snapshot(self) -> None:
        """Copy the agent into the snapshot: in place (no allocation, no state-dict building) once the
        optimizers have created their state, since parameters and Adam moments are updated in place."""
        if self._pairs is None or self._pairs[0] != self._optimizer_states():
            live = self._agent_state()
            self.snapshot = _clone(live)
            self._pairs = (self._optimizer_states(), _tensors(self.snapshot), _tensors(live))
        else:
            torch._foreach_copy_(self._pairs[1], self._pairs[2])
        self.updates_since_snapshot = 0

    def _restore_snapshot(self) -> None:
        assert self.snapshot is not None
        state = _clone(self.snapshot)  # optimizers keep the tensors they load: never hand them the snapshot
        self.agent.load_state_dict(state["agent"])
        self.agent.load_optimizer_state_dict(state["optim"])
        self._pairs = None  # the optimizers now hold new tensors

    @contextmanager
    def sac_updates(self, step: int, sink: Any) -> Iterator[list[dict[str, Tensor]]]:
        """Collect one env step's update diagnostics; commit them to ``sink`` (a `MetricMeans`) or roll back."""
        if self.snapshot is None or self.updates_since_snapshot >= SNAPSHOT_UPDATES:
            self._take_snapshot()
        updates: list[dict[str, Tensor]] = []
        yield updates
        values = torch.cat([v.reshape(-1) for metrics in updates for v in metrics.values()])
        if bool(torch.isfinite(values).all()):  # the one sync
            self.consecutive_sac = 0
            self.updates_since_snapshot += len(updates)
            for metrics in updates:
                sink.add(metrics)
            return
        self._restore_snapshot()
        self.updates_since_snapshot = 0
        self._count(NONFINITE_SAC)
        self.consecutive_sac += 1
        if self.consecutive_sac >= MAX_CONSECUTIVE_SAC:
            raise NumericalError(
                f"SAC losses were non-finite in {self.consecutive_sac} consecutive env steps (the last at env "
                f"step {step}), each rolled back; stopping. Check the data and the SAC settings (e.g. sac.lr)"
            )

    # ------------------------------------------------------------------ model

    @contextmanager
    def model_fit(self, step: int, ensemble: torch.nn.Module, optim: torch.optim.Optimizer) -> Iterator[FitOutcome]:
        """Run a fit inside; if it leaves anything non-finite, restore the pre-fit model and optimizer."""
        before = _clone({"model": ensemble.state_dict(), "optim": optim.state_dict()})
        outcome = FitOutcome()
        with fault_point_in_forward("model_fit", ensemble):
            yield outcome
        if all_finite(_tensors(ensemble.state_dict()) + _tensors(optim.state_dict()["state"])):
            self.consecutive_fits = 0
            return
        ensemble.load_state_dict(before["model"])
        optim.load_state_dict(before["optim"])
        outcome.ok = False
        self._count(NONFINITE_MODEL)
        self.consecutive_fits += 1
        if self.consecutive_fits >= MAX_CONSECUTIVE_FITS:
            raise NumericalError(
                f"the model fit went non-finite {self.consecutive_fits} times in a row (the last at env step "
                f"{step}), each rolled back; stopping. Check the real data and the model settings (e.g. model.lr)"
            )

    def finite_transitions(self, batch: Batch) -> Batch:
        """``batch`` without the transitions that have a non-finite entry (counted)."""
        fault_point("rollout")
        finite = finite_rows(batch)
        if len(finite) < len(batch):
            self._count(DROPPED_ROLLOUT, len(batch) - len(finite))
        return finite

    # ------------------------------------------------------------------ bookkeeping

    def _count(self, column: str, n: int = 1) -> None:
        self.counts[column] = self.counts.get(column, 0) + n

    def pop_counts(self, columns: tuple[str, ...]) -> dict[str, int]:
        """Events per guard column since the last call (0 where none), then reset."""
        out = {c: self.counts.get(c, 0) for c in columns if c.startswith("guard/")}
        self.counts = {}
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "counts": dict(self.counts),
            "snapshot": self.snapshot,
            "updates_since_snapshot": self.updates_since_snapshot,
            "consecutive_sac": self.consecutive_sac,
            "consecutive_fits": self.consecutive_fits,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.counts = dict(state["counts"])
        device = next(self.agent.parameters()).device
        self.snapshot = _clone(state["snapshot"], device) if state["snapshot"] is not None else None
        self._pairs = None
        self.updates_since_snapshot = state["updates_since_snapshot"]
        self.consecutive_sac = state["consecutive_sac"]
        self.consecutive_fits = state["consecutive_fits"]
