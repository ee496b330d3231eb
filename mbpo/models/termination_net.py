"""A learned termination function ``p(done | s')`` for model rollouts (the `learned-termination` ablation).

MBPO's rollouts stop a branch where a hand-written rule (`mbpo.termination`) says the real env would have
ended. This ablation asks what that rule is worth when it has to be *learned* from the same data the
dynamics model sees: a small MLP classifier with a sigmoid output, trained on the env buffer's real
``(s', terminated)`` pairs at every model refit, warm-started from the previous refit with its own Adam
state (as the ensemble is), and used in rollouts in place of the static rule: ``done = p(done | s') > 0.5``.

Falls are rare (a few percent of Hopper's transitions early on, far fewer once it hops), so the binary
cross-entropy weighs each class by the inverse of its frequency (``pos_weight = N_neg / N_pos``): a
classifier that always says "alive" would otherwise look good. Precision and recall are measured on a
held-out split of the real transitions, stratified so it holds its share of the terminal ones.

With no terminal transition in the buffer (HalfCheetah never terminates; any env before its first fall)
there is nothing to learn from: the classifier is not trained and predicts never-done, and precision and
recall are undefined (NaN) for that refit.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mbpo.chunks import map_row_chunks

INIT_SEED_OFFSET = 7_919  # the classifier's initial weights: fixed by the run's seed, drawn from no run stream


@dataclass(frozen=True)
class TerminationNetConfig:
    """Size and fitting of the termination classifier (used only with ``rollout_termination = learned``)."""

    hidden_sizes: tuple[int, ...] = (128, 128)
    """Widths of the hidden layers (SiLU)."""
    lr: float = 3e-3
    """Adam learning rate (the optimizer's state is kept across refits)."""
    batch_size: int = 256
    """Minibatch size."""
    steps_per_fit: int = 500
    """Gradient steps per refit, on minibatches drawn uniformly from the training split."""
    holdout_ratio: float = 0.2
    """Share of the real transitions held out to measure precision and recall (stratified by class)."""
    max_holdout: int = 5000
    """Upper bound on the number of held-out transitions."""
    threshold: float = 0.5
    """A transition is predicted terminal when ``p(done | s')`` exceeds this."""

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"termination_net.{name}={getattr(self, name)!r}: {why}")

        if not self.hidden_sizes or any(h < 1 for h in self.hidden_sizes):
            raise bad("hidden_sizes", "needs at least one layer, each of width >= 1")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise bad("lr", "must be > 0")
        if self.batch_size < 1:
            raise bad("batch_size", "must be >= 1")
        if self.steps_per_fit < 1:
            raise bad("steps_per_fit", "must be >= 1")
        if not 0.0 <= self.holdout_ratio < 1.0:
            raise bad("holdout_ratio", "must be in [0, 1)")
        if self.max_holdout < 0:
            raise bad("max_holdout", "must be >= 0")
        if not 0.0 < self.threshold < 1.0:
            raise bad("threshold", "must be in (0, 1)")


