"""Checkpoints and resume: each piece of state round-trips exactly, a crashed run resumes to the
uninterrupted run's metrics, and finished, restarted and Snakemake-cleaned run directories behave.

Crashes here are in-process (a fault point raises instead of killing) to stay fast; tests/test_kill.py
does the same with real SIGKILLs of real processes.
"""

from __future__ import annotations

import os
import random
import time

import numpy as np
import pytest
import torch

import mbpo.failpoints
from mbpo.buffer import Batch, ReplayBuffer
from mbpo.checkpoint import (
    buffer_state,
    env_state,
    load_buffer_state,
    load_checkpoint,
    load_env_state,
    load_rng_state,
    rng_state,
    save_checkpoint,
)
from mbpo.cli import main
from mbpo.envs import ENV_SPECS, make_env
from mbpo.provenance import read_provenance
from tests.golden import GOLDEN_RUNS, read_without_timing

SAC_ARGS = [
    "train", "--env", "invertedpendulum", "--algo", "sac", "--seed", "5", "--steps", "400", "--device", "cpu",
    "--set", "init_exploration_steps=100", "--set", "eval_every=100", "--set", "eval_episodes=1",
    "--set", "sac.hidden_sizes=[16, 16]", "--set", "sac.batch_size=32", "--set", "checkpoint_every=70", "--quiet",
]  # fmt: skip


class Crash(Exception):
    """Stands in for SIGKILL in these in-process tests."""


@pytest.fixture
def crash_at(monkeypatch: pytest.MonkeyPatch):
    """``crash_at("env_step@150")`` makes the next run raise `Crash` at that fault point."""

    def kill(pid: int, sig: int) -> None:
        raise Crash(f"{pid} {sig}")

    monkeypatch.setattr(mbpo.failpoints.os, "kill", kill)

    def arm(spec: str | None) -> None:
        monkeypatch.setattr(mbpo.failpoints, "_TARGET", mbpo.failpoints._parse(spec))
        monkeypatch.setattr(mbpo.failpoints, "_reached", 0)

    return arm


def train(out, *extra: str) -> None:
    main([*SAC_ARGS, "--out", str(out), *extra])


# ---------------------------------------------------------------------------------------------- pieces


@pytest.mark.parametrize("name", sorted(ENV_SPECS))
def test_env_state_continues_bit_for_bit(name: str) -> None:
    """A fresh env put into a saved state steps, terminates and resets exactly as the original (Ant reads
    a derived quantity, the torso's position, before stepping: the integration state alone is not enough)."""
    original = make_env(name)
    original.reset(seed=1)
    original.action_space.seed(1)
    for _ in range(37):
        if any(original.step(original.action_space.sample())[2:4]):
            original.reset()
    saved = env_state(original)
    copy = make_env(name)
    copy.reset(seed=99)
    load_env_state(copy, saved)
    for _ in range(300):
        a, b = original.action_space.sample(), copy.action_space.sample()
        assert np.array_equal(a, b)
        obs_a, rew_a, term_a, trunc_a, _ = original.step(a)
        obs_b, rew_b, term_b, trunc_b, _ = copy.step(b)
        assert np.array_equal(obs_a, obs_b) and (rew_a, term_a, trunc_a) == (rew_b, term_b, trunc_b)
        if term_a or trunc_a:
            assert np.array_equal(original.reset()[0], copy.reset()[0])


def test_every_rng_is_restored() -> None:
    generator = torch.Generator().manual_seed(3)
    state = rng_state(generator)
    first = (torch.rand(3), torch.rand(3, generator=generator), np.random.rand(3), random.random())
    load_rng_state(state, generator)
    second = (torch.rand(3), torch.rand(3, generator=generator), np.random.rand(3), random.random())
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("added", [7, 23])  # not wrapped / wrapped around a capacity of 10
def test_a_buffer_saves_only_its_filled_rows_and_restores_exactly(added: int) -> None:
    buffer = ReplayBuffer(10, obs_dim=2, act_dim=1)
    rows = torch.arange(added, dtype=torch.float32)
    buffer.add_batch(Batch(rows[:, None].repeat(1, 2), rows[:, None], rows, rows[:, None].repeat(1, 2), rows * 0))
    state = buffer_state(buffer)
    assert state["rows"]["obs"].shape[0] == min(added, 10)
    restored = ReplayBuffer(1, obs_dim=2, act_dim=1)
    load_buffer_state(restored, state)
    assert (restored.capacity, restored.size, restored.ptr) == (buffer.capacity, buffer.size, buffer.ptr)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert all(torch.equal(a, b) for a, b in zip(buffer.sample(50, g1), restored.sample(50, g2), strict=True))
    restored.add(np.ones(2), np.ones(1), 1.0, np.ones(2), False)  # still a working ring of the full capacity
    assert restored.capacity == 10


