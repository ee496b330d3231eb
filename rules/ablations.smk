# The ablation study: for each env listed under `ablations` in the config, MBPO's `default` and each
# listed ablation (mbpo/variants.py; `mbpo variants` prints them), for every seed of `ablation_seeds`
# (default: the env's `seeds`; `default`'s runs of those seeds are the comparison), trained by the
# `train` rule like any run; then one light rule compares each ablation with `default` in
# reports/ablations.md. A config without `ablations` (or with only empty lists) plans none of this.

from mbpo.variants import variants_for

ABLATIONS = {env: names for env, names in config.get("ablations", {}).items() if names}  # [] runs none
for _env, _names in ABLATIONS.items():
    _unknown = [name for name in _names if name not in variants_for("mbpo")]
    if _unknown:
        raise ValueError(
            f"config `ablations.{_env}`: unknown MBPO variant(s) {', '.join(_unknown)}; "
            f"allowed: {', '.join(variants_for('mbpo'))} (registry: mbpo/variants.py)"
        )

ABLATION_RUN_DIRS = [
    RUN_DIR.format(env=env, algo="mbpo", variant=variant, seed=seed)
    for env, names in ABLATIONS.items()
    for variant in dict.fromkeys(["default", *names])
    for seed in config.get("ablation_seeds") or env_seeds(env)
]
ABLATION_RESULTS = f"{RESULTS}/ablations"
ABLATION_REPORT = f"{REPORTS}/ablations.md"
# What `mbpo ablations` draws (mbpo/analysis/ablation_figures.py: FIGURES), with its caption in the report.
ABLATION_FIGURES = {
    f"{REPORTS}/figures/ablations_curves.png": "report/ablations_curves.rst",
    f"{REPORTS}/figures/ablations_effects.png": "report/ablations_effects.rst",
}
ABLATION_TARGETS = [ABLATION_REPORT] if ABLATIONS else []
# As for the main analysis (rules/common.smk): runs deleted since the last report retrain, then refresh it.
ABLATION_STALE_RUNS = (
    [d for d in ABLATION_RUN_DIRS if not os.path.exists(f"{d}/metrics.csv")]
    if os.path.exists(f"{ABLATION_RESULTS}/summary.csv")
    else []
)


localrules:
    ablations,


rule ablations:
    input:
        metrics=[f"{run_dir}/metrics.csv" for run_dir in ABLATION_RUN_DIRS],
        configs=[f"{run_dir}/config.yaml" for run_dir in ABLATION_RUN_DIRS],
    output:
        md=ABLATION_REPORT,
        stats=report(f"{ABLATION_RESULTS}/stats.csv", caption="report/ablations_stats.rst", category="Ablations"),
        summary=f"{ABLATION_RESULTS}/summary.csv",
        curves=f"{ABLATION_RESULTS}/curves.csv",
        figures=[report(path, caption=caption, category="Ablations") for path, caption in ABLATION_FIGURES.items()],
    log:
        f"{LOGS}/ablations.log",
    params:
        run_dirs=ABLATION_RUN_DIRS,
        envs=list(ABLATIONS),
        figures_dir=lambda wildcards, output: Path(output.figures[0]).parent,
        final_window=config["final_window"],
        resamples=config["bootstrap_resamples"],
        confidence=config["confidence"],
        seed=config["stats_seed"],
        name=config["name"],
        config_files=CONFIG_FILES,
        stale_runs=ABLATION_STALE_RUNS,
    shell:
        "mbpo ablations {params.run_dirs:q} --envs {params.envs} --final-window {params.final_window} "
        "--out {output.md:q} --stats {output.stats:q} --summary {output.summary:q} --curves {output.curves:q} "
        "--figures-dir {params.figures_dir:q} --resamples {params.resamples} --confidence {params.confidence} "
        "--seed {params.seed} --name {params.name:q} --config-files {params.config_files:q} > {log:q} 2>&1"
