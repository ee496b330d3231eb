"""The Snakemake workflow: dry-run job counts, config validation, and (on a tiny real run) retraining one
deleted run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENVS = ["hopper", "walker2d", "halfcheetah", "ant"]
ANALYSIS = {"aggregate": 1, "stats": 1, "table": 1, "figures": 1, "run_pages": 1}
HOPPER_ABLATIONS = ["penalty", "penalty-0.5", "penalty-2", "learned-termination", "no-termination", "fixed-k1"]
HOPPER_ABLATIONS += ["fixed-kmax"]
# config/cpu.yaml's (algo, variant) groups: MBPO, SAC as published, SAC with MBPO's settings.
CPU_GROUPS = [("mbpo", "default"), ("sac", "default"), ("sac", "mbpo-entropy")]


def copy_workflow(dest: Path) -> Path:
    """The workflow's files in a fresh directory, so no results of the checkout change what Snakemake plans."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "Snakefile", dest)
    for folder in ("rules", "config", "profiles"):
        shutil.copytree(ROOT / folder, dest / folder)
    return dest


@pytest.fixture
def workflow(tmp_path: Path) -> Path:
    return copy_workflow(tmp_path)


def snakemake(
    workdir: Path, *args: str, configfile: str | None = None, dry_run: bool = True
) -> subprocess.CompletedProcess:
    """A dry run (or, with ``dry_run=False``, a real one on 2 cores) of the targets and options in `args`;
    `--configfile` (one file, or several separated by spaces) goes last: it takes every following word."""
    mode = ["--dry-run", "--printshellcmds", "--cores", "8"] if dry_run else ["--cores", "2"]
    extra = ["--configfile", *configfile.split()] if configfile else []
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *mode, *args, *extra],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120 if dry_run else 600,
    )


