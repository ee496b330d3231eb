"""End-to-end runs of ``mbpo train`` on tiny budgets: the files, their columns, and determinism."""

import csv
import pkgutil
import subprocess
import sys

import pytest
import yaml

import mbpo.analysis
from mbpo.cli import main
from mbpo.config import resolve
from mbpo.runlog import BASE_COLUMNS, SAC_COLUMNS
from mbpo.train import MBPO_COLUMNS

TINY = {
    "sac": [
        "init_exploration_steps=200",
        "eval_every=200",
        "eval_episodes=2",
        "sac.hidden_sizes=[32, 32]",
        "sac.batch_size=64",
    ],
    "mbpo": [
        "init_exploration_steps=200",
        "eval_every=150",
        "eval_episodes=2",
        "epoch_length=100",
        "model_train_freq=100",
        "rollout_batch_size=200",
        "rollout_schedule=[0, 2, 1, 3]",
        "num_train_repeat=2",
        "sac.hidden_sizes=[32, 32]",
        "sac.batch_size=64",
        "model.hidden_size=32",
        "model.max_epochs=5",
    ],
}
STEPS = {"sac": 500, "mbpo": 450}
# Columns that measure wall-clock time, the only ones allowed to differ between identical runs.
TIMING = {"wall_time_s", "model/seconds"}


def train(out, algo: str, seed: int = 0) -> list[dict[str, str]]:
    argv = ["train", "--env", "invertedpendulum", "--algo", algo, "--seed", str(seed), "--steps", str(STEPS[algo])]
    main([*argv, "--out", str(out), "--quiet", *(a for s in TINY[algo] for a in ("--set", s))])
    with open(out / "metrics.csv") as f:
        return list(csv.DictReader(f))


def without_timing(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k not in TIMING and not k.startswith("time/")} for row in rows]


@pytest.mark.parametrize("algo", ["sac", "mbpo"])
def test_train_writes_config_and_metrics_with_the_documented_columns(tmp_path, algo):
    rows = train(tmp_path / "run", algo)
    header = list(rows[0])
    assert tuple(header[: len(BASE_COLUMNS)]) == BASE_COLUMNS
    assert set(SAC_COLUMNS) <= set(header)
    assert set(MBPO_COLUMNS) <= set(header) if algo == "mbpo" else not set(MBPO_COLUMNS) & set(header)
    # one row per evaluation, the last one at the budget
    assert int(rows[-1]["env_step"]) == STEPS[algo]
    assert all(row["eval_episodes"] == "2" for row in rows)
    assert float(rows[-1]["train/updates"]) > 0 and float(rows[-1]["train/q_loss"]) >= 0
    if algo == "mbpo":
        assert float(rows[-1]["rollout/model_buffer_size"]) > 0
        assert float(rows[-1]["rollout/length"]) >= 1 and float(rows[-1]["model/holdout_mse"]) > 0
    # config.yaml alone reproduces the run's config
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert resolve(saved).to_dict() == saved
    assert saved["algo"] == algo and saved["steps"] == STEPS[algo]


@pytest.mark.parametrize("algo", ["sac", "mbpo"])
def test_same_seed_same_metrics(tmp_path, algo):
    first = train(tmp_path / "a", algo, seed=3)
    second = train(tmp_path / "b", algo, seed=3)
    assert without_timing(first) == without_timing(second)
    other = train(tmp_path / "c", algo, seed=4)
    assert without_timing(other) != without_timing(first)


def test_the_snakefile_and_the_analysis_commands_do_not_import_the_training_stack():
    """Every analysis rule of the workflow runs `mbpo <command>` (or the model-error report) in a process of its
    own, and every Snakemake invocation parses the Snakefile (which imports `mbpo.presets` and `mbpo.variants`):
    importing torch and MuJoCo there would cost each about 3 s of CPU for nothing. Only `mbpo status` reads
    checkpoints."""
    modules = ["mbpo.cli", "mbpo.diagnostics.__main__", "mbpo.presets", "mbpo.variants"]
    modules += [f"mbpo.analysis.{m.name}" for m in pkgutil.iter_modules(mbpo.analysis.__path__)]
    modules.remove("mbpo.analysis.status")
    code = f"import sys, {', '.join(modules)}; print(sorted({{'torch', 'mujoco'}} & set(sys.modules)))"
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert imported.strip() == "[]"