def test_a_failed_write_leaves_the_old_checkpoint_and_no_temporary(tmp_path) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint({"step": 1}, path)
    with pytest.raises(Exception):  # noqa: B017 (whatever torch raises for an unsavable object)
        save_checkpoint({"step": 2, "bad": lambda: None}, path)
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


# ---------------------------------------------------------------------------------------------- runs


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> list[dict[str, str]]:
    out = tmp_path_factory.mktemp("sac") / "run"
    train(out)
    return read_without_timing(out / "metrics.csv")


@pytest.mark.parametrize("fault", ["env_step@170", "metrics_row@3", "checkpoint_write@3"])
def test_a_crashed_run_resumes_to_the_uninterrupted_metrics(tmp_path, crash_at, uninterrupted, fault) -> None:
    """Checkpoints every 70 steps, rows every 100: the checkpoint carries half-accumulated row means."""
    out = tmp_path / "run"
    crash_at(fault)
    with pytest.raises(Crash):
        train(out)
    crash_at(None)
    train(out)
    assert read_without_timing(out / "metrics.csv") == uninterrupted
    assert not (out / "checkpoint.pt").exists()


def test_resume_rewrites_the_outputs_snakemake_deleted(tmp_path, crash_at, uninterrupted, capsys) -> None:
    out = tmp_path / "run"
    crash_at("env_step@250")
    with pytest.raises(Crash):
        train(out)
    (out / "metrics.csv").unlink()  # what Snakemake does to an incomplete job's outputs
    (out / "config.yaml").unlink()
    crash_at(None)
    capsys.readouterr()
    train(out)
    assert "from its checkpoint at env step 210" in capsys.readouterr().err
    assert read_without_timing(out / "metrics.csv") == uninterrupted
    provenance = read_provenance(out)  # not a declared output: it survives, and records the resume
    assert [r["at_env_step"] for r in provenance["resumed"]] == [210] and provenance["finished"] is not None


def test_wall_time_adds_up_across_sessions(tmp_path, crash_at) -> None:
    out = tmp_path / "run"
    crash_at("env_step@250")
    with pytest.raises(Crash):
        train(out)
    saved = load_checkpoint(out / "checkpoint.pt")
    crash_at(None)
    train(out)
    wall = [float(line.split(",")[4]) for line in (out / "metrics.csv").read_text().splitlines()[1:]]
    assert wall == sorted(wall) and wall[2] > saved["session"]["wall_time_s"] > 0


def test_a_finished_run_is_a_no_op(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    train(out)
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()}
    capsys.readouterr()
    train(out)
    assert "already finished" in capsys.readouterr().out
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()} == before


def test_keep_checkpoint_keeps_the_final_state_and_restores_deleted_outputs(tmp_path, uninterrupted) -> None:
    out = tmp_path / "run"
    train(out, "--set", "keep_checkpoint=true")
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 400
    metrics = (out / "metrics.csv").read_bytes()
    (out / "metrics.csv").unlink()
    train(out, "--set", "keep_checkpoint=true")  # finished: rewrites the outputs from the checkpoint, no training
    assert (out / "metrics.csv").read_bytes() == metrics
    assert read_without_timing(out / "metrics.csv") == uninterrupted


