"""Compounding model error: replay real actions open-loop through the ensemble and compare with reality.

From the first real state of each segment, the model is fed the *real* actions, never the policy's, and its
own predicted states: after k steps the prediction has compounded k one-step errors, which is what a
k-step branched rollout does to the states SAC trains on. Two ways of reading the ensemble:

* ``mean``: at every step the elites' mean predictions are averaged (the ensemble's point prediction) and
  fed back; it shows the model's bias, without sampling noise.
* ``sample``: each segment steps through a uniformly random elite of its own at every step, with the
  Gaussian noise, exactly as `mbpo.rollout.branched_rollout` does (same ``sample_elite_members`` and
  ``predict`` calls), drawn from the diagnostics' own generator so the training stream is untouched.

Errors are dimensionless so that envs and dims compare: the state error is the MSE per dimension of the
prediction divided by the per-dim variance of the env buffer's observations (1 = an error as large as
the spread of the states themselves); the reward errors are divided by the variance of the rewards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from mbpo.buffer import Batch
from mbpo.diagnostics.segments import Segments
from mbpo.models.ensemble import GaussianEnsemble

# (obs (B, obs_dim), act (B, act_dim), step index t) -> (next_obs (B, obs_dim), reward (B,))
Stepper = Callable[[Tensor, Tensor, int], tuple[Tensor, Tensor]]

_TINY_STD = 1e-12  # as the ensemble's input standardisation: a constant dimension is divided by 1


@dataclass(frozen=True)
class ErrorScale:
    """The yardsticks errors are divided by: per-dim std of the states ``(obs_dim,)`` and std of the reward."""

    state: Tensor
    reward: float

    @staticmethod
    def of(data: Batch) -> ErrorScale:
        """Population std of ``data.obs`` per dim and of ``data.rew``; a std below 1e-12 counts as 1."""
        state = data.obs.std(dim=0, correction=0)
        state = torch.where(state < _TINY_STD, torch.ones_like(state), state)
        reward = float(data.rew.std(correction=0)) if len(data) > 1 else 1.0
        return ErrorScale(state, reward if reward >= _TINY_STD else 1.0)


@dataclass(frozen=True)
class HorizonErrors:
    """Errors at k = 1..K, averaged over the segments that reach k (each a list of K floats).

    ``state_err[k-1]``: normalised MSE per dim of the state after k steps. ``reward_err[k-1]``: normalised
    squared error of the k-th step's reward. ``return_err[k-1]``: normalised squared error of the mean
    reward over the first k steps (``sum / k``), comparable with a direct model of the k-step return.
    ``n_segments[k-1]``: how many segments reach k (0 leaves the errors NaN).
    """

    state_err: list[float]
    reward_err: list[float]
    return_err: list[float]
    n_segments: list[int]

    def rows(self, env_step: int, kind: str) -> list[dict[str, float | int | str]]:
        """``model_error.csv`` rows, one per k that any segment reaches."""
        return [
            {
                "env_step": env_step,
                "k": k,
                "kind": kind,
                "state_err": self.state_err[k - 1],
                "reward_err": self.reward_err[k - 1],
                "return_err": self.return_err[k - 1],
                "n_segments": self.n_segments[k - 1],
            }
            for k in range(1, len(self.n_segments) + 1)
            if self.n_segments[k - 1] > 0
        ]


def mean_stepper(model: GaussianEnsemble) -> Stepper:
    """Step with the average of the elites' mean predictions (no sampling)."""

    def step(obs: Tensor, act: Tensor, t: int) -> tuple[Tensor, Tensor]:
        mean, _ = model(torch.cat([obs, act], dim=-1), model.elites)  # (num_elites, B, O)
        mean = mean.mean(dim=0)
        return obs + mean[:, : model.obs_dim], mean[:, model.obs_dim]

    return step


def sample_stepper(model: GaussianEnsemble, batch: int, horizon: int, generator: torch.Generator) -> Stepper:
    """Step each sample through its own random elite with Gaussian noise, as the training rollouts do."""
    members, counts = model.sample_elite_members((horizon, batch), generator)

    def step(obs: Tensor, act: Tensor, t: int) -> tuple[Tensor, Tensor]:
        return model.predict(obs, act, members[t], generator, counts=counts[t])

    return step


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values (B,)`` where ``mask (B,)``; NaN when nothing is selected (non-finite padding ignored)."""
    total = torch.where(mask, values, torch.zeros_like(values)).sum()
    return total / mask.sum()


@torch.no_grad()
def open_loop_errors(step: Stepper, segments: Segments, scale: ErrorScale) -> HorizonErrors:
    """Replay every segment's real actions from its real start state through ``step``; errors at each k."""
    valid = segments.valid()  # (B, K)
    obs = segments.start
    predicted_sum = torch.zeros(len(segments), device=obs.device)
    real_sum = torch.zeros_like(predicted_sum)
    state, reward, ret = [], [], []
    for j in range(segments.horizon):
        obs, rew = step(obs, segments.actions[:, j], j)
        predicted_sum = predicted_sum + rew
        real_sum = real_sum + segments.rewards[:, j]
        state_sq = ((obs - segments.next_obs[:, j]) / scale.state).square().mean(dim=-1)
        reward_sq = ((rew - segments.rewards[:, j]) / scale.reward).square()
        return_sq = ((predicted_sum - real_sum) / ((j + 1) * scale.reward)).square()
        mask = valid[:, j]
        state.append(_masked_mean(state_sq, mask))
        reward.append(_masked_mean(reward_sq, mask))
        ret.append(_masked_mean(return_sq, mask))
    values = torch.stack([torch.stack(state), torch.stack(reward), torch.stack(ret)]).tolist()  # one sync
    return HorizonErrors(*values, n_segments=segments.count())


@torch.no_grad()
def elite_one_step_mse(model: GaussianEnsemble, data: Batch) -> float:
    """The elites' one-step MSE on ``data`` in raw target units: mean over elites, samples and (Δs, r).

    The same quantity as ``model/holdout_mse`` (the elites' holdout MSE at fit time), here measured on
    transitions the model never saw, collected by a newer policy.
    """
    inputs = torch.cat([data.obs, data.act], dim=-1)
    targets = torch.cat([data.next_obs - data.obs, data.rew.unsqueeze(-1)], dim=-1)
    mean, _ = model(inputs, model.elites)
    return float((mean - targets).square().mean())
