"""Settings of the model diagnostics (``--set diagnostics.every=5``); off unless ``every > 0``."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class DiagnosticsConfig:
    """What the diagnostics measure and how often. Defaults cost nothing: ``every = 0`` turns them off."""

    every: int = 0
    """Epochs between diagnostic passes (a pass runs at the first model refit of every ``every``-th epoch,
    and at the second refit of the run, the first one with a fitted model); 0 = off."""
    horizon: int = 25
    """K: open-loop horizons k = 1..K of the compounding-error curve."""
    max_segments: int = 1000
    """At most this many held-out segment starts per pass (evenly spaced, no randomness)."""
    multistep_horizons: tuple[int, ...] = (1, 5, 10, 25)
    """The k of the direct k-step comparator models (each <= horizon); empty = no comparator."""
    multistep_windows: int = 10_000
    """Training windows drawn per pass for each direct model (10% of them held out for early stopping)."""
    multistep_max_epochs: int = 30
    """Epoch cap of one direct-model fit (early stopping usually ends it sooner)."""
    bound_max_k: int = 1000
    """The bound-optimal k* is searched over 0..bound_max_k."""

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"diagnostics.{name}={getattr(self, name)!r}: {why}")

        if self.every < 0:
            raise bad("every", "must be >= 0 (0 = off)")
        if self.horizon < 1:
            raise bad("horizon", "must be >= 1")
        if self.max_segments < 1:
            raise bad("max_segments", "must be >= 1")
        if any(not 1 <= k <= self.horizon for k in self.multistep_horizons):
            raise bad("multistep_horizons", f"every entry must lie in [1, horizon={self.horizon}]")
        if len(set(self.multistep_horizons)) != len(self.multistep_horizons):
            raise bad("multistep_horizons", "entries must be distinct")
        if self.multistep_windows < 20:
            raise bad("multistep_windows", "must be >= 20 (10% of them are the holdout)")
        if self.multistep_max_epochs < 1:
            raise bad("multistep_max_epochs", "must be >= 1")
        if not (self.bound_max_k >= 1 and math.isfinite(self.bound_max_k)):
            raise bad("bound_max_k", "must be >= 1")

    @property
    def enabled(self) -> bool:
        return self.every > 0
