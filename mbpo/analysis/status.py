"""Where long runs stand: one row per planned run (env step, last return, hours so far, finished or not).

Made for workflows that span days (``config/cpu.yaml``): it reads each run's ``metrics.csv`` and
``config.yaml`` (a checkpoint only where Snakemake deleted those, memory-mapped), so it is safe to call
while the runs write. A run is *finished* when its last evaluation is at its budget.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from mbpo.checkpoint import CHECKPOINT_NAME, CheckpointError, load_checkpoint
from mbpo.config import load_yaml

FINISHED, IN_PROGRESS, NOT_STARTED = "finished", "in progress", "not started"


@dataclass(frozen=True)
class RunStatus:
    run_dir: Path
    state: str  # FINISHED, IN_PROGRESS or NOT_STARTED
    env_step: int  # of the last evaluation logged (0 before the first)
    target_steps: int | None  # the run's budget (None before its config.yaml exists)
    hours: float  # training wall-clock so far, resumed sessions included
    resumable: bool  # a checkpoint is there to resume from
    seconds_per_step: float | None = None  # its recent pace (see `_recent_pace`)
    last_return: float | None = None  # mean return of its last evaluation: is it learning?

    @property
    def group(self) -> tuple[str, ...]:
        """(env, algo, variant), from ``.../{env}/{algo}/{variant}/seed{seed}``."""
        return self.run_dir.parts[-4:-1]


def hours_left(runs: list[RunStatus]) -> list[float | None]:
    """Training hours each run still needs: a run in progress at its own recent pace, one not started at the
    mean recent pace of its (env, algo, variant) group; None where there is no pace to go by."""
    paces: dict[tuple[str, ...], list[float]] = {}
    for r in runs:
        if r.seconds_per_step is not None:
            paces.setdefault(r.group, []).append(r.seconds_per_step)
    left: list[float | None] = []
    for r in runs:
        pace = r.seconds_per_step
        if pace is None and r.state == NOT_STARTED and r.group in paces:
            pace = sum(paces[r.group]) / len(paces[r.group])
        if r.state == FINISHED:
            left.append(0.0)
        elif not r.target_steps or pace is None:
            left.append(None)
        else:
            left.append(pace * (r.target_steps - r.env_step) / 3600.0)
    return left


RECENT_ROWS = 5  # the pace of a run is read over its last few evaluations after the warm-up


def _complete_rows(metrics: Path) -> list[dict[str, str]]:
    """The complete rows of a metrics.csv being written (a row cut mid-write is left out)."""
    try:
        text = metrics.read_text()
    except (OSError, UnicodeDecodeError):
        return []
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    return list(csv.DictReader(io.StringIO(text)))


def _checkpoint_record(path: Path) -> tuple[list[dict[str, str]], int | None]:
    """The metrics rows and the budget a checkpoint holds. Snakemake deletes an interrupted job's
    metrics.csv and config.yaml when it is relaunched; the checkpoint keeps both until the run rewrites
    them. Loaded memory-mapped, so its tensors are not read; an unreadable one gives nothing."""
    try:
        state = load_checkpoint(path, mmap=True)
    except CheckpointError:  # damaged or not one of ours: the status page shows no progress for it
        return [], None
    rows = [{k: "" if v is None else str(v) for k, v in row.items()} for row in state["log"]["rows"]]
    return rows, int(state["config"]["steps"])


def _last_return(rows: list[dict[str, str]]) -> float | None:
    value = rows[-1].get("eval_return_mean", "") if rows else ""
    return float(value) if value else None


def _point(row: dict[str, str]) -> tuple[int, float]:
    return int(float(row["env_step"])), float(row.get("wall_time_s") or 0.0)


def _recent_pace(rows: list[dict[str, str]]) -> float | None:
    """Seconds per env step over the last ``RECENT_ROWS`` evaluations after the warm-up (which is far
    faster than learning, so it would make a run look quicker than it is); None before two such points."""
    learned = [i for i, r in enumerate(rows) if r.get("eval/warmup", "0") != "1"]
    if not learned:
        return None
    first = max(learned[0] - 1, len(rows) - 1 - RECENT_ROWS, 0)  # from the last warm-up row at the earliest
    (s0, t0), (s1, t1) = _point(rows[first]), _point(rows[-1])
    return (t1 - t0) / (s1 - s0) if s1 > s0 and t1 > t0 else None


def run_status(run_dir: Path, planned_steps: int | None = None) -> RunStatus:
    """The state of one run directory, which may not exist yet; its budget is the one its config.yaml
    records, else ``planned_steps`` (what the workflow will ask for)."""
    config, metrics = run_dir / "config.yaml", run_dir / "metrics.csv"
    target = planned_steps
    if config.is_file():
        steps = load_yaml(config).get("steps")
        target = int(steps) if isinstance(steps, int) else None
    rows = _complete_rows(metrics) if metrics.is_file() else []
    resumable = (run_dir / CHECKPOINT_NAME).is_file()
    if not rows and resumable:
        rows, saved_target = _checkpoint_record(run_dir / CHECKPOINT_NAME)
        target = saved_target or target
    step, seconds = _point(rows[-1]) if rows else (0, 0.0)
    if not rows and not resumable:
        state = NOT_STARTED
    elif target is not None and step >= target:
        state = FINISHED
    else:
        state = IN_PROGRESS
    return RunStatus(run_dir, state, step, target, seconds / 3600.0, resumable, _recent_pace(rows), _last_return(rows))


def finished_files(runs: list[RunStatus]) -> list[Path]:
    """The files that record the finished runs (logs, configs, provenance, diagnostics): what to commit of
    them. Checkpoints, W&B folders and temporaries are not records."""
    files = []
    for r in runs:
        if r.state == FINISHED:
            files += sorted(f for f in r.run_dir.iterdir() if f.is_file() and f.suffix in (".csv", ".yaml"))
    return files


def interrupted_outputs(runs: list[RunStatus]) -> list[Path]:
    """The ``metrics.csv`` of every run in progress that has one: what to pass to Snakemake's ``--forcerun``
    when relaunching with nothing training. Snakemake knows an interrupted job only from its own metadata,
    which a fresh checkout lacks: it would take such a run for finished. Forced, the job resumes from its
    checkpoint (or, without one, starts over)."""
    return [r.run_dir / "metrics.csv" for r in runs if r.state == IN_PROGRESS and (r.run_dir / "metrics.csv").is_file()]


def _fmt(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def render_status(runs: list[RunStatus], title: str, now: str, root: Path | None = None) -> str:
    """A markdown status page: totals, then one row per run in the order given."""
    done = sum(r.state == FINISHED for r in runs)
    hours = sum(r.hours for r in runs)
    left = hours_left(runs)
    known = [h for h in left if h is not None]
    unknown = sum(h is None for h in left)
    planned = sum(r.target_steps or 0 for r in runs)
    steps = f" {sum(r.env_step for r in runs):,} of {planned:,} planned env steps taken." if planned else ""
    lines = [
        f"# {title}",
        "",
        f"Updated {now}. {done} of {len(runs)} runs finished (reached their budget); "
        f"{sum(r.state == IN_PROGRESS for r in runs)} in progress, {sum(r.state == NOT_STARTED for r in runs)} "
        f"not started.{steps} Training wall-clock so far: {hours:.1f} h"
        + (
            f". At the pace of each run (or of its group) so far, about {sum(known):.1f} h of training remain"
            + (f", plus {unknown} run(s) of groups that have not started" if unknown else "")
            + " (a lower bound for MBPO, whose model fits grow with its buffer)."
            if known
            else "."
        ),
        "",
        "Hours are each run's own training wall-clock (one CPU thread), summed over every session it ran in.",
        "A run in progress with a checkpoint resumes from it when the workflow is relaunched. The last return",
        "is one evaluation's mean, to see a run learn; the table's final return averages the last few.",
        "",
        "| run | state | env step | budget | last return | hours | hours left (est.) |",
        "|:---|:---|---:|---:|---:|---:|---:|",
    ]
    for r, h in zip(runs, left, strict=True):
        name = r.run_dir.relative_to(root).as_posix() if root else r.run_dir.as_posix()
        state = r.state + (" (checkpoint)" if r.state == IN_PROGRESS and r.resumable else "")
        budget = "" if r.target_steps is None else f"{r.target_steps:,}"
        h = None if r.state == FINISHED else h
        lines.append(
            f"| {name} | {state} | {r.env_step:,} | {budget} | {_fmt(r.last_return, '.1f')} | {r.hours:.2f} "
            f"| {_fmt(h, '.2f')} |"
        )
    return "\n".join(lines) + "\n"
