"""Named points where a test can make this process die with SIGKILL, as a preemption or an OOM kill would.

Resuming must work from anywhere; the kill tests prove it by setting ``MBPO_FAULT=<point>@<n>`` for a
``mbpo train`` subprocess: the n-th time the process reaches ``<point>`` it sends itself SIGKILL (no
cleanup, no flush, no exit handlers). Unset, as always outside tests, a fault point is one comparison.

Points: ``env_step`` (after a real env step), ``model_fit`` (a forward pass of the ensemble during a fit),
``rollout`` (rollouts computed, not yet stored), ``metrics_row`` (a row written to metrics.csv, not yet
in a checkpoint), ``checkpoint_write`` (the new checkpoint fully written to its temporary file, not yet
renamed over the old one).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

POINTS = ("env_step", "model_fit", "rollout", "metrics_row", "checkpoint_write")


def _parse(spec: str | None) -> tuple[str, int] | None:
    if not spec:
        return None
    point, _, count = spec.partition("@")
    if point not in POINTS or not count.isdigit() or int(count) < 1:
        raise ValueError(f"MBPO_FAULT={spec!r}: expected <point>@<n> with n >= 1 and point one of {POINTS}")
    return point, int(count)


_TARGET = _parse(os.environ.get("MBPO_FAULT"))
_reached = 0


def fault_point(point: str) -> None:
    """Die here with SIGKILL if ``MBPO_FAULT`` names this point and this is its n-th visit."""
    global _reached
    if _TARGET is None or _TARGET[0] != point:
        return
    _reached += 1
    if _reached == _TARGET[1]:
        os.kill(os.getpid(), signal.SIGKILL)


@contextmanager
def fault_point_in_forward(point: str, module: nn.Module) -> Iterator[None]:
    """Inside the block, every forward pass of ``module`` is a visit of ``point`` (a kill mid-computation)."""
    if _TARGET is None or _TARGET[0] != point:
        yield
        return
    handle = module.register_forward_pre_hook(lambda *_: fault_point(point))
    try:
        yield
    finally:
        handle.remove()
