"""The batched Gaussian ensemble against plain per-member MLPs and hand-computed numbers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mbpo.models.ensemble import EnsembleConfig, EnsembleLinear, GaussianEnsemble

OBS, ACT = 3, 2
SMALL = EnsembleConfig(num_networks=4, num_elites=2, hidden_size=8, num_layers=2, weight_decays=(1e-3, 2e-3, 3e-3))


def _model(config: EnsembleConfig = SMALL, seed: int = 0) -> GaussianEnsemble:
    model = GaussianEnsemble(OBS, ACT, config, generator=torch.Generator().manual_seed(seed))
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for layer in model.layers:  # non-zero biases so that a bias mix-up would show
            layer.bias.normal_(0.0, 0.3, generator=gen)
        model.max_logvar.copy_(torch.rand(1, OBS + 1, generator=gen) * 0.5)
        model.min_logvar.copy_(-1.0 - torch.rand(1, OBS + 1, generator=gen))
    model.fit_input_stats(torch.randn(64, OBS + ACT, generator=gen) * 3.0 + 1.0)
    return model


def _plain_mlp(model: GaussianEnsemble, member: int) -> nn.Sequential:
    """The member's network as a plain torch MLP, weights copied in (nn.Linear stores W transposed)."""
    mods: list[nn.Module] = []
    for i, layer in enumerate(model.layers):
        lin = nn.Linear(layer.in_features, layer.out_features)
        with torch.no_grad():
            lin.weight.copy_(layer.weight[member].T)
            lin.bias.copy_(layer.bias[member, 0])
        mods.append(lin)
        if i < len(model.layers) - 1:
            mods.append(nn.SiLU())
    return nn.Sequential(*mods)


def _reference(model: GaussianEnsemble, member: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """mean, clamped logvar of one member on raw inputs ``x (B, I)``."""
    out = _plain_mlp(model, member)((x - model.input_mean) / model.input_std)
    mean, raw = out[:, : OBS + 1], out[:, OBS + 1 :]
    hi, lo = model.max_logvar, model.min_logvar
    logvar = hi - torch.log1p(torch.exp(hi - raw))
    logvar = lo + torch.log1p(torch.exp(logvar - lo))
    return mean, logvar


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"num_elites": 8}, "num_elites"),
        ({"num_elites": 0}, "num_elites"),
        ({"num_networks": 0}, "num_networks"),
        ({"weight_decays": (1e-4,) * 4}, "weight_decays"),
        ({"weight_decays": (1e-4, 1e-4, 1e-4, 1e-4, -1.0)}, "weight_decays"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"lr": 0.0}, "lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"holdout_ratio": 1.0}, "holdout_ratio"),
        ({"max_epochs": 0}, "max_epochs"),
        ({"max_train_seconds": 0.0}, "max_train_seconds"),
        ({"max_epochs_since_update": -1}, "max_epochs_since_update"),
    ],
)
def test_config_rejects_impossible_values(kwargs, field):
    with pytest.raises(ValueError, match=field):
        EnsembleConfig(**kwargs)


def test_default_architecture_matches_official():
    model = GaussianEnsemble(11, 3, EnsembleConfig())
    shapes = [tuple(layer.weight.shape) for layer in model.layers]
    assert shapes == [(7, 14, 200), (7, 200, 200), (7, 200, 200), (7, 200, 200), (7, 200, 24)]
    assert all(tuple(layer.bias.shape) == (7, 1, w[2]) for layer, w in zip(model.layers, shapes, strict=True))
    assert tuple(model.max_logvar.shape) == (1, 12) and torch.all(model.max_logvar == 0.5)
    assert tuple(model.min_logvar.shape) == (1, 12) and torch.all(model.min_logvar == -10.0)
    # truncated normal, std 1/(2 sqrt(in)), cut at 2 std
    w = model.layers[1].weight
    std = 1 / (2 * math.sqrt(200))
    assert w.abs().max() <= 2 * std + 1e-7
    assert 0.75 * std < w.std() < 1.0 * std  # a normal truncated at ±2σ has std ≈ 0.88σ
    assert torch.all(model.layers[0].bias == 0)


