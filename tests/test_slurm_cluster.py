"""The workflow on a real SLURM cluster: the single-node cluster of tests/integration/slurm/cluster.sh runs a
reduced smoke protocol (Hopper, MBPO and SAC, two seeds) through the SLURM profile. Every run must go through
`sbatch` and end COMPLETED in `sacct`, give the same numbers as a local run, survive being killed with
`scancel --signal=TERM` (reported as failed, then rerun), and a partition or account that does not exist must
fail fast with a message naming it. A plain `scancel` is not reported by the executor plugin (an xfail here).

Run with `pytest --slurm -m slurm` (plain `pytest` skips it): the fixture brings the cluster up, installing it
when needed, and skips with the reason where this machine cannot host it (no root, no apt-get, another SLURM).
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
import yaml

from tests.test_workflow import copy_workflow

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "tests/integration/slurm/cluster.sh"
PROFILE = ROOT / "tests/integration/slurm/profile"
CANNOT_HOST = 3  # cluster.sh's exit status where the machine cannot host the cluster

# The smoke protocol cut to one env (both algorithms, the schema's minimum of two seeds): 4 runs of seconds,
# each twice the smoke's length, so that the run killed below is still running when the kill lands.
CONFIG = {
    "envs": ["hopper"],
    "seeds": [0, 1],
    "steps": {"hopper": 2000},
    "ablations": {"hopper": []},  # the smoke config's one-seed ablations are not what this test is about
    "results_dir": "results",
    "reports_dir": "reports",
}
RUNS = [("hopper", algo, "default", seed) for algo in ("mbpo", "sac") for seed in (0, 1)]
# The run to kill, once its log has a row at or past this env step (after learning began: the smoke
# warm-up is 500 steps, evaluations every 250, the run ends at 2000).
KILLED_RUN = ("hopper", "mbpo", "default", 1)
KILL_AFTER_STEP = 1000
SMOKE_EPOCH = 250  # config/smoke.yaml's MBPO epoch_length: one checkpoint per epoch
WALL_CLOCK_COLUMNS = re.compile(r"wall_time_s|model/seconds|time/.*")

T = TypeVar("T")


def copy_slurm_workflow(dest: Path) -> Path:
    """The workflow's files in a fresh directory, with this test's config layer."""
    copy_workflow(dest)
    (dest / "slurm-test.yaml").write_text(yaml.safe_dump(CONFIG))
    return dest


def snakemake_command(*args: str) -> list[str]:
    """Snakemake with the smoke config and our cut; `--configfile` goes last (it takes every following word)."""
    return [sys.executable, "-m", "snakemake", *args, "--configfile", "config/smoke.yaml", "slurm-test.yaml"]


def slurm_command(profile: Path, *args: str) -> list[str]:
    # retries 0: a killed job fails the invocation, which is what we check; the profile's `retries: 1`
    # would resubmit it (Snakemake's own retry logic).
    return snakemake_command("--workflow-profile", str(profile), "--retries", "0", *args)


def environment() -> dict[str, str]:
    """This interpreter's bin/ first on PATH: jobs inherit it (`sbatch --export=ALL`) and call `mbpo`."""
    env = dict(os.environ, WANDB_MODE="disabled")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


def run(command: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=timeout)