def test_restart_discards_the_checkpoint(tmp_path, crash_at, uninterrupted) -> None:
    out = tmp_path / "run"
    crash_at("env_step@250")
    with pytest.raises(Crash):
        train(out, "--set", "sac.lr=1e-3")
    crash_at(None)
    train(out, "--restart")  # the checkpoint's config differs; --restart starts over with this one
    assert read_without_timing(out / "metrics.csv") == uninterrupted


def test_the_wandb_mirror_continues_the_same_run_offline(tmp_path, crash_at, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "run"
    crash_at("env_step@250")
    with pytest.raises(Crash):
        train(out)
    run_id = load_checkpoint(out / "checkpoint.pt")["log"]["wandb_id"]
    crash_at(None)
    time.sleep(1.1)  # W&B names an offline folder by the second it starts: a resume that fast would share it
    train(out)
    offline_runs = sorted(p.name for p in (out / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 2 and all(name.endswith(f"-{run_id}") for name in offline_runs), offline_runs


def test_stale_temporary_files_are_removed_on_resume(tmp_path, crash_at, uninterrupted) -> None:
    out = tmp_path / "run"
    crash_at("env_step@250")
    with pytest.raises(Crash):
        train(out)
    for name in ("checkpoint.pt", "metrics.csv", "provenance.yaml"):  # what a process killed mid-write leaves
        (out / f".{name}.tmp-4242").write_bytes(os.urandom(100))
    crash_at(None)
    train(out)
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "metrics.csv", "provenance.yaml"]
    assert read_without_timing(out / "metrics.csv") == uninterrupted


def test_mbpo_with_diagnostics_resumes_to_the_uninterrupted_files(tmp_path, crash_at) -> None:
    """The model diagnostics are part of the checkpoint: their CSVs, like metrics.csv, continue exactly."""
    diagnostics = ["diagnostics.every=1", "diagnostics.horizon=5", "diagnostics.multistep_horizons=[1, 5]"]
    args = [*GOLDEN_RUNS["mbpo"], "--device", "cpu", "--quiet", "--set", "checkpoint_every=100"]
    args += [a for s in diagnostics for a in ("--set", s)]

    def files(out) -> dict[str, list[dict[str, str]]]:
        names = ("metrics.csv", "model_error.csv", "rollout_bound.csv")
        rows = {name: read_without_timing(out / name) for name in names}
        return rows | {
            "rollout_bound.csv": [
                {k: v for k, v in r.items() if not k.startswith("seconds")} for r in rows["rollout_bound.csv"]
            ]
        }

    main(["train", *args, "--out", str(tmp_path / "straight")])
    crash_at("env_step@470")
    with pytest.raises(Crash):
        main(["train", *args, "--out", str(tmp_path / "resumed")])
    crash_at(None)
    main(["train", *args, "--out", str(tmp_path / "resumed")])
    straight, resumed = files(tmp_path / "straight"), files(tmp_path / "resumed")
    assert resumed == straight and len(straight["model_error.csv"]) > 0


def test_a_config_key_added_since_the_checkpoint_takes_its_default_and_the_run_resumes(tmp_path, crash_at) -> None:
    """An upgrade that adds a config key must not strand in-flight runs (the evidence runs span sessions)."""
    out = tmp_path / "run"
    crash_at("env_step@250")
    with pytest.raises(Crash):
        train(out)
    crash_at(None)
    checkpoint = load_checkpoint(out / "checkpoint.pt")
    del checkpoint["config"]["env_dynamics"]  # as written by a version without that key
    del checkpoint["config"]["sac"]["cuda_graph"]  # likewise, for a key whose default the device decides
    save_checkpoint(checkpoint, out / "checkpoint.pt")
    train(out)  # resumes to the end
    assert int(read_without_timing(out / "metrics.csv")[-1]["env_step"]) == 400
    crash_at("env_step@250")
    with pytest.raises(Crash):
        train(out / "other")
    crash_at(None)
    checkpoint = load_checkpoint(out / "other" / "checkpoint.pt")
    checkpoint["config"]["sac"]["lr"] = 1.0  # a value the run really used differs: refused, naming it
    save_checkpoint(checkpoint, out / "other" / "checkpoint.pt")
    with pytest.raises(SystemExit, match=r"sac\.lr: 1\.0 → 0\.0003"):
        train(out / "other")
