# One training run per (env, algo, variant, seed). Threads, memory, runtime and GPUs come from the profile.
#
# The run's checkpoint.pt is deliberately not an output: Snakemake deletes the outputs of a job that was
# interrupted or failed, and its rerun (`rerun-incomplete` in the profiles) resumes from the checkpoint,
# rewriting metrics.csv and config.yaml from it; the log says from which env step. A finished run deletes
# its checkpoint unless `keep_checkpoint` is set in the overrides.


rule train:
    output:
        metrics=METRICS,
        config=RUN_CONFIG,
    log:
        f"{LOGS}/train/{{env}}/{{algo}}/{{variant}}/seed{{seed}}.log",
    params:
        run_dir=lambda wildcards, output: Path(output.metrics).parent,
        extra=train_args,
        device=config["device"],
    shell:
        # W&B settings are not params, so changing them never retrains a run. As in `mbpo train`, a
        # WANDB_MODE / WANDB_PROJECT already set in the environment wins over the config.
        "WANDB_MODE=${{WANDB_MODE:-{config[wandb][mode]}}} "
        "WANDB_PROJECT=${{WANDB_PROJECT:-{config[wandb][project]}}} "
        "mbpo train --env {wildcards.env} --algo {wildcards.algo} --variant {wildcards.variant} "
        "--seed {wildcards.seed} --out {params.run_dir:q} --device {params.device} --threads {threads} "
        "--quiet {params.extra} > {log:q} 2>&1"
