"""Numerical guards: NaN injected into a SAC batch, a model-fit batch and model rollouts is caught, rolled
back or dropped as `mbpo.guards` documents, counted in metrics.csv, and never reaches a buffer or a number."""

from __future__ import annotations

import csv
import math

import pytest
import torch

import mbpo.train
from mbpo.buffer import Batch
from mbpo.cli import main
from mbpo.guards import MAX_CONSECUTIVE_SAC, SNAPSHOT_UPDATES, Guards, NumericalError
from mbpo.models.ensemble import EnsembleConfig, GaussianEnsemble
from mbpo.models.training import fit_ensemble, make_optimizer
from mbpo.runlog import MetricMeans
from mbpo.sac import SAC, SACConfig

OBS, ACT = 3, 2


def batch(n: int = 32, nan: bool = False, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, OBS, generator=g)
    if nan:
        obs[5, 1] = float("nan")
    return Batch(obs, torch.rand(n, ACT, generator=g) * 2 - 1, torch.randn(n, generator=g), obs + 0.1, torch.zeros(n))


def agent_state(agent: SAC) -> list[torch.Tensor]:
    optim = agent.optimizer_state_dict()
    tensors = list(agent.state_dict().values())
    for opt in optim.values():
        tensors += [v for state in opt["state"].values() for v in state.values()]
    return [t.clone() for t in tensors]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def make_agent() -> SAC:
    torch.manual_seed(0)
    return SAC(OBS, ACT, [-1.0] * ACT, [1.0] * ACT, -2.0, SACConfig(hidden_sizes=(16, 16), batch_size=32))


def test_a_nan_sac_batch_rolls_the_agent_back_to_its_snapshot() -> None:
    agent, sink = make_agent(), MetricMeans()
    guards = Guards(agent)
    with guards.sac_updates(1, sink) as updates:  # the first step: snapshot of the fresh agent, then 3 good updates
        for i in range(3):
            updates.append(agent.update(batch(seed=i)))
    assert sink._count == 3 and guards.pop_counts(("guard/nonfinite_sac",)) == {"guard/nonfinite_sac": 0}
    with guards.sac_updates(2, sink) as updates:  # no new snapshot: fewer than SNAPSHOT_UPDATES updates since
        updates.append(agent.update(batch(seed=5)))
        updates.append(agent.update(batch(nan=True)))
    # rolled back to the snapshot taken before step 1's updates: the untrained agent, no optimizer state
    assert same(agent_state(agent), agent_state(make_agent()))
    assert all(math.isfinite(v) for v in sink.pop().values())  # the bad step's diagnostics were dropped
    assert guards.pop_counts(("guard/nonfinite_sac",)) == {"guard/nonfinite_sac": 1}
    with guards.sac_updates(3, sink) as updates:  # training goes on from there
        updates.append(agent.update(batch(seed=6)))
    assert all(torch.isfinite(t).all() for t in agent_state(agent))


def test_snapshots_follow_the_update_count() -> None:
    agent, sink = make_agent(), MetricMeans()
    guards = Guards(agent)
    for step in range(SNAPSHOT_UPDATES):  # one update per env step, as the SAC baseline
        with guards.sac_updates(step, sink) as updates:
            updates.append(agent.update(batch(seed=step)))
    due = agent_state(agent)  # SNAPSHOT_UPDATES updates since the first snapshot: the next step takes one
    for step in (100, 101):
        with guards.sac_updates(step, sink) as updates:
            updates.append(agent.update(batch(seed=step)))
    with guards.sac_updates(102, sink) as updates:
        updates.append(agent.update(batch(nan=True)))
    assert same(agent_state(agent), due)


def test_sac_stops_after_too_many_consecutive_rollbacks() -> None:
    agent, sink = make_agent(), MetricMeans()
    guards = Guards(agent)
    with pytest.raises(NumericalError, match=f"non-finite in {MAX_CONSECUTIVE_SAC} consecutive env steps"):
        for step in range(MAX_CONSECUTIVE_SAC):
            with guards.sac_updates(step, sink) as updates:
                updates.append(agent.update(batch(nan=True)))


def test_a_nan_model_fit_restores_the_pre_fit_model_and_optimizer() -> None:
    torch.manual_seed(0)
    config = EnsembleConfig(num_networks=3, num_elites=2, hidden_size=16, num_layers=2, weight_decays=(0.0,) * 3)
    ensemble = GaussianEnsemble(OBS, ACT, config)
    optim = make_optimizer(ensemble)
    guards = Guards(make_agent())
    inputs, targets = torch.randn(200, OBS + ACT), torch.randn(200, OBS + 1)
    with guards.model_fit(1, ensemble, optim) as fitted:
        fit_ensemble(ensemble, optim, inputs, targets, config, torch.Generator().manual_seed(0))
    assert fitted.ok
    before = {k: v.clone() for k, v in ensemble.state_dict().items()}
    optim_before = [v.clone() for s in optim.state_dict()["state"].values() for v in s.values()]
    targets[17, 2] = float("nan")
    with guards.model_fit(2, ensemble, optim) as fitted:
        fit_ensemble(ensemble, optim, inputs, targets, config, torch.Generator().manual_seed(1))
    assert not fitted.ok
    assert all(torch.equal(v, before[k]) for k, v in ensemble.state_dict().items())
    optim_after = [v for s in optim.state_dict()["state"].values() for v in s.values()]
    assert same(optim_after, optim_before)
    assert guards.pop_counts(("guard/nonfinite_model",)) == {"guard/nonfinite_model": 1}


