"""The probabilistic dynamics ensemble of MBPO: E Gaussian MLPs evaluated as one batched network.

Facts taken from the official implementation (jannerm/mbpo, ``mbpo/models/bnn.py`` and ``fc.py``, and the
PETS/MBPO model constructor):

* each member is an MLP ``in -> 200 -> 200 -> 200 -> 200 -> 2*out`` with swish (SiLU) activations, where
  ``in = obs_dim + act_dim`` and ``out = obs_dim + 1`` (the state change Δs, then the reward);
* per-layer L2 weight decay ``(2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4)`` on the weights only (not the biases),
  added to the loss as ``wd * tf.nn.l2_loss(W) = wd * 0.5 * sum(W**2)`` over the whole ``[E, in, out]``
  weight tensor;
* weights drawn from a normal with std ``1 / (2 sqrt(in))`` truncated at two standard deviations
  (``tf.truncated_normal_initializer``), biases zero;
* ONE learnable pair of log-variance bounds of shape ``(1, out)``, shared by all members (``max_logvar``
  starts at 0.5, ``min_logvar`` at -10), applied with two softplus soft clamps, and regularised in the loss
  by ``0.01 * (sum(max_logvar) - sum(min_logvar))``;
* the inputs are standardised inside the model with the mean/std of the training inputs (population std,
  entries below 1e-12 replaced by 1);
* the training loss is, per member, ``mean((mu - y)^2 * exp(-logvar)) + mean(logvar)`` (mean over batch and
  output dims), summed over the members.

Shapes use ``E`` (all members), ``G`` (a chosen subset or reordering of members), ``B`` (batch),
``I`` (input dim ``obs_dim + act_dim``) and ``O`` (output dim ``obs_dim + 1``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mbpo.chunks import map_row_chunks


@dataclass(frozen=True)
class EnsembleConfig:
    """Architecture and fitting hyper-parameters of the dynamics ensemble (defaults: official MBPO)."""

    num_networks: int = 7
    """Ensemble size E."""
    num_elites: int = 5
    """How many members (lowest holdout MSE) are used for rollouts."""
    hidden_size: int = 200
    """Width of every hidden layer."""
    num_layers: int = 4
    """Number of hidden layers (there are ``num_layers + 1`` linear layers, the output layer included)."""
    weight_decays: tuple[float, ...] = (2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4)
    """L2 coefficient of each linear layer's weights, output layer last (``num_layers + 1`` entries)."""
    lr: float = 1e-3
    """Adam learning rate."""
    batch_size: int = 256
    """Minibatch size per member."""
    holdout_ratio: float = 0.2
    """Fraction of the data held out to select snapshots, stop early and rank elites."""
    max_holdout: int = 5000
    """Upper bound on the number of holdout samples."""
    max_epochs_since_update: int = 5
    """Stop once more than this many consecutive epochs brought no member a snapshot update."""
    improvement_threshold: float = 0.01
    """Relative holdout-MSE improvement, ``(best - current) / best``, that counts as an update."""
    max_train_seconds: float | None = None
    """Wall-clock cap of one fit, checked after every epoch (official ``max_model_t``); None: no cap."""
    max_epochs: int | None = None
    """Cap on the number of epochs of one fit; None: stop only by early stopping or time."""

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"EnsembleConfig.{name}={getattr(self, name)!r}: {why}")

        if self.num_networks < 1:
            raise bad("num_networks", "must be >= 1")
        if not 1 <= self.num_elites <= self.num_networks:
            raise bad("num_elites", f"must be in [1, num_networks={self.num_networks}]")
        if self.hidden_size < 1:
            raise bad("hidden_size", "must be >= 1")
        if self.num_layers < 1:
            raise bad("num_layers", "must be >= 1")
        if len(self.weight_decays) != self.num_layers + 1:
            raise bad("weight_decays", f"needs num_layers + 1 = {self.num_layers + 1} entries")
        if any(not math.isfinite(w) or w < 0 for w in self.weight_decays):
            raise bad("weight_decays", "entries must be finite and >= 0")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise bad("lr", "must be > 0")
        if self.batch_size < 1:
            raise bad("batch_size", "must be >= 1")
        if not 0.0 <= self.holdout_ratio < 1.0:
            raise bad("holdout_ratio", "must be in [0, 1)")
        if self.max_holdout < 0:
            raise bad("max_holdout", "must be >= 0")
        if self.max_epochs_since_update < 0:
            raise bad("max_epochs_since_update", "must be >= 0")
        if not (math.isfinite(self.improvement_threshold) and self.improvement_threshold >= 0):
            raise bad("improvement_threshold", "must be finite and >= 0")
        if self.max_train_seconds is not None and not self.max_train_seconds > 0:
            raise bad("max_train_seconds", "must be None or > 0")
        if self.max_epochs is not None and self.max_epochs < 1:
            raise bad("max_epochs", "must be None or >= 1")


