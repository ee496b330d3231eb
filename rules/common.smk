# Paths and run lists derived from the validated config. No rules here, and nothing random.

import json
import os
import shlex
from pathlib import Path

from mbpo.presets import preset
from mbpo.variants import variants_for

RESULTS = config["results_dir"]
REPORTS = config["reports_dir"]
LOGS = f"{RESULTS}/logs"
RUN_DIR = f"{RESULTS}/runs/{{env}}/{{algo}}/{{variant}}/seed{{seed}}"
METRICS = f"{RUN_DIR}/metrics.csv"
RUN_CONFIG = f"{RUN_DIR}/config.yaml"


def run_variants(algo):
    """Variants trained for `algo`, as the config lists them (`default` if it lists none)."""
    names = config["variants"].get(algo, ["default"])
    unknown = [name for name in names if name not in variants_for(algo)]
    if unknown:
        raise ValueError(
            f"config `variants.{algo}`: unknown variant(s) {', '.join(unknown)} for {algo}; "
            f"allowed: {', '.join(variants_for(algo))} (registry: mbpo/variants.py)"
        )
    return names


def env_seeds(env):
    """Seeds of `env`: the `seeds` list, or the env's own list where `seeds` maps envs to lists."""
    seeds = config["seeds"]
    if not isinstance(seeds, dict):
        return seeds
    if env not in seeds:
        raise ValueError(
            f"config `seeds` lists seeds per env but has no entry for `{env}` "
            f"(it has {', '.join(seeds) or 'none'}); give `seeds.{env}` or one list for every env"
        )
    return seeds[env]


def env_steps(env, algo):
    """The env-step budget of (env, algo): `steps.<env>`, or `steps.<env>.<algo>` where the budget is per
    algorithm; None (an env or algorithm left out) means `mbpo train`'s paper budget."""
    steps = config["steps"].get(env)
    return steps.get(algo) if isinstance(steps, dict) else steps


def planned_steps(run_dir):
    """The budget of the run in `run_dir` (what its train job asks for): `steps`, else `mbpo train`'s preset."""
    env, algo = Path(run_dir).parts[-4:-2]  # RUN_DIR: .../{env}/{algo}/{variant}/seed{seed}
    return env_steps(env, algo) or preset(env, algo)["steps"]


RUNS = [
    {"env": env, "algo": algo, "variant": variant, "seed": seed}
    for env in config["envs"]
    for algo in config["algos"]
    for variant in run_variants(algo)
    for seed in env_seeds(env)
]
RUN_METRICS = [METRICS.format(**run) for run in RUNS]
RUN_CONFIGS = [RUN_CONFIG.format(**run) for run in RUNS]

CURVES = f"{RESULTS}/curves.csv"
SUMMARY = f"{RESULTS}/summary.csv"
STATS = f"{RESULTS}/stats.csv"
TABLE = f"{REPORTS}/table.md"
FIGURES = [f"{REPORTS}/figures/curves_{env}.png" for env in config["envs"]] + [
    f"{REPORTS}/figures/overview.png",
    f"{REPORTS}/figures/final_scores.png",
]

# The config files behind this DAG, for the table header: the workflow's own, then any --configfile.
CONFIG_FILES = list(
    dict.fromkeys(["config/config.yaml", *(os.path.relpath(path) for path in workflow.overwrite_configfiles)])
)

# Snakemake does not remake a deleted intermediate file while the targets built from it look up to date
# (snakemake/snakemake#1978), and timestamps cannot say otherwise (it also compares checksums). So the
# analysis rules carry, as a param, the runs that went missing since the last aggregation: a change of
# params reruns them, and rerunning them needs the missing runs, so `snakemake reports/table.md` (like
# `snakemake all`) retrains exactly those runs. The next invocation refreshes the analysis once more, as
# the param returns to [] (cheap: no training).
STALE_RUNS = [path for path in RUN_METRICS if not os.path.exists(path)] if os.path.exists(SUMMARY) else []
if STALE_RUNS:
    logger.warning(f"{len(STALE_RUNS)} run(s) missing since the last aggregation, e.g. {STALE_RUNS[0]}")


def _set_value(value):
    """A `--set` value as `mbpo train` parses it: strings as they are, everything else as YAML/JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def train_args(wildcards):
    """The run-specific `mbpo train` arguments: an explicit budget if the config gives one, then overrides."""
    args = []
    steps = env_steps(wildcards.env, wildcards.algo)
    if steps is not None:
        args += ["--steps", str(steps)]
    overrides = {**config["overrides"].get("all", {}), **config["overrides"].get(wildcards.algo, {})}
    for key, value in overrides.items():
        args += ["--set", f"{key}={_set_value(value)}"]
    return shlex.join(args)
