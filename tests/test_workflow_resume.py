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

from tests.test_workflow import ROOT, TINY_WORKFLOW, snakemake

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
    tmp.mkdir()
    shutil.copy(ROOT / "Snakefile", tmp)
    for folder in ("rules", "config", "profiles"):
        shutil.copytree(ROOT / folder, tmp / folder)
    config = copy.deepcopy(TINY_WORKFLOW)
    config["overrides"]["all"]["checkpoint_every"] = 100
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(config))
    return tmp


@pytest.mark.e2e  # two tiny real workflows: about 70 s of CPU
def test_a_killed_train_job_resumes_and_the_table_is_unchanged(tmp_path: Path, monkeypatch) -> None:
    uninterrupted = tiny_workflow(tmp_path / "uninterrupted")
    done = snakemake(uninterrupted, TARGET, configfile="tiny.yaml", dry_run=False)
    assert done.returncode == 0, done.stdout + done.stderr

    killed = tiny_workflow(tmp_path / "killed")
    monkeypatch.setenv("MBPO_FAULT", "env_step@250")  # every train job SIGKILLs itself at env step 250
    failed = snakemake(killed, TARGET, configfile="tiny.yaml", dry_run=False)
    assert failed.returncode != 0
    checkpoints = sorted(killed.glob("results/runs/*/*/*/seed*/checkpoint.pt"))
    assert checkpoints, "the killed jobs left no checkpoint"
    assert not any((path.parent / "metrics.csv").exists() for path in checkpoints)  # Snakemake removed them

    monkeypatch.delenv("MBPO_FAULT")
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
