# From run logs to the reported numbers. Each rule is one `mbpo` subcommand; all are light, so they run on
# the submitting host even under a cluster executor. Outputs flagged with report() make up Snakemake's HTML
# report (`snakemake --report reports/report.html`): the table, every figure, each run's provenance page and
# the CSVs behind them, with the captions in rules/report/.


localrules:
    aggregate,
    stats,
    table,
    figures,
    run_pages,


RUNS_CSV = f"{RESULTS}/runs.csv"
TABLE_HTML = f"{REPORTS}/table.html"
FIGURE_DIR = f"{REPORTS}/figures"
RUN_PAGES = f"{REPORTS}/runs"
# Every planned run, the ablations' (rules/ablations.smk) included: each has its page and its status row.
ALL_RUN_DIRS = list(dict.fromkeys([*(str(Path(path).parent) for path in RUN_METRICS), *ABLATION_RUN_DIRS]))

# Every figure `mbpo figures` writes, with where it goes in the report: (category, caption).
FIGURE_REPORT = {
    **{f"curves_{env}.png": ("Learning curves", "report/curves_env.rst") for env in config["envs"]},
    "overview.png": ("Learning curves", "report/overview.rst"),
    "final_scores.png": ("MBPO vs SAC", "report/final_scores.rst"),
    "prob_improvement.png": ("MBPO vs SAC", "report/prob_improvement.rst"),
    "sample_efficiency.png": ("MBPO vs SAC", "report/sample_efficiency.rst"),
    "performance_profile.png": ("MBPO vs SAC", "report/performance_profile.rst"),
    "compute.png": ("Compute", "report/compute.rst"),
}
FIGURES = [f"{FIGURE_DIR}/{name}" for name in FIGURE_REPORT]


rule aggregate:
    input:
        # Every expected run, listed from the config: a missing run stops the DAG, it is never dropped.
        metrics=RUN_METRICS,
        configs=RUN_CONFIGS,
    output:
        # The CSVs are downloads in the report's Data category.
        curves=report(CURVES, caption="report/curves_csv.rst", category="Data"),
        summary=report(SUMMARY, caption="report/summary_csv.rst", category="Data"),
        runs=report(RUNS_CSV, caption="report/runs_csv.rst", category="Data"),
    log:
        f"{LOGS}/aggregate.log",
    params:
        final_window=config["final_window"],
        stale_runs=STALE_RUNS,
    shell:
        "mbpo aggregate --final-window {params.final_window} --curves {output.curves:q} "
        "--summary {output.summary:q} --runs {output.runs:q} {input.metrics:q} > {log:q} 2>&1"


rule stats:
    input:
        summary=SUMMARY,
        curves=CURVES,
    output:
        report(STATS, caption="report/stats_csv.rst", category="Data"),
    log:
        f"{LOGS}/stats.log",
    params:
        resamples=config["bootstrap_resamples"],
        confidence=config["confidence"],
        seed=config["stats_seed"],
    shell:
        "mbpo stats --summary {input.summary:q} --curves {input.curves:q} --out {output:q} "
        "--resamples {params.resamples} --confidence {params.confidence} --seed {params.seed} > {log:q} 2>&1"


rule table:
    input:
        summary=SUMMARY,
        stats=STATS,
        curves=CURVES,
        runs=RUNS_CSV,
    output:
        md=TABLE,
        html=report(TABLE_HTML, caption="report/table.rst", category="Table"),
    log:
        f"{LOGS}/table.log",
    params:
        stale_runs=STALE_RUNS,
        envs=config["envs"],
        name=config["name"],
        config_files=CONFIG_FILES,
        final_window=config["final_window"],
        confidence=config["confidence"],
    shell:
        "mbpo table --summary {input.summary:q} --stats {input.stats:q} --curves {input.curves:q} "
        "--runs {input.runs:q} --out {output.md:q} --html {output.html:q} --envs {params.envs} "
        "--name {params.name:q} --config-files {params.config_files:q} "
        "--final-window {params.final_window} --confidence {params.confidence} > {log:q} 2>&1"


rule figures:
    input:
        curves=CURVES,
        summary=SUMMARY,
        stats=STATS,
        runs=RUNS_CSV,
    output:
        [
            report(path, caption=caption, category=category, labels={"figure": Path(path).stem})
            for path, (category, caption) in zip(FIGURES, FIGURE_REPORT.values())
        ],
    log:
        f"{LOGS}/figures.log",
    params:
        stale_runs=STALE_RUNS,
        out_dir=lambda wildcards, output: Path(output[0]).parent,
        envs=config["envs"],
        confidence=config["confidence"],
    shell:
        "mbpo figures --curves {input.curves:q} --summary {input.summary:q} --stats {input.stats:q} "
        "--runs {input.runs:q} --out-dir {params.out_dir:q} --envs {params.envs} "
        "--confidence {params.confidence} > {log:q} 2>&1"


rule run_pages:
    input:
        metrics=[f"{run_dir}/metrics.csv" for run_dir in ALL_RUN_DIRS],
        configs=[f"{run_dir}/config.yaml" for run_dir in ALL_RUN_DIRS],
    output:
        report(
            directory(RUN_PAGES),
            patterns=["{env}/{algo}/{variant}/seed{seed}.html"],
            caption="report/run_page.rst",
            category="Runs",
            subcategory="{env}",
            labels={"env": "{env}", "algo": "{algo}", "variant": "{variant}", "seed": "{seed}"},
        ),
    log:
        f"{LOGS}/run_pages.log",
    params:
        stale_runs=STALE_RUNS + ABLATION_STALE_RUNS,
        run_dirs=ALL_RUN_DIRS,
    shell:
        "mbpo run-pages --out-dir {output:q} {params.run_dirs:q} > {log:q} 2>&1"
