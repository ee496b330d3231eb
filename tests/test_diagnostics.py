"""Model diagnostics against hand-computed values: segments, compounding error, policy shift, the bound's k*.

The compounding-error tests use a hand-made model: a real `GaussianEnsemble` whose weights are set so that
its mean is an exact linear map. SiLU is not linear, but ``silu(z) - silu(-z) = z`` exactly, so a hidden
layer computing ``[x, -x]`` followed by weights ``[I, -I]`` passes ``x`` through unchanged; the log-variance
is pinned near e^-30 so that sampling adds ~3e-7. The "real" trajectories come from the same linear system
(no MuJoCo), in several episodes so that segmenting is exercised too.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mbpo.buffer import Batch
from mbpo.config import ConfigError, resolve
from mbpo.diagnostics.bound import (
    branched_rollout_gap,
    optimal_rollout_length,
    optimal_rollout_length_closed_form,
)
from mbpo.diagnostics.compounding import (
    ErrorScale,
    elite_one_step_mse,
    mean_stepper,
    open_loop_errors,
    sample_stepper,
)
from mbpo.diagnostics.multistep import DirectModel, direct_errors, fit_direct
from mbpo.diagnostics.policy_shift import gaussian_kl, pinsker_tv, policy_shift
from mbpo.diagnostics.segments import Segments, run_lengths, windows
from mbpo.models.ensemble import EnsembleConfig, GaussianEnsemble
from mbpo.sac import TanhGaussianActor

OBS, ACT, K = 3, 2, 25


# ---------------------------------------------------------------------------------------------- helpers


def linear_system(alpha: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``s' = alpha s + B a`` and ``r = c·s + d·a``: returns ``(B (ACT, OBS), c (OBS,), d (ACT,))``."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(ACT, OBS, generator=g) * 0.3, torch.randn(OBS, generator=g), torch.randn(ACT, generator=g)


def trajectories(alpha: float, episode_lengths: list[int], terminal_last: list[bool], seed: int = 1) -> Batch:
    """Chronological transitions of the linear system, one reset (a fresh random state) per episode."""
    b, c, d = linear_system(alpha)
    g = torch.Generator().manual_seed(seed)
    parts = []
    for length, terminal in zip(episode_lengths, terminal_last, strict=True):
        s = torch.randn(OBS, generator=g)
        for t in range(length):
            a = torch.rand(ACT, generator=g) * 2 - 1
            s_next = alpha * s + a @ b
            done = float(terminal and t == length - 1)
            parts.append((s, a, c @ s + d @ a, s_next, done))
            s = s_next
    obs, act, rew, nxt, term = zip(*parts, strict=True)
    return Batch(torch.stack(obs), torch.stack(act), torch.stack(rew), torch.stack(nxt), torch.tensor(term))


def exact_linear_ensemble(alpha: float, state_bias: float = 0.0, reward_bias: float = 0.0) -> GaussianEnsemble:
    """A GaussianEnsemble whose every member's mean is exactly ``(Δs, r)`` of `linear_system` (+ biases)."""
    b, c, d = linear_system(alpha)
    n_in = OBS + ACT
    cfg = EnsembleConfig(num_networks=3, num_elites=2, hidden_size=2 * n_in, num_layers=2, weight_decays=(0,) * 3)
    model = GaussianEnsemble(OBS, ACT, cfg)
    eye = torch.eye(n_in)
    w_out = torch.zeros(n_in, OBS + 1)  # x = [s, a] -> [Δs, r]
    w_out[:OBS, :OBS] = (alpha - 1) * torch.eye(OBS)
    w_out[OBS:, :OBS] = b
    w_out[:OBS, OBS] = c
    w_out[OBS:, OBS] = d
    with torch.no_grad():
        first, middle, last = model.layers
        first.weight.copy_(torch.cat([eye, -eye], dim=1).expand(3, -1, -1))  # x -> [x, -x]
        first.bias.zero_()
        middle.weight.copy_(torch.cat([torch.cat([eye, -eye], 1), torch.cat([-eye, eye], 1)]).expand(3, -1, -1))
        middle.bias.zero_()
        mean_part = torch.cat([w_out, -w_out])  # [silu(x), silu(-x)] -> x @ w_out
        last.weight.copy_(torch.cat([mean_part, torch.zeros(2 * n_in, OBS + 1)], dim=1).expand(3, -1, -1))
        bias = torch.cat([torch.full((OBS,), state_bias), torch.tensor([reward_bias]), torch.full((OBS + 1,), -30.0)])
        last.bias.copy_(bias.expand(3, 1, -1))
        model.max_logvar.fill_(-25.0)
        model.min_logvar.fill_(-40.0)
    model.set_elites([2, 0])
    return model


