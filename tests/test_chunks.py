"""Row chunking (`mbpo.chunks`) must give the same bits as one big call, at the paper's layer shapes."""

from __future__ import annotations

import pytest
import torch

import mbpo.chunks as chunks
from mbpo.chunks import map_row_chunks, row_chunks, rows_per_chunk
from mbpo.models.ensemble import EnsembleConfig, GaussianEnsemble
from mbpo.sac import SAC, SACConfig

# (obs_dim, act_dim) of Hopper, Walker2d/HalfCheetah, Ant (no contact forces), InvertedPendulum.
ENV_DIMS = [(11, 3), (17, 6), (27, 8), (4, 1)]


@pytest.mark.parametrize(("rows", "size"), [(0, 32), (31, 32), (64, 32), (100, 32), (5000, 1024), (100_000, 1024)])
def test_chunks_cover_the_rows_in_order_with_aligned_full_chunks(rows, size):
    ranges = row_chunks(rows, size)
    assert [start for start, _ in ranges] == sorted(start for start, _ in ranges)
    covered = [i for start, stop in ranges for i in range(start, stop)]
    assert covered == list(range(rows))
    assert all(stop - start == size for start, stop in ranges[:-1])  # every chunk but the last: exactly size
    if len(ranges) > 1:
        assert size // 2 <= ranges[-1][1] - ranges[-1][0] < size + size // 2  # no small straggler


def test_chunk_size_follows_the_byte_budget_and_stays_aligned():
    assert rows_per_chunk(256, chunk_bytes=1 << 20) == 1024
    assert rows_per_chunk(5 * 200, chunk_bytes=1 << 20) == 256  # 262 rounded down to a multiple of 32
    assert rows_per_chunk(10**9, chunk_bytes=1 << 20) == 32  # never below one aligned block
    with pytest.raises(ValueError, match="multiple"):
        row_chunks(10, 33)


def test_small_inputs_are_one_call():
    calls = []

    def fn(x):
        calls.append(x.shape[0])
        return x * 2

    map_row_chunks(fn, torch.ones(100, 3), floats_per_row=256)
    assert calls == [100]
    map_row_chunks(fn, torch.ones(5000, 3), floats_per_row=256, chunk_bytes=1 << 20)
    assert calls[1:] == [1024, 1024, 1024, 1024, 904]
    map_row_chunks(fn, torch.ones(4500, 3), floats_per_row=256, chunk_bytes=1 << 20)
    assert calls[6:] == [1024, 1024, 1024, 1428]  # a remainder of 404 < 512 joins the last chunk


@pytest.fixture
def no_chunking(monkeypatch):
    """A context that turns chunking off (a budget no batch exceeds), for the one-big-call reference."""

    def off():
        monkeypatch.setattr(chunks, "CHUNK_BYTES", 1 << 60)

    return off


@pytest.mark.parametrize(("obs_dim", "act_dim"), ENV_DIMS)
def test_policy_on_a_large_batch_is_bit_identical_to_one_call(obs_dim, act_dim, no_chunking):
    torch.manual_seed(0)
    agent = SAC(obs_dim, act_dim, -torch.ones(act_dim), torch.ones(act_dim), -1.0, SACConfig())
    obs = torch.randn(5000, obs_dim)
    chunked = agent.act(obs, generator=torch.Generator().manual_seed(1))
    no_chunking()
    whole = agent.act(obs, generator=torch.Generator().manual_seed(1))
    assert torch.equal(chunked, whole)


def blas_rows_depend_on_the_call(members: int, k: int, n: int) -> bool:
    """Whether this machine's batched matrix product gives a row other bits in a call with more rows.

    Intel's AVX-512 MKL keeps one reduction order per row; on an AMD EPYC (AVX2) it does not for narrow
    outputs (InvertedPendulum's last ensemble layer, 200 -> 10), whatever the chunk size. Chunking can then
    not equal one big call, and that is the BLAS, not the chunking (the golden runs still pin the numbers).
    """
    gen = torch.Generator().manual_seed(0)
    x, w = torch.randn(members, 5003, k, generator=gen), torch.randn(members, k, n, generator=gen)
    return not torch.equal(torch.bmm(x[:, :160], w), torch.bmm(x, w)[:, :160])


@pytest.mark.parametrize(("obs_dim", "act_dim"), ENV_DIMS)
def test_ensemble_holdout_and_rollout_prediction_are_bit_identical_to_one_call(obs_dim, act_dim, no_chunking):
    config = EnsembleConfig()
    if blas_rows_depend_on_the_call(config.num_networks, config.hidden_size, 2 * (obs_dim + 1)):
        pytest.skip(f"this machine's BLAS computes a {config.hidden_size}->{2 * (obs_dim + 1)} row by the call's size")
    gen = torch.Generator().manual_seed(0)
    model = GaussianEnsemble(obs_dim, act_dim, config, generator=gen)
    with torch.no_grad():
        for layer in model.layers:
            layer.bias.normal_(0.0, 0.1, generator=gen)
    model.fit_input_stats(torch.randn(1000, obs_dim + act_dim, generator=gen))
    model.set_elites([0, 2, 3, 5, 6])
    n = 5003  # not a multiple of anything: the last chunk and SiLU's scalar tail are exercised
    obs, act = torch.randn(n, obs_dim, generator=gen), torch.randn(n, act_dim, generator=gen)
    targets = torch.randn(n, obs_dim + 1, generator=gen)
    members, counts = model.sample_elite_members(n, gen)

    def compute():
        holdout = model.holdout_mse(torch.cat([obs, act], dim=-1), targets)
        step = model.predict(obs, act, members, torch.Generator().manual_seed(2), counts=counts)
        return holdout, *step

    chunked = compute()
    no_chunking()
    whole = compute()
    for a, b in zip(chunked, whole, strict=True):
        assert torch.equal(a, b)
