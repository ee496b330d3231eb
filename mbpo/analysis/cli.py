"""The analysis subcommands of ``mbpo``, one per workflow rule.

    mbpo aggregate  run dirs                   -> results/curves.csv, summary.csv, runs.csv
    mbpo stats      summary + curves           -> results/stats.csv
    mbpo table      summary/stats/curves/runs  -> reports/table.md (+ table.html for the HTML report)
    mbpo figures    curves/summary/stats/runs  -> reports/figures/*.png
    mbpo run-pages  run dirs                   -> reports/runs/{env}/{algo}/{variant}/seed{seed}.html
    mbpo ablations  MBPO run dirs              -> reports/ablations.md, its figures and CSVs
    mbpo status     run dirs (finished or not) -> STATUS.md: each run's env step and hours so far

``register(subparsers)`` adds them to the ``mbpo`` parser; each sets ``handler``. Heavy imports
(scipy, matplotlib) happen inside the handlers, so ``mbpo train`` does not pay for them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mbpo.atomic import write_atomic

if TYPE_CHECKING:  # pandas costs ~1 s to import: `mbpo train`, which registers these commands, never needs it
    import pandas as pd


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Floats at full precision (the shortest text that reads back to the same float64); written atomically,
    so a killed command never leaves a CSV cut mid-row for the next rule to read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda f: frame.to_csv(f, index=False, lineterminator="\n"), binary=False)


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda f: f.write(text), binary=False)


def read_csv(path: Path) -> pd.DataFrame:
    """A CSV this package wrote; text columns read as text, their empty cells as "" (never NaN)."""
    import pandas as pd

    frame = pd.read_csv(path, dtype={col: str for col in TEXT_COLUMNS})
    for col in TEXT_COLUMNS & set(frame.columns):
        frame[col] = frame[col].fillna("")
    return frame


# Columns of stats.csv and runs.csv that hold text even where every cell is empty (or all digits: a commit).
TEXT_COLUMNS = {"comparison", "test", "note", "machine", "gpu", "hostname", "commit", "dirty", "started"}
TEXT_COLUMNS |= {"finished", "command", "env_dynamics", "gym_id"}


def run_aggregate(args: argparse.Namespace) -> None:
    from mbpo.analysis.runinfo import run_table
    from mbpo.analysis.runs import RunError, aggregate

    try:
        curves, summary = aggregate(args.metrics, args.final_window)
        runs = run_table(args.metrics) if args.runs else None
    except RunError as err:
        sys.exit(f"mbpo aggregate: {err}")
    write_csv(curves, args.curves)
    write_csv(summary, args.summary)
    if runs is not None:
        write_csv(runs, args.runs)
    print(f"{len(summary)} runs, {len(curves)} evaluations -> {args.curves}, {args.summary}, {args.runs}")


def run_stats(args: argparse.Namespace) -> None:
    import numpy as np

    from mbpo.analysis.stats import compare

    summary, curves = read_csv(args.summary), read_csv(args.curves)
    stats = compare(
        summary,
        curves,
        np.random.default_rng(args.seed),
        n_resamples=args.resamples,
        confidence=args.confidence,
    )
    write_csv(stats, args.out)
    print(f"{len(stats)} rows -> {args.out}")


def run_table(args: argparse.Namespace) -> None:
    from mbpo.analysis.html import markdown_page
    from mbpo.analysis.table import render_table

    text = render_table(
        read_csv(args.summary),
        read_csv(args.stats),
        read_csv(args.curves),
        read_csv(args.runs) if args.runs else None,
        envs=args.envs,
        config_files=args.config_files,
        name=args.name,
        final_window=args.final_window,
        confidence=args.confidence,
        stats_path=args.stats.as_posix(),
    )
    write_text(args.out, text)
    if args.html:
        write_text(args.html, markdown_page(text, title=f"MBPO vs SAC ({args.name})"))
    print(f"-> {args.out}" + (f", {args.html}" if args.html else ""))


def run_figures(args: argparse.Namespace) -> None:
    from mbpo.analysis.figures import write_figures

    paths = write_figures(
        read_csv(args.curves),
        read_csv(args.summary),
        read_csv(args.stats),
        read_csv(args.runs) if args.runs else None,
        args.out_dir,
        envs=args.envs,
        confidence=args.confidence,
    )
    print("\n".join(f"-> {p}" for p in paths))


def run_pages(args: argparse.Namespace) -> None:
    from mbpo.analysis.html import write_run_pages
    from mbpo.analysis.runs import RunError

    try:
        paths = write_run_pages(args.run_dirs, args.out_dir)
    except RunError as err:
        sys.exit(f"mbpo run-pages: {err}")
    print(f"{len(paths)} run pages -> {args.out_dir}")


def run_ablations(args: argparse.Namespace) -> None:
    import numpy as np

    from mbpo.analysis.ablation_figures import FIGURES, write_ablation_figures
    from mbpo.analysis.ablations import ablation_stats, env_ablations, read_run_facts, render_ablations
    from mbpo.analysis.runs import RunError, aggregate

    try:
        curves, summary = aggregate([d / "metrics.csv" for d in args.run_dirs], args.final_window)
    except RunError as err:
        sys.exit(f"mbpo ablations: {err}")
    facts = [read_run_facts(d) for d in args.run_dirs]
    envs = [env_ablations(env, facts) for env in args.envs]
    stats = ablation_stats(
        summary,
        curves,
        {e.env: e.variants for e in envs},
        {(e.env, v) for e in envs for v in e.identical},
        np.random.default_rng(args.seed),
        n_resamples=args.resamples,
        confidence=args.confidence,
    )
    for frame, path in ((curves, args.curves), (summary, args.summary), (stats, args.stats)):
        write_csv(frame, path)
    paths = write_ablation_figures(stats, envs, args.figures_dir, args.confidence)
    relative = {FIGURES[p.name]: Path(os.path.relpath(p, args.out.parent)).as_posix() for p in paths}
    text = render_ablations(
        envs,
        stats,
        summary,
        name=args.name,
        config_files=args.config_files,
        confidence=args.confidence,
        final_window=args.final_window,
        stats_path=args.stats.as_posix(),
        figures=relative,
    )
    write_text(args.out, text)
    print("\n".join(f"-> {p}" for p in [args.out, args.stats, args.summary, args.curves, *paths]))


def run_status_page(args: argparse.Namespace) -> None:
    from datetime import datetime

    from mbpo.analysis.status import finished_files, interrupted_outputs, render_status, run_status

    budgets = args.budgets or [None] * len(args.run_dirs)
    if len(budgets) != len(args.run_dirs):
        sys.exit(f"mbpo status: {len(budgets)} --budgets for {len(args.run_dirs)} run directories")
    runs = [run_status(d, b) for d, b in zip(args.run_dirs, budgets, strict=True)]
    now = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    text = render_status(runs, args.title, now, root=args.root)
    write_text(args.out, text)
    if args.finished_files:
        write_text(args.finished_files, "".join(f"{path}\n" for path in finished_files(runs)))
    if args.interrupted:
        write_text(args.interrupted, "".join(f"{path}\n" for path in interrupted_outputs(runs)))
    print(text, end="")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the analysis subcommands (see the module docstring) to the ``mbpo`` command."""
    p = subparsers.add_parser("aggregate", help="run logs -> curves.csv and summary.csv (fails on any bad run)")
    p.add_argument("metrics", nargs="+", type=Path, help="every expected run's metrics.csv")
    p.add_argument("--final-window", type=int, required=True, help="final return = mean of the last N evals")
    p.add_argument("--curves", type=Path, required=True, help="output: tidy learning curves")
    p.add_argument("--summary", type=Path, required=True, help="output: one row per run")
    p.add_argument("--runs", type=Path, help="output: one row per run: wall-clock, its split, machine, commit")
    p.set_defaults(handler=run_aggregate)

    p = subparsers.add_parser("stats", help="summary + curves -> stats.csv (IQM, CIs, tests)")
    p.add_argument("--summary", type=Path, required=True)
    p.add_argument("--curves", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples per interval")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap's numpy Generator")
    p.set_defaults(handler=run_stats)

    p = subparsers.add_parser("table", help="summary, stats, curves -> table.md with reference curves")
    p.add_argument("--summary", type=Path, required=True)
    p.add_argument("--stats", type=Path, required=True)
    p.add_argument("--curves", type=Path, required=True)
    p.add_argument("--runs", type=Path, help="runs.csv: header facts from the runs' configs, compute table")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--html", type=Path, help="also write the table as a standalone HTML page")
    p.add_argument("--envs", nargs="+", required=True, help="one row per env, in this order")
    p.add_argument("--name", default="paper", help="protocol name for the header")
    p.add_argument("--config-files", nargs="+", default=["config/config.yaml"], help="for the header")
    p.add_argument("--final-window", type=int, required=True, help="as given to aggregate, for the header")
    p.add_argument("--confidence", type=float, default=0.95, help="as given to stats, for the header")
    p.set_defaults(handler=run_table)

    p = subparsers.add_parser("figures", help="curves, summary, stats -> learning-curve and interval PNGs")
    p.add_argument("--curves", type=Path, required=True)
    p.add_argument("--summary", type=Path, required=True)
    p.add_argument("--stats", type=Path, required=True)
    p.add_argument("--runs", type=Path, help="runs.csv, for the compute figure")
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--envs", nargs="+", required=True, help="one curves_{env}.png each, in this order")
    p.add_argument("--confidence", type=float, default=0.95, help="as given to stats, for the titles")
    p.set_defaults(handler=run_figures)

    p = subparsers.add_parser("run-pages", help="run dirs -> one HTML page per run (its provenance)")
    p.add_argument("--out-dir", type=Path, required=True, help="pages go to {env}/{algo}/{variant}/seed{seed}.html")
    p.add_argument("run_dirs", nargs="+", type=Path, help="every run's directory (config.yaml, provenance.yaml)")
    p.set_defaults(handler=run_pages)

    p = subparsers.add_parser("ablations", help="MBPO default + ablation runs -> ablations.md, figures, stats")
    p.add_argument("run_dirs", nargs="+", type=Path, help="every expected MBPO run's directory, default included")
    p.add_argument("--envs", nargs="+", required=True, help="one section per env, in this order")
    p.add_argument("--final-window", type=int, required=True, help="final return = mean of the last N evals")
    p.add_argument("--out", type=Path, required=True, help="output: the report (markdown)")
    p.add_argument("--stats", type=Path, required=True, help="output: every estimate the report cites")
    p.add_argument("--summary", type=Path, required=True, help="output: one row per run")
    p.add_argument("--curves", type=Path, required=True, help="output: tidy learning curves")
    p.add_argument("--figures-dir", type=Path, required=True, help="output: ablations_*.png go here")
    p.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples per interval")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap's numpy Generator")
    p.add_argument("--name", default="paper", help="protocol name for the header")
    p.add_argument("--config-files", nargs="+", default=["config/config.yaml"], help="for the header")
    p.set_defaults(handler=run_ablations)

    p = subparsers.add_parser("status", help="run dirs -> STATUS.md: env step and hours of each run, finished or not")
    p.add_argument("run_dirs", nargs="+", type=Path, help="every planned run's directory (it may not exist yet)")
    p.add_argument("--out", type=Path, required=True, help="output: the status page (markdown), also printed")
    p.add_argument("--title", default="Run status", help="the page's heading")
    p.add_argument("--root", type=Path, help="show run directories relative to this one")
    p.add_argument("--budgets", nargs="+", type=int, help="each run's planned env steps, in order (until it starts)")
    p.add_argument("--finished-files", type=Path, help="output: the record files of the finished runs, one per line")
    p.add_argument(
        "--interrupted", type=Path, help="output: metrics.csv of the runs in progress, for --forcerun on relaunch"
    )
    p.set_defaults(handler=run_status_page)
