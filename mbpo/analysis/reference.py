"""Public reference learning curves, read at our env steps.

The data is package data (``mbpo/reference/curves.csv``); ``mbpo/reference/README.md`` gives each
source's provenance, env version and evaluation protocol. Two caveats shape this module:

* The official MBPO curves (``erl_lib/mbpo_pseudoseeds``) have 5 synthetic "seeds", spaced evenly around
  the mean: only their mean is data. Their min–max band is reported as "±1 std, inferred", never as a
  seed range.
* Sources ran older env versions (v2, v3, v4; ours are v5), so every value carries its env version and
  differences of a few percent are expected.

Curves are interpolated linearly between a source's logged evaluations and never extrapolated: a step
before a source's first or after its last evaluation is NaN ("n/a").
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

# Env names of the reference CSV → our short names (`mbpo.envs.ENV_SPECS`).
ENV_NAMES = {
    "Hopper": "hopper",
    "Walker2d": "walker2d",
    "HalfCheetah": "halfcheetah",
    "Ant": "ant",
    "Humanoid": "humanoid",
    "InvertedPendulum": "invertedpendulum",
}
GYM_NAMES = {short: gym for gym, short in ENV_NAMES.items()}
ALGO_LABELS = {"mbpo": "MBPO", "sac": "SAC"}


@dataclass(frozen=True)
class Source:
    """How to present one reference source.

    Attributes:
        name: the ``source`` column of the CSV.
        algo: ``mbpo`` or ``sac``: the algorithm of ours it is compared with.
        label: short human label, e.g. "MBPO, official Fig. 2".
        band: what the min–max over its seeds means: "seed range", "±1 std, inferred" or "1 seed".
    """

    name: str
    algo: str
    label: str
    band: str


# The sources compared at our env steps, in display order. `erl_lib/sac_long` (evaluated only every 100k
# steps) is used for the 1M-step check of the design notes' numbers, not here.
SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source("erl_lib/mbpo_pseudoseeds", "mbpo", "MBPO, official Fig. 2", "±1 std, inferred"),
        Source("x35f_model_based_rl/mbpo", "mbpo", "MBPO, x35f PyTorch", "1 seed"),
        Source("tianshou/sac", "sac", "SAC, Tianshou", "seed range"),
        Source("erl_lib/sac", "sac", "SAC, erl_lib", "seed range"),
        Source("erl_lib/sac_long", "sac", "SAC, erl_lib long", "seed range"),
    )
}
STEP_SOURCES = [name for name in SOURCES if name != "erl_lib/sac_long"]


def reference_path(name: str = "curves.csv") -> Path:
    """Path of a file of the packaged reference data (``curves.csv`` or ``README.md``)."""
    return Path(str(resources.files("mbpo") / "reference" / name))


def load_reference(path: str | Path | None = None) -> pd.DataFrame:
    """The reference curves, tidy: ``source, algo, env, env_version, seed, env_step, return``.

    ``env`` is our short name (``hopper``); ``algo`` is lower case (``mbpo``/``sac``).
    """
    ref = pd.read_csv(path or reference_path())
    unknown = sorted(set(ref["env"]) - set(ENV_NAMES))
    if unknown:
        raise ValueError(f"reference data has unknown env names {unknown}; add them to ENV_NAMES")
    ref["env"] = ref["env"].map(ENV_NAMES)
    ref["algo"] = ref["method"].str.lower()
    return ref[["source", "algo", "env", "env_version", "seed", "env_step", "return"]]


def interpolate_seeds(ref: pd.DataFrame, source: str, env: str, steps: np.ndarray) -> np.ndarray:
    """Each seed's return at ``steps`` by linear interpolation; NaN outside that seed's logged range.

    Shapes: ``steps`` (k,) -> (n_seeds, k); (0, k) if the source has no curve for ``env``.
    """
    steps = np.asarray(steps, dtype=float)
    rows = ref[(ref["source"] == source) & (ref["env"] == env)]
    out = np.full((rows["seed"].nunique(), steps.size), np.nan)
    for i, (_, seed) in enumerate(rows.groupby("seed", sort=True)):
        seed = seed.sort_values("env_step")
        x, y = seed["env_step"].to_numpy(dtype=float), seed["return"].to_numpy(dtype=float)
        inside = (steps >= x[0]) & (steps <= x[-1])
        out[i, inside] = np.interp(steps[inside], x, y)
    return out


@dataclass(frozen=True)
class ReferenceValue:
    """One source's return over a set of env steps (e.g. our final-evaluation window).

    ``mean`` is the mean over seeds of each seed's average over the steps; ``low``/``high`` are the
    min/max of those per-seed averages (what they mean: ``source.band``). All NaN if any step lies
    outside the source's range.
    """

    source: Source
    env: str
    env_version: str
    n_seeds: int
    first_step: float
    last_step: float
    mean: float
    low: float
    high: float

    @property
    def available(self) -> bool:
        return bool(np.isfinite(self.mean))

    @property
    def env_id(self) -> str:
        return env_id(self.env, self.env_version)

    def label(self) -> str:
        """E.g. ``MBPO, official Fig. 2, Hopper-v2: 1,700 @50k`` (or ``n/a @2k``)."""
        value = format_return(self.mean) if self.available else "n/a"
        return f"{self.source.label}, {self.env_id}: {value} @{format_steps(self.last_step)}"


def our_env_id(env: str) -> str:
    """Our env id: ``hopper`` -> ``Hopper-v5``."""
    return f"{GYM_NAMES.get(env, env)}-v5"


def env_id(env: str, env_version: str) -> str:
    """The source's env id: ``Hopper-v2``; ``v2_TruncatedObs`` as the official ``AntTruncatedObs-v2``."""
    version, _, extra = env_version.partition("_")
    return f"{GYM_NAMES.get(env, env)}{extra}-{version}"


