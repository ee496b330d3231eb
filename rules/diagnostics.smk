# Model diagnostics (mbpo/diagnostics): reports/model_error.md and its figures, from the diagnostics files
# the MBPO runs write when `diagnostics.every` > 0 is among their overrides (config/smoke.yaml turns them
# on). With diagnostics off (the paper protocol's default) this file adds no target to `all`.


# `diagnostics.every` as the MBPO runs get it (the `mbpo` overrides win over `all`; 0 when unset).
DIAGNOSTICS_EVERY = int(
    {**config["overrides"].get("all", {}), **config["overrides"].get("mbpo", {})}.get("diagnostics.every", 0)
)
DIAGNOSTICS_ON = "mbpo" in config["algos"] and DIAGNOSTICS_EVERY > 0
MBPO_RUN_METRICS = [METRICS.format(**run) for run in RUNS if run["algo"] == "mbpo"]
MODEL_ERROR_REPORT = f"{REPORTS}/model_error.md"
MODEL_ERROR_FIGURES = [f"{REPORTS}/figures/model_error_{env}.png" for env in config["envs"]] + [
    f"{REPORTS}/figures/model_error_direct.png",
    f"{REPORTS}/figures/rollout_bound.png",
]
# What `rule all` asks for: the report when the runs measure anything, nothing otherwise.
MODEL_ERROR_TARGETS = [MODEL_ERROR_REPORT, *MODEL_ERROR_FIGURES] if DIAGNOSTICS_ON else []


localrules:
    model_error_report,


rule model_error_report:
    input:
        # The runs' metrics.csv mark them finished; their model_error.csv / rollout_bound.csv lie beside it.
        metrics=MBPO_RUN_METRICS,
    output:
        report=MODEL_ERROR_REPORT,
        figures=MODEL_ERROR_FIGURES,
    log:
        f"{LOGS}/model_error_report.log",
    params:
        run_dirs=lambda wildcards, input: [str(Path(path).parent) for path in input.metrics],
        figures_dir=lambda wildcards, output: Path(output.figures[0]).parent,
        envs=config["envs"],
        name=config["name"],
    shell:
        "python -m mbpo.diagnostics report --runs {params.run_dirs:q} --out {output.report:q} "
        "--figures-dir {params.figures_dir:q} --envs {params.envs} --name {params.name:q} > {log:q} 2>&1"
