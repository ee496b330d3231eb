"""MBPO's model buffer in a checkpoint: the recipe of its rollouts instead of their transitions.

The model buffer holds the newest transitions of the last few rounds of branched rollouts: at Hopper's
k = 15 that is 6M rows, about 620 MB, most of every checkpoint. Yet each round is a deterministic
function of a few MB: the ensemble and the actor it ran with, the run generator's state before it drew,
how many env-buffer rows it drew its start states from, and k (`RolloutRound`). So a checkpoint stores
the rounds whose rows are still in the buffer, and a resume runs them again. A digest of the buffer's
storage tells whether the rerun gave back the very same bytes (it does on the same machine, thread count
and libraries); where it did not, the run goes on with the rerun rollouts and says so.

Where a rerun is impossible the rows themselves are stored, as before: when the env buffer may wrap
within the run (its old rows, the start states of old rounds, get overwritten), and while the recorded
rounds do not yet account for every row (right after resuming from a checkpoint that stored rows).

Why it matters: a checkpoint is what carries a multi-hour run from one machine or session to the next,
and a 30 MB file is cheap to write every epoch, to copy and to keep where a 600 MB one is not.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from mbpo.buffer import Batch, ReplayBuffer
from mbpo.checkpoint import buffer_state, load_buffer_state


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``module``'s state that its later training cannot change."""
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


@dataclass
class RolloutRound:
    """Everything that decides one round of branched rollouts, captured just before it draws anything."""

    ensemble: dict[str, torch.Tensor]  # the freshly fitted ensemble
    actor: dict[str, torch.Tensor]  # the policy that chose the model actions
    termination: dict[str, torch.Tensor] | None  # the learned-termination ablation's classifier
    generator: torch.Tensor  # the run generator's state: start states, elites, noise all follow from it
    env_rows: int  # the start states were drawn among the env buffer's first env_rows rows
    length: int  # k
    added: int = 0  # transitions the round put in the model buffer (after the non-finite guard)

    @classmethod
    def capture(
        cls,
        ensemble: nn.Module,
        actor: nn.Module,
        termination: nn.Module | None,
        generator: torch.Generator,
        env_rows: int,
        length: int,
    ) -> RolloutRound:
        return cls(
            ensemble=snapshot(ensemble),
            actor=snapshot(actor),
            termination=None if termination is None else snapshot(termination),
            generator=generator.get_state(),
            env_rows=env_rows,
            length=length,
        )

    def state_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RolloutRound:
        return cls(**state)


class RoundLog:
    """The rounds whose transitions are still in the model buffer, oldest first.

    The buffer only ever keeps the newest rows of all that was added to it (wrapping writes and resizes
    alike), so its contents, oldest first, are the last ``size`` rows of the rounds' outputs laid end to
    end: the newest rounds that together added at least ``size`` rows are enough to rebuild it.
    """

    def __init__(self, rounds: list[RolloutRound] | None = None) -> None:
        self.rounds = rounds or []

    def record(self, finished: RolloutRound, buffer_size: int) -> None:
        """Add a finished round (its ``added`` set), then forget the rounds the buffer no longer holds."""
        self.rounds.append(finished)
        while len(self.rounds) > 1 and sum(r.added for r in self.rounds[1:]) >= buffer_size:
            self.rounds.pop(0)

    def covers(self, buffer: ReplayBuffer) -> bool:
        """Whether the rounds account for every row (not so after resuming from stored rows)."""
        return sum(r.added for r in self.rounds) >= len(buffer)


def digest(buffer: ReplayBuffer) -> str:
    """A hash of the buffer's whole storage and layout: equal digests, equal buffers, bit for bit."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{buffer.capacity} {buffer.size} {buffer.ptr}".encode())
    for values in buffer.state_dict()["storage"].values():
        h.update(values.detach().cpu().contiguous().numpy())  # hashed in place, not copied
    return h.hexdigest()


def model_buffer_state(buffer: ReplayBuffer, log: RoundLog, rerunnable: bool) -> dict[str, Any]:
    """The model buffer's checkpoint: its rounds and digest where they can rebuild it, else its rows."""
    if not (rerunnable and log.covers(buffer)):
        return buffer_state(buffer)
    return {
        "capacity": buffer.capacity,
        "size": buffer.size,
        "ptr": buffer.ptr,
        "rounds": [r.state_dict() for r in log.rounds],
        "digest": digest(buffer),
    }


def load_model_buffer_state(
    buffer: ReplayBuffer, state: dict[str, Any], rerun: Callable[[RolloutRound], Batch]
) -> RoundLog:
    """Fill ``buffer`` from `model_buffer_state`'s output; ``rerun`` runs a round again (without storing
    it) and returns the transitions it adds. Returns the rounds, to go on recording after them.

    A rerun on a machine that computes differently (another CPU's kernels, another thread count) gives
    other last bits, or even other terminations: the run then goes on with the rebuilt buffer, as good a
    sample of the same rollouts, and a warning says it is no longer bit-identical to an uninterrupted run.
    """
    if "rounds" not in state:  # stored rows
        load_buffer_state(buffer, state)
        return RoundLog()
    rounds = [RolloutRound.from_state(s) for s in state["rounds"]]
    capacity, size, ptr = state["capacity"], state["size"], state["ptr"]
    storage = {
        name: torch.zeros((capacity, *empty.shape[1:]), dtype=empty.dtype, device=empty.device)
        for name, empty in buffer.state_dict()["storage"].items()
    }
    # The ring's newest row sits just before ptr. Rerun the rounds newest first, each into the slots before
    # the previous one's, until ``size`` rows are back: one round's rows in memory at a time, not all of
    # them and their concatenation (twice the buffer: ~1.2 GB at Hopper's k = 15), and a round whose rows
    # were all overwritten is not rerun.
    placed, kept = 0, []
    for r in reversed(rounds):
        if placed == size:
            break
        rows = rerun(r)
        r.added = len(rows)  # as recorded, unless the rerun computes differently (then the digest says so)
        take = min(len(rows), size - placed)
        slots = (ptr - placed - take + torch.arange(take, device=rows.obs.device)) % capacity
        for name, values in storage.items():
            values[slots] = getattr(rows, name)[len(rows) - take :]
        placed += take
        kept.insert(0, r)
    if placed < size:  # a rerun on another machine ended more branches: the rows it gave go first
        storage = {name: torch.roll(values, placed - ptr, dims=0) for name, values in storage.items()}
    buffer.load_state_dict(
        {"storage": storage, "capacity": capacity, "size": placed, "ptr": ptr if placed == size else placed}
    )
    if digest(buffer) != state["digest"]:
        warnings.warn(
            "model buffer: the rollouts rerun from the checkpoint differ from the run's (another machine, thread "
            "count or library version?); the run goes on with them, no longer bit-identical to an "
            "uninterrupted one",
            RerunMismatch,
            stacklevel=2,
        )
    return RoundLog(kept)


class RerunMismatch(UserWarning):
    """Rerun rollouts differ from the checkpointed ones: the resumed run is not bit-identical."""
