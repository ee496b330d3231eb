"""SIGKILL a real ``mbpo train`` process at named and random points, resume it each time, and check that
the run ends exactly as an uninterrupted one: after every kill the checkpoint holds the uninterrupted
run's rows so far, and the finished metrics.csv equals the uninterrupted one apart from wall-clock columns.

One run is killed six times in a row (each resume is itself killed), so resuming a resumed run is covered
too: at a random env step of the warm-up, at a random forward pass inside a model fit, with rollouts
computed but not stored, with a metrics row written but not checkpointed, with the new checkpoint written
to its temporary file but not renamed, and by a SIGKILL from this test at a random moment (the random
points come from a seeded RNG). About 30 s of CPU, most of it 8 Python start-ups: marked ``e2e``.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mbpo.cli import main
from tests.golden import is_timing, read_without_timing

ARGS = [
    "train", "--env", "invertedpendulum", "--algo", "mbpo", "--seed", "3", "--steps", "300", "--device", "cpu",
    "--set", "init_exploration_steps=100", "--set", "eval_every=50", "--set", "eval_episodes=1",
    "--set", "epoch_length=50", "--set", "model_train_freq=50", "--set", "rollout_batch_size=100",
    "--set", "rollout_schedule=[0, 3, 1, 3]", "--set", "num_train_repeat=2",
    "--set", "sac.hidden_sizes=[16, 16]", "--set", "sac.batch_size=32",
    "--set", "model.hidden_size=16", "--set", "model.max_epochs=3", "--set", "checkpoint_every=40",
    "--quiet",
]  # fmt: skip
RESUMED = re.compile(r"from its checkpoint at env step (\d+)")


def command(out: Path) -> list[str]:
    return [sys.executable, "-m", "mbpo.cli", *ARGS, "--threads", "1", "--out", str(out)]


def environment(fault: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MBPO_FAULT"} | {"WANDB_MODE": "disabled"}
    return env | ({"MBPO_FAULT": fault} if fault else {})


def run_with_fault(out: Path, fault: str) -> subprocess.CompletedProcess:
    return subprocess.run(command(out), env=environment(fault), capture_output=True, text=True, timeout=300)


def run_and_kill_at_random(out: Path, rng: random.Random) -> tuple[int, str]:
    """Start a resume, wait until it has loaded its checkpoint, then SIGKILL it after a random delay."""
    proc = subprocess.Popen(command(out), env=environment(None), stderr=subprocess.PIPE, text=True)
    first = proc.stderr.readline()  # "resuming ... at env step N", printed once the state is loaded
    time.sleep(rng.uniform(0.05, 1.5))
    proc.send_signal(signal.SIGKILL)
    rest = proc.communicate(timeout=300)[1]
    return proc.returncode, first + rest


def checkpoint_rows(out: Path) -> list[dict[str, str]]:
    """The checkpoint's rows as metrics.csv shows them (csv writes None as "" and numbers by repr),
    wall-clock columns left out."""
    log = torch.load(out / "checkpoint.pt", weights_only=True)["log"]
    columns = [c for c in log["columns"] if not is_timing(c)]
    return [{c: "" if row.get(c) is None else str(row[c]) for c in columns} for row in log["rows"]]


@pytest.mark.e2e
def test_killed_anywhere_resumes_to_the_uninterrupted_metrics(tmp_path: Path) -> None:
    main([*ARGS, "--out", str(tmp_path / "uninterrupted")])
    expected = read_without_timing(tmp_path / "uninterrupted" / "metrics.csv")

    out = tmp_path / "killed"
    rng = random.Random(8)
    faults = [
        f"env_step@{rng.randint(10, 99)}",  # during the random warm-up
        f"model_fit@{rng.randint(1, 25)}",  # a forward pass of the ensemble inside a fit
        "rollout@1",  # rollouts computed, not yet in the model buffer
        "metrics_row@1",  # a row in metrics.csv that no checkpoint holds yet
        "checkpoint_write@1",  # the new checkpoint in its temporary file, not yet renamed
    ]
    resumed_at = []
    for fault in [*faults, "random"]:
        if fault == "random":
            returncode, stderr = run_and_kill_at_random(out, rng)
        else:
            result = run_with_fault(out, fault)
            returncode, stderr = result.returncode, result.stderr
            assert returncode == -signal.SIGKILL, f"{fault} was never reached: {stderr}"
        resumed_at += [int(m[1]) for m in RESUMED.finditer(stderr)]
        if returncode == -signal.SIGKILL and not (out / "checkpoint.pt").exists():
            # a random kill that came after the run finished (it deletes its checkpoint, then the
            # interpreter takes a moment to exit): the run is complete
            assert fault == "random" and read_without_timing(out / "metrics.csv") == expected, fault
        elif returncode == -signal.SIGKILL:
            saved = checkpoint_rows(out)
            assert saved == expected[: len(saved)], f"after the kill at {fault}, the checkpoint's rows differ"

    finished = subprocess.run(command(out), env=environment(None), capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    resumed_at += [int(m[1]) for m in RESUMED.finditer(finished.stderr)]
    assert len(resumed_at) >= len(faults)  # every resume said where it picked up,
    assert resumed_at == sorted(resumed_at) and resumed_at[-1] > 0  # and none went backwards
    assert read_without_timing(out / "metrics.csv") == expected
    assert not (out / "checkpoint.pt").exists()  # a finished run deletes its checkpoint by default
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "metrics.csv", "provenance.yaml"]  # no temporaries
