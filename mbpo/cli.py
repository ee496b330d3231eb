"""The ``mbpo`` command: ``mbpo train`` runs one training run; analysis commands aggregate many.

The Snakefile calls exactly these commands, so a run behaves the same in pytest, on a laptop and on a
SLURM node.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mbpo.analysis.cli import register as register_analysis
from mbpo.config import ALGOS, ConfigError, load_yaml, parse_set, resolve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mbpo", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train one run (MBPO or the SAC baseline)")
    train.add_argument(
        "--env", required=True, help="hopper, walker2d, halfcheetah, ant, invertedpendulum (or a gym id)"
    )
    train.add_argument("--algo", required=True, help=f"one of {', '.join(ALGOS)}")
    train.add_argument("--variant", help="named variant of the algorithm (default: default)")
    train.add_argument("--seed", type=int, help="seed for torch, numpy and the envs (default: 0)")
    train.add_argument("--steps", type=int, help="total env steps (default: the env's paper budget)")
    train.add_argument("--out", required=True, type=Path, help="run directory for config.yaml and metrics.csv")
    train.add_argument("--config", type=Path, help="YAML file of config keys (nested sections as mappings)")
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, e.g. --set rollout_batch_size=10000 --set sac.lr=1e-3 (repeatable)",
    )
    train.add_argument("--device", help="auto (default), cpu or cuda")
    train.add_argument("--threads", type=int, help="torch CPU threads (default: 1, which never oversubscribes)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(handler=run_train)

    register_analysis(commands)
    return parser


def run_train(args: argparse.Namespace) -> None:
    flags = {k: getattr(args, k) for k in ("env", "algo", "variant", "seed", "steps", "device")}
    cfg = resolve(
        load_yaml(args.config) if args.config else {},
        {k: v for k, v in flags.items() if v is not None},
        parse_set(args.overrides),
    )
    from mbpo.runtime import configure_threads

    configure_threads(args.threads)
    if cfg.algo == "sac":
        from baselines.sac import train_sac

        train_sac(cfg, args.out, quiet=args.quiet)
    else:
        from mbpo.train import train_mbpo

        train_mbpo(cfg, args.out, quiet=args.quiet)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except ConfigError as err:
        sys.exit(f"mbpo {args.command}: config error: {err}")


if __name__ == "__main__":
    main()
