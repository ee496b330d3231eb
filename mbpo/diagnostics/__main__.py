"""``python -m mbpo.diagnostics report --runs DIR... --out reports/model_error.md --figures-dir reports/figures``."""

from __future__ import annotations

import argparse
from pathlib import Path

from mbpo.diagnostics.report import figure_names, write_report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mbpo.diagnostics", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="model_error.md and its figures from MBPO run directories")
    report.add_argument("--runs", nargs="+", required=True, type=Path, help="run directories (MBPO)")
    report.add_argument("--out", required=True, type=Path, help="the markdown report to write")
    report.add_argument("--figures-dir", required=True, type=Path, help="where the figures go")
    report.add_argument("--envs", nargs="+", required=True, help="envs in report order (one figure each)")
    report.add_argument("--name", default="", help="label of the protocol, printed in the title")
    args = parser.parse_args(argv)
    write_report(args.runs, args.out, args.figures_dir, args.envs, args.name)
    print(f"{args.out} and {', '.join(figure_names(args.envs))} in {args.figures_dir}")


if __name__ == "__main__":
    main()
