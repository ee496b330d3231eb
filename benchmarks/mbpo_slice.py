"""A slice of a real Hopper MBPO run at the paper preset, timed by the training loop's own clocks.

One ``mbpo train`` process (of this checkout or of another tree, via ``PYTHONPATH``) takes ``size``
uniformly random env steps (the warm-up: real Hopper transitions from a random policy fill the buffer),
then ``steps`` MBPO env steps: at the first, one model fit (``fit_epochs`` epochs from scratch) and one
round of 100k branched rollouts of length k, then G = 20 SAC updates per env step, and one evaluation at
the end. ``metrics.csv`` then holds the slice alone in its last row: ``time/*_s`` per phase and the wall
time since the warm-up's row; ``overhead`` is what no phase clock covers (the loop itself, logging).
"""

from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.peers import worker_env
from mbpo.schedule import rollout_length

HOPPER_SCHEDULE = (20, 150, 1, 15)  # the paper preset's [e0, e1, k0, k1]
WARMUP = 5000  # the paper's random warm-up; epochs count from its end
PHASES = ("policy", "model", "rollout", "env", "eval")
TIMING_COLUMNS = {"wall_time_s", "model/seconds"}


def paper_k(size: int) -> int:
    """The rollout length the Hopper preset uses when the env buffer holds ``size`` transitions."""
    return rollout_length(HOPPER_SCHEDULE, epoch=max(0, size - WARMUP) // 1000)


@dataclass(frozen=True)
class Slice:
    size: int  # real transitions in the buffer
    steps: int  # MBPO env steps timed
    k: int  # rollout length
    epochs: int  # model fit epochs run
    updates: int  # SAC updates run
    seconds: dict[str, float]  # per phase, plus "wall" (the whole slice)
    metrics: list[dict[str, str]]  # every non-timing column of every row (to compare two trees exactly)

    @property
    def overhead(self) -> float:
        return self.seconds["wall"] - sum(self.seconds[p] for p in PHASES)


def run_slice(
    tree: Path,
    size: int,
    steps: int,
    fit_epochs: int,
    device: str = "cpu",
    threads: int = 1,
    python: str = sys.executable,
    overrides: tuple[str, ...] = (),
) -> Slice:
    """Run one slice with the ``mbpo`` package found in ``tree`` (``overrides``: extra ``KEY=VALUE`` config
    settings); raises with the run's stderr if it fails."""
    k = paper_k(size)
    with tempfile.TemporaryDirectory(prefix="mbpo-slice-") as out:
        command = [
            python, "-m", "mbpo.cli", "train", "--env", "hopper", "--algo", "mbpo", "--seed", "0",
            "--steps", str(size + steps), "--out", out, "--device", device, "--threads", str(threads), "--quiet",
            "--set", f"init_exploration_steps={size}", "--set", f"eval_every={size}",
            "--set", f"model.max_epochs={fit_epochs}", "--set", f"rollout_schedule=[0, 1, {k}, {k}]",
        ]  # fmt: skip
        command += [arg for kv in overrides for arg in ("--set", kv)]
        env = worker_env(tree)
        done = subprocess.run(command, env=env, cwd=tree, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"slice at {size} in {tree} failed:\n{done.stderr[-3000:]}")
        with open(Path(out) / "metrics.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    warmup, last = rows[-2], rows[-1]
    seconds = {p: float(last.get(f"time/{p}_s") or 0.0) for p in PHASES}
    seconds["wall"] = float(last["wall_time_s"]) - float(warmup["wall_time_s"])
    return Slice(
        size=size,
        steps=steps,
        k=k,
        epochs=int(float(last["model/epochs"])),
        updates=int(float(last["train/updates"])),
        seconds=seconds,
        metrics=[
            {c: v for c, v in row.items() if c not in TIMING_COLUMNS and not c.startswith("time/")} for row in rows
        ],
    )
