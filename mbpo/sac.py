"""Soft Actor-Critic (Haarnoja et al., 2018) with automatic entropy tuning.

Shared by MBPO (which feeds it mixed real/model batches) and the model-free baseline. The update is
written to stay on the device: it returns its diagnostics as tensors, so G updates per env step never
wait for the host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mbpo.buffer import Batch
from mbpo.chunks import map_row_chunks
from mbpo.cuda_graph import GraphedStep

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


@dataclass(frozen=True)
class SACConfig:
    """SAC hyperparameters; defaults are the official MBPO/softlearning values."""

    hidden_sizes: tuple[int, ...] = (256, 256)  # actor and each critic
    lr: float = 3e-4  # Adam, for actor, critics and temperature
    gamma: float = 0.99  # discount
    tau: float = 5e-3  # Polyak rate of the target critics
    batch_size: int = 256
    init_alpha: float = 1.0  # initial temperature (log alpha = 0, as softlearning)
    target_entropy: float | None = None  # None: the env's value from `mbpo.envs`
    # Replay each update on CUDA as one captured graph (`mbpo.cuda_graph`): an 11.7x faster update and 2.8-6x
    # more Hopper MBPO env steps/s on an H200 (reports/benchmarks-cuda.md). None: on for CUDA batches (`mbpo
    # train` records what that resolved to, so a CPU run's config says false). No effect on CPU.
    cuda_graph: bool | None = None


def mlp(in_dim: int, out_dim: int, hidden_sizes: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden_sizes:
        layers += [nn.Linear(in_dim, h), nn.ReLU()]
        in_dim = h
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


class TanhGaussianActor(nn.Module):
    """π(a|s): a Gaussian squashed by tanh, then scaled to the action box."""

    def __init__(self, obs_dim: int, act_dim: int, hidden_sizes: tuple[int, ...], low, high) -> None:
        super().__init__()
        self.net = mlp(obs_dim, 2 * act_dim, hidden_sizes)
        self.width = max(hidden_sizes, default=2 * act_dim)  # the widest activation, for row chunking
        low_t, high_t = torch.as_tensor(low, dtype=torch.float32), torch.as_tensor(high, dtype=torch.float32)
        self.register_buffer("scale", (high_t - low_t) / 2)
        self.register_buffer("offset", (high_t + low_t) / 2)

    def gaussian(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The Gaussian before the squash: ``(mean, log_std)``, each ``(B, act_dim)``, log_std clamped."""
        # Large no-grad batches (model rollouts) run the network in cache-sized row chunks: same numbers.
        out = self.net(obs) if torch.is_grad_enabled() else map_row_chunks(self.net, obs, self.width)
        mean, log_std = out.chunk(2, dim=-1)
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def forward(
        self, obs: torch.Tensor, deterministic: bool = False, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample actions ``(B, act_dim)`` and their log-probabilities ``(B,)``.

        ``deterministic`` returns the squashed mean (evaluation). The log-probability is that of the
        squashed action in ``[-1, 1]^d`` (tanh Jacobian included, in the stable softplus form), before the
        affine map to the env's box: the official target entropies are for that normalised space, as
        softlearning normalises actions in the env wrapper.
        """
        mean, log_std = self.gaussian(obs)
        std = log_std.exp()
        if deterministic:
            u = mean
        else:
            noise = torch.randn(mean.shape, device=mean.device, dtype=mean.dtype, generator=generator)
            u = mean + std * noise
        log_prob = (-0.5 * ((u - mean) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        # log|d tanh(u)/du| = 2 (log 2 - u - softplus(-2u))
        log_prob = log_prob - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)
        return torch.tanh(u) * self.scale + self.offset, log_prob


class TwinQ(nn.Module):
    """Two independent critics Q1, Q2(s, a); the minimum curbs overestimation (clipped double Q)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden_sizes: tuple[int, ...]) -> None:
        super().__init__()
        self.q1 = mlp(obs_dim + act_dim, 1, hidden_sizes)
        self.q2 = mlp(obs_dim + act_dim, 1, hidden_sizes)

    def forward(self, obs: torch.Tensor, act: torch.Tensor, frozen: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Both critics' values, each ``(B,)``.

        ``frozen`` evaluates with detached weights: gradients reach the inputs (the actor's action) but
        never the critics, without toggling ``requires_grad`` on every parameter at every update.
        """
        x = torch.cat([obs, act], dim=-1)
        if not frozen:
            return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)
        return _frozen_forward(self.q1, x).squeeze(-1), _frozen_forward(self.q2, x).squeeze(-1)


def _frozen_forward(net: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """``net(x)`` with every ``nn.Linear``'s weights detached (the same kernels, so the same numbers)."""
    for layer in net:
        x = F.linear(x, layer.weight.detach(), layer.bias.detach()) if isinstance(layer, nn.Linear) else layer(x)
    return x


def _adam(params, lr: float) -> torch.optim.Adam:
    # Fused Adam is a little faster on CPU and GPU alike (measured); fall back where a build lacks it.
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr)


class SAC(nn.Module):
    """The agent: actor, twin critics with Polyak-averaged targets, and a learned temperature α.

    Args:
        obs_dim, act_dim: sizes of observation and action.
        action_low, action_high: the env's action box (actions are squashed into it).
        target_entropy: the entropy the temperature steers the policy towards (per env, see `mbpo.envs`).
        config: hyperparameters.
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        action_low,
        action_high,
        target_entropy: float,
        config: SACConfig = SACConfig(),
    ) -> None:
        super().__init__()
        self.config = config
        self.target_entropy = float(target_entropy)
        self.actor = TanhGaussianActor(obs_dim, act_dim, config.hidden_sizes, action_low, action_high)
        self.critic = TwinQ(obs_dim, act_dim, config.hidden_sizes)
        self.critic_target = TwinQ(obs_dim, act_dim, config.hidden_sizes)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(config.init_alpha)))
        self.actor_optim = _adam(self.actor.parameters(), config.lr)
        self.critic_optim = _adam(self.critic.parameters(), config.lr)
        self.alpha_optim = _adam([self.log_alpha], config.lr)
        # The Polyak pairs, listed once (moving the module to a device keeps the Parameter objects).
        self._target_params = list(self.critic_target.parameters())
        self._online_params = list(self.critic.parameters())
        self._graphed: GraphedStep | None = None  # the captured update (CUDA graph), made on first use

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.detach().exp()

    @torch.no_grad()
    def act(
        self, obs: torch.Tensor, deterministic: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Actions ``(B, act_dim)`` for observations ``(B, obs_dim)``, without gradients."""
        return self.actor(obs, deterministic=deterministic, generator=generator)[0]

    def critic_target_value(self, batch: Batch, alpha: torch.Tensor | None = None) -> torch.Tensor:
        """The soft Bellman target ``(B,)``: ``r + γ (1 - terminated) (min Q'(s', a') - α log π(a'|s'))``.

        Only a true termination stops bootstrapping; a time-limit cut is stored as not terminated.
        """
        with torch.no_grad():
            alpha = self.alpha if alpha is None else alpha
            next_act, next_log_prob = self.actor(batch.next_obs)
            q1, q2 = self.critic_target(batch.next_obs, next_act)
            soft_value = torch.min(q1, q2) - alpha * next_log_prob
            return batch.rew + self.config.gamma * (1.0 - batch.terminated) * soft_value

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One gradient step on critics, actor and temperature, then a Polyak step on the targets.

        Returns detached scalar tensors (no host sync): ``train/q_loss`` (sum of both critics' MSE),
        ``train/actor_loss``, ``train/alpha_loss``, ``train/alpha``, ``train/entropy``, ``train/q_mean``.
        On a CUDA batch the update is captured once and replayed, unless ``config.cuda_graph`` is False.
        """
        if self.config.cuda_graph is not False and batch.obs.is_cuda:
            if self._graphed is None:
                optimizers = (self.critic_optim, self.actor_optim, self.alpha_optim)
                self._graphed = GraphedStep(lambda *fields: self._update(Batch(*fields)), self, optimizers)
            return self._graphed(*batch)
        return self._update(batch)

    def _update(self, batch: Batch) -> dict[str, torch.Tensor]:
        alpha = self.alpha  # α of this update: the temperature steps last
        target = self.critic_target_value(batch, alpha)
        q1, q2 = self.critic(batch.obs, batch.act)
        q_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
        self.critic_optim.zero_grad(set_to_none=True)
        q_loss.backward()
        self.critic_optim.step()

        act, log_prob = self.actor(batch.obs)
        q1_pi, q2_pi = self.critic(batch.obs, act, frozen=True)  # the actor's gradient flows through Q, not into it
        actor_loss = (alpha * log_prob - torch.min(q1_pi, q2_pi)).mean()
        alpha_loss = -(self.log_alpha * (log_prob.detach() + self.target_entropy)).mean()
        # One backward for both losses: they share no parameter (α enters the actor loss detached, and the
        # temperature loss sees log π detached), so each gets exactly its own gradient.
        self.actor_optim.zero_grad(set_to_none=True)
        self.alpha_optim.zero_grad(set_to_none=True)
        (actor_loss + alpha_loss).backward()
        self.actor_optim.step()
        self.alpha_optim.step()

        with torch.no_grad():
            torch._foreach_lerp_(self._target_params, self._online_params, self.config.tau)
        return {
            "train/q_loss": q_loss.detach(),
            "train/actor_loss": actor_loss.detach(),
            "train/alpha_loss": alpha_loss.detach(),
            "train/alpha": alpha,
            "train/entropy": -log_prob.detach().mean(),
            "train/q_mean": q1.detach().mean(),
        }

    def optimizer_state_dict(self) -> dict:
        return {name: getattr(self, name).state_dict() for name in ("actor_optim", "critic_optim", "alpha_optim")}

    def load_optimizer_state_dict(self, state: dict) -> None:
        """Load the optimizers' state (a checkpoint, or the guards' snapshot after a non-finite update).

        Loading gives the optimizers new state tensors, which a captured update would never see (it replays
        on the old addresses), so the capture is dropped and the next update captures again.
        """
        for name, opt_state in state.items():
            getattr(self, name).load_state_dict(opt_state)
        self._graphed = None
