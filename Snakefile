# mbpo-bench: MBPO vs SAC on MuJoCo v5, from training runs to the table and figures.
#
#   snakemake --cores 8 all                                   # paper protocol (config/config.yaml)
#   snakemake --configfile config/smoke.yaml --cores 2 all    # every code path, tiny, in minutes
#   snakemake --workflow-profile profiles/slurm all           # paper scale on a SLURM cluster
#   snakemake --report reports/report.html                    # afterwards: one browsable HTML report
#   snakemake --nolock status                                 # meanwhile: reports/STATUS.md, where each run stands
#
# Each heavy step is one `mbpo ...` command, so the same command works in a shell, in pytest and on a cluster.

from snakemake.utils import min_version, validate

min_version("8.0")


configfile: "config/config.yaml"


validate(config, "config/schema.yaml")


report: "rules/report/workflow.rst"


wildcard_constraints:
    env="[a-z0-9]+",
    algo="mbpo|sac",
    variant="[a-z0-9][a-z0-9_.-]*",
    seed=r"\d+",


include: "rules/common.smk"
include: "rules/train.smk"
include: "rules/ablations.smk"
include: "rules/analysis.smk"
include: "rules/diagnostics.smk"
include: "rules/status.smk"


# The runs themselves are inputs too: a run added to the config after its report was built (a new seed) is a
# missing file under up-to-date targets, which Snakemake only builds when something asks for it directly
# (snakemake/snakemake#1978); the analysis rules' `stale_runs` param does not help under `--rerun-triggers mtime`.
rule all:
    input:
        [f"{run_dir}/metrics.csv" for run_dir in ALL_RUN_DIRS],
        TABLE,
        TABLE_HTML,
        FIGURES,
        RUN_PAGES,
        ABLATION_TARGETS,
        MODEL_ERROR_TARGETS,
    default_target: True
