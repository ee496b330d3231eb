"""The Snakemake workflow, dry-run only: job counts, config validation, and rerunning one deleted run."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENVS = ["hopper", "walker2d", "halfcheetah", "ant"]


@pytest.fixture
def workflow(tmp_path: Path) -> Path:
    """A fresh copy of the workflow files, so no results of the checkout change what Snakemake plans."""
    shutil.copy(ROOT / "Snakefile", tmp_path)
    for folder in ("rules", "config", "profiles"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def snakemake(workdir: Path, *targets: str, configfile: str | None = None) -> subprocess.CompletedProcess:
    """A dry run; `--configfile` goes last because it takes every following word as a file."""
    extra = ["--configfile", configfile] if configfile else []
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--dry-run", "--printshellcmds", "--cores", "8", *targets, *extra],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )


def job_counts(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Parse the `Job stats` table of a dry run; {} if there is nothing to do."""
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout + result.stderr
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:")[1].split("\n\n")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, flags=re.M) if m[1] != "total"}


def test_paper_protocol_plans_40_runs(workflow: Path) -> None:
    counts = job_counts(snakemake(workflow, "all", configfile="config/config.yaml"))
    assert counts == {"train": 40, "aggregate": 1, "stats": 1, "table": 1, "figures": 1, "all": 1}


def test_train_command_uses_the_package_cli(workflow: Path) -> None:
    result = snakemake(workflow, "results/runs/hopper/sac/default/seed3/metrics.csv")
    command = next(line for line in result.stdout.splitlines() if "mbpo train" in line)
    for part in ("--env hopper", "--algo sac", "--variant default", "--seed 3", "--threads 1", "--quiet"):
        assert part in command
    assert "--steps" not in command  # the paper budget comes from `mbpo train`'s presets


def test_smoke_protocol_plans_16_runs_with_overrides(workflow: Path) -> None:
    result = snakemake(workflow, "all", configfile="config/smoke.yaml")
    assert job_counts(result) == {"train": 16, "aggregate": 1, "stats": 1, "table": 1, "figures": 1, "all": 1}
    command = next(line for line in result.stdout.splitlines() if "mbpo train --env ant --algo mbpo" in line)
    assert "--steps 2000" in command and "--set model_train_freq=250" in command
    assert "'rollout_schedule=[1, 5, 1, 3]'" in command
    assert "results/smoke/runs/ant/mbpo" in command


def test_a_variant_is_one_list_entry(workflow: Path) -> None:
    (workflow / "ablation.yaml").write_text("variants: [default, penalty]\n")
    counts = job_counts(snakemake(workflow, "all", configfile="ablation.yaml"))
    assert counts["train"] == 60  # 20 more MBPO runs; the SAC baseline stays `default`


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"final_windw": 5}, "final_windw"),
        ({"overrides": {"mpbo": {}}}, "mpbo"),
        ({"envs": ["hoper"]}, "hoper"),
        ({"seeds": [0]}, "seeds"),
        ({"steps": {"hopper": 0}}, "steps"),
        ({"wandb": {"mode": "ofline"}}, "ofline"),
    ],
)
def test_a_bad_config_fails_naming_the_key(workflow: Path, config: dict, named: str) -> None:
    (workflow / "bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workflow, "all", configfile="bad.yaml")
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "Error validating config file" in out and named in out


def _create_all_outputs(workflow: Path) -> None:
    """Stand-ins for a finished paper workflow, written in DAG order so that every file is up to date."""

    def write(path: str) -> None:
        (workflow / path).parent.mkdir(parents=True, exist_ok=True)
        (workflow / path).write_text("stand-in\n")

    stamp = time.time() - 100
    levels = [
        [
            f"results/runs/{env}/{algo}/default/seed{seed}/{name}"
            for env, algo, seed, name in itertools.product(
                ENVS, ["mbpo", "sac"], range(5), ["metrics.csv", "config.yaml"]
            )
        ],
        ["results/curves.csv", "results/summary.csv"],
        ["results/stats.csv"],
        ["reports/table.md", *(f"reports/figures/{n}.png" for n in ("overview", "final_scores"))]
        + [f"reports/figures/curves_{env}.png" for env in ENVS],
    ]
    for level, paths in enumerate(levels):
        for path in paths:
            write(path)
            os.utime(workflow / path, (stamp + level, stamp + level))


def test_deleting_one_run_retrains_exactly_that_run(workflow: Path) -> None:
    _create_all_outputs(workflow)
    assert job_counts(snakemake(workflow, "all")) == {}

    (workflow / "results/runs/ant/sac/default/seed3/metrics.csv").unlink()
    result = snakemake(workflow, "all")
    assert job_counts(result) == {"train": 1, "aggregate": 1, "stats": 1, "table": 1, "figures": 1, "all": 1}
    assert re.findall(r"wildcards: (.*)", result.stdout) == ["env=ant, algo=sac, variant=default, seed=3"]

    # Asking only for the table retrains exactly that run too (the stale aggregation is marked as such).
    result = snakemake(workflow, "reports/table.md")
    assert job_counts(result) == {"train": 1, "aggregate": 1, "stats": 1, "table": 1}
    assert re.findall(r"wildcards: (.*)", result.stdout) == ["env=ant, algo=sac, variant=default, seed=3"]


def test_lint_finds_nothing_but_the_conda_hint(workflow: Path) -> None:
    """Every rule has a log, no absolute paths, ...; the software environment is the package's venv, not conda."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"], cwd=workflow, capture_output=True, text=True, timeout=120
    )
    lints = re.findall(r"^\s*\* (.+?):?$", result.stdout + result.stderr, flags=re.M)
    assert lints, "expected the lint report to list the conda hint per rule"
    assert set(lints) == {"Specify a conda environment or container for each rule."}
