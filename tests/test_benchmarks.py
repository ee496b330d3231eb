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


def _timing(seconds: float) -> dict:
    return {"median_s": seconds, "min_s": seconds, "cpu_s": seconds, "rounds": 3}


def _raw() -> dict:
    """A measurement as `benchmarks.run.measure` returns it, with made-up numbers."""
    from dataclasses import asdict

    from benchmarks.run import QUICK

    def piece(sac: float) -> Slice:
        seconds = {"policy": 400 * sac, "model": 2.0, "rollout": 0.5, "env": 0.04, "eval": 0.1}
        return Slice(5000, 20, 1, 1, 400, seconds | {"wall": sum(seconds.values()) + 0.01}, [{"env_step": "5000"}])

    fit = {"n_train": 20_000, "n_holdout": 5000, "holdout_s": 0.1}
    hot = {
        "sac_update": {"new": _timing(0.009), "old": _timing(0.010), "sb3": _timing(0.012)},
        "fit_epoch": {"new": _timing(1.2) | fit, "old": _timing(1.4) | fit},
        "model_step": {"new": _timing(0.3), "old": _timing(0.6)},
        "rollout_step": {"new": _timing(0.45), "old": _timing(0.9)},
    }
    env = {"random_env_step": 1e-4, "policy_env_step": 2e-4, "eval_env_step": 1.5e-4}
    return {
        "machine": {
            "cpu": "Test CPU",
            "logical_cpus": 2,
            "usable_cores": 2,
            "threads": 1,
            "gpu": None,
            "python": "3.11",
            "torch": "2.13.0+cpu",
            "gymnasium": "1.4.0",
            "mujoco": "3",
            "git": "abc1234",
            "load_before": "0.10, 0, 0",
            "load_after": "0.20, 0, 0",
            "suite_seconds": 100.0,
        },
        "command": "python -m benchmarks --quick",
        "time": "2026-01-01 00:00 UTC",
        "settings": asdict(QUICK),
        "device": "cpu",
        "baseline": "7f6d6d5",
        "env_costs": {"hopper": env},
        "slices": {"new": {"5000": asdict(piece(0.009))}, "old": {"5000": asdict(piece(0.010))}},
        "hotpaths": hot,
        "sb3_version": "2.9.2",
        "mbrl": {
            "ours": {"fit_epoch": _timing(1.2), "model_step": _timing(0.3)},
            "mbrl": {"fit_epoch": _timing(1.8), "model_step": _timing(0.7)},
        },
        "projection_hot": {"hopper": hot},
        "threads": {"cores": 2, "one_thread": 0.01, "all_threads": 0.008, "side_by_side": [0.012, 0.012]},
    }


def test_report_renders_every_section_with_the_ratios_of_the_measurements(tmp_path):
    from benchmarks.run import main, render

    text = render(_raw(), epochs_per_fit=10)
    for title in ("## 1.", "### Projected", "## 2.", "## 3.", "## 4.", "## Threads", "## 5. GPU", "## Method"):
        assert title in text
    assert "| one SAC update | 9 ms | 12 ms | **1.33×** |" in text  # vs SB3
    assert "**2.33×**" in text  # model step vs mbrl-lib: 0.7 / 0.3
    assert "**identical** to the landed commit's" in text
    assert "Skipped: no CUDA device" in text
    # re-rendering a saved measurement at another epochs-per-refit assumption changes only the fit arithmetic
    saved = tmp_path / "bench.json"
    saved.write_text(json.dumps(_raw() | {"epochs_per_fit": 10}))
    main(["--render", str(saved), "--epochs-per-fit", "30", "--out", str(tmp_path / "bench.md")])
    assert "30 epochs per refit" in (tmp_path / "bench.md").read_text()