def test_linear_layer_is_one_batched_affine_map_with_member_subsets():
    gen = torch.Generator().manual_seed(3)
    layer = EnsembleLinear(3, 4, 5, generator=gen)
    with torch.no_grad():
        layer.bias.normal_(generator=gen)
    x = torch.randn(3, 6, 4, generator=gen)
    out = layer(x)
    for e in range(3):
        torch.testing.assert_close(out[e], x[e] @ layer.weight[e] + layer.bias[e])
    members = torch.tensor([2, 2, 0])
    out_sub = layer(x, members)
    for g, m in enumerate(members.tolist()):
        torch.testing.assert_close(out_sub[g], x[g] @ layer.weight[m] + layer.bias[m])


def test_forward_equals_separate_plain_mlps():
    model = _model()
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(SMALL.num_networks, 7, OBS + ACT, generator=gen) * 2.0
    mean, logvar = model(x)
    assert mean.shape == logvar.shape == (SMALL.num_networks, 7, OBS + 1)
    for e in range(SMALL.num_networks):
        ref_mean, ref_logvar = _reference(model, e, x[e])
        torch.testing.assert_close(mean[e], ref_mean)
        torch.testing.assert_close(logvar[e], ref_logvar)
    # a shared (B, I) batch goes to every member
    mean2d, logvar2d = model(x[0])
    for e in range(SMALL.num_networks):
        ref_mean, ref_logvar = _reference(model, e, x[0])
        torch.testing.assert_close(mean2d[e], ref_mean)
        torch.testing.assert_close(logvar2d[e], ref_logvar)
    # a subset / reordering / repetition of members
    members = torch.tensor([3, 1, 3])
    xs = x[:3]
    mean_s, logvar_s = model(xs, members)
    assert mean_s.shape == (3, 7, OBS + 1)
    for g, m in enumerate(members.tolist()):
        ref_mean, ref_logvar = _reference(model, m, xs[g])
        torch.testing.assert_close(mean_s[g], ref_mean)
        torch.testing.assert_close(logvar_s[g], ref_logvar)


def _softplus(v: float) -> float:
    return math.log1p(math.exp(v))


def test_soft_clamp_hand_values():
    model = GaussianEnsemble(1, 1, EnsembleConfig(num_networks=1, num_elites=1))
    raw = torch.tensor([[0.0, 3.0], [-20.0, -10.0]])  # (B=2, O=2)
    got = model.soft_clamp_logvar(raw)
    for (b, d), r in [((0, 0), 0.0), ((0, 1), 3.0), ((1, 0), -20.0), ((1, 1), -10.0)]:
        v = 0.5 - _softplus(0.5 - r)
        v = -10.0 + _softplus(v + 10.0)
        assert got[b, d].item() == pytest.approx(v, rel=1e-5, abs=1e-6)
    # the same, as explicit numbers (computed once with the formula in double precision)
    explicit = [[-0.4740040505, 0.4211400620], [-9.9999546011, -9.3068665874]]
    torch.testing.assert_close(got, torch.tensor(explicit), rtol=0, atol=2e-6)


def _constant_output_model() -> GaussianEnsemble:
    """obs_dim=1 (O=2), E=2: every output is its member's last-layer bias (last weights are zero)."""
    cfg = EnsembleConfig(num_networks=2, num_elites=1, hidden_size=3, num_layers=1, weight_decays=(0.1, 0.2))
    model = GaussianEnsemble(1, 1, cfg)
    with torch.no_grad():
        model.layers[0].weight.fill_(0.5)
        model.layers[1].weight.zero_()
        # bias = [mean_ds, mean_r, raw_logvar_ds, raw_logvar_r]
        model.layers[1].bias[0, 0] = torch.tensor([1.0, -1.0, 0.0, 0.2])
        model.layers[1].bias[1, 0] = torch.tensor([0.5, 2.0, -1.0, 1.0])
    return model


