"""The branched-rollout bound of MBPO and the rollout length k* that minimises it.

Janner, Fu, Zhang & Levine, "When to Trust Your Model: Model-Based Policy Optimization", NeurIPS 2019,
arXiv:1906.08253, Theorem 4.3: under k-step branched rollouts, with ε_π the policy shift (max over states of
the TV between the data-collecting and the new policy) and ε_m' the model's error under the *new* policy
(expected TV between the true and the model's next-state distribution),

    η[π] ≥ η^branch[π] − 2 r_max [ γ^{k+1} ε_π / (1−γ)²  +  γ^k ε_π / (1−γ)  +  k ε_m' / (1−γ) ].

The bracket is the gap C(k). The policy-shift terms shrink with k (longer model rollouts rely less on data
from older policies), the model term grows linearly in k. Two consequences used below:

* ``r_max`` only scales the gap, so k* = argmin_k C(k) does not depend on it;
* dividing C by ε_π/(1−γ) leaves ``γ^k/(1−γ) + k ρ`` with ρ = ε_m'/ε_π, whose forward difference is
  ``ρ − γ^k``: k* is the smallest k ≥ 0 with γ^k ≤ ρ, i.e. ``ceil(ln ρ / ln γ)`` for ρ < 1 and 0 for
  ρ ≥ 1. Only the *ratio* of the two errors matters, so rescaling a proxy of ε_m' by c moves k* by
  ``ln c / ln γ`` (about −100 ln c at γ = 0.99).
"""

from __future__ import annotations

import math

import numpy as np


def branched_rollout_gap(
    k: int | np.ndarray, eps_model: float, eps_policy: float, gamma: float, r_max: float = 1.0
) -> np.ndarray:
    """``2 r_max [γ^{k+1} ε_π/(1−γ)² + γ^k ε_π/(1−γ) + k ε_m'/(1−γ)]`` (Theorem 4.3), element-wise in k."""
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma must lie in [0, 1), got {gamma}")
    k = np.asarray(k, dtype=float)
    return (
        2
        * r_max
        * (
            gamma ** (k + 1) * eps_policy / (1 - gamma) ** 2
            + gamma**k * eps_policy / (1 - gamma)
            + k * eps_model / (1 - gamma)
        )
    )


def optimal_rollout_length(eps_model: float, eps_policy: float, gamma: float, max_k: int = 1000) -> int:
    """k* = argmin over k in 0..max_k of the Theorem 4.3 gap (the smallest such k on ties).

    Returns ``max_k`` when the minimum lies beyond it; 0 when ε_m' ≥ ε_π (the model never pays off).
    """
    if not (math.isfinite(eps_model) and math.isfinite(eps_policy)) or eps_model < 0 or eps_policy < 0:
        raise ValueError(f"errors must be finite and >= 0, got eps_model={eps_model}, eps_policy={eps_policy}")
    gap = branched_rollout_gap(np.arange(max_k + 1), eps_model, eps_policy, gamma)
    return int(np.argmin(gap))


def optimal_rollout_length_closed_form(eps_model: float, eps_policy: float, gamma: float) -> float:
    """The same k* from the forward difference: the smallest k ≥ 0 with γ^k ≤ ε_m'/ε_π (inf if ε_m' = 0)."""
    if eps_policy == 0 or eps_model >= eps_policy:
        return 0
    if eps_model == 0:
        return math.inf
    return max(0, math.ceil(math.log(eps_model / eps_policy) / math.log(gamma) - 1e-12))
