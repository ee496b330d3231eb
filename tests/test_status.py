"""`mbpo status`: the state of runs that may be half-written, read from their logs alone."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch
import yaml

from mbpo.analysis.status import (
    FINISHED,
    IN_PROGRESS,
    NOT_STARTED,
    finished_files,
    hours_left,
    interrupted_outputs,
    render_status,
    run_status,
)
from mbpo.checkpoint import CHECKPOINT_NAME, FORMAT, VERSION

HEADER = "env_step,eval_return_mean,wall_time_s,eval/warmup\n"


def make_run(root: Path, name: str, steps: int, rows: list[tuple], tail: str = "", ckpt: bool = False) -> Path:
    """rows: (env_step, wall_time_s[, warm-up flag]); each evaluation returns env_step / 10."""
    run = root / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"steps": steps}))
    lines = "".join(f"{row[0]},{row[0] / 10},{row[1]},{row[2] if len(row) > 2 else 0}\n" for row in rows)
    (run / "metrics.csv").write_text(HEADER + lines + tail)
    if ckpt:
        (run / CHECKPOINT_NAME).write_bytes(b"")
    return run


def test_states_steps_hours_and_what_is_left(tmp_path: Path) -> None:
    done = make_run(tmp_path, "hopper/sac/default/seed0", 2000, [(1000, 1800.0), (2000, 3600.0)])
    # A fast random warm-up, then 1000 steps per hour; a row being written when the status was read (the
    # last complete row counts).
    rows = [(500, 1.0, 1), (1000, 2.0, 1), (2000, 3602.0), (3000, 7202.0)]
    going = make_run(tmp_path, "hopper/mbpo/default/seed0", 5000, rows, tail="4000,1.", ckpt=True)
    fresh = tmp_path / "hopper/mbpo/default/seed1"
    a, b, c = (run_status(d) for d in (done, going, fresh))
    assert (a.state, a.env_step, a.target_steps, a.hours, a.last_return) == (FINISHED, 2000, 2000, 1.0, 200.0)
    assert (b.state, b.env_step, b.hours, b.resumable) == (IN_PROGRESS, 3000, pytest.approx(7202 / 3600), True)
    assert b.seconds_per_step == pytest.approx(3.6)  # from the last warm-up row on, not from step 0
    assert b.last_return == 300.0  # of the last complete row
    assert (c.state, c.env_step, c.target_steps, c.hours, c.last_return) == (NOT_STARTED, 0, None, 0.0, None)
    planned = run_status(fresh, planned_steps=4000)
    assert planned.target_steps == 4000  # the workflow's plan, until it starts
    # seed0: 2000 steps left at 3.6 s each = 2 h; seed1 has not started: 4000 steps at its group's pace = 4 h.
    assert hours_left([a, b, planned, c]) == [0.0, pytest.approx(2.0), pytest.approx(4.0), None]


def test_hours_left_follow_a_pace_that_grows_as_it_has_so_far(tmp_path: Path) -> None:
    """Seconds per env step 1 + 0.001 x (MBPO's model fits grow with its buffer): wall-clock x + 0.0005 x^2.
    From 6000 to 10000 steps that is 4000 + 32000 s = 10 h; a run of the same group not started yet needs
    10000 + 50000 s, 16.67 h. The recent pace alone (4.5 s/step over 1k-6k) would say 5 h and 12.5 h."""
    rows = [(1000, 1500.0, 1)] + [(x, x + 0.0005 * x**2) for x in range(2000, 7000, 1000)]
    going = run_status(make_run(tmp_path, "hopper/mbpo/default/seed0", 10_000, rows, ckpt=True))
    fresh = run_status(tmp_path / "hopper/mbpo/default/seed1", planned_steps=10_000)
    assert going.pace_growth == pytest.approx(0.001) and going.seconds_per_step == pytest.approx(7.0)
    assert hours_left([going, fresh]) == [pytest.approx(10.0), pytest.approx(60_000 / 3600)]


def test_hours_left_are_what_finished_runs_of_the_group_took_for_the_rest_of_the_way(tmp_path: Path) -> None:
    """Two finished runs took 3 h and 5 h from 2000 steps to their 4000-step budget, as MBPO slows down late
    in a run: a run at 2000 steps, as fast as they were so far, needs their mean, 4 h, though its own pace
    (0.9 s a step) says 0.5 h. One that took twice as long over its recent steps (a slower machine) needs
    twice that. A run not started needs what they took in all, 4.5 h; one with another budget goes by its
    own pace."""
    a = make_run(tmp_path, "hopper/mbpo/default/seed0", 4000, [(1000, 900.0), (2000, 1800.0), (4000, 12_600.0)])
    b = make_run(tmp_path, "hopper/mbpo/default/seed1", 4000, [(1000, 900.0), (2000, 1800.0), (4000, 19_800.0)])
    rows = [(1000, 900.0), (2000, 1800.0)]
    going = make_run(tmp_path, "hopper/mbpo/default/seed2", 4000, rows, ckpt=True)
    slower = make_run(tmp_path, "hopper/mbpo/default/seed5", 4000, [(1000, 900.0), (2000, 2700.0)], ckpt=True)
    longer = make_run(tmp_path, "hopper/mbpo/default/seed3", 5000, rows, ckpt=True)
    fresh = tmp_path / "hopper/mbpo/default/seed4"
    runs = [run_status(a), run_status(b), run_status(going), run_status(longer), run_status(fresh, 4000)]
    assert runs[0].seconds_at(3000) == pytest.approx(7200.0) and runs[0].seconds_at(500) == pytest.approx(450.0)
    assert hours_left(runs) == [0.0, 0.0, pytest.approx(4.0), pytest.approx(0.75), pytest.approx(4.5)]
    assert run_status(slower).relative_pace(runs[0]) == pytest.approx(2.0)
    assert hours_left([*runs[:2], run_status(slower)])[2] == pytest.approx(8.0)


def test_page_has_totals_and_a_row_per_run(tmp_path: Path) -> None:
    done = make_run(tmp_path, "ip/sac/default/seed0", 2000, [(1000, 3600.0), (2000, 7200.0)])
    going = make_run(tmp_path, "ip/mbpo/default/seed0", 3000, [(500, 1800.0), (1000, 3600.0)], ckpt=True)
    page = render_status([run_status(done), run_status(going)], "Status", "now", root=tmp_path)
    assert "1 of 2 runs finished" in page and "Training wall-clock so far: 3.0 h" in page
    assert "3,000 of 5,000 planned env steps taken" in page and "About 2.0 h of training remain" in page
    assert "| ip/sac/default/seed0 | finished | 2,000 | 2,000 | 200.0 | 2.00 |  |" in page
    assert "| ip/mbpo/default/seed0 | in progress (checkpoint) | 1,000 | 3,000 | 100.0 | 1.00 | 2.00 |" in page


def test_finished_files_are_the_records_of_finished_runs_only(tmp_path: Path) -> None:
    done = make_run(tmp_path, "ip/sac/default/seed0", 1000, [(1000, 60.0)])
    (done / "provenance.yaml").write_text("started: now\n")
    (done / "wandb").mkdir()
    going = make_run(tmp_path, "ip/mbpo/default/seed0", 3000, [(1000, 60.0)], ckpt=True)
    files = finished_files([run_status(done), run_status(going)])
    assert [f.name for f in files] == ["config.yaml", "metrics.csv", "provenance.yaml"]


def test_interrupted_outputs_are_the_logs_of_the_runs_in_progress(tmp_path: Path) -> None:
    """What a relaunch must --forcerun: Snakemake without its metadata takes these runs for finished."""
    done = make_run(tmp_path, "ip/sac/default/seed0", 1000, [(1000, 60.0)])
    going = make_run(tmp_path, "ip/mbpo/default/seed0", 3000, [(1000, 60.0)], ckpt=True)
    lost = make_run(tmp_path, "ip/mbpo/default/seed1", 3000, [(1000, 60.0)])  # no checkpoint: it starts over
    fresh = tmp_path / "ip/mbpo/default/seed2"
    killed = checkpoint_only_run(tmp_path / "ip/mbpo/default/seed3", steps=3000)  # Snakemake deleted its logs
    runs = [run_status(done), run_status(going), run_status(lost), run_status(fresh, 3000), run_status(killed, 3000)]
    assert interrupted_outputs(runs) == [going / "metrics.csv", lost / "metrics.csv", killed / "metrics.csv"]


def checkpoint_only_run(run: Path, steps: int) -> Path:
    """A run killed under Snakemake, which deleted its logs: only its checkpoint is left, at env step 2000."""
    run.mkdir(parents=True)
    rows = [{"env_step": 1000, "wall_time_s": 3600.0, "eval/warmup": 0}, {"env_step": 2000, "wall_time_s": 7200.0}]
    log = {"columns": ["env_step", "wall_time_s"], "rows": rows}
    state = {"format": FORMAT, "version": VERSION, "log": log, "config": {"steps": steps}}
    torch.save(state, run / CHECKPOINT_NAME)
    return run


def test_an_interrupted_run_whose_logs_snakemake_deleted_is_read_from_its_checkpoint(tmp_path: Path) -> None:
    run = checkpoint_only_run(tmp_path / "hopper/mbpo/default/seed0", steps=5000)
    status = run_status(run, planned_steps=9999)
    assert (status.state, status.env_step, status.target_steps, status.hours) == (IN_PROGRESS, 2000, 5000, 2.0)
    assert status.seconds_per_step == pytest.approx(3.6)


def test_no_checkpoint_of_the_evidence_runs_is_committed() -> None:
    """Checkpoints under reports/cpu/ are left unignored so that a new session's checkout carries them over
    (.gitignore), but they are state, not evidence: none may be committed."""
    repo = Path(__file__).resolve().parents[1]
    listed = subprocess.run(["git", "ls-files", "reports"], cwd=repo, capture_output=True, text=True, check=True)
    assert not [path for path in listed.stdout.splitlines() if Path(path).name.startswith("checkpoint")]


def test_an_ablation_without_finished_runs_of_its_own_goes_by_its_default(tmp_path: Path) -> None:
    """Its default took 2 h in all, 1.5 h of it after 1000 steps; an ablation run at 1000 steps (whose own
    early pace says 0.5 h) needs 1.5 h, one not started 2 h. Once one of its own finishes (2.5 h in all, 2 h
    of it after 1000 steps), that one counts."""
    make_run(tmp_path, "ip/mbpo/default/seed0", 3000, [(1000, 1800.0), (3000, 7200.0)])
    going = make_run(tmp_path, "ip/mbpo/penalty/seed0", 3000, [(500, 900.0), (1000, 1800.0)], ckpt=True)
    runs = [run_status(tmp_path / "ip/mbpo/default/seed0"), run_status(going)]
    fresh = run_status(tmp_path / "ip/mbpo/penalty/seed1", planned_steps=3000)
    assert hours_left([*runs, fresh]) == [0.0, pytest.approx(1.5), pytest.approx(2.0)]
    make_run(tmp_path, "ip/mbpo/penalty/seed2", 3000, [(1000, 1800.0), (3000, 9000.0)])
    own = run_status(tmp_path / "ip/mbpo/penalty/seed2")
    assert hours_left([*runs, fresh, own]) == [0.0, pytest.approx(2.0), pytest.approx(2.5), 0.0]
