"""Worker, run inside mbrl-lib 0.2.0's venv: its dynamics model against ours, alternating in one process.

    .bench-venvs/mbrl/bin/python benchmarks/mbrl_worker.py --ours . --data X.npz --out result.json

mbrl-lib as its own MBPO set-up builds it (``examples/conf``: ``gaussian_mlp_ensemble.yaml``,
``algorithm/mbpo.yaml``, ``overrides/mbpo_hopper.yaml``): ``GaussianMLP`` (7 members, 4 hidden layers of
200, SiLU, random-model propagation) in ``OneDTransitionRewardModel`` (delta targets, learned reward,
input normaliser), trained by ``ModelTrainer`` (Adam, lr 1e-3, weight decay 1e-5) on
``get_basic_buffer_iterators`` (batch 256, 20% validation, a bootstrap resample per member); rollouts
step ``ModelEnv`` with 5 elites and mbrl-lib's Hopper termination function. Ours is imported from
``--ours`` (its model code needs only torch; the termination rules import gymnasium, which this venv has):
the same torch build runs both, round after round, so a busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ELITES = [0, 2, 3, 5, 6]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ours", required=True, help="root of the mbpo-bench checkout")
    parser.add_argument("--data", required=True)
    parser.add_argument("--n", type=int, default=25_000)
    parser.add_argument("--epochs", type=int, default=3, help="fit epochs per fit (the first is not timed)")
    parser.add_argument("--branches", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3, help="rounds")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    with np.load(args.data) as data:
        d = {k: data[k][: args.n] for k in data.files}
    timings: dict[str, dict[str, list[tuple[float, float]]]] = {"fit_epoch": {}, "model_step": {}}

    def clock() -> tuple[float, float]:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter(), time.process_time()

    def record(what: str, side: str, marks: list[tuple[float, float]]) -> None:
        timings[what].setdefault(side, []).extend((b[0] - a[0], b[1] - a[1]) for a, b in itertools.pairwise(marks))

    ours_fit, ours_step = build_ours(args, d, device, clock)
    theirs_fit, theirs_step, version = build_mbrl(args, d, device, clock)
    ours_step(), theirs_step()  # warm-up
    for r in range(args.repeats):
        if r < max(1, args.repeats - 1):
            record("fit_epoch", "ours", ours_fit(r))
            record("fit_epoch", "mbrl", theirs_fit())
        for side, step in (("ours", ours_step), ("mbrl", theirs_step)):
            start = clock()
            step()
            record("model_step", side, [start, clock()])
    result: dict[str, object] = {"mbrl_version": version, "torch": torch.__version__}
    for what, sides in timings.items():
        for side, pairs in sides.items():
            walls, cpus = [w for w, _ in pairs], [c for _, c in pairs]
            result.setdefault(side, {})[what] = {  # type: ignore[union-attr]
                "median_s": statistics.median(walls),
                "min_s": min(walls),
                "cpu_s": statistics.median(cpus),
                "rounds": len(walls),
            }
    Path(args.out).write_text(json.dumps(result, indent=1))


def build_ours(args, d, device, clock):
    sys.path.insert(0, str(Path(args.ours).resolve()))
    from mbpo.models.ensemble import EnsembleConfig, GaussianEnsemble
    from mbpo.models.training import fit_ensemble, make_optimizer
    from mbpo.termination import termination_fn

    obs, act = torch.as_tensor(d["obs"]), torch.as_tensor(d["act"])
    inputs = torch.cat([obs, act], dim=-1)
    targets = torch.cat([torch.as_tensor(d["next_obs"]) - obs, torch.as_tensor(d["rew"]).unsqueeze(-1)], dim=-1)
    obs_dim, act_dim = obs.shape[1], act.shape[1]
    config = EnsembleConfig(max_epochs=args.epochs)

    def fit(r: int) -> list[tuple[float, float]]:
        model = GaussianEnsemble(obs_dim, act_dim, config, generator=torch.Generator().manual_seed(r)).to(device)
        marks: list[tuple[float, float]] = []
        gen = torch.Generator(device=device).manual_seed(r)
        fit_ensemble(model, make_optimizer(model), inputs, targets, config, gen, log=lambda _: marks.append(clock()))
        return marks

    model = GaussianEnsemble(obs_dim, act_dim, EnsembleConfig(), generator=torch.Generator().manual_seed(0))
    model.fit_input_stats(inputs)
    model.set_elites(ELITES)
    model = model.to(device)
    is_terminal = termination_fn("hopper")
    pick = torch.as_tensor(np.random.default_rng(1).integers(args.n, size=args.branches))
    start, actions = obs[pick].to(device), act[pick].to(device)
    gen = torch.Generator(device=device).manual_seed(0)

    @torch.no_grad()
    def step() -> None:
        members, counts = model.sample_elite_members(args.branches, gen)
        next_obs, _ = model.predict(start, actions, members, gen, counts=counts)
        is_terminal(next_obs)

    return fit, step


def build_mbrl(args, d, device, clock):
    import gymnasium as gym
    import mbrl
    import mbrl.env.termination_fns as termination_fns
    import mbrl.util.common
    from mbrl.models import GaussianMLP, ModelEnv, ModelTrainer, OneDTransitionRewardModel
    from mbrl.util.replay_buffer import ReplayBuffer

    obs_dim, act_dim = d["obs"].shape[1], d["act"].shape[1]
    buffer = ReplayBuffer(args.n, (obs_dim,), (act_dim,), rng=np.random.default_rng(0))
    buffer.add_batch(d["obs"], d["act"], d["next_obs"], d["rew"], d["terminated"] > 0, np.zeros(args.n, bool))
    torch.manual_seed(0)
    gaussian_mlp = GaussianMLP(
        in_size=obs_dim + act_dim,
        out_size=obs_dim + 1,
        device=device,
        num_layers=4,
        ensemble_size=7,
        hid_size=200,
        deterministic=False,
        propagation_method="random_model",
        learn_logvar_bounds=False,
        activation_fn_cfg={"_target_": "torch.nn.SiLU"},
    )
    model = OneDTransitionRewardModel(
        gaussian_mlp, target_is_delta=True, normalize=True, normalize_double_precision=True, num_elites=5
    )
    train_iter, val_iter = mbrl.util.common.get_basic_buffer_iterators(
        buffer, batch_size=256, val_ratio=0.2, ensemble_size=7, shuffle_each_epoch=True, bootstrap_permutes=False
    )
    model.update_normalizer(buffer.get_all())
    trainer = ModelTrainer(model, optim_lr=1e-3, weight_decay=1e-5)

    def fit() -> list[tuple[float, float]]:
        marks: list[tuple[float, float]] = []
        trainer.train(
            train_iter, val_iter, num_epochs=args.epochs, silent=True, callback=lambda *_: marks.append(clock())
        )
        return marks

    model.set_elite(ELITES)
    spaces = gym.Env()  # ModelEnv reads only the spaces of the env it is given
    spaces.observation_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
    spaces.action_space = gym.spaces.Box(-1.0, 1.0, (act_dim,), np.float32)
    model_env = ModelEnv(spaces, model, termination_fns.hopper, generator=torch.Generator(device=device).manual_seed(0))
    pick = np.random.default_rng(1).integers(args.n, size=args.branches)
    state = model_env.reset(d["obs"][pick], return_as_np=False)
    actions = torch.as_tensor(d["act"][pick], device=device)

    def step() -> None:
        model_env.step(actions, state, sample=True)

    return fit, step, mbrl.__version__


if __name__ == "__main__":
    main()
