"""MBPO's model buffer in a checkpoint (`mbpo.model_buffer`): stored as the rollout rounds that rebuild it,
rebuilt bit for bit on resume, stored as rows where a rerun is impossible, and never a reason to lose a run.

Real short MBPO runs on InvertedPendulum-v5: refits every 50 steps from step 101 with k = 1, 1, 2, 3, so
the ring wraps (k = 1 twice into a capacity of 100), grows (to 200, then 300) and wraps again before the
checkpoint at step 280 that these tests read.
"""

from __future__ import annotations

import warnings

import pytest
import torch

import mbpo.failpoints
from mbpo.buffer import Batch, ReplayBuffer
from mbpo.checkpoint import CHECKPOINT_NAME, buffer_state, load_checkpoint, save_checkpoint
from mbpo.cli import main
from mbpo.config import resolve
from mbpo.model_buffer import (
    RerunMismatch,
    RolloutRound,
    RoundLog,
    digest,
    load_model_buffer_state,
    model_buffer_state,
)
from mbpo.provenance import read_provenance
from mbpo.session import open_session
from mbpo.train import ModelSide
from tests.golden import read_without_timing
from tests.test_kill import ARGS  # the run that test_kill.py kills: checkpoints every 40 steps

CRASH_AT = "env_step@290"  # after the checkpoint at step 280


class Crash(Exception):
    """Stands in for SIGKILL."""


def train(out, *extra: str) -> None:
    main([*ARGS, "--out", str(out), *extra])


def crash(out, monkeypatch: pytest.MonkeyPatch, *extra: str) -> dict:
    """Train until ``CRASH_AT`` and return the checkpoint left behind."""

    def kill(pid: int, sig: int) -> None:
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(mbpo.failpoints.os, "kill", kill)
        patch.setattr(mbpo.failpoints, "_TARGET", mbpo.failpoints._parse(CRASH_AT))
        patch.setattr(mbpo.failpoints, "_reached", 0)
        with pytest.raises(Crash):
            train(out, *extra)
    return load_checkpoint(out / CHECKPOINT_NAME)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> list[dict[str, str]]:
    out = tmp_path_factory.mktemp("mbpo") / "run"
    train(out)
    return read_without_timing(out / "metrics.csv")


def restored_model(checkpoint: dict, out) -> ModelSide:
    """A fresh session of the checkpoint's run, with the checkpoint loaded (as `mbpo train` does)."""
    run = open_session(resolve(checkpoint["config"]), out)
    model = ModelSide.create(run)
    run.parts = {"model": model}
    run._load(checkpoint)
    return model


def test_the_checkpoint_stores_the_rounds_and_resume_rebuilds_the_buffer_bit_for_bit(
    tmp_path, monkeypatch, uninterrupted
) -> None:
    checkpoint = crash(tmp_path / "run", monkeypatch)
    saved = checkpoint["parts"]["model"]["buffer"]
    # Rounds at k = 1, 1, 2, 3; the first one's rows have all been overwritten, the second's partly.
    assert "rows" not in saved and [r["length"] for r in saved["rounds"]] == [1, 2, 3]
    assert (saved["capacity"], saved["size"]) == (300, 300) and saved["ptr"] != 0  # full, wrapped

    with warnings.catch_warnings():
        warnings.simplefilter("error", RerunMismatch)
        model = restored_model(checkpoint, tmp_path / "probe")
    assert (model.buffer.capacity, model.buffer.size, model.buffer.ptr) == (300, saved["size"], saved["ptr"])
    assert digest(model.buffer) == saved["digest"]  # the digest of the live buffer at step 280

    train(tmp_path / "run")  # and the resumed run ends as the uninterrupted one
    assert read_without_timing(tmp_path / "run" / "metrics.csv") == uninterrupted


def test_a_rerun_that_differs_warns_and_the_run_goes_on(tmp_path, monkeypatch, uninterrupted) -> None:
    """As on another machine: the rounds rerun to other numbers; the run finishes, with a warning."""
    out = tmp_path / "run"
    checkpoint = crash(out, monkeypatch)
    rounds = checkpoint["parts"]["model"]["buffer"]["rounds"]
    rounds[-1]["generator"] = torch.Generator().manual_seed(12345).get_state()
    save_checkpoint(checkpoint, out / CHECKPOINT_NAME)
    with pytest.warns(RerunMismatch, match="no longer bit-identical"):
        train(out)
    assert "no longer bit-identical" in read_provenance(out)["resumed"][0]["warnings"][0]  # kept with the run
    resumed = read_without_timing(out / "metrics.csv")
    assert [r["env_step"] for r in resumed] == [r["env_step"] for r in uninterrupted]
    assert resumed[:-1] == uninterrupted[:-1]  # the rows before the checkpoint are the run's own


def test_a_checkpoint_that_stored_rows_still_resumes_exactly(tmp_path, monkeypatch, uninterrupted) -> None:
    """Format version 1 stored the rows: such a checkpoint resumes to the same numbers, and the rows are
    stored again until new rounds account for all of them."""
    out = tmp_path / "run"
    checkpoint = crash(out, monkeypatch)
    model = restored_model(checkpoint, tmp_path / "probe")
    checkpoint["parts"]["model"]["buffer"] = buffer_state(model.buffer)
    save_checkpoint({**checkpoint, "version": 1}, out / CHECKPOINT_NAME)
    train(out)
    assert read_without_timing(out / "metrics.csv") == uninterrupted