def reference_value(ref: pd.DataFrame, source: str, env: str, steps: np.ndarray) -> ReferenceValue | None:
    """``source``'s return averaged over ``steps`` in ``env``; None if it has no curve for ``env``."""
    steps = np.atleast_1d(np.asarray(steps, dtype=float))
    rows = ref[(ref["source"] == source) & (ref["env"] == env)]
    if rows.empty:
        return None
    per_seed = interpolate_seeds(ref, source, env, steps).mean(axis=1)  # NaN if any step is outside
    covered = bool(np.isfinite(per_seed).all())
    return ReferenceValue(
        source=SOURCES[source],
        env=env,
        env_version=str(rows["env_version"].iloc[0]),
        n_seeds=per_seed.size,
        first_step=float(steps.min()),
        last_step=float(steps.max()),
        mean=float(per_seed.mean()) if covered else np.nan,
        low=float(per_seed.min()) if covered else np.nan,
        high=float(per_seed.max()) if covered else np.nan,
    )


def mean_curve(ref: pd.DataFrame, source: str, env: str) -> pd.DataFrame:
    """A source's mean curve over seeds, ``env_step, return``, on the steps all of its seeds logged."""
    rows = ref[(ref["source"] == source) & (ref["env"] == env)]
    n_seeds = rows["seed"].nunique()
    by_step = rows.groupby("env_step")["return"].agg(["mean", "size"])
    by_step = by_step[by_step["size"] == n_seeds]
    return pd.DataFrame({"env_step": by_step.index.to_numpy(), "return": by_step["mean"].to_numpy()})


def format_steps(steps: float) -> str:
    """125000 -> ``125k``, 1500 -> ``1.5k``, 1_000_000 -> ``1M``."""
    if steps >= 1e6:
        return f"{steps / 1e6:g}M"
    if steps >= 1e3:
        return f"{steps / 1e3:.4g}k"
    return f"{steps:g}"


def format_return(value: float) -> str:
    """Returns as a reader compares them: ``3,512`` for large values, 3 significant digits below 100."""
    if not np.isfinite(value):
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
