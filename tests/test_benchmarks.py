"""The speed suite's arithmetic (projections, scaling, formats) and a tiny run of its hot-path worker."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import report
from benchmarks.mbpo_slice import Slice, paper_k
from benchmarks.projection import UnitCosts, fit_epoch_seconds, paper_config, project_seconds, split_sizes
from benchmarks.run import per_1000

ROOT = Path(__file__).resolve().parents[1]
ZERO = UnitCosts(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def test_rollout_length_per_buffer_size_follows_the_hopper_schedule():
    # epochs count from the end of the 5000-step warm-up; k = 1 until epoch 20, then linear to 15 at 150
    assert [paper_k(n) for n in (5000, 25_000, 26_000, 50_000, 100_000, 155_000)] == [1, 1, 1, 3, 9, 15]


def test_fit_epoch_is_train_steps_plus_holdout_rows():
    costs = UnitCosts(**{**ZERO.__dict__, "train_step": 2.0, "holdout_per_row": 0.001})
    assert split_sizes(25_000) == (20_000, 5000)
    assert split_sizes(10_000) == (8000, 2000)
    assert fit_epoch_seconds(costs, 25_000) == pytest.approx(math.ceil(20_000 / 256) * 2.0 + 5000 * 0.001)


def test_projection_counts_every_update_fit_and_rollout_of_the_paper_schedule():
    cfg = paper_config("hopper")  # 125k steps, 5k warm-up, G = 20, a refit every 250 steps
    learning = cfg.steps - cfg.init_exploration_steps
    fits = learning // cfg.model_train_freq
    one = dict.fromkeys(("sac_update", "policy_env_step", "overhead_per_step"), 1.0)
    seconds = project_seconds("hopper", UnitCosts(**{**ZERO.__dict__, **one}), epochs_per_fit=10)
    assert seconds["sac"] == learning * cfg.num_train_repeat
    assert seconds["env"] == learning and seconds["overhead"] == learning
    assert seconds["fit"] == seconds["rollout"] == seconds["eval"] == 0
    rollout = project_seconds("hopper", UnitCosts(**{**ZERO.__dict__, "rollout_step": 1.0}), 10)["rollout"]
    # k over the run: 1 until epoch 20, then int(1 + 14 (e - 20) / 130) up to epoch 119; 4 refits per epoch
    ks = [1 if e <= 20 else int(1 + (e - 20) / 130 * 14) for e in range(learning // 1000)]
    assert fits == 4 * len(ks) and rollout == 4 * sum(ks)
    fit = project_seconds("hopper", UnitCosts(**{**ZERO.__dict__, "train_step": 1.0}), epochs_per_fit=7)["fit"]
    assert fit == 7 * sum(math.ceil(split_sizes(5000 + 250 * i)[0] / 256) for i in range(fits))


def test_slice_costs_scale_to_1000_env_steps():
    s = Slice(
        size=25_000,
        steps=50,
        k=1,
        epochs=2,
        updates=1000,
        seconds={"policy": 10.0, "model": 3.0, "rollout": 0.5, "env": 0.1, "eval": 0.2, "wall": 14.0},
        metrics=[],
    )
    cost = per_1000(s, epochs_per_fit=10, eval_s=0.7)
    assert cost == pytest.approx(
        {"sac": 200.0, "fit": 4 * 10 * 1.5, "rollout": 2.0, "env": 2.0, "eval": 0.7, "overhead": 20 * 0.2}
    )


def test_report_formats():
    assert (
        report.seconds(0.000012) == "12 µs"
        and report.seconds(0.0123) == "12.3 ms"
        and report.seconds(12.34) == "12.3 s"
    )
    assert report.ratio(3.0, 2.0) == "1.50×"
    assert report.table(["a", "b"], [[1, 2]]).splitlines() == ["| a | b |", "|:---|---:|", "| 1 | 2 |"]


def test_hotpath_worker_alternates_two_trees_and_reports_every_path(tmp_path):
    """A tiny real run of the worker (both 'trees' are this checkout; the suite passes the landed commit)."""
    out = tmp_path / "hot.json"
    command = [
        sys.executable, str(ROOT / "benchmarks" / "hotpaths.py"), "--tree", f"a={ROOT}", "--tree", f"b={ROOT}",
        "--env", "invertedpendulum", "--n", "600", "--branches", "500", "--updates", "2", "--epochs", "2",
        "--repeats", "2", "--out", str(out),
    ]  # fmt: skip
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    result = json.loads(out.read_text())
    for path in ("sac_update", "fit_epoch", "model_step", "rollout_step"):
        assert set(result[path]) == {"a", "b"}
        for side in result[path].values():
            assert 0 < side["min_s"] <= side["median_s"] and side["rounds"] >= 1
    assert result["fit_epoch"]["a"]["n_train"] == 480 and result["fit_epoch"]["a"]["holdout_s"] > 0
