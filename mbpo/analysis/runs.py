"""Run directories → tidy frames: ``results/curves.csv`` and ``results/summary.csv``.

A run directory is ``.../{env}/{algo}/{variant}/seed{seed}/`` holding ``metrics.csv`` and ``config.yaml``
as ``mbpo train`` writes them. The caller lists every run it expects; a run that is missing, empty,
header-only, truncated, corrupt, short of its budget or filed under the wrong path raises ``RunError``
naming the file and the problem. Nothing is dropped silently: a number in the table always covers every
seed the config asked for.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

CURVE_COLUMNS = ["env", "algo", "variant", "seed", "env_step", "return", "wall_time_s", "warmup"]
SUMMARY_COLUMNS = [
    "env",
    "algo",
    "variant",
    "seed",
    "final_return",
    "steps",
    "n_evals",
    "target_steps",
    "window_start_step",
    "env_dynamics",
]
REQUIRED_METRICS = ("env_step", "eval_return_mean")
WARMUP = "eval/warmup"  # 1 on rows logged during the random warm-up (absent in older runs)
_RUN_PATH = re.compile(r"(?P<env>[^/]+)/(?P<algo>[^/]+)/(?P<variant>[^/]+)/seed(?P<seed>\d+)$")


class RunError(ValueError):
    """A run's files cannot be used; the message names the file and what is wrong with it."""


@dataclass(frozen=True)
class RunKey:
    env: str
    algo: str
    variant: str
    seed: int

    @classmethod
    def from_dir(cls, run_dir: Path) -> RunKey:
        """Parse ``.../{env}/{algo}/{variant}/seed{seed}``."""
        match = _RUN_PATH.search(run_dir.as_posix())
        if match is None:
            raise RunError(f"{run_dir}: not a run directory (.../{{env}}/{{algo}}/{{variant}}/seed{{N}})")
        return cls(match["env"], match["algo"], match["variant"], int(match["seed"]))


@dataclass(frozen=True)
class Run:
    """One run's evaluations, checked against its path and its own config."""

    key: RunKey
    path: Path  # its metrics.csv
    env_steps: np.ndarray  # (n_evals,), strictly increasing
    returns: np.ndarray  # (n_evals,), mean deterministic evaluation return at each step
    target_steps: int  # the budget from the run's config.yaml
    wall_time_s: np.ndarray  # (n_evals,), cumulative training wall-clock; NaN where not logged
    warmup: np.ndarray  # (n_evals,) bool: logged during the random warm-up, so not a learned policy
    phase_s: dict[str, float]  # total seconds per `time/{phase}_s` column, e.g. {"policy": 171.2}
    env_dynamics: str = "v5"  # the run's `env_dynamics` (runs from before the option: gymnasium's v5)


def _read_config(path: Path, key: RunKey) -> dict:
    if not path.is_file():
        raise RunError(f"{path}: missing (every run directory needs the config.yaml `mbpo train` writes)")
    try:
        cfg = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise RunError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(cfg, dict):
        raise RunError(f"{path}: expected a mapping of config keys, got {type(cfg).__name__}")
    for field in ("env", "algo", "variant", "seed", "steps"):
        if field not in cfg:
            raise RunError(f"{path}: no `{field}` key")
    for field in ("env", "algo", "variant", "seed"):
        expected = getattr(key, field)
        if str(cfg[field]) != str(expected):
            raise RunError(
                f"{path}: {field} is {cfg[field]!r} but the run directory says {expected!r}; "
                "the run was filed under the wrong path or its config was edited"
            )
    if not isinstance(cfg["steps"], int) or cfg["steps"] <= 0:
        raise RunError(f"{path}: steps must be a positive integer, got {cfg['steps']!r}")
    return cfg


