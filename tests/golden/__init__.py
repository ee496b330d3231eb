"""The fixed-seed golden runs: short real runs whose ``metrics.csv`` must stay bit-identical on CPU.

The same code gives different last bits on different CPUs (torch picks AVX-512 or AVX2 kernels, and the
vendor decides more), so the files live in one folder per machine class, ``tests/golden/<class>/``. A
change that is meant to alter training numbers regenerates them and says so (and why) in its commit; a
machine class without files gets them from the last landed commit's code, run on such a machine:

    python -m tests.golden          # write tests/golden/<this machine's class>/*.csv from the current code
"""

from __future__ import annotations

import contextlib
import csv
import os
import platform
import tempfile
from pathlib import Path

import torch

from mbpo.cli import main

HERE = Path(__file__).resolve().parent

# Short InvertedPendulum runs that touch every code path of each loop: warm-up, model fits, rollouts with a
# growing k, mixed batches, SAC updates, evaluation. Seconds on one CPU thread.
GOLDEN_RUNS: dict[str, list[str]] = {
    "mbpo": [
        "--env", "invertedpendulum", "--algo", "mbpo", "--seed", "7", "--steps", "600",
        "--set", "init_exploration_steps=200", "--set", "eval_every=100", "--set", "eval_episodes=2",
        "--set", "epoch_length=100", "--set", "model_train_freq=50", "--set", "rollout_batch_size=300",
        "--set", "rollout_schedule=[0, 3, 1, 4]", "--set", "num_train_repeat=3",
        "--set", "sac.hidden_sizes=[32, 32]", "--set", "sac.batch_size=64",
        "--set", "model.hidden_size=32", "--set", "model.max_epochs=8",
    ],
    "sac": [
        "--env", "invertedpendulum", "--algo", "sac", "--seed", "7", "--steps", "800",
        "--set", "init_exploration_steps=200", "--set", "eval_every=200", "--set", "eval_episodes=2",
        "--set", "sac.hidden_sizes=[32, 32]", "--set", "sac.batch_size=64",
    ],
}  # fmt: skip

# Columns that measure wall-clock time: the only ones allowed to differ between identical runs.
TIMING_COLUMNS = {"wall_time_s", "model/seconds"}


def is_timing(column: str) -> bool:
    return column in TIMING_COLUMNS or column.startswith("time/")


def machine_class() -> str:
    """``<cpu vendor>-<torch's CPU capability>``, e.g. ``genuineintel-avx512`` or ``authenticamd-avx2``."""
    vendor = platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        vendor = next((line.split(":")[1] for line in cpuinfo if line.startswith("vendor_id")), vendor)
    return f"{vendor.strip()}-{torch.backends.cpu.get_cpu_capability()}".lower()


def golden_path(name: str) -> Path:
    return HERE / machine_class() / f"{name}_metrics.csv"


def run_golden(name: str, out_dir: Path) -> Path:
    """Run golden config ``name`` on one CPU thread into ``out_dir``; returns its ``metrics.csv``."""
    torch.set_num_threads(1)
    main(["train", *GOLDEN_RUNS[name], "--device", "cpu", "--out", str(out_dir), "--quiet"])
    return out_dir / "metrics.csv"


def read_without_timing(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if not is_timing(k)} for row in csv.DictReader(f)]


def regenerate() -> None:
    os.environ["WANDB_MODE"] = "disabled"
    for name in GOLDEN_RUNS:
        with tempfile.TemporaryDirectory() as tmp:
            rows = read_without_timing(run_golden(name, Path(tmp)))
        golden_path(name).parent.mkdir(exist_ok=True)
        with open(golden_path(name), "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {golden_path(name)} ({len(rows)} rows)")
