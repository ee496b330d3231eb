"""The uncertainty penalty: on an ensemble whose members' outputs are set by hand, the penalised reward is
the plain rollout's reward minus exactly λ·u, with u = 0 where the elites agree and the hand value where
they differ; and the plain path is not touched."""

from __future__ import annotations

import math

import pytest
import torch

from mbpo.models.ensemble import EnsembleConfig, GaussianEnsemble
from mbpo.rollout import branched_rollout
from mbpo.sac import SAC, SACConfig
from mbpo.uncertainty import RewardPenalty, aleatoric, disagreement, penalty_metrics

OBS, ACT = 2, 1  # outputs O = 3: (Δs_0, Δs_1, r)


def constant_ensemble(means: dict[int, list[float]], raw_logvars: dict[int, list[float]] | None = None):
    """Member m outputs mean ``means[m]`` (and raw log-variance ``raw_logvars[m]``, default very small) for
    every input: all weights zero, the last layer's bias set. Elites: the members listed in ``means``."""
    model = GaussianEnsemble(OBS, ACT, EnsembleConfig(num_networks=4, num_elites=len(means), hidden_size=8))
    with torch.no_grad():
        for layer in model.layers:
            layer.weight.zero_()
            layer.bias.zero_()
        bias = model.layers[-1].bias  # (E, 1, 2 O): mean, then raw log-variance
        bias[:, 0, OBS + 1 :] = -50.0  # clamps to min_logvar: std ~7e-3
        for m, mean in means.items():
            bias[m, 0, : OBS + 1] = torch.tensor(mean)
            if raw_logvars is not None:
                bias[m, 0, OBS + 1 :] = torch.tensor(raw_logvars[m])
    model.set_elites(list(means))
    return model


def agent() -> SAC:
    torch.manual_seed(0)
    return SAC(OBS, ACT, -torch.ones(ACT), torch.ones(ACT), -1.0, SACConfig(hidden_sizes=(8,)))


def never(next_obs: torch.Tensor) -> torch.Tensor:
    return torch.zeros(next_obs.shape[:-1], dtype=torch.bool)


def rollouts(model: GaussianEnsemble, penalty: RewardPenalty, length: int = 3):
    """The same rollout (same generator seed) without and with the penalty."""
    start = torch.randn(500, OBS, generator=torch.Generator().manual_seed(1))
    policy = agent()
    plain = branched_rollout(model, policy, never, start, length, torch.Generator().manual_seed(0))
    penalised = branched_rollout(model, policy, never, start, length, torch.Generator().manual_seed(0), penalty)
    return plain, penalised


def test_agreeing_elites_give_no_penalty() -> None:
    model = constant_ensemble({0: [0.5, -1.0, 2.0], 2: [0.5, -1.0, 2.0], 3: [0.5, -1.0, 2.0]})
    plain, penalised = rollouts(model, RewardPenalty(coef=2.0))
    assert torch.equal(penalised.uncertainty, torch.zeros_like(penalised.uncertainty))
    torch.testing.assert_close(penalised.transitions.rew, plain.transitions.rew)
    torch.testing.assert_close(penalised.transitions.next_obs, plain.transitions.next_obs)


def test_the_penalty_is_lambda_times_the_std_of_the_elite_means() -> None:
    # Two elites whose means differ by (2, 0, 2): the std across them (ddof 0) is (1, 0, 1), u = sqrt(2).
    model = constant_ensemble({1: [0.0, 0.0, 0.0], 3: [2.0, 0.0, 2.0]})
    plain, penalised = rollouts(model, RewardPenalty(coef=0.5))
    assert len(plain.transitions) == len(penalised.transitions) == 1500
    torch.testing.assert_close(penalised.uncertainty, torch.full((1500,), math.sqrt(2.0)))
    # The same samples (same member, same noise) as the plain rollout; only the reward moves, by λ·u.
    torch.testing.assert_close(penalised.transitions.next_obs, plain.transitions.next_obs)
    torch.testing.assert_close(penalised.transitions.rew, plain.transitions.rew - 0.5 * math.sqrt(2.0))


def test_the_aleatoric_measure_is_the_largest_elite_std_norm() -> None:
    raw = {0: [-1.0, -1.0, -1.0], 2: [0.0, -2.0, 0.0]}
    model = constant_ensemble({0: [0.0, 0.0, 1.0], 2: [0.0, 0.0, 1.0]}, raw)
    _, penalised = rollouts(model, RewardPenalty(coef=1.0, uncertainty="aleatoric"), length=1)
    logvar = model.soft_clamp_logvar(torch.tensor([raw[0], raw[2]]))  # what the model turns them into
    expected = torch.exp(0.5 * logvar).norm(dim=-1).max()
    torch.testing.assert_close(penalised.uncertainty, expected.expand(500))


def test_measures_on_hand_made_tensors() -> None:
    means = torch.tensor([[[1.0, 2.0]], [[3.0, 2.0]], [[2.0, 2.0]]])  # (G=3, B=1, O=2)
    assert disagreement(means).item() == pytest.approx(math.sqrt(2.0 / 3.0))  # std of (1, 3, 2), ddof 0
    logvars = torch.log(torch.tensor([[[1.0, 4.0]], [[9.0, 0.0]], [[0.0, 0.0]]]).clamp_min(1e-30))
    assert aleatoric(logvars).item() == pytest.approx(3.0)  # norms (sqrt 5, 3, 0): the largest


def test_penalty_metrics_share_of_the_reward_removed() -> None:
    penalised = torch.tensor([0.5, -1.5, float("nan")])  # raw rewards 1 and -1 (a NaN row is left out)
    u = torch.tensor([1.0, 1.0, 1.0])
    got = penalty_metrics(penalised, u, coef=0.5)
    assert got == {"rollout/uncertainty": 1.0, "rollout/penalty": 0.5, "rollout/penalty_share": 0.5}


def test_an_unknown_measure_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown uncertainty 'epistemic'; allowed: disagreement, aleatoric"):
        RewardPenalty(1.0, "epistemic")