def test_nll_loss_and_weight_decay_hand_values():
    model = _constant_output_model()
    inputs = torch.zeros(2, 2, 2)  # (E, B=2, I=2); outputs do not depend on it
    targets = torch.tensor([[[0.0, 0.0], [2.0, -1.0]], [[1.5, 2.0], [0.5, 3.0]]])
    means = [[1.0, -1.0], [0.5, 2.0]]
    raws = [[0.0, 0.2], [-1.0, 1.0]]

    def clamp(r: float) -> float:
        return -10.0 + _softplus(0.5 - _softplus(0.5 - r) + 10.0)

    expected = []
    for e in range(2):
        sq, lv = 0.0, 0.0
        for b in range(2):
            for d in range(2):
                logvar = clamp(raws[e][d])
                sq += (means[e][d] - targets[e, b, d].item()) ** 2 * math.exp(-logvar)
                lv += logvar
        expected.append(sq / 4 + lv / 4)
    nll = model.nll(inputs, targets)
    assert nll.tolist() == pytest.approx(expected, rel=1e-5)

    # weight decay: 0.1 * 0.5 * (2 members * 2 in * 3 out * 0.5^2) + 0.2 * 0.5 * 0 = 0.15; biases excluded
    assert model.weight_decay_loss().item() == pytest.approx(0.15, rel=1e-6)
    bounds = 0.01 * (2 * 0.5 - 2 * -10.0)  # 0.21
    total, per_member = model.loss(inputs, targets)
    assert total.item() == pytest.approx(sum(expected) + bounds + 0.15, rel=1e-5)
    torch.testing.assert_close(per_member, nll)


def test_weight_decay_per_layer_hand_values():
    cfg = EnsembleConfig(num_networks=3, num_elites=1, hidden_size=4, num_layers=2, weight_decays=(1.0, 10.0, 100.0))
    model = GaussianEnsemble(2, 1, cfg)  # layers: (3,3,4), (3,4,4), (3,4,6)
    with torch.no_grad():
        for layer, c in zip(model.layers, (1.0, 2.0, 3.0), strict=True):
            layer.weight.fill_(c)
            layer.bias.fill_(100.0)
    expected = 1.0 * 0.5 * 36 * 1.0 + 10.0 * 0.5 * 48 * 4.0 + 100.0 * 0.5 * 72 * 9.0
    assert model.weight_decay_loss().item() == pytest.approx(expected, rel=1e-6)


def test_input_stats_population_std_and_constant_columns():
    model = GaussianEnsemble(2, 1, SMALL)
    data = torch.tensor([[1.0, 5.0, 0.0], [3.0, 5.0, 0.0], [5.0, 5.0, 0.0]])
    model.fit_input_stats(data)
    torch.testing.assert_close(model.input_mean, torch.tensor([[3.0, 5.0, 0.0]]))
    torch.testing.assert_close(model.input_std, torch.tensor([[math.sqrt(8 / 3), 1.0, 1.0]]))


