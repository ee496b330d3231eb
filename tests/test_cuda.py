"""The CUDA path, checked on a GPU; every test here is skipped where torch sees none (CI has none).

What the CPU tests cannot show: that the captured SAC update (`mbpo.cuda_graph`) does the eager update's
arithmetic, that the ensemble predicts on the GPU what it predicts on the CPU, and that real runs train,
repeat and resume with every tensor on the device. Run on a GPU machine: ``pytest tests/test_cuda.py``.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import yaml

from mbpo.buffer import Batch
from mbpo.cli import main
from mbpo.provenance import read_provenance
from mbpo.sac import SAC, SACConfig
from tests.golden import GOLDEN_RUNS, read_without_timing
from tests.test_ensemble import _model
from tests.test_resume import SAC_ARGS, Crash, crash_at  # noqa: F401  (crash_at is a fixture)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

CUDA = torch.device("cuda")
OBS, ACT, BATCH, UPDATES = 11, 3, 128, 20


def _agent(cuda_graph: bool) -> SAC:
    torch.manual_seed(0)
    config = SACConfig(hidden_sizes=(64, 64), batch_size=BATCH, cuda_graph=cuda_graph)
    return SAC(OBS, ACT, -torch.ones(ACT), torch.ones(ACT), -float(ACT), config).to(CUDA)


def _batches(n: int) -> list[Batch]:
    gen = torch.Generator(device=CUDA).manual_seed(1)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, device=CUDA, generator=gen)

    done = (torch.rand(n, BATCH, device=CUDA, generator=gen) < 0.1).float()
    return [
        Batch(randn(BATCH, OBS), randn(BATCH, ACT).tanh(), randn(BATCH), randn(BATCH, OBS), done[i]) for i in range(n)
    ]


@pytest.mark.parametrize("rewind", [False, True], ids=["straight", "rewound-as-the-guards-do"])
def test_the_captured_sac_update_does_the_eager_updates_arithmetic(monkeypatch: pytest.MonkeyPatch, rewind) -> None:
    """Same start, same batches, same policy noise: a graph that kept its warm-up steps, captured a stale
    input or lost the optimizers' state would drift from the eager agent at the first update. Rewound
    (weights and optimizer state loaded from a snapshot, as `mbpo.guards` does after a non-finite update), a
    graph still replaying on the optimizers' old state tensors would drift after the rewind.

    The noise is the one thing a graph may draw differently, so both agents get one fixed noise tensor
    instead of ``torch.randn``'s draws.
    """
    batches = _batches(UPDATES)
    noise = torch.randn(BATCH, ACT, device=CUDA, generator=torch.Generator(device=CUDA).manual_seed(2))

    def fixed_noise(shape, *, device=None, dtype=None, generator=None) -> torch.Tensor:
        assert tuple(shape) == (BATCH, ACT), shape
        return noise

    eager, graphed = _agent(cuda_graph=False), _agent(cuda_graph=True)
    monkeypatch.setattr(torch, "randn", fixed_noise)
    snapshots = []
    for step, batch in enumerate(batches):
        if rewind and step == 5:
            snapshots = [copy.deepcopy((a.state_dict(), a.optimizer_state_dict())) for a in (eager, graphed)]
        if rewind and step == 12:
            for agent, (weights, optim) in zip((eager, graphed), snapshots, strict=True):
                agent.load_state_dict(weights)
                agent.load_optimizer_state_dict(optim)
        want, got = eager.update(batch), graphed.update(batch)
        for key in want:
            torch.testing.assert_close(got[key], want[key], rtol=1e-4, atol=1e-6, msg=f"{key} at update {step}")
    assert graphed._graphed is not None and graphed._graphed.graph is not None  # it did replay a graph
    for (name, want), got in zip(eager.state_dict().items(), graphed.state_dict().values(), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6, msg=name)


def test_the_captured_update_reads_each_new_batch() -> None:
    """Replays copy every call's batch into the graph's static inputs: different batches, different losses."""
    agent = _agent(cuda_graph=True)
    first, second = _batches(2)
    losses = [agent.update(b)["train/q_loss"] for b in (first, first, second)]
    assert all(torch.isfinite(loss) for loss in losses)
    assert not torch.equal(losses[1], losses[2])


def test_the_ensemble_predicts_on_the_gpu_what_it_predicts_on_the_cpu() -> None:
    cpu = _model()
    gpu = _model().to(CUDA)
    gen = torch.Generator().manual_seed(3)
    obs, act = torch.randn(512, 3, generator=gen), torch.randn(512, 2, generator=gen)
    members = torch.randint(4, (512,), generator=gen)
    for want, got in zip(cpu.predict_all(obs, act), gpu.predict_all(obs.to(CUDA), act.to(CUDA)), strict=True):
        torch.testing.assert_close(got.cpu(), want, rtol=1e-5, atol=1e-5)
    want = cpu.predict(obs, act, members, deterministic=True)
    got = gpu.predict(obs.to(CUDA), act.to(CUDA), members.to(CUDA), deterministic=True)
    for w, g in zip(want, got, strict=True):
        torch.testing.assert_close(g.cpu(), w, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------- real runs

MBPO_ARGS = ["train", *GOLDEN_RUNS["mbpo"], "--device", "cuda", "--quiet"]
CUDA_SAC_ARGS = [a if a != "cpu" else "cuda" for a in SAC_ARGS]


def _finite(rows: list[dict[str, str]], column: str) -> list[float]:
    values = [float(r[column]) for r in rows if r[column] != ""]
    assert values and all(math.isfinite(v) for v in values), column
    return values


# The default on CUDA is the captured update; `sac.cuda_graph=false` is the eager one.
GRAPH_SETTINGS = pytest.mark.parametrize("eager", [True, False], ids=["eager", "default-cuda-graph"])


def _graph_args(eager: bool) -> list[str]:
    return ["--set", "sac.cuda_graph=false"] if eager else []


@GRAPH_SETTINGS
def test_an_mbpo_run_on_the_gpu_trains_and_repeats_with_the_same_seed(tmp_path, eager: bool) -> None:
    for name in ("a", "b"):
        main([*MBPO_ARGS, *_graph_args(eager), "--out", str(tmp_path / name)])
    recorded = yaml.safe_load((tmp_path / "a" / "config.yaml").read_text())
    assert recorded["sac"]["cuda_graph"] is not eager  # what the run did, not "left to the device"
    rows = read_without_timing(tmp_path / "a" / "metrics.csv")
    assert int(float(rows[-1]["env_step"])) == 600
    _finite(rows, "eval_return_mean")
    _finite(rows, "train/q_loss")
    assert read_provenance(tmp_path / "a")["machine"]["gpu"] == torch.cuda.get_device_name(0)
    assert read_without_timing(tmp_path / "b" / "metrics.csv") == rows


@GRAPH_SETTINGS
def test_a_crashed_gpu_run_resumes_to_the_uninterrupted_metrics(tmp_path, crash_at, eager: bool) -> None:  # noqa: F811
    """The checkpoint carries the CUDA generators too (a graph's replays advance them): a resumed GPU run
    repeats the uninterrupted one."""
    args = [*CUDA_SAC_ARGS, *_graph_args(eager)]
    main([*args, "--out", str(tmp_path / "whole")])
    crash_at("env_step@250")
    with pytest.raises(Crash):
        main([*args, "--out", str(tmp_path / "resumed")])
    crash_at(None)
    main([*args, "--out", str(tmp_path / "resumed")])
    assert read_without_timing(tmp_path / "resumed" / "metrics.csv") == read_without_timing(
        tmp_path / "whole" / "metrics.csv"
    )