# ---------------------------------------------------------------------------------------------- segments


def test_run_lengths_break_at_terminations_and_resets():
    data = trajectories(0.9, [4, 3, 2], [True, False, False])  # ends: terminated, time-limit cut, buffer end
    assert run_lengths(data).tolist() == [4, 3, 2, 1, 3, 2, 1, 2, 1]
    assert run_lengths(data, cap=2).tolist() == [2, 2, 2, 1, 2, 2, 1, 2, 1]


def test_segments_pad_with_the_last_real_step_and_count_who_reaches_k():
    data = trajectories(0.9, [4, 3], [False, False])
    seg = Segments.from_transitions(data, horizon=3)
    assert seg.length.tolist() == [3, 3, 2, 1, 3, 2, 1]
    assert seg.count() == [7, 5, 3]
    assert torch.equal(seg.next_obs[2], data.next_obs[[2, 3, 3]])  # step 2 of a 2-step segment repeats step 1
    few = Segments.from_transitions(data, horizon=3, max_segments=3)
    assert torch.equal(few.start, data.obs[[0, 3, 6]])


def test_windows_hold_the_k_step_change_and_the_reward_sum():
    data = trajectories(0.9, [4, 3], [False, False])
    obs, actions, delta, ret = windows(data, 3)
    assert len(obs) == 3  # starts 0, 1 (episode 1) and 4 (episode 2)
    assert torch.equal(actions[2], data.act[4:7])
    assert torch.allclose(delta[1], data.next_obs[3] - data.obs[1])
    assert torch.allclose(ret[0], data.rew[0:3].sum())


# ---------------------------------------------------------------------------------------------- compounding


@pytest.mark.parametrize("alpha", [1.0, 0.9])
def test_an_exactly_learned_model_has_no_error_at_any_k(alpha):
    data = trajectories(alpha, [60, 40, 30], [False, True, False])
    model = exact_linear_ensemble(alpha)
    seg = Segments.from_transitions(data, K)
    scale = ErrorScale.of(data)
    generator = torch.Generator().manual_seed(0)
    for step in (mean_stepper(model), sample_stepper(model, len(seg), K, generator)):
        errors = open_loop_errors(step, seg, scale)
        assert max(errors.state_err) < 1e-9 and max(errors.reward_err) < 1e-9 and max(errors.return_err) < 1e-9
        assert errors.n_segments[0] == 130 and errors.n_segments[K - 1] == 36 + 16 + 6
    assert elite_one_step_mse(model, data) < 1e-10


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_a_biased_model_compounds_its_error_as_computed_by_hand(alpha):
    """Δs off by b per dim and r by β: the state error is e_k = α e_{k-1} + b (e_0 = 0), and the k-th
    reward is off by c·e_{k-1} + β. With α = 1 that is the linear law e_k = k b; with α = 0.5 it saturates."""
    b_s, beta = 0.02, 0.1
    data = trajectories(alpha, [50, 50], [False, False])
    model = exact_linear_ensemble(alpha, state_bias=b_s, reward_bias=beta)
    sigma = torch.tensor([0.5, 1.0, 2.0])
    scale = ErrorScale(state=sigma, reward=2.0)
    errors = open_loop_errors(mean_stepper(model), Segments.from_transitions(data, K), scale)

    _, c, _ = linear_system(alpha)
    e = np.zeros(K + 1)  # e[k] per dim (the same for every dim)
    for k in range(1, K + 1):
        e[k] = alpha * e[k - 1] + b_s
    state = [float(np.mean((e[k] / sigma.numpy()) ** 2)) for k in range(1, K + 1)]
    reward_off = np.array([float(c.sum()) * e[k - 1] + beta for k in range(1, K + 1)])
    reward = list((reward_off / 2.0) ** 2)
    ret = [(reward_off[:k].sum() / (k * 2.0)) ** 2 for k in range(1, K + 1)]
    np.testing.assert_allclose(errors.state_err, state, rtol=1e-3)
    np.testing.assert_allclose(errors.reward_err, reward, rtol=1e-3)
    np.testing.assert_allclose(errors.return_err, ret, rtol=1e-3)
    if alpha == 1.0:  # the RMS error is exactly ε·k
        rms = np.sqrt(errors.state_err)
        np.testing.assert_allclose(rms, rms[0] * np.arange(1, K + 1), rtol=1e-3)


