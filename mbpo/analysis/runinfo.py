"""What each run was and what it cost: ``results/runs.csv``, one row per run.

Read from the run directory alone: ``config.yaml`` (env version, env dynamics, evaluation protocol),
``metrics.csv`` (wall-clock and its split over the ``time/*_s`` columns) and, where the run has one,
``provenance.yaml`` (command, machine, commit, package versions). Runs older than ``provenance.yaml``
read as "provenance unknown", never as an error; a provenance file that is there but unreadable is one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from mbpo import provenance
from mbpo.analysis.runs import RunError, load_run
from mbpo.envs import env_spec
from mbpo.provenance import FILENAME as PROVENANCE

# The phases of `time/{phase}_s` in metrics.csv, in display order, with what they measure. Phases a
# future loop adds get their own column under their own name; `other` is what no phase accounts for.
PHASES = {
    "policy": "SAC updates",
    "model": "model fitting",
    "rollout": "model rollouts",
    "env": "env steps",
    "eval": "evaluation",
}
OTHER = "other"

RUN_COLUMNS = [
    "env",
    "algo",
    "variant",
    "seed",
    "gym_id",
    "env_dynamics",
    "steps",
    "init_exploration_steps",
    "eval_every",
    "eval_episodes",
    "num_train_repeat",
    "wall_time_s",
    *(f"time_{phase}_s" for phase in (*PHASES, OTHER)),
    "warmup_evals",
    "machine",
    "gpu",
    "hostname",
    "commit",
    "dirty",
    "started",
    "finished",
    "resumes",
    "command",
]
UNKNOWN = "unknown"


def read_provenance(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's ``provenance.yaml`` as a mapping, or None if the run has none (provenance unknown); a
    file that is there but unreadable is a `RunError` naming it."""
    path = Path(run_dir) / PROVENANCE
    try:
        record = provenance.read_provenance(run_dir)
    except yaml.YAMLError as err:
        raise RunError(f"{path}: not valid YAML ({err})") from None
    if record is not None and not isinstance(record, dict):
        raise RunError(f"{path}: expected a mapping (command, started, git, packages, machine)")
    return record


def machine_label(machine: Mapping[str, Any] | None) -> str:
    """A short description of the host, e.g. ``AMD EPYC 7B13, 2 cores, 1 thread, no GPU``."""
    if not machine:
        return UNKNOWN
    parts = [str(machine.get("cpu") or "unknown CPU")]
    if machine.get("cores"):
        parts.append(f"{machine['cores']} cores")
    threads = machine.get("threads")
    if threads:
        parts.append(f"{threads} thread{'s' if threads != 1 else ''}")
    parts.append(str(machine["gpu"]) if machine.get("gpu") else "no GPU")
    return ", ".join(parts)


def time_split(phase_s: Mapping[str, float], wall_time_s: float) -> dict[str, float]:
    """Seconds per phase, known phases first, then any others, then ``other`` = wall-clock - their sum.

    ``other`` is what the loop did not time (logging, checkpoints, bookkeeping); slightly negative values
    from timer resolution are clipped to 0. NaN wall-clock leaves ``other`` NaN.
    """
    split = {phase: float(phase_s.get(phase, 0.0)) for phase in PHASES}
    split |= {phase: float(s) for phase, s in phase_s.items() if phase not in PHASES}
    split[OTHER] = max(0.0, wall_time_s - sum(split.values())) if math.isfinite(wall_time_s) else math.nan
    return split


def run_record(metrics_path: str | Path) -> dict[str, Any]:
    """One row of ``runs.csv`` for the run whose ``metrics.csv`` is given (checked as `load_run` does)."""
    run = load_run(metrics_path)
    run_dir = Path(metrics_path).parent
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    prov = read_provenance(run_dir)
    walls = run.wall_time_s[np.isfinite(run.wall_time_s)]
    wall = float(walls[-1]) if walls.size else math.nan
    git = (prov or {}).get("git") or {}
    machine = (prov or {}).get("machine")
    command = (prov or {}).get("command")
    record = {
        "env": run.key.env,
        "algo": run.key.algo,
        "variant": run.key.variant,
        "seed": run.key.seed,
        "gym_id": env_spec(str(cfg["env"])).gym_id,
        # Runs from before the `env_dynamics` key ran gymnasium's v5 dynamics: the only ones there were.
        "env_dynamics": cfg.get("env_dynamics", "v5"),
        "steps": cfg["steps"],
        "init_exploration_steps": cfg.get("init_exploration_steps"),
        "eval_every": cfg.get("eval_every"),
        "eval_episodes": cfg.get("eval_episodes"),
        "num_train_repeat": cfg.get("num_train_repeat"),
        "wall_time_s": wall,
        **{f"time_{phase}_s": s for phase, s in time_split(run.phase_s, wall).items()},
        "warmup_evals": int(run.warmup.sum()),
        "machine": machine_label(machine) if prov is not None else UNKNOWN,
        "gpu": (machine or {}).get("gpu") or "",
        "hostname": (machine or {}).get("hostname") or "",
        "commit": git.get("commit") or "",
        "dirty": "" if git.get("dirty") is None else bool(git["dirty"]),
        "started": (prov or {}).get("started") or "",
        "finished": (prov or {}).get("finished") or "",
        "resumes": len((prov or {}).get("resumed") or []),
        "command": " ".join(str(c) for c in command) if isinstance(command, list) else (command or ""),
    }
    return record


def run_table(metrics_paths: Iterable[str | Path]) -> pd.DataFrame:
    """``runs.csv``: one row per run, sorted like the summary; extra phases get their own columns."""
    rows = [run_record(path) for path in metrics_paths]
    extra = sorted({k for r in rows for k in r} - set(RUN_COLUMNS))
    columns = (
        RUN_COLUMNS[: RUN_COLUMNS.index(f"time_{OTHER}_s")]
        + extra
        + RUN_COLUMNS[RUN_COLUMNS.index(f"time_{OTHER}_s") :]
    )
    table = pd.DataFrame(rows).reindex(columns=columns)
    return table.sort_values(["env", "algo", "variant", "seed"], kind="stable").reset_index(drop=True)
