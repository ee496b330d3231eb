"""What a checkpoint costs for Hopper MBPO at paper settings: its size, the seconds to write it (fsync
included) and to read it back into a fresh session, at 10k and 100k real transitions and rollout length
k = 1 and k = 15 (the model buffer holds one epoch of rollouts: 4 refits x 100k branches x k steps).

Both forms of the model buffer (`mbpo.model_buffer`): ``rounds``, the default, stores the four rounds of
rollouts that filled it (a snapshot of the ensemble and actor each) and reruns them on load; ``rows``
stores its transitions, as a run does where the env buffer can wrap. The buffers are filled with random
numbers rather than by training for hours: a checkpoint's cost depends on how much it holds, not on what
(the rerun then rebuilds other rows than the random ones, which is warned about and silenced here).

    python benchmarks/checkpoint_cost.py [--out DIR] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch

from mbpo.buffer import Batch, ReplayBuffer
from mbpo.checkpoint import CHECKPOINT_NAME, load_checkpoint
from mbpo.config import resolve
from mbpo.model_buffer import RerunMismatch, RolloutRound
from mbpo.rollout import model_buffer_capacity
from mbpo.session import open_session
from mbpo.train import ModelSide

SECONDS_PER_1000_STEPS = 300  # README: Hopper MBPO at G = 20 on one CPU thread, ~296 s per 1000 env steps


def fill(buffer: ReplayBuffer, n: int) -> None:
    """``n`` random transitions, added in chunks (as rollouts add them)."""
    for start in range(0, n, 500_000):
        m = min(500_000, n - start)
        obs = torch.randn(m, buffer.obs_dim)
        buffer.add_batch(Batch(obs, torch.rand(m, buffer.act_dim), torch.randn(m), obs + 0.01, torch.zeros(m)))


def measure(out: Path, real: int, k: int, form: str, repeats: int) -> dict[str, float]:
    cfg = resolve({"env": "hopper", "algo": "mbpo", "device": "cpu", "wandb_mode": "disabled"})
    run = open_session(cfg, out)
    model = ModelSide.create(run)
    run.parts = {"model": model}
    fill(run.env_buffer, real)
    model.buffer.resize(model_buffer_capacity(cfg, k))
    fill(model.buffer, model.buffer.capacity)
    if form == "rounds":  # the four rounds of an epoch, each as it is recorded after adding all its branches
        per_round = cfg.rollout_batch_size * k
        for _ in range(model.buffer.capacity // per_round):
            recipe = RolloutRound.capture(model.ensemble, run.agent.actor, None, run.generator, real, k)
            recipe.added = per_round
            model.rounds.record(recipe, len(model.buffer))
    out.mkdir(parents=True, exist_ok=True)
    saves, loads = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        run.save_checkpoint(real)
        saves.append(time.perf_counter() - start)
        start = time.perf_counter()
        fresh = open_session(cfg, out)
        fresh_model = ModelSide.create(fresh)
        fresh.parts = {"model": fresh_model}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RerunMismatch)
            fresh._load(load_checkpoint(out / CHECKPOINT_NAME))
        loads.append(time.perf_counter() - start)
        del fresh, fresh_model
    size = (out / CHECKPOINT_NAME).stat().st_size
    (out / CHECKPOINT_NAME).unlink()
    save = statistics.median(saves)
    return {
        "form": form,
        "real": real,
        "k": k,
        "model_buffer": len(model.buffer),
        "mb": size / 2**20,
        "save_s": save,
        "load_s": statistics.median(loads),
        "share_pct": 100 * save / (SECONDS_PER_1000_STEPS * cfg.epoch_length / 1000),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="directory to write the checkpoints in (default: a temp dir)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(dir=args.out) as tmp:
        print("| model buffer stored as | real transitions | k | model buffer | checkpoint MB | save s | load s "
              "| share of an epoch |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|")
        for form in ("rounds", "rows"):
            for real in (10_000, 100_000):
                for k in (1, 15):
                    r = measure(Path(tmp) / f"{form}-{real}-{k}", real, k, form, args.repeats)
                    print(
                        f"| {r['form']} | {r['real']:,} | {r['k']} | {r['model_buffer']:,} | {r['mb']:.0f} "
                        f"| {r['save_s']:.2f} | {r['load_s']:.2f} | {r['share_pct']:.2f}% |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
