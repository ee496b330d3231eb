# From run logs to the reported numbers. Each rule is one `mbpo` subcommand; all are light, so they run on
# the submitting host even under a cluster executor.


localrules:
    aggregate,
    stats,
    table,
    figures,


rule aggregate:
    input:
        # Every expected run, listed from the config: a missing run stops the DAG, it is never dropped.
        metrics=RUN_METRICS,
        configs=RUN_CONFIGS,
    output:
        curves=CURVES,
        summary=SUMMARY,
    log:
        f"{LOGS}/aggregate.log",
    params:
        final_window=config["final_window"],
        stale_runs=STALE_RUNS,
    shell:
        "mbpo aggregate --final-window {params.final_window} --curves {output.curves:q} "
        "--summary {output.summary:q} {input.metrics:q} > {log:q} 2>&1"


rule stats:
    input:
        summary=SUMMARY,
        curves=CURVES,
    output:
        STATS,
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
    output:
        TABLE,
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
        "--out {output:q} --envs {params.envs} --name {params.name:q} --config-files {params.config_files:q} "
        "--final-window {params.final_window} --confidence {params.confidence} > {log:q} 2>&1"


rule figures:
    input:
        curves=CURVES,
        summary=SUMMARY,
        stats=STATS,
    output:
        FIGURES,
    log:
        f"{LOGS}/figures.log",
    params:
        stale_runs=STALE_RUNS,
        out_dir=lambda wildcards, output: Path(output[0]).parent,
        envs=config["envs"],
        confidence=config["confidence"],
        seed=config["stats_seed"],
    shell:
        "mbpo figures --curves {input.curves:q} --summary {input.summary:q} --stats {input.stats:q} "
        "--out-dir {params.out_dir:q} --envs {params.envs} --confidence {params.confidence} "
        "--seed {params.seed} > {log:q} 2>&1"