class EnsembleLinear(nn.Module):
    """E independent affine maps applied in one ``torch.baddbmm``.

    Parameters: ``weight (E, in, out)`` and ``bias (E, 1, out)``. Weights are initialised from
    N(0, std²) truncated at ±2 std with ``std = 1 / (2 sqrt(in))`` (``torch.nn.init.trunc_normal_`` with the
    same meaning of ``std`` as ``tf.truncated_normal_initializer`` in the official ``FC`` layer); biases are 0.
    """

    def __init__(
        self, num_members: int, in_features: int, out_features: int, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        self.num_members = num_members
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(num_members, in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(num_members, 1, out_features))
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Truncated-normal weights (std ``1/(2 sqrt(in))``, cut at ±2 std) and zero biases."""
        std = 1.0 / (2.0 * math.sqrt(self.in_features))
        with torch.no_grad():
            nn.init.trunc_normal_(self.weight, std=std, a=-2 * std, b=2 * std, generator=generator)
            self.bias.zero_()

    def forward(self, x: Tensor, members: Tensor | None = None) -> Tensor:
        """Apply the layer.

        Args:
            x: ``(E, B, in)``, or ``(G, B, in)`` when ``members`` is given.
            members: optional LongTensor ``(G,)`` of member indices; row ``g`` of ``x`` goes through member
                ``members[g]`` (any subset, order or repetition).

        Returns:
            ``(E, B, out)`` or ``(G, B, out)``.
        """
        weight, bias = (self.weight, self.bias) if members is None else self.select(members)
        return torch.baddbmm(bias, x, weight)

    def select(self, members: Tensor) -> tuple[Tensor, Tensor]:
        """The listed members' ``(weight (G, in, out), bias (G, 1, out))``, gathered (copies)."""
        return self.weight[members], self.bias[members]

    def extra_repr(self) -> str:
        return f"num_members={self.num_members}, in_features={self.in_features}, out_features={self.out_features}"


class GaussianEnsemble(nn.Module):
    """E probabilistic MLPs ``(s, a) -> N(mean, diag(exp(logvar)))`` over ``(Δs, r)``.

    Attributes:
        layers: the ``num_layers + 1`` :class:`EnsembleLinear` layers; the last outputs ``2 * O``
            (mean, then raw log-variance).
        max_logvar, min_logvar: learnable soft bounds ``(1, O)``, shared by all members (as official).
        input_mean, input_std: buffers ``(1, I)`` set by :meth:`fit_input_stats`.
        elites: buffer, LongTensor ``(num_elites,)`` of member indices ordered by holdout MSE (best first);
            ``arange(num_elites)`` until the first fit.
    """

    def __init__(
        self, obs_dim: int, act_dim: int, config: EnsembleConfig, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        if obs_dim < 1 or act_dim < 1:
            raise ValueError(f"obs_dim={obs_dim} and act_dim={act_dim} must be >= 1")
        self.config = config
        self.obs_dim = obs_dim
        self.act_dim = act_dim
        self.in_dim = obs_dim + act_dim
        self.out_dim = obs_dim + 1
        self.num_networks = config.num_networks
        self.num_elites = config.num_elites
        sizes = [self.in_dim] + [config.hidden_size] * config.num_layers + [2 * self.out_dim]
        self.layers = nn.ModuleList(
            EnsembleLinear(config.num_networks, n_in, n_out, generator) for n_in, n_out in itertools.pairwise(sizes)
        )
        self.max_logvar = nn.Parameter(torch.full((1, self.out_dim), 0.5))
        self.min_logvar = nn.Parameter(torch.full((1, self.out_dim), -10.0))
        self.register_buffer("input_mean", torch.zeros(1, self.in_dim))
        self.register_buffer("input_std", torch.ones(1, self.in_dim))
        self.register_buffer("elites", torch.arange(config.num_elites))
        self.register_buffer("_weight_decays", torch.tensor(config.weight_decays, dtype=torch.float32))

    # ------------------------------------------------------------------ parameters

    def member_parameters(self) -> list[Tensor]:
        """Every parameter with a leading member dimension E (all layer weights and biases)."""
        return [p for layer in self.layers for p in (layer.weight, layer.bias)]

    @torch.no_grad()
    def fit_input_stats(self, inputs: Tensor) -> None:
        """Set the input standardisation from ``inputs (N, I)``: mean and population std, std < 1e-12 -> 1."""
        mean = inputs.mean(dim=0, keepdim=True)
        std = inputs.std(dim=0, keepdim=True, correction=0)
        std = torch.where(std < 1e-12, torch.ones_like(std), std)
        self.input_mean.copy_(mean)
        self.input_std.copy_(std)

    @torch.no_grad()
    def set_elites(self, elites: Sequence[int] | Tensor) -> None:
        """Set the elite member indices (``num_elites`` distinct ints in ``[0, E)``)."""
        elites = torch.as_tensor(elites, dtype=torch.long).reshape(-1)
        if elites.numel() != self.num_elites:
            raise ValueError(f"expected {self.num_elites} elites, got {elites.numel()}")
        self.elites.copy_(elites.to(self.elites.device))

    # ------------------------------------------------------------------ forward and losses

    def soft_clamp_logvar(self, raw_logvar: Tensor) -> Tensor:
        """``logvar = max - softplus(max - raw); logvar = min + softplus(logvar - min)``, shape kept."""
        logvar = self.max_logvar - F.softplus(self.max_logvar - raw_logvar)
        return self.min_logvar + F.softplus(logvar - self.min_logvar)

    def forward(self, inputs: Tensor, members: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Per-member Gaussian over ``(Δs, r)``.

        Args:
            inputs: raw (un-normalised) ``obs ⊕ act``: ``(E, B, I)``; or ``(G, B, I)`` with ``members``;
                or ``(B, I)``, which is fed to every member (or to every listed member).
            members: optional LongTensor ``(G,)``: row ``g`` of ``inputs`` goes through member ``members[g]``.

        Returns:
            ``(mean, logvar)``, each ``(E, B, O)`` (or ``(G, B, O)``); logvar is soft-clamped.
        """
        mean, raw_logvar = self._raw_output(inputs, members).split(self.out_dim, dim=-1)
        return mean, self.soft_clamp_logvar(raw_logvar)

    def _raw_output(self, inputs: Tensor, members: Tensor | None = None) -> Tensor:
        """The last layer's output ``(E or G, B, 2 O)``: mean, then the raw (unclamped) log-variance.

        Without gradients, large batches run the layers in cache-sized chunks of ``B`` (same numbers, see
        `mbpo.chunks`): the holdout set and model rollouts.
        """
        x = (inputs - self.input_mean) / self.input_std
        if x.dim() == 2:
            n = self.num_networks if members is None else members.shape[0]
            x = x.unsqueeze(0).expand(n, -1, -1)
        # A member subset's weights are gathered once, not once per chunk.
        params = [(layer.weight, layer.bias) if members is None else layer.select(members) for layer in self.layers]

        def layers(x: Tensor) -> Tensor:
            for i, (weight, bias) in enumerate(params):
                x = torch.baddbmm(bias, x, weight)
                if i < len(params) - 1:
                    x = F.silu(x)
            return x

        if torch.is_grad_enabled():
            return layers(x)
        widest = x.shape[0] * max(self.config.hidden_size, 2 * self.out_dim)  # floats per row of a chunk
        return map_row_chunks(layers, x, widest, dim=1)

    def nll(self, inputs: Tensor, targets: Tensor) -> Tensor:
        """Per-member Gaussian NLL without constants, ``(E,)``.

        ``mean_{b,d}((mean - target)^2 exp(-logvar)) + mean_{b,d}(logvar)`` for ``inputs (E, B, I)`` and
        ``targets (E, B, O)`` (or broadcastable ``(B, O)``).
        """
        mean, logvar = self(inputs)
        inv_var = torch.exp(-logvar)
        return ((mean - targets).square() * inv_var).mean(dim=(1, 2)) + logvar.mean(dim=(1, 2))

    def weight_decay_loss(self) -> Tensor:
        """``sum_l wd_l * 0.5 * ||W_l||^2`` over all members' weights (biases excluded), a scalar."""
        terms = [0.5 * layer.weight.square().sum() for layer in self.layers]
        return torch.dot(self._weight_decays, torch.stack(terms))

    def logvar_bound_loss(self) -> Tensor:
        """``0.01 * (sum(max_logvar) - sum(min_logvar))``, a scalar."""
        return 0.01 * (self.max_logvar.sum() - self.min_logvar.sum())

    @torch.no_grad()
    def add_weight_decay_grad(self) -> None:
        """Add the gradient of :meth:`weight_decay_loss` to the weights' ``.grad``, outside autograd.

        Autograd derives ``(0.5 wd_l) * (2 W)`` through five tensor passes per layer (square, sum, and their
        backwards, then the accumulation); this is one multiply and one add, with the same bits: the
        product ``wd_l * W`` is the same exact real number, so it rounds the same way, and it is added to
        the matrix-product gradient exactly as autograd's accumulation does (two terms: order-free).
        """
        for layer, decay in zip(self.layers, self._weight_decays, strict=True):
            layer.weight.grad.add_(layer.weight * decay)

    def loss(self, inputs: Tensor, targets: Tensor, weight_decay: bool = True) -> tuple[Tensor, Tensor]:
        """The official training objective.

        Args:
            inputs: ``(E, B, I)`` raw inputs, one minibatch per member.
            targets: ``(E, B, O)`` targets ``(Δs, r)``.
            weight_decay: include the weight-decay term; ``False`` leaves it out of the graph, for a step
                that adds its gradient with :meth:`add_weight_decay_grad` after ``backward`` (faster).

        Returns:
            ``(total, nll)``: the scalar to minimise (NLL summed over members + logvar-bound term + weight
            decay) and the per-member NLL ``(E,)`` (still attached to the graph).
        """
        nll = self.nll(inputs, targets)
        total = nll.sum() + self.logvar_bound_loss()
        if weight_decay:
            total = total + self.weight_decay_loss()
        return total, nll

    @torch.no_grad()
    def holdout_mse(self, inputs: Tensor, targets: Tensor) -> Tensor:
        """MSE of every member's mean on one shared set: ``inputs (N, I)``, ``targets (N, O)`` -> ``(E,)``.

        Averaged over samples and output dims, in the raw target units (as the official ``mse_loss``).
        """
        mean = self._raw_output(inputs)[..., : self.out_dim]  # the log-variance is not needed here
        return (mean - targets).square().mean(dim=(1, 2))

    # ------------------------------------------------------------------ prediction

    @torch.no_grad()
    def predict_all(self, obs: Tensor, act: Tensor) -> tuple[Tensor, Tensor]:
        """Every member's Gaussian on the same batch: ``obs (B, obs_dim)``, ``act (B, act_dim)`` ->
        ``(mean, logvar)`` each ``(E, B, O)`` (Δs then reward; not added to ``obs``)."""
        return self(torch.cat([obs, act], dim=-1))

    def sample_elite_members(
        self, shape: int | tuple[int, ...], generator: torch.Generator | None = None
    ) -> tuple[Tensor, list[list[int]] | list[int]]:
        """Draw each sample's member uniformly among the elites, and count them with ONE host sync.

        Args:
            shape: ``B`` or ``(T, B)`` (e.g. one row per rollout step, drawn up front).

        Returns:
            ``(members, counts)``: LongTensor of ``shape`` with member indices in ``[0, E)``, and the
            per-member counts as Python ints (``E`` of them; a list of ``T`` such lists for a 2-D shape),
            ready to pass to :meth:`predict` so that it syncs nothing.
        """
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if len(shape) not in (1, 2):
            raise ValueError(f"shape must be (B,) or (T, B), got {shape}")
        device = self.elites.device if generator is None else generator.device
        pick = torch.randint(self.num_elites, shape, generator=generator, device=device)
        members = self.elites[pick.to(self.elites.device)]
        rows = members.reshape(-1, shape[-1])
        offsets = torch.arange(rows.shape[0], device=rows.device).unsqueeze(1) * self.num_networks
        counts = torch.bincount((rows + offsets).reshape(-1), minlength=rows.shape[0] * self.num_networks)
        counts_list = counts.reshape(rows.shape[0], self.num_networks).tolist()
        return members, (counts_list[0] if len(shape) == 1 else counts_list)

    @torch.no_grad()
    def predict(
        self,
        obs: Tensor,
        act: Tensor,
        members: Tensor,
        generator: torch.Generator | None = None,
        *,
        counts: Sequence[int] | None = None,
        deterministic: bool = False,
    ) -> tuple[Tensor, Tensor]:
        """Sample ``(s', r)`` for each sample from its OWN member, computing only that member's network.

        The batch is sorted by member, packed into a padded ``(G, max_count, I)`` tensor (G = members that
        occur), run through one gathered ``baddbmm`` per layer, and scattered back. Getting the group sizes
        needs the per-member counts on the host: pass ``counts`` (e.g. from :meth:`sample_elite_members`,
        which draws a whole rollout's members with one sync) to make this call sync-free; without it one
        ``bincount(...).tolist()`` sync is done here.

        Args:
            obs: ``(B, obs_dim)``; act: ``(B, act_dim)``.
            members: LongTensor ``(B,)`` of member indices in ``[0, E)`` (any members, not only elites).
            generator: RNG for the Gaussian noise, drawn as one ``(B, O)`` standard-normal tensor in the
                original sample order (so results do not depend on the grouping).
            counts: optional per-member counts, ``E`` Python ints with ``counts[m] == (members == m).sum()``
                (not checked).
            deterministic: return the means instead of samples.

        Returns:
            ``(next_obs (B, obs_dim), reward (B,))`` with ``next_obs = obs + Δs``.
        """
        batch = obs.shape[0]
        inputs = torch.cat([obs, act], dim=-1)
        if counts is None:
            counts = torch.bincount(members, minlength=self.num_networks).tolist()
        if len(counts) != self.num_networks:
            raise ValueError(f"counts needs {self.num_networks} entries, got {len(counts)}")
        active = [m for m, c in enumerate(counts) if c > 0]
        device = inputs.device
        if len(active) == 1:
            member = torch.tensor(active, device=device)
            mean, logvar = self(inputs.unsqueeze(0), member)
            mean, logvar = mean[0], logvar[0]
        else:
            max_count = max(counts)
            # Position of every sample inside its member's group: rank among the sorted samples minus the
            # group's start offset.
            starts = [0] * self.num_networks
            slot = [0] * self.num_networks
            total = 0
            for g, m in enumerate(active):
                starts[m] = total
                slot[m] = g
                total += counts[m]
            order = torch.argsort(members, stable=True)
            sorted_members = members[order]
            start_t = torch.tensor(starts, device=device)
            slot_t = torch.tensor(slot, device=device)
            pos = torch.arange(batch, device=device) - start_t[sorted_members]
            group = slot_t[sorted_members]
            packed = inputs.new_zeros(len(active), max_count, self.in_dim)
            packed[group, pos] = inputs[order]
            mean_p, logvar_p = self(packed, torch.tensor(active, device=device))
            mean = torch.empty(batch, self.out_dim, device=device, dtype=mean_p.dtype)
            logvar = torch.empty_like(mean)
            mean[order] = mean_p[group, pos]
            logvar[order] = logvar_p[group, pos]
        if deterministic:
            sample = mean
        else:
            noise = torch.randn(mean.shape, generator=generator, device=device, dtype=mean.dtype)
            sample = mean + torch.exp(0.5 * logvar) * noise
        return obs + sample[:, : self.obs_dim], sample[:, self.obs_dim]
