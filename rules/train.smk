# One training run per (env, algo, variant, seed). Threads, memory, runtime and GPUs come from the profile.


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
        wandb_mode=config["wandb"]["mode"],
        wandb_project=config["wandb"]["project"],
    shell:
        "WANDB_MODE={params.wandb_mode:q} WANDB_PROJECT={params.wandb_project:q} "
        "mbpo train --env {wildcards.env} --algo {wildcards.algo} --variant {wildcards.variant} "
        "--seed {wildcards.seed} --out {params.run_dir:q} --device {params.device} --threads {threads} "
        "--quiet {params.extra} > {log:q} 2>&1"
