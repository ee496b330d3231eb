"""Fitting the ensemble the official MBPO way: holdout, bootstrap, per-member snapshots, elites."""

from __future__ import annotations

import torch

from mbpo.models.ensemble import EnsembleConfig, GaussianEnsemble
from mbpo.models.training import FitResult, bootstrap_indices, fit_ensemble, make_optimizer, shuffle_rows

OBS, ACT = 3, 1
TINY = EnsembleConfig(
    num_networks=3, num_elites=2, hidden_size=16, num_layers=2, weight_decays=(1e-5, 1e-5, 1e-5), batch_size=32
)


def _linear_data(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Linear dynamics s' = s + A s + B a, r = c·s + a, with small noise: (inputs, targets)."""
    gen = torch.Generator().manual_seed(seed)
    a_mat = torch.tensor([[0.1, -0.2, 0.0], [0.05, 0.1, 0.3], [-0.3, 0.0, 0.1]])
    b_mat = torch.tensor([[0.5], [-1.0], [0.2]])
    obs = torch.randn(n, OBS, generator=gen)
    act = torch.rand(n, ACT, generator=gen) * 2 - 1
    delta = obs @ a_mat.T + act @ b_mat.T + 0.01 * torch.randn(n, OBS, generator=gen)
    reward = obs @ torch.tensor([1.0, -0.5, 0.25]) + act[:, 0]
    return torch.cat([obs, act], dim=1), torch.cat([delta, reward[:, None]], dim=1)


def _model(config: EnsembleConfig = TINY, seed: int = 0) -> GaussianEnsemble:
    return GaussianEnsemble(OBS, ACT, config, generator=torch.Generator().manual_seed(seed))


def test_bootstrap_differs_per_member_and_is_reproducible():
    idx = bootstrap_indices(5, 200, torch.Generator().manual_seed(0))
    again = bootstrap_indices(5, 200, torch.Generator().manual_seed(0))
    other = bootstrap_indices(5, 200, torch.Generator().manual_seed(1))
    assert idx.shape == (5, 200) and idx.dtype == torch.long
    assert int(idx.min()) >= 0 and int(idx.max()) < 200
    assert torch.equal(idx, again) and not torch.equal(idx, other)
    for i in range(5):
        assert len(idx[i].unique()) < 200  # drawn with replacement
        for j in range(i):
            assert not torch.equal(idx[i].sort().values, idx[j].sort().values)  # different resamples
    shuffled = shuffle_rows(idx, torch.Generator().manual_seed(2))
    assert not torch.equal(shuffled, idx)
    assert torch.equal(shuffled.sort(dim=1).values, idx.sort(dim=1).values)  # per-row permutation


def test_each_member_trains_on_its_own_resample_reproducibly(monkeypatch):
    inputs, targets = _linear_data(300)
    cfg = EnsembleConfig(**{**TINY.__dict__, "max_epochs": 2})
    seen = []
    for _ in range(2):
        model = _model(cfg)
        original = model.loss
        batches: list[torch.Tensor] = []

        def spy(x, y, original=original, batches=batches, **kwargs):
            batches.append(x.detach().clone())
            return original(x, y, **kwargs)

        monkeypatch.setattr(model, "loss", spy)
        fit_ensemble(model, make_optimizer(model), inputs, targets, cfg, torch.Generator().manual_seed(4))
        seen.append(batches)
    first = seen[0][0]
    assert first.shape == (3, 32, OBS + ACT)
    assert not torch.equal(first[0], first[1]) and not torch.equal(first[1], first[2])
    per_epoch = -(-240 // 32)  # ceil(N_train / batch), the last batch smaller
    assert len(seen[0]) == len(seen[1]) == 2 * per_epoch
    assert seen[0][per_epoch - 1].shape[1] == 240 - 7 * 32
    for a, b in zip(seen[0], seen[1], strict=True):
        assert torch.equal(a, b)
    # epoch 2 walks the same per-member resample as epoch 1, re-shuffled per member
    epoch1 = torch.cat(seen[0][:per_epoch], dim=1)
    epoch2 = torch.cat(seen[0][per_epoch:], dim=1)
    for m in range(3):
        assert not torch.equal(epoch1[m], epoch2[m])
        key1, key2 = epoch1[m, :, 0].argsort(), epoch2[m, :, 0].argsort()
        assert torch.equal(epoch1[m, key1], epoch2[m, key2])


def test_holdout_split_and_input_stats_from_training_part():
    inputs, targets = _linear_data(500)
    inputs = inputs * torch.tensor([1.0, 2.0, 3.0, 1.0]) + 5.0
    cfg = EnsembleConfig(**{**TINY.__dict__, "max_epochs": 1, "max_holdout": 60})
    model = _model(cfg)
    result = fit_ensemble(model, make_optimizer(model), inputs, targets, cfg, torch.Generator().manual_seed(9))
    assert (result.n_holdout, result.n_train) == (60, 440)  # min(int(0.2 * 500), 60)
    perm = torch.randperm(500, generator=torch.Generator().manual_seed(9))
    train = inputs[perm[60:]]
    torch.testing.assert_close(model.input_mean, train.mean(0, keepdim=True))
    torch.testing.assert_close(model.input_std, train.std(0, keepdim=True, correction=0))


def test_early_stopping_restores_each_members_own_best_snapshot(monkeypatch):
    inputs, targets = _linear_data(200)
    model = _model()
    # Scripted holdout MSE per epoch (rows) and member (columns). Best epochs: member 0 -> 4, member 1 -> 3,
    # member 2 -> 1. Sub-1% improvements (0.996 at epoch 2, 0.4485 at epoch 6) must not count.
    script = [
        [1.0, 1.0, 1.0],  # 1: everyone improves on 1e10
        [0.5, 0.996, 1.2],  # 2: member 0 improves; member 1 only 0.4%
        [0.6, 0.9, 1.1],  # 3: member 1 improves
        [0.45, 0.95, 1.05],  # 4: member 0 improves
        [0.5, 0.95, 1.0],  # 5..10: nothing beats the bests by > 1% -> stop after epoch 10 (6 > 5)
        [0.4485, 0.95, 1.0],
        [0.5, 0.95, 1.0],
        [0.5, 0.95, 1.0],
        [0.5, 0.95, 1.0],
        [0.5, 0.95, 1.0],
        [0.1, 0.1, 0.1],  # 11: would improve everyone, must never be reached
    ]
    final_mse = torch.tensor([0.45, 0.9, 1.0])
    calls = {"n": 0}

    def scripted_holdout(x, y):
        calls["n"] += 1
        epoch = calls["n"]
        return torch.tensor(script[epoch - 1]) if epoch <= 10 else final_mse

    monkeypatch.setattr(model, "holdout_mse", scripted_holdout)
    weights_at: dict[int, list[torch.Tensor]] = {}
    bounds_at: dict[int, torch.Tensor] = {}

    def log(info):
        weights_at[info["epoch"]] = [p.detach().clone() for p in model.member_parameters()]
        bounds_at[info["epoch"]] = model.max_logvar.detach().clone()

    result = fit_ensemble(
        model, make_optimizer(model), inputs, targets, TINY, torch.Generator().manual_seed(0), log=log
    )
    assert result.epochs == 10 and result.stop_reason == "early_stop"
    assert calls["n"] == 11  # 10 epochs + one evaluation after restoring
    assert result.best_epochs == [4, 3, 1]
    for member, best_epoch in enumerate([4, 3, 1]):
        for p, snap, last in zip(model.member_parameters(), weights_at[best_epoch], weights_at[10], strict=True):
            torch.testing.assert_close(p[member], snap[member], rtol=0, atol=0)
            assert not torch.equal(p[member], last[member])
    # the shared log-variance bounds are not snapshotted (official): they keep their last values
    torch.testing.assert_close(model.max_logvar.detach(), bounds_at[10], rtol=0, atol=0)
    # elites: the lowest recomputed holdout MSE, best first
    assert result.elites == [0, 1] and model.elites.tolist() == [0, 1]
    assert abs(result.holdout_mse_elites_mean - (0.45 + 0.9) / 2) < 1e-6


def test_caps_on_epochs_and_time():
    inputs, targets = _linear_data(200)
    model = _model()
    cfg = EnsembleConfig(**{**TINY.__dict__, "max_epochs": 3})
    result = fit_ensemble(model, make_optimizer(model), inputs, targets, cfg, torch.Generator().manual_seed(0))
    assert (result.epochs, result.stop_reason) == (3, "max_epochs")
    cfg = EnsembleConfig(**{**TINY.__dict__, "max_train_seconds": 1e-9})
    result = fit_ensemble(model, make_optimizer(model), inputs, targets, cfg, torch.Generator().manual_seed(0))
    assert (result.epochs, result.stop_reason) == (1, "max_train_seconds")


def test_fit_learns_linear_dynamics_and_ranks_elites():
    torch.manual_seed(0)
    inputs, targets = _linear_data(1500)
    cfg = EnsembleConfig(**{**TINY.__dict__, "hidden_size": 32, "max_epochs": 40})
    model = _model(cfg)
    model.fit_input_stats(inputs)
    before = model.holdout_mse(inputs, targets)
    epochs_seen = []
    result = fit_ensemble(
        model,
        make_optimizer(model),
        inputs,
        targets,
        cfg,
        torch.Generator().manual_seed(1),
        log=lambda info: epochs_seen.append(info["epoch"]),
    )
    assert isinstance(result, FitResult)
    assert result.holdout_mse.shape == (3,)
    assert torch.all(result.holdout_mse < 0.02 * before), (before, result.holdout_mse)
    assert epochs_seen == list(range(1, result.epochs + 1))
    # elites are the members with the lowest holdout MSE, best first, and the model knows them
    order = torch.argsort(result.holdout_mse).tolist()
    assert result.elites == order[:2] and model.elites.tolist() == order[:2]
    mse_elites = result.holdout_mse[order[:2]].mean().item()
    assert abs(result.holdout_mse_elites_mean - mse_elites) < 1e-7
    metrics = result.as_metrics()
    assert {"model/holdout_mse", "model/train_nll", "model/epochs", "model/seconds"} <= metrics.keys()
    assert metrics["model/epochs"] == result.epochs and metrics["model/holdout_mse"] == mse_elites
    assert all(isinstance(v, float) for v in metrics.values())