def job_counts(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Parse the `Job stats` table of a dry run; {} if there is nothing to do."""
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout + result.stderr
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:")[1].split("\n\n")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, flags=re.M) if m[1] != "total"}


def planned_runs(result: subprocess.CompletedProcess) -> dict[tuple[str, str, str], int]:
    """(env, algo, variant) -> seeds planned, from a dry run's train jobs."""
    runs: dict[tuple[str, str, str], int] = {}
    for m in re.finditer(r"wildcards: env=(\w+), algo=(\w+), variant=([\w.-]+), seed=\d+", result.stdout):
        runs[m.groups()] = runs.get(m.groups(), 0) + 1
    return runs


def test_paper_protocol_plans_40_runs_and_the_ablations(workflow: Path) -> None:
    """40 main runs (4 envs x MBPO/SAC x 5 seeds), then 5 seeds of each ablation: 7 on Hopper, 5 on Walker2d
    (fixed-k1 and fixed-kmax equal default there)."""
    result = snakemake(workflow, "all", configfile="config/config.yaml")
    assert job_counts(result) == {"train": 100, **ANALYSIS, "ablations": 1, "all": 1}
    runs = planned_runs(result)
    ablations = {(env, v): n for (env, algo, v), n in runs.items() if algo == "mbpo" and v != "default"}
    assert ablations == {
        **{("hopper", v): 5 for v in HOPPER_ABLATIONS},
        **{("walker2d", v): 5 for v in HOPPER_ABLATIONS[:5]},
    }
    command = next(line for line in result.stdout.splitlines() if "mbpo ablations" in line)
    assert "--envs hopper walker2d" in command and "results/runs/hopper/mbpo/penalty-0.5/seed4" in command


def test_train_command_uses_the_package_cli(workflow: Path) -> None:
    result = snakemake(workflow, "results/runs/hopper/sac/default/seed3/metrics.csv")
    command = next(line for line in result.stdout.splitlines() if "mbpo train" in line)
    for part in ("--env hopper", "--algo sac", "--variant default", "--seed 3", "--threads 1", "--quiet"):
        assert part in command
    assert "--steps" not in command  # the paper budget comes from `mbpo train`'s presets


def test_smoke_protocol_plans_16_runs_and_each_ablation_with_overrides(workflow: Path) -> None:
    result = snakemake(workflow, "all", configfile="config/smoke.yaml")
    counts = {"train": 23, **ANALYSIS, "ablations": 1, "model_error_report": 1, "all": 1}
    assert job_counts(result) == counts  # the smoke runs turn the model diagnostics on: their report is built
    ablations = {v: n for (env, algo, v), n in planned_runs(result).items() if algo == "mbpo" and v != "default"}
    assert ablations == dict.fromkeys(HOPPER_ABLATIONS, 1)  # every MBPO ablation of the registry, once, on Hopper
    command = next(line for line in result.stdout.splitlines() if "mbpo train --env ant --algo mbpo" in line)
    assert "--steps 1000" in command and "--set model_train_freq=250" in command
    assert "--set diagnostics.every=1" in command
    assert "'rollout_schedule=[0, 1, 1, 3]'" in command
    assert "results/smoke/runs/ant/mbpo" in command


def test_cpu_protocol_gives_budgets_per_algorithm_and_seeds_per_env(workflow: Path) -> None:
    """config/cpu.yaml: InvertedPendulum 7 seeds, MBPO 10k / SAC 30k; Hopper 3 seeds, MBPO 50k / SAC 150k; SAC
    as published and with MBPO's SAC settings; three InvertedPendulum ablations on seeds 0-4, against the
    `default` runs of those seeds (already planned)."""
    result = snakemake(workflow, "all", configfile="config/cpu.yaml")
    assert job_counts(result) == {"train": 45, **ANALYSIS, "ablations": 1, "all": 1}
    ablations = ["no-termination", "learned-termination", "penalty"]
    assert planned_runs(result) == {
        **{("invertedpendulum", algo, variant): 7 for algo, variant in CPU_GROUPS},
        **{("hopper", algo, variant): 3 for algo, variant in CPU_GROUPS},
        **{("invertedpendulum", "mbpo", variant): 5 for variant in ablations},
    }
    commands = [line for line in result.stdout.splitlines() if "mbpo train" in line]
    budgets = {
        ("invertedpendulum", "mbpo"): 10_000,
        ("invertedpendulum", "sac"): 30_000,
        ("hopper", "mbpo"): 50_000,
        ("hopper", "sac"): 150_000,
    }
    for (env, algo), steps in budgets.items():
        mine = [c for c in commands if f"--env {env} --algo {algo} " in c]
        assert mine and all(f"--steps {steps} " in c and "reports/cpu/results/runs/" in c for c in mine)


def test_cpu_hopper_seeds_layer_adds_two_seeds_to_each_hopper_group_only(workflow: Path) -> None:
    """Snakemake merges a layer's `seeds` into cpu.yaml's per env: InvertedPendulum keeps its 7."""
    result = snakemake(workflow, "all", configfile="config/cpu.yaml config/cpu-hopper-seeds.yaml")
    assert {key: n for key, n in planned_runs(result).items() if key[1:] in CPU_GROUPS} == {
        **{("invertedpendulum", algo, variant): 7 for algo, variant in CPU_GROUPS},
        **{("hopper", algo, variant): 5 for algo, variant in CPU_GROUPS},
    }


def test_seeds_per_env_must_cover_every_env(workflow: Path) -> None:
    (workflow / "bad.yaml").write_text("seeds: {hopper: [0, 1], walker2d: [0, 1]}\n")
    result = snakemake(workflow, "all", configfile="bad.yaml")
    assert result.returncode != 0
    assert "config `seeds` lists seeds per env but has no entry for `halfcheetah`" in result.stdout + result.stderr


def test_status_lists_every_planned_run_before_any_ran(workflow: Path) -> None:
    result = snakemake(workflow, "status", configfile="config/cpu.yaml")  # a dry run: the command it would run
    command = next(line for line in result.stdout.splitlines() if "mbpo status" in line)
    assert command.count("reports/cpu/results/runs/") == 45 and "--out reports/cpu/STATUS.md" in command
    budgets = command.split("--budgets ")[1].split(" --")[0].split()
    main = ["10000"] * 7 + ["30000"] * 14 + ["50000"] * 3 + ["150000"] * 6  # in RUNS' order
    assert budgets == main + ["10000"] * 15  # then the ablations, at MBPO's budget


def test_a_variant_is_one_list_entry(workflow: Path) -> None:
    (workflow / "variant.yaml").write_text("variants: {sac: [default, mbpo-entropy]}\n")
    result = snakemake(workflow, "all", configfile="variant.yaml")
    assert job_counts(result)["train"] == 120  # 20 more SAC runs; MBPO keeps its variants from config.yaml
    command = next(line for line in result.stdout.splitlines() if "--variant mbpo-entropy" in line)
    assert "--algo sac" in command and "results/runs/" in command and "/sac/mbpo-entropy/seed" in command


def test_an_unknown_variant_fails_naming_it_and_the_allowed_ones(workflow: Path) -> None:
    (workflow / "bad.yaml").write_text("variants: {mbpo: [default, mbpo-entropy]}\n")
    result = snakemake(workflow, "all", configfile="bad.yaml")
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "unknown variant(s) mbpo-entropy for mbpo; allowed: default" in out


def test_an_unknown_ablation_fails_naming_it_and_the_allowed_ones(workflow: Path) -> None:
    (workflow / "bad.yaml").write_text("ablations: {hopper: [penalty-3]}\n")
    result = snakemake(workflow, "all", configfile="bad.yaml")
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "config `ablations.hopper`: unknown MBPO variant(s) penalty-3; allowed: default, penalty," in out


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"final_windw": 5}, "final_windw"),
        ({"overrides": {"mpbo": {}}}, "mpbo"),
        ({"envs": ["hoper"]}, "hoper"),
        ({"seeds": [0]}, "seeds"),
        ({"steps": {"hopper": 0}}, "steps"),
        ({"steps": {"hopper": {"ppo": 5000}}}, "ppo"),
        ({"seeds": {"hoper": [0, 1]}}, "hoper"),
        ({"wandb": {"mode": "ofline"}}, "ofline"),
        ({"variants": {"ppo": ["default"]}}, "ppo"),
        ({"ablations": {"hoper": ["penalty"]}}, "hoper"),
    ],
)
def test_a_bad_config_fails_naming_the_key(workflow: Path, config: dict, named: str) -> None:
    (workflow / "bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workflow, "all", configfile="bad.yaml")
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "Error validating config file" in out and named in out


TINY_WORKFLOW = {
    "name": "tiny",
    "envs": ["hopper"],
    "seeds": [0, 1],
    "steps": {"hopper": 300},
    "overrides": {
        "all": {
            "init_exploration_steps": 100,
            "eval_every": 100,
            "eval_episodes": 1,
            "sac.batch_size": 32,
            "sac.hidden_sizes": [16, 16],
        },
        "mbpo": {
            "epoch_length": 100,
            "model_train_freq": 100,
            "rollout_batch_size": 100,
            "num_train_repeat": 1,
            "model.hidden_size": 16,
            "model.max_epochs": 2,
        },
    },
    "ablations": {"hopper": ["no-termination"], "walker2d": []},
    "final_window": 2,
    "bootstrap_resamples": 200,
    "wandb": {"mode": "disabled"},
}


def test_deleting_one_run_retrains_exactly_that_run(workflow: Path) -> None:
    """A real (tiny) workflow run, because Snakemake's decision rests on the metadata a real run records."""
    (workflow / "tiny.yaml").write_text(yaml.safe_dump(TINY_WORKFLOW))
    built = snakemake(workflow, "all", configfile="tiny.yaml", dry_run=False)
    assert built.returncode == 0, built.stdout + built.stderr
    assert job_counts(snakemake(workflow, "all", configfile="tiny.yaml")) == {}
    runs = sorted((workflow / "results/runs").glob("*/*/*/seed*/metrics.csv"))
    assert len(runs) == 6  # MBPO and SAC, and the no-termination ablation, 2 seeds each
    assert "## Hopper-v5" in (workflow / "reports/ablations.md").read_text()
    kept = {run: run.stat().st_mtime_ns for run in runs}

    # Snakemake's HTML report of the finished workflow: the table, every figure and each run's page.
    report = subprocess.run(
        [sys.executable, "-m", "snakemake", "--report", "reports/report.html", "--configfile", "tiny.yaml"],
        cwd=workflow,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.returncode == 0, report.stdout + report.stderr
    added = re.findall(r"Adding (\S+) \(", report.stdout + report.stderr)
    figures = {p.name for p in (workflow / "reports/figures").glob("*.png")}
    assert len(figures) == 9  # one env: its curves, then overview, final scores, ...; two of the ablations
    assert {"table.html", "stats.csv", "runs.csv", *figures} <= set(added)
    pages = sorted(name for name in added if name.startswith("seed"))
    assert pages == ["seed0.html"] * 3 + ["seed1.html"] * 3  # one provenance page per run, the ablation's too
    assert (workflow / "reports/report.html").stat().st_size > 100_000

    deleted = workflow / "results/runs/hopper/sac/default/seed1/metrics.csv"
    deleted.unlink()
    for target, expected in [
        ("all", {"train": 1, **ANALYSIS, "all": 1}),
        ("reports/table.md", {"train": 1, "aggregate": 1, "stats": 1, "table": 1}),
    ]:
        planned = snakemake(workflow, target, configfile="tiny.yaml")
        assert job_counts(planned) == expected
        assert re.findall(r"wildcards: (.*)", planned.stdout) == ["env=hopper, algo=sac, variant=default, seed=1"]
    ablation_run = workflow / "results/runs/hopper/mbpo/no-termination/seed0/metrics.csv"
    ablation_run.rename(ablation_run.with_suffix(".kept"))  # the ablation report needs exactly that run again
    planned = snakemake(workflow, "reports/ablations.md", configfile="tiny.yaml")
    assert job_counts(planned) == {"train": 1, "ablations": 1}
    ablation_run.with_suffix(".kept").rename(ablation_run)

    rebuilt = snakemake(workflow, "reports/table.md", configfile="tiny.yaml", dry_run=False)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert deleted.exists()
    assert all(run.stat().st_mtime_ns == mtime for run, mtime in kept.items() if run != deleted)

    # A seed added to the config after the table was built, as config/cpu-hopper-seeds.yaml adds Hopper's: `all`
    # trains its runs under `--rerun-triggers mtime` too, which ignores the analysis rules' `stale_runs` param.
    (workflow / "more_seeds.yaml").write_text("seeds: [0, 1, 2]\n")
    planned = snakemake(workflow, "all", "--rerun-triggers", "mtime", configfile="tiny.yaml more_seeds.yaml")
    assert job_counts(planned) == {"train": 3, **ANALYSIS, "ablations": 1, "all": 1}
    assert set(re.findall(r"wildcards: .*variant=(.*), seed=2", planned.stdout)) == {"default", "no-termination"}

    # A fresh clone of committed run logs (config/cpu.yaml's evidence): no Snakemake metadata, every file's
    # time the checkout's. The table is rebuilt from the logs; no run is retrained.
    shutil.rmtree(workflow / ".snakemake")
    for path in (workflow / "results").rglob("*"):
        if path.is_file():
            path.touch()
    (workflow / "results/summary.csv").unlink()
    planned = snakemake(workflow, "reports/table.md", configfile="tiny.yaml")
    assert job_counts(planned) == {"aggregate": 1, "stats": 1, "table": 1}


def test_lint_finds_nothing_but_the_conda_hint(workflow: Path) -> None:
    """Every rule has a log, no absolute paths, ...; the software environment is the package's venv, not conda."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"], cwd=workflow, capture_output=True, text=True, timeout=120
    )
    lints = re.findall(r"^\s*\* (.+?):?$", result.stdout + result.stderr, flags=re.M)
    assert lints, "expected the lint report to list the conda hint per rule"
    assert set(lints) == {"Specify a conda environment or container for each rule."}