def test_rows_are_stored_where_the_env_buffer_can_wrap(tmp_path, monkeypatch) -> None:
    """A rerun draws its start states from the env buffer as it was; an env buffer smaller than the run
    overwrites them, so the rows themselves go into the checkpoint."""
    checkpoint = crash(tmp_path / "run", monkeypatch, "--set", "replay_size=250")
    saved = checkpoint["parts"]["model"]["buffer"]
    assert "rounds" not in saved and saved["rows"]["obs"].shape[0] == saved["size"] > 0


def test_the_round_log_keeps_just_the_rounds_the_buffer_still_holds() -> None:
    log = RoundLog()
    for added, size_after in [(100, 100), (100, 100), (150, 200), (40, 290), (300, 300)]:
        log.record(RolloutRound({}, {}, None, torch.empty(0), 0, 1, added), size_after)
    # 300 rows: the last round alone. Before it, 290 rows needed rounds 2-4 (100 + 150 + 40).
    assert [r.added for r in log.rounds] == [300]
    log.record(RolloutRound({}, {}, None, torch.empty(0), 0, 1, 120), 400)
    assert [r.added for r in log.rounds] == [300, 120]
    buffer = ReplayBuffer(400, obs_dim=1, act_dim=1)
    rows = torch.zeros(420, 1)
    buffer.add_batch(Batch(rows, rows, rows[:, 0], rows, rows[:, 0]))
    assert log.covers(buffer)
    assert not RoundLog(log.rounds[1:]).covers(buffer)


def fake_rounds(sizes: list[tuple[int, int]], seed: int = 0) -> tuple[ReplayBuffer, RoundLog, dict[int, Batch]]:
    """A live model buffer filled by rounds of (rows, capacity after the round) without any model: each
    round's rows are random, known by its ``env_rows`` (its id here)."""
    gen = torch.Generator().manual_seed(seed)
    buffer, log, outputs = ReplayBuffer(1, obs_dim=2, act_dim=1), RoundLog(), {}
    for i, (added, capacity) in enumerate(sizes):
        x = torch.randn(added, 6, generator=gen)
        outputs[i] = Batch(x[:, :2], x[:, 2:3], x[:, 3], x[:, 4:6], (x[:, 3] > 0).float())
        buffer.resize(capacity)
        buffer.add_batch(outputs[i])
        log.record(RolloutRound({}, {}, None, torch.empty(0), i, 1, added), len(buffer))
    return buffer, log, outputs


@pytest.mark.parametrize(
    "sizes",
    [
        [(100, 100), (100, 100), (150, 200), (40, 290), (130, 300)],  # grown, then wrapped: full, ptr inside
        [(60, 500), (70, 500), (80, 500)],  # not full yet
    ],
)
def test_a_resume_reruns_the_rounds_newest_first_into_their_slots(sizes) -> None:
    live, log, outputs = fake_rounds(sizes)
    state = model_buffer_state(live, log, rerunnable=True)
    calls = []

    def rerun(r: RolloutRound) -> Batch:
        calls.append(r.env_rows)
        return outputs[r.env_rows]

    rebuilt = ReplayBuffer(1, obs_dim=2, act_dim=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RerunMismatch)
        rounds = load_model_buffer_state(rebuilt, state, rerun)
    assert digest(rebuilt) == digest(live) and (rebuilt.size, rebuilt.ptr) == (live.size, live.ptr)
    assert calls == [r.env_rows for r in reversed(log.rounds)]  # newest first, each once
    assert [r.env_rows for r in rounds.rounds] == [r.env_rows for r in log.rounds]


def test_a_rerun_with_fewer_rows_fills_the_buffer_from_its_start_and_warns() -> None:
    """On another machine a rerun may end more branches (fewer rows): the buffer holds what the reruns
    gave, oldest first from slot 0, and the run is told it is no longer bit-identical."""
    live, log, outputs = fake_rounds([(100, 100), (100, 100), (150, 200), (40, 290), (130, 300)])
    state = model_buffer_state(live, log, rerunnable=True)
    shorter = {**outputs, 4: Batch(*(x[:30] for x in outputs[4]))}  # the newest round: 30 rows, not 130
    rebuilt = ReplayBuffer(1, obs_dim=2, act_dim=1)
    with pytest.warns(RerunMismatch):
        rounds = load_model_buffer_state(rebuilt, state, lambda r: shorter[r.env_rows])
    expected = Batch.cat([outputs[2], outputs[3], shorter[4]])  # 220 rows: all the three newest rounds gave
    assert (rebuilt.capacity, rebuilt.size, rebuilt.ptr) == (300, 220, 220)
    assert torch.equal(rebuilt.all().obs, expected.obs)
    assert [(r.env_rows, r.added) for r in rounds.rounds] == [(2, 150), (3, 40), (4, 30)]