def test_predict_grouped_equals_full_computation_with_same_noise():
    model = _model()
    gen = torch.Generator().manual_seed(11)
    batch = 40
    obs = torch.randn(batch, OBS, generator=gen)
    act = torch.randn(batch, ACT, generator=gen)
    members = torch.tensor([0, 2, 3] * 13 + [2])  # member 1 absent, unequal counts
    next_obs, reward = model.predict(obs, act, members, torch.Generator().manual_seed(7))
    assert next_obs.shape == (batch, OBS) and reward.shape == (batch,)

    mean, logvar = model.predict_all(obs, act)
    assert mean.shape == (SMALL.num_networks, batch, OBS + 1)
    rows = torch.arange(batch)
    noise = torch.randn(batch, OBS + 1, generator=torch.Generator().manual_seed(7))
    sample = mean[members, rows] + torch.exp(0.5 * logvar[members, rows]) * noise
    torch.testing.assert_close(next_obs, obs + sample[:, :OBS])
    torch.testing.assert_close(reward, sample[:, OBS])
    # and against the plain per-member MLPs
    for i in range(batch):
        ref_mean, _ = _reference(model, int(members[i]), torch.cat([obs[i : i + 1], act[i : i + 1]], dim=-1))
        torch.testing.assert_close(mean[members[i], i], ref_mean[0])

    # precomputed counts give the same result; deterministic gives the means
    counts = torch.bincount(members, minlength=SMALL.num_networks).tolist()
    next_obs2, reward2 = model.predict(obs, act, members, torch.Generator().manual_seed(7), counts=counts)
    torch.testing.assert_close(next_obs2, next_obs)
    torch.testing.assert_close(reward2, reward)
    det_obs, det_rew = model.predict(obs, act, members, deterministic=True)
    torch.testing.assert_close(det_obs, obs + mean[members, rows, :OBS])
    torch.testing.assert_close(det_rew, mean[members, rows, OBS])
    # a single member
    one = torch.full((batch,), 2)
    det_one, _ = model.predict(obs, act, one, deterministic=True)
    torch.testing.assert_close(det_one, obs + mean[2, :, :OBS])


def test_predict_uses_each_samples_own_member():
    cfg = EnsembleConfig(num_networks=5, num_elites=5, hidden_size=8, num_layers=2, weight_decays=(0.0,) * 3)
    model = GaussianEnsemble(OBS, ACT, cfg)
    with torch.no_grad():
        last = model.layers[-1]
        last.weight.zero_()
        for m in range(5):
            last.bias[m, 0, : OBS + 1] = float(m)  # member m predicts Δs = m, r = m
            last.bias[m, 0, OBS + 1 :] = -30.0  # tiny variance
        model.min_logvar.fill_(-30.0)
    gen = torch.Generator().manual_seed(0)
    obs = torch.randn(500, OBS, generator=gen)
    act = torch.randn(500, ACT, generator=gen)
    members = torch.randint(5, (500,), generator=gen)
    next_obs, reward = model.predict(obs, act, members, gen)
    delta = next_obs - obs
    torch.testing.assert_close(delta, members.float().unsqueeze(1).expand(-1, OBS), atol=1e-3, rtol=0)
    torch.testing.assert_close(reward, members.float(), atol=1e-3, rtol=0)


def test_sample_elite_members_draws_only_elites_and_counts_them():
    model = _model()
    model.set_elites([3, 1])
    gen = torch.Generator().manual_seed(0)
    members, counts = model.sample_elite_members((3, 50), gen)
    assert members.shape == (3, 50)
    assert set(members.unique().tolist()) <= {1, 3}
    assert counts == [torch.bincount(row, minlength=4).tolist() for row in members]
    members1, counts1 = model.sample_elite_members(20, torch.Generator().manual_seed(1))
    assert counts1 == torch.bincount(members1, minlength=4).tolist()
    with pytest.raises(ValueError, match="elites"):
        model.set_elites([0, 1, 2])


@pytest.mark.parametrize("config", [SMALL, EnsembleConfig()], ids=["small", "paper"])
def test_weight_decay_gradient_added_after_backward_is_autograds_to_the_bit(config):
    """The fit adds the decay gradient by hand (faster); it must be exactly what autograd computes."""
    gen = torch.Generator().manual_seed(0)
    model = GaussianEnsemble(OBS, ACT, config, generator=gen)
    x = torch.randn(config.num_networks, 64, OBS + ACT, generator=gen)
    y = torch.randn(config.num_networks, 64, OBS + 1, generator=gen)
    total, _ = model.loss(x, y)
    total.backward()
    autograd = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    total, _ = model.loss(x, y, weight_decay=False)
    total.backward()
    model.add_weight_decay_grad()
    for want, p in zip(autograd, model.parameters(), strict=True):
        assert torch.equal(p.grad, want)