class TerminationNet(nn.Module):
    """``s' (B, obs_dim) -> logit of p(done | s') (B,)``, inputs standardised inside the model.

    Attributes:
        input_mean, input_std: buffers ``(1, obs_dim)``, fit on each refit's training split.
        trained: buffer, a bool scalar: False until a refit saw a terminal transition; until then (and for
            ever on an env that never terminates) `predict` says never-done.
    """

    def __init__(self, obs_dim: int, config: TerminationNetConfig, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        sizes = [obs_dim, *config.hidden_sizes]
        layers: list[nn.Module] = []
        with torch.random.fork_rng(devices=[]):  # initial weights from `seed`, no global stream moves
            torch.manual_seed(seed + INIT_SEED_OFFSET)
            for n_in, n_out in itertools.pairwise(sizes):
                layers += [nn.Linear(n_in, n_out), nn.SiLU()]
            layers.append(nn.Linear(sizes[-1], 1))
        self.mlp = nn.Sequential(*layers)
        self.register_buffer("input_mean", torch.zeros(1, obs_dim))
        self.register_buffer("input_std", torch.ones(1, obs_dim))
        self.register_buffer("trained", torch.tensor(False))
        self.logit_threshold = math.log(config.threshold / (1.0 - config.threshold))

    def forward(self, next_obs: Tensor) -> Tensor:
        """Logits ``(B,)`` of ``p(done | s')`` for ``next_obs (B, obs_dim)``."""
        return self.mlp((next_obs - self.input_mean) / self.input_std).squeeze(-1)

    @torch.no_grad()
    def predict(self, next_obs: Tensor) -> Tensor:
        """``done (...)`` bool for ``next_obs (..., obs_dim)``: p > threshold; all False while untrained.

        Has the signature of a `mbpo.termination.TerminationFn`, so rollouts take it in place of the rule.
        The untrained case is one host sync per call (a flag read), not one per sample.
        """
        if not bool(self.trained):
            return torch.zeros(next_obs.shape[:-1], dtype=torch.bool, device=next_obs.device)
        flat = next_obs.reshape(-1, next_obs.shape[-1])
        logits = map_row_chunks(self, flat, floats_per_row=max(self.config.hidden_sizes))  # cache-sized chunks
        return (logits > self.logit_threshold).reshape(next_obs.shape[:-1])


def make_termination_optimizer(net: TerminationNet) -> torch.optim.Adam:
    return torch.optim.Adam(net.parameters(), lr=net.config.lr)


@dataclass(frozen=True)
class TerminationFit:
    """What one refit of the classifier measured (NaN where undefined)."""

    precision: float  # of the held-out transitions predicted terminal, the share that were; NaN: none predicted
    recall: float  # of the held-out terminal transitions, the share predicted terminal; NaN: none held out
    positives: int  # terminal transitions among all real ones
    n_train: int
    n_holdout: int
    loss: float  # class-weighted BCE, mean over the last 10% of the refit's steps; NaN if not trained

    def as_metrics(self) -> dict[str, float]:
        """Scalars for the training log, under ``termination/``."""
        return {
            "termination/precision": self.precision,
            "termination/recall": self.recall,
            "termination/positives": float(self.positives),
            "termination/n_holdout": float(self.n_holdout),
            "termination/loss": self.loss,
        }


def stratified_split(labels: Tensor, holdout: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """Indices ``(train, holdout)`` of a random split in which each class keeps its share of ``holdout``.

    ``labels (N,)`` bool. The holdout's share of terminal transitions is rounded down, so a single terminal
    transition stays in the training split (where it can be learned from), not in the holdout.
    """
    n = labels.shape[0]
    positive = torch.nonzero(labels).squeeze(-1)
    negative = torch.nonzero(~labels).squeeze(-1)
    hold_pos = positive.shape[0] * holdout // max(n, 1)
    hold_neg = min(holdout - hold_pos, negative.shape[0])
    device = labels.device
    positive = positive[torch.randperm(positive.shape[0], generator=generator, device=device)]
    negative = negative[torch.randperm(negative.shape[0], generator=generator, device=device)]
    held = torch.cat([positive[:hold_pos], negative[:hold_neg]])
    train = torch.cat([positive[hold_pos:], negative[hold_neg:]])
    return train, held


def precision_recall(predicted: Tensor, actual: Tensor) -> tuple[float, float]:
    """Precision and recall of bool ``predicted`` against bool ``actual`` (both ``(N,)``); NaN if undefined."""
    tp = int((predicted & actual).sum())
    predicted_pos, actual_pos = int(predicted.sum()), int(actual.sum())
    precision = tp / predicted_pos if predicted_pos else math.nan
    recall = tp / actual_pos if actual_pos else math.nan
    return precision, recall


def fit_termination(
    net: TerminationNet,
    optim: torch.optim.Optimizer,
    next_obs: Tensor,
    terminated: Tensor,
    generator: torch.Generator | None = None,
) -> TerminationFit:
    """Refit ``net`` on real transitions: ``next_obs (N, obs_dim)``, ``terminated (N,)`` (1.0 = the MDP ended).

    Splits off a stratified holdout, standardises inputs on the training split, takes ``steps_per_fit``
    Adam steps on the class-weighted BCE, then measures precision and recall on the holdout. Without a
    terminal transition the net is left untrained (it predicts never-done) and nothing random is drawn.
    """
    cfg = net.config
    labels = terminated > 0.5
    n = labels.shape[0]
    positives = int(labels.sum())
    if positives == 0:
        net.trained.fill_(False)
        return TerminationFit(math.nan, math.nan, 0, n, 0, math.nan)

    train, held = stratified_split(labels, min(int(cfg.holdout_ratio * n), cfg.max_holdout), generator)
    x, y = next_obs[train], labels[train].float()
    with torch.no_grad():
        net.input_mean.copy_(x.mean(dim=0, keepdim=True))
        std = x.std(dim=0, keepdim=True, correction=0)
        net.input_std.copy_(torch.where(std < 1e-12, torch.ones_like(std), std))
    train_pos = float(y.sum())
    pos_weight = torch.tensor((y.shape[0] - train_pos) / max(train_pos, 1.0), device=x.device)

    losses = []
    for _ in range(cfg.steps_per_fit):
        idx = torch.randint(0, x.shape[0], (cfg.batch_size,), generator=generator, device=x.device)
        loss = F.binary_cross_entropy_with_logits(net(x[idx]), y[idx], pos_weight=pos_weight)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        losses.append(loss.detach())
    net.trained.fill_(True)
    tail = max(1, len(losses) // 10)
    mean_loss = float(torch.stack(losses[-tail:]).mean())

    precision, recall = (math.nan, math.nan)
    if held.numel():
        precision, recall = precision_recall(net.predict(next_obs[held]), labels[held])
    return TerminationFit(precision, recall, positives, int(train.numel()), int(held.numel()), mean_loss)
