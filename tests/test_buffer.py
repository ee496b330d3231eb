import pytest
import torch

from mbpo.buffer import Batch, ReplayBuffer, sample_mixed


def numbered(n: int, start: int = 0, obs_dim: int = 2, act_dim: int = 1) -> Batch:
    """Transitions whose every field encodes their index, so order and identity are visible."""
    i = torch.arange(start, start + n, dtype=torch.float32)
    return Batch(
        obs=i[:, None].repeat(1, obs_dim),
        act=i[:, None].repeat(1, act_dim),
        rew=i,
        next_obs=i[:, None].repeat(1, obs_dim) + 0.5,
        terminated=(i % 2),
    )


def test_add_wraps_around_and_overwrites_oldest():
    buf = ReplayBuffer(4, obs_dim=2, act_dim=1)
    for i in range(6):
        buf.add([i, i], [i], float(i), [i + 0.5, i + 0.5], bool(i % 2))
    assert len(buf) == 4 and buf.ptr == 2
    assert buf.all().rew.tolist() == [2, 3, 4, 5]  # chronological, oldest first
    stored = buf.all()
    assert torch.equal(stored.next_obs[:, 0], stored.rew + 0.5)
    assert stored.terminated.tolist() == [0, 1, 0, 1]


def test_add_batch_wraps_and_keeps_newest_when_oversized():
    buf = ReplayBuffer(5, obs_dim=2, act_dim=1)
    buf.add_batch(numbered(3))
    buf.add_batch(numbered(4, start=3))
    assert buf.all().rew.tolist() == [2, 3, 4, 5, 6]
    buf.add_batch(numbered(8, start=100))
    assert buf.all().rew.tolist() == [103, 104, 105, 106, 107]


def test_sample_returns_consistent_stored_transitions():
    buf = ReplayBuffer(100, obs_dim=2, act_dim=1)
    buf.add_batch(numbered(30))
    batch = buf.sample(1000, torch.Generator().manual_seed(0))
    assert batch.obs.shape == (1000, 2) and batch.act.shape == (1000, 1) and batch.rew.shape == (1000,)
    # each sampled row is one whole transition, only from the filled part
    assert torch.equal(batch.obs[:, 0], batch.rew) and torch.equal(batch.act[:, 0], batch.rew)
    assert batch.rew.min() >= 0 and batch.rew.max() <= 29
    assert len(batch.rew.unique()) > 25  # uniform over all 30, not stuck on a few


def test_sample_is_reproducible_with_the_same_generator():
    buf = ReplayBuffer(100, obs_dim=2, act_dim=1)
    buf.add_batch(numbered(50))
    a = buf.sample(64, torch.Generator().manual_seed(3))
    b = buf.sample(64, torch.Generator().manual_seed(3))
    assert torch.equal(a.rew, b.rew)


def test_sample_from_empty_buffer_is_an_error():
    with pytest.raises(RuntimeError, match="empty"):
        ReplayBuffer(3, 2, 1).sample(1)


def test_resize_keeps_the_newest_transitions():
    buf = ReplayBuffer(6, obs_dim=2, act_dim=1)
    buf.add_batch(numbered(9))  # wrapped: holds 3..8
    buf.resize(4)
    assert buf.capacity == 4 and buf.all().rew.tolist() == [5, 6, 7, 8]
    buf.resize(10)
    buf.add_batch(numbered(2, start=50))
    assert buf.all().rew.tolist() == [5, 6, 7, 8, 50, 51]


def test_mixed_batch_takes_the_real_share_from_the_env_buffer():
    env_buf, model_buf = ReplayBuffer(100, 2, 1), ReplayBuffer(100, 2, 1)
    env_buf.add_batch(numbered(50))  # rewards 0..49
    model_buf.add_batch(numbered(50, start=1000))  # rewards 1000..1049
    batch = sample_mixed(env_buf, model_buf, 256, real_ratio=0.05, generator=torch.Generator().manual_seed(0))
    assert len(batch) == 256
    assert int((batch.rew < 1000).sum()) == int(256 * 0.05) == 12


def test_mixed_batch_uses_real_data_while_the_model_buffer_is_empty():
    env_buf, model_buf = ReplayBuffer(100, 2, 1), ReplayBuffer(100, 2, 1)
    env_buf.add_batch(numbered(50))
    batch = sample_mixed(env_buf, model_buf, 64, real_ratio=0.05)
    assert len(batch) == 64 and bool((batch.rew < 50).all())