def test_rows_skip_horizons_no_segment_reaches():
    data = trajectories(0.9, [5, 5], [False, False])
    errors = open_loop_errors(
        mean_stepper(exact_linear_ensemble(0.9)), Segments.from_transitions(data, 8), ErrorScale.of(data)
    )
    rows = errors.rows(env_step=100, kind="mean")
    assert [r["k"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["n_segments"] == 10 and rows[-1]["n_segments"] == 2
    assert all(math.isnan(x) for x in errors.state_err[5:])


# ---------------------------------------------------------------------------------------------- direct model


def test_the_direct_model_learns_a_linear_k_step_map():
    data = trajectories(0.8, [200] * 10, [False] * 10)
    model = DirectModel(OBS, ACT, k=5, hidden_size=64, num_layers=2, generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    fit = fit_direct(model, optimizer, *windows(data, 5), torch.Generator().manual_seed(1), max_epochs=40)
    held_out = trajectories(0.8, [100], [False], seed=9)
    seg = Segments.from_transitions(held_out, 5)
    scale = ErrorScale.of(held_out)
    errors = direct_errors(model, seg, scale.state, scale.reward)
    # predicting "no change" instead: the state moves by (0.8^5 - 1) s + ..., far more than the fit's error
    still = ((seg.next_obs[:, 4] - seg.start) / scale.state).square().mean(-1)[seg.length >= 5].mean()
    assert fit.epochs >= 5 and errors["n_segments"] == 96
    assert errors["state_err"] < 0.02 * float(still)


# ---------------------------------------------------------------------------------------------- policy shift


def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mp, mq, lp, lq = (torch.randn(5, 3, generator=g) * 0.5 for _ in range(4))
    p, q = torch.distributions.Normal(mp, lp.exp()), torch.distributions.Normal(mq, lq.exp())
    torch.testing.assert_close(gaussian_kl(mp, lp, mq, lq), torch.distributions.kl_divergence(p, q).sum(-1))
    assert pinsker_tv(torch.tensor([0.0, 0.02, 8.0])).tolist() == pytest.approx([0.0, 0.1, 1.0])


def test_policy_shift_is_zero_for_the_same_policy_and_grows_with_a_moved_mean():
    torch.manual_seed(0)
    actor = TanhGaussianActor(OBS, ACT, (16,), low=[-1, -1], high=[1, 1])
    obs = torch.randn(50, OBS)
    assert policy_shift(actor, actor, obs).tv_mean == 0.0
    moved = TanhGaussianActor(OBS, ACT, (16,), low=[-1, -1], high=[1, 1])
    moved.load_state_dict(actor.state_dict())
    with torch.no_grad():
        moved.net[-1].bias[:ACT] += 0.1  # every pre-tanh mean moves by 0.1 in each of the ACT dims
    shift = policy_shift(actor, moved, obs)
    with torch.no_grad():
        _, log_std = actor.net(obs).chunk(2, -1)
    kl = (0.1**2 / (2 * (2 * log_std.clamp(-20, 2)).exp())).sum(-1)  # equal stds: KL is symmetric
    assert shift.kl_mean == pytest.approx(float(kl.mean()), rel=1e-4)
    assert shift.tv_mean == pytest.approx(float((kl / 2).sqrt().clamp(max=1).mean()), rel=1e-4)
    assert shift.tv_max >= shift.tv_mean


# ---------------------------------------------------------------------------------------------- the bound


def test_the_bound_gap_is_theorem_4_3_evaluated_by_hand():
    # γ = 0.9, ε_π = 0.1, ε_m' = 0.02, r_max = 1, k = 2:
    # 2 [0.9^3 · 0.1 / 0.01 + 0.9^2 · 0.1 / 0.1 + 2 · 0.02 / 0.1] = 2 [7.29 + 0.81 + 0.4] = 17.0
    assert branched_rollout_gap(2, 0.02, 0.1, 0.9) == pytest.approx(17.0)


@pytest.mark.parametrize(
    ("eps_model", "eps_policy", "gamma", "k_star"),
    [
        # gap / (2 ε_π/(1−γ)) = γ^k/(1−γ) + k ρ; its step ρ − γ^k turns >= 0 at the argmin:
        (0.02, 0.1, 0.9, 16),  # ρ = 0.2: 0.9^15 = 0.206 > 0.2 >= 0.9^16 = 0.185
        (0.05, 0.1, 0.9, 7),  # ρ = 0.5: 0.9^6 = 0.531 > 0.5 >= 0.9^7 = 0.478
        (0.3, 0.1, 0.99, 0),  # ε_m' > ε_π: the model never pays off
        (0.0985, 0.1, 0.99, 2),  # ρ = 0.985: 0.99 > 0.985 >= 0.99^2 = 0.9801
        (0.0, 0.0, 0.99, 0),  # no error, no shift: every k is equally good
        (0.5, 0.9, 0.99, 59),  # ρ = 5/9: 0.99^58 = 0.5583 > 0.5556 >= 0.99^59 = 0.5527
    ],
)
def test_k_star_is_the_hand_computed_argmin(eps_model, eps_policy, gamma, k_star):
    assert optimal_rollout_length(eps_model, eps_policy, gamma) == k_star
    gaps = [branched_rollout_gap(k, eps_model, eps_policy, gamma) for k in range(k_star + 3)]
    assert int(np.argmin(gaps)) == k_star  # the same, by brute force over a short range
    assert optimal_rollout_length(eps_model, eps_policy, gamma) == optimal_rollout_length_closed_form(
        eps_model, eps_policy, gamma
    )
    # r_max only scales the gap: the argmin does not move
    scaled = branched_rollout_gap(np.arange(200), eps_model, eps_policy, gamma, r_max=37.0)
    assert int(np.argmin(scaled)) == k_star


def test_k_star_is_capped_and_rejects_bad_errors():
    assert optimal_rollout_length(1e-9, 0.5, 0.99, max_k=50) == 50
    with pytest.raises(ValueError, match="finite"):
        optimal_rollout_length(math.nan, 0.1, 0.99)


# ---------------------------------------------------------------------------------------------- config


def test_diagnostics_are_off_by_default_and_set_like_any_section():
    assert resolve({"env": "hopper"}).diagnostics.every == 0
    cfg = resolve({"env": "hopper"}, {"diagnostics": {"every": 5, "multistep_horizons": [1, 5]}})
    assert cfg.diagnostics.every == 5 and cfg.diagnostics.multistep_horizons == (1, 5)
    with pytest.raises(ConfigError, match=r"diagnostics\.every"):
        resolve({"env": "hopper"}, {"diagnostics": {"every": -1}})
    with pytest.raises(ConfigError, match="multistep_horizons"):
        resolve({"env": "hopper"}, {"diagnostics": {"horizon": 10, "multistep_horizons": [25]}})
