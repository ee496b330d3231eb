"""Replay buffers as preallocated device tensors.

Both the real-transition buffer and MBPO's model buffer are the same ring buffer: a fixed capacity, writes
that wrap around, uniform sampling with an explicit `torch.Generator`. Everything stays on the training
device so that sampling inside the G-updates-per-step loop never touches the host.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch


class Batch(NamedTuple):
    """A batch of transitions. Shapes: obs/next_obs ``(B, obs_dim)``, act ``(B, act_dim)``, rew and
    terminated ``(B,)``. ``terminated`` is 1.0 only where the MDP ended; time-limit cuts are 0.0, so the
    critic still bootstraps through them."""

    obs: torch.Tensor
    act: torch.Tensor
    rew: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor

    def __len__(self) -> int:  # type: ignore[override]
        return self.obs.shape[0]

    @staticmethod
    def cat(batches: list[Batch]) -> Batch:
        return Batch(*(torch.cat(parts) for parts in zip(*batches, strict=True)))


class ReplayBuffer:
    """A ring buffer of transitions, the oldest overwritten first once full.

    Args:
        capacity: the most transitions held.
        obs_dim, act_dim: sizes of one observation and one action.
        device: where the storage lives (and where sampled batches are returned).
    """

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, device: torch.device | str = "cpu") -> None:
        if capacity <= 0:
            raise ValueError(f"buffer capacity must be positive, got {capacity}")
        self.device = torch.device(device)
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self._storage = self._allocate(capacity)
        self.capacity = capacity
        self.size = 0  # host-side counters: known without asking the device
        self.ptr = 0

    def _allocate(self, capacity: int) -> Batch:
        def zeros(*shape: int) -> torch.Tensor:
            return torch.zeros(capacity, *shape, dtype=torch.float32, device=self.device)

        return Batch(zeros(self.obs_dim), zeros(self.act_dim), zeros(), zeros(self.obs_dim), zeros())

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        obs: np.ndarray | torch.Tensor,
        act: np.ndarray | torch.Tensor,
        rew: float,
        next_obs: np.ndarray | torch.Tensor,
        terminated: bool,
    ) -> None:
        """Store one transition (as returned by ``env.step``)."""
        i = self.ptr
        s = self._storage
        s.obs[i] = torch.as_tensor(obs, dtype=torch.float32)
        s.act[i] = torch.as_tensor(act, dtype=torch.float32)
        s.rew[i] = float(rew)
        s.next_obs[i] = torch.as_tensor(next_obs, dtype=torch.float32)
        s.terminated[i] = float(terminated)
        self.ptr = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def add_batch(self, batch: Batch) -> None:
        """Store many transitions at once, wrapping around; if more than `capacity` arrive, the newest win."""
        n = len(batch)
        if n > self.capacity:
            batch = Batch(*(x[n - self.capacity :] for x in batch))
            n = self.capacity
        idx = (self.ptr + torch.arange(n, device=self.device)) % self.capacity
        for store, values in zip(self._storage, batch, strict=True):
            store[idx] = values.to(device=self.device, dtype=torch.float32)
        self.ptr = (self.ptr + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, n: int, generator: torch.Generator | None = None, among: int | None = None) -> Batch:
        """``n`` transitions drawn uniformly with replacement (no host sync).

        ``among`` draws from the first ``among`` rows only: the buffer as it was when it held that many, as
        long as it has not wrapped since (a rerun of an earlier draw, `mbpo.model_buffer`).
        """
        among = self.size if among is None else among
        if among == 0:
            raise RuntimeError("cannot sample from an empty buffer")
        idx = torch.randint(0, among, (n,), device=self.device, generator=generator)
        return Batch(*(x[idx] for x in self._storage))

    def all(self) -> Batch:
        """Every stored transition, oldest first (views when the buffer has not wrapped)."""
        return Batch(*(x[self._chronological()] for x in self._storage))

    def _chronological(self) -> torch.Tensor | slice:
        if self.size < self.capacity:
            return slice(0, self.size)
        return (self.ptr + torch.arange(self.capacity, device=self.device)) % self.capacity

    def resize(self, capacity: int) -> None:
        """Change the capacity, keeping the newest transitions (MBPO grows the model buffer with k)."""
        if capacity == self.capacity:
            return
        kept = self.all()
        self._storage = self._allocate(capacity)
        self.capacity, self.size, self.ptr = capacity, 0, 0
        self.add_batch(kept)

    def state_dict(self) -> dict:
        return {
            "storage": self._storage._asdict(),
            "capacity": self.capacity,
            "size": self.size,
            "ptr": self.ptr,
        }

    def load_state_dict(self, state: dict) -> None:
        self._storage = Batch(**{k: v.to(self.device) for k, v in state["storage"].items()})
        self.capacity, self.size, self.ptr = state["capacity"], state["size"], state["ptr"]


def sample_mixed(
    env_buffer: ReplayBuffer,
    model_buffer: ReplayBuffer,
    batch_size: int,
    real_ratio: float,
    generator: torch.Generator | None = None,
) -> Batch:
    """MBPO's policy-training batch: ``int(batch_size * real_ratio)`` real transitions, the rest from the model.

    Falls back to real data alone while the model buffer is still empty. The split is a fixed count per
    batch, as in the official implementation, not a per-sample coin flip.
    """
    n_real = int(batch_size * real_ratio)
    if len(model_buffer) == 0 or n_real >= batch_size:
        return env_buffer.sample(batch_size, generator)
    if n_real == 0:
        return model_buffer.sample(batch_size, generator)
    return Batch.cat([env_buffer.sample(n_real, generator), model_buffer.sample(batch_size - n_real, generator)])
