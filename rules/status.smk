# `snakemake --nolock status` (with the same --configfile as the training): {reports_dir}/STATUS.md, every
# planned run's env step, budget and hours so far, read from the run logs while they are being written.
# `--nolock` lets it run beside the workflow that trains; it only reads the runs and writes STATUS.md, and
# {results_dir}/finished_runs.txt: the record files of the runs that reached their budget (what to commit),
# and {results_dir}/interrupted_runs.txt: the metrics.csv of the runs in progress. Relaunching with nothing
# training, pass those to `--forcerun`: in a fresh checkout Snakemake has no metadata that marks them
# incomplete and would take them for finished; forced, each resumes from its checkpoint.
# A rule without outputs runs whenever it is asked for, and `all` never asks.

STATUS = f"{REPORTS}/STATUS.md"


localrules:
    status,


rule status:
    log:
        f"{LOGS}/status.log",
    params:
        run_dirs=ALL_RUN_DIRS,
        budgets=[planned_steps(d) for d in ALL_RUN_DIRS],
        root=f"{RESULTS}/runs",
        title=f"Run status: protocol `{config['name']}`",
        out=STATUS,
        finished=f"{RESULTS}/finished_runs.txt",
        interrupted=f"{RESULTS}/interrupted_runs.txt",
    shell:
        "mbpo status {params.run_dirs:q} --budgets {params.budgets} --root {params.root:q} "
        "--title {params.title:q} --out {params.out:q} --finished-files {params.finished:q} "
        "--interrupted {params.interrupted:q} > {log:q} 2>&1"
