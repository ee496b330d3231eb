"""``provenance.yaml``: every run says which code, packages, machine and command produced it, and when."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from importlib import metadata
from pathlib import Path

import pytest
import torch
import yaml

from mbpo.cli import main
from mbpo.provenance import git_state, mark_finished, mark_resumed, read_provenance, write_provenance

TINY_SAC = [
    "train", "--env", "invertedpendulum", "--algo", "sac", "--steps", "60", "--quiet", "--device", "cpu",
    "--set", "init_exploration_steps=30", "--set", "eval_every=60", "--set", "eval_episodes=1",
    "--set", "sac.hidden_sizes=[8, 8]", "--set", "sac.batch_size=8",
]  # fmt: skip


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_a_run_writes_its_provenance_beside_its_config(tmp_path: Path) -> None:
    out = tmp_path / "run"
    main([*TINY_SAC, "--out", str(out)])
    record = yaml.safe_load((out / "provenance.yaml").read_text())

    assert set(record) == {"command", "started", "finished", "git", "packages", "machine"}
    assert isinstance(record["command"], list) and all(isinstance(a, str) for a in record["command"])
    started, finished = (datetime.fromisoformat(record[k]) for k in ("started", "finished"))
    assert started.utcoffset().total_seconds() == 0 and started <= finished  # UTC, and the run has ended
    assert record["packages"] == {
        "python": sys.version.split()[0],
        "torch": metadata.version("torch"),
        "gymnasium": metadata.version("gymnasium"),
        "mujoco": metadata.version("mujoco"),
        "numpy": metadata.version("numpy"),
        "mbpo-bench": metadata.version("mbpo-bench"),
    }
    m = record["machine"]
    assert set(m) == {"hostname", "platform", "cpu", "cores", "threads", "gpu"}
    assert m["cpu"] and m["cores"] >= 1 and m["threads"] == torch.get_num_threads()
    assert m["gpu"] == (torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
    assert set(record["git"]) == {"commit", "dirty", "changed"}


def test_git_commit_and_dirty_flag_of_a_checkout(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "code.py").write_text("x = 1\n")
    git(repo, "add", "code.py")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "c")
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()

    assert git_state(repo) == {"commit": head, "dirty": False, "changed": []}
    (repo / "results.csv").write_text("untracked outputs do not make the code dirty\n")
    assert git_state(repo) == {"commit": head, "dirty": False, "changed": []}
    (repo / "code.py").write_text("x = 2\n")
    assert git_state(repo) == {"commit": head, "dirty": True, "changed": ["code.py"]}


def test_not_a_checkout_gives_no_commit(tmp_path: Path) -> None:
    assert git_state(tmp_path) == {"commit": None, "dirty": None, "changed": None}


def test_finished_is_null_until_the_run_ends_and_a_missing_file_is_unknown(tmp_path: Path) -> None:
    assert read_provenance(tmp_path) is None  # an older run: provenance unknown, not an error
    assert mark_finished(tmp_path) is None
    written = write_provenance(tmp_path, command=["mbpo", "train"])
    assert written["finished"] is None and read_provenance(tmp_path) == written
    done = mark_finished(tmp_path)
    assert done["finished"] is not None and read_provenance(tmp_path) == done
    assert done["command"] == ["mbpo", "train"]


def test_wandb_gets_the_same_provenance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """W&B itself is replaced by a recorder here (this test is about what we hand it, not about W&B)."""
    wandb = pytest.importorskip("wandb")
    seen: dict = {}

    class Run:
        def define_metric(self, *args, **kwargs) -> None: ...
        def log(self, *args, **kwargs) -> None: ...
        def finish(self) -> None: ...

    def fake_init(**kwargs):
        seen.update(kwargs)
        return Run()

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setattr(wandb, "init", fake_init)
    out = tmp_path / "run"
    main([*TINY_SAC, "--out", str(out)])
    on_disk = read_provenance(out)
    sent = seen["config"]["provenance"]
    assert {k: v for k, v in sent.items() if k != "finished"} == {k: v for k, v in on_disk.items() if k != "finished"}
    assert seen["config"]["sac"]["target_entropy"] == -1.0  # the effective value, never null


def test_a_resume_is_recorded_with_its_own_command_code_and_machine(tmp_path: Path) -> None:
    first = write_provenance(tmp_path, command=["mbpo", "train"])
    record = mark_resumed(tmp_path, at_env_step=4000)
    assert record["started"] == first["started"] and read_provenance(tmp_path) == record
    (entry,) = record["resumed"]
    assert entry["at_env_step"] == 4000 and set(entry) == {"at_env_step", "time", "command", "git", "machine"}
    assert len(mark_resumed(tmp_path, at_env_step=9000)["resumed"]) == 2
    lost = tmp_path / "lost"  # a file deleted since the run began is rewritten, with the resume on record
    assert mark_resumed(lost, at_env_step=10)["resumed"][0]["at_env_step"] == 10
