"""Reports say which SAC and which dynamics a number comes from.

The table labels the baseline as the published SAC and lists SAC variants (``mbpo-entropy``) in their own
section; runs trained with ``env_dynamics: paper`` carry it into the summary and the table's env label, and
one env's runs may not mix dynamics (their comparison would mean nothing).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mbpo.analysis.runs import RunError, aggregate
from mbpo.analysis.stats import compare
from mbpo.analysis.table import render_table

GROUPS = [("mbpo", "default"), ("sac", "default"), ("sac", "mbpo-entropy")]


def write_run(root: Path, env: str, algo: str, variant: str, seed: int, dynamics: str | None) -> Path:
    """A finished run dir with 4 evaluations; ``dynamics=None`` writes a config from before the option."""
    run_dir = root / env / algo / variant / f"seed{seed}"
    run_dir.mkdir(parents=True)
    cfg = {"env": env, "algo": algo, "variant": variant, "seed": seed, "steps": 4000}
    if dynamics is not None:
        cfg["env_dynamics"] = dynamics
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg))
    scale = {"mbpo": 3000.0, "sac": 1500.0}[algo] + 100.0 * seed + (50.0 if variant != "default" else 0.0)
    rows = "".join(f"{s},{scale * s / 4000},1.0,5,1.0\n" for s in (1000, 2000, 3000, 4000))
    (run_dir / "metrics.csv").write_text("env_step,eval_return_mean,eval_return_std,eval_episodes,wall_time_s\n" + rows)
    return run_dir / "metrics.csv"


def table(root: Path, dynamics: dict[str, str | None]) -> str:
    paths = [
        write_run(root, env, algo, variant, seed, dyn)
        for env, dyn in dynamics.items()
        for algo, variant in GROUPS
        for seed in range(3)
    ]
    curves, summary = aggregate(paths, final_window=2)
    stats = compare(summary, curves, np.random.default_rng(0), n_resamples=100)
    return render_table(summary, stats, curves, envs=list(dynamics), config_files=["c.yaml"], name="t", final_window=2)


def test_the_table_names_the_published_sac_and_lists_sac_variants(tmp_path: Path) -> None:
    text = table(tmp_path, {"hopper": "v5", "walker2d": None})
    assert "| SAC (published, H=−\\|A\\|) IQM [95% CI] |" in text  # pipes escaped inside the Markdown table
    main = text.split("## Our runs")[1].split("\n\n")[1].splitlines()
    assert len({len(re.split(r"(?<!\\)\|", line)) for line in main}) == 1  # every row has the header's cells
    section = text.split("## SAC variants")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if "| `mbpo-entropy` |" in line]
    assert len(rows) == 2 and all("| SAC (MBPO's entropy) |" in row for row in rows)
    assert "## MBPO variants" not in text


def test_paper_dynamics_show_in_the_env_label(tmp_path: Path) -> None:
    text = table(tmp_path, {"walker2d": "paper", "hopper": "v5", "ant": None})
    main = text.split("## Our runs")[1].split("\n\n")[1].splitlines()
    assert [line.split(" | ")[0] for line in main[2:]] == [
        "| Walker2d-v5 (paper dynamics)",
        "| Hopper-v5",
        "| Ant-v5",
        "| **All envs**",
    ]
    assert "- **Walker2d-v5 (paper dynamics)**." in text


def test_summary_records_dynamics_and_refuses_a_mix_within_an_env(tmp_path: Path) -> None:
    same = [write_run(tmp_path / "a", "hopper", "mbpo", "default", s, "paper") for s in range(2)]
    _, summary = aggregate(same, final_window=1)
    assert summary["env_dynamics"].tolist() == ["paper", "paper"]

    mixed = [
        write_run(tmp_path / "b", "hopper", algo, "default", 0, dyn) for algo, dyn in (("mbpo", "paper"), ("sac", "v5"))
    ]
    with pytest.raises(RunError, match=r"env_dynamics 'v5', but .* has 'paper'; runs of one env must share"):
        aggregate(mixed, final_window=1)
    old = write_run(tmp_path / "c", "hopper", "mbpo", "default", 0, None)
    assert aggregate([old], final_window=1)[1]["env_dynamics"].tolist() == ["v5"]


def test_a_summary_without_the_column_reads_as_v5(tmp_path: Path) -> None:
    paths = [write_run(tmp_path, "hopper", a, v, s, "v5") for a, v in GROUPS[:2] for s in range(2)]
    curves, summary = aggregate(paths, final_window=1)
    summary = pd.DataFrame(summary).drop(columns="env_dynamics")
    stats = compare(summary, curves, np.random.default_rng(0), n_resamples=100)
    text = render_table(summary, stats, curves, envs=["hopper"], config_files=["c"], name="t", final_window=1)
    assert "| Hopper-v5 |" in text
