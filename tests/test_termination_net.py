"""The learned termination classifier: it learns Hopper's falls from real transitions, predicts never-done
when the data holds no terminal transition, splits its holdout by class, and round-trips its state."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mbpo.config import resolve
from mbpo.envs import make_env
from mbpo.model_usage import rollout_termination
from mbpo.models.termination_net import (
    TerminationNet,
    TerminationNetConfig,
    fit_termination,
    make_termination_optimizer,
    precision_recall,
    stratified_split,
)


def real_transitions(env_name: str, steps: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(next_obs, terminated)`` of a uniformly random policy in the real env (Hopper falls every ~25 steps)."""
    env = make_env(env_name)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    next_obs, terminated = [], []
    for _ in range(steps):
        obs, _, term, trunc, _ = env.step(env.action_space.sample())
        next_obs.append(obs)
        terminated.append(float(term))
        if term or trunc:
            env.reset()
    return torch.tensor(np.array(next_obs), dtype=torch.float32), torch.tensor(terminated)


def test_it_learns_hopper_falls_from_real_transitions() -> None:
    """Acceptance: recall >= 0.9 and precision >= 0.5 on held-out real Hopper transitions (another seed)."""
    x, y = real_transitions("hopper", 12_000, seed=0)
    x_test, y_test = real_transitions("hopper", 4_000, seed=1)
    net = TerminationNet(x.shape[1], TerminationNetConfig())
    fit = fit_termination(net, make_termination_optimizer(net), x, y, torch.Generator().manual_seed(0))
    precision, recall = precision_recall(net.predict(x_test), y_test > 0.5)
    print(f"hopper: {int(y_test.sum())} falls in {len(y_test)} held-out transitions; {precision=:.3f} {recall=:.3f}")
    assert recall >= 0.9 and precision >= 0.5
    assert fit.positives == int(y.sum()) and fit.recall >= 0.9 and fit.precision >= 0.5  # its own holdout agrees


def test_without_a_terminal_transition_it_predicts_never_done() -> None:
    """HalfCheetah never terminates: nothing to learn, so the classifier says never-done (NaN metrics)."""
    x, y = real_transitions("halfcheetah", 300, seed=0)
    assert y.sum() == 0
    cfg = resolve({"env": "halfcheetah", "rollout_termination": "learned"})
    net = TerminationNet(x.shape[1], cfg.termination_net)
    generator = torch.Generator().manual_seed(0)
    before = generator.get_state()
    fit = fit_termination(net, make_termination_optimizer(net), x, y, generator)
    assert math.isnan(fit.precision) and math.isnan(fit.recall) and fit.positives == 0
    assert torch.equal(generator.get_state(), before)  # nothing random was drawn
    is_terminal = rollout_termination(cfg, net)
    assert not is_terminal(torch.randn(50, 4, x.shape[1]) * 100).any()


def test_an_untrained_net_predicts_never_done() -> None:
    net = TerminationNet(3, TerminationNetConfig())
    assert not net.predict(torch.randn(10, 3)).any()


def test_the_holdout_keeps_each_class_share() -> None:
    labels = torch.zeros(1000, dtype=torch.bool)
    labels[:50] = True
    train, held = stratified_split(labels, 200, torch.Generator().manual_seed(0))
    assert len(held) == 200 and int(labels[held].sum()) == 10  # 5% of the holdout, as of all data
    assert sorted(torch.cat([train, held]).tolist()) == list(range(1000))
    one = torch.zeros(100, dtype=torch.bool)
    one[7] = True
    train, held = stratified_split(one, 20, None)
    assert 7 in train.tolist()  # a single fall is learned from, not held out


def test_precision_and_recall_are_nan_where_undefined() -> None:
    none = torch.zeros(4, dtype=torch.bool)
    p, r = precision_recall(none, none)
    assert math.isnan(p) and math.isnan(r)
    p, r = precision_recall(torch.tensor([True, True, False, False]), torch.tensor([True, False, True, False]))
    assert (p, r) == (0.5, 0.5)


def test_the_initial_weights_come_from_the_seed_and_move_no_global_stream() -> None:
    torch.manual_seed(0)
    state = torch.get_rng_state()
    a, b = TerminationNet(5, TerminationNetConfig(), seed=3), TerminationNet(5, TerminationNetConfig(), seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_state_round_trips_the_trained_flag_and_input_statistics() -> None:
    x, y = real_transitions("hopper", 600, seed=2)
    net = TerminationNet(x.shape[1], TerminationNetConfig(steps_per_fit=20))
    fit_termination(net, make_termination_optimizer(net), x, y, torch.Generator().manual_seed(0))
    copy = TerminationNet(x.shape[1], TerminationNetConfig(steps_per_fit=20), seed=9)
    copy.load_state_dict(net.state_dict())
    assert bool(copy.trained) and torch.equal(copy.predict(x), net.predict(x))


@pytest.mark.parametrize("bad", [{"lr": 0.0}, {"threshold": 1.0}, {"hidden_sizes": ()}, {"steps_per_fit": 0}])
def test_bad_classifier_settings_are_refused_by_name(bad: dict) -> None:
    with pytest.raises(ValueError, match=f"termination_net.{next(iter(bad))}"):
        TerminationNetConfig(**bad)
