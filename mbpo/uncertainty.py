"""The uncertainty penalty on model rewards (the `penalty` ablations): SAC learns from ``r − λ·u(s, a)``.

A branch that steps into a region the ensemble knows little about earns imagined reward the real env may
not pay. Penalising the model reward by the model's own uncertainty (the design note's §6.3 and §9.1;
MOPO, Yu et al. 2020, for offline RL) trades that optimism for pessimism; the ablation measures what the
trade does online, where MBPO itself uses no penalty.

Two measures of ``u``, both over the *elites* (the members rollouts draw from), on the ``(Δs, r)`` outputs:

* ``disagreement`` (the default): ``u = ‖ std_e μ_e(s, a) ‖₂``, the L2 norm over the output dims of the
  standard deviation across elites of their predicted means (population std, ``ddof = 0``, as numpy's
  ``std`` in the design note). It is the design note's definition and measures *epistemic* uncertainty:
  it is zero where the members agree, i.e. where the data pinned the model down, which is what a
  penalty against exploiting model errors needs.
* ``aleatoric`` (MOPO's ``penalty_learned_var``): ``u = max_e ‖ σ_e(s, a) ‖₂``, the largest norm of a
  member's predicted standard deviation. It also grows with noise the env really has, which no amount
  of data removes; MOPO takes the max over all members, we over the elites, like the other measure.

Both need every elite on every branch, where a plain rollout runs one member per sample: one forward of
the elites on the whole batch per rollout step (the ensemble runs large no-grad batches in cache-sized row
chunks, `mbpo.chunks`), done only when a penalty is on, so the default rollouts are untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from mbpo.models.ensemble import GaussianEnsemble

UNCERTAINTIES = ("disagreement", "aleatoric")


def disagreement(means: Tensor) -> Tensor:
    """``(G, B, O)`` member means -> ``(B,)``: L2 norm over O of the std across the G members (ddof 0)."""
    return means.std(dim=0, correction=0).norm(dim=-1)


def aleatoric(logvars: Tensor) -> Tensor:
    """``(G, B, O)`` member log-variances -> ``(B,)``: the largest member's L2 norm of its std over O."""
    return torch.exp(0.5 * logvars).norm(dim=-1).amax(dim=0)


@dataclass(frozen=True)
class RewardPenalty:
    """``r − coef · u(s, a)`` for model transitions, with ``u`` one of `UNCERTAINTIES`."""

    coef: float
    uncertainty: str = "disagreement"

    def __post_init__(self) -> None:
        if self.uncertainty not in UNCERTAINTIES:
            raise ValueError(f"unknown uncertainty {self.uncertainty!r}; allowed: {', '.join(UNCERTAINTIES)}")

    def measure(self, means: Tensor, logvars: Tensor) -> Tensor:
        """``u`` ``(B,)`` from the elites' Gaussians, ``means`` and ``logvars`` each ``(G, B, O)``."""
        return disagreement(means) if self.uncertainty == "disagreement" else aleatoric(logvars)

    @torch.no_grad()
    def predict(
        self,
        model: GaussianEnsemble,
        obs: Tensor,
        act: Tensor,
        members: Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """`GaussianEnsemble.predict` with the penalty: every sample's ``(s', r)`` from its own member, and ``u``.

        All elites run on the whole batch once; each sample's own member's output is picked from that, and
        its Gaussian noise drawn exactly as `GaussianEnsemble.predict` draws it (one ``(B, O)`` standard
        normal tensor in sample order), so the sampled transition has the same law as a plain rollout's.

        Args:
            obs: ``(B, obs_dim)``; act: ``(B, act_dim)``.
            members: ``(B,)`` member indices, each one of ``model.elites`` (as `sample_elite_members` draws).

        Returns:
            ``(next_obs (B, obs_dim), penalised reward (B,), u (B,))``.
        """
        elites = model.elites
        slot = (members.unsqueeze(0) == elites.unsqueeze(1)).to(torch.uint8).argmax(dim=0)  # (B,) index in elites
        means, logvars = model(torch.cat([obs, act], dim=-1), elites)  # (G, B, O) each, in row chunks
        rows = torch.arange(obs.shape[0], device=obs.device)
        mean, logvar = means[slot, rows], logvars[slot, rows]
        u = self.measure(means, logvars)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        sample = mean + torch.exp(0.5 * logvar) * noise
        reward = sample[:, model.obs_dim]
        return obs + sample[:, : model.obs_dim], reward - self.coef * u, u


def penalty_metrics(penalised_reward: Tensor, uncertainty: Tensor, coef: float) -> dict[str, float]:
    """What one round of penalised rollouts logs, over its kept transitions (non-finite ones left out).

    ``rollout/uncertainty``: mean ``u``; ``rollout/penalty``: mean ``λ·u``; ``rollout/penalty_share``: the
    share of the model reward's magnitude the penalty removed, ``Σ λ·u / Σ |r|`` with ``r`` the model's
    unpenalised reward (NaN if every ``r`` is 0).
    """
    penalty = coef * uncertainty
    raw = penalised_reward + penalty
    finite = torch.isfinite(raw) & torch.isfinite(penalty)
    if not bool(finite.any()):
        return dict.fromkeys(("rollout/uncertainty", "rollout/penalty", "rollout/penalty_share"), float("nan"))
    u, penalty, raw = uncertainty[finite], penalty[finite], raw[finite]
    magnitude = float(raw.abs().sum())
    return {
        "rollout/uncertainty": float(u.mean()),
        "rollout/penalty": float(penalty.mean()),
        "rollout/penalty_share": float(penalty.sum()) / magnitude if magnitude > 0 else float("nan"),
    }