def test_non_finite_rollout_transitions_are_dropped_and_counted() -> None:
    guards = Guards(make_agent())
    transitions = batch(10)
    transitions.next_obs[2, 0] = float("inf")
    transitions.rew[7] = float("nan")
    kept = guards.finite_transitions(transitions)
    assert len(kept) == 8 and all(torch.isfinite(x).all() for x in kept)
    assert guards.pop_counts(("guard/dropped_rollout",)) == {"guard/dropped_rollout": 2}


# ---------------------------------------------------------------------------------------------- end to end

ARGS = [
    "train", "--env", "invertedpendulum", "--algo", "mbpo", "--seed", "2", "--steps", "300", "--device", "cpu",
    "--set", "init_exploration_steps=100", "--set", "eval_every=50", "--set", "eval_episodes=1",
    "--set", "epoch_length=50", "--set", "model_train_freq=50", "--set", "rollout_batch_size=100",
    "--set", "num_train_repeat=2", "--set", "sac.hidden_sizes=[16, 16]", "--set", "sac.batch_size=32",
    "--set", "model.hidden_size=16", "--set", "model.max_epochs=3", "--quiet",
]  # fmt: skip


def rows(out) -> list[dict[str, str]]:
    with open(out / "metrics.csv") as f:
        return list(csv.DictReader(f))


def poison_call(monkeypatch, name: str, call: int, poison) -> None:
    """Make the ``call``-th call of ``mbpo.train.<name>`` return (or receive) NaN via ``poison``."""
    real = getattr(mbpo.train, name)
    calls = {"n": 0}

    def wrapped(*args, **kwargs):
        calls["n"] += 1
        return poison(real, args, kwargs) if calls["n"] == call else real(*args, **kwargs)

    monkeypatch.setattr(mbpo.train, name, wrapped)


def nan_batch(real, args, kwargs):
    out = real(*args, **kwargs)
    out.obs[0, 0] = float("nan")
    return out


def nan_fit_data(real, args, kwargs):
    model, optim, inputs, targets, *rest = args
    targets = targets.clone()
    targets[3, 0] = float("nan")
    return real(model, optim, inputs, targets, *rest, **kwargs)


def nan_rollout(real, args, kwargs):
    rollout = real(*args, **kwargs)
    rollout.transitions.next_obs[:5, 0] = float("nan")
    return rollout


def test_a_run_with_nan_batches_recovers_and_reports_them(tmp_path, monkeypatch) -> None:
    poison_call(monkeypatch, "sample_mixed", call=150, poison=nan_batch)  # env step 175's updates
    poison_call(monkeypatch, "fit_ensemble", call=3, poison=nan_fit_data)  # the fit at env step 201
    poison_call(monkeypatch, "branched_rollout", call=3, poison=nan_rollout)  # the next successful rollouts
    main([*ARGS, "--out", str(tmp_path / "run")])
    by_step = {int(row["env_step"]): row for row in rows(tmp_path / "run")}
    assert by_step[200]["guard/nonfinite_sac"] == "1"
    assert by_step[250]["guard/nonfinite_model"] == "1"
    assert by_step[300]["guard/dropped_rollout"] == "5"
    counted = [(s, c) for s, row in by_step.items() for c in row if c.startswith("guard/") and row[c] != "0"]
    assert sorted(counted) == [
        (200, "guard/nonfinite_sac"),
        (250, "guard/nonfinite_model"),
        (300, "guard/dropped_rollout"),
    ]
    for row in by_step.values():  # every logged number is finite
        assert all(math.isfinite(float(v)) for k, v in row.items() if v and k != "model/elites")
    # the failed fit was not followed by rollouts: the 250 row still shows the 201 fit's predecessor
    assert by_step[250]["model/n_train"] == by_step[200]["model/n_train"]


def test_persistent_nan_stops_the_run_with_a_clear_message(tmp_path, monkeypatch) -> None:
    real = mbpo.train.sample_mixed

    def always_nan(*args, **kwargs):
        return nan_batch(real, args, kwargs)

    monkeypatch.setattr(mbpo.train, "sample_mixed", always_nan)
    with pytest.raises(SystemExit) as exit_info:
        main([*ARGS, "--out", str(tmp_path / "run")])
    message = str(exit_info.value.code)
    assert message.startswith("mbpo train: SAC losses were non-finite in 10 consecutive env steps")
    assert "env step 110" in message
