"""The analysis subcommands of ``mbpo``, one per workflow rule.

    mbpo aggregate  run dirs            -> results/curves.csv, results/summary.csv
    mbpo stats      summary + curves    -> results/stats.csv
    mbpo table      summary/stats/curves -> reports/table.md
    mbpo figures    curves/summary/stats -> reports/figures/*.png

``register(subparsers)`` adds them to the ``mbpo`` parser; each sets ``handler``. Heavy imports
(scipy, matplotlib) happen inside the handlers, so ``mbpo train`` does not pay for them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format="%.6g", lineterminator="\n")


def run_aggregate(args: argparse.Namespace) -> None:
    from mbpo.analysis.runs import RunError, aggregate

    try:
        curves, summary = aggregate(args.metrics, args.final_window)
    except RunError as err:
        sys.exit(f"mbpo aggregate: {err}")
    _write_csv(curves, args.curves)
    _write_csv(summary, args.summary)
    print(f"{len(summary)} runs, {len(curves)} evaluations -> {args.curves}, {args.summary}")


def run_stats(args: argparse.Namespace) -> None:
    import numpy as np

    from mbpo.analysis.stats import compare

    summary, curves = pd.read_csv(args.summary), pd.read_csv(args.curves)
    stats = compare(
        summary,
        curves,
        np.random.default_rng(args.seed),
        n_resamples=args.resamples,
        confidence=args.confidence,
    )
    _write_csv(stats, args.out)
    print(f"{len(stats)} rows -> {args.out}")


def run_table(args: argparse.Namespace) -> None:
    from mbpo.analysis.table import render_table

    text = render_table(
        pd.read_csv(args.summary),
        pd.read_csv(args.stats),
        pd.read_csv(args.curves),
        envs=args.envs,
        config_files=args.config_files,
        name=args.name,
        final_window=args.final_window,
        confidence=args.confidence,
        stats_path=args.stats.as_posix(),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"-> {args.out}")


def run_figures(args: argparse.Namespace) -> None:
    from mbpo.analysis.figures import write_figures

    paths = write_figures(
        pd.read_csv(args.curves),
        pd.read_csv(args.summary),
        pd.read_csv(args.stats),
        args.out_dir,
        envs=args.envs,
        confidence=args.confidence,
        seed=args.seed,
    )
    print("\n".join(f"-> {p}" for p in paths))


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``aggregate``, ``stats``, ``table`` and ``figures`` to the ``mbpo`` command."""
    p = subparsers.add_parser("aggregate", help="run logs -> curves.csv and summary.csv (fails on any bad run)")
    p.add_argument("metrics", nargs="+", type=Path, help="every expected run's metrics.csv")
    p.add_argument("--final-window", type=int, required=True, help="final return = mean of the last N evals")
    p.add_argument("--curves", type=Path, required=True, help="output: tidy learning curves")
    p.add_argument("--summary", type=Path, required=True, help="output: one row per run")
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
    p.add_argument("--out", type=Path, required=True)
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
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--envs", nargs="+", required=True, help="one curves_{env}.png each, in this order")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--seed", type=int, default=0, help="seed of seaborn's bootstrap bands")
    p.set_defaults(handler=run_figures)
