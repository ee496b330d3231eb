"""profiles/slurm, the profile users copy: what each train job asks for (as Snakemake evaluates it in a dry run),
and the local cluster's profile (tests/integration/slurm/profile), which the SLURM integration test runs, is
the same file but for the changes its header lists. No cluster needed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
USERS_PROFILE = ROOT / "profiles/slurm/config.yaml"
LOCAL_PROFILE = ROOT / "tests/integration/slurm/profile/config.yaml"
REMOVED = object()

# Every difference between the two profiles, keyed by the path of the setting; the local profile's header
# says why each is needed.
LOCAL_CHANGES = {
    ("default-resources", "slurm_account"): "mbpo",
    ("set-resources", "train", "slurm_partition"): "debug",
    ("set-resources", "train", "gpu"): REMOVED,
    ("set-threads", "train"): 1,
    ("set-resources", "train", "mem_mb"): 1000,
    ("set-resources", "train", "runtime"): 10,
    ("slurm-init-seconds-before-status-checks",): 5,
}


def flatten(settings: dict, prefix: tuple = ()) -> dict[tuple, object]:
    flat = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            flat |= flatten(value, (*prefix, key))
        else:
            flat[(*prefix, key)] = value
    return flat


def test_the_local_profile_is_the_users_profile_but_for_the_listed_changes() -> None:
    users = flatten(yaml.safe_load(USERS_PROFILE.read_text()))
    local = flatten(yaml.safe_load(LOCAL_PROFILE.read_text()))
    changes = {key: local.get(key, REMOVED) for key in users.keys() | local.keys() if users.get(key) != local.get(key)}
    assert changes == LOCAL_CHANGES


def test_users_fill_in_their_account_and_partition() -> None:
    text = USERS_PROFILE.read_text()
    assert re.search(r"slurm_account: .*# CHANGE", text) and re.search(r"slurm_partition: .*# CHANGE", text)


def planned_train_jobs(profile: Path, tmp_path: Path) -> list[dict[str, str]]:
    """Wildcards, resources and threads of every train job of the paper protocol, from a dry run."""
    shutil.copy(ROOT / "Snakefile", tmp_path)
    for folder in ("rules", "config"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-p", "--cores", "8", "--workflow-profile", profile, "all"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = []
    for block in result.stdout.split("\nrule train:")[1:]:
        fields = dict(re.findall(r"(\w+)=([^,\n]+)", re.search(r"wildcards: (.*)", block)[1]))
        fields |= dict(re.findall(r"(\w+)=([^,\n]+)", re.search(r"resources: (.*)", block)[1]))
        fields["threads"] = re.search(r"--threads (\d+)", block)[1]
        jobs.append(fields)
    return jobs


def test_each_train_job_asks_for_a_gpu_and_for_memory_and_time_by_env_and_algo(tmp_path: Path) -> None:
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="the SLURM profile needs pip install -e '.[slurm]'")
    jobs = planned_train_jobs(USERS_PROFILE, tmp_path)
    assert len(jobs) == 100  # 4 envs x {mbpo, sac} x 5 seeds, and the ablations on Hopper (35) and Walker2d (25)
    for job in jobs:
        assert job["gpu"] == "1" and job["threads"] == "2", job
        assert job["slurm_account"] and job["slurm_partition"], job
    minutes = {(job["env"], job["algo"]): int(job["runtime"]) for job in jobs}
    memory = {(job["env"], job["algo"]): int(job["mem_mb"]) for job in jobs}
    envs = {env for env, _ in minutes}
    assert all(minutes[env, "mbpo"] >= 10 * minutes[env, "sac"] for env in envs), minutes  # G = 20-40 vs 1
    assert max(minutes, key=minutes.get) == ("halfcheetah", "mbpo"), minutes  # G = 40, 400k steps
    assert max(memory, key=memory.get) == ("ant", "mbpo"), memory  # the longest rollouts (k = 25)
    assert all(memory[env, "mbpo"] >= memory[env, "sac"] for env in envs), memory
