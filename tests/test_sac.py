import gymnasium as gym
import pytest
import torch
from torch.distributions import Normal, TanhTransform, TransformedDistribution

from mbpo.buffer import Batch, ReplayBuffer
from mbpo.interaction import EnvRunner
from mbpo.sac import SAC, SACConfig

SMALL = SACConfig(hidden_sizes=(32, 32))


def make_agent(obs_dim=3, act_dim=2, low=-1.0, high=1.0, config=SMALL) -> SAC:
    torch.manual_seed(0)
    return SAC(obs_dim, act_dim, torch.full((act_dim,), low), torch.full((act_dim,), high), -float(act_dim), config)


def test_target_bootstraps_through_truncation_but_not_termination(monkeypatch):
    agent = make_agent()
    b = 2
    # Known next-state values: log π(a'|s') = -2, Q1' = 5, Q2' = 3, α = 1 (its initial value).
    monkeypatch.setattr(agent.actor, "forward", lambda obs, **_: (torch.zeros(b, 2), torch.full((b,), -2.0)))
    monkeypatch.setattr(agent.critic_target, "forward", lambda o, a: (torch.full((b,), 5.0), torch.full((b,), 3.0)))
    batch = Batch(
        obs=torch.zeros(b, 3),
        act=torch.zeros(b, 2),
        rew=torch.tensor([1.0, 1.0]),
        next_obs=torch.zeros(b, 3),
        terminated=torch.tensor([1.0, 0.0]),  # row 1: a time-limit cut is stored as not terminated
    )
    # soft value = min(5, 3) - 1 * (-2) = 5; targets: 1 (terminal) and 1 + 0.99 * 5 = 5.95
    assert torch.allclose(agent.critic_target_value(batch), torch.tensor([1.0, 5.95]))


def test_runner_stores_time_limit_cuts_as_not_terminated():
    env = gym.make("InvertedPendulum-v5", max_episode_steps=5)
    buf = ReplayBuffer(20, 4, 1)
    runner = EnvRunner(env, buf, seed=0)
    for _ in range(12):
        runner.step(torch.zeros(1).numpy())  # a still pole survives 5 steps: every episode is truncated
    stored = buf.all()
    assert stored.terminated.sum() == 0
    assert len(runner.finished_returns) == 2
    # the stored next_obs of the cut step is the true last observation, not the reset one
    assert not torch.equal(stored.next_obs[4], stored.obs[5])


def test_runner_stores_real_terminations():
    env = gym.make("InvertedPendulum-v5")
    buf = ReplayBuffer(200, 4, 1)
    runner = EnvRunner(env, buf, seed=0)
    for _ in range(100):
        runner.step(torch.full((1,), 3.0).numpy())  # full push: the pole falls quickly
    assert buf.all().terminated.sum() >= 1


def test_log_prob_matches_torch_distributions():
    agent = make_agent(act_dim=2, low=-3.0, high=3.0)
    obs = torch.randn(64, 3)
    action, log_prob = agent.actor(obs, generator=torch.Generator().manual_seed(1))
    mean, log_std = agent.actor.net(obs).chunk(2, dim=-1)
    # the density of the squashed action in [-1, 1]^d, where the official target entropies apply
    dist = TransformedDistribution(Normal(mean, log_std.clamp(-20, 2).exp()), [TanhTransform()])
    assert torch.allclose(dist.log_prob(action / 3.0).sum(-1), log_prob, atol=1e-3)
    assert action.abs().max() <= 3.0


def test_deterministic_action_is_the_squashed_mean():
    agent = make_agent()
    obs = torch.randn(5, 3)
    mean = agent.actor.net(obs).chunk(2, dim=-1)[0]
    assert torch.allclose(agent.act(obs, deterministic=True), torch.tanh(mean))


