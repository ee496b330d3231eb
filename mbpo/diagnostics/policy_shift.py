"""ε_π: how far the policy moved between two model refits, on real states.

SAC's policy is a diagonal Gaussian over ``u`` squashed by ``a = tanh(u) * scale + offset``. That map is a
bijection, and the KL divergence is invariant under bijections, so the KL between two squashed policies
equals the closed-form KL between their pre-tanh Gaussians. Pinsker's inequality turns it into a bound on
the total variation the theorem needs: ``TV <= sqrt(KL / 2)``, using whichever direction of KL is smaller
(TV is symmetric; Pinsker holds for both), and TV <= 1 always.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from mbpo.sac import TanhGaussianActor


def gaussian_kl(mean_p: Tensor, log_std_p: Tensor, mean_q: Tensor, log_std_q: Tensor) -> Tensor:
    """``KL(p || q)`` per row ``(B,)`` of diagonal Gaussians given as ``(B, d)`` means and log-stds."""
    var_p, var_q = (2 * log_std_p).exp(), (2 * log_std_q).exp()
    per_dim = log_std_q - log_std_p + (var_p + (mean_p - mean_q).square()) / (2 * var_q) - 0.5
    return per_dim.sum(dim=-1)


def pinsker_tv(kl: Tensor) -> Tensor:
    """Pinsker's upper bound on the total variation, ``min(1, sqrt(KL / 2))``, element-wise."""
    return (kl.clamp(min=0) / 2).sqrt().clamp(max=1.0)


@dataclass(frozen=True)
class PolicyShift:
    """The policy's move on a set of real states. ``tv_mean`` is the ε_π the bound uses."""

    tv_mean: float  # mean over states of the Pinsker bound on TV
    tv_max: float  # max over the states (the theorem's ε_π is a max over *all* states)
    kl_mean: float  # mean over states of min(KL(old||new), KL(new||old)), nats


@torch.no_grad()
def policy_shift(old: TanhGaussianActor, new: TanhGaussianActor, obs: Tensor) -> PolicyShift:
    """Divergence between the action distributions of ``old`` and ``new`` on states ``obs (B, obs_dim)``."""
    mean_o, log_std_o = old.gaussian(obs)
    mean_n, log_std_n = new.gaussian(obs)
    kl = torch.minimum(
        gaussian_kl(mean_o, log_std_o, mean_n, log_std_n), gaussian_kl(mean_n, log_std_n, mean_o, log_std_o)
    )
    tv = pinsker_tv(kl)
    tv_mean, tv_max, kl_mean = torch.stack([tv.mean(), tv.max(), kl.mean()]).tolist()
    return PolicyShift(tv_mean, tv_max, kl_mean)
