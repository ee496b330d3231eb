"""Where long runs stand: one row per planned run (env step, hours so far, finished or not) as markdown.

Made for workflows that span days (``config/cpu.yaml``): it reads only each run's ``metrics.csv`` and
``config.yaml`` (never the checkpoint, which can be hundreds of MB), so it is safe to call while the runs
write. A run is *finished* when its last evaluation is at its budget.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import yaml

from mbpo.checkpoint import CHECKPOINT_NAME

FINISHED, IN_PROGRESS, NOT_STARTED = "finished", "in progress", "not started"


@dataclass(frozen=True)
class RunStatus:
    run_dir: Path
    state: str  # FINISHED, IN_PROGRESS or NOT_STARTED
    env_step: int  # of the last evaluation logged (0 before the first)
    target_steps: int | None  # the run's budget (None before its config.yaml exists)
    hours: float  # training wall-clock so far, resumed sessions included
    resumable: bool  # a checkpoint is there to resume from

    @property
    def hours_left(self) -> float | None:
        """At this run's own pace so far; None where there is no pace yet."""
        if self.state != IN_PROGRESS or not self.target_steps or self.env_step <= 0:
            return None
        return self.hours * (self.target_steps - self.env_step) / self.env_step


def _last_row(metrics: Path) -> dict[str, str] | None:
    """The last complete row of a metrics.csv being written (a row cut mid-write is not complete)."""
    try:
        text = metrics.read_text()
    except (OSError, UnicodeDecodeError):
        return None
    lines = text.splitlines(keepends=True)
    if len(lines) < 2:
        return None
    last = lines[-1] if lines[-1].endswith("\n") else (lines[-2] if len(lines) > 2 else None)
    if last is None:
        return None
    return next(csv.DictReader(io.StringIO(lines[0] + last)), None)


def run_status(run_dir: Path, planned_steps: int | None = None) -> RunStatus:
    """The state of one run directory, which may not exist yet; its budget is the one its config.yaml
    records, else ``planned_steps`` (what the workflow will ask for)."""
    config, metrics = run_dir / "config.yaml", run_dir / "metrics.csv"
    target = planned_steps
    if config.is_file():
        steps = (yaml.safe_load(config.read_text()) or {}).get("steps")
        target = int(steps) if isinstance(steps, int) else None
    row = _last_row(metrics) if metrics.is_file() else None
    step = int(float(row["env_step"])) if row and row.get("env_step") else 0
    seconds = float(row["wall_time_s"]) if row and row.get("wall_time_s") else 0.0
    resumable = (run_dir / CHECKPOINT_NAME).is_file()
    if row is None and not resumable:
        state = NOT_STARTED
    elif target is not None and step >= target:
        state = FINISHED
    else:
        state = IN_PROGRESS
    return RunStatus(run_dir, state, step, target, seconds / 3600.0, resumable)


def _fmt_hours(hours: float | None) -> str:
    return "" if hours is None else f"{hours:.2f}"


def render_status(runs: list[RunStatus], title: str, now: str, root: Path | None = None) -> str:
    """A markdown status page: totals, then one row per run in the order given."""
    done = sum(r.state == FINISHED for r in runs)
    hours = sum(r.hours for r in runs)
    left = [r.hours_left for r in runs if r.hours_left is not None]
    planned = sum(r.target_steps or 0 for r in runs)
    steps = f" {sum(r.env_step for r in runs):,} of {planned:,} planned env steps taken." if planned else ""
    lines = [
        f"# {title}",
        "",
        f"Updated {now}. {done} of {len(runs)} runs finished (reached their budget); "
        f"{sum(r.state == IN_PROGRESS for r in runs)} in progress, {sum(r.state == NOT_STARTED for r in runs)} "
        f"not started.{steps} Training wall-clock so far: {hours:.1f} h"
        + (
            f"; at their average pace so far the runs in progress need about {sum(left):.1f} h more (a lower "
            "bound for MBPO, whose model fits grow with its buffer)."
            if left
            else "."
        ),
        "",
        "Hours are each run's own training wall-clock (one CPU thread), summed over every session it ran in.",
        "A run in progress with a checkpoint resumes from it when the workflow is relaunched.",
        "",
        "| run | state | env step | budget | hours | hours left (est.) |",
        "|:---|:---|---:|---:|---:|---:|",
    ]
    for r in runs:
        name = r.run_dir.relative_to(root).as_posix() if root else r.run_dir.as_posix()
        state = r.state + (" (checkpoint)" if r.state == IN_PROGRESS and r.resumable else "")
        budget = "" if r.target_steps is None else f"{r.target_steps:,}"
        lines.append(f"| {name} | {state} | {r.env_step:,} | {budget} | {r.hours:.2f} | {_fmt_hours(r.hours_left)} |")
    return "\n".join(lines) + "\n"
