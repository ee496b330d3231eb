"""The ``mbpo`` command: ``mbpo train`` runs one training run; analysis commands aggregate many.

The Snakefile calls exactly these commands, so a run behaves the same in pytest, on a laptop and on a
SLURM node.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mbpo.analysis.cli import register as register_analysis
from mbpo.envs import env_spec
from mbpo.errors import ConfigError, UserError
from mbpo.presets import ALGOS

if TYPE_CHECKING:  # the training stack (torch, MuJoCo) is imported by `mbpo train` only, not by analysis commands
    from mbpo.config import Config


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


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
    train.add_argument(
        "--threads", type=positive_int, help="torch CPU threads (default: 1, which never oversubscribes)"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument(
        "--restart",
        action="store_true",
        help="discard the run directory's checkpoint and train from scratch (default: resume from it)",
    )
    train.set_defaults(handler=run_train)

    variants = commands.add_parser("variants", help="the named variants of each algorithm, one line each")
    variants.set_defaults(handler=run_variants)

    register_analysis(commands)
    return parser


def variant_lines() -> list[str]:
    """The registry as a markdown table: algo, name, the config keys it sets, what it changes and why.

    The README's table of variants is this output, so the two cannot drift apart (tests/test_cli.py).
    """
    from mbpo.variants import VARIANTS

    def sets(variant) -> str:
        layer = variant.overrides_for("hopper")
        per_env = " (per env)" if callable(variant.overrides) else ""
        flat = _flatten(layer)
        return ", ".join(f"`{k}={v}`" if not per_env else f"`{k}`{per_env}" for k, v in flat.items()) or "(nothing)"

    lines = ["| algo | variant | sets | what it changes, and why |", "|---|---|---|---|"]
    for algo in ALGOS[::-1]:  # mbpo first
        for v in VARIANTS:
            if algo in v.algos:
                doc = v.doc.replace("|", r"\|")  # a pipe inside a cell would end it
                lines.append(f"| {algo} | `{v.name}` | {sets(v)} | {doc} |")
    return lines


def _flatten(layer: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in layer.items():
        out |= _flatten(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value}
    return out


def run_variants(args: argparse.Namespace) -> None:
    print("\n".join(variant_lines()))


def _same_env(a: Any, b: Any) -> bool:
    try:
        return env_spec(str(a)).short_name == env_spec(str(b)).short_name
    except ValueError:
        return a == b


def check_config_file_agrees(path: Path, data: dict[str, Any], flags: dict[str, Any]) -> None:
    """A config file resolved under another env, algo or variant than the flags name would mix two
    presets (e.g. Hopper's rollout schedule in a Walker2d run): refuse it."""
    for key in ("env", "algo", "variant"):
        if key in data and flags.get(key) is not None:
            same = _same_env(data[key], flags[key]) if key == "env" else data[key] == flags[key]
            if not same:
                raise ConfigError(
                    f"{path}: {key} is {data[key]!r} but --{key} is {flags[key]!r}; the file's other values were "
                    f"resolved for its own {key}: use a config file of the run you want, or drop that key from it"
                )


def run_train(args: argparse.Namespace) -> None:
    """Check everything first (config, run directory, checkpoint), then train, resume or do nothing."""
    from mbpo.config import load_yaml, parse_set, resolve
    from mbpo.rundir import discard_checkpoint, hold, plan_run, remove_temporaries, restore_outputs
    from mbpo.runtime import configure_threads, resolve_device

    flags = {k: getattr(args, k) for k in ("env", "algo", "variant", "seed", "steps", "device")}
    flags = {k: v for k, v in flags.items() if v is not None}
    config_file = load_yaml(args.config) if args.config else {}
    cfg = resolve(config_file, flags, parse_set(args.overrides))
    if args.config:
        check_config_file_agrees(args.config, config_file, flags)
    try:
        device = resolve_device(cfg.device)
    except RuntimeError as err:
        raise ConfigError(f"device {cfg.device!r}: {err}") from None
    cfg = cfg.on_device(device.type)
    with hold(args.out):
        plan = plan_run(cfg, args.out, device.type, restart=args.restart)
        if plan.finished:
            if plan.checkpoint is not None and restore_outputs(args.out, plan.checkpoint):
                print(f"{args.out}: rewrote metrics.csv and config.yaml from the final checkpoint", file=sys.stderr)
            print(
                f"{args.out}: this run already finished ({cfg.steps} env steps); nothing to do (--restart: train again)"
            )
            return
        if args.restart:
            discard_checkpoint(args.out)
        remove_temporaries(args.out)
        configure_threads(args.threads)
        train(cfg, args.out, quiet=args.quiet, resume=plan.checkpoint)


def train(cfg: Config, out_dir: Path, quiet: bool = False, resume: dict[str, Any] | None = None) -> None:
    if cfg.algo == "sac":
        from baselines.sac import train_sac

        train_sac(cfg, out_dir, quiet=quiet, resume=resume)
    else:
        from mbpo.train import train_mbpo

        train_mbpo(cfg, out_dir, quiet=quiet, resume=resume)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except ConfigError as err:
        sys.exit(f"mbpo {args.command}: config error: {err}")
    except UserError as err:
        sys.exit(f"mbpo {args.command}: {err}")
    except OSError as err:  # e.g. an --out that cannot be created or written
        where = f"{err.filename}: " if err.filename else ""
        sys.exit(f"mbpo {args.command}: {where}{err.strerror or err}")


if __name__ == "__main__":
    main()
