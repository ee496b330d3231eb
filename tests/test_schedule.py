"""The MBPO loop's schedule, pinned on a tiny real run (InvertedPendulum-v5, seconds on one CPU thread).

The loop is instrumented by wrapping, and calling through, the names `mbpo.train` calls: `fit_ensemble`,
`branched_rollout`, `sample_mixed`, and `SAC.update`. Nothing is mocked; every expected number below is
derived by hand from the run's settings, not from the code under test. The official loop (jannerm/mbpo
``mbpo/algorithms/mbpo.py``, ``_train``): after the random warm-up, at every ``model_train_freq``-th env step
refit the model on all real data and branch rollouts of length k(epoch), then take one env step and
``num_train_repeat`` SAC updates on batches of which ``int(batch_size * real_ratio)`` are real.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

import mbpo.train
from mbpo.cli import main
from mbpo.sac import SAC

WARMUP, STEPS = 100, 430  # the run ends mid-epoch, mid refit interval
EPOCH_LENGTH, TRAIN_FREQ = 60, 20
G = 3  # num_train_repeat
BATCH, REAL_RATIO = 10, 0.35  # int(3.5) = 3 real transitions per batch (round() would give 4)
ROLLOUT_BATCH = 30
SCHEDULE = (1, 3, 1, 5)  # k = 1 up to epoch 1, then linear to 5 at epoch 3
# k by epoch, by hand: epochs 0-1: k0 = 1; epoch 2: 1 + (2 - 1) / (3 - 1) * (5 - 1) = 3; from epoch 3: k1 = 5.
K_BY_EPOCH = {0: 1, 1: 1, 2: 3, 3: 5, 4: 5, 5: 5}

ARGS = [
    "train", "--env", "invertedpendulum", "--algo", "mbpo", "--seed", "3", "--steps", str(STEPS),
    "--device", "cpu", "--quiet",
    "--set", f"init_exploration_steps={WARMUP}", "--set", f"epoch_length={EPOCH_LENGTH}",
    "--set", f"model_train_freq={TRAIN_FREQ}", "--set", f"num_train_repeat={G}",
    "--set", f"rollout_batch_size={ROLLOUT_BATCH}", "--set", f"rollout_schedule={list(SCHEDULE)}",
    "--set", f"sac.batch_size={BATCH}", "--set", f"real_ratio={REAL_RATIO}",
    "--set", "sac.hidden_sizes=[16, 16]", "--set", "model.hidden_size=8", "--set", "model.max_epochs=2",
    "--set", "eval_every=1000", "--set", "eval_episodes=1",
]  # fmt: skip


@dataclass
class Trace:
    """What the loop did, in order: ``events`` holds ("fit" | "rollout" | "sample" | "update", details)."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fit_inputs: list[torch.Tensor] = field(default_factory=list)
    env_steps_at_sample: int = 0  # env buffer size at the latest sample_mixed call

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [details for k, details in self.events if k == kind]


def rows_in(rows: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Whether each row of ``rows (n, d)`` is a row of ``table (m, d)``."""
    return (rows[:, None, :] == table[None, :, :]).all(-1).any(-1)


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Trace:
    trace = Trace()
    fit, rollout, sample, update = (
        mbpo.train.fit_ensemble,
        mbpo.train.branched_rollout,
        mbpo.train.sample_mixed,
        SAC.update,
    )

    def traced_fit(model, optimizer, inputs, targets, *args, **kwargs):
        trace.fit_inputs.append(inputs.clone())
        trace.events.append(("fit", {"n_real": len(inputs)}))
        return fit(model, optimizer, inputs, targets, *args, **kwargs)

    def traced_rollout(model, agent, is_terminal, start_obs, length, *args, **kwargs):
        trace.events.append(("rollout", {"k": length, "starts": len(start_obs)}))
        return rollout(model, agent, is_terminal, start_obs, length, *args, **kwargs)

    def traced_sample(env_buffer, model_buffer, batch_size, real_ratio, *args, **kwargs):
        batch = sample(env_buffer, model_buffer, batch_size, real_ratio, *args, **kwargs)
        pairs = torch.cat([batch.obs, batch.act], dim=-1)
        real = torch.cat([env_buffer.all().obs, env_buffer.all().act], dim=-1)
        imagined = torch.cat([model_buffer.all().obs, model_buffer.all().act], dim=-1)
        trace.env_steps_at_sample = len(env_buffer)
        trace.events.append(
            (
                "sample",
                {
                    "env_steps": len(env_buffer),
                    "size": len(batch),
                    "from_env": rows_in(pairs, real).tolist(),
                    "from_model": rows_in(pairs, imagined).tolist() if len(model_buffer) else [False] * len(batch),
                },
            )
        )
        return batch

    def traced_update(self, batch):
        trace.events.append(("update", {"env_steps": trace.env_steps_at_sample}))
        return update(self, batch)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mbpo.train, "fit_ensemble", traced_fit)
        patch.setattr(mbpo.train, "branched_rollout", traced_rollout)
        patch.setattr(mbpo.train, "sample_mixed", traced_sample)
        patch.setattr(SAC, "update", traced_update)
        torch.set_num_threads(1)
        main([*ARGS, "--out", str(tmp_path_factory.mktemp("schedule"))])
    return trace


def test_the_first_model_fit_comes_before_the_first_sac_update(trace: Trace) -> None:
    kinds = [kind for kind, _ in trace.events]
    assert kinds.index("fit") < kinds.index("rollout") < kinds.index("update")


def test_fits_every_train_freq_steps_after_the_warmup_on_all_real_data(trace: Trace) -> None:
    # A fit before env step s (1-based) sees s - 1 transitions; fits come at s = WARMUP + 1 + j * TRAIN_FREQ.
    expected = list(range(WARMUP, STEPS, TRAIN_FREQ))  # 100, 120, ..., 420
    assert [f["n_real"] for f in trace.of("fit")] == expected
    for previous, current in zip(trace.fit_inputs, trace.fit_inputs[1:], strict=False):
        assert torch.equal(current[: len(previous)], previous)  # all data so far, oldest first, none dropped


def test_rollout_length_follows_the_schedule_by_epoch(trace: Trace) -> None:
    rollouts = trace.of("rollout")
    fits = trace.of("fit")
    assert len(rollouts) == len(fits)
    epochs = [(f["n_real"] - WARMUP) // EPOCH_LENGTH for f in fits]  # epochs count from the end of the warm-up
    assert [r["k"] for r in rollouts] == [K_BY_EPOCH[e] for e in epochs]
    assert sorted(set(epochs)) == sorted(K_BY_EPOCH)  # the run crosses every epoch of the table
    assert all(r["starts"] == ROLLOUT_BATCH for r in rollouts)


def test_exactly_g_sac_updates_per_env_step_after_the_warmup_and_none_before(trace: Trace) -> None:
    per_step: dict[int, int] = {}
    for u in trace.of("update"):
        per_step[u["env_steps"]] = per_step.get(u["env_steps"], 0) + 1
    assert per_step == {step: G for step in range(WARMUP + 1, STEPS + 1)}


def test_every_batch_holds_int_batch_size_times_real_ratio_real_transitions(trace: Trace) -> None:
    n_real = int(BATCH * REAL_RATIO)
    samples = trace.of("sample")
    assert len(samples) == G * (STEPS - WARMUP)
    for s in samples:
        assert s["size"] == BATCH
        assert s["from_env"] == [True] * n_real + [False] * (BATCH - n_real), s
        assert s["from_model"] == [False] * n_real + [True] * (BATCH - n_real), s
