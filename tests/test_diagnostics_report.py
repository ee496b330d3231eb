"""reports/model_error.md and its figures from hand-made diagnostics files with known curves."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml

from mbpo.diagnostics.__main__ import main
from mbpo.diagnostics.files import BOUND_COLUMNS, BOUND_FILE, MODEL_ERROR_COLUMNS, MODEL_ERROR_FILE
from mbpo.diagnostics.report import figure_names, growth, stages, trust_horizon

K = 25


def test_growth_reads_the_linear_law_and_departures_from_it():
    k = np.arange(1, K + 1)
    linear, quadratic = growth(k, 0.1 * k), growth(k, 0.1 * k**2)
    assert (linear.eps, linear.exponent, linear.ratio) == pytest.approx((0.1, 1.0, 1.0))
    assert (quadratic.exponent, quadratic.ratio) == pytest.approx((2.0, K))


def test_trust_horizon_is_the_last_k_before_the_first_crossing():
    k = np.arange(1, 6)
    rmse = np.array([0.05, 0.1, 0.2, 0.3, 0.6])
    assert trust_horizon(k, rmse, 0.25) == (3, True)
    assert trust_horizon(k, rmse, 1.0) == (5, False)
    assert trust_horizon(k, rmse, 0.01) == (0, True)
    assert trust_horizon(k, np.array([0.05, np.inf, 0.1, 0.1, 0.1]), 0.25) == (1, True)


def test_stages_spread_over_training():
    assert stages([5, 1, 3]) == [1, 3, 5]
    assert stages(range(10), n=4) == [0, 3, 6, 9]


def write_run(run_dir: Path, env: str, seed: int, slope_by_step: dict[int, float]) -> None:
    """A run whose mean-prediction RMS error is ``slope * k`` at each pass; sampled is twice that."""
    run_dir.mkdir(parents=True)
    cfg = {"env": env, "algo": "mbpo", "variant": "default", "seed": seed, "epoch_length": 1000}
    cfg |= {"init_exploration_steps": 5000, "model_train_freq": 250, "diagnostics": {"every": 1}}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg))
    with open(run_dir / "metrics.csv", "w", newline="") as f:
        f.write("env_step,wall_time_s,time/model_s\n6000,100.0,80.0\n7000,500.0,120.0\n")  # 8 fits by 7000
    with open(run_dir / MODEL_ERROR_FILE, "w", newline="") as f:
        writer = csv.DictWriter(f, MODEL_ERROR_COLUMNS)
        writer.writeheader()
        for step, slope in slope_by_step.items():
            for k in range(1, K + 1):
                for kind, factor in (("mean", 1.0), ("sample", 2.0)):
                    err = (factor * slope * k) ** 2
                    writer.writerow(dict(zip(MODEL_ERROR_COLUMNS, (step, k, kind, err, err, err, 100), strict=True)))
            for k, factor in ((1, 1.0), (10, 0.5)):
                err = (factor * slope * k) ** 2
                writer.writerow(dict(zip(MODEL_ERROR_COLUMNS, (step, k, "direct", err, "nan", err, 90), strict=True)))
    with open(run_dir / BOUND_FILE, "w", newline="") as f:
        writer = csv.DictWriter(f, BOUND_COLUMNS)
        writer.writeheader()
        for step, slope in slope_by_step.items():
            values = (step, step // 1000, 1, 40 + seed, slope, 0.1, 0.2, 0.5, 0.08, 0.99, 250, 2.0, 1.5)
            writer.writerow(dict(zip(BOUND_COLUMNS, values, strict=True)))


def test_report_and_figures_from_known_curves(tmp_path):
    runs = []
    for seed in (0, 1):
        runs.append(tmp_path / f"hopper{seed}")
        write_run(runs[-1], "hopper", seed, {5251: 0.02, 6001: 0.015, 7001: 0.01})
    empty = tmp_path / "ant0"  # a run without diagnostics files
    empty.mkdir()
    (empty / "config.yaml").write_text(yaml.safe_dump({"env": "ant", "seed": 0, "variant": "default"}))
    out, figures = tmp_path / "reports" / "model_error.md", tmp_path / "reports" / "figures"
    main(["report", "--runs", *map(str, [*runs, empty]), "--out", str(out), "--figures-dir", str(figures),
          "--envs", "hopper", "ant", "--name", "test"])  # fmt: skip

    assert sorted(p.name for p in figures.iterdir()) == sorted(figure_names(["hopper", "ant"]))
    text = out.read_text()
    # last pass: RMS = 0.01 k stays <= 0.25 up to k = 25; first pass: 0.02 k crosses after k = 12
    assert "stays below 0.25 of the state spread up to the largest measured k = 25" in text
    assert "| 5.251k | 1 | 0.02 | 0.5 (k=25) | 1 | 1 | 5 | 12 | ≥ 25 | 0.04 |" in text
    assert "close to the linear ε·k law" in text
    assert "the direct k-step model beats iterating the one-step ensemble (RMS ratio direct/iterated 0.5" in text
    assert "The bound's k* (median over the second half of the passes) is 40.5 against a schedule of k = 1" in text
    assert "| hopper | 6 | 2 | 1.5 | 25 | 3.0% | 1.2% |" in text  # 6 passes of 2 s; 2 runs of 8 fits, 200 s
    assert "**ant**: no diagnostics data." in text
    assert "arXiv:1906.08253" in text and "not a TV distance" in text
