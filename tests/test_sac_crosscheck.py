"""`benchmarks/sac_crosscheck.py`: SB3's SAC set up as one of our runs, and the table that compares them.

Training SB3 is not tested here (it is minutes, and SB3 is the optional ``bench`` extra); the settings it
gets and the arithmetic of the report are.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from benchmarks.sac_crosscheck import COLUMNS, report, sb3_settings

LIKE = {
    "env": "hopper",
    "replay_size": 1_000_000,
    "init_exploration_steps": 5000,
    "num_train_repeat": 1,
    "eval_every": 1000,
    "eval_episodes": 5,
    "sac": {"lr": 3e-4, "batch_size": 256, "tau": 0.005, "gamma": 0.99, "init_alpha": 1.0, "target_entropy": -3.0,
            "hidden_sizes": [256, 256]},
}  # fmt: skip


def test_sb3_gets_the_settings_our_run_recorded() -> None:
    assert sb3_settings(LIKE) == {
        "learning_rate": 3e-4,
        "buffer_size": 1_000_000,
        "learning_starts": 5000,
        "batch_size": 256,
        "tau": 0.005,
        "gamma": 0.99,
        "train_freq": 1,
        "gradient_steps": 1,
        "ent_coef": "auto_1.0",
        "target_entropy": -3.0,
        "policy_kwargs": {"net_arch": [256, 256]},
    }


def write_runs(folder: Path, offsets: list[float], last_step: int, sb3: bool) -> None:
    """Runs whose evaluation at step s returns s / 100 + offset."""
    for seed, offset in enumerate(offsets):
        run = folder / f"seed{seed}"
        run.mkdir(parents=True)
        rows = [f"{s},{s / 100 + offset},0,5,{s / 10}" for s in range(1000, last_step + 1, 1000)]
        (run / "metrics.csv").write_text(",".join(COLUMNS) + "\n" + "\n".join(rows) + "\n")
        if sb3:
            record = {"like": "x/config.yaml", "env": "Hopper-v5", "eval_every": 1000, "eval_episodes": 5,
                      "sb3_settings": sb3_settings(LIKE), "versions": {"stable-baselines3": "2.9.2"}}  # fmt: skip
            (run / "settings.yaml").write_text(yaml.safe_dump(record))
        else:
            (run / "config.yaml").write_text(yaml.safe_dump(LIKE))


def test_the_report_compares_window_means_at_steps_every_run_reached(tmp_path: Path) -> None:
    """At 10k the last 5 evaluations (6k-10k) average 80 (+ the offset), at 20k 180. The SB3 runs stop at
    25k, so nothing is compared at 30k although ours went on."""
    write_runs(tmp_path / "ours", [0.0, 10.0], 30_000, sb3=False)
    write_runs(tmp_path / "sb3", [20.0, 40.0, 60.0], 25_000, sb3=True)
    report(tmp_path / "ours", tmp_path / "sb3", tmp_path / "README.md")
    text = (tmp_path / "README.md").read_text()
    assert "| 10k | 85 [80, 90] | 120 [100, 140] |" in text
    assert "| 20k | 185 [180, 190] | 220 [200, 240] |" in text
    assert "| 30k |" not in text
    assert "| ours seed1 | 90 | 190 |" in text and "| SB3 seed2 | 140 | 240 |" in text
    assert "SAC, Tianshou, Hopper-v3 (10 seeds)" in text  # the public curves of the same task beside them