def wait_for(find: Callable[[], T | None], what: str, timeout: float, poll: float = 0.25) -> T:
    """Poll ``find`` until it returns something, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = find()
        if found:
            return found
        time.sleep(poll)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def metrics_path(workdir: Path, run: tuple) -> Path:
    env, algo, variant, seed = run
    return workdir / f"results/runs/{env}/{algo}/{variant}/seed{seed}/metrics.csv"


def read_metrics(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def run_of_comment(comment: str) -> tuple:
    """The run a train job belongs to, from the `--comment` the plugin gives it (rule_train_wildcards_<values>)."""
    match = re.fullmatch(r"rule_train_wildcards_([^_]+)_([^_]+)_(.+)_(\d+)", comment)
    assert match, f"not a train job's comment: {comment!r}"
    return match[1], match[2], match[3], int(match[4])


@dataclass(frozen=True)
class SlurmJob:
    job_id: str
    state: str
    comment: str
    cpus: int
    memory: str


def sacct_jobs(run_id: str) -> list[SlurmJob]:
    """The jobs one Snakemake invocation submitted: the plugin names each job by the invocation's run ID."""
    since = (datetime.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    out = subprocess.run(
        ["sacct", "-X", "-P", "-n", "-S", since, "--name", run_id, "-o", "JobIDRaw,State,Comment%300,AllocCPUS,ReqMem"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    jobs = [line.split("|") for line in out.splitlines() if line]
    return [SlurmJob(job_id, state, comment, int(cpus), memory) for job_id, state, comment, cpus, memory in jobs]


def running_job_past(run_id: str, workdir: Path, step: int) -> tuple[str, tuple] | None:
    """A RUNNING job of this invocation for KILLED_RUN whose metrics reached ``step``, as (job id, run)."""
    out = subprocess.run(
        ["squeue", "-h", "--name", run_id, "-t", "RUNNING", "-o", "%i|%k"], capture_output=True, text=True
    ).stdout
    for line in out.splitlines():
        job_id, comment = line.split("|", 1)
        run = run_of_comment(comment)
        path = metrics_path(workdir, run)
        if run == KILLED_RUN and path.exists() and any(int(r["env_step"]) >= step for r in read_metrics(path)):
            return job_id, run
    return None


def assert_rerun_of_killed_run(train_log: str, killed_after_step: int) -> None:
    """The rerun of a killed run resumed from its checkpoint: the newest one before the kill, so within one
    checkpoint interval (the smoke epoch, 250 env steps) of the step the kill came after.

    The checkpoint is not a declared output, so Snakemake leaves it when it deletes the failed job's
    outputs; `test_outputs_equal_a_local_run` checks the resumed metrics equal an uninterrupted run's.
    """
    resumed = re.search(r"from its checkpoint at env step (\d+)", train_log)
    assert resumed is not None, f"the rerun did not resume from a checkpoint. Log:\n{train_log}"
    assert int(resumed[1]) >= killed_after_step - SMOKE_EPOCH, train_log


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """The local cluster, up (installed if needed); brought down afterwards if this fixture brought it up."""
    was_up = subprocess.run([CLUSTER, "status"], capture_output=True).returncode == 0
    up = subprocess.run([CLUSTER, "up"], capture_output=True, text=True, timeout=900)
    if up.returncode == CANNOT_HOST:
        pytest.skip(f"no local SLURM cluster: {up.stderr.strip().splitlines()[-1]}")
    assert up.returncode == 0, f"cluster.sh up failed:\n{up.stdout}{up.stderr}"
    yield
    if not was_up:
        subprocess.run([CLUSTER, "down"], capture_output=True, timeout=120)


@dataclass(frozen=True)
class SlurmWorkflow:
    workdir: Path
    first: str  # Snakemake's output for the invocation in which one job was killed
    first_returncode: int
    first_run_id: str
    killed_job: str
    rerun: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def slurm_workflow(cluster: None, tmp_path_factory: pytest.TempPathFactory) -> SlurmWorkflow:
    """The reduced smoke protocol through the SLURM profile: one run is killed mid-run, then all rerun."""
    workdir = copy_slurm_workflow(tmp_path_factory.mktemp("slurm"))
    log = workdir / "snakemake-first.log"
    with log.open("w") as out:
        first = subprocess.Popen(
            slurm_command(PROFILE, "all"), cwd=workdir, env=environment(), stdout=out, stderr=subprocess.STDOUT
        )
    try:
        run_id = wait_for(
            lambda: (m := re.search(r"SLURM run ID: (\S+)", log.read_text())) and m[1], "the SLURM run ID", 120
        )
        job_id, _ = wait_for(
            lambda: running_job_past(run_id, workdir, KILL_AFTER_STEP),
            f"{KILLED_RUN} to run past env step {KILL_AFTER_STEP}",
            300,
            poll=0.1,
        )
        # SIGTERM, as SLURM sends at a time limit or preemption: the run dies and the job ends FAILED.
        # (A plain `scancel` is the xfail test below.)
        subprocess.run(["scancel", "--signal=TERM", job_id], check=True)
        first.wait(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
            subprocess.run(["scancel", "--name", run_id])
    rerun = run(slurm_command(PROFILE, "all"), workdir)
    return SlurmWorkflow(workdir, log.read_text(), first.returncode, run_id, job_id, rerun)


@pytest.fixture(scope="module")
def local_workflow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same runs, with the same seeds, trained locally (profiles/default: one thread per run)."""
    workdir = copy_slurm_workflow(tmp_path_factory.mktemp("local"))
    targets = [str(metrics_path(Path(), r)) for r in RUNS]
    result = run(snakemake_command("--cores", "2", *targets), workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    return workdir


def test_a_killed_job_is_reported_failed_and_its_rerun_succeeds(slurm_workflow: SlurmWorkflow) -> None:
    first = slurm_workflow.first
    assert slurm_workflow.first_returncode != 0, first
    assert f"SLURM-job '{slurm_workflow.killed_job}' failed, SLURM status is: 'FAILED'" in first, first
    assert "Error in rule train" in first
    assert slurm_workflow.rerun.returncode == 0, slurm_workflow.rerun.stdout + slurm_workflow.rerun.stderr
    env, algo, variant, seed = KILLED_RUN
    train_log = slurm_workflow.workdir / f"results/logs/train/{env}/{algo}/{variant}/seed{seed}.log"
    assert_rerun_of_killed_run(train_log.read_text(), KILL_AFTER_STEP)


def test_every_train_job_went_through_sbatch_and_completed(slurm_workflow: SlurmWorkflow) -> None:
    rerun_id = re.search(r"SLURM run ID: (\S+)", slurm_workflow.rerun.stdout + slurm_workflow.rerun.stderr)
    assert rerun_id, "the rerun submitted nothing"
    jobs = sacct_jobs(slurm_workflow.first_run_id) + sacct_jobs(rerun_id[1])
    # Only train jobs are submitted (the analysis is `localrules`), each with the profile's CPUs and memory.
    assert {run_of_comment(job.comment) for job in jobs} == set(RUNS)
    assert {(job.cpus, job.memory) for job in jobs} == {(1, "1000M")}
    killed = [job for job in jobs if job.job_id == slurm_workflow.killed_job]
    assert len(killed) == 1 and killed[0].state == "FAILED", jobs
    completed = Counter(run_of_comment(job.comment) for job in jobs if job.state == "COMPLETED")
    assert completed == Counter(RUNS), jobs  # each run completed exactly once
    assert {job.state for job in jobs} == {"COMPLETED", "FAILED"}, jobs
    assert (slurm_workflow.workdir / "reports/table.md").exists()


def test_outputs_equal_a_local_run(slurm_workflow: SlurmWorkflow, local_workflow: Path) -> None:
    for run in RUNS:
        on_slurm = read_metrics(metrics_path(slurm_workflow.workdir, run))
        local = read_metrics(metrics_path(local_workflow, run))
        assert on_slurm and list(on_slurm[0]) == list(local[0]), run
        assert len(on_slurm) == len(local), run
        compared = [column for column in local[0] if not WALL_CLOCK_COLUMNS.fullmatch(column)]
        for got, expected in zip(on_slurm, local, strict=True):
            assert {c: got[c] for c in compared} == {c: expected[c] for c in compared}, run
        config = metrics_path(Path(), run).with_name("config.yaml")
        assert (slurm_workflow.workdir / config).read_text() == (local_workflow / config).read_text()


@pytest.mark.parametrize(
    ("resource", "value", "message"),
    [
        # SLURM's own message, from sbatch
        ("slurm_partition", "no-such-partition", "sbatch: error: invalid partition specified: no-such-partition"),
        # the plugin checks the account with sacctmgr first and lists the valid ones
        ("slurm_account", "no-such-account", "The given account no-such-account appears to be invalid"),
    ],
)
def test_a_partition_or_account_that_does_not_exist_fails_fast_naming_it(
    cluster: None, tmp_path: Path, resource: str, value: str, message: str
) -> None:
    workdir = copy_slurm_workflow(tmp_path / "workflow")
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    section = profile["default-resources"] if resource == "slurm_account" else profile["set-resources"]["train"]
    section[resource] = value
    (tmp_path / "profile").mkdir()
    (tmp_path / "profile/config.yaml").write_text(yaml.safe_dump(profile))
    started = time.monotonic()
    result = run(slurm_command(tmp_path / "profile", str(metrics_path(Path(), RUNS[0]))), workdir, timeout=120)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert message in out, out
    assert time.monotonic() - started < 60, "a bad partition or account must fail at submission, not hang"


class SnakemakeKeptWaiting(Exception):
    """Snakemake still waits for a job that `sacct` shows as `CANCELLED by <uid>`."""


@pytest.mark.xfail(
    raises=SnakemakeKeptWaiting,
    strict=True,
    reason="snakemake-executor-plugin-slurm 2.8.0 compares sacct's state with 'CANCELLED' exactly, but sacct "
    "reports 'CANCELLED by <uid>', so the plugin takes a cancelled job for a running one and Snakemake waits forever",
)
def test_a_cancelled_job_is_reported_failed(cluster: None, tmp_path: Path) -> None:
    workdir = copy_slurm_workflow(tmp_path / "workflow")
    log = tmp_path / "snakemake.log"
    with log.open("w") as out:
        snakemake = subprocess.Popen(
            slurm_command(PROFILE, str(metrics_path(Path(), RUNS[-1]))),
            cwd=workdir,
            env=environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    job_id = None
    try:
        run_id = wait_for(
            lambda: (m := re.search(r"SLURM run ID: (\S+)", log.read_text())) and m[1], "the SLURM run ID", 120
        )
        job_id = wait_for(
            lambda: subprocess.run(
                ["squeue", "-h", "--name", run_id, "-t", "RUNNING", "-o", "%i"], capture_output=True, text=True
            ).stdout.strip(),
            "the job to run",
            120,
        )
        subprocess.run(["scancel", job_id], check=True)
        # Job states are polled every 5 s, +10 s each time nothing finished: 25 s see at least one poll.
        snakemake.wait(timeout=25)
    except subprocess.TimeoutExpired:
        state = subprocess.run(["sacct", "-X", "-P", "-n", "-j", job_id, "-o", "State"], capture_output=True, text=True)
        if state.stdout.startswith("CANCELLED by"):
            raise SnakemakeKeptWaiting(f"job {job_id}: {state.stdout.strip()}") from None
        raise
    finally:
        if snakemake.poll() is None:
            snakemake.kill()
            snakemake.wait()
        if job_id:
            subprocess.run(["scancel", job_id])
    assert snakemake.returncode != 0
    assert f"SLURM-job '{job_id}' failed, SLURM status is: 'CANCELLED" in log.read_text()
