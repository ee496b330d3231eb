"""The run log: ``config.yaml`` + ``metrics.csv`` in the run directory, mirrored to Weights & Biases.

The CSV is the source of truth (append-only, flushed at every evaluation, header always present); W&B is
a mirror that may be offline (the default: synced later with ``wandb sync``), online or disabled, and
never required: if it cannot start, the run goes on and says so.
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import yaml

from mbpo.config import Config
from mbpo.provenance import mark_finished, write_provenance

BASE_COLUMNS = ("env_step", "eval_return_mean", "eval_return_std", "eval_episodes", "wall_time_s")
SAC_COLUMNS = (
    "train/episode_return",
    "train/q_loss",
    "train/actor_loss",
    "train/alpha_loss",
    "train/alpha",
    "train/entropy",
    "train/q_mean",
    "train/updates",
    "time/env_s",
    "time/policy_s",
    "time/eval_s",
)


def run_name(cfg: Config) -> str:
    return f"{cfg.env}-{cfg.algo}-{cfg.variant}-s{cfg.seed}"


class RunLog:
    """Writes one run's files. ``columns`` is fixed up front so every row has the same header."""

    def __init__(self, out_dir: str | Path, cfg: Config, columns: tuple[str, ...]) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.columns = BASE_COLUMNS + tuple(c for c in columns if c not in BASE_COLUMNS)
        (self.out_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        self.provenance = write_provenance(self.out_dir)
        self._file = open(self.out_dir / "metrics.csv", "w", newline="")  # noqa: SIM115 (lives with the run)
        self._writer = csv.DictWriter(self._file, fieldnames=self.columns)
        self._writer.writeheader()
        self._file.flush()
        self._wandb = _start_wandb(self.out_dir, cfg, self.provenance)

    def log(self, row: Mapping[str, Any]) -> None:
        unknown = set(row) - set(self.columns)
        if unknown:
            raise KeyError(f"metrics {sorted(unknown)} are not columns of this run's metrics.csv")
        self._writer.writerow(row)  # floats at full precision (shortest repr that round-trips)
        self._file.flush()
        if self._wandb is not None:
            self._wandb.log({k: v for k, v in row.items() if v is not None})  # env_step is the x-axis

    def close(self) -> None:
        self._file.close()
        mark_finished(self.out_dir)
        if self._wandb is not None:
            self._wandb.finish()

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _start_wandb(out_dir: Path, cfg: Config, provenance: Mapping[str, Any]):
    """Open the W&B mirror; ``WANDB_MODE`` in the environment wins over the config (tests set disabled)."""
    mode = os.environ.get("WANDB_MODE", cfg.wandb_mode)
    if mode == "disabled":
        return None
    try:
        import wandb

        run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", cfg.wandb_project),
            group=f"{cfg.env}/{cfg.algo}/{cfg.variant}",
            name=run_name(cfg),
            config={**cfg.to_dict(), "provenance": dict(provenance)},
            dir=str(out_dir),
            mode=mode,
            reinit="finish_previous",
        )
        run.define_metric("env_step")
        run.define_metric("*", step_metric="env_step")
        return run
    except Exception as err:  # the CSV is the record; a mirror that cannot start must not stop the run
        print(
            f"warning: W&B did not start ({type(err).__name__}: {err}); metrics.csv is still written",
            file=sys.stderr,
        )
        return None


class MetricMeans:
    """Running means of per-update diagnostics, kept as device tensors: one host sync per evaluation."""

    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._count = 0

    def add(self, metrics: Mapping[str, torch.Tensor]) -> None:
        for key, value in metrics.items():
            self._sums[key] = self._sums[key] + value if key in self._sums else value.clone()
        self._count += 1

    def pop(self) -> dict[str, float]:
        """The means since the last call (and the number of updates), then reset."""
        if not self._sums:
            return {}
        keys = list(self._sums)
        values = (torch.stack([self._sums[k] for k in keys]) / self._count).tolist()
        out = dict(zip(keys, values, strict=True)) | {"train/updates": self._count}
        self._sums, self._count = {}, 0
        return out
