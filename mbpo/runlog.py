"""The run log: ``config.yaml`` + ``metrics.csv`` in the run directory, mirrored to Weights & Biases.

The CSV is the source of truth (append-only, flushed at every evaluation, header always present); W&B is
a mirror that may be offline (the default: synced later with ``wandb sync``), online or disabled, and
never required: if it cannot start, the run goes on and says so.

The log keeps every row it wrote, so that a checkpoint carries them: a resumed run rewrites
``metrics.csv`` from its checkpoint (Snakemake deletes the outputs of an interrupted job) and appends from
there, and its W&B mirror continues the same W&B run. For the same reason a running run rewrites both
files from those rows if they are deleted under it: a second Snakemake (``--nolock``) that schedules the
same run is refused by the run directory's lock, and then deletes that failed job's outputs, which are
the files the first process is still writing.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import string
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import yaml

from mbpo.atomic import write_atomic
from mbpo.config import Config
from mbpo.failpoints import fault_point
from mbpo.provenance import mark_finished, mark_resumed, read_provenance, write_provenance

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
    "guard/nonfinite_sac",
    "time/env_s",
    "time/policy_s",
    "time/eval_s",
    "time/checkpoint_s",
)


def run_name(cfg: Config) -> str:
    return f"{cfg.env}-{cfg.algo}-{cfg.variant}-s{cfg.seed}"


def new_wandb_id() -> str:
    """A W&B run id (8 lowercase letters and digits), from the OS so that no training RNG moves."""
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


class RunLog:
    """Writes one run's files. ``columns`` is fixed up front so every row has the same header.

    Nothing is written until `open`: the run directory stays untouched while the run is still being
    checked and set up.
    """

    def __init__(self, out_dir: str | Path, cfg: Config, columns: tuple[str, ...]) -> None:
        self.out_dir = Path(out_dir)
        self.cfg = cfg
        self.columns = BASE_COLUMNS + tuple(c for c in columns if c not in BASE_COLUMNS)
        self.rows: list[dict[str, Any]] = []
        self.wandb_id = new_wandb_id()
        self._file: io.TextIOWrapper | None = None
        self._writer: csv.DictWriter | None = None
        self._wandb = None

    def open(self, rows: list[dict[str, Any]] | None = None, wandb_id: str | None = None) -> None:
        """Write ``config.yaml`` and ``metrics.csv`` (header, then ``rows`` already logged by an earlier
        session of this run), both atomically, and start the W&B mirror (resuming ``wandb_id`` if given)."""
        self.rows = list(rows or [])
        self.wandb_id = wandb_id or self.wandb_id
        self._write_files()
        resuming = wandb_id is not None
        self.provenance = (read_provenance(self.out_dir) if resuming else None) or write_provenance(self.out_dir)
        self._wandb = _start_wandb(self.out_dir, self.cfg, self.provenance, self.wandb_id, resume=resuming)

    def resumed(self, at_env_step: int, warnings: Sequence[str] = ()) -> None:
        """Say where a resumed run picks up (the train log of a Snakemake job shows it) and record it in
        ``provenance.yaml``, with the ``warnings`` of restoring its state: the session that resumed may run
        other code or another machine."""
        self.provenance = mark_resumed(self.out_dir, at_env_step, warnings)
        print(f"resuming {self.out_dir} from its checkpoint at env step {at_env_step}", file=sys.stderr)

    def log(self, row: Mapping[str, Any]) -> None:
        unknown = set(row) - set(self.columns)
        if unknown:
            raise KeyError(f"metrics {sorted(unknown)} are not columns of this run's metrics.csv")
        assert self._writer is not None and self._file is not None, "RunLog.open() first"
        self._writer.writerow(row)
        self._file.flush()
        self.rows.append(dict(row))
        if self._files_deleted():
            print(
                f"{self.out_dir}: metrics.csv or config.yaml was deleted while this run wrote it; rewrote both",
                file=sys.stderr,
            )
            self._write_files()
        fault_point("metrics_row")
        if self._wandb is not None:
            self._wandb.log({k: v for k, v in row.items() if v is not None})  # env_step is the x-axis

    def _write_files(self) -> None:
        """(Re)write ``config.yaml`` and ``metrics.csv`` with every row so far, and append to the new file."""
        if self._file is not None:
            self._file.close()
        write_outputs(self.out_dir, self.cfg.to_dict(), self.columns, self.rows)
        self._file = open(self.out_dir / "metrics.csv", "a", newline="")  # noqa: SIM115 (lives with the run)
        self._writer = csv.DictWriter(self._file, fieldnames=self.columns)

    def _files_deleted(self) -> bool:
        """Whether the ``metrics.csv`` being appended to, or ``config.yaml``, is gone (one stat each, per row)."""
        assert self._file is not None
        return os.fstat(self._file.fileno()).st_nlink == 0 or not (self.out_dir / "config.yaml").exists()

    def close(self) -> None:
        """Close the files; ``metrics.csv`` reaches the disk before the caller deletes the checkpoint."""
        if self._file is not None:
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
            mark_finished(self.out_dir)
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None

    def state_dict(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "rows": [dict(row) for row in self.rows], "wandb_id": self.wandb_id}


def write_outputs(out_dir: Path, config: dict[str, Any], columns: list[str] | tuple[str, ...], rows: list) -> None:
    """Write ``config.yaml`` and ``metrics.csv`` (header and ``rows``), each atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    config_text = yaml.safe_dump(config, sort_keys=False)
    write_atomic(out_dir / "config.yaml", lambda f: f.write(config_text), binary=False)

    def write_metrics(f) -> None:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)  # floats at full precision (shortest repr that round-trips)

    write_atomic(out_dir / "metrics.csv", write_metrics, binary=False)


def _start_wandb(out_dir: Path, cfg: Config, provenance: Mapping[str, Any], run_id: str, resume: bool):
    """Open the W&B mirror; ``WANDB_MODE`` in the environment wins over the config (tests set disabled).

    The run id is the one in the checkpoint, so a resumed run continues the same W&B run (online, or
    offline in a new ``offline-run-*`` folder that ``wandb sync`` appends to the same run).
    """
    mode = os.environ.get("WANDB_MODE", cfg.wandb_mode)
    if mode == "disabled":
        return None
    try:
        import wandb

        run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", cfg.wandb_project),
            group=f"{cfg.env}/{cfg.algo}/{cfg.variant}",
            name=run_name(cfg),
            id=run_id,
            resume="allow",
            config={**cfg.to_dict(), "provenance": dict(provenance)},
            dir=str(out_dir),
            mode=mode,
            reinit="finish_previous",
        )
        run.define_metric("env_step")
        run.define_metric("*", step_metric="env_step")
        if resume:
            print(f"W&B: continuing run {run_id}", file=sys.stderr)
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

    def state_dict(self) -> dict[str, Any]:
        return {"sums": dict(self._sums), "count": self._count}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        self._sums = {k: v.to(device) for k, v in state["sums"].items()}
        self._count = state["count"]