def test_update_returns_device_tensors_and_reduces_critic_loss_on_a_fixed_batch():
    agent = make_agent(config=SACConfig(hidden_sizes=(64, 64), lr=1e-3))
    g = torch.Generator().manual_seed(0)
    batch = Batch(
        obs=torch.randn(256, 3, generator=g),
        act=torch.rand(256, 2, generator=g) * 2 - 1,
        rew=torch.randn(256, generator=g),
        next_obs=torch.randn(256, 3, generator=g),
        terminated=(torch.rand(256, generator=g) < 0.1).float(),
    )
    first = agent.update(batch)
    assert all(isinstance(v, torch.Tensor) and v.numel() == 1 and not v.requires_grad for v in first.values())
    losses = [agent.update(batch)["train/q_loss"] for _ in range(300)]
    assert torch.stack(losses[-20:]).mean() < 0.5 * first["train/q_loss"]


def test_targets_track_critics_by_polyak_averaging():
    agent = make_agent(config=SACConfig(hidden_sizes=(8,), tau=0.5))
    before = [p.clone() for p in agent.critic_target.parameters()]
    batch = Batch(torch.randn(8, 3), torch.zeros(8, 2), torch.ones(8), torch.randn(8, 3), torch.zeros(8))
    agent.update(batch)
    for old, new, online in zip(before, agent.critic_target.parameters(), agent.critic.parameters(), strict=True):
        assert torch.allclose(new, 0.5 * old + 0.5 * online)


@pytest.mark.parametrize("target_entropy", [-10.0, 10.0])
def test_temperature_moves_towards_the_entropy_target(target_entropy):
    agent = make_agent()
    agent.target_entropy = target_entropy
    batch = Batch(torch.randn(64, 3), torch.zeros(64, 2), torch.zeros(64), torch.randn(64, 3), torch.zeros(64))
    for _ in range(20):
        agent.update(batch)
    # entropy far above a low target → α falls; far below a high target → α rises
    assert (agent.alpha < 1.0) if target_entropy < 0 else (agent.alpha > 1.0)


def _fixed_batch(n=64, obs_dim=3, act_dim=2, seed=0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch(
        torch.randn(n, obs_dim, generator=g),
        torch.rand(n, act_dim, generator=g) * 2 - 1,
        torch.randn(n, generator=g),
        torch.randn(n, obs_dim, generator=g),
        (torch.rand(n, generator=g) < 0.1).float(),
    )


def test_training_state_undoes_warmup_updates_exactly():
    """What the CUDA-graph capture relies on (checked on CPU): after take → steps → restore, the next
    update is bit for bit the update of an agent that never stepped."""
    from mbpo.cuda_graph import TrainingState

    batch = _fixed_batch()
    fresh, warmed = make_agent(), make_agent()
    optimizers = [warmed.critic_optim, warmed.actor_optim, warmed.alpha_optim]
    saved = TrainingState.take(warmed, optimizers)
    for _ in range(3):
        warmed.update(_fixed_batch(seed=1))
    saved.restore(warmed, optimizers)
    torch.manual_seed(5)
    want = fresh.update(batch)
    torch.manual_seed(5)
    got = warmed.update(batch)
    assert all(torch.equal(want[k], got[k]) for k in want)
    for a, b in zip(fresh.state_dict().values(), warmed.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_cuda_graph_option_leaves_cpu_updates_eager_and_unchanged():
    batch = _fixed_batch()
    eager = make_agent(config=SACConfig(hidden_sizes=(32, 32), cuda_graph=False))
    graphed = make_agent(config=SACConfig(hidden_sizes=(32, 32), cuda_graph=True))
    for _ in range(3):
        torch.manual_seed(1)
        a = eager.update(batch)
        torch.manual_seed(1)
        b = graphed.update(batch)
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert graphed._graphed is None


def test_loading_optimizer_state_drops_a_captured_update():
    """A captured update replays on the optimizers' old state tensors; after a load it must capture again
    (the behaviour itself is checked on a GPU: tests/test_cuda.py, rewound-as-the-guards-do)."""
    agent = make_agent()
    agent._graphed = object()  # stands in for a capture: this test runs without CUDA
    agent.load_optimizer_state_dict(agent.optimizer_state_dict())
    assert agent._graphed is None


def test_graphed_step_refuses_cpu_tensors():
    from mbpo.cuda_graph import GraphedStep

    agent = make_agent()
    step = GraphedStep(lambda *fields: agent.update(Batch(*fields)), agent, [agent.critic_optim])
    with pytest.raises(RuntimeError, match="CUDA"):
        step(*_fixed_batch())