def _read_metrics(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise RunError(f"{path}: missing")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise RunError(f"{path}: corrupt (not UTF-8 text: {err})") from None
    if not text.strip():
        raise RunError(f"{path}: empty (not even a header); the run never started logging")
    if not text.endswith("\n"):
        raise RunError(f"{path}: truncated (the last line has no line end: a row was cut mid-write)")
    try:
        header, *rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as err:
        raise RunError(f"{path}: corrupt CSV ({err})") from None
    missing = [c for c in REQUIRED_METRICS if c not in header]
    if missing:
        raise RunError(f"{path}: no column(s) {', '.join(missing)}; header is {header}")
    for i, row in enumerate(rows, start=1):
        if len(row) != len(header):
            raise RunError(f"{path}: corrupt: data row {i} has {len(row)} fields, the header {len(header)}")
    if not rows:
        raise RunError(f"{path}: header only, no evaluations; the run stopped before its first evaluation")
    frame = pd.DataFrame(rows, columns=header)
    for col in REQUIRED_METRICS:  # the diagnostics may be empty; these two never are
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise RunError(f"{path}: {col} is not a finite number in data row {i + 1}: {rows[i][header.index(col)]!r}")
        frame[col] = values
    steps = frame["env_step"].to_numpy()
    if (np.diff(steps) <= 0).any():
        i = int(np.flatnonzero(np.diff(steps) <= 0)[0]) + 1
        raise RunError(
            f"{path}: env_step does not increase at data row {i + 1} ({steps[i - 1]:g} then {steps[i]:g}); "
            "two runs wrote to the same file?"
        )
    return frame


def load_run(metrics_path: str | Path) -> Run:
    """Read and check one run from its ``metrics.csv`` (and the ``config.yaml`` beside it)."""
    metrics_path = Path(metrics_path)
    key = RunKey.from_dir(metrics_path.parent)
    cfg = _read_config(metrics_path.parent / "config.yaml", key)
    frame = _read_metrics(metrics_path)
    last = int(frame["env_step"].iloc[-1])
    if last != cfg["steps"]:
        raise RunError(
            f"{metrics_path}: last evaluation at env step {last}, but the run's budget is {cfg['steps']}; "
            "the run is incomplete (or did not evaluate at its last step)"
        )

    def numbers(column: str) -> np.ndarray:  # NaN where empty (a phase not run since the last row) or absent
        return pd.to_numeric(frame.get(column, pd.Series(np.nan, frame.index)), errors="coerce").to_numpy(float)

    phases = [c for c in frame.columns if c.startswith("time/") and c.endswith("_s")]
    return Run(
        key=key,
        path=metrics_path,
        env_steps=frame["env_step"].to_numpy(dtype=np.int64),
        returns=frame["eval_return_mean"].to_numpy(dtype=float),
        target_steps=int(cfg["steps"]),
        wall_time_s=numbers("wall_time_s"),
        warmup=numbers(WARMUP) == 1,
        phase_s={c[len("time/") : -len("_s")]: float(np.nansum(numbers(c))) for c in phases},
        env_dynamics=str(cfg.get("env_dynamics", "v5")),
    )


def summarize(run: Run, final_window: int) -> dict:
    """One summary row: the final return is the mean of the last ``final_window`` evaluations.

    Evaluations logged during the random warm-up never count towards the window or ``n_evals``.
    """
    learned = ~run.warmup
    n = int(learned.sum())
    if n < final_window:
        raise RunError(
            f"{run.path}: {n} evaluation(s) after the warm-up, fewer than final_window={final_window}; "
            "lower final_window or evaluate more often"
        )
    returns, steps = run.returns[learned], run.env_steps[learned]
    return {
        "env": run.key.env,
        "algo": run.key.algo,
        "variant": run.key.variant,
        "seed": run.key.seed,
        "final_return": float(returns[-final_window:].mean()),
        "steps": int(steps[-1]),
        "n_evals": n,
        "target_steps": run.target_steps,
        "window_start_step": int(steps[-final_window]),
        "env_dynamics": run.env_dynamics,
    }


def aggregate(metrics_paths: Iterable[str | Path], final_window: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every listed run → (curves, summary), both sorted by env, algo, variant, seed (and env_step).

    Raises ``RunError`` on the first unusable run, or if two paths name the same run.
    """
    if final_window < 1:
        raise ValueError(f"final_window must be >= 1, got {final_window}")
    runs: dict[RunKey, Run] = {}
    for path in metrics_paths:
        run = load_run(path)
        if run.key in runs:
            raise RunError(f"{path}: the same run as {runs[run.key].path}")
        runs[run.key] = run
    if not runs:
        raise RunError("no runs given")
    dynamics: dict[str, Run] = {}
    for run in runs.values():  # an env's comparisons need one set of dynamics across all its runs
        first = dynamics.setdefault(run.key.env, run)
        if run.env_dynamics != first.env_dynamics:
            raise RunError(
                f"{run.path}: env_dynamics {run.env_dynamics!r}, but {first.path} has {first.env_dynamics!r}; "
                f"runs of one env must share their dynamics to be compared"
            )
    curves = pd.DataFrame(
        [
            (r.key.env, r.key.algo, r.key.variant, r.key.seed, int(step), float(ret), float(wall), int(warm))
            for r in runs.values()
            for step, ret, wall, warm in zip(r.env_steps, r.returns, r.wall_time_s, r.warmup, strict=True)
        ],
        columns=CURVE_COLUMNS,
    )
    summary = pd.DataFrame([summarize(r, final_window) for r in runs.values()], columns=SUMMARY_COLUMNS)
    keys = ["env", "algo", "variant", "seed"]
    curves = curves.sort_values([*keys, "env_step"], kind="stable").reset_index(drop=True)
    summary = summary.sort_values(keys, kind="stable").reset_index(drop=True)
    return curves, summary
