"""Genuine open-loop trajectory segments in a chronological run of real transitions.

Transition ``i + 1`` continues transition ``i`` when ``next_obs[i] == obs[i + 1]`` exactly (the env buffer
stores both copies of the same observation) and ``i`` did not terminate. An episode end of any kind breaks
the chain: a termination by its flag, a time-limit cut because the next stored ``obs`` is a reset state.
So a segment never straddles two episodes, and k real actions replayed from its first state are exactly
what the real env did.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from mbpo.buffer import Batch


def run_lengths(data: Batch, cap: int | None = None) -> Tensor:
    """``h (N,)``: how many consecutive transitions, starting at each ``i``, form one real trajectory.

    ``h[i] >= 1``; ``h[i] = k`` means transitions ``i .. i+k-1`` chain (the last of them may terminate).
    Capped at ``cap`` when given. ``data`` must be chronological (``ReplayBuffer.all()`` order).
    """
    n = len(data)
    if n == 0:
        return torch.zeros(0, dtype=torch.long, device=data.obs.device)
    links = (data.next_obs[:-1] == data.obs[1:]).all(dim=-1) & (data.terminated[:-1] == 0)  # (N-1,)
    positions = torch.arange(n, device=data.obs.device)
    is_end = torch.ones(n, dtype=torch.bool, device=data.obs.device)
    is_end[:-1] = ~links  # the chain starting at i ends at the first j >= i that does not link onward
    end_at = torch.where(is_end, positions, torch.full_like(positions, n))
    first_end = torch.flip(torch.cummin(torch.flip(end_at, [0]), dim=0).values, [0])
    lengths = first_end - positions + 1
    return lengths if cap is None else lengths.clamp(max=cap)


@dataclass(frozen=True)
class Segments:
    """Real trajectories of up to K steps, one per start state, padded to K and masked.

    Shapes: ``start (B, obs_dim)``; ``actions (B, K, act_dim)``; ``next_obs (B, K, obs_dim)`` and
    ``rewards (B, K)`` are the real outcomes of step ``j`` (0-based: the state after ``j + 1`` actions);
    ``length (B,)`` how many of the K steps are real (``valid[b, j] = j < length[b]``). Padded entries
    repeat the last real step and must be ignored.
    """

    start: Tensor
    actions: Tensor
    next_obs: Tensor
    rewards: Tensor
    length: Tensor

    @property
    def horizon(self) -> int:
        return self.actions.shape[1]

    def __len__(self) -> int:
        return self.start.shape[0]

    def valid(self) -> Tensor:
        """``(B, K)`` bool: step ``j`` of segment ``b`` is real."""
        steps = torch.arange(self.horizon, device=self.length.device)
        return steps.unsqueeze(0) < self.length.unsqueeze(1)

    def count(self) -> list[int]:
        """Segments reaching each k = 1..K (a Python list, one host sync)."""
        return self.valid().sum(dim=0).tolist()

    @staticmethod
    def from_transitions(data: Batch, horizon: int, max_segments: int | None = None) -> Segments:
        """One segment per transition of ``data`` (chronological), each as long as its trajectory allows.

        With more than ``max_segments`` transitions, evenly spaced starts are kept (deterministic).
        Overlapping segments share states: they are not independent samples.
        """
        n = len(data)
        lengths = run_lengths(data, cap=horizon)
        starts = torch.arange(n, device=data.obs.device)
        if max_segments is not None and n > max_segments:
            starts = torch.linspace(0, n - 1, max_segments, device=data.obs.device).round().long()
        index = starts.unsqueeze(1) + torch.arange(horizon, device=data.obs.device)  # (B, K)
        index = torch.minimum(index, (starts + lengths[starts] - 1).unsqueeze(1))  # pad with the last real step
        return Segments(
            start=data.obs[starts],
            actions=data.act[index],
            next_obs=data.next_obs[index],
            rewards=data.rew[index],
            length=lengths[starts],
        )


def windows(data: Batch, k: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Every real k-step window of ``data``: ``(obs (W, obs_dim), actions (W, k, act_dim), delta (W, obs_dim),
    return (W,))`` with ``delta = s_{t+k} - s_t`` and ``return = r_t + ... + r_{t+k-1}`` (undiscounted)."""
    lengths = run_lengths(data, cap=k)
    starts = torch.nonzero(lengths >= k).squeeze(1)
    index = starts.unsqueeze(1) + torch.arange(k, device=data.obs.device)  # (W, k)
    obs = data.obs[starts]
    return obs, data.act[index], data.next_obs[index[:, -1]] - obs, data.rew[index].sum(dim=1)
