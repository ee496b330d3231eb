"""The diagnostics in the loop: passive (training numbers unchanged), their files, and exact resume."""

from __future__ import annotations

import copy
import csv
from pathlib import Path

import torch

from mbpo.buffer import ReplayBuffer
from mbpo.config import resolve
from mbpo.diagnostics.files import BOUND_COLUMNS, BOUND_FILE, MODEL_ERROR_COLUMNS, MODEL_ERROR_FILE
from mbpo.diagnostics.monitor import ModelDiagnostics
from mbpo.sac import SAC, SACConfig
from tests.golden import GOLDEN_RUNS, golden_path, read_without_timing, run_golden
from tests.test_diagnostics import ACT, OBS, exact_linear_ensemble, trajectories

TIMING = {"seconds", "seconds_direct"}


def read(path: Path, drop: set[str] = frozenset()) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(f)]


def test_diagnostics_on_leave_the_golden_mbpo_metrics_bit_identical(tmp_path, monkeypatch):
    """The golden MBPO run with diagnostics at every epoch: metrics.csv is still the golden one."""
    on = [*GOLDEN_RUNS["mbpo"], "--set", "diagnostics.every=1", "--set", "diagnostics.horizon=8"]
    on += ["--set", "diagnostics.multistep_horizons=[1, 4]", "--set", "diagnostics.multistep_max_epochs=2"]
    monkeypatch.setitem(GOLDEN_RUNS, "mbpo", on)
    metrics = run_golden("mbpo", tmp_path)
    assert read_without_timing(metrics) == read_without_timing(golden_path("mbpo"))

    # Refits every 50 steps from step 201, epochs of 100: a pass at the second refit, then one per epoch.
    bound = read(tmp_path / BOUND_FILE)
    assert tuple(bound[0]) == BOUND_COLUMNS
    assert [int(r["env_step"]) for r in bound] == [251, 301, 401, 501]
    assert [int(r["schedule_k"]) for r in bound] == [1, 2, 3, 4]  # rollout_schedule=[0, 3, 1, 4]
    assert all(int(r["n_new"]) == 50 for r in bound)
    errors = read(tmp_path / MODEL_ERROR_FILE)
    assert tuple(errors[0]) == MODEL_ERROR_COLUMNS
    assert {r["kind"] for r in errors} == {"mean", "sample", "direct"}
    assert {int(r["k"]) for r in errors if r["kind"] == "mean"} <= set(range(1, 9))
    assert {int(r["k"]) for r in errors if r["kind"] == "direct"} <= {1, 4}


CFG = resolve(
    {"env": "hopper", "seed": 3, "rollout_schedule": [0, 2, 1, 5], "model": {"hidden_size": 16}},
    {"diagnostics": {"every": 1, "horizon": 6, "multistep_horizons": [1, 3], "multistep_windows": 100}},
    {"diagnostics": {"multistep_max_epochs": 3}},
)


def setup(tmp_path: Path, name: str):
    """A tiny hand-made world (no MuJoCo): a linear system's transitions, an exact model, a small SAC."""
    data = trajectories(0.9, [40] * 10, [False] * 10)
    buffer = ReplayBuffer(len(data), OBS, ACT)
    torch.manual_seed(0)
    agent = SAC(OBS, ACT, [-1.0] * ACT, [1.0] * ACT, -2.0, SACConfig(hidden_sizes=(16, 16)))
    diagnostics = ModelDiagnostics(CFG, tmp_path / name, OBS, ACT, torch.device("cpu"))
    return diagnostics, exact_linear_ensemble(0.9, state_bias=0.01), agent, buffer, data


def refit(diagnostics, model, agent, buffer, data, i: int) -> None:
    """The i-th refit: 100 more real transitions arrive, the policy moves a little, then the hook runs."""
    lo = 100 * i
    buffer.add_batch(type(data)(*(x[lo : lo + 100] for x in data)))
    with torch.no_grad():
        agent.actor.net[-1].bias.add_(0.05 * (i + 1))
    diagnostics.before_fit(env_step=lo + 101, epoch=i, model=model, agent=agent, env_buffer=buffer)


def test_a_pass_uses_no_global_randomness_and_changes_nothing_it_is_given(tmp_path):
    diagnostics, model, agent, buffer, data = setup(tmp_path, "run")
    refit(diagnostics, model, agent, buffer, data, 0)
    rng, model_state = torch.get_rng_state(), copy.deepcopy(model.state_dict())
    agent_state = copy.deepcopy(agent.state_dict())
    buffer.add_batch(type(data)(*(x[100:200] for x in data)))
    stored = buffer.all()
    diagnostics.before_fit(env_step=201, epoch=1, model=model, agent=agent, env_buffer=buffer)
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in model_state.items())
    assert all(torch.equal(v, agent.state_dict()[k]) for k, v in agent_state.items())
    assert all(torch.equal(a, b) for a, b in zip(stored, buffer.all(), strict=True))
    rows = read(tmp_path / "run" / BOUND_FILE)
    assert len(rows) == 1 and float(rows[0]["eps_policy"]) == 0.0  # the policy did not move since refit 0


def test_resuming_from_state_dict_writes_what_an_uninterrupted_run_writes(tmp_path):
    straight = setup(tmp_path, "straight")
    for i in range(4):
        refit(*straight, i)

    # A run checkpointed after refit 1 that went on to write refit 2 before it died, then resumed.
    first = setup(tmp_path, "resumed")
    for i in range(2):
        refit(*first, i)
    checkpoint = copy.deepcopy(first[0].state_dict())
    actor_at_checkpoint = copy.deepcopy(first[2].actor.state_dict())
    refit(*first, 2)  # written, then lost with the crash
    _, model, agent, buffer, data = first
    agent.actor.load_state_dict(actor_at_checkpoint)
    buffer = ReplayBuffer(len(data), OBS, ACT)
    buffer.add_batch(type(data)(*(x[:200] for x in data)))
    resumed = ModelDiagnostics(CFG, tmp_path / "resumed", OBS, ACT, torch.device("cpu"))
    resumed.load_state_dict(checkpoint)
    for i in (2, 3):
        refit(resumed, model, agent, buffer, data, i)

    for name in (MODEL_ERROR_FILE, BOUND_FILE):
        assert read(tmp_path / "resumed" / name, TIMING) == read(tmp_path / "straight" / name, TIMING)
    assert len(read(tmp_path / "straight" / BOUND_FILE)) == 3


def test_off_by_default_means_no_diagnostics_object_and_no_files(tmp_path):
    off = resolve({"env": "hopper"})
    assert ModelDiagnostics.if_enabled(off, tmp_path, OBS, ACT, torch.device("cpu")) is None
    assert isinstance(ModelDiagnostics.if_enabled(CFG, tmp_path, OBS, ACT, torch.device("cpu")), ModelDiagnostics)
    assert list(tmp_path.iterdir()) == []  # nothing is written before the first pass
