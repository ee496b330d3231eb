"""Where long runs stand: one row per planned run (env step, last return, hours so far, finished or not).

Made for workflows that span days (``config/cpu.yaml``): it reads each run's ``metrics.csv`` and
``config.yaml`` (a checkpoint only where Snakemake deleted those, memory-mapped), so it is safe to call
while the runs write. A run is *finished* when its last evaluation is at its budget.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

from mbpo.checkpoint import CHECKPOINT_NAME, CheckpointError, load_checkpoint
from mbpo.config import load_yaml

FINISHED, IN_PROGRESS, NOT_STARTED = "finished", "in progress", "not started"
Point = tuple[int, float]  # (env step, training seconds) at an evaluation


@dataclass(frozen=True)
class RunStatus:
    run_dir: Path
    state: str  # FINISHED, IN_PROGRESS or NOT_STARTED
    env_step: int  # of the last evaluation logged (0 before the first)
    target_steps: int | None  # the run's budget (None before its config.yaml exists)
    hours: float  # training wall-clock so far, resumed sessions included
    resumable: bool  # a checkpoint is there to resume from
    seconds_per_step: float | None = None  # its pace at its last evaluation (see `_recent_pace`)
    recent_steps: tuple[int, int] | None = None  # the env steps that pace was read over
    pace_growth: float = 0.0  # how much slower each env step makes the next (see `_pace_growth`)
    last_return: float | None = None  # mean return of its last evaluation: is it learning?
    clock: tuple[Point, ...] = ()  # (env step, training seconds) at each evaluation

    def seconds_at(self, env_step: float) -> float:
        """Training seconds it took this run to reach ``env_step`` (linear between evaluations)."""
        steps, seconds = zip(*((0, 0.0), *self.clock), strict=True)
        return float(np.interp(env_step, steps, seconds))

    def relative_pace(self, other: RunStatus) -> float:
        """Training seconds this run took over its recent env steps, divided by what ``other`` took over the
        same steps (1 where either is unknown): above 1 on a slower machine, or for a costlier variant."""
        if self.recent_steps is None:
            return 1.0
        start, end = self.recent_steps
        mine, theirs = (run.seconds_at(end) - run.seconds_at(start) for run in (self, other))
        return mine / theirs if mine > 0 and theirs > 0 else 1.0

    @property
    def group(self) -> tuple[str, ...]:
        """(env, algo, variant), from ``.../{env}/{algo}/{variant}/seed{seed}``."""
        return self.run_dir.parts[-4:-1]


def _hours(pace: float, growth: float, start: float, end: float) -> float:
    """Hours from env step ``start`` to ``end`` at ``pace`` seconds per step at ``start``, growing by
    ``growth`` per step."""
    return (pace * (end - start) + growth * (end - start) ** 2 / 2) / 3600.0


def hours_left(runs: list[RunStatus]) -> list[float | None]:
    """Training hours each run still needs. Where runs of its (env, algo, variant) group have finished at the
    same budget, the mean of what the rest of the way took them: measured, so it knows how MBPO's model fits
    grew late in a run, which no run's early pace does; for a run in progress, each scaled by its
    `RunStatus.relative_pace` to that run, since the finished runs may have trained on a faster machine (the
    CPU evidence ran on VMs three times apart). An ablation without finished runs of its own goes
    by its env and algorithm's ``default`` runs: a variant changes what is learned more than what it costs,
    and an early pace, read before the model fits grow, is further off. Otherwise a run in progress goes on
    at its own recent pace, growing as it has so far, and one not started at the mean pace of its group at
    every step (each of those runs' pace line, never below 0). None where there is no pace to go by."""
    lines: dict[tuple[str, ...], list[tuple[float, float, int]]] = {}
    done: dict[tuple[str, ...], list[RunStatus]] = {}
    for r in runs:
        if r.seconds_per_step is not None:
            lines.setdefault(r.group, []).append((r.seconds_per_step, r.pace_growth, r.env_step))
        if r.state == FINISHED and r.clock:
            done.setdefault(r.group, []).append(r)
    left: list[float | None] = []
    for r in runs:
        env, algo, _ = r.group
        siblings = _at_budget(done.get(r.group, []), r) or _at_budget(done.get((env, algo, "default"), []), r)
        if r.state == FINISHED:
            left.append(0.0)
        elif not r.target_steps:
            left.append(None)
        elif siblings:
            rest = [(d.seconds_at(d.env_step) - d.seconds_at(r.env_step)) * r.relative_pace(d) for d in siblings]
            left.append(float(np.mean(rest)) / 3600.0)
        elif r.seconds_per_step is not None:
            left.append(_hours(r.seconds_per_step, r.pace_growth, r.env_step, r.target_steps))
        elif r.state == NOT_STARTED and r.group in lines:
            steps = (np.arange(200) + 0.5) * r.target_steps / 200  # midpoints: exact for a line
            paces = [np.maximum(pace + growth * (steps - at), 0.0) for pace, growth, at in lines[r.group]]
            left.append(float(np.mean(paces)) * r.target_steps / 3600.0)
        else:
            left.append(None)
    return left


def _at_budget(finished: list[RunStatus], run: RunStatus) -> list[RunStatus]:
    return [d for d in finished if d.env_step == run.target_steps]


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


def _point(row: dict[str, str]) -> Point:
    return int(float(row["env_step"])), float(row.get("wall_time_s") or 0.0)


def _recent_points(rows: list[dict[str, str]]) -> tuple[Point, Point] | None:
    """Where the last ``RECENT_ROWS`` evaluations after the warm-up (which is far faster than learning, so
    it would make a run look quicker than it is) begin and end; None before two such points."""
    learned = [i for i, r in enumerate(rows) if r.get("eval/warmup", "0") != "1"]
    if not learned:
        return None
    first = max(learned[0] - 1, len(rows) - 1 - RECENT_ROWS, 0)  # from the last warm-up row at the earliest
    (s0, t0), (s1, t1) = _point(rows[first]), _point(rows[-1])
    return ((s0, t0), (s1, t1)) if s1 > s0 and t1 > t0 else None


def _recent_pace(points: tuple[Point, Point] | None, growth: float = 0.0) -> float | None:
    """Seconds per env step at the last evaluation: the mean over `_recent_points`, moved from their middle
    to the last step along ``growth``."""
    if points is None:
        return None
    (s0, t0), (s1, t1) = points
    return (t1 - t0) / (s1 - s0) + growth * (s1 - s0) / 2


def _pace_growth(rows: list[dict[str, str]]) -> float:
    """The slope of seconds per env step against the env step, fitted over every interval between
    evaluations after the warm-up (0 before three such intervals, and never below 0). MBPO's model fits
    grow with its buffer, so the pace of a run in its first third says little about its last."""
    learned = [i for i, r in enumerate(rows) if r.get("eval/warmup", "0") != "1"]
    if not learned:
        return 0.0
    points = [_point(r) for r in rows[max(learned[0] - 1, 0) :]]
    middles, paces = [], []
    for (s0, t0), (s1, t1) in pairwise(points):
        if s1 > s0 and t1 > t0:
            middles.append((s0 + s1) / 2)
            paces.append((t1 - t0) / (s1 - s0))
    if len(paces) < 3:
        return 0.0
    return max(float(np.polyfit(middles, paces, 1)[0]), 0.0)


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
    growth, recent = _pace_growth(rows), _recent_points(rows)
    recent_steps = None if recent is None else (recent[0][0], recent[1][0])
    return RunStatus(
        run_dir, state, step, target, seconds / 3600.0, resumable, _recent_pace(recent, growth), recent_steps,
        growth, _last_return(rows), tuple(_point(row) for row in rows),
    )  # fmt: skip


def finished_files(runs: list[RunStatus]) -> list[Path]:
    """The files that record the finished runs (logs, configs, provenance, diagnostics): what to commit of
    them. Checkpoints, W&B folders and temporaries are not records."""
    files = []
    for r in runs:
        if r.state == FINISHED:
            files += sorted(f for f in r.run_dir.iterdir() if f.is_file() and f.suffix in (".csv", ".yaml"))
    return files


def interrupted_outputs(runs: list[RunStatus]) -> list[Path]:
    """The ``metrics.csv`` of every run in progress, present or not: what a relaunch with nothing training
    passes to Snakemake's ``--forcerun`` and ``--prioritize``. Snakemake knows an interrupted job only from its
    own metadata, which a fresh checkout lacks: it would take a run whose log is there for finished. Forced,
    the job resumes from its checkpoint (or, without one, starts over). A run whose log Snakemake deleted
    when its job was killed reruns anyway, but without `--prioritize` two new runs started before it."""
    return [r.run_dir / "metrics.csv" for r in runs if r.state == IN_PROGRESS]


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
            f". About {sum(known):.1f} h of training remain"
            + (f", plus {unknown} run(s) of groups that have not started" if unknown else "")
            + ": what the rest of the way took finished runs of the same group (for an ablation, else of its"
            " default), at each run's recent pace relative to theirs over the same env steps (a slower machine"
            " shows), else each run's own pace so far, growing as it has (MBPO's model fits grow with its"
            " buffer). Runs not started yet go by the machines that ran the finished ones."
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
