"""A Snakemake train job killed mid-run resumes from its checkpoint when the workflow is run again, and the
workflow's results are byte for byte those of a workflow that was never interrupted, wall-clock aside."""

from __future__ import annotations

import copy
import io
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mbpo.checkpoint import load_checkpoint
from mbpo.rundir import restore_outputs
from tests.test_workflow import TINY_WORKFLOW, copy_workflow, snakemake

TARGET = "reports/table.md"  # the figures would add minutes of plotting and nothing to check
RESULTS = ["results/curves.csv", "results/summary.csv", "results/stats.csv", TARGET]


def without_wall_clock(path: Path) -> str:
    """The file's content less what measures time: the curves' ``wall_time_s``, the ``wall_clock_hours``
    rows of stats.csv, the table's compute section."""
    text = path.read_text()
    if path.name == "table.md":
        return re.sub(r"## Compute\n.*?(?=\n## )", "", text, flags=re.S)
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    if "metric" in frame:
        frame = frame[frame["metric"] != "wall_clock_hours"]
    return frame.drop(columns=["wall_time_s"], errors="ignore").to_csv(index=False)


def tiny_workflow(tmp: Path) -> Path:
    """The tiny workflow (4 runs of 300 steps), every run checkpointing every 100 env steps."""
    copy_workflow(tmp)
    config = copy.deepcopy(TINY_WORKFLOW)
    config["overrides"]["all"]["checkpoint_every"] = 100
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(config))
    return tmp


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    workflow = tiny_workflow(tmp_path_factory.mktemp("workflows") / "uninterrupted")
    done = snakemake(workflow, TARGET, configfile="tiny.yaml", dry_run=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return workflow


@pytest.fixture(scope="module")
def killed_at_250(tmp_path_factory) -> Path:
    """The tiny workflow with every train job SIGKILLed at env step 250 (of 300): each run left a checkpoint
    at env step 200 and no metrics.csv (Snakemake removed the failed jobs' outputs). Tests resume copies."""
    workflow = tiny_workflow(tmp_path_factory.mktemp("workflows") / "killed")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MBPO_FAULT", "env_step@250")  # every train job SIGKILLs itself at env step 250
        failed = snakemake(workflow, TARGET, configfile="tiny.yaml", dry_run=False)
    assert failed.returncode != 0
    return workflow


def copy_of(workflow: Path, to: Path) -> Path:
    """A copy to resume, .snakemake/ (Snakemake's record of the failed jobs) included."""
    return Path(shutil.copytree(workflow, to, symlinks=True))


@pytest.mark.e2e  # real workflows: with the two fixtures, about 2.5 min of CPU for this module on a slow VM
def test_a_killed_train_job_resumes_and_the_table_is_unchanged(tmp_path: Path, uninterrupted, killed_at_250) -> None:
    killed = copy_of(killed_at_250, tmp_path / "killed")
    checkpoints = sorted(killed.glob("results/runs/*/*/*/seed*/checkpoint.pt"))
    assert checkpoints, "the killed jobs left no checkpoint"
    assert not any((path.parent / "metrics.csv").exists() for path in checkpoints)  # Snakemake removed them

    rerun = snakemake(killed, TARGET, configfile="tiny.yaml", dry_run=False)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    resumed = []
    for checkpoint in checkpoints:
        env, algo, variant, seed = checkpoint.parent.relative_to(killed / "results/runs").parts
        log = (killed / f"results/logs/train/{env}/{algo}/{variant}/{seed}.log").read_text()
        resumed += re.findall(r"from its checkpoint at env step (\d+)", log)
    assert resumed == ["200"] * len(checkpoints)
    assert not list(killed.glob("results/runs/*/*/*/seed*/checkpoint.pt"))  # finished runs delete theirs
    for path in RESULTS:
        assert without_wall_clock(killed / path) == without_wall_clock(uninterrupted / path), path


@pytest.mark.e2e  # resumes another copy of the killed workflow
def test_a_fresh_checkout_of_a_stopped_workflow_resumes_its_runs_with_forcerun(
    tmp_path: Path, uninterrupted, killed_at_250
) -> None:
    """What the next session's checkout of a stopped one holds: each run's log up to its checkpoint and the
    checkpoint, but no .snakemake/ (ignored, so not carried over). Snakemake then takes the half-written
    runs for finished; the status rule lists them, and `--forcerun` resumes each from its checkpoint."""
    stopped = copy_of(killed_at_250, tmp_path / "stopped")
    checkpoints = sorted(stopped.glob("results/runs/*/*/*/seed*/checkpoint.pt"))
    for checkpoint in checkpoints:
        restore_outputs(checkpoint.parent, load_checkpoint(checkpoint))
    shutil.rmtree(stopped / ".snakemake")
    planned = snakemake(stopped, TARGET, configfile="tiny.yaml")  # the trap: those runs look finished
    assert planned.returncode == 0 and checkpoints, planned.stdout + planned.stderr
    assert not [c for c in checkpoints if f"--out {c.parent.relative_to(stopped)} " in planned.stdout]

    status = snakemake(stopped, "status", configfile="tiny.yaml", dry_run=False)
    assert status.returncode == 0, status.stdout + status.stderr
    interrupted = (stopped / "results/interrupted_runs.txt").read_text().split()
    assert interrupted == [str(c.parent.relative_to(stopped) / "metrics.csv") for c in checkpoints]
    rerun = snakemake(stopped, TARGET, "--forcerun", *interrupted, configfile="tiny.yaml", dry_run=False)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert not list(stopped.glob("results/runs/*/*/*/seed*/checkpoint.pt"))  # every run finished
    for path in RESULTS:
        assert without_wall_clock(stopped / path) == without_wall_clock(uninterrupted / path), path
